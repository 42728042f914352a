//! [`MemoryStore`]: a hosted zone in memory that applies plans with Route 53's strict rules
//! ([`ZoneRecords`]: exact-match DELETE, CREATE of an existing set fails, atomic batches, the
//! batch limits) and injects the faults the real service has — throttling, a concurrent writer,
//! slow INSYNC — so that behaviour over time is tested in-process on tokio's paused clock.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::listing::{ListFrom, Span, Walk, reversed};
use crate::model::{Change, RecordSet, RrType};
use crate::name::Fqdn;
use crate::plan::{BatchLimits, Plan};
use crate::retry::is_cas_conflict;
use crate::store::{PoolStore, Submitted, WriteError};
use crate::zone::{ChangeError, ZoneRecords};

/// Faults the store injects, set by tests at any time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    /// The next this many requests are throttled once each: like the SDK writer, the store
    /// counts it ([`PoolStore::throttled`]) and waits `throttle_delay` before serving it.
    pub throttle_next: u32,
    /// What one throttled request costs.
    pub throttle_delay: Duration,
    /// A change is INSYNC this long after it was submitted.
    pub insync_after: Duration,
    /// [`PoolStore::wait_insync`] gives up this long after submission.
    pub insync_timeout: Duration,
    /// The next this many `execute` calls fail as every request does while Route 53 is
    /// unreachable (`RetriesExhausted`), changing nothing.
    pub fail_next: u32,
    /// Record sets per `ListResourceRecordSets` page (Route 53's largest, 300, by default).
    pub page_size: usize,
    /// The hosted zone's quota of record sets (Route 53's 10 000 by default): a zone at it
    /// refuses every batch that would grow it, for good.
    pub max_record_sets: usize,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            throttle_next: 0,
            throttle_delay: Duration::from_millis(200),
            insync_after: Duration::ZERO,
            insync_timeout: Duration::from_secs(300),
            fail_next: 0,
            page_size: 300,
            max_record_sets: crate::zone::MAX_RECORD_SETS,
        }
    }
}

/// What the store has served, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// `ListResourceRecordSets` requests (pages).
    pub lists: u32,
    /// Change batches submitted (accepted or not).
    pub batches: u32,
    /// Change batches accepted.
    pub accepted: u32,
}

#[derive(Debug)]
struct State {
    zone: ZoneRecords,
    faults: Faults,
    calls: Calls,
    throttled: u64,
    submitted: BTreeMap<String, Instant>,
}

/// A hosted zone in memory; see the module documentation.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// The value check Route 53 applies to the types wavelb writes.
fn check_value(rtype: RrType, value: &str) -> Result<(), crate::zone::ValueError> {
    let ok = match rtype {
        RrType::A => value.parse::<Ipv4Addr>().is_ok(),
        RrType::Aaaa => value.parse::<Ipv6Addr>().is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Box::new(IllegalAddress(rtype)))
    }
}

/// An `A` or `AAAA` value that is not an address of its family.
#[derive(Debug, thiserror::Error)]
#[error("AR{0}RDATAIllegalIPAddress")]
struct IllegalAddress(RrType);

