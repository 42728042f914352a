//! The agent over time: start (jitter, discovery, self-check gate, register), run (reconcile,
//! Spot and lifecycle notices, self-check), drain. Decisions come from [`crate::lifecycle`].

use std::time::{Duration, Instant};

use probe::Prober;
use probe::state::{Health, TargetHealth, Thresholds};
use rand::Rng;
use registry::clock::unix_now;
use registry::config::PoolConfig;
use registry::metrics::{PoolLabels, PoolMetrics};
use registry::model::{PoolSpec, RecordSet};
use registry::plan::{Intent, plan};
use registry::pool::PoolView;
use registry::reconcile::{
    CONFLICT_ATTEMPTS, Decision, ReconcileError, Reconciled, decide_with, intent_for, reconcile,
};
use registry::retry::Backoff;
use registry::store::PoolStore;
use registry::store::{Submitted, WriteError};
use tokio::sync::watch;

use crate::config::AgentConfig;
use crate::discovery::{Ec2Source, Identity, discover};
use crate::imds::Imds;
use crate::lifecycle::{
    Me, Placement, Reconcile, SelfHealth, next_stretch, reconcile as reconcile_self, start_drain,
};
use crate::metrics::{AgentMetrics, OutcomeLabels};

/// How systemd (or a test) hears about the agent.
pub trait Notifier: Send + Sync {
    /// READY=1 with a status line.
    fn ready(&self, status: &str);
    /// STATUS= line.
    fn status(&self, status: &str);
    /// STOPPING=1.
    fn stopping(&self);
}

/// What the process was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Register, keep the record, drain on the way out.
    Run,
    /// Register, wait for INSYNC, exit.
    Once,
    /// Drain (or with `now`, delete at once), then exit.
    Deregister {
        /// Skip the weight-0 phase.
        now: bool,
    },
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration cannot work on this instance (e.g. a placeholder it cannot fill).
    #[error("{0}")]
    Config(String),
    /// A foreign record set uses this instance's set identifier.
    #[error(
        "a foreign record set uses set identifier {id:?} ({why}); the agent will not overwrite it"
    )]
    Foreign {
        /// The set identifier.
        id: String,
        /// Why it is foreign.
        why: String,
    },
    /// Route 53 kept failing in a one-shot mode.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Everything the agent needs.
pub struct Agent<'a> {
    /// `[pool]`.
    pub pool: &'a PoolConfig,
    /// `[agent]`.
    pub cfg: &'a AgentConfig,
    /// `[ec2]`.
    pub ec2: &'a Ec2Source,
    /// Metrics.
    pub metrics: AgentMetrics,
    /// What the agent saw of its pool (foreign records, a TTL mismatch).
    pub pool_metrics: PoolMetrics,
    /// systemd.
    pub notify: &'a dyn Notifier,
}

/// Why a drain started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DrainCause {
    Signal,
    Spot,
    /// Auto Scaling `Terminated`.
    Lifecycle,
    /// Auto Scaling `Standby` or `Warmed:*`: out of service for now.
    OutOfService,
    Command,
}

