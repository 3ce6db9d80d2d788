//! A bounded cache of answers per IP address, shared by all of a server's threads.
//!
//! A class behind one NAT asks for the same public address forty times. With this cache that
//! costs ip-api.com one request:
//!
//! - an answer is kept for a configurable time (`--geo-cache-secs`), and at most `capacity`
//!   answers are kept: when full, the oldest goes first (it is also the first to expire);
//! - when several threads miss the same address at once, only the first asks; the others wait
//!   for its answer ("single flight") instead of sending the same request in parallel.
//!
//! Two locks, never held together, so they cannot deadlock: the cache's `parking_lot::Mutex`
//! over the table of entries, held only to look up or change an entry (never during the
//! request), and each request's own mutex and condition variable, which waiting threads sleep on.
//! A fetch that panics is cleaned up by a guard, so its waiters retry instead of sleeping forever.

use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Answers of type `V` per address; failures of type `E` are handed to waiters, never kept.
pub struct AnswerCache<V, E> {
    entries: Mutex<Entries<V, E>>,
    ttl: Duration,
    capacity: usize,
}

struct Entries<V, E> {
    by_ip: HashMap<IpAddr, Entry<V, E>>,
    /// Kept answers, oldest first, with when each expires and its generation (which tells a
    /// current entry from an older one for the same address).
    oldest_first: VecDeque<(Instant, IpAddr, u64)>,
    next_generation: u64,
}

enum Entry<V, E> {
    /// A kept answer.
    Ready {
        value: V,
        expires: Instant,
        generation: u64,
    },
    /// A thread is asking for it now; others wait on the flight.
    Fetching(Arc<Flight<V, E>>),
}

/// One request in progress, which other threads can wait for.
struct Flight<V, E> {
    outcome: Mutex<Outcome<V, E>>,
    done: Condvar,
}

enum Outcome<V, E> {
    Running,
    Done(Result<V, E>),
    /// The fetching thread panicked; waiters try again themselves.
    Abandoned,
}

impl<V: Clone, E: Clone> AnswerCache<V, E> {
    /// A cache keeping at most `capacity` answers, each for `ttl`. With a zero `ttl` or
    /// `capacity` nothing is kept, but simultaneous misses still share one request.
    pub fn new(ttl: Duration, capacity: usize) -> AnswerCache<V, E> {
        AnswerCache {
            entries: Mutex::new(Entries {
                by_ip: HashMap::new(),
                oldest_first: VecDeque::new(),
                next_generation: 0,
            }),
            ttl,
            capacity,
        }
    }

    /// The kept answer for `ip`, or the result of `fetch()`, run by at most one thread at a
    /// time per address. `Ok` results are kept; `Err` results are given to the threads that
    /// waited for this fetch and then forgotten.
    pub fn get_or_fetch(&self, ip: IpAddr, fetch: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let mut guard = loop {
            match self.claim(ip) {
                Claim::Kept(value) => return Ok(value),
                Claim::Wait(flight) => {
                    if let Some(result) = flight.wait() {
                        return result;
                    }
                    // The fetching thread panicked: go round again, and maybe fetch.
                }
                Claim::Fetch(guard) => break guard,
            }
        };
        // No lock is held while the answer is fetched.
        let result = fetch();
        guard.finish(result.clone());
        result
    }

    /// Looks `ip` up and, if nobody is fetching it, registers this thread as its fetcher.
    fn claim(&self, ip: IpAddr) -> Claim<'_, V, E> {
        // Critical section: one hash-map lookup, and maybe one insert.
        let mut entries = self.entries.lock();
        match entries.by_ip.get(&ip) {
            Some(Entry::Ready { value, expires, .. }) if *expires > Instant::now() => {
                Claim::Kept(value.clone())
            }
            Some(Entry::Fetching(flight)) => Claim::Wait(Arc::clone(flight)),
            // Missing or expired: this thread fetches.
            _ => {
                let flight = Arc::new(Flight {
                    outcome: Mutex::new(Outcome::Running),
                    done: Condvar::new(),
                });
                entries
                    .by_ip
                    .insert(ip, Entry::Fetching(Arc::clone(&flight)));
                Claim::Fetch(FetchGuard {
                    cache: self,
                    ip,
                    flight,
                    finished: false,
                })
            }
        }
    }

    /// How many answers are kept now (expired ones included until they are swept out).
    pub fn len(&self) -> usize {
        self.entries.lock().oldest_first.len()
    }

    fn keeps_answers(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }
}

