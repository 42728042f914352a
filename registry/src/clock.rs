//! The one wall-clock read of the writers. Decisions never read a clock: adapters call
//! [`unix_now`] and pass the time in, so tests drive time by hand.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the system clock is set before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
