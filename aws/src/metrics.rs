//! The Route 53 writer's metrics, registered in the Prometheus registry the binary owns.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use registry::retry::RetryReason;

registry::label_values! {
    /// A Route 53 API operation the writer calls.
    pub enum Operation {
        /// `ListHostedZonesByName`.
        ListHostedZonesByName => "ListHostedZonesByName",
        /// `ListResourceRecordSets`.
        ListResourceRecordSets => "ListResourceRecordSets",
        /// `ChangeResourceRecordSets`.
        ChangeResourceRecordSets => "ChangeResourceRecordSets",
        /// `GetChange`.
        GetChange => "GetChange",
        /// `ListCidrCollections`.
        ListCidrCollections => "ListCidrCollections",
        /// `ListCidrBlocks`.
        ListCidrBlocks => "ListCidrBlocks",
        /// `CreateCidrCollection`.
        CreateCidrCollection => "CreateCidrCollection",
        /// `ChangeCidrCollection`.
        ChangeCidrCollection => "ChangeCidrCollection",
    }
}

registry::label_values! {
    /// How one attempt of a request ended.
    pub enum RequestOutcome {
        /// It succeeded.
        Succeeded => "ok",
        /// It failed and is retried.
        Retry => "retry",
        /// A lost compare-and-swap (`InvalidChangeBatch`, or a CIDR collection's
        /// `CidrCollectionVersionMismatchException`): the caller re-reads.
        Conflict => "conflict",
        /// A permanent `InvalidChangeBatch`.
        Rejected => "rejected",
        /// Any other failure, or the retries ran out.
        Error => "error",
    }
}

/// Labels of `wavelb_route53_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The API operation.
    pub operation: Operation,
    /// How the attempt ended.
    pub outcome: RequestOutcome,
}

/// Labels of `wavelb_route53_retries_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RetryLabels {
    /// Why the request was retried.
    pub reason: RetryReason,
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
        // Each reason's series exists at 0 from the start, so that an alert on the rate of
        // throttled retries sees the first one.
        for &reason in RetryReason::ALL {
            drop(m.retries.get_or_create(&RetryLabels { reason }));
        }
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
        registry.register_with_unit(
            "wavelb_route53_change_insync",
            "Time from submitting a change batch until Route 53 reports it INSYNC",
            Unit::Seconds,
            m.insync_seconds.clone(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_retry_reason_is_exposed_at_zero_before_the_first_retry() {
        let mut registry = Registry::default();
        WriterMetrics::register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for reason in RetryReason::ALL {
            assert!(
                text.contains(&format!(
                    "wavelb_route53_retries_total{{reason=\"{reason}\"}} 0\n"
                )),
                "{text}"
            );
        }
    }
}
