//! Why a TXT record the health controller writes (the leader lease `_wavelb-leader.<pool>`, the
//! recorded health `_wavelb-health.<pool>`) is not believed: the one error both decoders return.

use registry::txt::TxtError;

/// Why a lease or health record does not decode, or is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not exactly one TXT value.
    #[error("expected one TXT value, found {0}")]
    Values(usize),
    /// The TXT value's quoting.
    #[error(transparent)]
    Txt(#[from] TxtError),
    /// A field (`holder=`, `expires=`, …) is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// `holder=` is not a token.
    #[error("holder= is not 1-64 letters, digits, '.', '_' or '-'")]
    Holder,
    /// The lease's `expires=` is not a number.
    #[error("expires={0:?} is not unix seconds")]
    NotUnixSeconds(String),
    /// A health record's field is not a number.
    #[error("{key}{text:?} is not a number")]
    NotANumber {
        /// The field, with its `=`.
        key: &'static str,
        /// Its text.
        text: String,
    },
    /// A count that does not fit this machine's `usize`.
    #[error(transparent)]
    TooLarge(#[from] std::num::TryFromIntError),
    /// `healthy=` above `total=`.
    #[error("healthy= exceeds total=")]
    HealthyExceedsTotal,
    /// The pool has an ownership key and the record's `mac=` is missing or does not verify.
    #[error("no mac= that verifies with this pool's ownership key")]
    Unsigned,
    /// A weighted or otherwise routed record set at the name.
    #[error("a weighted or routed TXT record set")]
    Routed,
    /// More than one record set at the name.
    #[error("{0} TXT record sets")]
    Several(usize),
    /// Expired this many seconds ago.
    #[error("expired {0} s ago: is its controller running?")]
    Expired(u64),
    /// Expires this many seconds ahead, more than the bound.
    #[error("expires {ahead} s ahead, more than {max}")]
    TooFarAhead {
        /// Seconds ahead.
        ahead: u64,
        /// The bound.
        max: u64,
    },
}
