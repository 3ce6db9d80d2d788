//! First come, first served: a queue in front of the semaphore, and each client told its place.
//!
//! The semaphore (`semaphore.rs`) lets whichever waiting thread wakes first take a freed slot,
//! as Python's `Semaphore` did, so a client could wait while later ones were served, and nobody
//! knew how long the wait would be. Here waiting clients stand in a [`Queue`] in front of the
//! semaphore: of the clients in the queue, only the one at its front waits at the semaphore;
//! each of the others sleeps on a condition variable of its own until the one in front of it
//! leaves, so that a freed slot wakes one thread, not the whole queue. [`Queue::join`] tells a
//! client its place at once (the router sends it as `{"status":"queued","position":N}`), and
//! [`Place::wait_for_slot`] waits for its turn, then at the semaphore, until an optional
//! deadline (`--queue-timeout`). The queue does not own the semaphore: the router hands it the
//! two calls to make, `try_acquire` (is a slot free now?) and `acquire_before` (the original's
//! `sem.acquire()`), so that they are written where the request is served. A client whose
//! server failed goes back to the semaphore directly, not through the queue: it had its turn
//! (`failover.rs`).
//!
//! Lock order: a slot, then the queue's lock, then the semaphore's. [`Queue::join`] calls
//! `try_acquire` (the semaphore's lock) while it holds the queue's; the thread just given a
//! slot takes the queue's lock to leave the queue (`Drop for Place`); and nobody waits for a
//! slot holding the queue's lock ([`Place::wait_for_slot`] lets go of it first). Nothing goes
//! the other way round: no deadlock.

use crate::extras::sync::{Condvar, Mutex, MutexGuard}; // std::sync's (loom's under --cfg loom)
use crate::semaphore::Permit;
use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// A first-come-first-served queue in front of a semaphore (`semaphore.rs`).
#[derive(Default)]
pub struct Queue {
    /// The places in the queue, front first.
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    /// Each place's ticket, and the condition variable it sleeps on until it is at the front.
    places: VecDeque<(u64, Arc<Condvar>)>,
    next_ticket: u64,
}

/// What [`Queue::join`] gives: a slot at once, or a place in the queue.
pub enum Joined<'a> {
    /// Nobody was waiting and a slot was free: it is held.
    SlotFree(Permit),
    /// The caller must wait: see [`Place::wait_for_slot`].
    Queued(Place<'a>),
}

/// A place in the [`Queue`]. Dropping it, served or not, leaves the queue, so a client that
/// goes away cannot hold up the ones behind it.
#[must_use = "dropping a place leaves the queue"]
pub struct Place<'a> {
    queue: &'a Queue,
    ticket: u64,
    /// This place's own condition variable (also in the queue).
    wake: Arc<Condvar>,
    position: usize,
}

impl Queue {
    /// An empty queue.
    pub fn new() -> Queue {
        Queue::default()
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // Only `VecDeque` operations run under this lock.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot at once, from `try_acquire` (which never waits), if nobody is waiting for one;
    /// otherwise a place at the end of the queue. Never waits.
    pub fn join(&self, try_acquire: impl FnOnce() -> Option<Permit>) -> Joined<'_> {
        // Critical section: nobody joins or leaves the queue while we decide, so clients are
        // served in the order in which they took this lock.
        let mut waiting = self.lock();
        if waiting.places.is_empty() {
            if let Some(permit) = try_acquire() {
                return Joined::SlotFree(permit);
            }
        }
        let ticket = waiting.next_ticket;
        waiting.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        waiting.places.push_back((ticket, Arc::clone(&wake)));
        let position = waiting.places.len();
        Joined::Queued(Place {
            queue: self,
            ticket,
            wake,
            position,
        })
    }

    /// How many are waiting in the queue now: a snapshot, for tests.
    pub fn waiting(&self) -> usize {
        self.lock().places.len()
    }
}

