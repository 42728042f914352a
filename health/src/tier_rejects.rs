//! Which zones' changes Route 53 refused for good, so that one zone never blocks the tier: pure
//! code, time passed in.
//!
//! The tier's changes normally travel in one batch (one request a round, and only in a round
//! that changes something). Route 53 applies a batch atomically, so a permanent
//! `InvalidChangeBatch` caused by one zone's change (an alias to a pool that emptied since it
//! was read, a quota) would refuse every zone's change, round after round. After such a
//! rejection, the tier's controller submits the batch's groups one by one (one request per
//! zone that had a change, once) and remembers here each zone Route 53 refused. From then on:
//!
//! - a refused zone's change travels in a batch of its own, so the others' batch goes through;
//! - the same change is not submitted again for [`RETRY_AFTER_SECS`] (a different one, when
//!   the decision or the spec changed, is tried at the next round). "The same" compares the
//!   changes of the records at the global name, not of the ownership TXT, whose `since=` moves
//!   with every round that asks again;
//! - a zone is forgotten once Route 53 accepts a change of its record at the global name, or
//!   once it has had nothing left to change for [`RETRY_AFTER_SECS`] after the refusal;
//! - while the regional fallback's change stands refused (for [`RETRY_AFTER_SECS`]), the tier's
//!   decision counts no fallback, so the healthiest zone is kept rather than every zone taken
//!   out for a fallback that cannot be published.
//!
//! So the cost of a permanently refused zone is one extra request per changed group once, then
//! at most one request per [`RETRY_AFTER_SECS`] per refused zone.

use std::collections::BTreeMap;

use registry::model::{Change, RrType, SetId};
use registry::plan::{ChangeGroup, Plan};

/// How long the same refused change waits before it is submitted again (seconds).
pub const RETRY_AFTER_SECS: u64 = 300;

/// A refused change (its [`signature`]) and when it was refused (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    changes: Vec<Change>,
    at: u64,
}

impl Refused {
    /// True less than [`RETRY_AFTER_SECS`] after the refusal. A refusal dated after `now` (the
    /// wall clock stepped back) counts as expired, so a clock jump never stretches a hold.
    fn recent(&self, now: u64) -> bool {
        self.at <= now && now < self.at.saturating_add(RETRY_AFTER_SECS)
    }
}

/// What makes two changes of a zone the same for holding back: every change but the ownership
/// TXT's.
fn signature(group: &ChangeGroup) -> Vec<Change> {
    group
        .changes
        .iter()
        .filter(|c| c.record_set.rtype != RrType::Txt)
        .cloned()
        .collect()
}

/// The zones whose last change Route 53 refused for good.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejects {
    zones: BTreeMap<SetId, Refused>,
}

/// A round's plan, sorted for submission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sorted {
    /// The groups of zones with no refusal on record: one plan, normally one batch.
    pub together: Plan,
    /// The groups of refused zones trying a new change, or the same one after
    /// [`RETRY_AFTER_SECS`]: one batch each.
    pub alone: Vec<ChangeGroup>,
    /// The zones whose same refused change is held back this round.
    pub held: Vec<SetId>,
}

impl Rejects {
    /// Sorts `plan`'s groups (see [`Sorted`]); zones with no group in it (their records say
    /// what is wanted now) are forgotten once [`RETRY_AFTER_SECS`] have passed since the
    /// refusal.
    pub fn sort(&mut self, plan: Plan, now: u64) -> Sorted {
        self.zones
            .retain(|id, r| r.recent(now) || plan.groups.iter().any(|g| g.target_id == *id));
        let mut sorted = Sorted {
            together: Plan {
                groups: Vec::new(),
                skipped: plan.skipped,
                guard: None,
            },
            ..Sorted::default()
        };
        for group in plan.groups {
            match self.zones.get(&group.target_id) {
                None => sorted.together.groups.push(group),
                Some(r) if r.changes == signature(&group) && r.recent(now) => {
                    sorted.held.push(group.target_id);
                }
                Some(_) => sorted.alone.push(group),
            }
        }
        sorted
    }

    /// Route 53 accepted `group`. A change of the zone's record at the global name ends its
    /// refusal; one of its ownership record alone proves nothing about the refused change.
    pub fn accepted(&mut self, group: &ChangeGroup) {
        if !signature(group).is_empty() {
            self.zones.remove(&group.target_id);
        }
    }

    /// Route 53 refused `group` for good at `now`.
    pub fn refused(&mut self, group: &ChangeGroup, now: u64) {
        self.zones.insert(
            group.target_id.clone(),
            Refused {
                changes: signature(group),
                at: now,
            },
        );
    }

    /// True while `id`'s last change stands refused.
    pub fn is_refused(&self, id: &str) -> bool {
        self.zones.contains_key(id)
    }

