//! The counting semaphore over the router's four server slots.
//!
//! The original router had `sem = Semaphore(4)` and `avail = [1, 1, 1, 1]`: a client thread
//! called `sem.acquire()`, `check()` took the first slot free in `avail`, and after the answer
//! `sem.release()`. Two bugs: `check()` used `avail` without a lock, so two threads could both
//! take slot 0; and an exception between `acquire` and `release` lost the slot for good.
//!
//! [`Semaphore`] is the textbook counting semaphore, made of a `Mutex` and a `Condvar`. Its
//! count is the number of free slots, so "wait until a slot is free" and "take the first free
//! slot" (`check()`) are one critical section. A slot is held by a [`Permit`]; dropping the
//! permit, on every path out of its scope (a panic included), frees the slot and wakes one
//! waiting thread. The router puts a first-come-first-served queue in front of it
//! (`extras/queue.rs`): of the clients in the queue, only the one at its front waits here. A
//! client whose server failed comes back here directly, without queueing again
//! (`extras/failover.rs`), so a few may wait here at once, and a freed slot goes to whichever
//! of them wakes first.

use crate::extras::sync::{Condvar, Mutex, MutexGuard}; // std::sync's (loom's under --cfg loom)
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// A counting semaphore over numbered slots that hands out the lowest free one.
pub struct Semaphore {
    /// The slots, behind one lock: a slot is free or held by exactly one [`Permit`].
    slots: Mutex<Slots>,
    /// Signalled once each time a permit is dropped: a slot has come free.
    freed: Condvar,
}

struct Slots {
    /// `free[i]` is true while slot `i` is not held: the original's `avail`.
    free: Vec<bool>,
    /// Permits granted so far; each permit keeps its number as its `turn`.
    granted: u64,
    /// Threads asleep in `acquire` now, and how often one woke up (the tests count them).
    waiting: usize,
    wakeups: u64,
}

/// A held slot. Dropping it frees the slot and wakes one thread waiting for one.
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct Permit {
    semaphore: Arc<Semaphore>,
    slot: usize,
    turn: u64,
}

impl Semaphore {
    /// A semaphore over `slots` slots, all free.
    ///
    /// # Panics
    /// If `slots` is zero: nobody could ever be served.
    pub fn new(slots: usize) -> Semaphore {
        assert!(slots > 0, "a semaphore needs at least one slot");
        let slots = Slots {
            free: vec![true; slots],
            granted: 0,
            waiting: 0,
            wakeups: 0,
        };
        Semaphore {
            slots: Mutex::new(slots),
            freed: Condvar::new(),
        }
    }

    /// Locks the slots. Nothing panics while holding this lock; if something did, the flags
    /// would still be a valid state, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a slot is free, then holds the lowest free one (the original's `check()`).
    pub fn acquire(self: &Arc<Self>) -> Permit {
        self.acquire_before(None)
            .expect("without a deadline, the wait ends with a slot")
    }

    /// [`Semaphore::acquire`], but gives up at `deadline`, if there is one. While no slot is
    /// free, the thread sleeps on `freed` (counted in `waiting`, each wake-up in `wakeups`)
    /// and looks again each time it wakes; then it takes the lowest free slot
    /// (`take_first_free`). At the deadline it takes a slot only if one has come free.
    pub fn acquire_before(self: &Arc<Self>, deadline: Option<Instant>) -> Option<Permit> {
        // [part 4: Semaphore::acquire_before]
        // Critical section: looking for a free slot and taking it are one step.
        let mut slots = self.lock();
        // `while`, not `if`: a woken thread must look again, because another thread may have
        // taken the slot first, and because a condition variable may wake a thread spuriously.
        while !slots.free.contains(&true) {
            slots.waiting += 1;
            // Asleep with the lock released; it is taken back before `wait` returns.
            slots = match deadline {
                None => self
                    .freed
                    .wait(slots)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.freed
                        .wait_timeout(slots, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            slots.waiting -= 1;
            slots.wakeups += 1;
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return self.take_first_free(&mut slots);
            }
        }
        self.take_first_free(&mut slots)
        // [end of part 4]
    }

    /// Holds the lowest free slot if there is one; never waits.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        self.take_first_free(&mut self.lock())
    }

