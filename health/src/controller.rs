//! The health controller's adapter: probe tasks on a schedule, the round loop that reads the
//! pool, takes the leader lease, and writes quarantines/restores/deletions through the registry
//! writer. Every decision is made by the pure modules ([`probe::state`], [`crate::decide`],
//! [`crate::lease`]); this module only moves data and keeps time.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use registry::clock::unix_now;
use registry::metrics::{PoolLabels, PoolMetrics};
use registry::model::{PoolSpec, RecordSet};
use registry::plan::{Plan, plan};
use registry::pool::{OwnedTarget, PoolView};
use registry::reconcile::{Decide, Decision, ReconcileError, reconcile};
use registry::writer::{WriteError, Writer};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{HealthConfig, ProbeVia};
use crate::decide::{Policy, decide};
use crate::lease::{self, LeaseStep};
use crate::metrics::{DirectionLabels, FailureLabels, HealthMetrics, ProbeLabels, TargetLabels};
use crate::witness::Witness;
use probe::state::{Health, TargetHealth, Thresholds, Transition};
use probe::{ProbeResult, Prober};

/// How many recent probe results are kept per target for the transition log.
const RECENT: usize = 5;

/// At most one warning about implausible leases per this interval (every one is counted in
/// `wavelb_health_lease_implausible_total`).
const LEASE_WARN_EVERY: Duration = Duration::from_secs(60);

/// One probe result, tagged with the target and the probe task's generation.
struct Observation {
    id: String,
    generation: u64,
    result: ProbeResult,
}

struct Probed {
    addr: SocketAddr,
    generation: u64,
    health: TargetHealth,
    recent: VecDeque<ProbeResult>,
    task: JoinHandle<()>,
}

/// Tells whether a target's instance is gone, for garbage collection (EC2 in production).
pub trait Liveness: Send + Sync {
    /// `Some(true)`: terminated or nonexistent; `Some(false)`: exists; `None`: cannot tell.
    fn instance_gone<'a>(
        &'a self,
        id: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Option<bool>> + Send + 'a>>;
}

/// A running controller for one pool.
pub struct Controller {
    pool: PoolSpec,
    writer: Arc<Writer>,
    cfg: HealthConfig,
    prober: Arc<Prober>,
    id: String,
    metrics: HealthMetrics,
    pool_metrics: PoolMetrics,
    targets: HashMap<String, Probed>,
    next_generation: u64,
    semaphore: Arc<Semaphore>,
    leader: bool,
    liveness: Option<Arc<dyn Liveness>>,
    witness: Witness,
    lease_warned: Option<Instant>,
}

impl Controller {
    /// A controller for `pool` writing through `writer`, known as `id` in the leader lease. One
    /// process may run several (one per pool), sharing the prober and the metrics.
    pub fn new(
        pool: PoolSpec,
        writer: Writer,
        cfg: HealthConfig,
        prober: Arc<Prober>,
        id: String,
        metrics: HealthMetrics,
        pool_metrics: PoolMetrics,
    ) -> Self {
        let semaphore = Arc::new(Semaphore::new(cfg.concurrency));
        Self {
            pool,
            writer: Arc::new(writer),
            cfg,
            prober,
            id,
            metrics,
            pool_metrics,
            targets: HashMap::new(),
            next_generation: 0,
            semaphore,
            leader: false,
            liveness: None,
            witness: Witness::default(),
            lease_warned: None,
        }
    }

    /// Asks `liveness` before deleting a long-quarantined target; without it (labs), a target
    /// quarantined longer than `gc_after` is deleted whatever its instance.
    pub fn with_liveness(mut self, liveness: Arc<dyn Liveness>) -> Self {
        self.liveness = Some(liveness);
        self
    }

    fn pool_label(&self) -> PoolLabels {
        PoolLabels {
            pool: self.pool.name.without_dot().to_owned(),
        }
    }

