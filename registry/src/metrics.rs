//! Route 53 writer metrics, registered in the Prometheus registry the binary owns.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `wavelb_route53_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The API operation.
    pub operation: &'static str,
    /// `ok`, `retry`, `conflict` or `error`.
    pub outcome: &'static str,
}

/// Labels of `wavelb_route53_retries_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RetryLabels {
    /// Why the request was retried.
    pub reason: &'static str,
}

/// The writer's metrics. Cloning shares the underlying series.
#[derive(Debug, Clone)]
pub struct WriterMetrics {
    /// Requests by operation and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// Retries by reason.
    pub retries: Family<RetryLabels, Counter>,
    /// Seconds from submitting a change until GetChange reported INSYNC.
    pub insync_seconds: Histogram,
}

impl Default for WriterMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            retries: Family::default(),
            insync_seconds: Histogram::new(exponential_buckets(0.25, 2.0, 12)),
        }
    }
}

impl WriterMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "wavelb_route53_requests",
            "Route 53 API requests by operation and outcome",
            m.requests.clone(),
        );
        registry.register(
            "wavelb_route53_retries",
            "Route 53 API requests retried, by reason",
            m.retries.clone(),
        );
        registry.register(
            "wavelb_route53_change_insync_seconds",
            "Time from submitting a change batch until Route 53 reports it INSYNC",
            m.insync_seconds.clone(),
        );
        m
    }
}
