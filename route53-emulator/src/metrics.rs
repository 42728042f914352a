//! The Route 53 emulator's Prometheus metrics: API requests and what refused them, and the
//! change batches applied. The DNS server's own (queries, answers, connections) are
//! `dns::metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of `wavelb_api_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ApiLabels {
    /// The API operation as Route 53 names it (`ChangeResourceRecordSets`, …), or `Unknown`.
    pub operation: &'static str,
    /// `OK` or the error code.
    pub code: String,
}

/// The API's metrics. Cloning shares the series.
#[derive(Debug, Clone, Default)]
pub struct ApiMetrics {
    /// API requests by operation and outcome code.
    pub api_requests: Family<ApiLabels, Counter>,
    /// API requests refused by the rate limit.
    pub api_throttled: Counter,
    /// API requests the key's IAM policy denied (`AccessDenied`).
    pub api_denied: Counter,
    /// ChangeResourceRecordSets batches applied (and made durable).
    pub zone_changes: Counter,
}

impl ApiMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "wavelb_api_requests",
            "Route 53 API requests, by operation and result code",
            m.api_requests.clone(),
        );
        registry.register(
            "wavelb_api_throttled",
            "Route 53 API requests refused by --api-rate-limit",
            m.api_throttled.clone(),
        );
        registry.register(
            "wavelb_api_denied",
            "Route 53 API requests denied by the access key's IAM policy (AccessDenied)",
            m.api_denied.clone(),
        );
        registry.register(
            "wavelb_zone_changes",
            "Change batches applied to hosted zones",
            m.zone_changes.clone(),
        );
        m
    }
}
