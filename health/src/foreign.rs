//! Which members of a pool or of the zone tier turned foreign since the last read, so the
//! controller counts each turn and warns once, not every round. Pure: the adapter passes what it
//! read and acts on what comes back.
//!
//! A foreign member is never changed or deleted (a record wavelb did not write never decides a
//! change), but it may still be answered: a spoofed ownership record beside a tier member pins
//! that zone in the tier, dead targets and all. Nothing here changes that; it makes it visible.
//! Bounded by the pool: every observation forgets the set identifiers the read no longer shows.

use std::collections::HashMap;

/// A set identifier as read (`None` for a record set without one).
pub type SetId = Option<String>;

/// One member that became foreign at this read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turned {
    /// Its set identifier.
    pub id: SetId,
    /// Why it is foreign (the classifier's words).
    pub reason: String,
    /// True when the previous read showed it owned: a transition owned → foreign (counted).
    /// False when it was first seen foreign (after a start, or a new record set).
    pub was_owned: bool,
}

/// What the controller saw of each member at its last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForeignWatch {
    /// Per set identifier: true while foreign, false while owned.
    foreign: HashMap<SetId, bool>,
}

impl ForeignWatch {
    /// Follows one read: `owned` are the set identifiers this owner controls, `foreign` the
    /// others with their reasons. Returns the members that became foreign at this read, each once
    /// until it is seen owned (or gone) again; forgets the set identifiers the read no longer
    /// shows.
    pub fn observe<'a>(
        &mut self,
        owned: impl IntoIterator<Item = &'a str>,
        foreign: impl IntoIterator<Item = (SetId, String)>,
    ) -> Vec<Turned> {
        let mut next: HashMap<SetId, bool> = owned
            .into_iter()
            .map(|id| (Some(id.to_owned()), false))
            .collect();
        let mut turned = Vec::new();
        for (id, reason) in foreign {
            let before = self.foreign.get(&id).copied();
            if before != Some(true) && !next.contains_key(&id) {
                turned.push(Turned {
                    id: id.clone(),
                    reason,
                    was_owned: before == Some(false),
                });
            }
            next.insert(id, true);
        }
        self.foreign = next;
        turned
    }

    /// How many members were foreign at the last read.
    pub fn count(&self) -> usize {
        self.foreign.values().filter(|f| **f).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn foreign(ids: &[&str]) -> Vec<(SetId, String)> {
        ids.iter()
            .map(|id| (Some((*id).to_owned()), format!("reason of {id}")))
            .collect()
    }

    fn ids(turned: &[Turned]) -> Vec<(&str, bool)> {
        turned
            .iter()
            .map(|t| (t.id.as_deref().unwrap_or("-"), t.was_owned))
            .collect()
    }

    #[test]
    fn a_member_turning_foreign_is_reported_once_until_it_is_owned_again() {
        let mut w = ForeignWatch::default();
        assert!(w.observe(["a", "b"], foreign(&[])).is_empty());
        // b turns foreign: reported once, as a transition, with its reason.
        let t = w.observe(["a"], foreign(&["b"]));
        assert_eq!(ids(&t), [("b", true)]);
        assert_eq!(t[0].reason, "reason of b");
        assert_eq!(w.count(), 1);
        for _ in 0..3 {
            assert!(w.observe(["a"], foreign(&["b"])).is_empty(), "once");
        }
        // Back to owned, then foreign again: reported again.
        assert!(w.observe(["a", "b"], foreign(&[])).is_empty());
        assert_eq!(w.count(), 0);
        assert_eq!(ids(&w.observe(["a"], foreign(&["b"]))), [("b", true)]);
    }

    #[test]
    fn a_member_first_seen_foreign_is_reported_but_not_as_a_transition() {
        let mut w = ForeignWatch::default();
        let t = w.observe(["a"], foreign(&["x"]));
        assert_eq!(ids(&t), [("x", false)]);
        assert!(w.observe(["a"], foreign(&["x"])).is_empty());
        // A record set without a set identifier is a member too.
        let t = w.observe(["a"], vec![(None, "simple routing".to_owned())]);
        assert_eq!(ids(&t), [("-", false)]);
        assert_eq!(w.count(), 1, "x is gone");
    }

    #[test]
    fn gone_members_are_forgotten() {
        let mut w = ForeignWatch::default();
        w.observe(["a"], foreign(&["x"]));
        // x deleted, then written again: a new record set, reported as new.
        w.observe(["a"], foreign(&[]));
        assert_eq!(w, {
            let mut only_a = ForeignWatch::default();
            only_a.observe(["a"], foreign(&[]));
            only_a
        });
        assert_eq!(ids(&w.observe(["a"], foreign(&["x"]))), [("x", false)]);
        // A member owned once, then gone, then back foreign: not a transition any more.
        w.observe(["a", "b"], foreign(&[]));
        w.observe(["a"], foreign(&[]));
        assert_eq!(ids(&w.observe(["a"], foreign(&["b"]))), [("b", false)]);
    }
}
