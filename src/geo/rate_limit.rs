//! ip-api.com's rate limit, obeyed rather than hammered.
//!
//! The free endpoint allows 45 requests a minute per client address. Every answer carries two
//! headers: `X-Rl`, the requests left in the current minute, and `X-Ttl`, the seconds until the
//! minute resets. Past the limit it answers HTTP 429, and an address that keeps asking after a
//! 429 is banned for an hour. So when `X-Rl` reaches 0, or a 429 arrives, [`RateLimit`] stops
//! all calls until the reset, and every lookup meanwhile is answered at once with
//! `rate limited by ip-api.com; retry in N s`.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How long to hold back after a 429 that carries no `X-Ttl`: ip-api.com's window is a minute.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(60);

/// When ip-api.com may be asked again. Shared by all of a server's threads.
#[derive(Debug, Default)]
pub struct RateLimit {
    /// `Some(t)`: no request before `t`. One small lock, held only to read or set the instant.
    paused_until: Mutex<Option<Instant>>,
}

/// A request was not sent because the limit is reached; `retry_in` is the time left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Time until ip-api.com resets its window.
    pub retry_in: Duration,
}

impl Limited {
    /// `rate limited by ip-api.com; retry in N s`, N rounded up to whole seconds.
    pub fn message(&self) -> String {
        let secs = self.retry_in.as_millis().div_ceil(1000).max(1);
        format!("rate limited by ip-api.com; retry in {secs} s")
    }
}

impl RateLimit {
    /// No limit reached yet.
    pub fn new() -> RateLimit {
        RateLimit::default()
    }

    /// `Ok` if a request may be sent at `now`, else how long until it may.
    pub fn check(&self, now: Instant) -> Result<(), Limited> {
        let mut paused_until = self.paused_until.lock();
        match *paused_until {
            Some(until) if until > now => Err(Limited {
                retry_in: until - now,
            }),
            Some(_) => {
                // The window has reset.
                *paused_until = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records what an answer at `now` said: its HTTP `status` and its `X-Rl` and `X-Ttl`
    /// headers. Returns the pause this started, if any.
    pub fn observe(
        &self,
        now: Instant,
        status: u16,
        requests_left: Option<u32>,
        seconds_to_reset: Option<u64>,
    ) -> Option<Limited> {
        if status != 429 && requests_left != Some(0) {
            return None;
        }
        let pause = seconds_to_reset.map_or(DEFAULT_PAUSE, Duration::from_secs);
        let until = now + pause;
        let mut paused_until = self.paused_until.lock();
        // Two threads may report the same limit; keep the later reset.
        if paused_until.is_none_or(|t| t < until) {
            *paused_until = Some(until);
        }
        Some(Limited { retry_in: pause })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_request_of_the_window_pauses_until_the_reset() {
        let limit = RateLimit::new();
        let t0 = Instant::now();
        assert_eq!(limit.check(t0), Ok(()));
        assert_eq!(limit.observe(t0, 200, Some(3), Some(40)), None);
        assert_eq!(limit.check(t0), Ok(()));
        let pause = limit.observe(t0, 200, Some(0), Some(40)).unwrap();
        assert_eq!(pause.retry_in, Duration::from_secs(40));
        let later = t0 + Duration::from_millis(10_500);
        let limited = limit.check(later).unwrap_err();
        assert_eq!(limited.retry_in, Duration::from_millis(29_500));
        assert_eq!(
            limited.message(),
            "rate limited by ip-api.com; retry in 30 s"
        );
        assert_eq!(limit.check(t0 + Duration::from_secs(40)), Ok(()));
    }

    #[test]
    fn a_429_without_ttl_pauses_for_a_minute() {
        let limit = RateLimit::new();
        let t0 = Instant::now();
        limit.observe(t0, 429, None, None);
        assert_eq!(
            limit.check(t0).unwrap_err().retry_in,
            Duration::from_secs(60)
        );
    }
}
