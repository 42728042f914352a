//! Serving: the reconcile timer (stretched while Route 53 throttles), the self-check, the Spot
//! and Auto Scaling notices and rediscovery, until a signal or a notice starts the drain.

use std::time::Duration;

use probe::Probe;
use rand::Rng;
use registry::store::PoolStore;

use super::{DrainCause, Running, signalled};
use crate::discovery::Identity;
use crate::instance::Instance;
use crate::lifecycle::{Placement, next_stretch};

impl<S: PoolStore, I: Instance, P: Probe> Running<'_, S, I, P> {
    /// Runs until a drain ends it. True when the instance only left service for now (Standby,
    /// warm pool) and should register again when it returns.
    pub(super) async fn serve(&mut self, identity: &Identity) -> bool {
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
                _ = notices.tick(), if self.agent.instance.has_notices() => {
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
    pub(super) async fn notice(&self) -> Option<DrainCause> {
        match self.agent.instance.spot_notice().await {
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
    pub(super) async fn rediscover(&mut self) {
        if self.agent.cfg.address.is_some() {
            return;
        }
        match self.agent.instance.discover().await {
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

    pub(super) async fn reconcile_and_report(&self) {
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
}

/// The reconcile interval with ±20 % jitter.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.8..1.2))
}
