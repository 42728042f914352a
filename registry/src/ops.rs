//! Operator actions on one target (`wavelb records set-weight|quarantine|restore|remove`),
//! decided as plans. Owned targets go through the planner; foreign ones only with `force`.

use crate::model::{By, Change, PoolSpec, SetId, TargetState};
use crate::plan::{ChangeGroup, Intent, Plan, plan};
use crate::pool::PoolView;
use crate::reconcile::intent_for;

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
        if owned.address_set.is_none() && !t.parked && op != Operation::Remove {
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
            Operation::Quarantine => {
                Intent::Present(t.with_state(TargetState::Quarantined, now).by(By::Operator))
            }
            Operation::Restore => Intent::Present(t.with_state(TargetState::Active, now)),
            Operation::Remove => Intent::Absent,
        };
        return Ok(plan(pool, view, &intent_for(&owned.target.id, intent)));
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
    // A listed set identifier Route 53 would not take cannot be written back.
    let set_id = SetId::new(id).map_err(|e| OpError::Impossible {
        id: id.into(),
        action: verb(op),
        why: e.to_string(),
    })?;
    let changes = match op {
        Operation::SetWeight(_) | Operation::Quarantine => {
            let weight = match op {
                Operation::SetWeight(w) => w,
                _ => 0,
            };
            let old = foreign
                .address_set
                .as_ref()
                .filter(|s| s.routing_note().is_none() && s.weight.is_some())
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
            target_id: set_id,
            changes,
        }]
    };
    Ok(Plan {
        groups,
        skipped: Vec::new(),
        guard: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Target};
    use crate::testing::pool;
    use crate::testing::sid;

    use crate::pool::classify;

    fn created(plan: &Plan) -> Target {
        let p = pool();
        let sets: Vec<_> = plan.groups[0]
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .map(|c| c.record_set.clone())
            .collect();
        classify(&p, &sets)
            .owned
            .into_values()
            .next()
            .unwrap()
            .target
    }

    fn view_of(t: &Target) -> PoolView {
        let p = pool();
        classify(&p, &[t.address_record(&p), t.ownership_record(&p)])
    }

    #[test]
    fn quarantine_then_restore_puts_back_the_wanted_weight() {
        let p = pool();
        let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 77, 10);
        let q = created(
            &operator_plan(&p, &view_of(&t), "i-1", Operation::Quarantine, 20, false).unwrap(),
        );
        assert_eq!(
            (q.weight, q.wanted_weight, q.state, q.since),
            (0, 77, TargetState::Quarantined, 20)
        );
        let w = created(
            &operator_plan(&p, &view_of(&q), "i-1", Operation::SetWeight(5), 30, false).unwrap(),
        );
        assert_eq!((w.weight, w.wanted_weight, w.since), (0, 5, 20));
        let r = created(
            &operator_plan(&p, &view_of(&w), "i-1", Operation::Restore, 40, false).unwrap(),
        );
        assert_eq!(
            (r.weight, r.wanted_weight, r.state, r.since),
            (5, 5, TargetState::Active, 40)
        );
        assert!(
            operator_plan(&p, &view_of(&r), "i-1", Operation::Restore, 50, false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn foreign_targets_need_force_and_cannot_be_restored() {
        let p = pool();
        let t = Target::active(sid("x"), vec!["192.0.2.9".parse().unwrap()], 7, 1);
        let view = classify(&p, &[t.address_record(&p)]);
        assert!(matches!(
            operator_plan(&p, &view, "x", Operation::Quarantine, 2, false),
            Err(OpError::Foreign { .. })
        ));
        let plan = operator_plan(&p, &view, "x", Operation::Quarantine, 2, true).unwrap();
        let actions: Vec<_> = plan.groups[0].changes.iter().map(|c| c.action).collect();
        assert_eq!(actions, [Action::Delete, Action::Create]);
        assert_eq!(plan.groups[0].changes[1].record_set.weight, Some(0));
        assert!(matches!(
            operator_plan(&p, &view, "x", Operation::Restore, 2, true),
            Err(OpError::Impossible { .. })
        ));
        assert_eq!(
            operator_plan(&p, &view, "nope", Operation::Remove, 2, true),
            Err(OpError::NotFound("nope".into()))
        );
    }

    #[test]
    fn orphan_ownership_record_can_only_be_removed() {
        let p = pool();
        let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 7, 1);
        let view = classify(&p, &[t.ownership_record(&p)]);
        assert!(matches!(
            operator_plan(&p, &view, "i-1", Operation::Quarantine, 2, false),
            Err(OpError::Impossible { .. })
        ));
        let plan = operator_plan(&p, &view, "i-1", Operation::Remove, 2, false).unwrap();
        assert_eq!(plan.groups[0].changes.len(), 1);
        assert_eq!(plan.groups[0].changes[0].action, Action::Delete);
    }
}