    /// Marks the lowest free slot taken and returns its permit. Called with the lock held.
    fn take_first_free(self: &Arc<Self>, slots: &mut Slots) -> Option<Permit> {
        let slot = slots.free.iter().position(|&free| free)?;
        slots.free[slot] = false;
        slots.granted += 1;
        Some(Permit {
            semaphore: Arc::clone(self),
            slot,
            turn: slots.granted,
        })
    }

    /// Free slots, threads waiting, and wake-ups so far: a snapshot, for tests and the lab.
    pub fn counts(&self) -> (usize, usize, u64) {
        let slots = self.lock();
        (
            slots.free.iter().filter(|&&free| free).count(),
            slots.waiting,
            slots.wakeups,
        )
    }
}

impl Permit {
    /// The slot held, `0..slots`: the index the original's `check()` returned.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// 1 for the first permit the semaphore granted, 2 for the next, ...: the order of service.
    pub fn turn(&self) -> u64 {
        self.turn
    }
}

impl Drop for Permit {
    /// The original's `sem.release()`, which now cannot be forgotten or skipped by an error:
    /// marks the slot free and wakes one thread waiting in `acquire_before`.
    fn drop(&mut self) {
        // [part 4: Permit::drop]
        let mut slots = self.semaphore.lock();
        slots.free[self.slot] = true;
        // One slot came free, so one waiter can use it: wake one, not all.
        self.semaphore.freed.notify_one();
        // [end of part 4]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn slots_are_handed_out_lowest_first_and_freed_on_drop() {
        let sem = Arc::new(Semaphore::new(4));
        let (a, b) = (sem.acquire(), sem.acquire());
        assert_eq!((a.slot(), b.slot()), (0, 1));
        assert_eq!(sem.counts().0, 2);
        drop(a);
        let c = sem.acquire();
        assert_eq!(c.slot(), 0, "the lowest free slot is taken first");
        assert_eq!((b.turn(), c.turn()), (2, 3));
        assert!(sem.try_acquire().is_some_and(|d| d.slot() == 2));
        drop((b, c));
        assert_eq!(sem.counts().0, 4);
    }

    /// As *Rust Atomics and Locks* counts a condition variable's wake-ups: three threads wait
    /// for the one slot, and each release wakes one of them, not all three. A wait may also end
    /// spuriously, rarely, so the count may exceed the releases by one. With `notify_all` the
    /// first release wakes all three, but this test sees the extra wake-ups only when the woken
    /// threads have taken the lock back before it looks (a thread woken and waiting for the
    /// lock still counts as waiting): often, not always. `tests/loom.rs`
    /// (`one_slot_every_freed_slot_wakes_a_waiter`) sees them in every run.
    #[test]
    fn each_release_wakes_one_waiting_thread() {
        let sem = Arc::new(Semaphore::new(1));
        let mut held = sem.acquire();
        let (got, served) = mpsc::channel();
        for _ in 0..3 {
            let (sem, got) = (Arc::clone(&sem), got.clone());
            thread::spawn(move || got.send(sem.acquire()).unwrap());
        }
        // Waits (with a limit, so that a broken semaphore fails instead of hanging) until
        // `waiting` threads are asleep in `acquire`, each woken one counted.
        let settle = |waiting: usize| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while sem.counts().1 != waiting {
                assert!(Instant::now() < deadline, "never {waiting} waiting");
                thread::yield_now();
            }
        };
        for round in 1..=3 {
            settle(4 - round);
            drop(held);
            held = served
                .recv_timeout(Duration::from_secs(10))
                .expect("a waiter is served");
            assert_eq!(held.turn(), round as u64 + 1);
            // Any other thread woken by this release has gone back to sleep and been counted.
            settle(3 - round);
            let wakeups = sem.counts().2;
            assert!(
                wakeups <= round as u64 + 1,
                "{round} releases, {wakeups} wake-ups"
            );
        }
    }
}
