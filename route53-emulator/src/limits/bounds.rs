//! The bound on the resolver's whole state: record sets and their bytes across every zone.
//! Route 53's per-zone (10 000 sets) and per-account (500 zones) quotas allow 5 million sets;
//! the lab keeps what it can load again within seconds ([`StateLimits::default`]).

use registry::model::RecordSet;
use registry::zone::ChangeError;

/// The most record sets all zones hold together, by default (`--max-record-sets`).
pub const DEFAULT_MAX_RECORD_SETS: usize = 200_000;
/// The most bytes all record sets hold together, by default (`--max-state-mib`): names, types,
/// set identifiers, values, alias targets and health check ids, as [`set_bytes`] counts them.
pub const DEFAULT_MAX_STATE_BYTES: u64 = 128 * 1024 * 1024;

/// The bound on the whole state, and Route 53's quota on each hosted zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// Record sets in all zones together.
    pub record_sets: usize,
    /// Bytes of all record sets together ([`set_bytes`]).
    pub bytes: u64,
    /// Record sets in one hosted zone (`--max-record-sets-per-zone`): Route 53's quota,
    /// [`registry::zone::MAX_RECORD_SETS`] unless AWS raised it on request.
    pub record_sets_per_zone: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        Self {
            record_sets: DEFAULT_MAX_RECORD_SETS,
            bytes: DEFAULT_MAX_STATE_BYTES,
            record_sets_per_zone: registry::zone::MAX_RECORD_SETS,
        }
    }
}

/// How much the record sets of the state hold: their number and [`set_bytes`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Record sets.
    pub sets: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl Totals {
    /// The totals of `sets`.
    pub fn of<'a>(sets: impl IntoIterator<Item = &'a RecordSet>) -> Self {
        sets.into_iter().fold(Self::default(), |t, s| Self {
            sets: t.sets + 1,
            bytes: t.bytes.saturating_add(set_bytes(s)),
        })
    }

    /// These totals with `before` replaced by `after`.
    pub fn replace(self, before: Self, after: Self) -> Self {
        Self {
            sets: (self.sets + after.sets).saturating_sub(before.sets),
            bytes: self
                .bytes
                .saturating_add(after.bytes)
                .saturating_sub(before.bytes),
        }
    }

    /// `InvalidChangeBatch` when `self` (the state after a change) is past `limits` and larger
    /// than `now` (a state already past them, after the limits were lowered, may still shrink).
    pub fn check(self, now: Self, limits: StateLimits) -> Result<(), ChangeError> {
        let mut errors = Vec::new();
        if self.sets > limits.record_sets && self.sets > now.sets {
            errors.push(format!(
                "The lab resolver would hold {} record sets in all hosted zones; its limit is {} \
                 (raise it with --max-record-sets)",
                self.sets, limits.record_sets
            ));
        }
        if self.bytes > limits.bytes && self.bytes > now.bytes {
            errors.push(format!(
                "The lab resolver's record sets would hold {} bytes in all hosted zones; its \
                 limit is {} MiB (raise it with --max-state-mib)",
                self.bytes,
                limits.bytes / (1024 * 1024)
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ChangeError::InvalidChangeBatch(errors))
        }
    }
}

/// The bytes of one record set that count against [`StateLimits::bytes`]: its name, type, set
/// identifier, values, alias target and health check id.
pub fn set_bytes(set: &RecordSet) -> u64 {
    let len = |s: &str| s.len();
    let n = len(set.name.as_str())
        + len(set.rtype.as_str())
        + set.set_identifier.as_deref().map_or(0, len)
        + set.values.iter().map(|v| v.len()).sum::<usize>()
        + set.alias.as_ref().map_or(0, |a| len(a.dns_name.as_str()))
        + set.health_check_id.as_deref().map_or(0, len);
    u64::try_from(n).unwrap_or(u64::MAX)
}