    /// True when `id`'s change was refused less than [`RETRY_AFTER_SECS`] ago.
    pub fn refused_recently(&self, id: &str, now: u64) -> bool {
        self.zones.get(id).is_some_and(|r| r.recent(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::RecordSet;
    use registry::name::Fqdn;
    use registry::testing::sid;

    /// A zone's group: its record at the global name says `value`, its ownership TXT `since`.
    fn group_since(id: &str, value: &str, since: u64) -> ChangeGroup {
        let set = |name: &str, rtype: RrType, value: String| RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype,
            set_identifier: Some(id.into()),
            weight: None,
            ttl: Some(60),
            values: vec![value],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        };
        ChangeGroup {
            target_id: sid(id),
            changes: vec![
                Change::create(set("edge.lab.test", RrType::A, value.into())),
                Change::create(set(
                    "_wavelb.edge.lab.test",
                    RrType::Txt,
                    format!("\"since={since}\""),
                )),
            ],
        }
    }

    fn group(id: &str, value: &str) -> ChangeGroup {
        group_since(id, value, 1)
    }

    fn plan(groups: &[ChangeGroup]) -> Plan {
        Plan {
            groups: groups.to_vec(),
            skipped: Vec::new(),
            guard: None,
        }
    }

    fn ids(groups: &[ChangeGroup]) -> Vec<&str> {
        groups.iter().map(|g| g.target_id.as_str()).collect()
    }

    #[test]
    fn a_refused_zone_travels_alone_and_its_same_change_waits() {
        let mut r = Rejects::default();
        let (bos, nyc, dfw) = (
            group("bos", "192.0.2.1"),
            group("nyc", "192.0.2.1"),
            group("dfw", "192.0.2.1"),
        );
        // Nothing refused yet: one plan.
        let s = r.sort(plan(&[bos.clone(), nyc.clone()]), 100);
        assert_eq!(ids(&s.together.groups), ["bos", "nyc"]);
        assert!(s.alone.is_empty() && s.held.is_empty());
        // nyc was refused at 100: its same change is held back until 100 + RETRY_AFTER_SECS,
        // the others still travel together.
        r.refused(&nyc, 100);
        let s = r.sort(plan(&[bos.clone(), nyc.clone(), dfw.clone()]), 101);
        assert_eq!(ids(&s.together.groups), ["bos", "dfw"]);
        assert_eq!(s.held, ["nyc"]);
        // The same record with a newer ownership record (since= moves) is the same change.
        let s = r.sort(
            plan(&[group_since("nyc", "192.0.2.1", 150)]),
            100 + RETRY_AFTER_SECS - 1,
        );
        assert_eq!(s.held, ["nyc"]);
        // Then it is tried again, alone.
        let s = r.sort(plan(&[bos.clone(), nyc.clone()]), 100 + RETRY_AFTER_SECS);
        assert_eq!(ids(&s.together.groups), ["bos"]);
        assert_eq!(ids(&s.alone), ["nyc"]);
        // A different change of a refused zone is tried at once, alone.
        let s = r.sort(plan(&[group("nyc", "192.0.2.9")]), 102);
        assert_eq!(ids(&s.alone), ["nyc"]);
        assert!(r.is_refused("nyc"));
        assert!(r.refused_recently("nyc", 102));
        // A change of its ownership record alone is accepted, but proves nothing.
        let txt_only = ChangeGroup {
            target_id: sid("nyc"),
            changes: nyc.changes[1..].to_vec(),
        };
        r.accepted(&txt_only);
        assert!(r.is_refused("nyc"));
        // A change of its record is accepted: back in the common batch.
        r.accepted(&nyc);
        assert!(!r.is_refused("nyc"));
        let s = r.sort(plan(&[bos, nyc.clone()]), 103);
        assert_eq!(ids(&s.together.groups), ["bos", "nyc"]);
        // A zone with nothing left to change is forgotten once the wait is over.
        r.refused(&nyc, 104);
        r.sort(plan(std::slice::from_ref(&dfw)), 105);
        assert!(r.refused_recently("nyc", 105));
        r.sort(plan(&[dfw]), 104 + RETRY_AFTER_SECS);
        assert!(!r.is_refused("nyc") && !r.refused_recently("nyc", 104 + RETRY_AFTER_SECS));
        let s = r.sort(plan(&[nyc]), 106 + RETRY_AFTER_SECS);
        assert_eq!(ids(&s.together.groups), ["nyc"]);
    }

    #[test]
    fn a_wall_clock_stepped_back_never_stretches_a_hold() {
        let mut r = Rejects::default();
        let nyc = group("nyc", "192.0.2.1");
        r.refused(&nyc, 10_000);
        assert!(r.refused_recently("nyc", 10_001));
        // The clock steps back an hour: the refusal is in the future, so it no longer holds.
        assert!(!r.refused_recently("nyc", 6_400));
        let s = r.sort(plan(std::slice::from_ref(&nyc)), 6_400);
        assert!(s.held.is_empty(), "{s:?}");
        assert_eq!(ids(&s.alone), ["nyc"]);
    }
}
