//! The one wall-clock read of the writers. Decisions never read a clock: adapters call
//! [`unix_now`] (or read a [`Clock`]) and pass the time in, so tests drive time by hand.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the system clock is set before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch (0 if the system clock is set before 1970).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wall clock an adapter reads, in whole Unix seconds. Production reads the system clock;
/// in-process tests use [`Clock::following_tokio`], which moves with tokio's (paused) clock, so
/// leases, sightings and garbage collection advance with the test's virtual time.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The system clock ([`unix_now`]).
    #[default]
    System,
    /// `start` Unix seconds at tokio instant `at`, then advancing as tokio's clock does.
    Tokio {
        /// The Unix time at `at`.
        start: u64,
        /// The tokio instant the clock started at.
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `start` now and advances with tokio's clock (virtual under
    /// `start_paused`).
    pub fn following_tokio(start: u64) -> Self {
        Self::Tokio {
            start,
            at: tokio::time::Instant::now(),
        }
    }

    /// Seconds since the Unix epoch on this clock.
    pub fn unix_now(&self) -> u64 {
        match self {
            Self::System => unix_now(),
            Self::Tokio { start, at } => start.saturating_add(at.elapsed().as_secs()),
        }
    }
}
