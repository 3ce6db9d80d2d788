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
