//! The agent over time, over three seams it is handed: the hosted zone (a
//! `registry::store::PoolStore`), the instance ([`Instance`]: IMDS and EC2) and the self-check's
//! prober ([`Probe`]); the binary connects them and counts the signals. [`run`] starts (jitter,
//! discovery), then `register` (the Auto Scaling and self-check gates, the registration),
//! `serve` (reconcile, notices, self-check, rediscovery) and `drain`. Decisions come from
//! [`crate::lifecycle`]; `tests` runs it all on tokio's paused clock.

use std::time::Duration;

use probe::state::{Health, TargetHealth};
use probe::{Probe, Prober};
use rand::Rng;
use registry::clock::unix_now;
use registry::config::PoolConfig;
use registry::metrics::{PoolLabels, PoolMetrics};
use registry::model::{PoolSpec, RecordSet, SetId};
use registry::plan::{Intent, plan};
use registry::pool::PoolView;
use registry::reconcile::{
    CONFLICT_ATTEMPTS, Decision, ReconcileError, Reconciled, decide_with, intent_for, reconcile,
};
use registry::store::PoolStore;
use registry::store::WriteError;
use tokio::sync::watch;

use crate::config::AgentConfig;
use crate::instance::Instance;
use crate::lifecycle::{Me, Reconcile, SelfHealth, reconcile as reconcile_self};
use crate::metrics::{AgentMetrics, AgentState, OutcomeLabels, ReconcileOutcome};

mod drain;
mod register;
mod serve;

use register::{connect_until_ok, discover_until_ok};

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
        id: SetId,
        /// Why it is foreign.
        why: String,
    },
    /// Route 53 kept failing in a one-shot mode.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Everything the agent needs.
pub struct Agent<'a, I, P = Prober> {
    /// `[pool]`.
    pub pool: &'a PoolConfig,
    /// `[agent]`.
    pub cfg: &'a AgentConfig,
    /// The instance it runs on: IMDS and EC2 ([`crate::instance::Ec2Instance`]).
    pub instance: &'a I,
    /// The self-check of the local service (`[agent.self_check]`, [`self_check`]).
    pub self_check: Option<P>,
    /// Metrics.
    pub metrics: AgentMetrics,
    /// What the agent saw of its pool (foreign records, a TTL mismatch).
    pub pool_metrics: PoolMetrics,
    /// systemd.
    pub notify: &'a dyn Notifier,
}

/// The self-check's prober, from `[agent.self_check]` (`None` without one).
pub fn self_check(cfg: &AgentConfig) -> Result<Option<Prober>, AgentError> {
    cfg.self_check
        .as_ref()
        .map(|p| Prober::new(p).map_err(|e| AgentError::Config(format!("agent.self_check: {e}"))))
        .transpose()
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

struct Running<'a, S, I, P> {
    agent: &'a Agent<'a, I, P>,
    pool: PoolSpec,
    writer: S,
    me: Me,
    signals: watch::Receiver<u32>,
    /// The self-check's prober, the port it probes on loopback, and its verdict.
    self_check: Option<(&'a P, u16, TargetHealth)>,
}

/// Runs the agent in `mode` until it is done. `Ok` means exit 0.
///
/// `signals` counts the SIGTERMs and SIGINTs since the start (the binary installs the handlers):
/// the first drains, the second skips the drain's waits. Every wait reads the count since the
/// start, so a signal that arrives while the agent is busy (a reconcile, a discovery) is acted on
/// when it is done, never lost. `connect` opens the pool's hosted zone (the binary: the Route 53
/// writer; a test: the in-memory store); it is retried with a back-off until it works.
pub async fn run<S, E, I, P>(
    agent: &Agent<'_, I, P>,
    mode: Mode,
    mut signals: watch::Receiver<u32>,
    connect: impl AsyncFn() -> Result<S, E>,
) -> Result<(), AgentError>
where
    S: PoolStore,
    E: std::fmt::Display,
    I: Instance,
    P: Probe,
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
    let self_check = match &agent.self_check {
        None => None,
        Some(prober) => {
            let port = prober
                .port()
                .ok_or_else(|| AgentError::Config("agent.self_check: set port".into()))?;
            Some((prober, port, TargetHealth::default()))
        }
    };
    let mut r = Running {
        agent,
        pool,
        writer,
        me,
        signals,
        self_check,
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

impl<S: PoolStore, I: Instance, P: Probe> Running<'_, S, I, P> {
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

    /// One reconcile. Returns the status to report.
    async fn reconcile_once(&self) -> Result<AgentState, AgentError> {
        let m = &self.agent.metrics;
        let outcome = |o: ReconcileOutcome| {
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
                    ReconcileOutcome::Foreign
                } else {
                    ReconcileOutcome::Error
                });
                return Err(e);
            }
        };
        let state = match done.outcome {
            Err(by) => {
                outcome(ReconcileOutcome::QuarantinedByOther);
                tracing::info!(by, "quarantined by {by}; leaving the record alone");
                AgentState::Quarantined
            }
            Ok(status) => {
                outcome(if done.submitted.is_empty() {
                    ReconcileOutcome::Unchanged
                } else {
                    ReconcileOutcome::Repaired
                });
                if !done.submitted.is_empty() && done.view.owned.contains_key(&self.me.id) {
                    tracing::warn!(id = %self.me.id, "repaired drift in this instance's records");
                }
                status.into()
            }
        };
        self.registered_as(state);
        Ok(state)
    }

    fn registered_as(&self, state: AgentState) {
        let m = &self.agent.metrics;
        m.last_reconcile
            .set(i64::try_from(unix_now()).unwrap_or(i64::MAX));
        m.registered.get_or_create(&self.label()).set(1);
        m.set_state(state);
    }
}

#[cfg(test)]
mod tests;
