//! The counting semaphore over the router's server slots.
//!
//! The original router had `sem = Semaphore(4)` and a list `avail = [1, 1, 1, 1]`: a thread did
//! `sem.acquire()`, then `check()` scanned `avail` for the first free slot and took it, and
//! `sem.release()` gave the count back. Three things could go wrong there, and this file fixes
//! each:
//!
//! - `check()` read and wrote `avail` with no lock, so two threads that passed `acquire()`
//!   together could both see slot 0 free and both take it. Here the count and the slot flags are
//!   one piece of state behind one mutex, so "wait for a free slot" and "take the first free
//!   slot" are a single critical section.
//! - If the request raised an exception, `sem.release()` was never reached and the slot was
//!   lost for good. Here a slot is held by a [`Permit`], and dropping the permit (at the end of
//!   the scope, on an early `return` or `?`, or while a panic unwinds) frees it.
//! - Python's `Semaphore` wakes waiters in no particular order. Here waiters take a ticket and
//!   are served first come, first served, and each knows its place in the queue.
//!
//! It is built from `std::sync::Mutex` and `Condvar`, the two primitives an operating-systems
//! course defines a semaphore with, rather than taken from a crate. Each waiter sleeps on a
//! condition variable of its own, so that freeing a slot wakes exactly the next in line: with
//! one shared condition variable, every release would wake every waiter (a "thundering herd"),
//! all but one of which would find it is not their turn and sleep again. With 60 clients
//! queued for four slots that is 60 wake-ups per answer instead of one.

use std::sync::Arc;

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A counting semaphore over `n` numbered slots, handing out the lowest free slot, in FIFO order.
pub struct SlotSemaphore {
    /// Everything the threads share, behind one lock.
    state: Mutex<State>,
    /// Where [`SlotSemaphore::take_one_of`] callers sleep (clients whose server failed; rare),
    /// woken whenever a slot is freed.
    retrying: Condvar,
}

/// The shared state. Invariant: a slot is either free or held by exactly one [`Permit`].
struct State {
    /// `free[i]` is true while slot `i` is not held (the original's `avail`).
    free: Vec<bool>,
    /// The threads waiting for a slot, oldest first: each one's ticket and the condition
    /// variable it sleeps on.
    queue: VecDeque<(u64, Arc<Condvar>)>,
    /// How many threads sleep in `take_one_of`.
    retrying: usize,
    /// The next ticket number to hand out.
    next_ticket: u64,
    /// How many permits were granted so far; each permit records its own number.
    granted: u64,
}

impl State {
    /// The original's `check()`: the lowest-numbered free slot.
    fn first_free(&self) -> Option<usize> {
        self.free.iter().position(|&f| f)
    }

    /// Wakes the head of the queue, if a slot is free for it to take.
    fn wake_head(&self) {
        if let (Some((_, wake)), Some(_)) = (self.queue.front(), self.first_free()) {
            wake.notify_one();
        }
    }

    /// Marks `slot` taken and returns the grant number.
    fn take(&mut self, slot: usize) -> u64 {
        debug_assert!(self.free[slot], "slot {slot} handed out twice");
        self.free[slot] = false;
        self.granted += 1;
        self.granted
    }
}

/// The result of [`SlotSemaphore::enter`]: a slot at once, or a place in the queue.
pub enum Admission<'a> {
    /// A slot was free and is now held.
    Granted(Permit<'a>),
    /// Every slot was busy; the caller holds a place in the queue.
    Queued(QueuePlace<'a>),
}

/// A held slot. Dropping it frees the slot and wakes the waiters.
#[must_use = "the slot is freed as soon as the permit is dropped"]
pub struct Permit<'a> {
    semaphore: &'a SlotSemaphore,
    slot: usize,
    serial: u64,
    queue_position: usize,
    waited: Duration,
}

/// A place in the queue for a slot. [`QueuePlace::wait`] blocks until it is this place's turn;
/// dropping it without waiting gives the place up, so a client that leaves cannot block the
/// ones behind it.
#[must_use = "dropping a queue place leaves the queue"]
pub struct QueuePlace<'a> {
    semaphore: &'a SlotSemaphore,
    ticket: u64,
    /// This place's own condition variable, also held in the queue.
    wake: Arc<Condvar>,
    position: usize,
    arrived: Instant,
    /// Set once `wait` has turned the ticket into a permit, so `Drop` has nothing to undo.
    served: bool,
}

