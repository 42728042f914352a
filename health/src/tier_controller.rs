//! The zone tier's part of a health service ([`crate::service::Service`]): in each of the
//! service's rounds it decides on the tier's names as listed ([`crate::tier::decide`], planned
//! by [`registry::tier::plan`]) and writes the plan under the service's lease. Each zone's
//! health is its pool's, from the pool's controller when it runs in the same service, else as
//! that controller recorded it ([`crate::recorded`]), so the tier's controller can run anywhere.
//!
//! One zone never blocks the others: an alias to a pool the reports show without records is
//! never planned, and a change Route 53 refuses for good (a permanent `InvalidChangeBatch`) is
//! found by submitting the refused batch's groups one by one, then kept out of the others'
//! batch ([`crate::tier_rejects`], which states the request cost). Each refusal is counted in
//! `wavelb_tier_rejected_changes_total{tier,zone}` and logged with the zone.

use std::collections::BTreeSet;
use std::time::Duration;

use registry::clock::Clock;
use registry::model::{Action, RecordSet, RrType, SetId};
use registry::name::Fqdn;
use registry::plan::{ChangeGroup, Plan};
use registry::store::{PoolStore, WriteError};
use registry::tier::{self as records, FALLBACK_ID, TierSpec};

use crate::foreign::ForeignWatch;
use crate::leader::LeaseKeeper;
use crate::metrics::{HealthMetrics, TierLabels, TierZoneLabels};
use crate::tier::{Hysteresis, TierDecision, TierPolicy, ZoneHealth, ZoneInput, decide, published};
use crate::tier_rejects::{RETRY_AFTER_SECS, Rejects};

/// The tier's controller.
pub struct TierController {
    spec: TierSpec,
    policy: TierPolicy,
    lease_ttl: Duration,
    metrics: HealthMetrics,
    memory: Hysteresis,
    /// Which members were foreign at the last read (to count and warn once per turn).
    foreign: ForeignWatch,
    /// The zones whose change Route 53 refused for good.
    rejects: Rejects,
    /// The set identifiers with a record at the global name at the last read.
    published: BTreeSet<String>,
    /// Each member's health at the last round (whether a pool has records to alias).
    health: Vec<Option<ZoneHealth>>,
}

/// What the tier decided in a round.
#[derive(Debug, Default)]
pub struct TierRound {
    /// The zones with no refusal on record, in one plan.
    pub together: Plan,
    /// The groups of refused zones, submitted one by one after it.
    pub alone: Vec<ChangeGroup>,
    /// A one-line summary.
    pub summary: String,
}

impl TierController {
    /// A controller for `spec` whose writes last at most half of a `lease_ttl` lease.
    pub fn new(
        spec: TierSpec,
        policy: TierPolicy,
        lease_ttl: Duration,
        metrics: HealthMetrics,
    ) -> Self {
        let controller = Self {
            health: vec![None; spec.members.len()],
            spec,
            policy,
            lease_ttl,
            metrics,
            memory: Hysteresis::default(),
            foreign: ForeignWatch::default(),
            rejects: Rejects::default(),
            published: BTreeSet::new(),
        };
        // The tier's foreign-member and refused-change series exist at 0 from the start, so
        // an alert sees the first one.
        let labels = controller.labels();
        let ids = controller.spec.members.iter().map(|m| m.id.as_str());
        let fallback = controller.spec.fallback.as_ref().map(|_| FALLBACK_ID);
        for id in ids.chain(fallback) {
            drop(
                controller
                    .metrics
                    .tier_rejected
                    .get_or_create(&controller.zone_labels(id)),
            );
        }
        drop(controller.metrics.tier_foreign.get_or_create(&labels));
        drop(
            controller
                .metrics
                .tier_turned_foreign
                .get_or_create(&labels),
        );
        controller
    }

    /// The tier's rules (`min_healthy` and its waits).
    pub fn policy(&self) -> TierPolicy {
        self.policy
    }

    /// The tier.
    pub fn spec(&self) -> &TierSpec {
        &self.spec
    }

