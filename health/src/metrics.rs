//! The health controller's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use registry::metrics::PoolLabels;

use crate::foreign::Turned;

/// Labels of `wavelb_target_healthy`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TargetLabels {
    /// The pool name.
    pub pool: String,
    /// The set identifier.
    pub target: String,
}

registry::label_values! {
    /// What one probe said (`outcome` of `wavelb_probe_duration_seconds`).
    pub enum ProbeOutcome {
        /// The target answered as expected.
        Healthy => "healthy",
        /// It did not.
        Unhealthy => "unhealthy",
    }
}

registry::label_values! {
    /// Which way a verdict changed (`wavelb_health_transitions_total`).
    pub enum Direction {
        /// To healthy.
        Up => "up",
        /// To unhealthy.
        Down => "down",
    }
}

/// Labels of `wavelb_probe_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProbeLabels {
    /// The probe kind.
    pub kind: &'static str,
    /// What the probe said.
    pub outcome: ProbeOutcome,
}

/// Labels of `wavelb_probe_failures_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FailureLabels {
    /// The probe kind.
    pub kind: &'static str,
    /// The failure reason.
    pub reason: &'static str,
}

/// Labels of `wavelb_probe_resent_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// The probe kind.
    pub kind: &'static str,
}

/// Labels of `wavelb_health_transitions_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DirectionLabels {
    /// Which way.
    pub direction: Direction,
}

/// Labels of the zone tier's per-zone series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TierZoneLabels {
    /// The global name.
    pub tier: String,
    /// The zone's set identifier (`fallback` for the regional fallback).
    pub zone: String,
}

/// Labels of the zone tier's series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TierLabels {
    /// The global name.
    pub tier: String,
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// The controller's metrics. Cloning shares the series.
#[derive(Debug, Clone)]
pub struct HealthMetrics {
    /// 1 healthy, 0 unhealthy, -1 unknown.
    pub target_healthy: Family<TargetLabels, Gauge>,
    /// Probe latency by kind and outcome.
    pub probe_duration: Family<ProbeLabels, Histogram, fn() -> Histogram>,
    /// Failed probes by kind and reason.
    pub probe_failures: Family<FailureLabels, Counter>,
    /// Requests sent again within a successful probe (a datagram was lost, either way).
    pub probe_resent: Family<KindLabels, Counter>,
    /// Targets healthy again but held out by the re-admission back-off (they flapped).
    pub readmit_held: Family<PoolLabels, Gauge>,
    /// Verdict changes by direction.
    pub transitions: Family<DirectionLabels, Counter>,
    /// Quarantined targets.
    pub quarantined: Family<PoolLabels, Gauge>,
    /// 1 while the fraction guard holds back quarantines.
    pub panic: Family<PoolLabels, Gauge>,
    /// 1 while this controller holds the leader lease.
    pub leader: Family<PoolLabels, Gauge>,
    /// Dead targets deleted.
    pub gc_deleted: Counter,
    /// Leases taken over because their expiry lay implausibly far ahead.
    pub lease_implausible: Family<PoolLabels, Counter>,
    /// 1 while a zone (or the fallback) is published in the tier.
    pub tier_in: Family<TierZoneLabels, Gauge>,
    /// Healthy targets of each zone's pool, as the tier sees them.
    pub tier_healthy: Family<TierZoneLabels, Gauge>,
    /// 1 while the tier keeps a zone below min_healthy because every zone is out (no fallback).
    pub tier_kept: Family<TierLabels, Gauge>,
    /// 1 while this controller holds the tier's leader lease.
    pub tier_leader: Family<TierLabels, Gauge>,
    /// Pool members that turned from owned to foreign.
    pub turned_foreign: Family<PoolLabels, Counter>,
    /// Foreign members of the zone tier (set identifiers at the tier's names).
    pub tier_foreign: Family<TierLabels, Gauge>,
    /// Tier members that turned from owned to foreign.
    pub tier_turned_foreign: Family<TierLabels, Counter>,
    /// Changes of a zone's tier records that Route 53 refused for good.
    pub tier_rejected: Family<TierZoneLabels, Counter>,
}

