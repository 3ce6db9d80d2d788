//! One thread per connection: the socket and the accept loop that the router and the server
//! share.
//!
//! The original's `Main()` bound a socket (`s.bind`, `s.listen(5)`), then looped `while True:
//! c, addr = s.accept(); start_new_thread(threaded, (c, addr))`. [`listen`] is the first part,
//! [`Acceptor::serve_each_connection`] the loop, and `Acceptor::start_thread` its
//! `start_new_thread`. Each thread has a name, for debuggers and panic messages, and each
//! connection is counted in the [`Shutdown`] while it is served, so that a stop can wait for it
//! (`signal.rs`).
//!
//! Beyond the original, three calls into `extras/limits.rs`, each marked where it is made: a
//! newcomer past `--max-clients` (or `--max-per-source`) is told "busy" at once; a failed
//! `accept()` is reported and the loop pauses; at a stop, the backlog is answered.

use crate::extras::config::StartError;
use crate::extras::limits::{self, Admissions, FromSource, Limits};
use crate::extras::output::Output;
use crate::signal::{Shutdown, DRAIN_LIMIT};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

/// Binds a listening socket on `addr` (the original's `s.bind` and `s.listen`). `kind`
/// ("router", "server") names the program in the error.
pub(crate) fn listen(kind: &str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).map_err(|e| StartError(format!("{kind}: cannot listen on {addr}: {e}")))
}

/// Who accepts connections, and under which rules: what the accept loop needs to know.
pub(crate) struct Acceptor<'a> {
    /// How the program names itself in messages: "router", "server 12347".
    pub(crate) who: &'a str,
    /// Each connection's thread is named `<thread_prefix>-<peer's port>`.
    pub(crate) thread_prefix: &'static str,
    /// The stop: it ends the loop, and waits for the connections being served.
    pub(crate) shutdown: &'a Arc<Shutdown>,
    pub(crate) limits: &'a Limits,
    pub(crate) out: Output,
}

