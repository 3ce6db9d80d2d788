//! Stopping on Ctrl-C: the signal handler, and how the rest of the program learns of it.
//!
//! The original installed `handler` with `signal(SIGINT, handler)`; Python runs such a handler
//! later, between two bytecodes of the main thread, where it loaded and wrote `sample.json` and
//! called `sys.exit()` while other threads were still serving.
//!
//! A real (C-level) signal handler interrupts a thread at an arbitrary instruction, possibly
//! inside `malloc` or while a lock is held, so it may only do async-signal-safe things. Ours
//! does exactly one: `signal-hook` stores `true` into an `AtomicBool`. Everything else happens
//! in ordinary threads:
//!
//! 1. a watcher thread looks at the flag every [`POLL`] (50 ms) and, once it is set, marks the
//!    [`Shutdown`] as requested, wakes every thread sleeping in [`Shutdown::sleep`], and
//!    connects once to each registered listener so that a thread blocked in `accept()` returns;
//! 2. each accept loop sees [`Shutdown::is_requested`] and stops accepting;
//! 3. each loop waits for its in-flight connections ([`InFlight`]), prints its IP table and
//!    appends it to its JSON log (see [`crate::iplog`]).
//!
//! A **second** Ctrl-C means "stop now": the watcher runs the emergency dumps that router and
//! servers registered ([`Shutdown::on_force`]: each writes the table it has so far to its log)
//! and exits the process at once with code 130 (128 + SIGINT), without waiting for clients.
//!
//! Tests and embedding programs call [`Shutdown::request`] instead of sending a signal; the
//! same steps follow.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How often the watcher thread looks at the signal flag.
pub const POLL: Duration = Duration::from_millis(50);

/// The exit code after a second Ctrl-C: 128 + SIGINT, as shells report a process killed by it.
pub const FORCED_EXIT_CODE: i32 = 130;

/// What a router or server writes when a second Ctrl-C stops the process at once.
type EmergencyDump = Box<dyn Fn() + Send + Sync>;

/// A shared "please stop" for a router or server and all their threads.
pub struct Shutdown {
    /// Set by `request` (and so by the first signal). Only ever goes from false to true.
    signalled: Arc<AtomicBool>,
    /// Set by the signal handler; the watcher takes it back to false each time it counts a
    /// signal, so a second Ctrl-C is seen as such.
    pending: Arc<AtomicBool>,
    /// Run, in order, on a second Ctrl-C before the process exits.
    emergency: Mutex<Vec<EmergencyDump>>,
    /// Where emergency dumps go instead, for a shutdown that belongs to another (see
    /// [`Shutdown::child_of`]).
    parent: Option<Arc<Shutdown>>,
    /// The same fact for threads that sleep: `true` once shutdown was requested.
    requested: Mutex<bool>,
    /// Wakes threads in [`Shutdown::sleep`] when `requested` becomes true.
    woken: Condvar,
    /// Listeners to poke so that their blocking `accept()` returns.
    listeners: Mutex<Vec<SocketAddr>>,
}