impl<V: Clone, E: Clone> Flight<V, E> {
    /// Sleeps until the fetching thread finishes; `None` if it panicked.
    fn wait(&self) -> Option<Result<V, E>> {
        // The flight's own lock protects its outcome; the cache's lock is not held here.
        let mut outcome = self.outcome.lock();
        while let Outcome::Running = *outcome {
            self.done.wait(&mut outcome);
        }
        match &*outcome {
            Outcome::Done(result) => Some(result.clone()),
            _ => None,
        }
    }

    fn publish(&self, outcome: Outcome<V, E>) {
        *self.outcome.lock() = outcome;
        self.done.notify_all();
    }
}

/// What [`AnswerCache::claim`] found.
enum Claim<'a, V: Clone, E: Clone> {
    Kept(V),
    Wait(Arc<Flight<V, E>>),
    Fetch(FetchGuard<'a, V, E>),
}

/// Held by the fetching thread: records the result, or, if the thread panics first, removes
/// the entry and wakes the waiters so that nobody waits for a fetch that will never finish.
struct FetchGuard<'a, V: Clone, E: Clone> {
    cache: &'a AnswerCache<V, E>,
    ip: IpAddr,
    flight: Arc<Flight<V, E>>,
    finished: bool,
}

impl<V: Clone, E: Clone> FetchGuard<'_, V, E> {
    fn finish(&mut self, result: Result<V, E>) {
        {
            // Critical section: replace "fetching" by the answer (or by nothing).
            let mut entries = self.cache.entries.lock();
            entries.by_ip.remove(&self.ip);
            if let (Ok(value), true) = (&result, self.cache.keeps_answers()) {
                let now = Instant::now();
                entries.make_room(now, self.cache.capacity);
                let expires = now + self.cache.ttl;
                let generation = entries.next_generation;
                entries.next_generation += 1;
                entries
                    .oldest_first
                    .push_back((expires, self.ip, generation));
                entries.by_ip.insert(
                    self.ip,
                    Entry::Ready {
                        value: value.clone(),
                        expires,
                        generation,
                    },
                );
            }
        }
        self.flight.publish(Outcome::Done(result));
        self.finished = true;
    }
}

impl<V: Clone, E: Clone> Drop for FetchGuard<'_, V, E> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The fetch panicked: forget that it was running, and let the waiters retry.
        self.cache.entries.lock().by_ip.remove(&self.ip);
        self.flight.publish(Outcome::Abandoned);
    }
}

impl<V, E> Entries<V, E> {
    /// Drops expired answers, then the oldest ones until there is room for one more.
    ///
    /// Every answer lives for the same time, so `oldest_first` is also soonest-to-expire first;
    /// an outdated position (its address was fetched again after it expired) has expired, so it
    /// is swept from the front with the others, and the queue never outgrows `capacity`.
    fn make_room(&mut self, now: Instant, capacity: usize) {
        while let Some(&(expires, ip, generation)) = self.oldest_first.front() {
            let current = matches!(
                self.by_ip.get(&ip),
                Some(Entry::Ready { generation: g, .. }) if *g == generation
            );
            if current && expires > now && self.oldest_first.len() < capacity {
                break;
            }
            self.oldest_first.pop_front();
            if current {
                self.by_ip.remove(&ip);
            }
        }
    }
}