impl MemoryStore {
    /// An empty hosted zone named `origin`.
    pub fn new(origin: Fqdn) -> Self {
        Self {
            state: Mutex::new(State {
                zone: ZoneRecords::new(origin),
                faults: Faults::default(),
                calls: Calls::default(),
                throttled: 0,
                submitted: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a failed test already; keep serving the state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the injected faults.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.lock().faults);
    }

    /// What the store has served so far.
    pub fn calls(&self) -> Calls {
        self.lock().calls
    }

    /// Every record set in the zone.
    pub fn sets(&self) -> Vec<RecordSet> {
        self.lock().zone.sets().cloned().collect()
    }

    /// Applies `changes` as another writer would (an operator, another process), with the same
    /// rules; returns Route 53's messages when they are refused.
    pub fn apply(&self, changes: &[Change]) -> Result<(), ChangeError> {
        self.lock().zone.apply(changes, &check_value)
    }

    /// Counts and waits out one injected throttle, if any is due.
    async fn maybe_throttle(&self) {
        let delay = {
            let mut s = self.lock();
            if s.faults.throttle_next == 0 {
                return;
            }
            s.faults.throttle_next -= 1;
            s.throttled += 1;
            s.faults.throttle_delay
        };
        tokio::time::sleep(delay).await;
    }
}

impl PoolStore for MemoryStore {
    /// Serves the walk page by page from the zone in Route 53's listing order, each page a
    /// request (counted, and throttled when injected).
    async fn list_names(&self, names: &[Fqdn], walk: Walk) -> Result<Vec<RecordSet>, WriteError> {
        let mut span = Span::new(names, walk);
        let mut from = span.start();
        while let Some(start) = from {
            self.maybe_throttle().await;
            let (page, next) = {
                let mut s = self.lock();
                s.calls.lists += 1;
                let mut sets: Vec<RecordSet> = s.zone.sets().cloned().collect();
                let key = |r: &RecordSet| {
                    (
                        reversed(r.name.as_str()),
                        r.rtype.to_string(),
                        r.set_identifier.clone().unwrap_or_default(),
                    )
                };
                sets.sort_by_key(key);
                let first = (
                    reversed(&start.name),
                    start.rtype.clone().unwrap_or_default(),
                    start.identifier.clone().unwrap_or_default(),
                );
                let at = sets.partition_point(|r| key(r) < first);
                let end = (at + s.faults.page_size.max(1)).min(sets.len());
                let next = sets.get(end).map(|r| ListFrom {
                    name: r.name.as_str().to_owned(),
                    rtype: Some(r.rtype.to_string()),
                    identifier: r.set_identifier.clone(),
                });
                (sets[at..end].to_vec(), next)
            };
            let truncated = next.is_some();
            from = span.page(page, next, truncated)?;
        }
        Ok(span.finish())
    }

    async fn execute(&self, plan: &Plan) -> Result<Vec<Submitted>, WriteError> {
        let mut done = Vec::new();
        for batch in plan.batches(BatchLimits::default())? {
            self.maybe_throttle().await;
            let mut s = self.lock();
            s.calls.batches += 1;
            if s.faults.fail_next > 0 {
                s.faults.fail_next -= 1;
                return Err(WriteError::RetriesExhausted {
                    operation: "ChangeResourceRecordSets",
                    attempts: 3,
                    last: "injected: the endpoint is unreachable".into(),
                });
            }
            let quota = s.faults.max_record_sets;
            match s.zone.apply_within(&batch.changes, &check_value, quota) {
                Ok(()) => {}
                Err(ChangeError::InvalidChangeBatch(messages)) if is_cas_conflict(&messages) => {
                    return Err(WriteError::Conflict { messages });
                }
                Err(ChangeError::InvalidChangeBatch(messages)) => {
                    return Err(WriteError::Rejected { messages });
                }
                Err(ChangeError::InvalidInput(message)) => {
                    return Err(WriteError::Api {
                        operation: "ChangeResourceRecordSets",
                        code: Some("InvalidInput".into()),
                        message,
                    });
                }
            }
            s.calls.accepted += 1;
            let change_id = format!("C{:020}", s.calls.accepted);
            s.submitted.insert(change_id.clone(), Instant::now());
            let insync = s.faults.insync_after.is_zero();
            done.push(Submitted {
                change_id,
                target_ids: batch.target_ids,
                insync,
            });
        }
        Ok(done)
    }

    async fn wait_insync(&self, change_id: &str, submitted_at: Instant) -> Result<(), WriteError> {
        let (at, timeout) = {
            let s = self.lock();
            let Some(at) = s.submitted.get(change_id).copied() else {
                return Err(WriteError::Api {
                    operation: "GetChange",
                    code: Some("NoSuchChange".into()),
                    message: format!("no change {change_id}"),
                });
            };
            (at + s.faults.insync_after, s.faults.insync_timeout)
        };
        let deadline = submitted_at + timeout;
        if at > deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(WriteError::InsyncTimeout {
                change_id: change_id.to_owned(),
                waited: timeout,
            });
        }
        tokio::time::sleep_until(at).await;
        Ok(())
    }

    fn throttled(&self) -> u64 {
        self.lock().throttled
    }
}