impl Shutdown {
    /// A shutdown that only [`Shutdown::request`] triggers (no signal handler).
    pub fn new() -> Arc<Shutdown> {
        Arc::new(Shutdown {
            signalled: Arc::new(AtomicBool::new(false)),
            pending: Arc::new(AtomicBool::new(false)),
            emergency: Mutex::new(Vec::new()),
            parent: None,
            requested: Mutex::new(false),
            woken: Condvar::new(),
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// A shutdown that is requested separately (the router's in-process servers stop after
    /// the router), but whose emergency dumps run on `parent`'s second Ctrl-C.
    pub fn child_of(parent: &Arc<Shutdown>) -> Arc<Shutdown> {
        Arc::new(Shutdown {
            signalled: Arc::new(AtomicBool::new(false)),
            pending: Arc::new(AtomicBool::new(false)),
            emergency: Mutex::new(Vec::new()),
            parent: Some(Arc::clone(parent)),
            requested: Mutex::new(false),
            woken: Condvar::new(),
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// A shutdown triggered by SIGINT (Ctrl-C) or SIGTERM as well, with its watcher thread.
    pub fn on_signals() -> io::Result<Arc<Shutdown>> {
        let shutdown = Shutdown::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // The handler stores `true` into the flag, and does nothing else.
            signal_hook::flag::register(signal, Arc::clone(&shutdown.pending))?;
        }
        let watched = Arc::clone(&shutdown);
        // The watcher: counts signals, turning the first into a wake-up of every waiting
        // thread and the second into an immediate exit.
        thread::Builder::new()
            .name("signal-watcher".into())
            .spawn(move || {
                let mut seen = 0;
                loop {
                    thread::sleep(POLL);
                    // Take the flag back, so the next signal sets it again.
                    if !watched.pending.swap(false, Ordering::SeqCst) {
                        continue;
                    }
                    seen += 1;
                    if seen == 1 {
                        crate::say!("stopping: serving the clients already in, then writing the IP tables (Ctrl-C again to stop at once)");
                        watched.request();
                    } else {
                        crate::say!("stopping at once: writing the IP tables as they are");
                        watched.run_emergency_dumps();
                        std::process::exit(FORCED_EXIT_CODE);
                    }
                }
            })?;
        Ok(shutdown)
    }

    /// Registers what to write if a second Ctrl-C stops the process at once.
    pub fn on_force(&self, dump: impl Fn() + Send + Sync + 'static) {
        match &self.parent {
            Some(parent) => parent.on_force(dump),
            None => self
                .emergency
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Box::new(dump)),
        }
    }

    /// [`Shutdown::on_force`] for `dump(owner)`, holding `owner` by a weak reference, so that
    /// the shutdown does not keep a stopped router or server alive.
    pub fn on_force_for<T: Send + Sync + 'static>(&self, owner: &Arc<T>, dump: fn(&T)) {
        let weak = Arc::downgrade(owner);
        self.on_force(move || {
            if let Some(owner) = weak.upgrade() {
                dump(&owner);
            }
        });
    }

    /// Runs the registered emergency dumps (the watcher does, on a second Ctrl-C).
    pub fn run_emergency_dumps(&self) {
        let dumps = self
            .emergency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for dump in dumps.iter() {
            dump();
        }
    }

    /// Asks everything to stop: sleepers wake at once and accept loops within a moment.
    pub fn request(&self) {
        self.signalled.store(true, Ordering::SeqCst);
        *self
            .requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        // Wake every thread in `sleep`.
        self.woken.notify_all();
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for addr in listeners {
            // A connection makes a blocked accept() return; the loop then sees the request.
            let _ = TcpStream::connect_timeout(&reachable(addr), Duration::from_millis(500));
        }
    }

    /// True once shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
    }

    /// Registers a listener to wake when shutdown is requested. If it was requested already,
    /// returns `false` and the caller should not start accepting.
    pub fn watch_listener(&self, addr: SocketAddr) -> bool {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.push(addr);
        drop(listeners);
        !self.is_requested()
    }

    /// Sleeps for `duration`, or less if shutdown is requested meanwhile. Returns `true` if it
    /// slept the whole time.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut requested = self
            .requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while !*requested {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            // Releases the lock while asleep; `request` takes it to set the flag and notify.
            requested = self
                .woken
                .wait_timeout(requested, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        false
    }
}

/// The address to connect to in order to reach a listener bound to `addr`: a listener on
/// 0.0.0.0 or [::] is reached through the loopback address.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// Counts the connections being served, so that shutdown can wait for them to finish.
#[derive(Default)]
pub struct InFlight {
    /// Number of live [`InFlightGuard`]s.
    count: Mutex<usize>,
    /// Signalled when `count` drops to zero.
    idle: Condvar,
}

/// Proof that one connection is being served; dropping it (even in a panic) counts it out.
pub struct InFlightGuard {
    owner: Arc<InFlight>,
}

impl InFlight {
    /// A counter at zero.
    pub fn new() -> Arc<InFlight> {
        Arc::new(InFlight::default())
    }

    /// Counts one more connection in, until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        InFlightGuard {
            owner: Arc::clone(self),
        }
    }

    /// How many connections are being served now.
    pub fn count(&self) -> usize {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no connection is being served, or `limit` has passed. Returns how many
    /// were still running.
    pub fn wait_idle(&self, limit: Duration) -> usize {
        let count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        // Sleeps (lock released) until notified that the count reached zero, or the limit.
        let (count, _) = self
            .idle
            .wait_timeout_while(count, limit, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *count
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut count = self
            .owner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *count -= 1;
        if *count == 0 {
            // Wake the thread waiting in `wait_idle`.
            self.owner.idle.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_cuts_a_sleep_short() {
        let shutdown = Shutdown::new();
        let sleeper = Arc::clone(&shutdown);
        let t = thread::spawn(move || sleeper.sleep(Duration::from_secs(60)));
        shutdown.request();
        assert!(!t.join().unwrap(), "the sleep must end early");
        assert!(shutdown.is_requested());
        assert!(
            !shutdown.sleep(Duration::from_secs(60)),
            "no sleep after a request"
        );
    }

    #[test]
    fn in_flight_counts_guards_even_through_a_panic() {
        let in_flight = InFlight::new();
        let g = in_flight.enter();
        let worker = Arc::clone(&in_flight);
        let t = thread::spawn(move || {
            let _g = worker.enter();
            panic!("a worker that panics still counts itself out");
        });
        assert!(t.join().is_err());
        assert_eq!(in_flight.count(), 1);
        drop(g);
        assert_eq!(in_flight.wait_idle(Duration::from_secs(5)), 0);
    }
}
