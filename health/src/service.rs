//! The health service: every pool of one hosted zone that a process watches, and the zone tier
//! over them, as one loop with one listing and one leader lease. `wavelb health` and `wavelb
//! lab` build it in one place (the binary's `cmd::health::service`); this is the loop.
//!
//! A round lists the zone once ([`PoolStore::list_names`]: the pools, their ownership, lease and
//! health names, and the tier's, in one walk), reads the lease ([`LeaseKeeper`]), asks the
//! liveness oracle about garbage-collection candidates, then decides with no I/O: every pool
//! ([`Controller::decide`]), each pool's recorded health ([`crate::recorded`]), the tier
//! ([`TierController::decide`]). The leader writes what they decided, the pools' changes in one
//! plan and the tier's after them, each batch carrying the lease's compare-and-swap, so a
//! deposed leader's write fails whole.
//!
//! Request cost in steady state (no verdict changes), per service: one listing
//! (`ceil(record sets / 300)` pages) per `poll_interval`, and one lease renewal per half
//! `lease_ttl` for the leader (a round that writes renews it for free). A follower lists too,
//! and lists again when the lease it follows lapses. Verdict changes cost one listing and one
//! write per round, however many targets changed together. When Route 53 throttles a round,
//! the next scheduled listings are spaced out (up to [`MAX_BACKOFF`] × `poll_interval`), while
//! probing goes on and a verdict change still triggers a round at once: the writes come first.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use registry::clock::Clock;
use registry::model::{PoolSpec, RecordSet, SetId};
use registry::name::Fqdn;
use registry::plan::{ChangeGroup, Guard, Plan};
use registry::pool::PoolView;
use registry::reconcile::{Decide, Decision, ReconcileError, reconcile};
use registry::store::{PoolStore, WriteError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::HealthConfig;
use crate::controller::{Controller, Observation, Urgency};
use crate::leader::{LeaseKeeper, Standing};
use crate::lease::{self, Lease};
use crate::metrics::HealthMetrics;
use crate::recorded;
use crate::tier::ZoneHealth;
use crate::tier_controller::TierController;
use probe::Probe;
use registry::metrics::PoolLabels;

/// The longest spacing of scheduled listings under throttling, in `poll_interval`s.
pub const MAX_BACKOFF: u32 = 8;

/// How long a pool's health record Route 53 refused for good is left out of the rounds.
pub const RETRY_REFUSED: Duration = Duration::from_secs(300);

/// At most one warning about implausible leases per this interval (every one is counted in
/// `wavelb_health_lease_implausible_total`).
const LEASE_WARN_EVERY: Duration = Duration::from_secs(60);

/// The pools and tier of one hosted zone, watched by one process.
pub struct Service<S, P> {
    store: Arc<S>,
    pools: Vec<Controller<P>>,
    /// Tier members' pools that no controller of this service watches: their health is read
    /// from their records.
    recorded: Vec<PoolSpec>,
    tier: Option<TierController>,
    lease: LeaseKeeper,
    cfg: HealthConfig,
    clock: Clock,
    metrics: HealthMetrics,
    lease_warned: Option<Instant>,
    /// Scheduled listings are `poll_interval` × this apart (doubled by a throttled round).
    backoff: u32,
    /// When the lease this service follows lapses (unix seconds).
    follow_until: Option<u64>,
    /// A renewal between rounds failed: the next is tried no earlier than this.
    renew_pause: Option<Instant>,
    /// A write conflicted: read again soon, not at the next scheduled round.
    reread: bool,
    /// The recorded pools whose record was not believed at the last read (warned about once).
    unbelieved: std::collections::HashSet<Fqdn>,
    /// The pools whose health record Route 53 refused for good (a zone at its quota), and
    /// when: not asked again for [`RETRY_REFUSED`].
    refused_health: HashMap<Fqdn, Instant>,
}

/// Where the one lease of a service lives: at the tier's name when there is a tier (so
/// controllers that share a tier share its lease), else at the pool name first in order (so
/// the order of a configuration file does not matter).
pub fn lease_spec(pools: &[PoolSpec], tier: Option<&TierController>) -> Option<PoolSpec> {
    match tier {
        Some(t) => Some(t.spec().pool_spec()),
        None => pools.iter().min_by(|a, b| a.name.cmp(&b.name)).cloned(),
    }
}

impl<S: PoolStore + 'static, P: Probe> Service<S, P> {
    /// A service over `pools` (at least one, or a tier) in the hosted zone `store` writes to,
    /// with the tier when given, known as `id` in the lease. `recorded`: the tier's pools no
    /// controller here watches (their health comes from their records).
    pub fn new(
        store: Arc<S>,
        mut pools: Vec<Controller<P>>,
        tier: Option<TierController>,
        recorded: Vec<PoolSpec>,
        cfg: HealthConfig,
        id: String,
        metrics: HealthMetrics,
    ) -> Result<Self, NoLease> {
        let specs: Vec<PoolSpec> = pools.iter().map(|p| p.pool().clone()).collect();
        let spec = lease_spec(&specs, tier.as_ref()).ok_or(NoLease)?;
        for (i, p) in pools.iter_mut().enumerate() {
            p.set_index(i);
            if let Some(policy) = tier
                .as_ref()
                .filter(|t| t.spec().members.iter().any(|m| m.pool == p.pool().name))
                .map(TierController::policy)
            {
                p.report_to_tier(policy);
            }
        }
        let lease = LeaseKeeper::new(spec, id, cfg.lease_ttl.as_secs());
        Ok(Self {
            store,
            pools,
            recorded,
            tier,
            lease,
            cfg,
            clock: Clock::System,
            metrics,
            lease_warned: None,
            backoff: 1,
            follow_until: None,
            renew_pause: None,
            reread: false,
            unbelieved: std::collections::HashSet::new(),
            refused_health: HashMap::new(),
        })
    }

    /// Reads the wall clock (leases, quarantine sightings, garbage collection) from `clock`
    /// instead of the system's.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The names one listing reads: each pool's address, ownership, lease (an earlier wavelb's)
    /// and health names, each recorded pool's health, the tier's address and ownership names,
    /// and the lease.
    fn roots(&self) -> Vec<Fqdn> {
        let mut names: Vec<Fqdn> = self
            .pools
            .iter()
            .flat_map(|p| {
                let p = p.pool();
                [
                    p.name.clone(),
                    p.ownership_name(),
                    p.leader_name(),
                    p.health_name(),
                ]
            })
            .chain(self.recorded.iter().map(PoolSpec::health_name))
            .collect();
        if let Some(t) = &self.tier {
            let spec = t.spec().pool_spec();
            names.extend([spec.name.clone(), spec.ownership_name()]);
        }
        names.push(self.lease.spec().leader_name());
        names
    }

    /// Runs rounds, renewals and probes until `shutdown` resolves. `ready` is called once, after
    /// the first successful round.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>, mut ready: impl FnMut(&str)) {
        // Unbounded on purpose: a round can take long (Route 53 throttling is retried for up
        // to two minutes), and a bounded queue would then stall every probe task on `send`,
        // leaving the verdicts stale exactly when they matter. The backlog is at most one
        // observation per target and interval for the round's duration.
        let (tx, mut rx) = mpsc::unbounded_channel::<Observation>();
        let roots = self.roots();
        let mut next_round = Instant::now();
        // When the last round a verdict change triggered ran.
        let mut last_urgent: Option<Instant> = None;
        let mut announced = false;
        tokio::pin!(shutdown);
        loop {
            // A target held out by the re-admission back-off is let back by the first round
            // after its hold ends, without waiting for the next poll.
            let release = self.pools.iter().filter_map(Controller::release_at).min();
            let renew = self.renew_at();
            let mut round_now = false;
            tokio::select! {
                _ = &mut shutdown => break,
                () = tokio::time::sleep_until(next_round) => round_now = true,
                () = tokio::time::sleep_until(release.unwrap_or_else(Instant::now)), if release.is_some() => round_now = true,
                () = tokio::time::sleep_until(renew.unwrap_or_else(Instant::now)), if renew.is_some() => self.renew().await,
                Some(obs) = rx.recv() => {
                    let mut urgency = self.observe(obs);
                    // Whatever queued up meanwhile (during the last round, say) goes into the
                    // same round: a hundred targets failing together cost one write, not a
                    // hundred rounds against Route 53's 5 requests/s.
                    while let Ok(obs) = rx.try_recv() {
                        urgency = urgency.max(self.observe(obs));
                    }
                    // Only a leader writes what a verdict changes: a follower waits for its
                    // scheduled round (its decisions are for its gauges).
                    // A zone crossing min_healthy skips the gap: the tier's failover waits for
                    // no other zone's changes.
                    if urgency > Urgency::None && self.lease.leads() {
                        match last_urgent.map(|at| at + self.round_gap()) {
                            Some(gap) if gap > Instant::now() && urgency < Urgency::Now => {
                                next_round = next_round.min(gap);
                            }
                            _ => {
                                round_now = true;
                                last_urgent = Some(Instant::now());
                            }
                        }
                    }
                }
            }
            if !round_now {
                continue;
            }
            let throttled = self.store.throttled();
            match self.round(&roots, &tx).await {
                Ok(summary) if !announced => {
                    announced = true;
                    ready(&summary);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "health round failed; retrying next round");
                    // A failed round decided nothing: a re-admission hold that ended waits for
                    // the next round instead of re-listing at once, again and again.
                    for p in &mut self.pools {
                        p.clear_release();
                    }
                }
            }
            self.backoff = if self.store.throttled() > throttled {
                (self.backoff * 2).min(MAX_BACKOFF)
            } else {
                1
            };
            if self.backoff > 1 {
                tracing::info!(
                    backoff = self.backoff,
                    "Route 53 throttled this round: listing less often until a round is not"
                );
            }
            next_round = Instant::now() + self.cfg.poll_interval * self.backoff;
            // After a conflict, read again soon: verdict changes wait for a leader's round.
            if std::mem::take(&mut self.reread) {
                next_round = next_round.min(Instant::now() + self.round_gap());
            }
            // A follower reads again as soon as the lease it follows lapses.
            if let Some(until) = self.follow_until {
                let lapse = self.after_unix(until.saturating_add(1));
                next_round = next_round.min(lapse);
            }
        }
        for p in &mut self.pools {
            p.stop();
        }
        if let Some(t) = &self.tier {
            t.set_leader(false);
        }
    }

    /// The shortest time between two rounds a verdict change triggers: `fast_interval`, the
    /// pace of a failing target's probes. The first change is written at once; the changes
    /// that follow within it (a zone's targets failing one by one over a probe interval) share
    /// the next round, so a zone of a hundred dying targets costs about interval /
    /// fast_interval rounds (4 by default), not a hundred. A change that moves the zone tier (a
    /// pool crossing `min_healthy`, [`Urgency::Now`]) skips it.
    fn round_gap(&self) -> Duration {
        self.cfg.fast_interval()
    }

    /// The instant of tokio's clock when the wall clock reads `unix` (now if past).
    fn after_unix(&self, unix: u64) -> Instant {
        Instant::now() + Duration::from_secs(unix.saturating_sub(self.clock.unix_now()))
    }

    /// When the held lease needs renewing between rounds.
    fn renew_at(&self) -> Option<Instant> {
        let at = self.lease.renew_at()?;
        Some(self.renew_pause.map_or(at, |p| at.max(p)))
    }

    fn observe(&mut self, obs: Observation) -> Urgency {
        match self.pools.get_mut(obs.pool) {
            Some(p) => p.observe(obs),
            None => Urgency::None,
        }
    }

    /// Renews the lease alone: one request, with nothing to list.
    async fn renew(&mut self) {
        let now = self.clock.unix_now();
        match self.lease.execute(&*self.store, Plan::default(), now).await {
            Ok(_) => {}
            Err(WriteError::Conflict { .. }) => {
                tracing::warn!(name = %self.lease.spec().name, "the leader lease changed since it was written; the next round reads who holds it");
            }
            Err(e) => {
                // Tried again soon: a lease that lapses deposes this leader.
                let pause = self.cfg.poll_interval.min(self.cfg.lease_ttl / 8);
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "renewing the leader lease failed");
                self.renew_pause = Some(Instant::now() + pause);
            }
        }
    }

    /// One round through the one reconcile loop (a single attempt: a conflict is read again by
    /// the next round): list every name once, read the lease, ask the liveness oracle, decide
    /// every pool, write their plan under the lease; then the tier on the same listing. Returns
    /// a one-line summary.
    async fn round(
        &mut self,
        roots: &[Fqdn],
        tx: &mpsc::UnboundedSender<Observation>,
    ) -> Result<String, WriteError> {
        let store = Arc::clone(&self.store);
        let spec = self.lease.spec().clone();
        let mut round = PoolsRound {
            service: self,
            roots,
            tx,
            guard: None,
            sets: Vec::new(),
            decided: None,
        };
        let result = reconcile(&*store, &spec, 1, &mut round).await;
        let PoolsRound {
            guard,
            sets,
            decided,
            ..
        } = round;
        let mut written = false;
        let error = match result {
            Ok(done) => {
                written = !done.submitted.is_empty();
                None
            }
            Err(ReconcileError::Write(e) | ReconcileError::Decide(e)) => Some(e),
        };
        if let Some(g) = guard {
            self.lease.settle(g, error.as_ref().map_or(Ok(()), Err));
        }
        // No decision: the listing failed.
        let Some(decided) = decided else {
            return Err(error.unwrap_or(WriteError::Build("no decision was made".into())));
        };
        match error {
            None if written => {
                for (p, ids) in self.pools.iter().zip(&decided.collected) {
                    p.collected(ids);
                }
            }
            None => {}
            Some(WriteError::Conflict { messages }) => {
                self.reread = true;
                tracing::info!(
                    ?messages,
                    "the records changed while we wrote; the next round re-reads them"
                );
                return Ok("the records changed while we wrote; next round re-reads them".into());
            }
            Some(WriteError::Rejected { messages }) => {
                // One pool's refused change must not hold the others (or the tier) back.
                tracing::warn!(
                    ?messages,
                    "Route 53 refused the pools' batch for a reason re-reading cannot fix; \
                     submitting each pool's changes on its own"
                );
                if !self.one_pool_at_a_time(&decided).await? {
                    return Ok(
                        "the records changed while we wrote; next round re-reads them".into(),
                    );
                }
            }
            Some(e) => return Err(e),
        }
        let Decided {
            leads,
            health,
            mut summaries,
            now,
            ..
        } = decided;
        if let Some(tier) = &mut self.tier {
            let mut members: Vec<Option<ZoneHealth>> = Vec::new();
            for m in &tier.spec().members {
                let health = match self.pools.iter().position(|p| p.pool().name == m.pool) {
                    Some(i) => health[i],
                    None => match self.recorded.iter().find(|p| p.name == m.pool) {
                        Some(p) => match recorded::read(p, &sets, now) {
                            Ok(h) => {
                                self.unbelieved.remove(&p.name);
                                h
                            }
                            Err(why) => {
                                if self.unbelieved.insert(p.name.clone()) {
                                    tracing::warn!(pool = %p.name, %why, "the pool's recorded health is not believed: the tier leaves its zone as it stands until it is");
                                }
                                None
                            }
                        },
                        None => None,
                    },
                };
                members.push(health);
            }
            let round = tier.decide(&sets, members, leads, now);
            summaries.push(round.summary.clone());
            if leads {
                tier.write(&*self.store, &mut self.lease, round, &self.clock)
                    .await?;
            }
        }
        Ok(summaries.join("; "))
    }

    /// The pools' part of a round on the listing `sets`: the lease, the probes to match, EC2 for
    /// garbage collection, then every pool's decision and health record with no I/O. Returns
    /// the plan (led by the lease's guard when this controller writes) and what was decided.
    async fn decide_pools(
        &mut self,
        sets: &[RecordSet],
        tx: &mpsc::UnboundedSender<Observation>,
    ) -> (Plan, Decided) {
        self.renew_pause = None;
        let now = self.clock.unix_now();
        let mut odd = None;
        let standing = self.lease.read(sets, now, |l| odd = Some(l.clone()));
        if let Some(l) = odd {
            self.implausible_lease(&l, now);
        }
        let (leads, renew) = match &standing {
            Standing::Lead { renew, .. } => (true, *renew),
            Standing::Follow { .. } => (false, false),
        };
        self.follow_until = match standing {
            Standing::Follow { expires, .. } => Some(expires),
            Standing::Lead { .. } => None,
        };
        let views: Vec<_> = self
            .pools
            .iter_mut()
            .map(|p| p.prepare(sets, now, tx))
            .collect();
        // The only I/O between the listing and the write: EC2, for garbage collection.
        let mut gone = Vec::with_capacity(self.pools.len());
        for (p, view) in self.pools.iter().zip(&views) {
            gone.push(if leads {
                p.instances_gone(view, now).await
            } else {
                HashMap::new()
            });
        }
        let me = self.lease.spec().name.clone();
        let my_id = self.lease.holder().to_owned();
        let ttl = self.ttl();
        let mut plans: Vec<Vec<ChangeGroup>> = Vec::with_capacity(self.pools.len());
        let mut collected = Vec::new();
        let mut health = Vec::with_capacity(self.pools.len());
        let mut summaries = Vec::new();
        for ((p, view), gone) in self.pools.iter_mut().zip(&views).zip(&gone) {
            let blocked = older_lease(p.pool(), &me, sets, &my_id, now, ttl);
            if let Some(holder) = &blocked {
                tracing::debug!(pool = %p.pool().name, %holder, "an older controller holds this pool's own lease; following it");
            }
            let r = p.decide(view, sets, leads && blocked.is_none(), gone, now);
            plans.push(r.plan.groups);
            collected.push(r.collected);
            health.push(r.health);
            summaries.push(format!("{}: {}", p.pool().name.without_dot(), r.summary));
        }
        let mut plan = Plan::default();
        if leads {
            let going = renew || plans.iter().any(|g| !g.is_empty());
            self.refused_health
                .retain(|_, at| at.elapsed() < RETRY_REFUSED);
            for ((p, h), groups) in self.pools.iter().zip(&health).zip(&mut plans) {
                if self.refused_health.contains_key(&p.pool().name) {
                    continue;
                }
                if let Some(h) = h
                    && let Some(g) = recorded::update(p.pool(), sets, *h, now, ttl, going)
                {
                    groups.push(g);
                }
            }
            let groups: Vec<ChangeGroup> = plans.iter().flatten().cloned().collect();
            if renew || !groups.is_empty() {
                plan = Plan {
                    groups,
                    guard: self.lease.guard(now),
                    ..Plan::default()
                };
            }
        }
        let decided = Decided {
            leads,
            health,
            plans,
            collected,
            summaries,
            now,
        };
        (plan, decided)
    }

    /// Submits each pool's changes in a batch of its own, after Route 53 refused them together,
    /// its target changes apart from its health record (which grows the zone, so a zone at its
    /// quota refuses it): a refusal names its pool and costs no other change. False when a
    /// write conflicted (the next round re-reads).
    async fn one_pool_at_a_time(&mut self, decided: &Decided) -> Result<bool, WriteError> {
        for (p, (groups, collected)) in self
            .pools
            .iter()
            .zip(decided.plans.iter().zip(&decided.collected))
        {
            let (health, targets): (Vec<_>, Vec<_>) = groups
                .iter()
                .cloned()
                .partition(|g| g.target_id == recorded::GROUP_ID);
            for (groups, what) in [(targets, "target changes"), (health, "health record")] {
                if groups.is_empty() {
                    continue;
                }
                let is_targets = what == "target changes";
                let plan = Plan {
                    groups,
                    ..Plan::default()
                };
                match self
                    .lease
                    .execute(&*self.store, plan, self.clock.unix_now())
                    .await
                {
                    Ok(_) if is_targets => p.collected(collected),
                    Ok(_) => {}
                    Err(WriteError::Rejected { messages }) => {
                        if !is_targets {
                            self.refused_health
                                .insert(p.pool().name.clone(), Instant::now());
                        }
                        tracing::error!(
                            pool = %p.pool().name,
                            what,
                            ?messages,
                            retry_after_secs = RETRY_REFUSED.as_secs(),
                            "Route 53 refused this pool's changes for a reason re-reading cannot \
                             fix; the other changes go on without them (a health record is tried \
                             again after retry_after_secs)"
                        );
                    }
                    Err(WriteError::Conflict { .. }) => {
                        self.reread = true;
                        return Ok(false);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(true)
    }

    fn ttl(&self) -> u64 {
        self.cfg.lease_ttl.as_secs().max(1)
    }

    /// Counts a lease whose expiry lies implausibly far ahead (it is taken over) and warns about
    /// it, at most once per [`LEASE_WARN_EVERY`].
    fn implausible_lease(&mut self, lease: &Lease, now: u64) {
        self.metrics
            .lease_implausible
            .get_or_create(&PoolLabels {
                pool: self.lease.spec().name.without_dot().to_owned(),
            })
            .inc();
        if self
            .lease_warned
            .is_some_and(|at| at.elapsed() < LEASE_WARN_EVERY)
        {
            return;
        }
        self.lease_warned = Some(Instant::now());
        tracing::warn!(
            name = %self.lease.spec().name,
            holder = %lease.holder,
            expires = lease.expires,
            now,
            max_ahead_s = self.ttl() * lease::MAX_LEASE_TTLS,
            "the leader lease expires implausibly far ahead (no controller writes that); \
             treating it as expired and taking it over. Someone with zone write access wrote it, \
             or a controller's clock is far off"
        );
    }
}

/// No pool and no tier: a service needs something to watch.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("a health service needs at least one pool or a zone tier")]
pub struct NoLease;

/// The holder of a live lease at `pool`'s own lease name written by another controller, when
/// that name is not this service's lease (`lease_name`): a controller of an earlier wavelb,
/// which kept one lease per pool. During a rolling upgrade the pool is left to it until its
/// lease lapses, so two versions never write one pool at once.
fn older_lease(
    pool: &PoolSpec,
    lease_name: &Fqdn,
    sets: &[RecordSet],
    me: &str,
    now: u64,
    ttl: u64,
) -> Option<String> {
    if pool.name == *lease_name {
        return None;
    }
    match lease::find(pool, sets) {
        Some((Ok(l), _))
            if l.holder != me && l.expires > now && !lease::implausible(&l, now, ttl) =>
        {
            Some(l.holder)
        }
        _ => None,
    }
}

/// What the pools decided in a round.
struct Decided {
    leads: bool,
    health: Vec<Option<ZoneHealth>>,
    /// Each pool's change groups (its health record's included).
    plans: Vec<Vec<ChangeGroup>>,
    collected: Vec<Vec<SetId>>,
    summaries: Vec<String>,
    now: u64,
}

/// A round's pools' decision for the one reconcile loop: it reads every name of the service in
/// one walk, and keeps the listing and the lease's guard for the round's next steps.
struct PoolsRound<'a, S, P> {
    service: &'a mut Service<S, P>,
    roots: &'a [Fqdn],
    tx: &'a mpsc::UnboundedSender<Observation>,
    guard: Option<Guard>,
    sets: Vec<RecordSet>,
    decided: Option<Decided>,
}

impl<S: PoolStore + 'static, P: Probe> Decide for PoolsRound<'_, S, P> {
    type Outcome = ();
    type Error = WriteError;

    fn read<St: PoolStore>(
        &self,
        store: &St,
        _pool: &PoolSpec,
    ) -> impl Future<Output = Result<Vec<RecordSet>, WriteError>> + Send {
        store.list_names(self.roots, registry::listing::Walk::Jump)
    }

    /// The pools classify their own slices ([`Controller::prepare`]).
    fn view(&self, _pool: &PoolSpec, _sets: &[RecordSet]) -> PoolView {
        PoolView::default()
    }

    async fn decide(
        &mut self,
        _view: &PoolView,
        sets: &[RecordSet],
    ) -> Result<Decision<()>, WriteError> {
        let (plan, decided) = self.service.decide_pools(sets, self.tx).await;
        self.guard = plan.guard.clone();
        self.sets = sets.to_vec();
        self.decided = Some(decided);
        Ok(Decision { plan, outcome: () })
    }
}