/// Sleeps for `d`; `false` at once when a signal has arrived (now or before).
async fn sleep_or_signal(d: Duration, signals: &mut watch::Receiver<u32>) -> bool {
    tokio::select! {
        biased;
        () = signalled(signals, 1) => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// Resolves once `count` signals have arrived since the start (at once if they have); never
/// when signals cannot be watched.
async fn signalled(signals: &mut watch::Receiver<u32>, count: u32) {
    if signals.wait_for(|n| *n >= count).await.is_err() {
        std::future::pending::<()>().await;
    }
}

struct Running<'a, S: PoolStore> {
    agent: &'a Agent<'a>,
    pool: PoolSpec,
    writer: S,
    me: Me,
    signals: watch::Receiver<u32>,
    self_check: Option<(Prober, u16, TargetHealth)>,
    /// IMDS for the Spot and lifecycle notices; `None` on a host configured without one.
    imds: Option<Imds>,
}

/// Runs the agent in `mode` until it is done. `Ok` means exit 0.
///
/// `signals` counts the SIGTERMs and SIGINTs since the start (the binary installs the handlers):
/// the first drains, the second skips the drain's waits. Every wait reads the count since the
/// start, so a signal that arrives while the agent is busy (a reconcile, a discovery) is acted on
/// when it is done, never lost. `connect` opens the pool's hosted zone (the binary: the Route 53
/// writer; a test: the in-memory store); it is retried with a back-off until it works.
pub async fn run<S, E>(
    agent: &Agent<'_>,
    mode: Mode,
    mut signals: watch::Receiver<u32>,
    connect: impl AsyncFn() -> Result<S, E>,
) -> Result<(), AgentError>
where
    S: PoolStore,
    E: std::fmt::Display,
{
    let cfg = agent.cfg;
    if !matches!(mode, Mode::Deregister { .. }) && !cfg.startup_jitter.is_zero() {
        let jitter = cfg
            .startup_jitter
            .mul_f64(rand::rng().random_range(0.0..1.0));
        agent
            .notify
            .status(&format!("waiting {jitter:?} of startup jitter"));
        if !sleep_or_signal(jitter, &mut signals).await {
            return Ok(());
        }
    }
    let Some(identity) = discover_until_ok(agent, &mut signals).await else {
        return Ok(());
    };
    let pool = agent
        .pool
        .spec(&identity.placeholders())
        .map_err(|e| AgentError::Config(e.to_string()))?;
    let Some(writer) = connect_until_ok(agent, connect, &mut signals).await else {
        return Ok(());
    };
    let probe = cfg.probe_address(identity.private_ip);
    let me = Me {
        id: identity.target_id.clone(),
        addresses: identity.addresses.clone(),
        weight: cfg.weight,
        probe,
    };
    agent.metrics.set_info(
        &me.id,
        identity.az.as_deref().unwrap_or_default(),
        &me.addresses,
    );
    let self_check = match &cfg.self_check {
        None => None,
        Some(p) => {
            let prober =
                Prober::new(p).map_err(|e| AgentError::Config(format!("agent.self_check: {e}")))?;
            let port = prober
                .port()
                .ok_or_else(|| AgentError::Config("agent.self_check: set port".into()))?;
            Some((prober, port, TargetHealth::default()))
        }
    };
    let imds = if cfg.address.is_some() && cfg.target_id.is_some() {
        None
    } else {
        Imds::new(&cfg.imds_endpoint, 1).ok()
    };
    let mut r = Running {
        agent,
        pool,
        writer,
        me,
        signals,
        self_check,
        imds,
    };
    match mode {
        Mode::Deregister { now } => {
            r.drain(DrainCause::Command, now).await;
            Ok(())
        }
        Mode::Once | Mode::Run => {
            let once = mode == Mode::Once;
            // Once per time in service: a Standby or warm-pool spell drains, and the agent
            // registers again when Auto Scaling puts the instance back in service.
            loop {
                if !r.wait_until_in_service(once).await
                    || !r.gate_on_self_check().await
                    || !r.register(once).await?
                {
                    return Ok(());
                }
                agent.notify.ready(&format!(
                    "registered {} ({}) in {}",
                    r.me.id,
                    r.me.addresses
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    r.pool.name.without_dot()
                ));
                if once || !r.serve(&identity).await {
                    return Ok(());
                }
            }
        }
    }
}

async fn discover_until_ok(
    agent: &Agent<'_>,
    signals: &mut watch::Receiver<u32>,
) -> Option<Identity> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match discover(agent.cfg, agent.ec2).await {
            Ok(id) => return Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "discovery failed; retrying");
                agent
                    .notify
                    .status(&format!("waiting for instance metadata: {e}"));
                let delay = backoff.next_delay(&mut rand::rng());
                if !sleep_or_signal(delay, signals).await {
                    return None;
                }
            }
        }
    }
}

async fn connect_until_ok<S, E: std::fmt::Display>(
    agent: &Agent<'_>,
    connect: impl AsyncFn() -> Result<S, E>,
    signals: &mut watch::Receiver<u32>,
) -> Option<S> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match connect().await {
            Ok(w) => return Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the hosted zone; retrying");
                agent.notify.status(&format!("waiting for Route 53: {e}"));
                let delay = backoff.next_delay(&mut rand::rng());
                if !sleep_or_signal(delay, signals).await {
                    return None;
                }
            }
        }
    }
}

