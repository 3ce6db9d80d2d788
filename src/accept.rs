//! One thread per connection: the accept loop that the router and the server share.
//!
//! The original's `Main()` was `while True: c, addr = s.accept(); start_new_thread(threaded,
//! (c, addr))`. [`serve_each_connection`] is that loop. Each thread has a name, for debuggers
//! and panic messages, and each connection is counted in the [`Shutdown`] while it is served,
//! so that a stop can wait for it (`signal.rs`). Beyond the original (`extras/limits.rs`): a
//! newcomer past `--max-clients` (or `--max-per-source`) is told "busy" at once; at a stop,
//! the backlog is answered.

use crate::extras::limits::{self, Limits};
use crate::extras::Output;
use crate::signal::{Shutdown, DRAIN_LIMIT};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::{sync::Arc, thread};

/// Accepts connections until a stop is requested and serves each with `serve(stream, peer)` on
/// a thread of its own named `<thread_prefix>-<peer's port>`; then closes the listener and
/// waits for those threads. `who` ("router", "server 12347") names the program in messages.
pub(crate) fn serve_each_connection(
    who: &str,
    thread_prefix: &str,
    listener: TcpListener,
    shutdown: &Arc<Shutdown>,
    limits: &Limits,
    out: Output,
    serve: impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
) {
    let serve = Arc::new(serve);
    let (kind, sources) = (who.split(' ').next().unwrap_or(who), Arc::default());
    // Registered, so that the stop wakes the `accept()` below (if it has not come already).
    if !listener
        .local_addr()
        .is_ok_and(|local| shutdown.watch_listener(local))
    {
        return;
    }
    loop {
        let accepted = listener.accept();
        if shutdown.is_requested() {
            // Woken by the stop: this connection and the backlog are told so.
            limits::answer_at_stop(kind, &listener, accepted, limits);
            break;
        }
        // (Out of file descriptors, say: `after_accept_error` reports it and breathes.)
        let Ok((stream, peer)) = accepted.map_err(|e| limits::after_accept_error(who, e, out))
        else {
            continue;
        };
        let in_flight = shutdown.in_flight();
        let Some(from_source) = limits::admit(kind, &stream, peer, in_flight, &sources, limits)
        else {
            continue; // Too many at once, or from one address: told "busy" already.
        };
        // Counted before the thread exists, so that a stop starting now waits for it.
        let counted = shutdown.enter();
        let serve = Arc::clone(&serve);
        // The thread for this one connection: the original's `start_new_thread`.
        let spawned = thread::Builder::new()
            .name(format!("{thread_prefix}-{}", peer.port()))
            .spawn(move || {
                // Counted out when the thread ends, even in a panic.
                let _counted = (counted, from_source);
                serve(stream, peer);
            });
        if let Err(e) = spawned {
            out.warn(format_args!(
                "{who}: no thread for {peer}: {e}; connection dropped"
            ));
        }
    }
    drop(listener);
    let unfinished = shutdown.drain(DRAIN_LIMIT);
    if unfinished > 0 && !shutdown.was_hurried() {
        out.warn(format_args!(
            "{who}: stopping with {unfinished} connection(s) still open"
        ));
    }
}
