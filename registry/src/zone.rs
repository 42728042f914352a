//! An in-memory hosted zone that applies ChangeBatches with Route 53's strict semantics:
//! atomic batches, exact-match DELETE, CREATE of an existing set fails.

use std::collections::BTreeMap;

use crate::model::{Action, Change, RecordKey, RecordSet};

/// A hosted zone's record sets, keyed as Route 53 keys them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneRecords {
    sets: BTreeMap<RecordKey, RecordSet>,
}

impl ZoneRecords {
    /// A zone holding `sets` (later duplicates of a key replace earlier ones).
    pub fn from_sets(sets: impl IntoIterator<Item = RecordSet>) -> Self {
        Self {
            sets: sets.into_iter().map(|s| (s.key(), s)).collect(),
        }
    }

    /// All record sets, in key order.
    pub fn sets(&self) -> impl Iterator<Item = &RecordSet> {
        self.sets.values()
    }

    /// Applies a batch atomically. On error nothing changes, and every problem found is
    /// reported in Route 53's wording.
    pub fn apply(&mut self, changes: &[Change]) -> Result<(), Vec<String>> {
        let mut next = self.sets.clone();
        let mut errors = Vec::new();
        for change in changes {
            let set = &change.record_set;
            let key = set.key();
            match change.action {
                Action::Create => match next.entry(key) {
                    std::collections::btree_map::Entry::Occupied(e) => errors.push(format!(
                        "Tried to create resource record set {} but it already exists",
                        e.key()
                    )),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(set.clone());
                    }
                },
                Action::Delete => match next.get(&key) {
                    None => errors.push(format!(
                        "Tried to delete resource record set {key} but it was not found"
                    )),
                    Some(existing) if !same_content(existing, set) => errors.push(format!(
                        "Tried to delete resource record set {key} but the values provided do not match the current values"
                    )),
                    Some(_) => {
                        next.remove(&key);
                    }
                },
                Action::Upsert => {
                    next.insert(key, set.clone());
                }
            }
        }
        if errors.is_empty() {
            self.sets = next;
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Route 53's DELETE match: same TTL, weight and values (values compared as a set).
fn same_content(a: &RecordSet, b: &RecordSet) -> bool {
    let sorted = |s: &RecordSet| {
        let mut v = s.values.clone();
        v.sort();
        v
    };
    a.ttl == b.ttl && a.weight == b.weight && a.opaque == b.opaque && sorted(a) == sorted(b)
}
