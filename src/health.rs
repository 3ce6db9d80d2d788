//! Which of the router's servers are up: a slot whose server fails is left alone for a while.
//!
//! The original router sent a client to its slot's server whatever happened to that server
//! before; a dead VM made every fourth client wait for a connect timeout and fail. Here a slot
//! whose server cannot be reached, or closes without a reply, is marked **down** for a back-off
//! period (`--backoff-secs`, 5 s by default). Clients given a down slot skip it at once and try
//! the next one; after the back-off, the next client given the slot tries the server again, and
//! a success marks it **up**. Every change is printed, so the lab can see a VM die and return.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// The default back-off: how long a failed server is left alone.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(5);

/// Up or down, per slot. Shared by all client threads of a router.
pub struct SlotHealth {
    /// `Some(t)`: the slot's server failed and is not tried again before `t`. The lock is held
    /// only to read or set one entry, never across a connection attempt.
    down_until: Mutex<Vec<Option<Instant>>>,
    backoff: Duration,
}

/// What a report changed, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The slot was up and is now down.
    WentDown,
    /// The slot was down and answered again.
    CameBack,
    /// Nothing changed.
    Same,
}

impl SlotHealth {
    /// `slots` slots, all up.
    pub fn new(slots: usize, backoff: Duration) -> SlotHealth {
        SlotHealth {
            down_until: Mutex::new(vec![None; slots]),
            backoff,
        }
    }

    /// The back-off period.
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// `None` if the slot's server may be tried now; else the time left until it may.
    pub fn retry_in(&self, slot: usize, now: Instant) -> Option<Duration> {
        self.down_until.lock()[slot]
            .filter(|&until| until > now)
            .map(|until| until - now)
    }

    /// The slot's server failed at `now`: leave it alone for the back-off period.
    pub fn failed(&self, slot: usize, now: Instant) -> Change {
        let mut down_until = self.down_until.lock();
        let was_up = down_until[slot].is_none();
        down_until[slot] = Some(now + self.backoff);
        if was_up {
            Change::WentDown
        } else {
            Change::Same
        }
    }

    /// The slot's server answered.
    pub fn answered(&self, slot: usize) -> Change {
        match self.down_until.lock()[slot].take() {
            Some(_) => Change::CameBack,
            None => Change::Same,
        }
    }

    /// The slots that are up now, for the progress line.
    pub fn up_slots(&self, now: Instant) -> Vec<usize> {
        let down_until = self.down_until.lock();
        (0..down_until.len())
            .filter(|&slot| down_until[slot].is_none_or(|until| until <= now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_slot_is_skipped_for_the_backoff_then_tried_again() {
        let health = SlotHealth::new(4, Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(health.retry_in(2, t0), None);
        assert_eq!(health.failed(2, t0), Change::WentDown);
        assert_eq!(health.failed(2, t0), Change::Same);
        assert_eq!(health.retry_in(2, t0), Some(Duration::from_secs(5)));
        assert_eq!(health.up_slots(t0), [0, 1, 3]);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(
            health.retry_in(2, later),
            None,
            "tried again after the back-off"
        );
        assert_eq!(health.answered(2), Change::CameBack);
        assert_eq!(health.answered(2), Change::Same);
        assert_eq!(health.up_slots(t0), [0, 1, 2, 3]);
    }
}
