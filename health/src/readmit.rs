//! Re-admission back-off for targets that flap (as Envoy's outlier detection lengthens each
//! ejection): a target that fails again soon after it was readmitted stays out longer each time,
//! so clients are not sent to a target that is down half of the time. Pure: time is passed in.
//!
//! The controller feeds each target's own verdict changes (from its probes, never from a record
//! anyone could write) and asks [`Readmission::held`] before it lets a recovered target back.

use std::time::Duration;

use tokio::time::Instant;

/// The back-off's two keys (`[health] readmit_backoff`, `readmit_backoff_max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The hold after the first flap; doubled at each further flap. Zero turns the back-off off.
    pub base: Duration,
    /// The longest hold, and the window that makes a failure a flap: a target that fails again
    /// within this long after it was readmitted flapped; one that stayed up longer starts over.
    pub max: Duration,
}

/// One target's flap history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readmission {
    /// Failures that came within `max` of the previous readmission, in a row.
    flaps: u32,
    /// When the target was last readmitted (its verdict became healthy and was let through).
    readmitted: Option<Instant>,
    /// When the current spell of failure began, while there is one.
    down_since: Option<Instant>,
}

impl Readmission {
    /// The target's verdict became unhealthy at `now`.
    pub fn failed(&mut self, now: Instant, b: Backoff) {
        let flapped = self
            .readmitted
            .is_some_and(|at| now.saturating_duration_since(at) < b.max);
        self.flaps = if flapped {
            self.flaps.saturating_add(1)
        } else {
            0
        };
        self.down_since = Some(now);
    }

    /// How long the target stays out after this spell of failure began, at least.
    pub fn hold(&self, b: Backoff) -> Duration {
        if self.flaps == 0 || b.base.is_zero() {
            return Duration::ZERO;
        }
        let doublings = (self.flaps - 1).min(31);
        b.base.saturating_mul(1 << doublings).min(b.max)
    }

    /// Whether a target whose probes say healthy again must still stay out at `now`; the time
    /// left when it must.
    pub fn held(&self, now: Instant, b: Backoff) -> Option<Duration> {
        let since = self.down_since?;
        let until = since + self.hold(b);
        (now < until).then(|| until - now)
    }

    /// The target was let back at `now` (its healthy verdict is no longer held).
    pub fn readmitted(&mut self, now: Instant) {
        if self.down_since.take().is_some() {
            self.readmitted = Some(now);
        }
    }

    /// Flaps in a row so far (for logs).
    pub fn flaps(&self) -> u32 {
        self.flaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(10),
        max: Duration::from_secs(300),
    };

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn a_first_failure_is_not_held() {
        let t0 = Instant::now();
        let mut r = Readmission::default();
        assert_eq!(r.held(t0, B), None, "never failed");
        r.failed(t0, B);
        assert_eq!(r.hold(B), Duration::ZERO);
        assert_eq!(r.held(at(t0, 2), B), None);
    }

    #[test]
    fn each_flap_doubles_the_hold_up_to_the_max() {
        let t0 = Instant::now();
        let mut r = Readmission::default();
        let mut now = t0;
        r.failed(now, B);
        let mut holds = Vec::new();
        for _ in 0..8 {
            // Readmitted once its hold is over, then down again 5 s later: a flap.
            now += r.hold(B) + Duration::from_secs(3);
            assert_eq!(r.held(now, B), None);
            r.readmitted(now);
            now += Duration::from_secs(5);
            r.failed(now, B);
            holds.push(r.hold(B).as_secs());
            let left = r.held(now + Duration::from_secs(1), B).unwrap();
            assert_eq!(left, r.hold(B) - Duration::from_secs(1));
        }
        assert_eq!(holds, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(r.flaps(), 8);
    }

    #[test]
    fn staying_up_longer_than_the_max_starts_over() {
        let t0 = Instant::now();
        let mut r = Readmission::default();
        r.failed(t0, B);
        r.readmitted(at(t0, 3));
        r.failed(at(t0, 10), B);
        assert_eq!(r.hold(B), Duration::from_secs(10));
        r.readmitted(at(t0, 25));
        r.failed(at(t0, 25 + 300), B);
        assert_eq!(r.flaps(), 0);
        assert_eq!(r.held(at(t0, 326), B), None);
    }

    #[test]
    fn a_zero_base_turns_the_back_off_off() {
        let off = Backoff {
            base: Duration::ZERO,
            ..B
        };
        let t0 = Instant::now();
        let mut r = Readmission::default();
        for i in 0..5 {
            r.failed(at(t0, i * 10), off);
            assert_eq!(r.held(at(t0, i * 10), off), None);
            r.readmitted(at(t0, i * 10 + 2));
        }
    }

    #[test]
    fn readmission_without_a_failure_changes_nothing() {
        let t0 = Instant::now();
        let mut r = Readmission::default();
        r.readmitted(t0);
        r.failed(at(t0, 1), B);
        assert_eq!(r.flaps(), 0, "no readmission had happened");
    }
}
