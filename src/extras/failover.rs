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

use super::limits;
use crate::extras::output::Output;
use crate::semaphore::{Permit, Semaphore};
use crate::signal::Shutdown;
use parking_lot::Mutex;
use std::io;
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
        Failover {
            servers,
            backoff,
            down_until,
            out,
            shutdown,
        }
    }

    /// Asks with `ask(permit)` until a server answers: returns its answer and its permit, or
    /// why no server could: `no server reachable: ...` naming each server, or `router busy:
    /// ...` when the router itself is out of file descriptors (not a server's fault: no server
    /// is marked down for it).
    pub(crate) fn ask_until_answered<T>(
        &self,
        first: Permit,
        semaphore: &Arc<Semaphore>,
        mut ask: impl FnMut(&Permit) -> io::Result<T>,
    ) -> Result<(T, Permit), String> {
        let unreachable =
            |failures: Vec<String>| format!("no server reachable: {}", failures.join("; "));
        let (mut permit, mut failures) = (first, Vec::new());
        loop {
            let (slot, server) = (permit.slot(), self.servers[permit.slot()]);
            if self.retry_in(slot, Instant::now()).is_none() {
                match ask(&permit) {
                    Ok(answer) => {
                        self.answered(slot);
                        return Ok((answer, permit));
                    }
                    Err(e) if limits::out_of_descriptors(&e) => {
                        return Err(format!(
                            "router busy: out of file descriptors ({e}); try again"
                        ));
                    }
                    Err(why) => {
                        failures.push(format!("{server}: {why}"));
                        self.failed(slot, &why.to_string());
                    }
                }
                if failures.len() == self.servers.len() {
                    return Err(unreachable(failures)); // Every server tried; the permit goes back.
                }
            }
            // Every slot down: this one stays in service, and the client is told at once.
            if let Some(all_down) = self.all_down() {
                return Err(unreachable(if failures.is_empty() {
                    all_down
                } else {
                    failures
                }));
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
            Some(format!(
                "{} is down (tried again in {left} s)",
                self.servers[slot]
            ))
        });
        down.collect()
    }

    /// The slot's server failed: it is down for the back-off.
    fn failed(&self, slot: usize, why: &str) {
        let was_up = self.down_until.lock()[slot]
            .replace(Instant::now() + self.backoff)
            .is_none();
        if was_up {
            let (server, secs) = (self.servers[slot], self.backoff.as_secs_f64());
            self.say(format_args!(
                "slot {slot} ({server}) is down: {why}; skipped for {secs} s"
            ));
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
        let left = self
            .retry_in(permit.slot(), Instant::now())
            .unwrap_or_default();
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
        let up: Vec<usize> = (0..self.servers.len())
            .filter(|&s| self.retry_in(s, now).is_none())
            .collect();
        self.out
            .notice(format_args!("router: {change}; slots up: {up:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failover(servers: usize) -> (Failover, Arc<Semaphore>) {
        let servers = (0..servers)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 1 + i as u16)))
            .collect();
        let failover = Failover::new(
            servers,
            Duration::from_secs(60),
            Output::Nothing,
            Shutdown::new(),
        );
        (failover, Arc::new(Semaphore::new(2)))
    }

    #[test]
    fn the_router_out_of_file_descriptors_marks_no_server_down() {
        let (failover, semaphore) = failover(2);
        let emfile = || Err::<(), _>(io::Error::from_raw_os_error(24));
        let why = failover.ask_until_answered(semaphore.acquire(), &semaphore, |_| emfile());
        assert!(why
            .err()
            .unwrap()
            .starts_with("router busy: out of file descriptors"));
        assert_eq!(
            failover.retry_in(0, Instant::now()),
            None,
            "slot 0 is still up"
        );
        assert_eq!(semaphore.counts().0, 2, "the permit went back");
    }

    #[test]
    fn a_failed_server_is_skipped_and_every_server_down_is_told_at_once() {
        let (failover, semaphore) = failover(2);
        let refused = || Err::<(), _>(io::Error::from(io::ErrorKind::ConnectionRefused));
        // The first client tries both servers, each once.
        let mut asked = Vec::new();
        let why = failover.ask_until_answered(semaphore.acquire(), &semaphore, |permit| {
            asked.push(permit.slot());
            refused()
        });
        assert_eq!(asked, [0, 1]);
        assert!(why
            .err()
            .unwrap()
            .starts_with("no server reachable: 127.0.0.1:1: "));
        // Slot 0 is kept out of service by its keeper; slot 1, the last, stays in service.
        assert_eq!(semaphore.counts().0, 1);
        // The next client is given slot 1, and told at once that both are down.
        let why = failover.ask_until_answered(semaphore.acquire(), &semaphore, |_| Ok(()));
        assert_eq!(
            why.err()
                .unwrap()
                .matches("is down (tried again in 60 s)")
                .count(),
            2
        );
    }
}