impl<S: PoolStore> Running<'_, S> {
    fn label(&self) -> PoolLabels {
        PoolLabels {
            pool: self.pool.name.without_dot().to_owned(),
        }
    }

    /// Runs the one reconcile loop for this instance's set identifier: `decide` returns the
    /// intent (none: leave the records alone) and an outcome.
    async fn write_self<T: Send>(
        &self,
        decide: impl Fn(&PoolView) -> Result<(Option<Intent>, T), AgentError> + Sync,
    ) -> Result<Reconciled<T>, AgentError> {
        let mut decider = decide_with(|view: &PoolView, _: &[RecordSet]| {
            self.agent.pool_metrics.observe(&self.pool, view);
            let (intent, outcome) = decide(view)?;
            let intents = intent
                .map(|i| intent_for(&self.me.id, i))
                .unwrap_or_default();
            Ok(Decision {
                plan: plan(&self.pool, view, &intents),
                outcome,
            })
        });
        reconcile(&self.writer, &self.pool, CONFLICT_ATTEMPTS, &mut decider)
            .await
            .map_err(|e| match e {
                ReconcileError::Decide(e) => e,
                ReconcileError::Write(e) => AgentError::Write(e),
            })
    }

    fn self_health(&self) -> SelfHealth {
        match &self.self_check {
            Some((_, _, h)) if self.agent.cfg.self_quarantine => match h.state() {
                Health::Unhealthy => SelfHealth::Failing,
                Health::Healthy => SelfHealth::Passing,
                Health::Unknown => SelfHealth::Unknown,
            },
            _ => SelfHealth::Unknown,
        }
    }

    /// Probes the local service once; true when the verdict changed.
    async fn check_self(&mut self) -> bool {
        let thresholds = Thresholds {
            rise: self.agent.cfg.self_check_rise,
            fall: self.agent.cfg.self_check_fall,
        };
        let Some((prober, port, health)) = &mut self.self_check else {
            return false;
        };
        let result = prober
            .probe(std::net::SocketAddr::from(([127, 0, 0, 1], *port)))
            .await;
        let changed = health.observe(result.healthy, thresholds);
        if let Some(t) = changed {
            tracing::warn!(from = %t.from, to = %t.to, detail = %result.detail, "self-check verdict changed");
        }
        changed.is_some()
    }

    /// Waits until the self-check passes `rise` times (no-op without one). False on a signal.
    async fn gate_on_self_check(&mut self) -> bool {
        if self.self_check.is_none() {
            return true;
        }
        let interval = self.agent.cfg.self_check_interval;
        loop {
            self.check_self().await;
            if self
                .self_check
                .as_ref()
                .is_some_and(|(_, _, h)| h.state() == Health::Healthy)
            {
                return true;
            }
            self.agent
                .notify
                .status("waiting for the local service to pass its self-check");
            if !sleep_or_signal(interval, &mut self.signals).await {
                return false;
            }
        }
    }

    /// One reconcile. Returns the status to report.
    async fn reconcile_once(&self) -> Result<&'static str, AgentError> {
        let m = &self.agent.metrics;
        let outcome = |o: &'static str| {
            m.reconcile
                .get_or_create(&OutcomeLabels { outcome: o })
                .inc()
        };
        let health = self.self_health();
        let done = self
            .write_self(
                |view| match reconcile_self(view, &self.me, health, unix_now()) {
                    Reconcile::Foreign(why) => Err(AgentError::Foreign {
                        id: self.me.id.clone(),
                        why,
                    }),
                    Reconcile::QuarantinedBy(by) => Ok((None, Err(by))),
                    Reconcile::Write(intent, status) => Ok((Some(intent), Ok(status))),
                },
            )
            .await;
        let done = match done {
            Ok(done) => done,
            Err(e) => {
                outcome(if matches!(e, AgentError::Foreign { .. }) {
                    "foreign"
                } else {
                    "error"
                });
                return Err(e);
            }
        };
        let state = match done.outcome {
            Err(by) => {
                outcome("quarantined_by_other");
                tracing::info!(by, "quarantined by {by}; leaving the record alone");
                "quarantined"
            }
            Ok(status) => {
                outcome(if done.submitted.is_empty() {
                    "unchanged"
                } else {
                    "repaired"
                });
                if !done.submitted.is_empty() && done.view.owned.contains_key(&self.me.id) {
                    tracing::warn!(id = %self.me.id, "repaired drift in this instance's records");
                }
                status.as_str()
            }
        };
        self.registered_as(state);
        Ok(state)
    }

    fn registered_as(&self, state: &'static str) {
        let m = &self.agent.metrics;
        m.last_reconcile
            .set(i64::try_from(unix_now()).unwrap_or(i64::MAX));
        m.registered.get_or_create(&self.label()).set(1);
        m.set_state(state);
    }

    /// A new instance's registration: the plan is made against an empty pool, so the batch is
    /// CREATEs only and costs one API call instead of two (a listing and a change), which is
    /// what counts when a whole fleet starts under Route 53's 5 requests/s. Route 53 refuses to
    /// CREATE a set that exists, so this never overwrites a quarantine, a drain or a foreign
    /// record. `Ok(None)` means it refused: the records exist, read the pool and reconcile.
    /// (Lax emulators that accept a duplicate CREATE, such as moto, lose that guarantee.)
    async fn register_fresh(&self) -> Result<Option<&'static str>, AgentError> {
        let empty = PoolView::default();
        let Reconcile::Write(intent, status) =
            reconcile_self(&empty, &self.me, self.self_health(), unix_now())
        else {
            return Ok(None);
        };
        // The one write that skips the loop's read, on purpose (see above).
        let planned = plan(&self.pool, &empty, &intent_for(&self.me.id, intent));
        match self.writer.execute(&planned).await {
            Ok(_) => {
                self.agent
                    .metrics
                    .reconcile
                    .get_or_create(&OutcomeLabels { outcome: "created" })
                    .inc();
                self.registered_as(status.as_str());
                Ok(Some(status.as_str()))
            }
            Err(WriteError::Conflict { .. }) => {
                tracing::debug!(id = %self.me.id, "records exist already; reading the pool");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Registers, retrying until it works (or, in one-shot mode, failing). False on a signal,
    /// one that came before included: a stopping agent never registers.
    async fn register(&mut self, once: bool) -> Result<bool, AgentError> {
        if *self.signals.borrow() > 0 {
            return Ok(false);
        }
        self.agent.metrics.set_state("registering");
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(15));
        // Blind CREATEs until Route 53 says the records exist; then read and reconcile.
        let mut blind = true;
        loop {
            let attempt = if blind {
                self.register_fresh().await
            } else {
                self.reconcile_once().await.map(Some)
            };
            match attempt {
                Ok(Some(state)) => {
                    tracing::info!(id = %self.me.id, pool = %self.pool.name, state, "registered");
                    return Ok(true);
                }
                Ok(None) => blind = false,
                // Neither fixes itself by retrying: a foreign record in the way, or a batch
                // Route 53 refuses for good (the 101st weighted set of a name, a bad value).
                Err(
                    e @ (AgentError::Foreign { .. }
                    | AgentError::Write(WriteError::Rejected { .. })),
                ) => {
                    return Err(e);
                }
                Err(e) if once && !matches!(e, AgentError::Write(WriteError::Conflict { .. })) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "registration failed; retrying");
                    self.agent.notify.status(&format!("registering: {e}"));
                    let delay = backoff.next_delay(&mut rand::rng());
                    if !sleep_or_signal(delay, &mut self.signals).await {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// The instance's Auto Scaling lifecycle state (in service when there is no IMDS or no
    /// Auto Scaling group; unknown when IMDS cannot be read).
    async fn placement(&self) -> Placement {
        let Some(imds) = &self.imds else {
            return Placement::InService;
        };
        match imds
            .get("meta-data/autoscaling/target-lifecycle-state")
            .await
        {
            Ok(value) => Placement::from_imds(value.as_deref()),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the lifecycle state");
                Placement::Unknown
            }
        }
    }

    /// Waits while Auto Scaling holds the instance out of service (`Standby`, `Warmed:*`):
    /// such an instance is never registered. False when the agent should not register at all:
    /// a signal, `Terminated`, or one-shot mode out of service.
    async fn wait_until_in_service(&mut self, once: bool) -> bool {
        let mut told = None;
        loop {
            let placement = self.placement().await;
            if placement.may_register() {
                if told.is_some() {
                    tracing::info!(?placement, "back in service; registering");
                }
                return true;
            }
            // Said once per state, not at every poll.
            if told != Some(placement) {
                let why = format!("not registering: Auto Scaling lifecycle state {placement:?}");
                tracing::warn!("{why}");
                self.agent.metrics.set_state("out_of_service");
                self.agent.notify.status(&why);
                told = Some(placement);
            }
            if once {
                return false;
            }
            if placement == Placement::Terminating {
                signalled(&mut self.signals, 1).await;
                return false;
            }
            let poll = self.agent.cfg.notice_poll_interval;
            if !sleep_or_signal(poll, &mut self.signals).await {
                return false;
            }
        }
    }

    /// Runs until a drain ends it. True when the instance only left service for now (Standby,
    /// warm pool) and should register again when it returns.
    async fn serve(&mut self, identity: &Identity) -> bool {
        let cfg = self.agent.cfg;
        let mut notices = tokio::time::interval(cfg.notice_poll_interval);
        let mut checks = tokio::time::interval(cfg.self_check_interval);
        let mut stretch = 1;
        self.agent
            .metrics
            .reconcile_interval
            .set(i64::try_from(cfg.reconcile_interval.as_secs()).unwrap_or(i64::MAX));
        let mut next_reconcile = tokio::time::Instant::now() + jittered(cfg.reconcile_interval);
        self.agent.notify.status(&format!(
            "active: {} in {}",
            self.me.id,
            self.pool.name.without_dot()
        ));
        let mut signals = self.signals.clone();
        let cause = loop {
            tokio::select! {
                biased;
                () = signalled(&mut signals, 1) => break DrainCause::Signal,
                _ = tokio::time::sleep_until(next_reconcile) => {
                    let throttled_before = self.writer.throttled();
                    self.rediscover().await;
                    self.reconcile_and_report().await;
                    stretch = next_stretch(stretch, self.writer.throttled() > throttled_before);
                    let interval = cfg.reconcile_interval * stretch;
                    self.agent
                        .metrics
                        .reconcile_interval
                        .set(i64::try_from(interval.as_secs()).unwrap_or(i64::MAX));
                    next_reconcile = tokio::time::Instant::now() + jittered(interval);
                }
                _ = checks.tick(), if self.self_check.is_some() => {
                    if self.check_self().await && cfg.self_quarantine {
                        self.reconcile_and_report().await;
                    }
                }
                _ = notices.tick(), if self.imds.is_some() => {
                    if let Some(cause) = self.notice().await {
                        break cause;
                    }
                }
            }
        };
        tracing::warn!(?cause, id = %identity.target_id, "draining");
        self.drain(cause, false).await;
        match cause {
            DrainCause::Signal | DrainCause::Command => false,
            DrainCause::OutOfService => true,
            DrainCause::Spot | DrainCause::Lifecycle => {
                // The instance is going away on its own; stay deregistered until stopped.
                self.agent
                    .notify
                    .status("deregistered; waiting for the instance to stop");
                signalled(&mut self.signals, 1).await;
                false
            }
        }
    }

    /// Checks the Spot and Auto Scaling notices.
    async fn notice(&self) -> Option<DrainCause> {
        let imds = self.imds.as_ref()?;
        match imds.get("meta-data/spot/instance-action").await {
            Ok(Some(action)) => {
                tracing::warn!(action, "Spot interruption notice");
                return Some(DrainCause::Spot);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "cannot read the Spot notice"),
        }
        match self.placement().await {
            Placement::Terminating => {
                tracing::warn!("Auto Scaling lifecycle state Terminated");
                Some(DrainCause::Lifecycle)
            }
            p @ (Placement::Standby | Placement::Warmed) => {
                tracing::warn!(placement = ?p, "Auto Scaling took the instance out of service");
                Some(DrainCause::OutOfService)
            }
            Placement::InService | Placement::Unknown => None,
        }
    }

    /// Discovers the addresses again (IMDS and EC2), so a re-associated Carrier IP is
    /// published at this reconcile. A configured `address` never changes; a failed discovery
    /// keeps the addresses in use.
    async fn rediscover(&mut self) {
        if self.agent.cfg.address.is_some() {
            return;
        }
        match discover(self.agent.cfg, self.agent.ec2).await {
            Ok(found) if found.target_id != self.me.id => tracing::warn!(
                id = %self.me.id,
                found = %found.target_id,
                "discovery now names another target id; keeping the one registered"
            ),
            Ok(found) if found.addresses != self.me.addresses => {
                tracing::info!(
                    id = %self.me.id,
                    old = ?self.me.addresses,
                    new = ?found.addresses,
                    "this instance's public address changed; publishing the new one"
                );
                self.me.addresses = found.addresses;
                self.agent.metrics.set_info(
                    &self.me.id,
                    found.az.as_deref().unwrap_or_default(),
                    &self.me.addresses,
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "discovery failed; keeping the addresses in use until the next reconcile"
            ),
        }
    }

    async fn reconcile_and_report(&self) {
        match self.reconcile_once().await {
            Ok(state) => self.agent.notify.status(&format!(
                "{state}: {} in {}",
                self.me.id,
                self.pool.name.without_dot()
            )),
            Err(e) => {
                tracing::warn!(error = %e, "reconcile failed; retrying next interval");
                self.agent.notify.status(&format!("reconcile failed: {e}"));
            }
        }
    }

    /// Weight 0 and `state=draining`; wait for INSYNC and one TTL; delete. Bounded by
    /// `drain_timeout`; a second signal skips the waits.
    async fn drain(&mut self, cause: DrainCause, now: bool) {
        let started = Instant::now();
        if cause == DrainCause::Signal {
            self.agent.notify.stopping();
        }
        self.agent.metrics.set_state("draining");
        self.agent.notify.status("draining");
        let deadline = tokio::time::Instant::now() + self.agent.cfg.drain_timeout;
        if !now {
            // A signal beyond the one that started the drain skips the waits; for a drain that
            // no signal started, one that arrives after it began.
            let skip_at = if cause == DrainCause::Signal {
                2
            } else {
                *self.signals.borrow() + 1
            };
            let phase_one = async {
                let (submitted, ttl) = self.drain_step_one().await?;
                if let Err(e) = self
                    .writer
                    .wait_insync(&submitted.change_id, tokio::time::Instant::now())
                    .await
                {
                    tracing::warn!(error = %e, "the weight-0 change did not reach INSYNC");
                }
                // Caches hold the answer for the TTL the pool has, which may not be ours.
                tokio::time::sleep(Duration::from_secs(u64::from(ttl))).await;
                Some(())
            };
            let mut signals = self.signals.clone();
            tokio::select! {
                _ = phase_one => {}
                _ = tokio::time::sleep_until(deadline) => tracing::warn!("drain_timeout reached; deleting now"),
                () = signalled(&mut signals, skip_at) => tracing::warn!("a further signal: deleting now"),
            }
        }
        let deleted =
            tokio::time::timeout_at(deadline + Duration::from_secs(10), self.delete_self()).await;
        match deleted {
            Ok(true) => tracing::info!(id = %self.me.id, "deregistered"),
            _ => {
                tracing::error!(id = %self.me.id, "could not delete this instance's records; a health controller will collect them")
            }
        }
        let m = &self.agent.metrics;
        m.drain_seconds.observe(started.elapsed().as_secs_f64());
        m.registered.get_or_create(&self.label()).set(0);
        m.set_state("deregistered");
    }

    /// Drain step one, through the reconcile loop: the weight-0 change and the pool's TTL.
    /// `None` when there is nothing to drain or the write failed.
    async fn drain_step_one(&self) -> Option<(Submitted, u32)> {
        let now = unix_now();
        let done = self
            .write_self(|view| {
                Ok((
                    start_drain(view, &self.me, now),
                    view.group_ttl.unwrap_or(self.pool.ttl),
                ))
            })
            .await;
        match done {
            Ok(mut done) => Some((done.submitted.pop()?, done.outcome)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot set weight 0 before deleting");
                None
            }
        }
    }

    /// Deletes this instance's records, through the reconcile loop, retrying failures with a
    /// back-off; true when they are gone.
    async fn delete_self(&self) -> bool {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        for _ in 0..10 {
            match self.write_self(|_| Ok((Some(Intent::Absent), ()))).await {
                Ok(_) => return true,
                Err(e) => tracing::warn!(error = %e, "delete failed; retrying"),
            }
            tokio::time::sleep(backoff.next_delay(&mut rand::rng())).await;
        }
        false
    }
}

/// The reconcile interval with ±20 % jitter.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.8..1.2))
}

#[cfg(test)]
mod tests {
    //! The agent over time, in-process: the one reconcile loop against the in-memory store on
    //! tokio's paused clock. No sockets, no sleeps: time advances only when every task waits.

    use std::sync::Mutex;

    use prometheus_client::registry::Registry;
    use registry::memory::MemoryStore;
    use registry::model::{Change, Target, TargetState};
    use registry::name::Fqdn;
    use registry::pool::classify;
    use tokio::time::Instant as TokioInstant;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Notifier for Recorder {
        fn ready(&self, status: &str) {
            self.push(format!("READY {status}"));
        }
        fn status(&self, status: &str) {
            self.push(format!("STATUS {status}"));
        }
        fn stopping(&self) {
            self.push("STOPPING".into());
        }
    }

    impl Recorder {
        fn push(&self, line: String) {
            self.0.lock().unwrap().push(line);
        }
    }

    struct Bed {
        pool: PoolConfig,
        cfg: AgentConfig,
        ec2: Ec2Source,
        notify: Recorder,
    }

    fn bed(agent: &str) -> Bed {
        let pool: PoolConfig = toml::from_str(
            "name = \"edge.example.com\"\nzone = \"example.com\"\nttl = 30\nowner_id = \"wavelb\"",
        )
        .unwrap();
        let cfg: AgentConfig = toml::from_str(&format!(
            "address = \"192.0.2.10\"\ntarget_id = \"i-1\"\nweight = 60\n{agent}"
        ))
        .unwrap();
        Bed {
            pool,
            cfg,
            ec2: Ec2Source::default(),
            notify: Recorder::default(),
        }
    }

    fn agent(bed: &Bed) -> Agent<'_> {
        let mut registry = Registry::default();
        Agent {
            pool: &bed.pool,
            cfg: &bed.cfg,
            ec2: &bed.ec2,
            metrics: AgentMetrics::register(&mut registry),
            pool_metrics: PoolMetrics::default(),
            notify: &bed.notify,
        }
    }

    fn running<'a>(
        agent: &'a Agent<'a>,
        store: MemoryStore,
        signals: watch::Receiver<u32>,
    ) -> Running<'a, MemoryStore> {
        Running {
            agent,
            pool: agent.pool.spec(&Default::default()).unwrap(),
            writer: store,
            me: Me {
                id: "i-1".into(),
                addresses: vec!["192.0.2.10".parse().unwrap()],
                weight: 60,
                probe: None,
            },
            signals,
            self_check: None,
            imds: None,
        }
    }

    fn store() -> MemoryStore {
        MemoryStore::new(Fqdn::parse("example.com").unwrap())
    }

    fn view(r: &Running<'_, MemoryStore>) -> PoolView {
        classify(&r.pool, &r.writer.sets())
    }

    /// A running agent registered in a store whose changes are INSYNC after 60 s.
    async fn registered<'a>(
        agent: &'a Agent<'a>,
        signals: watch::Receiver<u32>,
    ) -> Running<'a, MemoryStore> {
        let mut r = running(agent, store(), signals);
        r.writer
            .faults(|f| f.insync_after = Duration::from_secs(60));
        assert!(r.register(false).await.unwrap());
        r
    }

    /// Register, then drain: weight 0 and `draining`, delete after INSYNC (60 s here) plus one
    /// TTL (30 s), all on the paused clock.
    #[tokio::test(start_paused = true)]
    async fn register_then_drain_waits_for_insync_and_one_ttl() {
        let bed = bed("drain_timeout = \"300s\"");
        let agent = agent(&bed);
        let (_tx, rx) = watch::channel(0);
        let mut r = registered(&agent, rx).await;
        let t = view(&r).owned["i-1"].target.clone();
        assert_eq!((t.weight, t.state), (60, TargetState::Active));

        let start = TokioInstant::now();
        r.drain(DrainCause::Command, false).await;
        assert_eq!(start.elapsed(), Duration::from_secs(90), "INSYNC + one TTL");
        assert!(view(&r).owned.is_empty(), "deleted");
        assert_eq!(r.writer.calls().accepted, 3, "register, weight 0, delete");
    }

    /// `drain_timeout` bounds the waits; a second signal skips them at once.
    #[tokio::test(start_paused = true)]
    async fn drain_timeout_and_a_second_signal_cut_the_waits() {
        let bed = bed("drain_timeout = \"45s\"");
        let agent = agent(&bed);
        let (_tx, rx) = watch::channel(0);
        let mut r = registered(&agent, rx).await;
        let start = TokioInstant::now();
        r.drain(DrainCause::Command, false).await;
        assert_eq!(start.elapsed(), Duration::from_secs(45), "drain_timeout");
        assert!(view(&r).owned.is_empty());

        let second_bed = super::tests::bed("drain_timeout = \"300s\"");
        let agent = super::tests::agent(&second_bed);
        let (tx, rx) = watch::channel(0);
        let mut r = registered(&agent, rx).await;
        // The signal that starts the drain.
        tx.send_modify(|n| *n += 1);
        let start = TokioInstant::now();
        let second = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            tx.send_modify(|n| *n += 1);
        };
        tokio::join!(r.drain(DrainCause::Signal, false), second);
        assert_eq!(start.elapsed(), Duration::from_secs(5), "the second signal");
        assert!(view(&r).owned.is_empty());
        let said = second_bed.notify.0.lock().unwrap().clone();
        assert!(said.contains(&"STOPPING".to_owned()), "{said:?}");
    }

    /// Signals are counted from the start, so none is acted on twice or lost: one that came
    /// before a drain no signal started (a Spot notice read at the same moment) does not skip
    /// that drain's waits, and a stopping agent never registers (again, after a Standby spell).
    #[tokio::test(start_paused = true)]
    async fn a_signal_before_a_notice_drain_keeps_its_waits_and_stops_registration() {
        let bed = bed("drain_timeout = \"300s\"");
        let agent = agent(&bed);
        let (tx, rx) = watch::channel(0);
        let mut r = registered(&agent, rx).await;
        tx.send_modify(|n| *n += 1);
        let start = TokioInstant::now();
        r.drain(DrainCause::Spot, false).await;
        assert_eq!(start.elapsed(), Duration::from_secs(90), "INSYNC + one TTL");
        assert!(view(&r).owned.is_empty(), "deleted");
        assert!(
            !r.register(false).await.unwrap(),
            "registered after a signal"
        );
        assert!(view(&r).owned.is_empty(), "registered after a signal");
    }

    /// A signal that arrives while the agent is busy (here a reconcile that Route 53 throttles
    /// for 5 s) is acted on once the reconcile is done: the agent drains and deletes its
    /// records. Each turn of the loop used to wait for a signal beyond the count it read, so
    /// such a signal was lost and the agent served on until it was killed.
    #[tokio::test(start_paused = true)]
    async fn a_signal_during_a_reconcile_still_drains() {
        let bed = bed("reconcile_interval = \"10s\"\ndrain_timeout = \"60s\"");
        let agent = agent(&bed);
        let (tx, rx) = watch::channel(0);
        let mut r = registered(&agent, rx).await;
        r.writer.faults(|f| {
            f.throttle_next = 1;
            f.throttle_delay = Duration::from_secs(5);
        });
        let identity = Identity {
            target_id: "i-1".into(),
            region: None,
            az: None,
            addresses: r.me.addresses.clone(),
            private_ip: None,
        };
        let start = TokioInstant::now();
        // The reconcile starts 8 to 12 s in (10 s ± 20 %) and is throttled for 5 s: at 12.5 s
        // it is under way.
        let signal = async {
            tokio::time::sleep(Duration::from_millis(12_500)).await;
            tx.send_modify(|n| *n += 1);
        };
        let (served, ()) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(600), r.serve(&identity)),
            signal
        );
        assert_eq!(served, Ok(false), "the signal was lost: no drain");
        assert_eq!(r.writer.throttled(), 1, "the reconcile was throttled");
        assert!(view(&r).owned.is_empty(), "deleted");
        // The drain began when the reconcile ended (≤ 17 s) and waited out drain_timeout (60 s).
        assert!(
            start.elapsed() <= Duration::from_secs(77),
            "{:?}",
            start.elapsed()
        );
    }

    /// Registration against a throttled, then conflicting store: throttles cost time and are
    /// counted; a record someone else wrote in between is read again, never overwritten.
    #[tokio::test(start_paused = true)]
    async fn registration_survives_throttling_and_respects_a_quarantine() {
        let bed = bed("");
        let agent = agent(&bed);
        let (_tx, rx) = watch::channel(0);
        let r = running(&agent, store(), rx);
        // An operator quarantined i-1 before this agent started.
        let mut q = Target::active("i-1", r.me.addresses.clone(), 60, 1)
            .with_state(TargetState::Quarantined, 2)
            .by("operator");
        q.probe = None;
        let creates: Vec<Change> = q
            .record_sets(&r.pool)
            .into_iter()
            .map(Change::create)
            .collect();
        r.writer.apply(&creates).unwrap();
        r.writer.faults(|f| {
            f.throttle_next = 5;
            f.throttle_delay = Duration::from_secs(2);
        });
        let mut r = r;
        let start = TokioInstant::now();
        assert!(r.register(false).await.unwrap());
        // Two requests, each throttled once: the refused blind CREATE and one listing.
        let calls = r.writer.calls();
        assert_eq!((calls.batches, calls.accepted, calls.lists), (1, 0, 1));
        assert_eq!(r.writer.throttled(), 2);
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        let t = view(&r).owned["i-1"].target.clone();
        assert_eq!(
            (t.state, t.weight, t.by.as_deref()),
            (TargetState::Quarantined, 0, Some("operator")),
            "the blind CREATE was refused and the reconcile left the quarantine alone"
        );
    }

    /// Over the reconcile loop: an address record edited by someone else is repaired at the
    /// next reconcile, a self-check that fails `fall` times quarantines the instance (`by=agent`),
    /// and passing `rise` times restores it.
    #[tokio::test(start_paused = true)]
    async fn drift_is_repaired_and_the_self_check_quarantines_and_restores() {
        let bed = bed(
            "self_quarantine = true\nself_check_rise = 2\nself_check_fall = 3\n\
             [self_check]\nkind = \"udp\"\nport = 4000\nsend = \"ping\"",
        );
        let agent = agent(&bed);
        let (_tx, rx) = watch::channel(0);
        let mut r = registered(&agent, rx).await;
        let mine = |r: &Running<'_, MemoryStore>| view(r).owned["i-1"].target.clone();

        // Someone points i-1's address record elsewhere.
        let a = r
            .writer
            .sets()
            .into_iter()
            .find(|s| s.rtype == "A" && s.set_identifier.as_deref() == Some("i-1"))
            .unwrap();
        let mut moved = a.clone();
        moved.values = vec!["198.51.100.9".into()];
        r.writer
            .apply(&[Change::delete(a), Change::create(moved)])
            .unwrap();
        assert_ne!(mine(&r).addresses, r.me.addresses);
        r.reconcile_once().await.unwrap();
        assert_eq!(mine(&r).addresses, r.me.addresses, "repaired");

        // The self-check's verdicts, fed as its probes would (the prober is not called here).
        let cfg = bed.cfg.self_check.clone().unwrap();
        r.self_check = Some((Prober::new(&cfg).unwrap(), 4000, TargetHealth::default()));
        let thresholds = Thresholds { rise: 2, fall: 3 };
        let feed = |r: &mut Running<'_, MemoryStore>, healthy: bool, times: usize| {
            for _ in 0..times {
                r.self_check
                    .as_mut()
                    .unwrap()
                    .2
                    .observe(healthy, thresholds);
            }
        };
        feed(&mut r, false, 2);
        r.reconcile_once().await.unwrap();
        assert_eq!(
            mine(&r).state,
            TargetState::Active,
            "two failures are not fall"
        );
        feed(&mut r, false, 1);
        r.reconcile_once().await.unwrap();
        let t = mine(&r);
        assert_eq!(
            (t.state, t.weight, t.wanted_weight, t.by.as_deref()),
            (TargetState::Quarantined, 0, 60, Some("agent"))
        );
        feed(&mut r, true, 2);
        r.reconcile_once().await.unwrap();
        let t = mine(&r);
        assert_eq!((t.state, t.weight), (TargetState::Active, 60), "restored");
    }
}
