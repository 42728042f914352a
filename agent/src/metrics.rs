//! The agent's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use registry::metrics::PoolLabels;

registry::label_values! {
    /// The states the agent reports (`wavelb_agent_state`, `STATUS=`), in lifecycle order.
    pub enum AgentState {
        /// Started, nothing done yet.
        Starting => "starting",
        /// Registering its records.
        Registering => "registering",
        /// In rotation.
        Active => "active",
        /// Quarantined by a health controller or an operator.
        Quarantined => "quarantined",
        /// Quarantined by its own self-check.
        SelfQuarantined => "self_quarantined",
        /// Draining.
        Draining => "draining",
        /// Its records are deleted.
        Deregistered => "deregistered",
        /// Not registering: Auto Scaling has it out of service (a warm pool, Standby).
        OutOfService => "out_of_service",
    }
}

registry::label_values! {
    /// How a reconcile ended (`wavelb_agent_reconcile_total`).
    pub enum ReconcileOutcome {
        /// The records were created.
        Created => "created",
        /// Nothing to change.
        Unchanged => "unchanged",
        /// Drift was repaired.
        Repaired => "repaired",
        /// Quarantined by someone else: left alone.
        QuarantinedByOther => "quarantined_by_other",
        /// A foreign record set holds the set identifier.
        Foreign => "foreign",
        /// The reconcile failed.
        Error => "error",
    }
}

/// Labels of `wavelb_agent_state`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StateLabels {
    /// The state.
    pub state: AgentState,
}

/// Labels of `wavelb_agent_reconcile_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// How it ended.
    pub outcome: ReconcileOutcome,
}

/// Labels of `wavelb_agent_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct InfoLabels {
    /// The set identifier (instance id).
    pub instance_id: String,
    /// The availability (Wavelength) zone.
    pub zone: String,
    /// The published addresses.
    pub address: String,
}

/// The agent's metrics. Cloning shares the series.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    /// 1 while the record is registered.
    pub registered: Family<PoolLabels, Gauge>,
    /// 1 for the current state, 0 for the others.
    pub state: Family<StateLabels, Gauge>,
    /// Reconciles by outcome.
    pub reconcile: Family<OutcomeLabels, Counter>,
    /// When the last reconcile finished.
    pub last_reconcile: Gauge,
    /// The reconcile interval in use (stretched while Route 53 throttles).
    pub reconcile_interval: Gauge,
    /// How long drains took.
    pub drain_seconds: Histogram,
    /// Identity, as labels of a constant 1.
    pub info: Family<InfoLabels, Gauge>,
}

impl AgentMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            registered: Family::default(),
            state: Family::default(),
            reconcile: Family::default(),
            last_reconcile: Gauge::default(),
            reconcile_interval: Gauge::default(),
            drain_seconds: Histogram::new(exponential_buckets(0.5, 2.0, 10)),
            info: Family::default(),
        };
        registry.register(
            "wavelb_agent_registered",
            "1 while this instance's record is registered",
            m.registered.clone(),
        );
        registry.register(
            "wavelb_agent_state",
            "1 for the agent's current state",
            m.state.clone(),
        );
        registry.register(
            "wavelb_agent_reconcile",
            "Reconciles of this instance's records, by outcome",
            m.reconcile.clone(),
        );
        registry.register_with_unit(
            "wavelb_agent_last_reconcile_timestamp",
            "Unix time of the last finished reconcile",
            Unit::Seconds,
            m.last_reconcile.clone(),
        );
        registry.register_with_unit(
            "wavelb_agent_reconcile_interval",
            "The reconcile interval in use: agent.reconcile_interval, stretched up to 8x while Route 53 throttles",
            Unit::Seconds,
            m.reconcile_interval.clone(),
        );
        registry.register_with_unit(
            "wavelb_agent_drain",
            "Time from the start of a drain to the deletion",
            Unit::Seconds,
            m.drain_seconds.clone(),
        );
        registry.register(
            "wavelb_agent_info",
            "This instance: id, zone and published address",
            m.info.clone(),
        );
        m.set_state(AgentState::Starting);
        m
    }

    /// Sets this instance's identity, replacing the series of an earlier one (a re-associated
    /// Carrier IP changes `address`): one series, never one per address seen.
    pub fn set_info(&self, instance_id: &str, zone: &str, addresses: &[std::net::IpAddr]) {
        self.info.clear();
        self.info
            .get_or_create(&InfoLabels {
                instance_id: instance_id.to_owned(),
                zone: zone.to_owned(),
                address: addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            })
            .set(1);
    }

    /// Marks `state` as the current one.
    pub fn set_state(&self, state: AgentState) {
        for &s in AgentState::ALL {
            self.state
                .get_or_create(&StateLabels { state: s })
                .set(i64::from(s == state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_address_replaces_the_info_series() {
        let mut registry = Registry::default();
        let m = AgentMetrics::register(&mut registry);
        m.set_info("i-1", "wlz-1", &["192.0.2.1".parse().unwrap()]);
        m.set_info("i-1", "wlz-1", &["192.0.2.2".parse().unwrap()]);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "wavelb_agent_info{instance_id=\"i-1\",zone=\"wlz-1\",address=\"192.0.2.2\"} 1"
            ),
            "{text}"
        );
        assert!(!text.contains("192.0.2.1"), "{text}");
    }
}