impl SlotSemaphore {
    /// A semaphore over `slots` slots, all free.
    ///
    /// # Panics
    /// If `slots` is zero: nobody could ever be served.
    pub fn new(slots: usize) -> SlotSemaphore {
        assert!(slots > 0, "a semaphore needs at least one slot");
        SlotSemaphore {
            state: Mutex::new(State {
                free: vec![true; slots],
                queue: VecDeque::new(),
                retrying: 0,
                next_ticket: 0,
                granted: 0,
            }),
            retrying: Condvar::new(),
        }
    }

    /// Locks the state. No code panics while holding this lock (it only reads and writes the
    /// fields above), so a poisoned lock still guards consistent state and is used as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the first free slot if there is one and nobody is queued before us; otherwise joins
    /// the end of the queue. Never blocks.
    pub fn enter(&self) -> Admission<'_> {
        let arrived = Instant::now();
        // Critical section: look at the slots and the queue and act on what we saw, atomically.
        let mut state = self.lock();
        if state.queue.is_empty() {
            if let Some(slot) = state.first_free() {
                let serial = state.take(slot);
                return Admission::Granted(Permit {
                    semaphore: self,
                    slot,
                    serial,
                    queue_position: 0,
                    waited: Duration::ZERO,
                });
            }
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        state.queue.push_back((ticket, Arc::clone(&wake)));
        let position = state.queue.len();
        Admission::Queued(QueuePlace {
            semaphore: self,
            ticket,
            wake,
            position,
            arrived,
            served: false,
        })
    }

    /// Blocks until a slot is free and every earlier caller has been served, then holds it.
    /// The same as [`SlotSemaphore::enter`] followed by [`QueuePlace::wait`].
    pub fn acquire(&self) -> Permit<'_> {
        match self.enter() {
            Admission::Granted(permit) => permit,
            Admission::Queued(place) => place.wait(),
        }
    }

    /// Blocks until one of `candidates` is free, then holds it, without queueing: for a client
    /// that has had its turn and whose server failed (see [`crate::health`]), so it does not
    /// go to the back of the queue a second time. `None` if `candidates` is empty.
    pub fn take_one_of(&self, candidates: &[usize]) -> Option<Permit<'_>> {
        if candidates.is_empty() {
            return None;
        }
        let arrived = Instant::now();
        let mut state = self.lock();
        loop {
            if let Some(&slot) = candidates.iter().find(|&&slot| state.free[slot]) {
                let serial = state.take(slot);
                return Some(Permit {
                    semaphore: self,
                    slot,
                    serial,
                    queue_position: 0,
                    waited: arrived.elapsed(),
                });
            }
            // Asleep without the lock; woken when any permit is dropped.
            state.retrying += 1;
            state = self
                .retrying
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.retrying -= 1;
        }
    }

    /// How many slots are free now. A snapshot for printing and tests: it may change at once.
    pub fn available(&self) -> usize {
        self.lock().free.iter().filter(|&&f| f).count()
    }

    /// How many callers are waiting in the queue now. A snapshot, like [`Self::available`].
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    /// The number of slots.
    pub fn slots(&self) -> usize {
        self.lock().free.len()
    }
}

impl<'a> QueuePlace<'a> {
    /// Place in the queue on arrival: 1 means next in line.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Blocks until this place is at the head of the queue and a slot is free, then takes the
    /// lowest free slot.
    pub fn wait(self) -> Permit<'a> {
        match self.wait_at_most(None) {
            Ok(permit) => permit,
            // Without a limit the wait only ends with a permit.
            Err(_) => unreachable!("an unlimited wait timed out"),
        }
    }

    /// [`QueuePlace::wait`], but for at most `limit` (`--queue-timeout`). After that the place
    /// leaves the queue and `Err` says how long it waited.
    pub fn wait_for(self, limit: Duration) -> Result<Permit<'a>, Duration> {
        self.wait_at_most(Some(limit))
    }

    fn wait_at_most(mut self, limit: Option<Duration>) -> Result<Permit<'a>, Duration> {
        let semaphore = self.semaphore;
        let deadline = limit.map(|limit| self.arrived + limit);
        let mut state = semaphore.lock();
        loop {
            // Only the head of the queue may take a slot: that is what makes the order FIFO.
            if state.queue.front().map(|(ticket, _)| *ticket) == Some(self.ticket) {
                if let Some(slot) = state.first_free() {
                    state.queue.pop_front();
                    let serial = state.take(slot);
                    // Another slot may be free too (two permits dropped at once): wake the
                    // new head of the queue to take it.
                    state.wake_head();
                    self.served = true;
                    return Ok(Permit {
                        semaphore,
                        slot,
                        serial,
                        queue_position: self.position,
                        waited: self.arrived.elapsed(),
                    });
                }
            }
            // Releases the lock while asleep and takes it again before returning, so the
            // loop re-checks the state it was woken for.
            // Asleep on this place's own condition variable: only a release (or the place in
            // front leaving) that makes this place the one to go wakes it.
            state = match deadline {
                None => self
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        // Leave the queue: `Drop` takes the lock, so release it first.
                        drop(state);
                        return Err(self.arrived.elapsed());
                    }
                    self.wake
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl Drop for QueuePlace<'_> {
    /// A place that was never served leaves the queue; if it was the head, the new head is
    /// woken, since a slot may be waiting for it.
    fn drop(&mut self) {
        if self.served {
            return;
        }
        let mut state = self.semaphore.lock();
        state.queue.retain(|(t, _)| *t != self.ticket);
        state.wake_head();
    }
}

