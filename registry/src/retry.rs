//! Which Route 53 failures are worth retrying, and how long to wait between attempts.
//! Pure: randomness and time come from the caller.

use std::time::Duration;

use rand::Rng;

/// What to do with a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again later; the label names why, for metrics.
    Retry(&'static str),
    /// Another writer changed the records since they were read: re-read and re-plan.
    Conflict,
    /// Give up: retrying cannot help.
    Fail,
}

/// How a request failed, reduced to what the retry decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The service answered with an error.
    Service {
        /// The error code (`Throttling`, `InvalidChangeBatch`, …).
        code: Option<&'a str>,
        /// The HTTP status.
        status: Option<u16>,
    },
    /// The attempt timed out.
    Timeout,
    /// The request could not be sent or the connection broke.
    Transport,
    /// The response could not be read.
    BadResponse {
        /// The HTTP status, when known.
        status: Option<u16>,
    },
}

/// Decides whether a failure is retried.
pub fn disposition(failure: Failure<'_>) -> Disposition {
    match failure {
        Failure::Service { code, status } => match code {
            Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => {
                Disposition::Retry("throttling")
            }
            Some("PriorRequestNotComplete") => Disposition::Retry("prior_request_not_complete"),
            Some("InvalidChangeBatch") => Disposition::Conflict,
            _ if status.is_some_and(|s| s >= 500) => Disposition::Retry("server_error"),
            _ if status == Some(429) => Disposition::Retry("throttling"),
            _ => Disposition::Fail,
        },
        Failure::Timeout => Disposition::Retry("timeout"),
        Failure::Transport => Disposition::Retry("transport"),
        Failure::BadResponse { status } if status.is_some_and(|s| s >= 500) => {
            Disposition::Retry("server_error")
        }
        Failure::BadResponse { .. } => Disposition::Fail,
    }
}

/// "Decorrelated jitter" backoff: each delay is uniform in `[base, 3 × previous]`, capped.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    prev: Duration,
}

impl Backoff {
    /// A backoff starting at `base` and never exceeding `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            prev: base,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let hi = (self.prev * 3).max(self.base);
        let delay = if hi > self.base {
            rng.random_range(self.base..=hi)
        } else {
            self.base
        };
        self.prev = delay.min(self.cap);
        self.prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn classifies_route53_errors() {
        let svc = |code, status| disposition(Failure::Service { code, status });
        assert_eq!(
            svc(Some("Throttling"), Some(400)),
            Disposition::Retry("throttling")
        );
        assert_eq!(
            svc(Some("PriorRequestNotComplete"), Some(400)),
            Disposition::Retry("prior_request_not_complete")
        );
        assert_eq!(
            svc(Some("InvalidChangeBatch"), Some(400)),
            Disposition::Conflict
        );
        assert_eq!(
            svc(Some("InternalError"), Some(500)),
            Disposition::Retry("server_error")
        );
        assert_eq!(svc(None, Some(503)), Disposition::Retry("server_error"));
        assert_eq!(svc(Some("NoSuchHostedZone"), Some(404)), Disposition::Fail);
        assert_eq!(svc(Some("AccessDenied"), Some(403)), Disposition::Fail);
        assert_eq!(disposition(Failure::Timeout), Disposition::Retry("timeout"));
        assert_eq!(
            disposition(Failure::Transport),
            Disposition::Retry("transport")
        );
    }

    proptest! {
        #[test]
        fn backoff_stays_within_bounds(seed in any::<u64>(), base_ms in 1u64..200, cap_ms in 1u64..5000) {
            let base = Duration::from_millis(base_ms);
            let cap = Duration::from_millis(cap_ms);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut b = Backoff::new(base, cap);
            for _ in 0..50 {
                let d = b.next_delay(&mut rng);
                prop_assert!(d >= base.min(cap.max(base)));
                prop_assert!(d <= cap.max(base));
            }
        }
    }
}