impl HealthMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            target_healthy: Family::default(),
            probe_duration: Family::new_with_constructor(histogram),
            probe_failures: Family::default(),
            probe_resent: Family::default(),
            readmit_held: Family::default(),
            transitions: Family::default(),
            quarantined: Family::default(),
            panic: Family::default(),
            leader: Family::default(),
            gc_deleted: Counter::default(),
            lease_implausible: Family::default(),
            tier_in: Family::default(),
            tier_healthy: Family::default(),
            tier_kept: Family::default(),
            tier_leader: Family::default(),
            turned_foreign: Family::default(),
            tier_foreign: Family::default(),
            tier_turned_foreign: Family::default(),
            tier_rejected: Family::default(),
        };
        registry.register(
            "wavelb_target_healthy",
            "Verdict per target: 1 healthy, 0 unhealthy, -1 unknown",
            m.target_healthy.clone(),
        );
        registry.register_with_unit(
            "wavelb_probe_duration",
            "Probe latency by kind and outcome",
            Unit::Seconds,
            m.probe_duration.clone(),
        );
        registry.register(
            "wavelb_probe_failures",
            "Failed probes by kind and reason",
            m.probe_failures.clone(),
        );
        registry.register(
            "wavelb_probe_resent",
            "Requests a successful probe sent again within its timeout because no reply had come (lost datagrams, either way; the retransmit key)",
            m.probe_resent.clone(),
        );
        registry.register(
            "wavelb_health_readmit_held",
            "Targets whose probes pass again but that stay quarantined for the re-admission back-off, because they flapped",
            m.readmit_held.clone(),
        );
        registry.register(
            "wavelb_health_transitions",
            "Verdict changes by direction",
            m.transitions.clone(),
        );
        registry.register(
            "wavelb_health_quarantined",
            "Targets of the pool in quarantine",
            m.quarantined.clone(),
        );
        registry.register("wavelb_health_panic", "1 while the fraction guard holds back quarantines (the prober is more likely broken than the fleet)", m.panic.clone());
        registry.register(
            "wavelb_health_leader",
            "1 while this controller holds the pool's leader lease",
            m.leader.clone(),
        );
        registry.register(
            "wavelb_gc_deleted",
            "Targets deleted because their instance is gone",
            m.gc_deleted.clone(),
        );
        registry.register(
            "wavelb_health_lease_implausible",
            "Rounds that found the leader lease expiring more than 3 lease TTLs ahead (treated as expired)",
            m.lease_implausible.clone(),
        );
        registry.register(
            "wavelb_tier_in",
            "1 while the zone (or the regional fallback) is published at the global name",
            m.tier_in.clone(),
        );
        registry.register(
            "wavelb_tier_healthy_targets",
            "Healthy targets of each zone's pool, as the zone tier counts them against min_healthy",
            m.tier_healthy.clone(),
        );
        registry.register(
            "wavelb_tier_kept",
            "1 while every zone is below min_healthy and the healthiest is kept in the tier (no fallback configured)",
            m.tier_kept.clone(),
        );
        registry.register(
            "wavelb_tier_leader",
            "1 while this controller holds the zone tier's leader lease",
            m.tier_leader.clone(),
        );
        registry.register(
            "wavelb_pool_turned_foreign",
            "Members of the pool that turned from owned to foreign (their ownership record went \
             missing, malformed, unauthenticated or inconsistent): never changed again, still answered",
            m.turned_foreign.clone(),
        );
        registry.register(
            "wavelb_tier_foreign_records",
            "Set identifiers at the zone tier's names that this owner must not change (a foreign \
             member that is published stays answered whatever its zone's health)",
            m.tier_foreign.clone(),
        );
        registry.register(
            "wavelb_tier_turned_foreign",
            "Members of the zone tier that turned from owned to foreign",
            m.tier_turned_foreign.clone(),
        );
        registry.register(
            "wavelb_tier_rejected_changes",
            "Changes of a zone's records in the zone tier that Route 53 refused for a reason \
             re-reading cannot fix (a permanent InvalidChangeBatch); the other zones' changes still \
             go through",
            m.tier_rejected.clone(),
        );
        m
    }

    /// Removes the series of a target that left `pool` (deleted, deregistered, turned foreign,
    /// or no longer probed), so churn does not leave series behind.
    pub fn forget_target(&self, pool: &str, target: &str) {
        self.target_healthy.remove(&TargetLabels {
            pool: pool.to_owned(),
            target: target.to_owned(),
        });
    }

    /// Counts the members of pool `name` that turned foreign at this read and warns once about
    /// each (the [`Turned`] list says which are new).
    pub fn pool_turned_foreign(&self, name: &str, turned: &[Turned]) {
        let labels = PoolLabels {
            pool: name.to_owned(),
        };
        self.turned_foreign
            .get_or_create(&labels)
            .inc_by(transitions(turned));
        for t in turned {
            tracing::warn!(
                pool = %name,
                set_id = ?t.id,
                reason = ?t.reason,
                was_owned = t.was_owned,
                "a member of the pool is foreign: wavelb will not change or delete it, and Route 53 \
                 still answers it. Anyone with write access to the zone can write such a record; \
                 see `wavelb records list`, and remove it with `wavelb records remove --force` if \
                 nobody should have (set pool.ownership_key_file to make ownership a fact)"
            );
        }
    }

    /// The tier's counterpart of [`HealthMetrics::pool_turned_foreign`], with the tier's gauge
    /// of foreign members (`foreign` of them at this read).
    pub fn tier_turned_foreign(&self, tier: &str, foreign: usize, turned: &[Turned]) {
        let labels = TierLabels {
            tier: tier.to_owned(),
        };
        self.tier_foreign
            .get_or_create(&labels)
            .set(i64::try_from(foreign).unwrap_or(i64::MAX));
        self.tier_turned_foreign
            .get_or_create(&labels)
            .inc_by(transitions(turned));
        for t in turned {
            tracing::warn!(
                tier = %tier,
                zone = ?t.id,
                reason = ?t.reason,
                was_owned = t.was_owned,
                "a member of the zone tier is foreign: wavelb will not change or delete it, and \
                 while its record is published Route 53 answers that zone whatever its health. \
                 See `wavelb records list`; if nobody should have written it, delete its two \
                 record sets by hand (aws route53 change-resource-record-sets) and the controller \
                 writes the zone's own again. An ownership key makes ownership a fact"
            );
        }
    }
}

fn transitions(turned: &[Turned]) -> u64 {
    turned.iter().filter(|t| t.was_owned).count() as u64
}
