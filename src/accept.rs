//! One thread per connection: the accept loop that the server and the router share.
//!
//! The original's `Main()` was
//!
//! ```python
//! while True:
//!     c, addr = s.accept()
//!     start_new_thread(threaded, (c, addr))
//! ```
//!
//! [`accept_loop`] is that loop, with four additions: each thread has a name (so a debugger
//! and a panic message say whose it is); each connection is counted in an [`InFlight`] before
//! its thread starts; past [`Limits::max_clients`] connections at once, a newcomer gets an
//! immediate `{"status":"fail","message":"router busy"}` instead of a thread; and when shutdown
//! is requested the loop stops accepting, answers the connections already waiting in the
//! listen backlog with `"... shutting down"`, and waits (at most [`DRAIN_LIMIT`]) for the
//! connections it started.

use crate::protocol;
use crate::reply::Reply;
use crate::shutdown::{InFlight, Shutdown};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a stopping server or router waits for the connections still being served.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The bounds on what an accept loop takes on.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most connections served at once (`--max-clients`).
    pub max_clients: usize,
    /// The `message` of the reply to a connection over the limit: `"router busy"`.
    pub busy: &'static str,
    /// Longest wait to send that reply (it is one short line; a peer that does not read it is
    /// not waited for).
    pub write_timeout: Duration,
}

/// Accepts connections on `listener` until `shutdown` is requested, serving each with
/// `handle(stream, peer)` on a new thread named `thread_name(peer)`; then closes the listener
/// and waits for those threads. `who` names the program in messages.
pub fn accept_loop<F>(
    who: &str,
    listener: TcpListener,
    shutdown: &Shutdown,
    in_flight: &Arc<InFlight>,
    limits: &Limits,
    thread_name: impl Fn(SocketAddr) -> String,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    let Ok(local) = listener.local_addr() else {
        return;
    };
    if !shutdown.watch_listener(local) {
        return;
    }
    loop {
        let accepted = listener.accept();
        // Shutdown wakes this accept() with a connection of its own; that one, and any other
        // that arrives now, is told that the program is shutting down.
        if shutdown.is_requested() {
            if let Ok((stream, _)) = accepted {
                refuse(
                    &stream,
                    &format!("{who} shutting down"),
                    limits.write_timeout,
                );
            }
            break;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // E.g. too many open files: report it, breathe, and keep serving.
                crate::warn!("{who}: accept on {local} failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        // Over the limit: answer at once, on this thread, and start no new one.
        if in_flight.count() >= limits.max_clients {
            refuse(&stream, limits.busy, limits.write_timeout);
            continue;
        }
        // Counted before the thread exists, so a shutdown that starts now waits for it.
        let guard = in_flight.enter();
        let handle = Arc::clone(&handle);
        // The thread for this one connection (the original's start_new_thread).
        let spawned = thread::Builder::new()
            .name(thread_name(peer))
            .spawn(move || {
                let _counted = guard;
                handle(stream, peer);
            });
        if let Err(e) = spawned {
            crate::warn!("{who}: cannot start a thread for {peer}: {e}; connection dropped");
        }
    }
    refuse_backlog(who, &listener, limits.write_timeout);
    drop(listener);
    let unfinished = in_flight.wait_idle(DRAIN_LIMIT);
    if unfinished > 0 {
        crate::warn!(
            "{who}: {unfinished} connection(s) still being served after {DRAIN_LIMIT:?}; stopping anyway"
        );
    }
}

/// Sends the one-line `fail` reply `message` and closes; a peer that is gone is not waited for.
fn refuse(stream: &TcpStream, message: &str, write_timeout: Duration) {
    let _ = stream.set_write_timeout(Some(write_timeout));
    let _ = protocol::write_json_line(&mut &*stream, &Reply::fail("", message));
}

/// Answers the connections that completed their handshake but were not accepted yet (they wait
/// in the kernel's listen backlog): each is told `"<who> shutting down"` instead of being reset.
fn refuse_backlog(who: &str, listener: &TcpListener, write_timeout: Duration) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let message = format!("{who} shutting down");
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                // An accepted socket may inherit non-blocking mode on some platforms.
                let _ = stream.set_nonblocking(false);
                refuse(&stream, &message, write_timeout);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // WouldBlock: the backlog is empty.
            Err(_) => return,
        }
    }
}
