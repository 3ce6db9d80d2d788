//! First come, first served: a queue in front of the semaphore, and each client told its place.
//!
//! The semaphore (`semaphore.rs`) lets whichever waiting thread wakes first take a freed slot,
//! as Python's `Semaphore` did, so a client could wait while later ones were served, and nobody
//! knew how long the wait would be. Here waiting clients stand in a [`Queue`] in front of the
//! semaphore: only the one at the front waits at the semaphore itself; each of the others
//! sleeps on a condition variable of its own until the one in front of it leaves, so that a
//! freed slot wakes one thread, not the whole queue. [`Queue::enter`] tells a client its place
//! at once (the router sends it as `{"status":"queued","position":N}`); [`Place::wait`] may give
//! up after `--queue-timeout`.
//!
//! Lock order: a slot, then the queue's lock, then the semaphore's. [`Queue::enter`] takes the
//! semaphore's lock while it holds the queue's; the thread just given a slot takes the queue's
//! lock to leave the queue (`Drop for Place`); and nobody waits for a slot holding the queue's
//! lock ([`Place::wait`] lets go of it first). Nothing goes the other way round: no deadlock.

use crate::extras::sync::{Condvar, Mutex, MutexGuard}; // std::sync's (loom's under --cfg loom)
use crate::semaphore::{Permit, Semaphore};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

/// A first-come-first-served queue in front of a [`Semaphore`].
pub struct Queue {
    semaphore: Arc<Semaphore>,
    /// The places in the queue, front first: each place's ticket and the condition variable it
    /// sleeps on until it is at the front.
    waiting: Mutex<Waiting>,
}

struct Waiting {
    places: VecDeque<(u64, Arc<Condvar>)>,
    next_ticket: u64,
}

/// The outcome of [`Queue::enter`]: a slot at once, or a place in the queue.
pub enum Admission<'a> {
    /// Nobody was waiting and a slot was free: it is held.
    Granted(Permit),
    /// The caller must wait: see [`Place::wait`].
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
    arrived: Instant,
}

impl Queue {
    /// A queue in front of a new semaphore over `slots` slots.
    pub fn new(slots: usize) -> Queue {
        Queue {
            semaphore: Arc::new(Semaphore::new(slots)),
            waiting: Mutex::new(Waiting {
                places: VecDeque::new(),
                next_ticket: 0,
            }),
        }
    }

    /// The semaphore behind the queue.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // Only `VecDeque` operations run under this lock.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free slot if nobody is waiting for one; otherwise a place at the end of the queue.
    /// Never waits.
    pub fn enter(&self) -> Admission<'_> {
        let arrived = Instant::now();
        // Critical section: nobody joins or leaves the queue while we decide, so clients are
        // served in the order in which they took this lock.
        let mut waiting = self.lock();
        if waiting.places.is_empty() {
            if let Some(permit) = self.semaphore.try_acquire() {
                return Admission::Granted(permit);
            }
        }
        let ticket = waiting.next_ticket;
        waiting.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        waiting.places.push_back((ticket, Arc::clone(&wake)));
        Admission::Queued(Place {
            queue: self,
            ticket,
            wake,
            position: waiting.places.len(),
            arrived,
        })
    }

    /// The router's step 2: a slot at once if nobody waits and one is free; otherwise the
    /// caller is told its place with `told(position)` (false: it has gone) and waits its turn,
    /// at most `limit`. `Err(Some(waited))`: out of time; `Err(None)`: the caller has gone.
    pub(crate) fn take_slot(
        &self,
        limit: Option<Duration>,
        told: impl FnOnce(usize) -> bool,
    ) -> Result<(Permit, usize), Option<Duration>> {
        match self.enter() {
            Admission::Granted(permit) => Ok((permit, 0)),
            Admission::Queued(place) => {
                let position = place.position();
                if !told(position) {
                    return Err(None); // Dropping `place` leaves the queue.
                }
                place
                    .wait(limit)
                    .map(|permit| (permit, position))
                    .map_err(Some)
            }
        }
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

    /// Waits in the queue until this place is at the front, then at the semaphore for a slot. With
    /// a `limit`, gives up after that long in all and says how long it waited.
    pub fn wait(self, limit: Option<Duration>) -> Result<Permit, Duration> {
        let deadline = limit.map(|limit| self.arrived + limit);
        let mut waiting = self.queue.lock();
        // Asleep on our own condition variable: only the place in front of us, leaving the
        // queue, wakes us. `while` again: look whether we really are at the front.
        while waiting.places.front().map(|(ticket, _)| *ticket) != Some(self.ticket) {
            waiting = match deadline {
                None => self
                    .wake
                    .wait(waiting)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => {
                        (self.wake.wait_timeout(waiting, left))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                    // Out of time: `Drop` leaves the queue (it takes the lock, so release it).
                    None => return Err(self.arrived.elapsed()),
                },
            };
        }
        // At the front: release the queue's lock, then wait at the semaphore.
        drop(waiting);
        let permit = self.queue.semaphore.acquire_before(deadline);
        // `self` is dropped on return: it leaves the queue and wakes the one behind.
        permit.ok_or_else(|| self.arrived.elapsed())
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut waiting = self.queue.lock();
        let at_front = waiting.places.front().map(|(ticket, _)| *ticket) == Some(self.ticket);
        waiting.places.retain(|(ticket, _)| *ticket != self.ticket);
        // The one behind is now at the front: wake it, and only it.
        if let (true, Some((_, next))) = (at_front, waiting.places.front()) {
            next.notify_one();
        }
    }
}

