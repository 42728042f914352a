//! Starting: discovery and the connection retried until they work, the Auto Scaling gate, the
//! self-check gate, and the registration itself.

pub(super) async fn discover_until_ok<I: Instance, P>(
    agent: &Agent<'_, I, P>,
    signals: &mut watch::Receiver<u32>,
) -> Option<Identity> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match agent.instance.discover().await {
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

pub(super) async fn connect_until_ok<S, E: std::fmt::Display, I, P>(
    agent: &Agent<'_, I, P>,
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

use std::time::Duration;

use probe::Probe;
use probe::state::{Health, Thresholds};
use registry::clock::unix_now;
use registry::plan::plan;
use registry::pool::PoolView;
use registry::reconcile::intent_for;
use registry::retry::Backoff;
use registry::store::{PoolStore, WriteError};
use tokio::sync::watch;

use super::{Agent, AgentError, Running, signalled, sleep_or_signal};
use crate::discovery::Identity;
use crate::instance::Instance;
use crate::lifecycle::{Placement, Reconcile, reconcile as reconcile_self};
use crate::metrics::{AgentState, OutcomeLabels, ReconcileOutcome};

impl<S: PoolStore, I: Instance, P: Probe> Running<'_, S, I, P> {
    /// Probes the local service once; true when the verdict changed.
    pub(super) async fn check_self(&mut self) -> bool {
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
    pub(super) async fn gate_on_self_check(&mut self) -> bool {
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

    /// A new instance's registration: the plan is made against an empty pool, so the batch is
    /// CREATEs only and costs one API call instead of two (a listing and a change), which is
    /// what counts when a whole fleet starts under Route 53's 5 requests/s. Route 53 refuses to
    /// CREATE a set that exists, so this never overwrites a quarantine, a drain or a foreign
    /// record. `Ok(None)` means it refused: the records exist, read the pool and reconcile.
    /// (Lax emulators that accept a duplicate CREATE, such as moto, lose that guarantee.)
    pub(super) async fn register_fresh(&self) -> Result<Option<AgentState>, AgentError> {
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
                    .get_or_create(&OutcomeLabels {
                        outcome: ReconcileOutcome::Created,
                    })
                    .inc();
                self.registered_as(status.into());
                Ok(Some(status.into()))
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
    pub(super) async fn register(&mut self, once: bool) -> Result<bool, AgentError> {
        if *self.signals.borrow() > 0 {
            return Ok(false);
        }
        self.agent.metrics.set_state(AgentState::Registering);
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
                    tracing::info!(id = %self.me.id, pool = %self.pool.name, %state, "registered");
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
    pub(super) async fn placement(&self) -> Placement {
        match self.agent.instance.placement().await {
            Ok(placement) => placement,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the lifecycle state");
                Placement::Unknown
            }
        }
    }

    /// Waits while Auto Scaling holds the instance out of service (`Standby`, `Warmed:*`):
    /// such an instance is never registered. False when the agent should not register at all:
    /// a signal, `Terminated`, or one-shot mode out of service.
    pub(super) async fn wait_until_in_service(&mut self, once: bool) -> bool {
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
                self.agent.metrics.set_state(AgentState::OutOfService);
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
}