impl Permit<'_> {
    /// The slot held, `0..slots` (the index the original's `check()` returned).
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Place in the queue on arrival: 0 if a slot was free at once.
    pub fn queue_position(&self) -> usize {
        self.queue_position
    }

    /// How long the caller waited for the slot.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// 1 for the first permit this semaphore granted, 2 for the next, ...: the order in which
    /// callers were served.
    pub fn serial(&self) -> u64 {
        self.serial
    }
}

impl Drop for Permit<'_> {
    /// Frees the slot and wakes the waiters. This runs on every path out of the scope that
    /// holds the permit, a panic included, so a slot can never leak.
    fn drop(&mut self) {
        let mut state = self.semaphore.lock();
        state.free[self.slot] = true;
        // Wake the next in line, and only it; and any client retrying after a failed server.
        state.wake_head();
        if state.retrying > 0 {
            self.semaphore.retrying.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_handed_out_lowest_first_and_freed_on_drop() {
        let sem = SlotSemaphore::new(4);
        let a = sem.acquire();
        let b = sem.acquire();
        assert_eq!((a.slot(), b.slot()), (0, 1));
        assert_eq!(sem.available(), 2);
        drop(a);
        let c = sem.acquire();
        assert_eq!(c.slot(), 0, "the lowest free slot is taken first");
        assert_eq!((b.serial(), c.serial()), (2, 3));
        drop((b, c));
        assert_eq!(sem.available(), 4);
    }

    #[test]
    fn a_full_semaphore_queues_and_reports_positions() {
        let sem = SlotSemaphore::new(1);
        let held = sem.acquire();
        let Admission::Queued(first) = sem.enter() else {
            panic!("the only slot is held, so the caller must queue")
        };
        let Admission::Queued(second) = sem.enter() else {
            panic!("must queue")
        };
        assert_eq!((first.position(), second.position()), (1, 2));
        assert_eq!(sem.waiting(), 2);
        drop(first);
        assert_eq!(sem.waiting(), 1, "a dropped place leaves the queue");
        drop(held);
        let permit = second.wait();
        assert_eq!(permit.slot(), 0);
        assert_eq!(permit.queue_position(), 2);
    }

    #[test]
    fn a_queue_place_gives_up_after_its_limit_and_a_retry_takes_a_slot_it_names() {
        let sem = SlotSemaphore::new(2);
        let (a, b) = (sem.acquire(), sem.acquire());
        let Admission::Queued(place) = sem.enter() else {
            panic!("both slots are held")
        };
        let waited = place
            .wait_for(Duration::from_millis(50))
            .err()
            .expect("no slot frees within the limit");
        assert!(waited >= Duration::from_millis(50));
        assert_eq!(sem.waiting(), 0, "the place left the queue");
        drop(b);
        let retry = sem.take_one_of(&[1]).expect("slot 1 is free");
        assert_eq!(retry.slot(), 1);
        assert!(sem.take_one_of(&[]).is_none());
        drop((a, retry));
        assert_eq!(sem.available(), 2);
    }

    #[test]
    fn a_newcomer_does_not_overtake_the_queue() {
        let sem = SlotSemaphore::new(1);
        let held = sem.acquire();
        let Admission::Queued(waiting) = sem.enter() else {
            panic!("must queue")
        };
        drop(held);
        // The slot is free, but someone is queued: a newcomer must queue behind them.
        assert!(matches!(sem.enter(), Admission::Queued(_)));
        assert_eq!(waiting.wait().slot(), 0);
    }
}