/// The notice the router sends a client that has to wait for a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedNotice {
    /// Always `"queued"`.
    pub status: String,
    /// The place in the queue: 1 for the first client waiting.
    pub position: usize,
}

impl QueuedNotice {
    /// The notice for the client at `position`.
    pub fn new(position: usize) -> QueuedNotice {
        QueuedNotice {
            status: "queued".to_string(),
            position,
        }
    }

    /// Reads a line as a notice; `None` if it is anything else (that is, the answer).
    pub fn from_line(line: &str) -> Option<QueuedNotice> {
        serde_json::from_str(line)
            .ok()
            .filter(|notice: &QueuedNotice| notice.status == "queued")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_gives_places_and_a_place_that_leaves_gives_its_place_up() {
        let queue = Queue::new(1);
        let Admission::Granted(held) = queue.enter() else {
            panic!("the slot is free")
        };
        let Admission::Queued(first) = queue.enter() else {
            panic!("the only slot is held")
        };
        let Admission::Queued(second) = queue.enter() else {
            panic!("must queue")
        };
        assert_eq!((first.position(), second.position()), (1, 2));
        drop(first);
        assert_eq!(queue.waiting(), 1, "a dropped place leaves the queue");
        drop(held);
        let Ok(permit) = second.wait(None) else {
            panic!("no limit")
        };
        assert_eq!((permit.slot(), permit.turn()), (0, 2));
        assert_eq!(queue.waiting(), 0);
    }

    #[test]
    fn a_place_gives_up_after_its_limit() {
        let queue = Queue::new(1);
        let _held = queue.semaphore().acquire();
        let Admission::Queued(place) = queue.enter() else {
            panic!("the slot is held")
        };
        let waited = place.wait(Some(Duration::from_millis(50))).err();
        assert!(waited.expect("no slot frees") >= Duration::from_millis(50));
        assert_eq!(queue.waiting(), 0, "the place left the queue");
    }

    #[test]
    fn a_newcomer_does_not_overtake_the_queue() {
        let queue = Queue::new(1);
        let held = queue.semaphore().acquire();
        let Admission::Queued(waiting) = queue.enter() else {
            panic!("must queue")
        };
        drop(held);
        // The slot is free, but someone is queued: a newcomer must queue behind them.
        assert!(matches!(queue.enter(), Admission::Queued(_)));
        assert_eq!(waiting.wait(None).ok().map(|p| p.slot()), Some(0));
    }

    #[test]
    fn two_lines_come_out_of_one_reader() {
        let mut r = crate::LineReader::new(
            &b"{\"status\":\"queued\",\"position\":2}\n{\"status\":\"fail\"}\n"[..],
        );
        let first = r.read_line(crate::MAX_REPLY_LINE).unwrap();
        assert_eq!(QueuedNotice::from_line(&first), Some(QueuedNotice::new(2)));
        let second = r.read_line(crate::MAX_REPLY_LINE).unwrap();
        assert_eq!(QueuedNotice::from_line(&second), None);
    }
}
