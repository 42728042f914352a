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
use registry::metrics::{PoolLabels, PoolMetrics};
use registry::model::{PoolSpec, RecordSet, SetId};
use registry::plan::{Plan, plan};
use registry::pool::{OwnedTarget, PoolView, classify};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{HealthConfig, ProbeVia};
use crate::decide::{PanicChange, Policy, decide, panic_change};
use crate::foreign::ForeignWatch;
use crate::metrics::{
    Direction, DirectionLabels, FailureLabels, HealthMetrics, KindLabels, ProbeLabels,
    ProbeOutcome, TargetLabels,
};
use crate::readmit::Readmission;
use crate::tier::{TierPolicy, ZoneHealth};
use crate::witness::Witness;
use probe::state::{Health, TargetHealth, Thresholds, Transition};
use probe::{Probe, ProbeResult, Prober};

/// How many recent probe results are kept per target for the transition log.
const RECENT: usize = 5;

/// One probe result, tagged with the pool, the target and the probe task's generation.
pub(crate) struct Observation {
    pub(crate) pool: usize,
    id: SetId,
    generation: u64,
    result: ProbeResult,
}

struct Probed {
    addr: SocketAddr,
    generation: u64,
    health: TargetHealth,
    recent: VecDeque<ProbeResult>,
    /// The task's probe interval: `interval`, or `fast_interval` while not cleanly healthy.
    pace: watch::Sender<Duration>,
    /// The re-admission back-off's view of this target.
    readmission: Readmission,
    /// Whether the current hold was logged.
    hold_logged: bool,
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

/// One pool's part of a health service ([`crate::service::Service`]): its probe tasks, the
/// targets' verdicts, and the decisions of a round on the pool as listed. It does no Route 53
/// I/O itself: the service lists, holds the lease, and writes what the pools decide.
pub struct Controller<P = Prober> {
    pool: PoolSpec,
    /// This pool's place in its service (tags its probe results).
    index: usize,
    cfg: HealthConfig,
    prober: Arc<P>,
    metrics: HealthMetrics,
    pool_metrics: PoolMetrics,
    targets: HashMap<SetId, Probed>,
    next_generation: u64,
    semaphore: Arc<Semaphore>,
    liveness: Option<Arc<dyn Liveness>>,
    witness: Witness,
    /// Which members were foreign at the last read (to count and warn once per turn).
    foreign: ForeignWatch,
    /// When the earliest re-admission hold of a target that passes its probes ends (set by
    /// each round).
    release_at: Option<Instant>,
    /// The zone tier's rules when a tier counts this pool's health.
    tier: Option<TierPolicy>,
    /// The targets the tier counts (every owned one but the draining), as of the last round.
    counted: Vec<SetId>,
    /// How many quarantines the fraction guard held back in the last round (0: no panic).
    panic_withheld: usize,
}

/// A pool's health as the zone tier counts it: the `counted` targets' `verdict`s, once every one
/// has a verdict; `records`: the record sets at the pool's name and type.
fn zone_health(
    counted: &[SetId],
    records: usize,
    verdict: impl Fn(&str) -> Health,
) -> Option<ZoneHealth> {
    let verdicts: Vec<Health> = counted.iter().map(|id| verdict(id)).collect();
    verdicts
        .iter()
        .all(|v| *v != Health::Unknown)
        .then(|| ZoneHealth {
            healthy: verdicts.iter().filter(|v| **v == Health::Healthy).count(),
            total: verdicts.len(),
            records,
        })
}

/// How soon a probe result needs a round ([`Controller::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Urgency {
    /// Nothing to write: the next scheduled round will do.
    None,
    /// A verdict to write soon: the changes within `fast_interval` of the last round a change
    /// triggered share the next one.
    Soon,
    /// A verdict that moves the zone tier: a round at once.
    Now,
}

/// What one pool decided in a round.
#[derive(Debug, Default)]
pub struct PoolRound {
    /// The changes to write (empty for a follower).
    pub plan: Plan,
    /// A one-line summary.
    pub summary: String,
    /// The targets the plan garbage-collects.
    pub collected: Vec<SetId>,
    /// The pool's health, once every counted target has a verdict.
    pub health: Option<ZoneHealth>,
}

