//! Ctrl-C: the signal handler and everything that follows from it (the original's `handler`).
//!
//! CPython ran the original's `handler` in the main thread between two bytecodes: it printed the
//! table, rewrote `sample.json` and called `sys.exit()` while other threads still served
//! clients. A real signal handler interrupts a thread at any instruction (inside `malloc`, say,
//! or holding a lock), so it may only do async-signal-safe things. Ours, registered by
//! [`Shutdown::on_ctrl_c`] through signal-hook, does two, both an atomic operation: it stores
//! `true` in a flag (step 1), and after a second signal it arms the exit of step 5. Everything
//! else happens in ordinary threads:
//!
//! 1. **The flag.** The handler stores `true` into an `AtomicBool` on SIGINT (Ctrl-C), SIGTERM,
//!    and on Unix SIGHUP (the terminal was closed) and SIGQUIT (Ctrl-\, which would dump core:
//!    the table is worth more).
//! 2. **Who watches it.** The thread `signal-watcher` (`watch`) looks at the flag every 50 ms
//!    and takes it back to `false` (two signals within one look count as one); the first calls
//!    `request`.
//! 3. **What stops.** [`Shutdown::request`] wakes the threads in [`Shutdown::sleep`] (the
//!    router's hold) and connects once to each listening socket, so that `accept()` returns;
//!    each accept loop stops and waits for the connections it is serving (at most 5 s:
//!    `DRAIN_LIMIT`; a row added after that is not in the dump).
//! 4. **The dump.** The router prints its table and appends it to its JSON log ([`dump`];
//!    `geotracker-router.json` by default, `sample.json`'s format); then the four servers that
//!    `cargo run --example router` runs in its process, which have a stop of their own so that
//!    the clients still queued were served, do the same (`geotracker-server-<port>.json`). A
//!    server run on its own stops as the router does. The exit code is 0, or 1 if a log could
//!    not be written (`RouterReport::exit_code`).
//! 5. **A second Ctrl-C** ([`Shutdown::hurry`]): nobody waits for the connections still being
//!    served, the tables are written as they are, and the exit code is 130 (128 + SIGINT,
//!    whichever stop signal it was). A third exits at once, writing nothing: the handler's
//!    check, armed by the second, calls `_exit` (signal-hook's `register_conditional_shutdown`).

use crate::extras::output::{print_line, Output};
use crate::extras::sync::{Condvar, Mutex, MutexGuard}; // std::sync's (loom's under --cfg loom)
use crate::iplog::{self, Appended};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use std::{io, path::Path, thread};

/// The longest a stopping router or server waits for the connections it is still serving.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The signals that stop a router or a server, and so save its table.
#[cfg(unix)]
const STOP_SIGNALS: [i32; 4] = [
    SIGINT,
    SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
];
#[cfg(not(unix))]
const STOP_SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// The exit code after a second Ctrl-C.
pub const HURRIED_EXIT_CODE: u8 = 130;

/// A shared "please stop" for a router or a server, and all their threads.
pub struct Shutdown {
    /// The stage, the connections being served and the sockets to wake, under one lock.
    state: Mutex<State>,
    /// Signalled when the stage changes, and when the last connection ends during a stop.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    stage: Stage,
    /// Connections being served: one per live [`InFlight`].
    in_flight: usize,
    /// Listening sockets whose `accept()` must be woken.
    listeners: Vec<SocketAddr>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    #[default]
    Running,
    Stopping,
    Hurrying,
}

/// One connection being served; dropping it (in a panic too) counts it out.
pub struct InFlight(Arc<Shutdown>);

impl Shutdown {
    /// A shutdown that only [`Shutdown::request`] starts.
    pub fn new() -> Arc<Shutdown> {
        Arc::new(Shutdown {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        })
    }

    /// A shutdown that Ctrl-C and the other stop signals start, watched by `signal-watcher`.
    /// For each of `STOP_SIGNALS`, signal-hook's conditional shutdown (exit code 130, armed by
    /// `watch` at the second signal) is registered first and the flag second, so that once
    /// armed, the exit comes first; then the thread `signal-watcher` runs `watch`.
    pub fn on_ctrl_c() -> io::Result<Arc<Shutdown>> {
        // [part 6: Shutdown::on_ctrl_c]
        let shutdown = Shutdown::new();
        let signalled = Arc::new(AtomicBool::new(false));
        let third_exits = Arc::new(AtomicBool::new(false));
        for signal in STOP_SIGNALS {
            // signal-hook's check for a third signal, registered first so that it runs first:
            // once `third_exits` is armed, the handler ends the process (an atomic load, then
            // `_exit`).
            let exit = HURRIED_EXIT_CODE.into();
            signal_hook::flag::register_conditional_shutdown(signal, exit, third_exits.clone())?;
            // The flag: the handler stores `true` in `signalled`.
            signal_hook::flag::register(signal, Arc::clone(&signalled))?;
        }
        let watched = Arc::clone(&shutdown);
        // The watcher: turns the first signal into a stop, the second into a hurry.
        thread::Builder::new()
            .name("signal-watcher".into())
            .spawn(move || watch(&signalled, &third_exits, &watched))?;
        Ok(shutdown)
        // [end of part 6]
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock: two counts and a list.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stop accepting, finish the connections being served, then write the tables.
    pub fn request(&self) {
        self.advance(Stage::Stopping);
    }

    /// Stop at once: [`Shutdown::request`], without waiting for connections being served.
    pub fn hurry(&self) {
        self.advance(Stage::Hurrying);
    }

    fn advance(&self, to: Stage) {
        let mut state = self.lock();
        if state.stage >= to {
            return;
        }
        state.stage = to;
        let listeners = state.listeners.clone();
        drop(state);
        // Wake the sleepers in `sleep` and the thread waiting in `drain`.
        self.changed.notify_all();
        for mut addr in listeners {
            // A connection makes a blocked `accept()` return; the loop then sees the stop. A
            // socket listening on 0.0.0.0 (or [::]) is reached on the loopback address.
            let loopback = [
                IpAddr::from(Ipv4Addr::LOCALHOST),
                Ipv6Addr::LOCALHOST.into(),
            ];
            if addr.ip().is_unspecified() {
                addr.set_ip(loopback[usize::from(addr.is_ipv6())]);
            }
            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(500));
        }
    }