impl Acceptor<'_> {
    /// Accepts connections until a stop is requested and serves each with `serve(stream,
    /// peer)` on a thread of its own; then closes the listener and waits for those threads.
    pub(crate) fn serve_each_connection<F>(&self, listener: TcpListener, serve: F)
    where
        F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        let serve = Arc::new(serve);
        let admissions = Admissions::new(self.kind(), *self.limits);
        // Registered, so that the stop wakes the `accept()` below (if it has not come already).
        if !listener
            .local_addr()
            .is_ok_and(|local| self.shutdown.watch_listener(local))
        {
            return;
        }
        loop {
            let accepted = listener.accept();
            if self.shutdown.is_requested() {
                // Woken by the stop. (Beyond the original: this connection and the backlog are
                // told "shutting down".)
                limits::answer_at_stop(self.kind(), &listener, accepted, self.limits);
                break;
            }
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // (Beyond the original: out of file descriptors, say; reported, and a pause.)
                    limits::after_accept_error(self.who, e, self.out);
                    continue;
                }
            };
            // (Beyond the original: too many at once, or from one address: told "busy" already.)
            let Some(from_source) = admissions.admit(&stream, peer, self.shutdown.in_flight())
            else {
                continue;
            };
            self.start_thread(stream, peer, from_source, Arc::clone(&serve));
        }
        drop(listener);
        self.wait_for_the_threads();
    }

    /// The original's `start_new_thread(threaded, (c, addr))`: `serve(stream, peer)` on a new
    /// thread named `<thread_prefix>-<peer's port>`. The connection is counted in the shutdown
    /// (`Shutdown::enter`) from before the thread starts until it ends, in a panic too, so that
    /// a stop waits for it, and `from_source` is kept as long (it counts the connection against
    /// its address). If no thread can be started, a warning says so and the connection is
    /// dropped.
    fn start_thread<F>(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        from_source: FromSource,
        serve: Arc<F>,
    ) where
        F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        // [part 1: Acceptor::start_thread]
        // Counted before the thread exists, so that a stop starting now waits for it.
        let counted = self.shutdown.enter();
        let name = format!("{}-{}", self.thread_prefix, peer.port());
        // The thread for this one connection.
        let spawned = thread::Builder::new().name(name).spawn(move || {
            // Both counted out when the thread ends, even in a panic.
            let _counted = counted;
            let _from_source = from_source;
            serve(stream, peer);
        });
        if let Err(e) = spawned {
            let who = self.who;
            self.out.warn(format_args!(
                "{who}: no thread for {peer}: {e}; connection dropped"
            ));
        }
        // [end of part 1]
    }

    /// After the loop: waits for the connections still being served (at most [`DRAIN_LIMIT`],
    /// or until a second Ctrl-C).
    fn wait_for_the_threads(&self) {
        let unfinished = self.shutdown.drain(DRAIN_LIMIT);
        if unfinished > 0 && !self.shutdown.was_hurried() {
            let who = self.who;
            self.out.warn(format_args!(
                "{who}: stopping with {unfinished} connection(s) still open"
            ));
        }
    }

    /// "router" or "server": the first word of `who`, for the "busy" replies.
    fn kind(&self) -> &str {
        self.who.split(' ').next().unwrap_or(self.who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{LineReader, MAX_REPLY_LINE};
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Long enough for anything that should happen; a test waits this long only when it fails.
    const PATIENCE: Duration = Duration::from_secs(5);

    /// An accept loop on a free port of 127.0.0.1, running on a thread of its own until
    /// `shutdown` is requested, serving each connection with `serve`.
    fn start_loop<F>(limits: Limits, shutdown: &Arc<Shutdown>, serve: F) -> SocketAddr
    where
        F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Arc::clone(shutdown);
        // The accept loop's thread.
        thread::spawn(move || {
            let acceptor = Acceptor {
                who: "test",
                thread_prefix: "client",
                shutdown: &shutdown,
                limits: &limits,
                out: Output::Nothing,
            };
            acceptor.serve_each_connection(listener, serve);
        });
        addr
    }

    /// A `serve` that reports each connection's peer port and thread name on `started`, then
    /// waits (at most `PATIENCE`) for a word on `release` before it returns.
    fn serve_until_released(
        started: mpsc::Sender<(u16, Option<String>)>,
        release: mpsc::Receiver<()>,
    ) -> impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static {
        let release = Mutex::new(release);
        move |_stream, peer| {
            let name = thread::current().name().map(String::from);
            let _ = started.send((peer.port(), name));
            // Each connection takes one word; the lock only hands the receiver round.
            let _ = release.lock().unwrap().recv_timeout(PATIENCE);
        }
    }

    #[test]
    fn a_second_connection_is_served_while_the_first_still_is() {
        let shutdown = Shutdown::new();
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let serve = serve_until_released(started_tx, released);
        let addr = start_loop(Limits::default(), &shutdown, serve);
        let _first = TcpStream::connect(addr).unwrap();
        started
            .recv_timeout(PATIENCE)
            .expect("the first connection is served");
        let _second = TcpStream::connect(addr).unwrap();
        let second = started.recv_timeout(PATIENCE);
        assert!(
            second.is_ok(),
            "the second connection was not served while the first one was: is each connection \
             served on a thread of its own?"
        );
        release.send(()).unwrap();
        release.send(()).unwrap();
        shutdown.request();
    }

    #[test]
    fn each_connection_is_served_on_a_thread_named_after_its_peer_s_port() {
        let shutdown = Shutdown::new();
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let serve = serve_until_released(started_tx, released);
        let addr = start_loop(Limits::default(), &shutdown, serve);
        for _ in 0..3 {
            let client = TcpStream::connect(addr).unwrap();
            let port = client.local_addr().unwrap().port();
            let (peer_port, name) = started.recv_timeout(PATIENCE).expect("served");
            assert_eq!(peer_port, port);
            assert_eq!(name, Some(format!("client-{port}")), "the thread's name");
            release.send(()).unwrap();
        }
        shutdown.request();
    }

    #[test]
    fn a_connection_is_counted_in_the_shutdown_until_its_thread_ends_even_in_a_panic() {
        let shutdown = Shutdown::new();
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let (counted_tx, counted) = mpsc::channel();
        let released = Mutex::new(released);
        let watched = Arc::clone(&shutdown);
        let addr = start_loop(Limits::default(), &shutdown, move |_stream, peer| {
            let _ = started_tx.send(());
            // Each connection takes one word; the lock only hands the receiver round.
            let _ = released.lock().unwrap().recv_timeout(PATIENCE);
            let _ = counted_tx.send(watched.in_flight());
            panic!("a connection's thread panics (planned, for {peer})");
        });
        let _first = TcpStream::connect(addr).unwrap();
        started.recv_timeout(PATIENCE).expect("the first is served");
        let _second = TcpStream::connect(addr).unwrap();
        started
            .recv_timeout(PATIENCE)
            .expect("the second is served");
        // Both threads are running, and the accept loop has long gone on from them.
        release.send(()).unwrap();
        let seen = counted.recv_timeout(PATIENCE);
        assert_eq!(
            seen,
            Ok(2),
            "connections counted in the shutdown while two are served"
        );
        release.send(()).unwrap();
        shutdown.request();
        let left = shutdown.drain(PATIENCE);
        assert_eq!(
            left, 0,
            "still counted after their threads ended in a panic"
        );
    }

    #[test]
    fn a_connection_counts_against_its_address_while_it_is_served() {
        let shutdown = Shutdown::new();
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let serve = serve_until_released(started_tx, released);
        let limits = Limits {
            max_per_source: 1,
            ..Limits::default()
        };
        let addr = start_loop(limits, &shutdown, serve);
        let _first = TcpStream::connect(addr).unwrap();
        started
            .recv_timeout(PATIENCE)
            .expect("the first connection is served");
        // A second one from the same address, while the first is served: one too many.
        let second = TcpStream::connect(addr).unwrap();
        second.set_read_timeout(Some(PATIENCE)).unwrap();
        let refusal = LineReader::new(&second).read_line(MAX_REPLY_LINE);
        let refusal = refusal.expect("the second is told it is one too many");
        assert!(refusal.contains("busy"), "{refusal}");
        release.send(()).unwrap();
        shutdown.request();
    }
}