    /// Runs rounds and probes until `shutdown` resolves. `ready` is called once, after the
    /// first successful read of the pool.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>, mut ready: impl FnMut(&str)) {
        // Unbounded on purpose: a round can take long (Route 53 throttling is retried for up
        // to two minutes), and a bounded queue would then stall every probe task on `send`,
        // leaving the verdicts stale exactly when they matter. The backlog is at most one
        // observation per target and interval for the round's duration.
        let (tx, mut rx) = mpsc::unbounded_channel::<Observation>();
        let mut rounds = tokio::time::interval(self.cfg.poll_interval);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut announced = false;
        tokio::pin!(shutdown);
        loop {
            let mut round_now = false;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = rounds.tick() => round_now = true,
                Some(obs) = rx.recv() => {
                    let mut urgent = self.observe(obs);
                    // Whatever queued up meanwhile (during the last round, say) goes into the
                    // same round: a hundred targets failing together cost one write, not a
                    // hundred rounds against Route 53's 5 requests/s.
                    while let Ok(obs) = rx.try_recv() {
                        urgent |= self.observe(obs);
                    }
                    if urgent {
                        round_now = true;
                        rounds.reset();
                    }
                }
            }
            if round_now {
                match self.round(&tx).await {
                    Ok(summary) if !announced => {
                        announced = true;
                        ready(&summary);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(pool = %self.pool.name, error = %e, "health round failed; retrying next round")
                    }
                }
            }
        }
        for (_, t) in self.targets.drain() {
            t.task.abort();
        }
        self.metrics.leader.get_or_create(&self.pool_label()).set(0);
    }

    /// Feeds one probe result into the target's state machine. True when the verdict changed in
    /// a way the pool may have to follow at once: to unhealthy, or back from unhealthy. A first
    /// verdict of healthy (every target, once, after a start) waits for the next round.
    fn observe(&mut self, obs: Observation) -> bool {
        let kind = self.prober.kind().as_str();
        let outcome = if obs.result.healthy {
            "healthy"
        } else {
            "unhealthy"
        };
        self.metrics
            .probe_duration
            .get_or_create(&ProbeLabels { kind, outcome })
            .observe(obs.result.latency.as_secs_f64());
        if let Some(reason) = obs.result.reason {
            self.metrics
                .probe_failures
                .get_or_create(&FailureLabels {
                    kind,
                    reason: reason.as_str(),
                })
                .inc();
        }
        let thresholds = Thresholds {
            rise: self.cfg.rise,
            fall: self.cfg.fall,
        };
        let pool = self.pool.name.without_dot().to_owned();
        let Some(t) = self.targets.get_mut(&obs.id) else {
            return false;
        };
        if t.generation != obs.generation {
            return false;
        }
        if t.recent.len() == RECENT {
            t.recent.pop_front();
        }
        t.recent.push_back(obs.result.clone());
        let transition = t.health.observe(obs.result.healthy, thresholds);
        self.metrics
            .target_healthy
            .get_or_create(&TargetLabels {
                pool,
                target: obs.id.clone(),
            })
            .set(t.health.state().gauge());
        let Some(Transition { from, to }) = transition else {
            return false;
        };
        let recent: Vec<String> = t
            .recent
            .iter()
            .map(|r| match r.reason {
                None => format!("ok {:?}", r.latency),
                Some(reason) => format!("{} ({})", reason.as_str(), r.detail),
            })
            .collect();
        let direction = if to == Health::Healthy { "up" } else { "down" };
        self.metrics
            .transitions
            .get_or_create(&DirectionLabels { direction })
            .inc();
        tracing::warn!(
            target_id = %obs.id,
            addr = %t.addr,
            %from,
            %to,
            reason = obs.result.reason.map_or("ok", |r| r.as_str()),
            detail = %obs.result.detail,
            recent = ?recent,
            "target verdict changed"
        );
        to == Health::Unhealthy || from == Health::Unhealthy
    }

    /// Where `owned` is probed.
    fn probe_addr(&self, owned: &OwnedTarget) -> Option<SocketAddr> {
        let published = owned
            .target
            .addresses
            .first()
            .and_then(|ip| self.prober.port().map(|port| SocketAddr::new(*ip, port)));
        match self.cfg.probe_via {
            ProbeVia::Probe => owned
                .target
                .probe
                .and_then(|p| p.socket(self.prober.port()))
                .or(published),
            ProbeVia::Published => published,
        }
    }

    /// Starts, restarts or stops probe tasks so they match the owned targets.
    fn sync_probes(&mut self, view: &PoolView, tx: &mpsc::UnboundedSender<Observation>) {
        let wanted: HashMap<String, SocketAddr> = view
            .owned
            .values()
            .filter_map(|o| match self.probe_addr(o) {
                Some(addr) => Some((o.target.id.clone(), addr)),
                None => {
                    tracing::warn!(target_id = %o.target.id, "no address to probe (no published address, or no port in [health.probe])");
                    None
                }
            })
            .collect();
        self.targets.retain(|id, t| {
            let keep = wanted.get(id) == Some(&t.addr);
            if !keep {
                t.task.abort();
            }
            keep
        });
        let new: Vec<(String, SocketAddr)> = wanted
            .into_iter()
            .filter(|(id, _)| !self.targets.contains_key(id))
            .collect();
        let interval = self.cfg.interval;
        let count = new.len().max(1) as u32;
        let mut rng = rand::rng();
        for (i, (id, addr)) in new.into_iter().enumerate() {
            // Spread the first probes evenly across the interval, plus a little jitter.
            let spread = interval * u32::try_from(i).unwrap_or(0) / count;
            let jitter = interval.mul_f64(rng.random_range(0.0..0.05));
            self.next_generation += 1;
            let generation = self.next_generation;
            let task = tokio::spawn(probe_loop(ProbeTask {
                id: id.clone(),
                generation,
                addr,
                prober: self.prober.clone(),
                interval,
                offset: spread + jitter,
                semaphore: self.semaphore.clone(),
                tx: tx.clone(),
            }));
            self.targets.insert(
                id,
                Probed {
                    addr,
                    generation,
                    health: TargetHealth::default(),
                    recent: VecDeque::new(),
                    task,
                },
            );
        }
    }

    /// One round: read, lease, decide, write, through the one reconcile loop with a single
    /// attempt (a conflict is read again by the next round). Returns a one-line summary.
    async fn round(
        &mut self,
        tx: &mpsc::UnboundedSender<Observation>,
    ) -> Result<String, WriteError> {
        let store = Arc::clone(&self.writer);
        let pool = self.pool.clone();
        let mut round = Round {
            controller: self,
            store: &store,
            tx,
        };
        let done = reconcile(&*store, &pool, 1, &mut round).await;
        match done {
            Ok(done) if !done.submitted.is_empty() => {
                let (summary, collected) = done.outcome;
                for id in &collected {
                    tracing::warn!(target_id = %id, "deleted a target quarantined past gc_after");
                }
                self.metrics.gc_deleted.inc_by(collected.len() as u64);
                Ok(summary)
            }
            Ok(done) => Ok(done.outcome.0),
            Err(ReconcileError::Write(WriteError::Conflict { messages })) => {
                tracing::info!(
                    ?messages,
                    "the pool changed while we wrote; next round re-reads it"
                );
                Ok("the pool changed while we wrote; next round re-reads it".into())
            }
            Err(ReconcileError::Write(e) | ReconcileError::Decide(e)) => Err(e),
        }
    }

    /// The decisions of one round on what was read: the lease step (written at once), then
    /// the plan for the targets when this controller leads. Returns the plan, the summary and
    /// the targets the plan garbage-collects.
    async fn decide_round(
        &mut self,
        store: &Writer,
        view: &PoolView,
        sets: &[RecordSet],
        tx: &mpsc::UnboundedSender<Observation>,
    ) -> Result<(Plan, String, Vec<String>), WriteError> {
        let now = unix_now();
        self.witness.observe(view, now);
        self.pool_metrics.observe(&self.pool, view);
        self.sync_probes(view, tx);
        let label = self.pool_label();

        let lease_ttl = self.cfg.lease_ttl.as_secs().max(1);
        let current = lease::find(&self.pool, sets);
        if let Some((Ok(l), _)) = &current
            && l.holder != self.id
            && lease::implausible(l, now, lease_ttl)
        {
            self.implausible_lease(l, now);
        }
        let step = lease::step(&self.pool, current, &self.id, now, lease_ttl);
        self.leader = match step {
            LeaseStep::Follow { holder } => {
                if self.leader {
                    tracing::warn!(%holder, "lost the leader lease; following");
                }
                false
            }
            LeaseStep::Write(changes) => {
                let group = registry::plan::Plan {
                    groups: vec![registry::plan::ChangeGroup {
                        target_id: registry::model::LEADER_LABEL.into(),
                        changes,
                    }],
                    skipped: Vec::new(),
                };
                match store.execute(&group).await {
                    Ok(_) => {
                        if !self.leader {
                            tracing::info!(controller = %self.id, "took the leader lease");
                        }
                        true
                    }
                    Err(WriteError::Conflict { .. }) => false,
                    Err(e) => return Err(e),
                }
            }
        };
        self.metrics
            .leader
            .get_or_create(&label)
            .set(i64::from(self.leader));

        let verdicts: HashMap<String, Health> = self
            .targets
            .iter()
            .map(|(id, t)| (id.clone(), t.health.state()))
            .collect();
        let policy = Policy {
            max_quarantined_fraction: self.cfg.max_quarantined_fraction,
            all_down: self.cfg.all_down,
            gc_after: self.cfg.gc_after.as_secs(),
        };
        let gone = self.instances_gone(view, now).await;
        let decision = decide(
            view,
            &verdicts,
            &policy,
            &self.witness,
            &|id| gone.get(id).copied().flatten(),
            now,
        );
        self.metrics
            .panic
            .get_or_create(&label)
            .set(i64::from(decision.panic()));
        if decision.panic() {
            tracing::error!(
                pool = %self.pool.name,
                withheld = ?decision.withheld,
                members = decision.members,
                max_fraction = self.cfg.max_quarantined_fraction,
                "PANIC: more targets failed than may be quarantined; keeping them in rotation. \
                 The prober is more likely broken than the fleet: check it"
            );
        }
        let summary = format!(
            "{} targets, {} quarantined, {}",
            decision.members,
            decision.quarantined,
            if self.leader { "leader" } else { "follower" }
        );
        if !self.leader {
            let current = view
                .owned
                .values()
                .filter(|o| o.target.state == registry::model::TargetState::Quarantined)
                .count();
            self.metrics
                .quarantined
                .get_or_create(&label)
                .set(i64::try_from(current).unwrap_or(0));
            return Ok((Plan::default(), summary, Vec::new()));
        }
        let planned = plan(&self.pool, view, &decision.intents);
        self.witness.parking(&decision.intents);
        self.metrics
            .quarantined
            .get_or_create(&label)
            .set(i64::try_from(decision.quarantined).unwrap_or(0));
        Ok((planned, summary, decision.collected))
    }
}

