//! The adaptive limit on notification requests in flight: additive increase,
//! multiplicative decrease (AIMD, as in Netflix's concurrency-limits).
//!
//! Why adaptive: by Little's law the calls needed in flight are rate × latency. A fixed
//! 64 delivers 1,300 notifications/s against a 50 ms Target and falls behind a busy
//! offerd; thousands would pile onto a Target that is already failing. So the limit
//! grows by one per success while it is in use (doubling per round trip while the
//! queue needs it) and shrinks by `BACKOFF` on every overload sign (5xx, 429, timeout,
//! connection error, or an answer slower than `slow`).

use std::time::Duration;

/// Multiplier on an overload sign: 0.9, so a storm of failures reaches the floor
/// within a few dozen answers while one blip costs a tenth.
const BACKOFF: f64 = 0.9;

/// The current limit and its bounds.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    limit: f64,
    min: f64,
    max: f64,
    /// An answer at least this slow counts as an overload sign.
    slow: Duration,
}

impl ConcurrencyLimit {
    /// Starts at `initial`, kept within `min..=max` (`min` at least 1).
    pub fn new(initial: usize, min: usize, max: usize, slow: Duration) -> Self {
        let min = min.max(1) as f64;
        let max = (max as f64).max(min);
        Self {
            limit: (initial as f64).clamp(min, max),
            min,
            max,
            slow,
        }
    }

    /// Calls allowed in flight now.
    pub fn current(&self) -> usize {
        self.limit as usize
    }

    /// A call succeeded after `latency` with `in_flight` calls out (itself included).
    /// The limit grows only while it is at least half used: an idle limit says
    /// nothing about what Target can take.
    pub fn on_success(&mut self, latency: Duration, in_flight: usize) {
        if latency >= self.slow {
            self.on_overload();
        } else if in_flight.saturating_mul(2) as f64 >= self.limit {
            self.limit = (self.limit + 1.0).min(self.max);
        }
    }

    /// Target showed it is overloaded or unreachable.
    pub fn on_overload(&mut self) {
        self.limit = (self.limit * BACKOFF).max(self.min);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(5);
    const SLOW: Duration = Duration::from_secs(1);

    #[test]
    fn grows_while_used_and_stays_within_bounds() {
        let mut limit = ConcurrencyLimit::new(4, 2, 10, SLOW);
        for _ in 0..100 {
            let in_flight = limit.current();
            limit.on_success(FAST, in_flight);
        }
        assert_eq!(limit.current(), 10);
    }

    #[test]
    fn an_idle_limit_does_not_grow() {
        let mut limit = ConcurrencyLimit::new(64, 1, 4096, SLOW);
        for _ in 0..1000 {
            limit.on_success(FAST, 1);
        }
        assert_eq!(limit.current(), 64);
    }

    #[test]
    fn failures_and_slow_answers_shrink_it_to_the_floor() {
        let mut limit = ConcurrencyLimit::new(1000, 8, 4096, SLOW);
        limit.on_success(SLOW, 1000);
        assert_eq!(limit.current(), 900);
        for _ in 0..200 {
            limit.on_overload();
        }
        assert_eq!(limit.current(), 8);
    }

    #[test]
    fn doubles_per_round_trip_when_saturated() {
        // One round trip: every call of the current window answers.
        let mut limit = ConcurrencyLimit::new(64, 1, 4096, SLOW);
        let window = limit.current();
        for _ in 0..window {
            limit.on_success(FAST, window);
        }
        assert_eq!(limit.current(), 128);
    }
}