impl Place<'_> {
    /// The place on arrival: 1 means next in the queue.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Waits in the queue until this place is at the front, then for a slot with
    /// `acquire(deadline)` (the semaphore's `acquire_before`), and leaves the queue. `None` if
    /// `deadline` came first.
    pub fn wait_for_slot(
        self,
        deadline: Option<Instant>,
        acquire: impl FnOnce(Option<Instant>) -> Option<Permit>,
    ) -> Option<Permit> {
        // [part 5: Place::wait_for_slot]
        let waiting = self.wait_for_the_front(deadline)?;
        // At the front: let go of the queue's lock, then wait at the semaphore.
        drop(waiting);
        acquire(deadline)
        // `self` is dropped here: it leaves the queue and wakes the one behind.
        // [end of part 5]
    }

    /// Sleeps until this place is at the front of the queue, and returns with the queue's lock
    /// held; `None` if `deadline` came first.
    fn wait_for_the_front(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, Waiting>> {
        // [part 5: Place::wait_for_the_front]
        let mut waiting = self.queue.lock();
        // Asleep on our own condition variable: only the place in front of us, leaving the
        // queue, wakes us. `while`: look again whether we really are at the front.
        while waiting.places.front().map(|(ticket, _)| *ticket) != Some(self.ticket) {
            waiting = match deadline {
                None => self
                    .wake
                    .wait(waiting)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    // Out of time: `Drop` leaves the queue.
                    let left = deadline.checked_duration_since(Instant::now())?;
                    let woken = self.wake.wait_timeout(waiting, left);
                    woken.unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
        Some(waiting)
        // [end of part 5]
    }
}

impl Drop for Place<'_> {
    /// Leaves the queue, served or not. If this place was at the front, the one behind it is
    /// at the front now: it is woken, and only it.
    fn drop(&mut self) {
        // [part 5: Place::drop]
        // Critical section: leave the queue, and wake whoever is at its front now.
        let mut waiting = self.queue.lock();
        let at_front = waiting.places.front().map(|(ticket, _)| *ticket) == Some(self.ticket);
        waiting.places.retain(|(ticket, _)| *ticket != self.ticket);
        // The one behind is now at the front: wake it, and only it.
        if let (true, Some((_, next))) = (at_front, waiting.places.front()) {
            next.notify_one();
        }
        // [end of part 5]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semaphore::Semaphore;
    use std::time::Duration;

    #[test]
    fn a_full_queue_gives_places_and_a_place_that_leaves_gives_its_place_up() {
        let (queue, semaphore) = (Queue::new(), Arc::new(Semaphore::new(1)));
        let Joined::SlotFree(held) = queue.join(|| semaphore.try_acquire()) else {
            panic!("the slot is free")
        };
        let Joined::Queued(first) = queue.join(|| semaphore.try_acquire()) else {
            panic!("the only slot is held")
        };
        let Joined::Queued(second) = queue.join(|| semaphore.try_acquire()) else {
            panic!("must queue")
        };
        assert_eq!((first.position(), second.position()), (1, 2));
        drop(first);
        assert_eq!(queue.waiting(), 1, "a dropped place leaves the queue");
        drop(held);
        let permit = second
            .wait_for_slot(None, |d| semaphore.acquire_before(d))
            .expect("no deadline");
        assert_eq!((permit.slot(), permit.turn()), (0, 2));
        assert_eq!(queue.waiting(), 0);
    }

    #[test]
    fn a_place_gives_up_at_its_deadline_and_leaves_the_queue() {
        let (queue, semaphore) = (Queue::new(), Arc::new(Semaphore::new(1)));
        let _held = semaphore.acquire();
        let Joined::Queued(place) = queue.join(|| semaphore.try_acquire()) else {
            panic!("the slot is held")
        };
        let started = Instant::now();
        let deadline = started + Duration::from_millis(50);
        assert!(place
            .wait_for_slot(Some(deadline), |d| semaphore.acquire_before(d))
            .is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(queue.waiting(), 0, "the place left the queue");
    }

    #[test]
    fn a_newcomer_does_not_overtake_the_queue() {
        let (queue, semaphore) = (Queue::new(), Arc::new(Semaphore::new(1)));
        let held = semaphore.acquire();
        let Joined::Queued(waiting) = queue.join(|| semaphore.try_acquire()) else {
            panic!("must queue")
        };
        drop(held);
        // The slot is free, but someone is queued: a newcomer must queue behind them.
        assert!(matches!(
            queue.join(|| semaphore.try_acquire()),
            Joined::Queued(_)
        ));
        let permit = waiting.wait_for_slot(None, |d| semaphore.acquire_before(d));
        assert_eq!(permit.map(|p| p.slot()), Some(0));
    }
}
