//! Which Route 53 failures are worth retrying, and how long to wait between attempts.
//! Pure: randomness and time come from the caller.

use std::time::Duration;

use rand::Rng;

/// What to do with a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again later, for this reason (a metrics label).
    Retry(RetryReason),
    /// Route 53 refused the batch (`InvalidChangeBatch`): a lost compare-and-swap (re-read and
    /// re-plan) or a permanent rejection, told apart by [`is_cas_conflict`] on its messages.
    Conflict,
    /// Route 53 refused a ChangeCidrCollection made at a version the collection no longer has
    /// (`CidrCollectionVersionMismatchException`): always a lost compare-and-swap; re-read the
    /// collection and re-plan.
    VersionMismatch,
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
                Disposition::Retry(RetryReason::Throttling)
            }
            Some("PriorRequestNotComplete") => {
                Disposition::Retry(RetryReason::PriorRequestNotComplete)
            }
            Some("InvalidChangeBatch") => Disposition::Conflict,
            Some("CidrCollectionVersionMismatchException") => Disposition::VersionMismatch,
            _ if status.is_some_and(|s| s >= 500) => Disposition::Retry(RetryReason::ServerError),
            _ if status == Some(429) => Disposition::Retry(RetryReason::Throttling),
            _ => Disposition::Fail,
        },
        Failure::Timeout => Disposition::Retry(RetryReason::Timeout),
        Failure::Transport => Disposition::Retry(RetryReason::Transport),
        Failure::BadResponse { status } if status.is_some_and(|s| s >= 500) => {
            Disposition::Retry(RetryReason::ServerError)
        }
        Failure::BadResponse { .. } => Disposition::Fail,
    }
}

/// The endings of the `InvalidChangeBatch` messages that mean a compare-and-swap lost: the
/// records changed since they were read (a CREATE of a set that exists, a DELETE of one that is
/// gone or whose values differ). Re-reading and re-planning fixes those.
const CAS_ENDINGS: [&str; 3] = [
    "but it already exists",
    "but it was not found",
    "but the values provided do not match the current values",
];

