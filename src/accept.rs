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
//! [`accept_loop`] is that loop, with three additions: each thread has a name (so a debugger
//! and a panic message say whose it is), each connection is counted in an [`InFlight`] before
//! its thread starts, and when shutdown is requested the loop stops accepting and waits (at
//! most [`DRAIN_LIMIT`]) for the connections it started.

use crate::shutdown::{InFlight, Shutdown};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a stopping server or router waits for the connections still being served.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Accepts connections on `listener` until `shutdown` is requested, serving each with
/// `handle(stream, peer)` on a new thread named `thread_name(peer)`; then closes the listener
/// and waits for those threads. `who` names the program in messages.
pub fn accept_loop<F>(
    who: &str,
    listener: TcpListener,
    shutdown: &Shutdown,
    in_flight: &Arc<InFlight>,
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
        // that arrives now, is closed unanswered.
        if shutdown.is_requested() {
            break;
        }
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // E.g. too many open files: report it, breathe, and keep serving.
                eprintln!("{who}: accept on {local} failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
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
            eprintln!("{who}: cannot start a thread for {peer}: {e}; connection dropped");
        }
    }
    drop(listener);
    let unfinished = in_flight.wait_idle(DRAIN_LIMIT);
    if unfinished > 0 {
        eprintln!(
            "{who}: {unfinished} connection(s) still being served after {DRAIN_LIMIT:?}; stopping anyway"
        );
    }
}
