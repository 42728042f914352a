//! The change planner: a pure function from what is (a [`PoolView`]) and what should be (per
//! target intents) to conditional ChangeBatches within Route 53's limits.

use std::collections::BTreeMap;

use crate::model::{Change, PoolSpec, RecordSet, Target};
use crate::pool::PoolView;

/// What one owner wants for one set identifier. Identifiers without an intent are left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// The target should exist exactly like this.
    Present(Target),
    /// The target should not exist.
    Absent,
}

/// The changes for one target. They always travel in the same batch, so Route 53 applies them
/// atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeGroup {
    /// The set identifier the group is about.
    pub target_id: String,
    /// Exact-match DELETEs of what was read, then CREATEs of what is wanted.
    pub changes: Vec<Change>,
}

impl ChangeGroup {
    fn value_chars(&self) -> usize {
        self.changes.iter().map(Change::value_chars).sum()
    }
}

/// A set identifier the planner refused to touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The set identifier.
    pub target_id: String,
    /// Why.
    pub reason: String,
}

/// The outcome of planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One group per target that needs a change.
    pub groups: Vec<ChangeGroup>,
    /// Intents that were not planned, with reasons.
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// True when nothing needs to be written.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Plans the changes that turn `view` into what `intents` ask for.
///
/// Every change is conditional: a target that exists is replaced by an exact DELETE of both of
/// its record sets as read plus a CREATE of both as wanted, so Route 53 rejects the batch if
/// anybody changed them since they were read. Foreign set identifiers are never touched.
///
/// Records are written with the TTL the pool already has in Route 53 when it differs from
/// `pool.ttl`: Route 53 applies the last TTL written to the whole weighted group, so writers
/// that disagree would flip every client's TTL back and forth ([`PoolView::ttl_mismatch`]
/// reports it; [`retarget_ttl`] changes it on purpose).
pub fn plan(pool: &PoolSpec, view: &PoolView, intents: &BTreeMap<String, Intent>) -> Plan {
    let existing;
    let pool = match view.ttl_mismatch(pool) {
        Some(ttl) => {
            existing = PoolSpec {
                ttl,
                ..pool.clone()
            };
            &existing
        }
        None => pool,
    };
    let mut out = Plan::default();
    for (id, intent) in intents {
        if view.is_foreign(id) {
            out.skipped.push(Skipped {
                target_id: id.clone(),
                reason: "the set identifier belongs to a foreign record set".into(),
            });
            continue;
        }
        let observed = view.owned.get(id);
        let read: Vec<&RecordSet> = observed
            .map(|o| o.address_set.iter().chain([&o.ownership_set]).collect())
            .unwrap_or_default();
        let wanted: Vec<RecordSet> = match intent {
            Intent::Present(target) => {
                if target.id != *id {
                    out.skipped.push(Skipped {
                        target_id: id.clone(),
                        reason: format!("the intent names another target ({})", target.id),
                    });
                    continue;
                }
                target.record_sets(pool)
            }
            Intent::Absent => Vec::new(),
        };
        if read.len() == wanted.len() && read.iter().zip(&wanted).all(|(r, w)| *r == w) {
            continue;
        }
        let changes = read
            .into_iter()
            .cloned()
            .map(Change::delete)
            .chain(wanted.into_iter().map(Change::create))
            .collect();
        out.groups.push(ChangeGroup {
            target_id: id.clone(),
            changes,
        });
    }
    out
}

/// Plans rewriting every owned target with TTL `ttl`, the one deliberate way to change a pool's
/// TTL (every other plan keeps the TTL the pool has). Foreign sets in the same weighted group
/// take the new TTL too: Route 53 applies it to the whole group.
pub fn retarget_ttl(pool: &PoolSpec, view: &PoolView, ttl: u32) -> Plan {
    let target = PoolSpec {
        ttl,
        ..pool.clone()
    };
    let wanted = PoolView {
        group_ttl: Some(ttl),
        ..view.clone()
    };
    let intents = view
        .owned
        .iter()
        .map(|(id, o)| (id.clone(), Intent::Present(o.target.clone())))
        .collect();
    plan(&target, &wanted, &intents)
}

/// Route 53's limits for one ChangeResourceRecordSets request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// At most this many changes.
    pub max_changes: usize,
    /// At most this many characters across all values (UPSERTs count twice).
    pub max_value_chars: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_changes: 1000,
            max_value_chars: 32_000,
        }
    }
}

/// A group that cannot fit in any batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the changes for target {target_id} need {changes} changes and {chars} value characters, \
     more than one Route 53 batch allows ({max_changes} changes, {max_chars} characters)"
)]
pub struct GroupTooLarge {
    /// The target.
    pub target_id: String,
    /// Its change count.
    pub changes: usize,
    /// Its value characters.
    pub chars: usize,
    /// The change limit.
    pub max_changes: usize,
    /// The character limit.
    pub max_chars: usize,
}

/// One ChangeBatch: whole groups, within the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The targets whose groups this batch carries, in order.
    pub target_ids: Vec<String>,
    /// The changes, DELETEs and CREATEs of each group together.
    pub changes: Vec<Change>,
}

pub use crate::zone::MAX_COMMENT_CHARS;

impl Batch {
    /// The batch's `Comment`: `wavelb:` and the target ids, cut to fit Route 53's
    /// [`MAX_COMMENT_CHARS`] with a `(+N more)` suffix naming how many ids were left out (a
    /// longer comment makes Route 53 reject the whole batch).
    pub fn comment(&self) -> String {
        let mut out = String::from("wavelb:");
        for (i, id) in self.target_ids.iter().enumerate() {
            let rest = self.target_ids.len() - i - 1;
            // Room for this id, and for a suffix naming the ids after it if there are any.
            let suffix = if rest == 0 {
                0
            } else {
                more_suffix(rest).chars().count()
            };
            if out.chars().count() + 1 + id.chars().count() + suffix > MAX_COMMENT_CHARS {
                out.push_str(&more_suffix(rest + 1));
                return out;
            }
            out.push(' ');
            out.push_str(id);
        }
        out
    }
}

fn more_suffix(n: usize) -> String {
    format!(" (+{n} more)")
}

/// Packs groups into as few batches as possible, first fit in order, never splitting a group.
pub fn batches(groups: &[ChangeGroup], limits: BatchLimits) -> Result<Vec<Batch>, GroupTooLarge> {
    let mut out: Vec<Batch> = Vec::new();
    let mut chars_in_last = 0usize;
    for group in groups {
        let chars = group.value_chars();
        if group.changes.len() > limits.max_changes || chars > limits.max_value_chars {
            return Err(GroupTooLarge {
                target_id: group.target_id.clone(),
                changes: group.changes.len(),
                chars,
                max_changes: limits.max_changes,
                max_chars: limits.max_value_chars,
            });
        }
        let fits = out.last().is_some_and(|b| {
            b.changes.len() + group.changes.len() <= limits.max_changes
                && chars_in_last + chars <= limits.max_value_chars
        });
        if !fits {
            out.push(Batch {
                target_ids: Vec::new(),
                changes: Vec::new(),
            });
            chars_in_last = 0;
        }
        if let Some(batch) = out.last_mut() {
            batch.target_ids.push(group.target_id.clone());
            batch.changes.extend(group.changes.iter().cloned());
            chars_in_last += chars;
        }
    }
    Ok(out)
}
