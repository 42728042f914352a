//! The leader-lease step every writer of the health controller runs at the start of a round:
//! the decision is [`crate::lease::step`] (pure); this writes it.

use registry::model::{LEADER_LABEL, PoolSpec, RecordSet};
use registry::plan::{ChangeGroup, Plan};
use registry::store::{PoolStore, WriteError};

use crate::lease::{self, Lease, LeaseStep};

/// Who asks for the lease, and when.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// This controller's id.
    pub me: &'a str,
    /// Unix seconds now.
    pub now: u64,
    /// The lease's lifetime in seconds.
    pub ttl: u64,
    /// True when this controller led after the previous step.
    pub was_leader: bool,
}

/// Takes or renews the lease at `pool`'s lease name (as read in `sets`), or follows a live
/// lease of another holder. Returns true when the candidate leads after this step.
/// `implausible` is told about another holder's lease whose expiry lies implausibly far ahead
/// (it is taken over).
pub async fn lead<S: PoolStore>(
    store: &S,
    pool: &PoolSpec,
    sets: &[RecordSet],
    candidate: Candidate<'_>,
    implausible: impl FnOnce(&Lease),
) -> Result<bool, WriteError> {
    let Candidate {
        me,
        now,
        ttl,
        was_leader,
    } = candidate;
    let current = lease::find(pool, sets);
    if let Some((Ok(l), _)) = &current
        && l.holder != me
        && lease::implausible(l, now, ttl)
    {
        implausible(l);
    }
    match lease::step(pool, current, me, now, ttl) {
        LeaseStep::Follow { holder } => {
            if was_leader {
                tracing::warn!(name = %pool.name, %holder, "lost the leader lease; following");
            }
            Ok(false)
        }
        LeaseStep::Write(changes) => {
            let group = Plan {
                groups: vec![ChangeGroup {
                    target_id: LEADER_LABEL.into(),
                    changes,
                }],
                skipped: Vec::new(),
            };
            match store.execute(&group).await {
                Ok(_) => {
                    if !was_leader {
                        tracing::info!(name = %pool.name, controller = %me, "took the leader lease");
                    }
                    Ok(true)
                }
                Err(WriteError::Conflict { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}
