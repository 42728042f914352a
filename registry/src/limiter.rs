//! A client-side token bucket that keeps this process under Route 53's request rate.
//! Pure: the caller passes the current time in.

use std::time::{Duration, Instant};

/// Tokens refill at `rate` per second up to `burst`. Taking a token when none is left reserves
/// the next one, so callers queue fairly instead of all waking at once.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `rate` tokens per second, holding at most `burst`.
    ///
    /// `rate` must be positive; configuration validation guarantees it.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }

    /// Takes a token if one is available now; never queues (for servers that refuse excess).
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token and says how long to wait before using it (zero when one was available).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(4.0, 1.0, t0);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::from_millis(250));
        assert_eq!(b.reserve(t0), Duration::from_millis(500));
        // A second later the debt is paid and half a token has been earned back.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(b.reserve(later), Duration::ZERO);
    }

    #[test]
    fn try_take_refuses_without_queueing() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(5.0, 5.0, t0);
        assert_eq!((0..10).filter(|_| b.try_take(t0)).count(), 5);
        assert!(!b.try_take(t0 + Duration::from_millis(100)));
        assert!(b.try_take(t0 + Duration::from_millis(200)));
    }

    proptest! {
        /// Over any schedule, the requests released by time T never exceed burst + rate*T.
        #[test]
        fn never_exceeds_rate(rate in 1u32..20, gaps in proptest::collection::vec(0u64..500, 1..200)) {
            let t0 = Instant::now();
            let mut b = TokenBucket::new(f64::from(rate), 2.0, t0);
            let mut now = t0;
            let mut releases = Vec::new();
            for gap in gaps {
                now += Duration::from_millis(gap);
                releases.push(now + b.reserve(now));
            }
            releases.sort();
            for (i, at) in releases.iter().enumerate() {
                let span = at.duration_since(t0).as_secs_f64();
                prop_assert!((i as f64 + 1.0) <= 2.0 + span * f64::from(rate) + 1e-6);
            }
        }
    }
}