    /// True once a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.lock().stage >= Stage::Stopping
    }

    /// True once a second Ctrl-C (or [`Shutdown::hurry`]) asked to stop at once.
    pub fn was_hurried(&self) -> bool {
        self.lock().stage == Stage::Hurrying
    }

    /// Sleeps for `duration`, or less if a stop is requested meanwhile.
    pub fn sleep(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        let mut state = self.lock();
        while state.stage == Stage::Running && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            // Asleep with the lock released; `advance` takes it to change the stage.
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Registers a listening socket to wake at the stop. False if the stop came already.
    pub(crate) fn watch_listener(&self, addr: SocketAddr) -> bool {
        let mut state = self.lock();
        state.listeners.push(addr);
        state.stage == Stage::Running
    }

    /// Counts one more connection in, until the guard it returns is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.lock().in_flight += 1;
        InFlight(Arc::clone(self))
    }

    /// How many connections are being served now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Waits until no connection is being served, `limit` has passed or the stop is hurried;
    /// returns how many connections were still being served.
    pub fn drain(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        while state.in_flight > 0 && state.stage != Stage::Hurrying {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            // Asleep with the lock released; the last `InFlight` out, or a hurry, wakes us.
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.in_flight
    }
}

/// The `signal-watcher` thread: looks at the flag every 50 ms and takes it back to `false`
/// (two signals within one look count as one). The first signal requests the stop; the next
/// arms the third to exit at once, and hurries the stop.
fn watch(signalled: &AtomicBool, third_exits: &AtomicBool, shutdown: &Shutdown) {
    // [part 6: signal::watch]
    loop {
        thread::sleep(Duration::from_millis(50));
        if !signalled.swap(false, Ordering::SeqCst) {
            continue;
        }
        if !shutdown.is_requested() {
            print_line(format_args!("stopping: serving the clients already in, then writing the IP tables (Ctrl-C again to stop at once)"));
            shutdown.request();
        } else {
            // Armed before the line that says so: the Ctrl-C it invites must find it armed.
            third_exits.store(true, Ordering::SeqCst);
            print_line(format_args!("stopping at once: writing the IP tables as they are (Ctrl-C again to exit without them)"));
            shutdown.hurry();
        }
    }
    // [end of part 6]
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 && state.stage != Stage::Running {
            // The last connection of a stopping program: wake the thread in `drain`.
            self.0.changed.notify_all();
        }
    }
}

/// The last step of a stop, what the original's `handler` did: prints the rows still in memory
/// as the IP table of `who`, and appends them to the log at `log` (if any) as a new run.
/// Returns the rows, and what happened to the log.
pub fn dump<R: std::fmt::Display + serde::Serialize>(
    who: &str,
    out: Output,
    log: Option<&Path>,
    rows: Vec<R>,
) -> (Vec<R>, Option<io::Result<Appended>>) {
    out.notice(format_args!("{}", crate::iptable::format_table(who, &rows)));
    let written = log.map(|path| iplog::append_run(path, &rows));
    match &written {
        Some(Ok(Appended {
            key,
            rows,
            moved_aside,
        })) => {
            if let Some(aside) = moved_aside {
                out.warn(format_args!(
                    "{who}: the old log is not a log; kept as {}",
                    aside.display()
                ));
            }
            let s = if *rows == 1 { "" } else { "s" };
            out.notice(format_args!(
                "{who}: table written to the log as {key} ({rows} row{s})"
            ));
        }
        Some(Err(e)) => out.warn(format_args!("{who}: {e}; the log file was left as it was")),
        None => {}
    }
    (rows, written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_cuts_a_sleep_short() {
        let shutdown = Shutdown::new();
        let sleeper = Arc::clone(&shutdown);
        let t = thread::spawn(move || sleeper.sleep(Duration::from_secs(60)));
        let started = Instant::now();
        shutdown.request();
        t.join().unwrap();
        shutdown.sleep(Duration::from_secs(60)); // No sleep at all after a stop.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the sleeps must end early"
        );
        assert!(shutdown.is_requested() && !shutdown.was_hurried());
    }

    #[test]
    fn connections_are_counted_out_even_through_a_panic_and_a_hurry_ends_the_drain() {
        let shutdown = Shutdown::new();
        let held = shutdown.enter();
        let worker = Arc::clone(&shutdown);
        let t = thread::spawn(move || {
            let _counted = worker.enter();
            panic!("a worker that panics still counts itself out");
        });
        assert!(t.join().is_err());
        assert_eq!(shutdown.in_flight(), 1);
        shutdown.hurry();
        assert_eq!(
            shutdown.drain(Duration::from_secs(60)),
            1,
            "a hurry does not wait"
        );
        drop(held);
        assert_eq!(shutdown.drain(Duration::from_secs(60)), 0);
    }
}
