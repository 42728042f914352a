//! Operator actions on one target (`wavelb records set-weight|quarantine|restore|remove`),
//! decided as plans. Owned targets go through the planner; foreign ones only with `force`.

use std::collections::BTreeMap;

use crate::model::{Change, PoolSpec, TargetState};
use crate::plan::{ChangeGroup, Intent, Plan, plan};
use crate::pool::PoolView;

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Set the wanted weight (and the published weight, when active).
    SetWeight(u8),
    /// Take out of rotation: weight 0, `state=quarantined`.
    Quarantine,
    /// Put back with the wanted weight, `state=active`.
    Restore,
    /// Delete the address and ownership records.
    Remove,
}

/// Why an operator action cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// No record set in the pool has that set identifier.
    #[error(
        "no target with set identifier {0:?} in this pool; `wavelb records list` shows the set ids"
    )]
    NotFound(String),
    /// The target is foreign and `--force` was not given.
    #[error("target {id:?} is foreign ({reason}); pass --force to change it anyway")]
    Foreign {
        /// The set identifier.
        id: String,
        /// Why it is foreign.
        reason: String,
    },
    /// The action needs something the records do not have.
    #[error("cannot {action} target {id:?}: {why}")]
    Impossible {
        /// The set identifier.
        id: String,
        /// The action.
        action: &'static str,
        /// Why.
        why: String,
    },
}

fn verb(op: Operation) -> &'static str {
    match op {
        Operation::SetWeight(_) => "set the weight of",
        Operation::Quarantine => "quarantine",
        Operation::Restore => "restore",
        Operation::Remove => "remove",
    }
}

/// Plans `op` on target `id`, as of unix time `now`.
pub fn operator_plan(
    pool: &PoolSpec,
    view: &PoolView,
    id: &str,
    op: Operation,
    now: u64,
    force: bool,
) -> Result<Plan, OpError> {
    if let Some(owned) = view.owned.get(id) {
        let t = owned.target.clone();
        if owned.address_set.is_none() && op != Operation::Remove {
            return Err(OpError::Impossible {
                id: id.into(),
                action: verb(op),
                why:
                    "its address record is missing; its owner must register it again, or remove it"
                        .into(),
            });
        }
        let intent = match op {
            Operation::SetWeight(w) => Intent::Present(t.with_wanted_weight(w)),
            Operation::Quarantine => Intent::Present(t.with_state(TargetState::Quarantined, now)),
            Operation::Restore => Intent::Present(t.with_state(TargetState::Active, now)),
            Operation::Remove => Intent::Absent,
        };
        return Ok(plan(pool, view, &BTreeMap::from([(id.to_owned(), intent)])));
    }
    let foreign = view
        .foreign
        .iter()
        .find(|f| f.id.as_deref() == Some(id))
        .ok_or_else(|| OpError::NotFound(id.into()))?;
    if !force {
        return Err(OpError::Foreign {
            id: id.into(),
            reason: foreign.reason.to_string(),
        });
    }
    let impossible = |why: &str| OpError::Impossible {
        id: id.into(),
        action: verb(op),
        why: why.into(),
    };
    let changes = match op {
        Operation::SetWeight(_) | Operation::Quarantine => {
            let weight = match op {
                Operation::SetWeight(w) => w,
                _ => 0,
            };
            let old = foreign
                .address_set
                .as_ref()
                .filter(|s| s.opaque.is_none() && s.weight.is_some())
                .ok_or_else(|| impossible("it has no plain weighted address record"))?;
            let mut new = old.clone();
            new.weight = Some(i64::from(weight));
            if new == *old {
                Vec::new()
            } else {
                vec![Change::delete(old.clone()), Change::create(new)]
            }
        }
        Operation::Restore => {
            return Err(impossible(
                "a foreign record has no wanted weight to restore; use set-weight --force",
            ));
        }
        Operation::Remove => {
            let sets: Vec<_> = foreign
                .address_set
                .iter()
                .chain(&foreign.ownership_set)
                .collect();
            if sets.iter().any(|s| s.opaque.is_some()) {
                return Err(impossible(
                    "it uses Route 53 features wavelb does not write",
                ));
            }
            sets.into_iter().cloned().map(Change::delete).collect()
        }
    };
    let groups = if changes.is_empty() {
        Vec::new()
    } else {
        vec![ChangeGroup {
            target_id: id.into(),
            changes,
        }]
    };
    Ok(Plan {
        groups,
        skipped: Vec::new(),
    })
}
