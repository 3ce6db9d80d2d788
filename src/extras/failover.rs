//! A server that fails: its slot is left alone for a while, and the client tries another.
//!
//! The original sent each slot's clients to that slot's VM whatever had happened to it: a dead
//! VM made every fourth client wait for a connect timeout and fail. Here, when a slot's server
//! cannot be reached or gives no usable answer, the slot is **down** for a back-off
//! (`--backoff-secs`, 5 s by default), and its permit is not given back: a thread named
//! `backoff-<slot>` keeps it out of service until the back-off ends, so that the semaphore hands
//! out the slots that work. The client whose server failed takes the next free slot at the
//! semaphore itself, not at the back of the queue (it had its turn), each server at most once.
//! When every slot is down, the last one stays in service, so that nobody waits for a back-off:
//! the client given it is told at once that no server is reachable. Each change is printed,
//! so that the lab sees a VM die and come back.

use crate::extras::Output;
use crate::semaphore::{Permit, Semaphore};
use crate::signal::Shutdown;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Which slots are down, and until when.
pub(crate) struct Failover {
    servers: Vec<SocketAddr>,
    backoff: Duration,
    /// `Some(t)`: the slot's server failed, and is not tried again before `t`. The lock is held
    /// to read or set the entries only, never across a connection.
    down_until: Mutex<Vec<Option<Instant>>>,
    out: Output,
    /// A stop ends the back-offs, so that clients still in the queue are served.
    shutdown: Arc<Shutdown>,
}

impl Failover {
    /// All slots up.
    pub(crate) fn new(
        servers: Vec<SocketAddr>,
        backoff: Duration,
        out: Output,
        shutdown: Arc<Shutdown>,
    ) -> Failover {
        let down_until = Mutex::new(vec![None; servers.len()]);
        Failover { servers, backoff, down_until, out, shutdown }
    }

    /// Asks with `ask(permit)` until a server answers: returns its answer and its permit, or
    /// why no server could answer.
    pub(crate) fn ask_until_answered<T>(
        &self,
        first: Permit,
        semaphore: &Arc<Semaphore>,
        mut ask: impl FnMut(&Permit) -> Result<T, String>,
    ) -> Result<(T, Permit), Vec<String>> {
        let (mut permit, mut failures) = (first, Vec::new());
        loop {
            let (slot, server) = (permit.slot(), self.servers[permit.slot()]);
            if self.retry_in(slot, Instant::now()).is_none() {
                match ask(&permit) {
                    Ok(answer) => {
                        self.answered(slot);
                        return Ok((answer, permit));
                    }
                    Err(why) => {
                        failures.push(format!("{server}: {why}"));
                        self.failed(slot, &why);
                    }
                }
                if failures.len() == self.servers.len() {
                    return Err(failures); // Every server tried; the permit goes back.
                }
            }
            // Every slot down: this one stays in service, and the client is told at once.
            if let Some(all_down) = self.all_down() {
                return Err(if failures.is_empty() { all_down } else { failures });
            }
            // This slot is down: out of service until its back-off ends. Another one, at the
            // semaphore itself.
            self.keep_out_of_service(permit);
            permit = semaphore.acquire();
        }
    }

    /// `None` if the slot's server may be tried now; else how long until it may.
    fn retry_in(&self, slot: usize, now: Instant) -> Option<Duration> {
        self.down_until.lock()[slot].and_then(|until| until.checked_duration_since(now))
    }

    /// Every slot's "X is down (tried again in N s)", if every slot is down.
    fn all_down(&self) -> Option<Vec<String>> {
        let now = Instant::now();
        let down = (0..self.servers.len()).map(|slot| {
            let left = self.retry_in(slot, now)?.as_secs_f64().ceil();
            Some(format!("{} is down (tried again in {left} s)", self.servers[slot]))
        });
        down.collect()
    }

    /// The slot's server failed: it is down for the back-off.
    fn failed(&self, slot: usize, why: &str) {
        let was_up = self.down_until.lock()[slot].replace(Instant::now() + self.backoff).is_none();
        if was_up {
            let (server, secs) = (self.servers[slot], self.backoff.as_secs_f64());
            self.say(format_args!("slot {slot} ({server}) is down: {why}; skipped for {secs} s"));
        }
    }

    /// The slot's server answered: if it had been down, say that it is back.
    fn answered(&self, slot: usize) {
        if self.down_until.lock()[slot].take().is_some() {
            let server = self.servers[slot];
            self.say(format_args!("slot {slot} ({server}) is up again"));
        }
    }

    /// Holds `permit` on a thread of its own until the slot's back-off ends (or a stop), then
    /// drops it, which gives the slot back. If no thread can be started, the permit is
    /// dropped with the closure, and the slot stays in service.
    fn keep_out_of_service(&self, permit: Permit) {
        let left = self.retry_in(permit.slot(), Instant::now()).unwrap_or_default();
        let shutdown = Arc::clone(&self.shutdown);
        let keeper = thread::Builder::new().name(format!("backoff-{}", permit.slot()));
        let _ = keeper.spawn(move || {
            shutdown.sleep(left);
            drop(permit);
        });
    }

    /// Prints a change, and which slots are up now; even when quiet.
    fn say(&self, change: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        let up: Vec<usize> =
            (0..self.servers.len()).filter(|&s| self.retry_in(s, now).is_none()).collect();
        self.out.notice(format_args!("router: {change}; slots up: {up:?}"));
    }
}