/// Whether an `InvalidChangeBatch` rejection is only lost compare-and-swaps (re-read and
/// re-plan), rather than a permanent error such as 100 weighted sets per name, the batch size
/// limit, mixing weighted and simple sets, or a bad value, which re-planning cannot fix.
///
/// Route 53 may send several messages (its older `<InvalidChangeBatch><Messages>` document), or
/// one message listing them as `[m1, m2]` (the standard error document, which the lab resolver
/// sends too): every `Tried to … <ending>` sentence is cut out, and the rejection is a conflict
/// only when nothing but brackets, commas and blanks is left. Anything unrecognised is not a
/// conflict, so an unknown error fails clearly instead of looping.
pub fn is_cas_conflict(messages: &[String]) -> bool {
    let mut any = false;
    for message in messages {
        let mut rest = message.as_str();
        let mut left = String::new();
        while let Some(start) = rest.find("Tried to ") {
            let after = &rest[start..];
            let Some((end, ending)) = CAS_ENDINGS
                .iter()
                .filter_map(|e| after.find(e).map(|i| (i, e.len())))
                .min()
            else {
                break;
            };
            left.push_str(&rest[..start]);
            rest = &after[end + ending..];
            any = true;
        }
        left.push_str(rest);
        if !left
            .chars()
            .all(|c| matches!(c, '[' | ']' | ',') || c.is_whitespace())
        {
            return false;
        }
    }
    any
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

crate::label_values! {
    /// Why a request is retried: the `reason` of `wavelb_route53_retries_total`
    /// ([`disposition`] gives them).
    pub enum RetryReason {
        /// Route 53 throttled the request (or answered 429).
        Throttling => "throttling",
        /// `PriorRequestNotComplete`.
        PriorRequestNotComplete => "prior_request_not_complete",
        /// A 5xx answer.
        ServerError => "server_error",
        /// The attempt timed out.
        Timeout => "timeout",
        /// The request could not be sent, or the connection broke.
        Transport => "transport",
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
            Disposition::Retry(RetryReason::Throttling)
        );
        assert_eq!(
            svc(Some("PriorRequestNotComplete"), Some(400)),
            Disposition::Retry(RetryReason::PriorRequestNotComplete)
        );
        assert_eq!(
            svc(Some("InvalidChangeBatch"), Some(400)),
            Disposition::Conflict
        );
        assert_eq!(
            svc(Some("InternalError"), Some(500)),
            Disposition::Retry(RetryReason::ServerError)
        );
        assert_eq!(
            svc(None, Some(503)),
            Disposition::Retry(RetryReason::ServerError)
        );
        assert_eq!(
            svc(Some("CidrCollectionVersionMismatchException"), Some(409)),
            Disposition::VersionMismatch
        );
        // A CIDR collection's permanent errors: Route 53's message is the answer.
        for code in [
            "CidrBlockInUseException",
            "LimitsExceeded",
            "InvalidInput",
            "CidrCollectionAlreadyExistsException",
            "NoSuchCidrCollectionException",
        ] {
            assert_eq!(svc(Some(code), Some(400)), Disposition::Fail, "{code}");
        }
        assert_eq!(svc(Some("NoSuchHostedZone"), Some(404)), Disposition::Fail);
        assert_eq!(svc(Some("AccessDenied"), Some(403)), Disposition::Fail);
        assert_eq!(
            disposition(Failure::Timeout),
            Disposition::Retry(RetryReason::Timeout)
        );
        assert_eq!(
            disposition(Failure::Transport),
            Disposition::Retry(RetryReason::Transport)
        );
    }

    #[test]
    fn every_retry_reason_is_given_for_some_failure() {
        let codes = [
            None,
            Some("Throttling"),
            Some("ThrottlingException"),
            Some("RequestLimitExceeded"),
            Some("PriorRequestNotComplete"),
            Some("InternalError"),
        ];
        let statuses = [None, Some(400), Some(429), Some(500), Some(503)];
        let mut failures = vec![Failure::Timeout, Failure::Transport];
        for status in statuses {
            failures.push(Failure::BadResponse { status });
            failures.extend(codes.iter().map(|&code| Failure::Service { code, status }));
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in failures {
            if let Disposition::Retry(reason) = disposition(f) {
                seen.insert(reason.as_str());
            }
        }
        assert_eq!(seen.len(), RetryReason::ALL.len(), "{seen:?}");
    }

    #[test]
    fn only_lost_compare_and_swaps_are_conflicts() {
        let m = |s: &[&str]| s.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>();
        let exists = "Tried to create resource record set [name='edge.lab.test.', type='A', \
                      set-identifier='i-1'] but it already exists";
        let gone = "Tried to delete resource record set [name='edge.lab.test.', type='TXT', \
                    set-identifier='i-2'] but it was not found";
        let differs = "Tried to delete resource record set [name='edge.lab.test.', type='A', \
                       set-identifier='i-3'] but the values provided do not match the current values";
        assert!(is_cas_conflict(&m(&[exists])));
        assert!(is_cas_conflict(&m(&[exists, gone, differs])));
        // Route 53's one-message list form.
        assert!(is_cas_conflict(&m(&[&format!(
            "[{exists}, {gone}, {differs}]"
        )])));
        // The lab resolver's message, as its API renders it.
        let lab = |s: &[&str]| vec![crate::zone::ChangeError::InvalidChangeBatch(m(s)).to_string()];
        assert!(is_cas_conflict(&lab(&[exists])));
        assert!(is_cas_conflict(&lab(&[exists, gone])));

        let limit = "RRSet with DNS name edge.lab.test., type A has 101 weighted record sets; \
                     the limit is 100";
        let mixed = "RRSet with DNS name edge.lab.test., type A cannot mix weighted and \
                     non-weighted record sets";
        let size = "Number of records limit of 1000 exceeded.";
        assert!(!is_cas_conflict(&m(&[limit])));
        assert!(!is_cas_conflict(&m(&[mixed])));
        assert!(!is_cas_conflict(&m(&[size])));
        // A real conflict next to a permanent error is still permanent.
        assert!(!is_cas_conflict(&m(&[exists, limit])));
        assert!(!is_cas_conflict(&m(&[&format!("[{gone}, {limit}]")])));
        assert!(!is_cas_conflict(&lab(&[gone, limit])));
        assert!(!is_cas_conflict(&lab(&[size])));
        // No message, or a sentence that starts like one but never ends like one.
        assert!(!is_cas_conflict(&[]));
        assert!(!is_cas_conflict(&m(&[
            "Tried to create resource record set [x] but failed"
        ])));
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