/// One round's decision for the reconcile loop: the controller, the store its lease is written
/// through, and where probe tasks report.
struct Round<'a> {
    controller: &'a mut Controller,
    store: &'a Writer,
    tx: &'a mpsc::UnboundedSender<Observation>,
}

impl Decide for Round<'_> {
    /// The summary line and the targets the plan garbage-collects.
    type Outcome = (String, Vec<String>);
    type Error = WriteError;
    async fn decide(
        &mut self,
        view: &PoolView,
        sets: &[RecordSet],
    ) -> Result<Decision<Self::Outcome>, WriteError> {
        let (plan, summary, collected) = self
            .controller
            .decide_round(self.store, view, sets, self.tx)
            .await?;
        Ok(Decision {
            plan,
            outcome: (summary, collected),
        })
    }
}

impl Controller {
    /// Counts a lease whose expiry lies implausibly far ahead (it is taken over) and warns about
    /// it, at most once per [`LEASE_WARN_EVERY`].
    fn implausible_lease(&mut self, lease: &lease::Lease, now: u64) {
        self.metrics
            .lease_implausible
            .get_or_create(&self.pool_label())
            .inc();
        if self
            .lease_warned
            .is_some_and(|at| at.elapsed() < LEASE_WARN_EVERY)
        {
            return;
        }
        self.lease_warned = Some(Instant::now());
        tracing::warn!(
            pool = %self.pool.name,
            holder = %lease.holder,
            expires = lease.expires,
            now,
            max_ahead_s = self.cfg.lease_ttl.as_secs().max(1) * lease::MAX_LEASE_TTLS,
            "the leader lease expires implausibly far ahead (no controller writes that); \
             treating it as expired and taking it over. Someone with zone write access wrote it, \
             or a controller's clock is far off"
        );
    }