    /// Sets the tier's leader gauge.
    pub(crate) fn set_leader(&self, leads: bool) {
        self.metrics
            .tier_leader
            .get_or_create(&self.labels())
            .set(i64::from(leads));
    }

    fn labels(&self) -> TierLabels {
        TierLabels {
            tier: self.spec.name.without_dot().to_owned(),
        }
    }

    fn zone_labels(&self, id: &str) -> TierZoneLabels {
        TierZoneLabels {
            tier: self.spec.name.without_dot().to_owned(),
            zone: id.to_owned(),
        }
    }

    /// Writes a round's decision under `lease` (every batch carries its compare-and-swap): a
    /// refused fallback tried again first, then the zones together, then the refused ones one
    /// by one. A permanent refusal of the batch is narrowed down zone by zone.
    pub(crate) async fn write<S: PoolStore>(
        &mut self,
        store: &S,
        lease: &mut LeaseKeeper,
        round: TierRound,
        clock: &Clock,
    ) -> Result<(), WriteError> {
        let now = clock.unix_now();
        let TierRound {
            together,
            mut alone,
            ..
        } = round;
        // A refused fallback tried again goes before the zones it would replace.
        if let Some(i) = alone.iter().position(|g| g.target_id == FALLBACK_ID) {
            let fallback = alone.remove(i);
            if !self
                .one_by_one(store, lease, vec![fallback], now, clock)
                .await?
            {
                return Ok(());
            }
        }
        let mut go_on = true;
        if !together.is_empty() {
            let sent = together.groups.clone();
            match lease.execute(store, together, now).await {
                Ok(_) => {
                    for g in &sent {
                        self.rejects.accepted(g);
                    }
                }
                Err(WriteError::Conflict { messages }) => {
                    tracing::info!(
                        ?messages,
                        "the tier changed while we wrote; next round re-reads it"
                    );
                    return Ok(());
                }
                Err(WriteError::Rejected { messages }) => {
                    if let [group] = sent.as_slice() {
                        self.refused(group, &messages, now);
                        go_on = group.target_id != FALLBACK_ID;
                    } else {
                        tracing::warn!(
                            tier = %self.spec.name,
                            zones = ?sent.iter().map(|g| g.target_id.as_str()).collect::<Vec<_>>(),
                            ?messages,
                            "Route 53 refused the zone tier's batch for a reason re-reading cannot fix; \
                             submitting each zone's change on its own"
                        );
                        go_on = self.one_by_one(store, lease, sent, now, clock).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if go_on {
            self.one_by_one(store, lease, alone, now, clock).await?;
        }
        Ok(())
    }

    /// Submits each group in a batch of its own, so that a permanent refusal of one zone's
    /// change costs no other zone its change. The fallback's group goes first: when Route 53
    /// refuses it, the rest waits for the next round, decided without the fallback (the zones
    /// it would have replaced are not all taken out for nothing). Stops at a failure that is
    /// not about one batch (Route 53 unreachable, throttled past the retries). Returns false
    /// when the fallback was refused.
    ///
    /// Split up, the batch is no longer all or nothing, so the groups that publish a record
    /// (the fallback first) go before those that only remove or re-label: when one that
    /// publishes is refused or conflicts, the removals wait for the next round, decided with
    /// the refusal known, and the tier is never left without a record in between.
    async fn one_by_one<S: PoolStore>(
        &mut self,
        store: &S,
        lease: &mut LeaseKeeper,
        mut groups: Vec<ChangeGroup>,
        now: u64,
        clock: &Clock,
    ) -> Result<bool, WriteError> {
        groups.sort_by_key(|g| (!publishes(g), g.target_id != FALLBACK_ID));
        let mut publishing_failed = false;
        // The lease was renewed at `now`; requests one by one can wait on the rate limit and
        // retries. Past half the lease, the rest waits for the next round (which checks the lease
        // again), so a deposed leader does not keep writing. (+1: `now` is in whole seconds.)
        let lease_left = now
            .saturating_add((self.lease_ttl.as_secs() / 2).max(1))
            .saturating_add(1);
        for group in groups {
            if publishing_failed && !publishes(&group) {
                continue;
            }
            if clock.unix_now() >= lease_left {
                return Ok(false);
            }
            let plan = Plan {
                groups: vec![group.clone()],
                ..Plan::default()
            };
            let group = &group;
            match lease.execute(store, plan, clock.unix_now()).await {
                Ok(_) => self.rejects.accepted(group),
                Err(WriteError::Rejected { messages }) => {
                    self.refused(group, &messages, now);
                    if group.target_id == FALLBACK_ID {
                        return Ok(false);
                    }
                    publishing_failed |= publishes(group);
                }
                Err(WriteError::Conflict { messages }) => {
                    tracing::info!(
                        tier = %self.spec.name,
                        zone = %group.target_id,
                        ?messages,
                        "the zone's tier records changed while we wrote; next round re-reads them"
                    );
                    if group.target_id == FALLBACK_ID {
                        return Ok(false);
                    }
                    publishing_failed |= publishes(group);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(!publishing_failed)
    }

    /// Route 53 refused `group` for good: remembered, counted and logged with its zone; the
    /// zone's `wavelb_tier_in` says what is still published.
    fn refused(&mut self, group: &ChangeGroup, messages: &[String], now: u64) {
        let zone = &group.target_id;
        self.rejects.refused(group, now);
        let labels = self.zone_labels(zone);
        self.metrics.tier_rejected.get_or_create(&labels).inc();
        self.metrics
            .tier_in
            .get_or_create(&labels)
            .set(i64::from(self.published.contains(zone.as_str())));
        tracing::error!(
            tier = %self.spec.name,
            zone = %zone,
            ?messages,
            retry_after_secs = RETRY_AFTER_SECS,
            "Route 53 refused this zone's change to the tier for a reason re-reading cannot fix; \
             the other zones' changes go on without it, and the same change is tried again after \
             retry_after_secs"
        );
    }

    /// Decides on the tier's names as listed (`sets`), with each member's `health` (in
    /// `spec.members` order: `None` when unknown), at `now`. No I/O: [`TierController::write`]
    /// writes what this returns, when this controller `leads`.
    pub(crate) fn decide(
        &mut self,
        sets: &[RecordSet],
        health: Vec<Option<ZoneHealth>>,
        leads: bool,
        now: u64,
    ) -> TierRound {
        self.set_leader(leads);
        self.health = health;
        let view = records::classify(&self.spec, sets);
        self.published = published(&self.spec, sets)
            .into_keys()
            .map(str::to_owned)
            .collect();
        let turned = self.foreign.observe(
            view.owned.keys().map(|id| id.as_str()),
            view.foreign
                .iter()
                .map(|f| (f.id.clone(), f.reason.clone())),
        );
        self.metrics
            .tier_turned_foreign(self.spec.name.without_dot(), view.foreign.len(), &turned);
        let inputs: Vec<ZoneInput> = self
            .spec
            .members
            .iter()
            .zip(&self.health)
            .map(|(m, health)| ZoneInput {
                id: m.id.clone(),
                health: *health,
                standing: view.owned.get(&m.id).map(|e| e.standing.clone()),
                foreign: view.is_foreign(&m.id),
                publishable: self.published.contains(m.id.as_str())
                    || !self.rejects.refused_recently(&m.id, now),
            })
            .collect();
        let fallback = view.owned.get(FALLBACK_ID).map(|e| e.standing.clone());
        let stale: Vec<SetId> = view
            .owned
            .keys()
            .filter(|id| *id != FALLBACK_ID && self.spec.member(id).is_none())
            .cloned()
            .collect();
        // A fallback whose change Route 53 refused lately cannot stand in for the zones: the
        // healthiest zone is kept instead, and the fallback's records are left as they are.
        let fallback_refused = self.rejects.refused_recently(FALLBACK_ID, now);
        let policy = TierPolicy {
            fallback: self.policy.fallback && !fallback_refused,
            ..self.policy
        };
        let mut decision = decide(
            &policy,
            &inputs,
            fallback.as_ref(),
            &stale,
            &mut self.memory,
            now,
        );
        if fallback_refused {
            decision.wanted.remove(FALLBACK_ID);
        }
        self.report(&inputs, &decision, &published(&self.spec, sets));
        let summary = format!(
            "tier {}: {} of {} zones in{}, {}",
            self.spec.name,
            decision.in_tier.len(),
            inputs.len(),
            if decision.fallback_in {
                " (the regional fallback answers)"
            } else {
                ""
            },
            if leads { "leader" } else { "follower" }
        );
        if !leads {
            return TierRound {
                summary,
                ..TierRound::default()
            };
        }
        let plan = records::plan(&self.spec, &view, &decision.wanted, |name| {
            self.pool_has_records(name)
        });
        for s in &plan.skipped {
            tracing::warn!(tier = %self.spec.name, zone = %s.target_id, reason = %s.reason, "not writing a tier record");
        }
        if !plan.is_empty() {
            tracing::info!(tier = %self.spec.name, in_tier = ?decision.in_tier, fallback = decision.fallback_in, kept = ?decision.kept, "changing the zone tier");
        }
        let sorted = self.rejects.sort(plan, now);
        for zone in &sorted.held {
            tracing::debug!(tier = %self.spec.name, zone = %zone, "holding back a change Route 53 refused");
            self.metrics
                .tier_in
                .get_or_create(&self.zone_labels(zone))
                .set(i64::from(self.published.contains(zone.as_str())));
        }
        TierRound {
            together: sorted.together,
            alone: sorted.alone,
            summary,
        }
    }

    /// Whether an alias to `name` can be created: a zone's pool only once its controller has
    /// reported records in it; any other name (the fallback's alias target, which no
    /// controller here watches) is left to Route 53, whose refusal costs no other zone its
    /// change.
    fn pool_has_records(&self, name: &Fqdn) -> bool {
        let mut pools = self.spec.members.iter().zip(&self.health);
        match pools.find(|(m, _)| m.pool == *name) {
            Some((_, health)) => health.is_some_and(|h| h.records > 0),
            None => true,
        }
    }

    /// Sets the tier's gauges. `published`: the set identifiers with a record at the global name
    /// now, which is what a foreign member's `wavelb_tier_in` shows (it is answered, but never
    /// counted by the decision).
    fn report(
        &self,
        inputs: &[ZoneInput],
        decision: &TierDecision,
        published: &std::collections::BTreeMap<&str, &RecordSet>,
    ) {
        let tier = self.spec.name.without_dot().to_owned();
        let zone = |id: &str| TierZoneLabels {
            tier: tier.clone(),
            zone: id.to_owned(),
        };
        for z in inputs {
            let published = if z.foreign {
                published.contains_key(z.id.as_str())
            } else {
                decision.in_tier.contains(&z.id)
            };
            self.metrics
                .tier_in
                .get_or_create(&zone(&z.id))
                .set(i64::from(published));
            if let Some(h) = z.health {
                self.metrics
                    .tier_healthy
                    .get_or_create(&zone(&z.id))
                    .set(i64::try_from(h.healthy).unwrap_or(i64::MAX));
            }
        }
        if self.spec.fallback.is_some() {
            self.metrics
                .tier_in
                .get_or_create(&zone(FALLBACK_ID))
                .set(i64::from(decision.fallback_in));
        }
        self.metrics
            .tier_kept
            .get_or_create(&self.labels())
            .set(i64::from(decision.kept.is_some()));
        if let Some(kept) = &decision.kept {
            tracing::error!(tier = %self.spec.name, zone = %kept, "every zone is below min_healthy and no fallback is configured (or Route 53 refused it): keeping the healthiest zone in the tier");
        }
    }
}

/// True when `group` creates or rewrites a record at the global name (not only its ownership
/// TXT): one that puts a zone, or the fallback, into the answers.
fn publishes(group: &ChangeGroup) -> bool {
    group.changes.iter().any(|c| {
        c.record_set.rtype != RrType::Txt && matches!(c.action, Action::Create | Action::Upsert)
    })
}
