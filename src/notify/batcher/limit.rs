//! The adaptive limit on notification requests in flight: additive increase,
//! multiplicative decrease (AIMD, as in Netflix's concurrency-limits).
//!
//! Why adaptive: by Little's law the calls needed in flight are rate × latency. A fixed
//! 64 delivers 1,300 notifications/s against a 50 ms Target and falls behind a busy
//! offerd; thousands would pile onto a Target that is already failing. So the limit
//! grows by one per success while it is in use (doubling per round trip while the
//! queue needs it) and shrinks by `BACKOFF` on an overload sign (5xx, 429, timeout,
//! connection error, an answer slower than `slow`, or one 1.5 times as slow as
//! the quickest seen lately: a queue is building, at Target or in offerd itself). It
//! shrinks at most once per round trip, as TCP does, so one slow burst costs a tenth,
//! not everything.

use std::time::{Duration, Instant};

/// Multiplier on an overload sign: 0.9, so a storm of failures reaches the floor
/// within a few dozen answers while one blip costs a tenth.
const BACKOFF: f64 = 0.9;

/// How long the quickest answer seen stands for "Target unloaded" before it is
/// measured again: a route or a Target that got slower for good is learned within it.
const BASELINE_WINDOW: Duration = Duration::from_secs(10);

/// The current limit and its bounds.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    limit: f64,
    min: f64,
    max: f64,
    /// An answer at least this slow counts as an overload sign.
    slow: Duration,
    /// The quickest answer of the last window: the round trip without a queue.
    baseline: Option<Duration>,
    window_min: Option<Duration>,
    window_started: Option<Instant>,
    last_decrease: Option<Instant>,
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
            baseline: None,
            window_min: None,
            window_started: None,
            last_decrease: None,
        }
    }

    /// Calls allowed in flight now.
    pub fn current(&self) -> usize {
        self.limit as usize
    }

    /// A call succeeded after `latency` with `in_flight` calls out (itself included).
    /// The limit grows only while it is at least half used: an idle limit says
    /// nothing about what Target can take.
    pub fn on_success(&mut self, latency: Duration, in_flight: usize, now: Instant) {
        self.observe(latency, now);
        if latency >= self.slow || latency > self.queueing_threshold() {
            self.on_overload(now);
        } else if in_flight.saturating_mul(2) as f64 >= self.limit {
            self.limit = (self.limit + 1.0).min(self.max);
        }
    }

    /// Target showed it is overloaded or unreachable.
    pub fn on_overload(&mut self, now: Instant) {
        let round_trip = self.baseline.unwrap_or(Duration::ZERO);
        let recently = self
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) < round_trip);
        if recently {
            return;
        }
        self.last_decrease = Some(now);
        self.limit = (self.limit * BACKOFF).max(self.min);
    }

    /// 1.5 times the baseline, and at least 10 ms above it (a 1 ms loopback call that
    /// takes 3 ms is no queue).
    fn queueing_threshold(&self) -> Duration {
        match self.baseline {
            Some(base) => (base * 3 / 2).max(base + Duration::from_millis(10)),
            None => Duration::MAX,
        }
    }

    fn observe(&mut self, latency: Duration, now: Instant) {
        self.window_min = Some(self.window_min.map_or(latency, |m| m.min(latency)));
        self.baseline = Some(self.baseline.map_or(latency, |b| b.min(latency)));
        let started = *self.window_started.get_or_insert(now);
        if now.saturating_duration_since(started) >= BASELINE_WINDOW {
            self.baseline = self.window_min.take();
            self.window_started = Some(now);
        }
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
        let now = Instant::now();
        for _ in 0..100 {
            let in_flight = limit.current();
            limit.on_success(FAST, in_flight, now);
        }
        assert_eq!(limit.current(), 10);
    }

    #[test]
    fn an_idle_limit_does_not_grow() {
        let mut limit = ConcurrencyLimit::new(64, 1, 4096, SLOW);
        for _ in 0..1000 {
            limit.on_success(FAST, 1, Instant::now());
        }
        assert_eq!(limit.current(), 64);
    }

    #[test]
    fn failures_shrink_it_once_per_round_trip_down_to_the_floor() {
        let mut limit = ConcurrencyLimit::new(1000, 8, 4096, SLOW);
        let t0 = Instant::now();
        limit.on_success(FAST, 1, t0);
        limit.on_overload(t0);
        limit.on_overload(t0 + Duration::from_millis(1));
        assert_eq!(limit.current(), 900, "one decrease per round trip");
        for i in 0..200 {
            limit.on_overload(t0 + FAST * (i + 2));
        }
        assert_eq!(limit.current(), 8);
    }

    #[test]
    fn answers_slowed_by_a_queue_shrink_it() {
        let mut limit = ConcurrencyLimit::new(1000, 8, 4096, SLOW);
        let t0 = Instant::now();
        let base = Duration::from_millis(50);
        limit.on_success(base, 1000, t0);
        assert_eq!(limit.current(), 1001);
        limit.on_success(Duration::from_millis(70), 1000, t0 + base);
        assert_eq!(
            limit.current(),
            1002,
            "under 1.5 times the baseline: no queue yet"
        );
        limit.on_success(Duration::from_millis(150), 1000, t0 + base * 2);
        assert_eq!(limit.current(), 901);
    }

    #[test]
    fn doubles_per_round_trip_when_saturated() {
        // One round trip: every call of the current window answers.
        let mut limit = ConcurrencyLimit::new(64, 1, 4096, SLOW);
        let window = limit.current();
        let now = Instant::now();
        for _ in 0..window {
            limit.on_success(FAST, window, now);
        }
        assert_eq!(limit.current(), 128);
    }
}
