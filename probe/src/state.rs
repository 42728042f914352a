//! The per-target hysteresis state machine: `unknown → healthy/unhealthy`, `fall` consecutive
//! failures to go down, `rise` consecutive successes to come up. Pure.

use std::fmt;

/// What the controller believes about a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Not enough evidence yet (just started, or just appeared). Never quarantined.
    Unknown,
    /// Passed `rise` probes in a row since it was last down.
    Healthy,
    /// Failed `fall` probes in a row since it was last up.
    Unhealthy,
}

impl Health {
    /// The metric value: 1 healthy, 0 unhealthy, -1 unknown.
    pub fn gauge(self) -> i64 {
        match self {
            Health::Healthy => 1,
            Health::Unhealthy => 0,
            Health::Unknown => -1,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        })
    }
}

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive successes to become healthy (at least 1).
    pub rise: u32,
    /// Consecutive failures to become unhealthy (at least 1).
    pub fall: u32,
}

/// A change of verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The verdict before.
    pub from: Health,
    /// The verdict after.
    pub to: Health,
}

/// One target's verdict and the streak behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    state: Health,
    successes: u32,
    failures: u32,
}

impl Default for TargetHealth {
    fn default() -> Self {
        Self {
            state: Health::Unknown,
            successes: 0,
            failures: 0,
        }
    }
}

impl TargetHealth {
    /// The current verdict.
    pub fn state(&self) -> Health {
        self.state
    }

    /// True on a clean healthy streak: healthy, and no failure since. Anything else (unknown,
    /// unhealthy, a failure not yet `fall` long, a recovery not yet `rise` long) is unsettled,
    /// and the controller probes it at its fast interval.
    pub fn settled(&self) -> bool {
        self.state == Health::Healthy && self.failures == 0
    }

    /// Feeds one probe result; returns the transition it caused, if any.
    pub fn observe(&mut self, healthy: bool, t: Thresholds) -> Option<Transition> {
        if healthy {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        let next = match self.state {
            Health::Healthy | Health::Unknown if self.failures >= t.fall.max(1) => {
                Health::Unhealthy
            }
            Health::Unhealthy | Health::Unknown if self.successes >= t.rise.max(1) => {
                Health::Healthy
            }
            s => s,
        };
        (next != self.state).then(|| {
            let tr = Transition {
                from: self.state,
                to: next,
            };
            self.state = next;
            tr
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Thresholds = Thresholds { rise: 2, fall: 3 };

    #[test]
    fn only_a_clean_healthy_streak_is_settled() {
        let mut h = TargetHealth::default();
        assert!(!h.settled(), "unknown");
        h.observe(true, T);
        assert!(!h.settled(), "rising");
        h.observe(true, T);
        assert!(h.settled(), "healthy");
        h.observe(false, T);
        assert!(!h.settled(), "one failure");
        h.observe(true, T);
        assert!(h.settled(), "the failure streak ended");
        for _ in 0..3 {
            h.observe(false, T);
        }
        assert_eq!(h.state(), Health::Unhealthy);
        assert!(!h.settled(), "unhealthy");
    }

    #[test]
    fn starts_unknown_and_needs_a_full_streak() {
        let mut h = TargetHealth::default();
        assert_eq!(h.observe(false, T), None);
        assert_eq!(h.observe(false, T), None);
        assert_eq!(
            h.state(),
            Health::Unknown,
            "two failures are not enough with fall = 3"
        );
        assert_eq!(
            h.observe(false, T),
            Some(Transition {
                from: Health::Unknown,
                to: Health::Unhealthy
            })
        );
        assert_eq!(h.observe(true, T), None);
        assert_eq!(
            h.observe(true, T),
            Some(Transition {
                from: Health::Unhealthy,
                to: Health::Healthy
            })
        );
        assert_eq!(h.observe(false, T), None);
        assert_eq!(
            h.observe(true, T),
            None,
            "a success resets the failure streak"
        );
        assert_eq!(h.state(), Health::Healthy);
    }

    proptest! {
        /// Going down takes `fall` failures in a row, coming up `rise` successes in a row: the
        /// verdict never flips faster than the thresholds allow.
        #[test]
        fn no_flapping_faster_than_rise_and_fall(
            rise in 1u32..5, fall in 1u32..5,
            results in proptest::collection::vec(any::<bool>(), 0..200),
        ) {
            let t = Thresholds { rise, fall };
            let mut h = TargetHealth::default();
            for (i, &ok) in results.iter().enumerate() {
                if let Some(tr) = h.observe(ok, t) {
                    let need = if tr.to == Health::Healthy { rise } else { fall } as usize;
                    prop_assert!(i + 1 >= need);
                    let streak = &results[i + 1 - need..=i];
                    prop_assert!(streak.iter().all(|&r| r == (tr.to == Health::Healthy)));
                    prop_assert!(tr.from != tr.to);
                }
            }
        }

        /// `unknown` is only left through a full streak, so a target never goes straight from a
        /// fresh start to unhealthy on its first failures.
        #[test]
        fn unknown_needs_a_streak(fall in 2u32..6, failures in 1u32..6) {
            let t = Thresholds { rise: 2, fall };
            let mut h = TargetHealth::default();
            for _ in 0..failures.min(fall - 1) {
                h.observe(false, t);
            }
            prop_assert_eq!(h.state(), Health::Unknown);
        }
    }
}
