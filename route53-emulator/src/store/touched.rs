//! What one change to the store touched: the rows the state database rewrites
//! ([`crate::db`]) and the names the DNS snapshot rebuilds ([`Touched::changed`]), so that a
//! change costs what it changes, not the size of the state.

use std::collections::{BTreeMap, BTreeSet};

use dns::snapshot::Changed;

use registry::model::RrType;
use registry::name::Fqdn;

/// The parts of the store a change touched. Each is named by its key; whether it was created,
/// changed or deleted is read from the store afterwards (present: written; absent: deleted).
#[derive(Debug, Clone, Default)]
pub struct Touched {
    /// Hosted zones by id whose own row changed (created, deleted, a new serial).
    pub zones: BTreeSet<String>,
    /// Hosted zones created or deleted: the snapshot's zone list changes.
    pub zone_list: bool,
    /// Record-set groups by (zone id, name, type): every set of the name and type is written
    /// again (a weighted group's TTL is one for all its sets).
    pub groups: BTreeSet<(String, Fqdn, RrType)>,
    /// Changes appended to the log (the oldest beyond the bound are dropped).
    pub changes_logged: usize,
    /// Health checks by id (created, updated, deleted).
    pub checks: BTreeSet<String>,
    /// Caller references of deleted health checks appended.
    pub references_kept: usize,
    /// Tagged resources by their key in the store.
    pub tags: BTreeSet<String>,
    /// CIDR collections by id (created, changed, deleted).
    pub cidr_collections: BTreeSet<String>,
}

impl Touched {
    /// What the DNS snapshot rebuilds: everything when a zone was created or deleted, a health
    /// check changed or a CIDR collection did (record sets in any zone may route by it),
    /// otherwise each touched zone (its serial) and the names of the groups touched in it.
    pub fn changed(&self) -> Changed {
        if self.zone_list || !self.checks.is_empty() || !self.cidr_collections.is_empty() {
            return Changed {
                everything: true,
                names: BTreeMap::new(),
            };
        }
        let mut names: BTreeMap<String, BTreeSet<Fqdn>> = BTreeMap::new();
        for id in &self.zones {
            names.entry(id.clone()).or_default();
        }
        for (id, name, _) in &self.groups {
            names.entry(id.clone()).or_default().insert(name.clone());
        }
        Changed {
            everything: false,
            names,
        }
    }

    /// True when nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
            && !self.zone_list
            && self.groups.is_empty()
            && self.changes_logged == 0
            && self.checks.is_empty()
            && self.references_kept == 0
            && self.tags.is_empty()
            && self.cidr_collections.is_empty()
    }
}

/// Bookkeeping of the store's last change, not state: two stores with the same zones, checks
/// and tags are equal whatever their last change touched.
impl PartialEq for Touched {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Touched {}