    /// Asks the liveness oracle about the targets old enough for garbage collection.
    async fn instances_gone(&self, view: &PoolView, now: u64) -> HashMap<String, Option<bool>> {
        let mut out = HashMap::new();
        let Some(liveness) = &self.liveness else {
            return out;
        };
        let gc_after = self.cfg.gc_after.as_secs();
        for o in view.owned.values() {
            let t = &o.target;
            if self
                .witness
                .quarantined_for(&t.id, now)
                .is_some_and(|seen| seen >= gc_after)
            {
                out.insert(t.id.clone(), liveness.instance_gone(&t.id).await);
            }
        }
        out
    }
}

/// One target's probe task: probes `addr` once per `interval` (first after `offset`) and
/// reports each result, tagged with `generation` so results of a replaced task are dropped.
struct ProbeTask {
    id: String,
    generation: u64,
    addr: SocketAddr,
    prober: Arc<Prober>,
    interval: Duration,
    offset: Duration,
    semaphore: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Observation>,
}

async fn probe_loop(task: ProbeTask) {
    let ProbeTask {
        id,
        generation,
        addr,
        prober,
        interval,
        offset,
        semaphore,
        tx,
    } = task;
    // `slot` advances by exactly `interval`; the jitter moves each probe within its slot
    // without accumulating, so a target gets one probe per interval on average.
    let mut slot = Instant::now() + offset;
    let mut jitter = Duration::ZERO;
    loop {
        tokio::time::sleep_until(slot + jitter).await;
        let result = {
            let Ok(_permit) = semaphore.acquire().await else {
                return;
            };
            prober.probe(addr).await
        };
        if tx
            .send(Observation {
                id: id.clone(),
                generation,
                result,
            })
            .is_err()
        {
            return;
        }
        slot += interval;
        let now = Instant::now();
        if slot < now {
            // A slow probe overran its slot: skip the missed slots instead of bursting.
            let behind = now - slot;
            let missed = (behind.as_nanos() / interval.as_nanos().max(1)) as u32 + 1;
            tracing::debug!(target_id = %id, missed, "probe slots missed");
            slot += interval * missed;
        }
        jitter = interval.mul_f64(rand::rng().random_range(0.0..0.02));
    }
}
