//! Helpers shared by the probe integration tests.

use std::net::SocketAddr;

use probe::{ProbeConfig, ProbeResult, Prober, Reason};

/// Builds a prober from `c` (panicking on a bad config) and runs one probe.
pub(crate) async fn probe(c: &ProbeConfig, target: SocketAddr) -> ProbeResult {
    Prober::new(c)
        .unwrap_or_else(|e| panic!("{e}"))
        .probe(target)
        .await
}

/// Asserts a healthy verdict with no reason.
#[track_caller]
pub(crate) fn assert_healthy(r: &ProbeResult) {
    assert!(r.healthy, "expected healthy: {r:?}");
    assert_eq!(r.reason, None, "{r:?}");
}

/// Asserts an unhealthy verdict with `reason`.
#[track_caller]
pub(crate) fn assert_unhealthy(r: &ProbeResult, reason: Reason) {
    assert!(!r.healthy, "expected unhealthy ({reason}): {r:?}");
    assert_eq!(r.reason, Some(reason), "{r:?}");
}
