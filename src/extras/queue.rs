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
    //! The queue alone: its tests never wait at a semaphore. Where a place would, the test
    //! hands it a call of its own, and slots come from a semaphore's `try_acquire` (which never
    //! waits) and are kept, never given back.
    use super::*;
    use crate::semaphore::Semaphore;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// Long enough for anything that should happen; a test waits this long only when it fails.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// A slot, from a semaphore of many, kept for ever: no permit is given back in these tests.
    fn a_slot(semaphore: &Arc<Semaphore>) -> Option<Permit> {
        semaphore.try_acquire()
    }

    /// Joins `queue` as if every slot were taken, and returns the place.
    fn queued(queue: &Queue) -> Place<'_> {
        match queue.join(|| None) {
            Joined::Queued(place) => place,
            Joined::SlotFree(_) => panic!("no slot was free"),
        }
    }

    #[test]
    fn a_newcomer_gets_a_free_slot_at_once_only_while_nobody_waits() {
        let semaphore = Arc::new(Semaphore::new(100));
        let queue = Queue::new();
        let Joined::SlotFree(first) = queue.join(|| a_slot(&semaphore)) else {
            panic!("nobody waits and a slot is free: it is given at once")
        };
        std::mem::forget(first);
        let waiting = queued(&queue);
        assert_eq!(waiting.position(), 1);
        // Slots are free, but someone waits: a newcomer must queue behind them.
        let Joined::Queued(newcomer) = queue.join(|| a_slot(&semaphore)) else {
            panic!("a newcomer overtook the queue")
        };
        assert_eq!(newcomer.position(), 2);
        assert_eq!(queue.waiting(), 2);
    }

    #[test]
    fn places_reach_the_semaphore_one_at_a_time_in_the_order_they_joined() {
        const PLACES: usize = 20;
        let semaphore = Arc::new(Semaphore::new(100));
        let queue = Arc::new(Queue::new());
        // `through[k]`: place k has been through the semaphore. The first place (0) waits there
        // until `gate` opens.
        let through: Arc<Vec<AtomicBool>> =
            Arc::new((0..=PLACES).map(|_| AtomicBool::new(false)).collect());
        let (gate, gate_opens) = mpsc::channel::<()>();
        let (joined_tx, joined) = mpsc::channel();
        let (overtaken_tx, overtaken) = mpsc::channel();
        let mut clients = Vec::new();
        let mut gate_opens = Some(gate_opens);
        for k in 0..=PLACES {
            let (queue, semaphore, through) = (queue.clone(), semaphore.clone(), through.clone());
            let (joined_tx, overtaken_tx) = (joined_tx.clone(), overtaken_tx.clone());
            let gate_opens = gate_opens.take();
            // A client of the queue.
            clients.push(thread::spawn(move || {
                let place = queued(&queue);
                joined_tx.send(place.position()).unwrap();
                let permit = place.wait_for_slot(None, |_deadline| {
                    if let Some(gate_opens) = gate_opens {
                        let _ = gate_opens.recv_timeout(PATIENCE);
                    } else if !through[k - 1].load(Ordering::SeqCst) {
                        overtaken_tx.send(k).unwrap();
                    }
                    through[k].store(true, Ordering::SeqCst);
                    a_slot(&semaphore)
                });
                std::mem::forget(permit);
            }));
            // The next client comes only once this one is in the queue.
            assert_eq!(
                joined.recv_timeout(PATIENCE),
                Ok(k + 1),
                "place {k}'s position"
            );
        }
        gate.send(()).unwrap();
        for client in clients {
            client.join().unwrap();
        }
        drop(overtaken_tx);
        let overtaken: Vec<usize> = overtaken.iter().collect();
        assert!(
            overtaken.is_empty(),
            "places {overtaken:?} went to the semaphore before the place in front of them was \
             through"
        );
        assert!(through.iter().all(|place| place.load(Ordering::SeqCst)));
        assert_eq!(queue.waiting(), 0, "everybody has left the queue");
    }

    #[test]
    fn a_newcomer_can_join_while_the_front_waits_at_the_semaphore() {
        let queue = Arc::new(Queue::new());
        let (at_semaphore_tx, at_semaphore) = mpsc::channel();
        let (gate, gate_opens) = mpsc::channel::<()>();
        let front = {
            let queue = Arc::clone(&queue);
            // The client at the front, which then waits at the semaphore until `gate` opens.
            thread::spawn(move || {
                let place = queued(&queue);
                place.wait_for_slot(None, |_deadline| {
                    at_semaphore_tx.send(()).unwrap();
                    let _ = gate_opens.recv_timeout(PATIENCE);
                    None
                })
            })
        };
        at_semaphore.recv_timeout(PATIENCE).unwrap();
        let (position_tx, position) = mpsc::channel();
        let newcomer = {
            let queue = Arc::clone(&queue);
            // A newcomer, while the front waits at the semaphore.
            thread::spawn(move || position_tx.send(queued(&queue).position()).unwrap())
        };
        let told = position.recv_timeout(Duration::from_secs(3));
        gate.send(()).unwrap();
        assert_eq!(
            told,
            Ok(2),
            "the newcomer could not join (or not at place 2) while the client in front of it \
             waited at the semaphore: is the queue's lock let go before that wait?"
        );
        assert!(front.join().unwrap().is_none());
        newcomer.join().unwrap();
    }

    #[test]
    fn a_place_that_leaves_gives_its_place_to_the_one_behind() {
        let semaphore = Arc::new(Semaphore::new(100));
        let queue = Queue::new();
        let first = queued(&queue);
        let second = queued(&queue);
        let third = queued(&queue);
        assert_eq!((second.position(), third.position()), (2, 3));
        drop(second);
        assert_eq!(
            queue.waiting(),
            2,
            "a place dropped behind the front leaves the queue"
        );
        drop(first);
        // The front left: the third is at the front now, and goes through at once.
        let permit = third.wait_for_slot(None, |_| a_slot(&semaphore));
        assert!(permit.is_some());
        std::mem::forget(permit);
        assert_eq!(queue.waiting(), 0);
    }

    #[test]
    fn a_place_behind_gives_up_at_its_deadline_and_leaves_the_queue() {
        let semaphore = Arc::new(Semaphore::new(100));
        let queue = Queue::new();
        let _front = queued(&queue);
        let behind = queued(&queue);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(50);
        let mut called = false;
        let permit = behind.wait_for_slot(Some(deadline), |_| {
            called = true;
            a_slot(&semaphore)
        });
        assert!(permit.is_none(), "the place in front never left");
        assert!(
            !called,
            "it went to the semaphore without being at the front"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(queue.waiting(), 1, "only the front is left");
    }
}