impl<P: Probe> Controller<P> {
    /// A controller for `pool`. One process may run several (one per pool), sharing the prober
    /// and the metrics.
    pub fn new(
        pool: PoolSpec,
        cfg: HealthConfig,
        prober: Arc<P>,
        metrics: HealthMetrics,
        pool_metrics: PoolMetrics,
    ) -> Self {
        let semaphore = Arc::new(Semaphore::new(cfg.concurrency));
        // The pool's foreign-member series exist at 0 from the start, so an alert sees the
        // first one.
        let label = PoolLabels {
            pool: pool.name.without_dot().to_owned(),
        };
        drop(metrics.turned_foreign.get_or_create(&label));
        drop(pool_metrics.foreign.get_or_create(&label));
        Self {
            pool,
            index: 0,
            cfg,
            prober,
            metrics,
            pool_metrics,
            targets: HashMap::new(),
            next_generation: 0,
            semaphore,
            liveness: None,
            witness: Witness::default(),
            foreign: ForeignWatch::default(),
            release_at: None,
            tier: None,
            counted: Vec::new(),
            panic_withheld: 0,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PoolSpec {
        &self.pool
    }

    /// Tags this pool's probe results with its place in the service.
    pub(crate) fn set_index(&mut self, index: usize) {
        self.index = index;
    }

    /// Marks the pool as one a zone tier counts with `policy`: every verdict change triggers a
    /// round, at once when it moves the zone in or out ([`Urgency::Now`]).
    pub(crate) fn report_to_tier(&mut self, policy: TierPolicy) {
        self.tier = Some(policy);
    }

    /// When the earliest re-admission hold ends, if any target is held.
    pub(crate) fn release_at(&self) -> Option<Instant> {
        self.release_at
    }

    /// Forgets when a hold ends until the next round decides (it set it).
    pub(crate) fn clear_release(&mut self) {
        self.release_at = None;
    }

    /// Sets the pool's leader gauge.
    pub(crate) fn set_leader(&self, leads: bool) {
        self.metrics
            .leader
            .get_or_create(&self.pool_label())
            .set(i64::from(leads));
    }

    /// Stops the probe tasks (the service is stopping).
    pub(crate) fn stop(&mut self) {
        for (_, t) in self.targets.drain() {
            t.task.abort();
        }
        self.set_leader(false);
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

    /// Feeds one probe result into the target's state machine; says how soon the verdict it
    /// changed needs a round. A change to or from unhealthy is [`Urgency::Soon`]; so is every
    /// change in a pool the zone tier counts. A first verdict of healthy (every target, once,
    /// after a start) otherwise waits for the next round. A change that moves the tier is
    /// [`Urgency::Now`] ([`Controller::moves_tier`]).
    pub(crate) fn observe(&mut self, obs: Observation) -> Urgency {
        let kind = self.prober.kind().as_str();
        let outcome = if obs.result.healthy {
            ProbeOutcome::Healthy
        } else {
            ProbeOutcome::Unhealthy
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
        if obs.result.resent > 0 {
            self.metrics
                .probe_resent
                .get_or_create(&KindLabels { kind })
                .inc_by(u64::from(obs.result.resent));
        }
        let thresholds = Thresholds {
            rise: self.cfg.rise,
            fall: self.cfg.fall,
        };
        let (interval, fast, backoff) = (
            self.cfg.interval,
            self.cfg.fast_interval(),
            self.cfg.backoff(),
        );
        let pool = self.pool.name.without_dot().to_owned();
        let Some(t) = self.targets.get_mut(&obs.id) else {
            return Urgency::None;
        };
        if t.generation != obs.generation {
            return Urgency::None;
        }
        if t.recent.len() == RECENT {
            t.recent.pop_front();
        }
        t.recent.push_back(obs.result.clone());
        let transition = t.health.observe(obs.result.healthy, thresholds);
        let pace = if t.health.settled() { interval } else { fast };
        t.pace
            .send_if_modified(|p| std::mem::replace(p, pace) != pace);
        self.metrics
            .target_healthy
            .get_or_create(&TargetLabels {
                pool,
                target: obs.id.to_string(),
            })
            .set(t.health.state().gauge());
        let Some(Transition { from, to }) = transition else {
            return Urgency::None;
        };
        // What the tier counted this target as before the change: a healthy target still held
        // by the re-admission back-off counts as unhealthy.
        let counted_before = match from {
            Health::Healthy if t.readmission.held(Instant::now(), backoff).is_some() => {
                Health::Unhealthy
            }
            other => other,
        };
        let recent: Vec<String> = t
            .recent
            .iter()
            .map(|r| match r.reason {
                None => format!("ok {:?}", r.latency),
                Some(reason) => format!("{} ({})", reason.as_str(), r.detail),
            })
            .collect();
        if to == Health::Unhealthy {
            t.readmission.failed(Instant::now(), backoff);
            t.hold_logged = false;
        }
        let direction = if to == Health::Healthy {
            Direction::Up
        } else {
            Direction::Down
        };
        self.metrics
            .transitions
            .get_or_create(&DirectionLabels { direction })
            .inc();
        if from == Health::Unknown && to == Health::Healthy {
            // A first verdict that the target is well (every target at start-up) is news, not a
            // warning.
            tracing::info!(target_id = %obs.id, addr = %t.addr, "target healthy");
        } else {
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
        }
        // The zone tier counts every verdict (a first healthy one included): its round must see
        // the pool's health as soon as it changes.
        match self.tier {
            Some(policy) if self.moves_tier(&policy, &obs.id, counted_before) => Urgency::Now,
            Some(_) => Urgency::Soon,
            None if to == Health::Unhealthy || from == Health::Unhealthy => Urgency::Soon,
            None => Urgency::None,
        }
    }

    /// True when the verdict change of target `id` (already applied; the tier counted it as
    /// `before`) moves the zone in or out of the tier at the next round: its health became
    /// known, or it fell below `min_healthy` with `leave_after` 0, or came back to it with
    /// `return_after` 0 (a crossing that only starts a wait moves nothing yet). Counted as the
    /// round counts ([`zone_health`]): the targets of the last listing but the draining, held
    /// targets as unhealthy. At most a few such changes per zone and episode, bounded by `rise`,
    /// `fall` and the re-admission back-off, so each may cost a round.
    fn moves_tier(&self, policy: &TierPolicy, id: &str, before: Health) -> bool {
        if !self.counted.iter().any(|c| c == id) {
            return false;
        }
        let now = Instant::now();
        let backoff = self.cfg.backoff();
        let current = |c: &str| match self.targets.get(c) {
            Some(t) => match t.health.state() {
                Health::Healthy if t.readmission.held(now, backoff).is_some() => Health::Unhealthy,
                other => other,
            },
            None => Health::Unknown,
        };
        let after = zone_health(&self.counted, 0, current);
        let before = zone_health(
            &self.counted,
            0,
            |c| if c == id { before } else { current(c) },
        );
        let need = policy.min_healthy;
        match (before.map(|h| need.met(h)), after.map(|h| need.met(h))) {
            (None, Some(_)) => true,
            (Some(true), Some(false)) => policy.leave_after == 0,
            (Some(false), Some(true)) => policy.return_after == 0,
            _ => false,
        }
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
        let wanted: HashMap<SetId, SocketAddr> = view
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
        let mut stopped: Vec<SetId> = Vec::new();
        self.targets.retain(|id, t| {
            let keep = wanted.get(id) == Some(&t.addr);
            if !keep {
                t.task.abort();
                stopped.push(id.clone());
            }
            keep
        });
        let new: Vec<(SetId, SocketAddr)> = wanted
            .into_iter()
            .filter(|(id, _)| !self.targets.contains_key(id))
            .collect();
        let interval = self.cfg.interval;
        let count = new.len().max(1) as u32;
        // A new target is probed at the fast pace until its first verdict.
        let first_pace = self.cfg.fast_interval();
        let mut rng = rand::rng();
        for (i, (id, addr)) in new.into_iter().enumerate() {
            // Spread the first probes evenly across the interval, plus a little jitter.
            let spread = interval * u32::try_from(i).unwrap_or(0) / count;
            let jitter = interval.mul_f64(rng.random_range(0.0..0.05));
            self.next_generation += 1;
            let generation = self.next_generation;
            let (pace, pace_rx) = watch::channel(first_pace);
            // A new probe task starts without a verdict, whatever an earlier task of this id
            // had found.
            self.metrics
                .target_healthy
                .get_or_create(&TargetLabels {
                    pool: self.pool.name.without_dot().to_owned(),
                    target: id.to_string(),
                })
                .set(Health::Unknown.gauge());
            let task = tokio::spawn(probe_loop(ProbeTask {
                pool: self.index,
                id: id.clone(),
                generation,
                addr,
                prober: self.prober.clone(),
                pace: pace_rx,
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
                    pace,
                    readmission: Readmission::default(),
                    hold_logged: false,
                    task,
                },
            );
        }
        // Targets that left the pool (deleted, deregistered, turned foreign) or lost their
        // probe address: their series go with them, so churn leaves none behind.
        for id in stopped.iter().filter(|id| !self.targets.contains_key(*id)) {
            self.metrics.forget_target(self.pool.name.without_dot(), id);
        }
    }

    /// A round's first step on the pool as listed: classify, note what was seen (witness,
    /// metrics, foreign members), and start or stop probe tasks to match. Returns the view the
    /// round decides on.
    pub(crate) fn prepare(
        &mut self,
        sets: &[RecordSet],
        now: u64,
        tx: &mpsc::UnboundedSender<Observation>,
    ) -> PoolView {
        let view = classify(&self.pool, sets);
        self.witness.observe(&view, now);
        self.pool_metrics.observe(&self.pool, &view);
        let turned = self.foreign.observe(
            view.owned.keys().map(|id| id.as_str()),
            view.foreign
                .iter()
                .map(|f| (f.id.clone(), f.reason.to_string())),
        );
        self.metrics
            .pool_turned_foreign(self.pool.name.without_dot(), &turned);
        self.sync_probes(&view, tx);
        view
    }

    /// The decisions of one round on what was read (no I/O): the pool's health, and when this
    /// controller `leads`, the plan for the targets. `gone` is what the liveness oracle said
    /// about the targets old enough for garbage collection ([`Controller::instances_gone`]).
    pub(crate) fn decide(
        &mut self,
        view: &PoolView,
        sets: &[RecordSet],
        leads: bool,
        gone: &HashMap<SetId, Option<bool>>,
        now: u64,
    ) -> PoolRound {
        let label = self.pool_label();
        self.set_leader(leads);
        let verdicts = self.verdicts();
        self.counted = view
            .owned
            .values()
            .filter(|o| o.target.state != registry::model::TargetState::Draining)
            .map(|o| o.target.id.clone())
            .collect();
        let records = sets
            .iter()
            .filter(|s| s.name == self.pool.name && s.rtype == self.pool.record_type)
            .count();
        let health = zone_health(&self.counted, records, |id| {
            verdicts.get(id).copied().unwrap_or(Health::Unknown)
        });
        let policy = Policy {
            max_quarantined_fraction: self.cfg.max_quarantined_fraction,
            all_down: self.cfg.all_down,
            gc_after: self.cfg.gc_after.as_secs(),
        };
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
        self.log_panic(&decision);
        let summary = format!(
            "{} targets, {} quarantined, {}",
            decision.members,
            decision.quarantined,
            if leads { "leader" } else { "follower" }
        );
        if !leads {
            let current = view
                .owned
                .values()
                .filter(|o| o.target.state == registry::model::TargetState::Quarantined)
                .count();
            self.metrics
                .quarantined
                .get_or_create(&label)
                .set(i64::try_from(current).unwrap_or(0));
            return PoolRound {
                summary,
                health,
                ..PoolRound::default()
            };
        }
        let planned = plan(&self.pool, view, &decision.intents);
        self.witness.parking(&decision.intents);
        self.metrics
            .quarantined
            .get_or_create(&label)
            .set(i64::try_from(decision.quarantined).unwrap_or(0));
        PoolRound {
            plan: planned,
            summary,
            collected: decision.collected,
            health,
        }
    }

    /// After the round's plan was written: logs and counts the targets it garbage-collected.
    pub(crate) fn collected(&self, ids: &[SetId]) {
        for id in ids {
            tracing::warn!(pool = %self.pool.name, target_id = %id, "deleted a target quarantined past gc_after");
        }
        self.metrics.gc_deleted.inc_by(ids.len() as u64);
    }
}

impl<P> Controller<P> {
    /// Logs the fraction guard's panic when it starts, changes or ends ([`panic_change`]), with
    /// its counts; the rounds in between log nothing.
    fn log_panic(&mut self, decision: &crate::decide::Decision) {
        let withheld = decision.withheld.len();
        let change = panic_change(self.panic_withheld, withheld);
        self.panic_withheld = withheld;
        match change {
            Some(PanicChange::Entered) => tracing::error!(
                pool = %self.pool.name,
                withheld = ?decision.withheld,
                quarantined = decision.quarantined,
                members = decision.members,
                max_fraction = self.cfg.max_quarantined_fraction,
                "PANIC: more targets failed than may be quarantined; keeping {withheld} of them in \
                 rotation. The prober is more likely broken than the fleet: check it. Logged \
                 again when this changes or ends"
            ),
            Some(PanicChange::Changed) => tracing::warn!(
                pool = %self.pool.name,
                withheld = ?decision.withheld,
                quarantined = decision.quarantined,
                members = decision.members,
                "PANIC goes on: now keeping {withheld} failed targets in rotation"
            ),
            Some(PanicChange::Left) => tracing::warn!(
                pool = %self.pool.name,
                quarantined = decision.quarantined,
                members = decision.members,
                "panic over: the fraction guard holds back no quarantine"
            ),
            None => {}
        }
    }
}

impl<P: Probe> Controller<P> {
    /// Every target's verdict for this round: its probes' verdict, except that a target the
    /// re-admission back-off holds stays unhealthy until its hold ends.
    fn verdicts(&mut self) -> HashMap<SetId, Health> {
        let now = Instant::now();
        let backoff = self.cfg.backoff();
        let mut held = 0_i64;
        let mut release: Option<Instant> = None;
        let verdicts = self
            .targets
            .iter_mut()
            .map(|(id, t)| {
                let mut verdict = t.health.state();
                if verdict == Health::Healthy {
                    match t.readmission.held(now, backoff) {
                        Some(left) => {
                            verdict = Health::Unhealthy;
                            held += 1;
                            release = Some(release.map_or(now + left, |r| r.min(now + left)));
                            if !t.hold_logged {
                                t.hold_logged = true;
                                tracing::warn!(
                                    target_id = %id,
                                    flaps = t.readmission.flaps(),
                                    hold_s = t.readmission.hold(backoff).as_secs(),
                                    left_s = left.as_secs(),
                                    "target passes its probes again but flapped: it stays out until its re-admission hold ends"
                                );
                            }
                        }
                        None => t.readmission.readmitted(now),
                    }
                }
                (id.clone(), verdict)
            })
            .collect();
        self.metrics
            .readmit_held
            .get_or_create(&self.pool_label())
            .set(held);
        self.release_at = release;
        verdicts
    }

    /// Asks the liveness oracle about the targets old enough for garbage collection.
    pub(crate) async fn instances_gone(
        &self,
        view: &PoolView,
        now: u64,
    ) -> HashMap<SetId, Option<bool>> {
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

/// One target's probe task: probes `addr` once per `pace` (first after `offset`) and reports
/// each result, tagged with `generation` so results of a replaced task are dropped.
struct ProbeTask<P> {
    pool: usize,
    id: SetId,
    generation: u64,
    addr: SocketAddr,
    prober: Arc<P>,
    /// The interval, changed by the controller as the target's verdict settles or unsettles.
    pace: watch::Receiver<Duration>,
    offset: Duration,
    semaphore: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Observation>,
}

async fn probe_loop<P: Probe>(task: ProbeTask<P>) {
    let ProbeTask {
        pool,
        id,
        generation,
        addr,
        prober,
        mut pace,
        offset,
        semaphore,
        tx,
    } = task;
    // `slot` advances by exactly the interval; the jitter moves each probe within its slot
    // without accumulating, so a target gets one probe per interval on average.
    let mut slot = Instant::now() + offset;
    let mut jitter = Duration::ZERO;
    let mut last: Option<Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(slot + jitter) => {}
            changed = pace.changed() => {
                if changed.is_err() {
                    return; // the controller dropped this target
                }
                // A new pace (the target started failing, or settled): the next probe is one
                // new interval after the last one, not after the old slot.
                let interval = *pace.borrow_and_update();
                if let Some(last) = last {
                    slot = last + interval;
                    jitter = Duration::ZERO;
                }
                continue;
            }
        }
        last = Some(Instant::now());
        let interval = *pace.borrow_and_update();
        let result = {
            let Ok(_permit) = semaphore.acquire().await else {
                return;
            };
            prober.probe(addr).await
        };
        if tx
            .send(Observation {
                pool,
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

#[cfg(test)]
mod tests {
    //! The controller over time, in-process: rounds, probe tasks and the leader lease against the
    //! in-memory store, with scripted probes, on tokio's paused clock. No sockets and no sleeps:
    //! virtual time advances only when every task waits, so the timings asserted here are exact
    //! consequences of the configuration, not of the machine's speed.

    use std::collections::{BTreeMap, HashSet};
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Mutex;

    use probe::ProbeKind;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;
    use registry::clock::Clock;
    use registry::memory::MemoryStore;
    use registry::model::{RrType, Target, TargetState, Why};
    use registry::name::Fqdn;
    use registry::plan::Intent;
    use registry::pool::classify;
    use registry::reconcile::{Decision, decide_with, reconcile};
    use registry::store::PoolStore;
    use registry::testing::sid;
    use tokio::sync::oneshot;

    use super::*;
    use crate::lease;
    use crate::metrics::TargetLabels;
    use registry::testing::pool;

    /// Unix time at the start of every test.
    const START: u64 = 1_800_000_000;
    /// How long a probe of a dead target takes (its timeout).
    const TIMEOUT: Duration = Duration::from_millis(500);
    const POOL: &str = "edge.example.com";

    /// Scripted probes: every address answers unless it is in `dead`.
    #[derive(Default)]
    struct Script {
        dead: Mutex<HashSet<IpAddr>>,
    }

    impl Script {
        fn set(&self, ip: IpAddr, alive: bool) {
            let mut dead = self.dead.lock().unwrap();
            if alive {
                dead.remove(&ip);
            } else {
                dead.insert(ip);
            }
        }
    }

    impl Probe for Script {
        fn kind(&self) -> ProbeKind {
            ProbeKind::Udp
        }
        fn port(&self) -> Option<u16> {
            Some(4000)
        }
        async fn probe(&self, addr: SocketAddr) -> ProbeResult {
            if self.dead.lock().unwrap().contains(&addr.ip()) {
                tokio::time::sleep(TIMEOUT).await;
                ProbeResult {
                    healthy: false,
                    latency: TIMEOUT,
                    reason: Some(probe::Reason::Timeout),
                    detail: "scripted: dead".into(),
                    resent: 0,
                }
            } else {
                ProbeResult {
                    healthy: true,
                    latency: Duration::from_millis(1),
                    reason: None,
                    detail: "scripted: alive".into(),
                    resent: 0,
                }
            }
        }
    }

    /// Says every instance still exists, or every one is gone.
    struct Instances {
        gone: bool,
    }

    impl Liveness for Instances {
        fn instance_gone<'a>(
            &'a self,
            _id: &'a str,
        ) -> std::pin::Pin<Box<dyn Future<Output = Option<bool>> + Send + 'a>> {
            Box::pin(async move { Some(self.gone) })
        }
    }

    fn ip(i: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, i))
    }

    /// `[health]` with 1 s probes, fall 3, rise 2, 5 s rounds, and `extra` lines.
    fn config(extra: &str) -> HealthConfig {
        // 5 s rounds unless `extra` sets its own.
        let poll = if extra.contains("poll_interval") {
            ""
        } else {
            "poll_interval = \"5s\"\n"
        };
        let cfg: HealthConfig = toml::from_str(&format!(
            "interval = \"1s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 3\n{poll}\
             {extra}\n[probe]\nkind = \"udp\"\nport = 4000\nsend = \"ping\"\nexpect = \"ping\"\n"
        ))
        .unwrap();
        cfg.validate().unwrap();
        cfg
    }

    /// A zone holding the pool with targets `i-1` … `i-n` at 192.0.2.1 … n, weight 10 each,
    /// registered through the one reconcile loop as agents do.
    async fn zone(n: u8) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        register(&store, &pool(), 1..=n).await;
        store
    }

    /// Registers targets `i-k` at 192.0.2.k for every k in `ids` into `pool`, as agents do.
    async fn register(store: &MemoryStore, pool: &PoolSpec, ids: std::ops::RangeInclusive<u8>) {
        let pool = pool.clone();
        let intents: BTreeMap<SetId, Intent> = ids
            .map(|i| {
                let t = Target::active(sid(&format!("i-{i}")), vec![ip(i)], 10, START);
                (t.id.clone(), Intent::Present(t))
            })
            .collect();
        let mut register = decide_with(|view: &PoolView, _: &[RecordSet]| {
            Ok::<_, std::convert::Infallible>(Decision {
                plan: plan(&pool, view, &intents),
                outcome: (),
            })
        });
        reconcile(store, &pool, 1, &mut register).await.unwrap();
    }

    /// The owned targets as the zone holds them now.
    fn targets(store: &MemoryStore) -> BTreeMap<SetId, Target> {
        targets_of(store, &pool())
    }

    fn state(store: &MemoryStore, id: &str) -> Option<TargetState> {
        targets(store).get(id).map(|t| t.state)
    }

    fn quarantined(store: &MemoryStore) -> usize {
        targets(store)
            .values()
            .filter(|t| t.state == TargetState::Quarantined)
            .count()
    }

    /// A running controller and what the test needs to watch and stop it.
    struct Running {
        metrics: HealthMetrics,
        registry: Registry,
        ready: Arc<Mutex<Option<String>>>,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<()>,
    }

    impl Running {
        fn gauge(&self, family: impl Fn(&HealthMetrics) -> &Family<PoolLabels, Gauge>) -> i64 {
            family(&self.metrics)
                .get_or_create(&PoolLabels { pool: POOL.into() })
                .get()
        }

        /// The metrics as `/metrics` renders them.
        fn text(&self) -> String {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
            text
        }

        fn leads(&self) -> bool {
            self.gauge(|m| &m.leader) == 1
        }

        fn healthy(&self, id: &str) -> bool {
            let labels = TargetLabels {
                pool: POOL.into(),
                target: id.into(),
            };
            self.metrics.target_healthy.get_or_create(&labels).get() == 1
        }

        async fn stop(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            self.task.await.unwrap();
        }
    }

    fn start(
        store: &Arc<MemoryStore>,
        script: &Arc<Script>,
        cfg: HealthConfig,
        id: &str,
        liveness: Option<Arc<dyn Liveness>>,
    ) -> Running {
        start_pool(pool(), store, script, cfg, id, liveness)
    }

    /// [`start`] for `pool` (a pool with an ownership key, say), over any store.
    fn start_pool<S: PoolStore + 'static>(
        pool: PoolSpec,
        store: &Arc<S>,
        script: &Arc<Script>,
        cfg: HealthConfig,
        id: &str,
        liveness: Option<Arc<dyn Liveness>>,
    ) -> Running {
        let mut registry = Registry::default();
        let metrics = HealthMetrics::register(&mut registry);
        let mut controller = Controller::new(
            pool,
            cfg.clone(),
            Arc::clone(script),
            metrics.clone(),
            PoolMetrics::register(&mut registry),
        );
        if let Some(l) = liveness {
            controller = controller.with_liveness(l);
        }
        let service = crate::service::Service::new(
            Arc::clone(store),
            vec![controller],
            None,
            Vec::new(),
            cfg,
            id.into(),
            metrics.clone(),
        )
        .unwrap()
        .with_clock(Clock::following_tokio(START));
        let ready = Arc::new(Mutex::new(None));
        let (stop, stopped) = oneshot::channel::<()>();
        let announced = Arc::clone(&ready);
        let task = tokio::spawn(service.run(
            async {
                let _ = stopped.await;
            },
            move |summary| *announced.lock().unwrap() = Some(summary.to_owned()),
        ));
        Running {
            metrics,
            registry,
            ready,
            stop: Some(stop),
            task,
        }
    }

    /// Polls `check` every 100 ms of virtual time until it holds; returns how long that took.
    /// Fails after `limit`.
    async fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
        let started = Instant::now();
        loop {
            if check() {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Checks that `check` holds at every 100 ms step for `span` of virtual time.
    async fn throughout(span: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let started = Instant::now();
        while started.elapsed() < span {
            assert!(check(), "{what}: broken after {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts one controller on a pool of `n`, with `liveness`, and waits until it leads and has
    /// seen every target healthy.
    async fn leading(
        n: u8,
        cfg: HealthConfig,
        liveness: Option<Arc<dyn Liveness>>,
    ) -> (Arc<MemoryStore>, Arc<Script>, Running) {
        let store = zone(n).await;
        let script = Arc::new(Script::default());
        let running = start(&store, &script, cfg, "c-1", liveness);
        within(
            Duration::from_secs(10),
            "leader, every target healthy",
            || {
                running.leads()
                    && running.ready.lock().unwrap().is_some()
                    && (1..=n).all(|i| running.healthy(&format!("i-{i}")))
            },
        )
        .await;
        (store, script, running)
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_target_falls_after_fall_probes_and_rises_after_rise_probes() {
        // One pace for every probe (no fast interval), so each step is a whole second.
        let cfg = config("fast_interval = \"1s\"");
        let (store, script, running) = leading(4, cfg, None).await;

        script.set(ip(2), false);
        let took = within(Duration::from_secs(30), "quarantine of i-2", || {
            state(&store, "i-2") == Some(TargetState::Quarantined)
        })
        .await;
        // Three failed probes one second apart, each known after its timeout; the verdict
        // triggers a round at once instead of waiting for the 5 s poll.
        assert!(
            took >= Duration::from_secs(2) + TIMEOUT && took <= Duration::from_secs(4),
            "quarantined after {took:?}"
        );
        let t = &targets(&store)["i-2"];
        assert_eq!(
            (
                t.weight,
                t.wanted_weight,
                t.by.as_ref().map(registry::model::By::as_str)
            ),
            (0, 10, Some("health"))
        );
        assert_eq!(quarantined(&store), 1, "only i-2");
        assert_eq!(running.gauge(|m| &m.quarantined), 1);

        script.set(ip(2), true);
        let took = within(Duration::from_secs(30), "restore of i-2", || {
            state(&store, "i-2") == Some(TargetState::Active)
        })
        .await;
        // Two good probes one second apart: the second is at most two intervals away.
        assert!(
            took >= Duration::from_millis(500) && took <= Duration::from_secs(3),
            "restored after {took:?}"
        );
        assert_eq!(
            targets(&store)["i-2"].weight,
            10,
            "back at its wanted weight"
        );
        assert_eq!(running.gauge(|m| &m.quarantined), 0);
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_target_is_probed_at_the_fast_interval() {
        let (store, script, running) = leading(4, config("fast_interval = \"250ms\""), None).await;
        script.set(ip(2), false);
        let took = within(Duration::from_secs(30), "quarantine of i-2", || {
            state(&store, "i-2") == Some(TargetState::Quarantined)
        })
        .await;
        // The first failure comes at the slow pace (up to 1 s and its jitter, known after the
        // 500 ms timeout); the next two follow back to back, each as long as its timeout
        // (longer than 250 ms). Without the fast pace this takes up to 3.5 s (the test above).
        assert!(
            took >= Duration::from_millis(1500) && took <= Duration::from_millis(2800),
            "quarantined after {took:?}"
        );
        script.set(ip(2), true);
        let took = within(Duration::from_secs(30), "restore of i-2", || {
            state(&store, "i-2") == Some(TargetState::Active)
        })
        .await;
        // Two good probes 250 ms apart, the first at most one failing probe away.
        assert!(
            took <= Duration::from_millis(1100),
            "restored after {took:?}"
        );
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_flapping_target_stays_out_longer_each_time() {
        let cfg = config("readmit_backoff = \"10s\"\nreadmit_backoff_max = \"300s\"");
        let (store, script, running) = leading(4, cfg, None).await;
        let mut outs = Vec::new();
        for _ in 0..4 {
            script.set(ip(3), false);
            within(Duration::from_secs(30), "quarantine of i-3", || {
                state(&store, "i-3") == Some(TargetState::Quarantined)
            })
            .await;
            // Up again at once: how long does it stay out?
            script.set(ip(3), true);
            let out = within(Duration::from_secs(120), "restore of i-3", || {
                state(&store, "i-3") == Some(TargetState::Active)
            })
            .await;
            outs.push(out);
            // Down again 5 s after it came back: a flap.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        // The first time only `rise` probes; then holds of 10, 20 and 40 s from the failure.
        assert!(outs[0] <= Duration::from_secs(2), "{outs:?}");
        for (i, hold) in [(1, 10), (2, 20), (3, 40)] {
            let hold = Duration::from_secs(hold);
            assert!(
                outs[i] >= hold - Duration::from_secs(3)
                    && outs[i] <= hold + Duration::from_secs(1),
                "out {i}: {outs:?}"
            );
        }
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn held_targets_are_counted_and_zero_turns_the_back_off_off() {
        for (base, held) in [("10s", true), ("0s", false)] {
            let cfg = config(&format!("readmit_backoff = \"{base}\""));
            let (store, script, running) = leading(4, cfg, None).await;
            for round in 0..2 {
                script.set(ip(1), false);
                within(Duration::from_secs(30), "quarantine", || {
                    state(&store, "i-1") == Some(TargetState::Quarantined)
                })
                .await;
                script.set(ip(1), true);
                within(Duration::from_secs(5), "healthy by its probes", || {
                    running.healthy("i-1")
                })
                .await;
                if round == 0 {
                    // A first failure holds nothing back.
                    within(Duration::from_secs(5), "restored", || {
                        state(&store, "i-1") == Some(TargetState::Active)
                    })
                    .await;
                }
            }
            // The second failure came 0 to 2 s after the first recovery: a flap.
            if held {
                within(Duration::from_secs(5), "counted as held", || {
                    running.gauge(|m| &m.readmit_held) == 1
                })
                .await;
                throughout(Duration::from_secs(5), "held out", || {
                    state(&store, "i-1") == Some(TargetState::Quarantined)
                })
                .await;
            } else {
                within(Duration::from_secs(5), "restored at once", || {
                    state(&store, "i-1") == Some(TargetState::Active)
                })
                .await;
                assert_eq!(running.gauge(|m| &m.readmit_held), 0);
            }
            running.stop().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn probe_failures_shorter_than_fall_change_nothing() {
        let (store, script, running) = leading(4, config(""), None).await;
        let before = store.calls().accepted;
        // Two failures in a row, then it answers again: below fall = 3.
        script.set(ip(3), false);
        let failures = || {
            let labels = FailureLabels {
                kind: "udp",
                reason: "timeout",
            };
            running.metrics.probe_failures.get_or_create(&labels).get()
        };
        within(Duration::from_secs(10), "two failed probes", || {
            failures() == 2
        })
        .await;
        script.set(ip(3), true);
        throughout(Duration::from_secs(20), "i-3 stays active", || {
            state(&store, "i-3") == Some(TargetState::Active)
        })
        .await;
        // About 22 s went by: only the lease renewals, every other 5 s round, were written.
        let written = store.calls().accepted - before;
        assert!((2..=3).contains(&written), "{written} writes");
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_fraction_guard_keeps_half_the_pool_and_raises_panic() {
        let (store, script, running) = leading(4, config(""), None).await;
        for i in 1..=3 {
            script.set(ip(i), false);
        }
        within(Duration::from_secs(30), "panic", || {
            running.gauge(|m| &m.panic) == 1
        })
        .await;
        throughout(Duration::from_secs(30), "at most half quarantined", || {
            quarantined(&store) == 2
        })
        .await;
        assert_eq!(state(&store, "i-4"), Some(TargetState::Active));

        // Two recover: the one held back is quarantined now, and the panic ends.
        script.set(ip(1), true);
        script.set(ip(2), true);
        within(Duration::from_secs(30), "panic over", || {
            running.gauge(|m| &m.panic) == 0
                && state(&store, "i-3") == Some(TargetState::Quarantined)
                && quarantined(&store) == 1
        })
        .await;
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn fail_closed_parks_the_whole_pool_and_unparks_when_one_recovers() {
        let cfg = config("all_down = \"fail_closed\"");
        let (store, script, running) = leading(3, cfg, None).await;
        for i in 1..=3 {
            script.set(ip(i), false);
        }
        let addresses = |store: &MemoryStore| {
            store
                .sets()
                .into_iter()
                .filter(|s| s.name == pool().name && s.rtype == RrType::A)
                .count()
        };
        within(
            Duration::from_secs(60),
            "every address record removed",
            || addresses(&store) == 0,
        )
        .await;
        let parked = targets(&store);
        assert_eq!(parked.len(), 3, "the ownership records stay");
        assert!(parked.values().all(|t| t.parked && t.addresses.len() == 1));

        script.set(ip(2), true);
        within(Duration::from_secs(30), "i-2 back in rotation", || {
            targets(&store)
                .get("i-2")
                .is_some_and(|t| t.state == TargetState::Active && !t.parked && t.weight == 10)
        })
        .await;
        assert_eq!(
            addresses(&store),
            3,
            "the failing targets get their address records back, at weight 0"
        );
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn garbage_collection_waits_gc_after_and_asks_whether_the_instance_is_gone() {
        for (liveness, deleted) in [
            (None, true),
            (
                Some(Arc::new(Instances { gone: true }) as Arc<dyn Liveness>),
                true,
            ),
            (
                Some(Arc::new(Instances { gone: false }) as Arc<dyn Liveness>),
                false,
            ),
        ] {
            let (store, script, running) = leading(4, config("gc_after = \"60s\""), liveness).await;
            script.set(ip(4), false);
            within(Duration::from_secs(30), "quarantine", || {
                state(&store, "i-4") == Some(TargetState::Quarantined)
            })
            .await;
            throughout(Duration::from_secs(55), "kept before gc_after", || {
                state(&store, "i-4").is_some()
            })
            .await;
            if deleted {
                let took = within(Duration::from_secs(30), "deleted", || {
                    state(&store, "i-4").is_none()
                })
                .await;
                // First seen quarantined within a round of the write; deleted by the first
                // round 60 s after that.
                assert!(
                    took <= Duration::from_secs(11),
                    "deleted {took:?} after 55 s"
                );
                assert_eq!(running.metrics.gc_deleted.get(), 1);
            } else {
                throughout(
                    Duration::from_secs(60),
                    "an existing instance is kept",
                    || state(&store, "i-4") == Some(TargetState::Quarantined),
                )
                .await;
                assert_eq!(running.metrics.gc_deleted.get(), 0);
            }
            running.stop().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_leader_writes_and_a_follower_takes_over_when_its_lease_lapses() {
        let store = zone(4).await;
        let script = Arc::new(Script::default());
        let a = start(&store, &script, config(""), "c-a", None);
        within(Duration::from_secs(10), "a leads", || a.leads()).await;
        let b = start(&store, &script, config(""), "c-b", None);
        let holder = |store: &MemoryStore| {
            lease::find(&pool(), &store.sets()).and_then(|(l, _)| l.ok().map(|l| l.holder))
        };
        throughout(
            Duration::from_secs(30),
            "a keeps the lease, b follows",
            || holder(&store).as_deref() == Some("c-a") && a.leads() && !b.leads(),
        )
        .await;

        // A follower probes but does not write: the leader quarantines.
        script.set(ip(1), false);
        within(Duration::from_secs(30), "quarantine by the leader", || {
            state(&store, "i-1") == Some(TargetState::Quarantined)
        })
        .await;

        // The leader stops without releasing: b waits out the 15 s lease, then leads.
        a.stop().await;
        let took = within(Duration::from_secs(40), "b takes over", || {
            holder(&store).as_deref() == Some("c-b") && b.leads()
        })
        .await;
        assert!(
            took >= Duration::from_secs(9) && took <= Duration::from_secs(21),
            "took over after {took:?}"
        );
        script.set(ip(1), true);
        within(Duration::from_secs(30), "b restores i-1", || {
            state(&store, "i-1") == Some(TargetState::Active)
        })
        .await;
        b.stop().await;
    }

    /// Issue 25, item 1: while Route 53 throttles, scheduled rounds (listings) space out, up to
    /// `MAX_BACKOFF` polls apart, while probing goes on and a verdict change still gets its
    /// round at once: the writes come first.
    #[tokio::test(start_paused = true)]
    async fn throttling_spaces_the_listings_out_but_not_the_writes() {
        let (store, script, running) = leading(4, config(""), None).await;
        // Every request from now on is throttled once (200 ms each).
        store.faults(|f| f.throttle_next = 10_000);
        let before = store.calls().lists;
        tokio::time::sleep(Duration::from_secs(120)).await;
        let lists = store.calls().lists - before;
        // Unthrottled: 24 rounds of 5 s. Throttled: 5, 10, 20, 40, 40 s apart.
        assert!(lists <= 6, "{lists} listings in 120 s while throttled");
        script.set(ip(1), false);
        let took = within(Duration::from_secs(30), "quarantine", || {
            state(&store, "i-1") == Some(TargetState::Quarantined)
        })
        .await;
        assert!(took <= Duration::from_secs(5), "quarantined after {took:?}");
        running.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_round_still_quarantines() {
        let (store, script, running) = leading(4, config(""), None).await;
        store.faults(|f| {
            f.throttle_next = 2;
            f.throttle_delay = Duration::from_secs(1);
        });
        script.set(ip(1), false);
        let took = within(Duration::from_secs(30), "quarantine", || {
            state(&store, "i-1") == Some(TargetState::Quarantined)
        })
        .await;
        // The round's two requests (its listing, and one write carrying the lease with the
        // quarantine) are throttled, and cost a second each on top of detection.
        assert!(
            took >= Duration::from_secs(4) && took <= Duration::from_secs(7),
            "quarantined after {took:?}"
        );
        assert_eq!(store.throttled(), 2);
        running.stop().await;
    }

    /// Removes `id` from `pool` through the one reconcile loop, as a deregistering agent does.
    async fn deregister(store: &MemoryStore, pool: &PoolSpec, id: &str) {
        let pool = pool.clone();
        let intents = BTreeMap::from([(sid(id), Intent::Absent)]);
        let mut remove = decide_with(|view: &PoolView, _: &[RecordSet]| {
            Ok::<_, std::convert::Infallible>(Decision {
                plan: plan(&pool, view, &intents),
                outcome: (),
            })
        });
        reconcile(store, &pool, 1, &mut remove).await.unwrap();
    }

    /// Replaces the ownership record of `id` in `pool` by `with`, as anyone with write access to
    /// the zone can.
    fn replace_ownership(store: &MemoryStore, pool: &PoolSpec, id: &str, with: RecordSet) {
        let old = store
            .sets()
            .into_iter()
            .find(|s| s.name == pool.ownership_name() && s.set_identifier.as_deref() == Some(id))
            .unwrap();
        store
            .apply(&[
                registry::model::Change::delete(old),
                registry::model::Change::create(with),
            ])
            .unwrap();
    }

    /// Everything logged at WARN and above while the guard lives, on this thread (a paused-clock
    /// test runs every task on it).
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
        type Writer = Logs;
        fn make_writer(&'a self) -> Logs {
            self.clone()
        }
    }

    impl Logs {
        fn capture(&self) -> tracing::subscriber::DefaultGuard {
            // tracing caches whether a log call is enabled when it is first reached. While one
            // dispatcher is alive it asks only the default of the thread that reaches it first:
            // a test running beside this one, with none, and the call stays disabled for this
            // test too. A second dispatcher, kept for the whole test binary, makes it ask every
            // live one.
            static BYSTANDER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
            BYSTANDER.get_or_init(|| {
                tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default())
            });
            tracing::subscriber::set_default(
                tracing_subscriber::fmt()
                    .with_writer(self.clone())
                    .with_ansi(false)
                    .with_max_level(tracing::Level::WARN)
                    .finish(),
            )
        }

        fn count(&self, needle: &str) -> usize {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .matches(needle)
                .count()
        }
    }

    /// Issue 24, item 7: a panic that lasts many rounds is logged once when it starts and once
    /// when it ends, not every round.
    #[tokio::test(start_paused = true)]
    async fn a_lasting_panic_is_logged_once_when_it_starts_and_once_when_it_ends() {
        let logs = Logs::default();
        let _capture = logs.capture();
        let (store, script, running) = leading(4, config(""), None).await;
        const STARTED: &str = "PANIC: more targets failed than may be quarantined";
        const OVER: &str = "panic over";
        for i in 1..=3 {
            script.set(ip(i), false);
        }
        within(Duration::from_secs(30), "panic", || {
            running.gauge(|m| &m.panic) == 1
        })
        .await;
        // A minute of rounds (every 5 s) in panic.
        throughout(Duration::from_secs(60), "still in panic", || {
            running.gauge(|m| &m.panic) == 1 && quarantined(&store) == 2
        })
        .await;
        assert_eq!(logs.count(STARTED), 1, "logged once, not every round");
        assert_eq!(logs.count("keeping 1 of them in rotation"), 1);
        assert_eq!(logs.count("PANIC goes on"), 0);
        assert_eq!(logs.count(OVER), 0);
        script.set(ip(1), true);
        script.set(ip(2), true);
        within(Duration::from_secs(30), "panic over", || {
            running.gauge(|m| &m.panic) == 0
        })
        .await;
        throughout(Duration::from_secs(30), "no panic", || {
            running.gauge(|m| &m.panic) == 0
        })
        .await;
        assert_eq!(logs.count(OVER), 1);
        assert_eq!(logs.count(STARTED), 1);
        running.stop().await;
    }

    /// Issue 24: targets found healthy at start-up are not warned about; a target that dies is.
    #[tokio::test(start_paused = true)]
    async fn a_first_healthy_verdict_is_no_warning_and_a_death_is() {
        let logs = Logs::default();
        let _capture = logs.capture();
        let (_store, script, running) = leading(3, config(""), None).await;
        const CHANGED: &str = "target verdict changed";
        assert_eq!(logs.count(CHANGED), 0, "start-up verdicts are not warnings");
        script.set(ip(2), false);
        within(Duration::from_secs(30), "i-2 unhealthy", || {
            !running.healthy("i-2")
        })
        .await;
        assert_eq!(logs.count(CHANGED), 1, "a death is a warning");
        running.stop().await;
    }

    /// Issue 23: a target that leaves the pool takes its `wavelb_target_healthy` series with it,
    /// whether its agent deregistered it or its ownership record turned foreign; the others stay.
    #[tokio::test(start_paused = true)]
    async fn a_target_that_leaves_the_pool_takes_its_series_with_it() {
        let (store, _script, running) = leading(4, config(""), None).await;
        let series = |id: &str| format!("wavelb_target_healthy{{pool=\"{POOL}\",target=\"{id}\"}}");
        let text = running.text();
        for i in 1..=4 {
            assert!(
                text.contains(&format!("{} 1", series(&format!("i-{i}")))),
                "{text}"
            );
        }
        deregister(&store, &pool(), "i-3").await;
        within(Duration::from_secs(10), "i-3's series removed", || {
            !running.text().contains(&series("i-3"))
        })
        .await;
        // Another owner's claim on i-4 (the pool has no key: another owner= makes it foreign).
        let mut theirs = targets(&store)["i-4"].ownership_record(&pool());
        theirs.values = vec![theirs.values[0].replace("owner=me", "owner=someone-else")];
        replace_ownership(&store, &pool(), "i-4", theirs);
        within(Duration::from_secs(10), "i-4's series removed", || {
            !running.text().contains(&series("i-4"))
        })
        .await;
        let text = running.text();
        assert!(text.contains(&format!("{} 1", series("i-1"))), "{text}");
        assert!(text.contains(&format!("{} 1", series("i-2"))), "{text}");
        assert_eq!(text.matches("wavelb_target_healthy{").count(), 2, "{text}");
        running.stop().await;
    }

    /// Issue 23: with an ownership key, a member whose ownership record is replaced by one
    /// without a MAC turns foreign: the pool's gauge and the transition counter move, and one
    /// warning is logged, however many rounds read it; after it is owned again, a second spoof
    /// counts and warns again. It is never changed.
    #[tokio::test(start_paused = true)]
    async fn a_spoofed_ownership_record_is_counted_and_warned_about_once() {
        let logs = Logs::default();
        let _capture = logs.capture();
        let keyed = PoolSpec {
            ownership_key: Some(
                registry::mac::OwnershipKey::from_bytes(b"a shared key of 32 bytes, really")
                    .unwrap(),
            ),
            ..pool()
        };
        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        register(&store, &keyed, 1..=3).await;
        let script = Arc::new(Script::default());
        let running = start_pool(keyed.clone(), &store, &script, config(""), "c-1", None);
        within(
            Duration::from_secs(10),
            "leader, every target healthy",
            || running.leads() && (1..=3).all(|i| running.healthy(&format!("i-{i}"))),
        )
        .await;
        let foreign = || {
            let text = running.text();
            (
                sample(
                    &text,
                    &format!("wavelb_pool_foreign_records{{pool=\"{POOL}\"}}"),
                ),
                sample(
                    &text,
                    &format!("wavelb_pool_turned_foreign_total{{pool=\"{POOL}\"}}"),
                ),
            )
        };
        assert_eq!(foreign(), (Some(0.0), Some(0.0)), "{}", running.text());
        const WARNING: &str = "a member of the pool is foreign";
        assert_eq!(logs.count(WARNING), 0);

        let signed = store
            .sets()
            .into_iter()
            .find(|s| {
                s.name == keyed.ownership_name() && s.set_identifier.as_deref() == Some("i-2")
            })
            .unwrap();
        // The same claim, unsigned: consistent with its address record, but not authenticated.
        let unsigned = targets_of(&store, &keyed)["i-2"].ownership_record(&pool());
        assert!(!unsigned.values[0].contains("mac="));
        replace_ownership(&store, &keyed, "i-2", unsigned.clone());
        within(Duration::from_secs(10), "i-2 counted as foreign", || {
            foreign() == (Some(1.0), Some(1.0))
        })
        .await;
        // Four more rounds: still one member, one transition, one warning.
        throughout(Duration::from_secs(20), "counted once", || {
            foreign() == (Some(1.0), Some(1.0))
        })
        .await;
        assert_eq!(logs.count(WARNING), 1);
        let line = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
        assert!(
            line.contains("set_id=Some(\"i-2\")") && line.contains("unauthenticated"),
            "{line}"
        );
        assert_eq!(
            store.sets().into_iter().find(|s| s.key() == unsigned.key()),
            Some(unsigned.clone()),
            "never changed"
        );

        // Owned again (the signed record is back), then spoofed again: counted and warned again.
        replace_ownership(&store, &keyed, "i-2", signed);
        within(Duration::from_secs(10), "i-2 owned again", || {
            foreign() == (Some(0.0), Some(1.0))
        })
        .await;
        replace_ownership(&store, &keyed, "i-2", unsigned);
        within(Duration::from_secs(10), "i-2 foreign again", || {
            foreign() == (Some(1.0), Some(2.0))
        })
        .await;
        assert_eq!(logs.count(WARNING), 2);
        running.stop().await;
    }

    /// The value of the sample `series` (`name{labels}`) in a rendered exposition.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    /// The targets `pool` owns in the zone now.
    fn targets_of(store: &MemoryStore, pool: &PoolSpec) -> BTreeMap<SetId, Target> {
        classify(pool, &store.sets())
            .owned
            .into_values()
            .map(|o| (o.target.id.clone(), o.target))
            .collect()
    }

    /// The pools `<zone>.example.com` of `zones`.
    fn zone_pools(zones: &[&str]) -> Vec<PoolSpec> {
        zones
            .iter()
            .map(|z| PoolSpec {
                name: Fqdn::parse(&format!("{z}.example.com")).unwrap(),
                ..pool()
            })
            .collect()
    }

    /// One zone's health as a test publishes it to [`TierRounds`].
    struct Report {
        health: Arc<Mutex<Vec<Option<crate::tier::ZoneHealth>>>>,
        i: usize,
    }

    impl Report {
        fn publish(&self, health: crate::tier::ZoneHealth) {
            self.health.lock().unwrap()[self.i] = Some(health);
        }
    }

    /// The zone tier's rounds as a service runs them, with the zones' health set by the test:
    /// list the tier's names, read the lease, decide, write under the lease.
    struct TierRounds {
        tier: crate::tier_controller::TierController,
        lease: crate::leader::LeaseKeeper,
        store: Arc<MemoryStore>,
        health: Arc<Mutex<Vec<Option<crate::tier::ZoneHealth>>>>,
        clock: Clock,
    }

    impl TierRounds {
        async fn round(&mut self) -> Result<(), registry::store::WriteError> {
            use registry::store::PoolStore;
            let spec = self.tier.spec().pool_spec();
            let sets = self
                .store
                .list_names(
                    &[spec.name.clone(), spec.ownership_name(), spec.leader_name()],
                    registry::listing::Walk::Jump,
                )
                .await?;
            let now = self.clock.unix_now();
            let leads = matches!(
                self.lease.read(&sets, now, |_| {}),
                crate::leader::Standing::Lead { .. }
            );
            let health = self.health.lock().unwrap().clone();
            let round = self.tier.decide(&sets, health, leads, now);
            if leads {
                self.tier
                    .write(&*self.store, &mut self.lease, round, &self.clock)
                    .await?;
            }
            Ok(())
        }
    }

    /// A zone holding the pools of `bos` (targets i-1, i-2) and `nyc` (i-3, i-4).
    async fn two_zones() -> (Arc<MemoryStore>, Vec<PoolSpec>) {
        two_zones_of(1..=2, 3..=4).await
    }

    /// Boston's pool with the targets `bos`, New York's with `nyc`, as [`two_zones`].
    async fn two_zones_of(
        bos: std::ops::RangeInclusive<u8>,
        nyc: std::ops::RangeInclusive<u8>,
    ) -> (Arc<MemoryStore>, Vec<PoolSpec>) {
        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        let pools = zone_pools(&["bos", "nyc"]);
        register(&store, &pools[0], bos).await;
        register(&store, &pools[1], nyc).await;
        (store, pools)
    }

    /// A running service of its own: stop it with [`Spawned::stop`].
    struct Spawned {
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
    }

    impl Spawned {
        async fn stop(self) {
            let _ = self.stop.send(());
            self.task.await.unwrap();
        }
    }

    /// The tier of [`tier_config`] over `pools` with `global`'s keys, in hosted zone `Z1`.
    fn tier_of(
        pools: &[PoolSpec],
        global: &str,
        metrics: &HealthMetrics,
    ) -> (
        registry::tier::TierSpec,
        crate::tier_controller::TierController,
    ) {
        let global = tier_config(pools, global);
        let spec = global.spec(pools, "Z1").unwrap();
        let tier = crate::tier_controller::TierController::new(
            spec.clone(),
            global.policy().unwrap(),
            Duration::from_secs(15),
            metrics.clone(),
        );
        (spec, tier)
    }

    /// A spawned service's controller id, and its `[health]` lines beyond [`config`]'s.
    struct Named<'a> {
        id: &'a str,
        extra: &'a str,
    }

    /// Starts a service known as `id` that watches `pools` (probed by `script`, with
    /// `config("")`), keeps `tier` when given and reads the `recorded` pools' health, its clock
    /// following tokio's.
    fn spawn_service(
        store: &Arc<MemoryStore>,
        pools: &[PoolSpec],
        tier: Option<crate::tier_controller::TierController>,
        recorded: Vec<PoolSpec>,
        script: &Arc<Script>,
        metrics: &HealthMetrics,
        named: Named<'_>,
    ) -> Spawned {
        let Named { id, extra } = named;
        let mut registry = Registry::default();
        let controllers = pools
            .iter()
            .map(|pool| {
                Controller::new(
                    pool.clone(),
                    config(extra),
                    Arc::clone(script),
                    metrics.clone(),
                    PoolMetrics::register(&mut registry),
                )
            })
            .collect();
        let service = crate::service::Service::new(
            Arc::clone(store),
            controllers,
            tier,
            recorded,
            config(extra),
            id.into(),
            metrics.clone(),
        )
        .unwrap()
        .with_clock(Clock::following_tokio(START));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.run(
            async {
                let _ = stopped.await;
            },
            |_| {},
        ));
        Spawned { stop, task }
    }

    /// A service known as `c-a` over `pools` (probed by the returned script) keeping the tier of
    /// [`tier_config`] with `global`: the tier's spec, the script, the running service.
    fn spawn_tiered(
        store: &Arc<MemoryStore>,
        pools: &[PoolSpec],
        global: &str,
        metrics: &HealthMetrics,
    ) -> (registry::tier::TierSpec, Arc<Script>, Spawned) {
        let (spec, tier) = tier_of(pools, global, metrics);
        let script = Arc::new(Script::default());
        let service = spawn_service(
            store,
            pools,
            Some(tier),
            Vec::new(),
            &script,
            metrics,
            Named {
                id: "c-a",
                extra: "",
            },
        );
        (spec, script, service)
    }

    /// The `[global]` tier `edge.example.com` over `pools` (the zone `bos`, `nyc` or `dfw` of
    /// each placed at its city), `global` adding keys to its table.
    fn tier_config(pools: &[PoolSpec], global: &str) -> crate::global::GlobalConfig {
        let place = |z: &str| match z {
            "bos" => "42.36, -71.06",
            "nyc" => "40.71, -74.01",
            _ => "32.78, -96.80",
        };
        let mut text = format!("name = \"edge.example.com\"\n{global}\n");
        for p in pools {
            let zone = p.name.without_dot().trim_end_matches(".example.com");
            text.push_str(&format!(
                "[[zone]]\npool = \"{}\"\nwavelength_zone = \"{zone}\"\ncoordinates = [{}]\n",
                p.name.without_dot(),
                place(zone)
            ));
        }
        toml::from_str(&text).unwrap()
    }

    /// The zone tier over `pools` in `store`: its spec, its rounds (a 15 s lease, the clock
    /// following tokio's), and one health report per zone.
    fn tier_over(
        store: &Arc<MemoryStore>,
        pools: &[PoolSpec],
        global: &str,
        metrics: &HealthMetrics,
    ) -> (registry::tier::TierSpec, TierRounds, Vec<Report>) {
        let global = tier_config(pools, global);
        let spec = global.spec(pools, "Z1").unwrap();
        let tier = crate::tier_controller::TierController::new(
            spec.clone(),
            global.policy().unwrap(),
            Duration::from_secs(15),
            metrics.clone(),
        );
        let health = Arc::new(Mutex::new(vec![None; pools.len()]));
        let reports = (0..pools.len())
            .map(|i| Report {
                health: Arc::clone(&health),
                i,
            })
            .collect();
        let lease = crate::leader::LeaseKeeper::new(spec.pool_spec(), "c-a".into(), 15);
        let rounds = TierRounds {
            tier,
            lease,
            store: Arc::clone(store),
            health,
            clock: Clock::following_tokio(START),
        };
        (spec, rounds, reports)
    }

    /// Two zones' pools, each with its own controller, and the zone tier over them, all in one
    /// process as `wavelb health` runs them.
    #[tokio::test(start_paused = true)]
    async fn a_dead_zone_leaves_the_tier_and_returns_after_return_after() {
        use registry::tier::classify as tier_view;

        let (store, pools) = two_zones().await;
        let metrics = HealthMetrics::register(&mut Registry::default());
        let (spec, script, service) =
            spawn_tiered(&store, &pools, "return_after = \"30s\"", &metrics);
        let published = |store: &MemoryStore| -> Vec<String> {
            tier_view(&spec, &store.sets())
                .published()
                .map(str::to_owned)
                .collect()
        };
        // The first verdicts (rise 2 at 1 s probes) reach the tier at once, not at the next poll.
        let took = within(Duration::from_secs(20), "both zones in the tier", || {
            published(&store) == ["bos", "nyc"]
        })
        .await;
        assert!(took <= Duration::from_secs(3), "in after {took:?}");
        // Every target of Boston dies: its zone leaves (detection + one round), New York stays.
        script.set(ip(1), false);
        script.set(ip(2), false);
        let took = within(Duration::from_secs(20), "bos leaves", || {
            published(&store) == ["nyc"]
        })
        .await;
        // Detection (≤ 1 s to the next probe, then fall 3 at the 250 ms fast interval with 500 ms
        // timeouts) and no poll wait: the pool's round wakes the tier's.
        assert!(took <= Duration::from_secs(4), "left after {took:?}");
        let view = tier_view(&spec, &store.sets());
        assert_eq!(view.owned["bos"].standing.why, Some(Why::BelowMinHealthy));
        // It recovers: rise 2 at 1 s probes, then return_after (30 s) before it is back.
        script.set(ip(1), true);
        script.set(ip(2), true);
        throughout(
            Duration::from_secs(30),
            "bos stays out for return_after",
            || published(&store) == ["nyc"],
        )
        .await;
        within(Duration::from_secs(10), "bos returns", || {
            published(&store) == ["bos", "nyc"]
        })
        .await;
        // Every zone dies: the tier never goes empty.
        for i in 1..=4 {
            script.set(ip(i), false);
        }
        within(Duration::from_secs(20), "one zone kept", || {
            published(&store).len() == 1
                && metrics
                    .tier_kept
                    .get_or_create(&crate::metrics::TierLabels {
                        tier: "edge.example.com".into(),
                    })
                    .get()
                    == 1
        })
        .await;
        throughout(Duration::from_secs(20), "never empty", || {
            published(&store).len() == 1
        })
        .await;
        service.stop().await;
    }

    /// Issue 25: a zone crossing `min_healthy` moves the tier at once. The verdict changes that
    /// follow a round within `fast_interval` share the next round (a dying zone of a hundred
    /// targets costs a few rounds), but not the one that takes a zone out. Boston's ten targets
    /// die together; their verdicts come 50–150 ms apart (the probes are spread over the
    /// interval). The first is written at once. The second takes the zone below `min_healthy`
    /// (90 %: 9 of 10), and Boston leaves the tier at the same instant, not after the gap (New
    /// York's two targets stay healthy).
    #[tokio::test(start_paused = true)]
    async fn a_zone_crossing_min_healthy_moves_the_tier_at_once() {
        use registry::tier::classify as tier_view;

        let (store, pools) = two_zones_of(1..=10, 11..=12).await;
        let metrics = HealthMetrics::register(&mut Registry::default());
        let (spec, script, service) =
            spawn_tiered(&store, &pools, "min_healthy = \"90%\"", &metrics);
        let in_tier = |store: &MemoryStore| {
            tier_view(&spec, &store.sets())
                .published()
                .any(|z| z == "bos")
        };
        within(Duration::from_secs(20), "bos in the tier", || {
            in_tier(&store)
        })
        .await;
        let down = || {
            (1..=10)
                .filter(|i| {
                    let labels = TargetLabels {
                        pool: pools[0].name.without_dot().to_owned(),
                        target: format!("i-{i}"),
                    };
                    metrics.target_healthy.get_or_create(&labels).get() == Health::Unhealthy.gauge()
                })
                .count()
        };
        for i in 1..=10 {
            script.set(ip(i), false);
        }
        // Every millisecond of virtual time: when the first and the second verdicts changed, and
        // when Boston left.
        let started = Instant::now();
        let (mut first, mut second) = (None, None);
        let left = loop {
            let n = down();
            if n >= 1 {
                first.get_or_insert_with(Instant::now);
            }
            if n >= 2 {
                second.get_or_insert_with(Instant::now);
            }
            if !in_tier(&store) {
                break Instant::now();
            }
            assert!(started.elapsed() < Duration::from_secs(5), "bos never left");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(
            second - first < config("").fast_interval(),
            "the second verdict came {:?} after the first: the gap is not under test",
            second - first
        );
        assert!(
            left - second <= Duration::from_millis(2),
            "bos left {:?} after the verdict that took it below min_healthy",
            left - second
        );
        service.stop().await;
    }

    /// What takes a zone across `min_healthy` is counted as the tier counts it. Boston: i-1 … i-3
    /// active, i-4 draining, `min_healthy` 3, `leave_after` 0, `return_after` 30 s. i-1 failing
    /// takes the tier's count from 3 to 2 (i-4 is not counted): a round at once. i-4 failing
    /// moves nothing the tier counts: it waits for the next batched round, as does i-1's return,
    /// which only starts `return_after`.
    #[tokio::test(start_paused = true)]
    async fn only_what_the_tier_counts_moves_it_at_once() {
        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        let p = pool();
        register(&store, &p, 1..=3).await;
        let draining = Target::active(sid("i-4"), vec![ip(4)], 10, START)
            .with_state(TargetState::Draining, START);
        let view = classify(&p, &store.sets());
        let intents = BTreeMap::from([(sid("i-4"), Intent::Present(draining))]);
        for group in registry::plan::plan(&p, &view, &intents).groups {
            store.apply(&group.changes).unwrap();
        }
        let metrics = HealthMetrics::register(&mut Registry::default());
        let mut c = Controller::new(
            p.clone(),
            config(""),
            Arc::new(Script::default()),
            metrics,
            PoolMetrics::register(&mut Registry::default()),
        );
        c.report_to_tier(crate::tier::TierPolicy {
            min_healthy: crate::tier::MinHealthy::Targets(3),
            leave_after: 0,
            return_after: 30,
            fallback: false,
        });
        let (tx, _rx) = mpsc::unbounded_channel();
        let sets = store.sets();
        let view = classify(&p, &sets);
        assert_eq!(view.owned["i-4"].target.state, TargetState::Draining);
        c.sync_probes(&view, &tx);
        let feed = |c: &mut Controller<Script>, id: &str, healthy: bool, times: usize| {
            (0..times)
                .map(|_| {
                    c.observe(Observation {
                        pool: 0,
                        id: sid(id),
                        generation: c.targets[id].generation,
                        result: ProbeResult {
                            healthy,
                            latency: Duration::from_millis(1),
                            reason: (!healthy).then_some(probe::Reason::Timeout),
                            detail: "fed".into(),
                            resent: 0,
                        },
                    })
                })
                .max()
                .unwrap()
        };
        for i in 1..=4 {
            feed(&mut c, &format!("i-{i}"), true, 2);
        }
        // The round that lists the pool learns what the tier counts.
        c.decide(&view, &sets, true, &HashMap::new(), START);
        assert_eq!(feed(&mut c, "i-1", false, 3), Urgency::Now, "3 → 2 counted");
        assert_eq!(feed(&mut c, "i-4", false, 3), Urgency::Soon, "i-4 drains");
        assert_eq!(feed(&mut c, "i-1", true, 2), Urgency::Soon, "return_after");
        c.stop();
    }

    /// Issue 25, item 5: one zone never blocks the tier. (a) A zone whose pool has no records is
    /// never planned in, even with healthy verdicts. (b) When Route 53 refuses one zone's change
    /// for good (here its pool emptied after its controller reported records: an alias to it is
    /// a permanent `InvalidChangeBatch`), the other zones' changes of the same round still land,
    /// the refusal is counted and logged with the zone, the same change waits
    /// `RETRY_AFTER_SECS` while later rounds write the others, and it lands once it can.
    #[tokio::test(start_paused = true)]
    async fn a_zone_whose_change_route53_refuses_never_blocks_the_others() {
        use crate::metrics::TierZoneLabels;
        use crate::tier::ZoneHealth;
        use crate::tier_rejects::RETRY_AFTER_SECS;
        use registry::tier::classify as tier_view;

        let logs = Logs::default();
        let _capture = logs.capture();
        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        let pools = zone_pools(&["bos", "nyc", "dfw"]);
        // bos's last agent has left: its pool has no records.
        register(&store, &pools[1], 3..=3).await;
        register(&store, &pools[2], 4..=4).await;
        let mut registry = Registry::default();
        let metrics = HealthMetrics::register(&mut registry);
        let (spec, mut tier, reports) =
            tier_over(&store, &pools, "return_after = \"0s\"", &metrics);
        let health = |healthy, records| ZoneHealth {
            healthy,
            total: 1,
            records,
        };
        let published = || -> Vec<String> {
            tier_view(&spec, &store.sets())
                .published()
                .map(str::to_owned)
                .collect()
        };
        let refused = || {
            let c = store.calls();
            c.batches - c.accepted
        };
        let zone = |id: &str| TierZoneLabels {
            tier: "edge.example.com".into(),
            zone: id.into(),
        };
        // (a) bos has a healthy verdict (a target unparked this round, say) but no records:
        // never planned in; nothing is refused.
        reports[0].publish(health(1, 0));
        reports[1].publish(health(1, 1));
        reports[2].publish(health(0, 1));
        tier.round().await.unwrap();
        assert_eq!(published(), ["nyc"]);
        assert_eq!(refused(), 0, "no alias to an empty pool was submitted");
        let view = tier_view(&spec, &store.sets());
        assert_eq!(view.owned["bos"].standing.why, Some(Why::EmptyPool));
        assert_eq!(metrics.tier_rejected.get_or_create(&zone("bos")).get(), 0);

        // (b) bos's controller reports a record it read just before the pool emptied, and dfw
        // recovers in the same round: Route 53 refuses the batch; dfw's change still lands.
        reports[0].publish(health(1, 1));
        reports[2].publish(health(1, 1));
        tier.round().await.unwrap();
        assert_eq!(published(), ["dfw", "nyc"]);
        assert_eq!(
            refused(),
            2,
            "the common batch, then bos's change on its own"
        );
        assert_eq!(metrics.tier_rejected.get_or_create(&zone("bos")).get(), 1);
        assert_eq!(metrics.tier_rejected.get_or_create(&zone("dfw")).get(), 0);
        assert_eq!(metrics.tier_in.get_or_create(&zone("bos")).get(), 0);
        assert_eq!(metrics.tier_in.get_or_create(&zone("dfw")).get(), 1);
        assert_eq!(
            logs.count("Route 53 refused this zone's change to the tier"),
            1
        );
        assert_eq!(logs.count("zone=bos"), 1, "the zone is named");

        // The next rounds hold bos's same change back (no request) and still write the others:
        // nyc's pool loses its healthy target and nyc leaves.
        reports[1].publish(health(0, 1));
        tokio::time::advance(Duration::from_secs(5)).await;
        tier.round().await.unwrap();
        assert_eq!(published(), ["dfw"]);
        assert_eq!(refused(), 2, "bos's change was not submitted again");

        // bos's pool gets its agent back; after RETRY_AFTER_SECS its change is tried, alone,
        // and lands.
        register(&store, &pools[0], 1..=1).await;
        tokio::time::advance(Duration::from_secs(RETRY_AFTER_SECS)).await;
        tier.round().await.unwrap();
        assert_eq!(published(), ["bos", "dfw"]);
        assert_eq!(refused(), 2);
        assert_eq!(metrics.tier_rejected.get_or_create(&zone("bos")).get(), 1);
    }

    /// Split zone by zone, the tier's batch is no longer all or nothing: the only zone in must
    /// not be taken out by its own batch while the zone that was to replace it is refused. The
    /// change that publishes goes first; refused, it holds the removals back, and the next
    /// rounds count the refused zone as out, so the last zone stays (kept-healthiest).
    #[tokio::test(start_paused = true)]
    async fn a_refused_zone_never_replaces_the_last_zone_in() {
        use crate::tier::ZoneHealth;
        use registry::tier::classify as tier_view;

        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        let pools = zone_pools(&["bos", "nyc"]);
        // bos has a record; nyc's last agent has left.
        register(&store, &pools[0], 1..=1).await;
        let mut registry = Registry::default();
        let metrics = HealthMetrics::register(&mut registry);
        let (spec, mut tier, reports) =
            tier_over(&store, &pools, "return_after = \"0s\"", &metrics);
        let health = |healthy, records| ZoneHealth {
            healthy,
            total: 1,
            records,
        };
        let view = || tier_view(&spec, &store.sets());
        let published = || -> Vec<String> { view().published().map(str::to_owned).collect() };
        reports[0].publish(health(1, 1));
        reports[1].publish(health(0, 0));
        tier.round().await.unwrap();
        assert_eq!(published(), ["bos"]);
        // bos loses its healthy target while nyc's controller reports a record it read just
        // before its pool emptied: "bos out, nyc in" is refused (the alias to nyc), and bos
        // stays.
        reports[0].publish(health(0, 1));
        reports[1].publish(health(1, 1));
        tier.round().await.unwrap();
        assert_eq!(published(), ["bos"], "the tier was emptied");
        // Later rounds count nyc as out while it stands refused: bos is kept, never emptied.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(5)).await;
            tier.round().await.unwrap();
            assert_eq!(published(), ["bos"]);
        }
        assert_eq!(view().owned["bos"].standing.why, Some(Why::KeptHealthiest));
        assert_eq!(view().owned["nyc"].standing.why, Some(Why::Refused));
    }

    /// Issue 25, item 5: a regional fallback Route 53 refuses (an alias to a name without
    /// records) never empties the tier: when every zone fails, the zones stay until the
    /// fallback is refused, then the healthiest is kept; the fallback is tried again, before
    /// the zones it would replace, after `RETRY_AFTER_SECS`, and replaces them once it can.
    #[tokio::test(start_paused = true)]
    async fn a_fallback_route53_refuses_never_empties_the_tier() {
        use crate::metrics::TierZoneLabels;
        use crate::tier::ZoneHealth;
        use crate::tier_rejects::RETRY_AFTER_SECS;
        use registry::tier::{FALLBACK_ID, classify as tier_view};

        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        let pools = zone_pools(&["bos", "nyc"]);
        register(&store, &pools[0], 1..=1).await;
        register(&store, &pools[1], 2..=2).await;
        let mut registry = Registry::default();
        let metrics = HealthMetrics::register(&mut registry);
        let (spec, mut tier, reports) = tier_over(
            &store,
            &pools,
            "fallback = { name = \"regional.example.com\", coordinates = [38.9, -77.0] }",
            &metrics,
        );
        let published = || -> Vec<String> {
            tier_view(&spec, &store.sets())
                .published()
                .map(str::to_owned)
                .collect()
        };
        let fallback_refused = || {
            metrics
                .tier_rejected
                .get_or_create(&TierZoneLabels {
                    tier: "edge.example.com".into(),
                    zone: FALLBACK_ID.into(),
                })
                .get()
        };
        let health = |healthy| ZoneHealth {
            healthy,
            total: 1,
            records: 1,
        };
        reports[0].publish(health(1));
        reports[1].publish(health(1));
        tier.round().await.unwrap();
        assert_eq!(published(), ["bos", "nyc"]);
        // Every zone fails: the fallback would replace them, but Route 53 refuses its alias;
        // the zones are not taken out for it.
        reports[0].publish(health(0));
        reports[1].publish(health(0));
        tier.round().await.unwrap();
        assert_eq!(published(), ["bos", "nyc"]);
        assert_eq!(fallback_refused(), 1);
        // Decided without the fallback: the healthiest zone is kept.
        tokio::time::advance(Duration::from_secs(5)).await;
        tier.round().await.unwrap();
        assert_eq!(published(), ["bos"]);
        let view = tier_view(&spec, &store.sets());
        assert_eq!(view.owned["bos"].standing.why, Some(Why::KeptHealthiest));
        // Tried again after RETRY_AFTER_SECS, first: refused again, bos stays.
        tokio::time::advance(Duration::from_secs(RETRY_AFTER_SECS)).await;
        tier.round().await.unwrap();
        assert_eq!(published(), ["bos"]);
        assert_eq!(fallback_refused(), 2);
        // The regional name gets its record: the fallback replaces the failed zones.
        store
            .apply(&[registry::model::Change::create(RecordSet {
                name: Fqdn::parse("regional.example.com").unwrap(),
                rtype: RrType::A,
                set_identifier: None,
                weight: None,
                ttl: Some(60),
                values: vec!["198.51.100.7".into()],
                alias: None,
                geo: None,
                cidr: None,
                multivalue: false,
                opaque: None,
                health_check_id: None,
            })])
            .unwrap();
        tokio::time::advance(Duration::from_secs(RETRY_AFTER_SECS)).await;
        tier.round().await.unwrap();
        assert_eq!(published(), [FALLBACK_ID]);
        assert_eq!(fallback_refused(), 2);
    }

    /// A store that holds every write at a gate while `hold` is set: a leader paused (a long GC,
    /// a partition) between its listing and its write.
    struct Gated {
        inner: Arc<MemoryStore>,
        hold: std::sync::atomic::AtomicBool,
        open: tokio::sync::Notify,
        held: std::sync::atomic::AtomicU32,
    }

    impl PoolStore for Gated {
        async fn list_pool(
            &self,
            pool: &PoolSpec,
        ) -> Result<Vec<RecordSet>, registry::store::WriteError> {
            self.inner.list_pool(pool).await
        }
        async fn list_names(
            &self,
            names: &[Fqdn],
            walk: registry::listing::Walk,
        ) -> Result<Vec<RecordSet>, registry::store::WriteError> {
            self.inner.list_names(names, walk).await
        }
        async fn execute(
            &self,
            plan: &Plan,
        ) -> Result<Vec<registry::store::Submitted>, registry::store::WriteError> {
            use std::sync::atomic::Ordering;
            if self.hold.load(Ordering::SeqCst) {
                self.held.fetch_add(1, Ordering::SeqCst);
                self.open.notified().await;
            }
            self.inner.execute(plan).await
        }
        async fn wait_insync(
            &self,
            change_id: &str,
            submitted_at: Instant,
        ) -> Result<(), registry::store::WriteError> {
            self.inner.wait_insync(change_id, submitted_at).await
        }
        fn throttled(&self) -> u64 {
            self.inner.throttled()
        }
        async fn find_cidr_collection(
            &self,
            name: &str,
        ) -> Result<Option<registry::cidr::CidrCollectionState>, registry::store::WriteError>
        {
            self.inner.find_cidr_collection(name).await
        }
        async fn create_cidr_collection(
            &self,
            name: &str,
            caller_reference: &str,
        ) -> Result<registry::cidr::CidrCollectionState, registry::store::WriteError> {
            self.inner
                .create_cidr_collection(name, caller_reference)
                .await
        }
        async fn change_cidr_collection(
            &self,
            id: &str,
            version: i64,
            changes: &[registry::cidr::LocationChange],
        ) -> Result<i64, registry::store::WriteError> {
            self.inner
                .change_cidr_collection(id, version, changes)
                .await
        }
    }

    /// Issue 25, item 1: the lease's compare-and-swap travels in the same batch as the target
    /// changes it allows. A leader that decided a quarantine, then stalled past its lease while
    /// another controller took over, writes nothing when it wakes: its batch's exact DELETE of
    /// the lease it held fails, and the quarantine with it.
    #[tokio::test(start_paused = true)]
    async fn a_deposed_leaders_write_fails_with_its_lease() {
        use std::sync::atomic::Ordering;
        let store = zone(4).await;
        let gated = Arc::new(Gated {
            inner: Arc::clone(&store),
            hold: false.into(),
            open: tokio::sync::Notify::new(),
            held: 0.into(),
        });
        // a sees i-1 dead; b, elsewhere, sees every target well.
        let a_view = Arc::new(Script::default());
        let b_view = Arc::new(Script::default());
        let a = start_pool(pool(), &gated, &a_view, config(""), "c-a", None);
        within(Duration::from_secs(10), "a leads", || a.leads()).await;
        let b = start(&store, &b_view, config(""), "c-b", None);
        let holder = |store: &MemoryStore| {
            lease::find(&pool(), &store.sets()).and_then(|(l, _)| l.ok().map(|l| l.holder))
        };
        gated.hold.store(true, Ordering::SeqCst);
        a_view.set(ip(1), false);
        within(Duration::from_secs(10), "a's quarantine is held", || {
            gated.held.load(Ordering::SeqCst) == 1
        })
        .await;
        // a stalls; its lease lapses and b takes it.
        within(Duration::from_secs(30), "b takes over", || {
            holder(&store).as_deref() == Some("c-b")
        })
        .await;
        let accepted = store.calls().accepted;
        gated.hold.store(false, Ordering::SeqCst);
        gated.open.notify_waiters();
        throughout(
            Duration::from_secs(3),
            "a's stale quarantine never lands",
            || state(&store, "i-1") == Some(TargetState::Active),
        )
        .await;
        assert_eq!(holder(&store).as_deref(), Some("c-b"));
        // Once awake, a reads again, follows, and writes nothing more.
        within(Duration::from_secs(10), "a follows", || !a.leads()).await;
        throughout(Duration::from_secs(20), "b alone writes", || {
            state(&store, "i-1") == Some(TargetState::Active)
                && holder(&store).as_deref() == Some("c-b")
        })
        .await;
        assert!(
            store.calls().accepted > accepted,
            "b renewed its lease meanwhile"
        );
        a.stop().await;
        b.stop().await;
    }

    /// Issue 25, item 1: one listing per round for every pool and the tier of a service, and
    /// one lease, renewed from half on by the rounds (with the pools' health records). In steady
    /// state (no verdict changes) over 120 s, with 5 s rounds and a 15 s lease: 24 listings of
    /// one page, and a renewal every other round (10 s).
    #[tokio::test(start_paused = true)]
    async fn a_service_lists_once_per_round_and_renews_its_one_lease_at_half() {
        let t0 = Instant::now();
        let store = Arc::new(MemoryStore::new(Fqdn::parse("example.com").unwrap()));
        let pools = zone_pools(&["bos", "nyc", "dfw"]);
        for (k, p) in (0u8..).zip(&pools) {
            register(&store, p, (3 * k + 1)..=(3 * k + 3)).await;
        }
        let mut registry = Registry::default();
        let metrics = HealthMetrics::register(&mut registry);
        let (spec, _script, service) =
            spawn_tiered(&store, &pools, "return_after = \"0s\"", &metrics);
        let published = || {
            registry::tier::classify(&spec, &store.sets())
                .published()
                .count()
        };
        within(Duration::from_secs(20), "every zone in the tier", || {
            published() == 3
        })
        .await;
        // Let the health records settle, then count a steady two minutes.
        tokio::time::advance(Duration::from_secs(10)).await;
        let before = store.calls();
        tokio::time::sleep(Duration::from_secs(120)).await;
        let after = store.calls();
        let lists = after.lists - before.lists;
        let writes = after.batches - before.batches;
        assert!((23..=25).contains(&lists), "{lists} listings in 120 s");
        assert!((11..=13).contains(&writes), "{writes} writes in 120 s");
        assert_eq!(
            after.batches - before.batches,
            after.accepted - before.accepted
        );
        // Every pool's health is recorded for a tier elsewhere to read.
        let sets = store.sets();
        let now = START + t0.elapsed().as_secs();
        for p in &pools {
            let h = crate::recorded::read(p, &sets, now).unwrap().unwrap();
            assert_eq!((h.healthy, h.total, h.records), (3, 3, 3), "{}", p.name);
        }
        service.stop().await;
    }

    /// Start-up's first verdicts (every target healthy) cost no round of their own: with the
    /// periodic round a minute apart, eight targets turning healthy leave the listings at the
    /// start's one. A failure costs exactly one round, at once.
    #[tokio::test(start_paused = true)]
    async fn first_verdicts_cost_no_rounds_and_a_failure_costs_one() {
        let store = zone(8).await;
        let registered = store.calls().lists;
        let script = Arc::new(Script::default());
        let metrics = HealthMetrics::register(&mut Registry::default());
        let service = spawn_service(
            &store,
            &[pool()],
            None,
            Vec::new(),
            &script,
            &metrics,
            Named {
                id: "c-a",
                extra: "poll_interval = \"60s\"\nlease_ttl = \"120s\"",
            },
        );
        let healthy = |m: &HealthMetrics| {
            (1..=8).all(|i| {
                m.target_healthy
                    .get_or_create(&TargetLabels {
                        pool: "edge.example.com".into(),
                        target: format!("i-{i}"),
                    })
                    .get()
                    == 1
            })
        };
        // The start's round (the listing, the lease taken), before any verdict (rise 2 at 1 s).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at_start = store.calls().lists;
        assert_eq!(at_start, registered + 1, "the start costs one listing");
        within(Duration::from_secs(10), "every target healthy", || {
            healthy(&metrics)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(store.calls().lists, at_start, "first verdicts cost a round");
        script.set(ip(3), false);
        within(Duration::from_secs(10), "i-3 quarantined", || {
            targets_of(&store, &pool())["i-3"].state == TargetState::Quarantined
        })
        .await;
        assert_eq!(
            store.calls().lists,
            at_start + 1,
            "one round for the failure"
        );
        service.stop().await;
    }

    /// Issue 25, item 3: the tier's controller runs anywhere, on its pools' recorded health. One
    /// service watches the pools (no tier; it records each pool's health), another runs only the
    /// tier and reads those records: a zone whose targets die leaves the tier; when the pools'
    /// controller stops, its records lapse and the tier keeps every zone as it stands (an
    /// unknown zone is never taken out).
    #[tokio::test(start_paused = true)]
    async fn a_tier_controller_elsewhere_follows_the_pools_recorded_health() {
        use registry::tier::classify as tier_view;

        let (store, pools) = two_zones().await;
        let metrics = HealthMetrics::register(&mut Registry::default());
        let script = Arc::new(Script::default());
        let watcher = spawn_service(
            &store,
            &pools,
            None,
            Vec::new(),
            &script,
            &metrics,
            Named {
                id: "c-pools",
                extra: "",
            },
        );
        let tier_metrics = HealthMetrics::register(&mut Registry::default());
        let (spec, tier) = tier_of(&pools, "return_after = \"0s\"", &tier_metrics);
        let tier_only = spawn_service(
            &store,
            &[],
            Some(tier),
            pools.clone(),
            &script,
            &tier_metrics,
            Named {
                id: "c-tier",
                extra: "",
            },
        );
        let published = || -> Vec<String> {
            tier_view(&spec, &store.sets())
                .published()
                .map(str::to_owned)
                .collect()
        };
        within(
            Duration::from_secs(30),
            "both zones in, from the records",
            || published() == ["bos", "nyc"],
        )
        .await;
        // Boston dies: its controller records it, the tier's next round reads it.
        script.set(ip(1), false);
        script.set(ip(2), false);
        let took = within(Duration::from_secs(30), "bos leaves", || {
            published() == ["nyc"]
        })
        .await;
        // Detection (≤ 4 s), the record at once, the tier's round (≤ 5 s).
        assert!(took <= Duration::from_secs(10), "left after {took:?}");
        script.set(ip(1), true);
        script.set(ip(2), true);
        within(Duration::from_secs(30), "bos returns", || {
            published() == ["bos", "nyc"]
        })
        .await;
        // The pools' controller stops: its records lapse (two lease TTLs), and nothing moves.
        watcher.stop().await;
        script.set(ip(3), false);
        script.set(ip(4), false);
        throughout(
            Duration::from_secs(90),
            "unknown zones stay as they stand",
            || published() == ["bos", "nyc"],
        )
        .await;
        let sets = store.sets();
        let now = START + 200;
        assert!(
            crate::recorded::read(&pools[0], &sets, now).is_err(),
            "the records lapsed"
        );
        tier_only.stop().await;
    }

    /// Review finding on issue 25, item 1: a change Route 53 refuses for good in one pool must
    /// not hold the others back now that a round writes every pool in one batch. The hosted zone
    /// is at its quota of record sets, so the pools' health records (new sets) are refused every
    /// round; nyc's quarantine (no new set) still lands, written on its own.
    #[tokio::test(start_paused = true)]
    async fn a_pool_whose_change_is_refused_never_blocks_another() {
        let logs = Logs::default();
        let _capture = logs.capture();
        let (store, pools) = two_zones().await;
        // Room for the lease, and nothing more.
        let full = store.sets().len() + 1;
        store.faults(|f| f.max_record_sets = full);
        let metrics = HealthMetrics::register(&mut Registry::default());
        let script = Arc::new(Script::default());
        let service = spawn_service(
            &store,
            &pools,
            None,
            Vec::new(),
            &script,
            &metrics,
            Named {
                id: "c-a",
                extra: "",
            },
        );
        script.set(ip(3), false);
        let nyc = |store: &MemoryStore| targets_of(store, &pools[1]);
        within(Duration::from_secs(30), "nyc's i-3 quarantined", || {
            nyc(&store)["i-3"].state == TargetState::Quarantined
        })
        .await;
        assert!(
            logs.count("Route 53 refused this pool's changes") >= 1
                && logs.count("pool=bos.example.com") >= 1
                && logs.count("what=\"health record\"") >= 1,
            "the refusal is logged with its pool"
        );
        // The refused health records are not asked for again every round (for 5 minutes).
        let refused = |c: registry::memory::Calls| c.batches - c.accepted;
        let before = refused(store.calls());
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            refused(store.calls()),
            before,
            "no refused batch in a minute of rounds"
        );
        service.stop().await;
    }
}
