//! Draining: weight 0 and `state=draining`, INSYNC and one TTL, then the delete; bounded by
//! `drain_timeout`, cut short by a further signal.

use std::time::{Duration, Instant};

use probe::Probe;
use registry::clock::unix_now;
use registry::plan::Intent;
use registry::retry::Backoff;
use registry::store::{PoolStore, Submitted};

use super::{DrainCause, Running, signalled};
use crate::instance::Instance;
use crate::lifecycle::start_drain;
use crate::metrics::AgentState;

impl<S: PoolStore, I: Instance, P: Probe> Running<'_, S, I, P> {
    /// Weight 0 and `state=draining`; wait for INSYNC and one TTL; delete. Bounded by
    /// `drain_timeout`; a second signal skips the waits.
    pub(super) async fn drain(&mut self, cause: DrainCause, now: bool) {
        let started = Instant::now();
        if cause == DrainCause::Signal {
            self.agent.notify.stopping();
        }
        self.agent.metrics.set_state(AgentState::Draining);
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
        m.set_state(AgentState::Deregistered);
    }

    /// Drain step one, through the reconcile loop: the weight-0 change and the pool's TTL.
    /// `None` when there is nothing to drain or the write failed.
    pub(super) async fn drain_step_one(&self) -> Option<(Submitted, u32)> {
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
    pub(super) async fn delete_self(&self) -> bool {
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
