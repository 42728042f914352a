//! The store's CIDR collections: CreateCidrCollection's idempotency and the account's quota,
//! ChangeCidrCollection on a copy (logged as a change, so GetChange answers its id),
//! DeleteCidrCollection of an empty collection, the lookups the listings and DNS use, and the
//! hook record sets will use to keep a collection they name from going away
//! ([`Store::cidr_in_use`]).

use std::collections::BTreeSet;

use super::{
    CidrChange, CidrCollection, CidrError, MAX_COLLECTIONS, check_caller_reference,
    check_collection_id, check_collection_name,
};
use crate::changes::ChangeRecord;
use crate::store::{Store, StoreError, random_uuid};

impl Store {
    /// The collection `id`, for DNS (which will route by its blocks) and anyone else reading
    /// the store.
    pub fn cidr_collection(&self, id: &str) -> Option<&CidrCollection> {
        self.cidr_collections.get(id)
    }

    /// Every collection, in id order.
    pub fn cidr_collections(&self) -> impl Iterator<Item = &CidrCollection> {
        self.cidr_collections.values()
    }

    /// The collection a path names.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an id not of Route 53's shape, `NoSuchCidrCollectionException` for
    /// one the store does not hold.
    pub fn find_cidr_collection(&self, id: &str) -> Result<&CidrCollection, StoreError> {
        check_collection_id(id)?;
        self.cidr_collection(id)
            .ok_or_else(|| CidrError::NoSuchCollection(id.to_owned()).into())
    }

    /// The locations of collection `collection_id` that record sets use (`*` included), so that
    /// they must not go away: a ChangeCidrCollection that would empty one asks. One pass over
    /// every record set of every zone (the state's bound, `--max-record-sets`), once per request
    /// the rate limiter has let in, however many locations it empties.
    pub fn cidr_locations_in_use(&self, collection_id: &str) -> BTreeSet<&str> {
        self.zones
            .values()
            .flat_map(|z| z.records.sets())
            .filter_map(|s| s.cidr.as_ref())
            .filter(|r| r.collection_id == collection_id)
            .map(|r| r.location_name.as_str())
            .collect()
    }

    /// Whether a record set uses collection `collection_id` (with `location`: that location), so
    /// that it must not go away (DeleteCidrCollection asks). One pass over every record set.
    pub fn cidr_in_use(&self, collection_id: &str, location: Option<&str>) -> bool {
        self.zones.values().any(|z| {
            z.records.sets().any(|s| {
                s.cidr.as_ref().is_some_and(|r| {
                    r.collection_id == collection_id
                        && location.is_none_or(|l| r.location_name == l)
                })
            })
        })
    }

    /// Creates a collection, or returns the one of the same name when it was created with the
    /// same caller reference (a retry; the flag is false then).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad name or caller reference; `CidrCollectionAlreadyExistsException`
    /// for a name taken with another caller reference; `LimitsExceeded` past
    /// [`MAX_COLLECTIONS`].
    pub fn create_cidr_collection(
        &mut self,
        name: &str,
        caller_reference: &str,
    ) -> Result<(CidrCollection, bool), StoreError> {
        check_collection_name(name)?;
        check_caller_reference(caller_reference)?;
        if let Some(existing) = self.cidr_collections.values().find(|c| c.name == name) {
            return if existing.caller_reference == caller_reference {
                Ok((existing.clone(), false))
            } else {
                Err(CidrError::AlreadyExists(name.to_owned()).into())
            };
        }
        if self.cidr_collections.len() >= MAX_COLLECTIONS {
            return Err(CidrError::LimitsExceeded(format!(
                "This account already holds {MAX_COLLECTIONS} CIDR collections, the lab's limit; \
                 delete one you no longer need first"
            ))
            .into());
        }
        let id = loop {
            let id = random_uuid();
            if !self.cidr_collections.contains_key(&id) {
                break id;
            }
        };
        let collection = CidrCollection::new(id.clone(), name.to_owned(), caller_reference.into());
        self.touched.cidr_collections.insert(id.clone());
        self.cidr_collections.insert(id, collection.clone());
        Ok((collection, true))
    }

    /// Applies a ChangeCidrCollection ([`CidrCollection::apply`]) and logs it as a change.
    /// A location the change removes must not be in use by record sets
    /// ([`Store::cidr_in_use`]).
    ///
    /// # Errors
    ///
    /// `InvalidInput`, `NoSuchCidrCollectionException`, and [`CidrCollection::apply`]'s;
    /// `CidrBlockInUseException` for a location in use that would go away.
    pub fn change_cidr_collection(
        &mut self,
        id: &str,
        version: Option<u64>,
        changes: &[CidrChange],
        now_ms: u64,
    ) -> Result<ChangeRecord, StoreError> {
        let current = self.find_cidr_collection(id)?;
        let (next, removed) = current.apply(version, changes)?;
        let used = if removed.is_empty() {
            BTreeSet::new()
        } else {
            self.cidr_locations_in_use(id)
        };
        if let Some(location) = removed.iter().find(|l| used.contains(l.as_str())) {
            return Err(CidrError::BlockInUse(format!(
                "location {location} of collection {id} is used by record sets; the change would \
                 remove its last block. Change those record sets first"
            ))
            .into());
        }
        if next != *current {
            self.touched.cidr_collections.insert(id.to_owned());
            self.cidr_collections.insert(id.to_owned(), next);
        }
        Ok(self.record_change(None, now_ms))
    }

    /// Deletes a collection that holds no block and that no record set uses.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, `NoSuchCidrCollectionException`, `CidrCollectionInUseException`.
    pub fn delete_cidr_collection(&mut self, id: &str) -> Result<(), StoreError> {
        let current = self.find_cidr_collection(id)?;
        if !current.is_empty() || self.cidr_in_use(id, None) {
            return Err(CidrError::InUse(id.to_owned()).into());
        }
        self.cidr_collections.remove(id);
        self.touched.cidr_collections.insert(id.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChangeAction;
    use super::*;

    fn put(location: &str, blocks: &[&str]) -> CidrChange {
        CidrChange {
            location: location.into(),
            action: ChangeAction::Put,
            blocks: blocks.iter().map(|b| b.parse().unwrap()).collect(),
        }
    }

    fn cidr(e: Result<impl std::fmt::Debug, StoreError>) -> CidrError {
        match e {
            Err(StoreError::Cidr(e)) => e,
            other => panic!("expected a CIDR collection error, got {other:?}"),
        }
    }

    #[test]
    fn creation_is_idempotent_per_name_and_reference_and_bounded() {
        let mut s = Store::default();
        let (a, created) = s.create_cidr_collection("lab", "r1").unwrap();
        assert!(created);
        assert!(super::super::is_collection_id(&a.id), "{}", a.id);
        assert_eq!((a.version, a.name.as_str()), (1, "lab"));
        assert!(s.take_touched().cidr_collections.contains(&a.id));
        let (again, created) = s.create_cidr_collection("lab", "r1").unwrap();
        assert_eq!((again, created), (a.clone(), false));
        assert!(s.take_touched().is_empty(), "a retry writes nothing");
        assert_eq!(
            cidr(s.create_cidr_collection("lab", "r2")),
            CidrError::AlreadyExists("lab".into())
        );
        assert!(matches!(
            cidr(s.create_cidr_collection("a b", "r")),
            CidrError::InvalidInput(_)
        ));
        for i in 1..MAX_COLLECTIONS {
            s.create_cidr_collection(&format!("c{i}"), "r").unwrap();
        }
        assert!(matches!(
            cidr(s.create_cidr_collection("one-more", "r")),
            CidrError::LimitsExceeded(_)
        ));
        // Deleting one makes room; the retry of an existing one is still answered.
        s.delete_cidr_collection(&a.id).unwrap();
        s.create_cidr_collection("one-more", "r").unwrap();
        assert!(!s.create_cidr_collection("one-more", "r").unwrap().1);
    }

    #[test]
    fn changes_are_logged_and_only_real_ones_touch_the_collection() {
        let mut s = Store::default();
        let (c, _) = s.create_cidr_collection("lab", "r").unwrap();
        s.take_touched();
        let change = s
            .change_cidr_collection(&c.id, Some(1), &[put("edge", &["192.0.2.0/24"])], 7)
            .unwrap();
        assert_eq!(s.get_change(&change.id).unwrap().submitted_at_ms, 7);
        let touched = s.take_touched();
        assert!(touched.cidr_collections.contains(&c.id));
        assert!(touched.changed().everything, "DNS is told");
        assert_eq!(s.cidr_collection(&c.id).unwrap().version, 2);
        let blocks: Vec<_> = s.cidr_collection(&c.id).unwrap().blocks().collect();
        assert_eq!(blocks, [("192.0.2.0/24".parse().unwrap(), "edge")]);
        // A no-op is acknowledged and logged, but does not touch the collection.
        s.change_cidr_collection(&c.id, Some(2), &[put("edge", &["192.0.2.0/24"])], 8)
            .unwrap();
        let touched = s.take_touched();
        assert!(touched.cidr_collections.is_empty());
        assert_eq!(touched.changes_logged, 1);
        assert!(matches!(
            cidr(s.change_cidr_collection(&c.id, Some(1), &[put("x", &["10.0.0.0/8"])], 9)),
            CidrError::VersionMismatch {
                given: 1,
                current: 2
            }
        ));
        assert!(s.take_touched().is_empty(), "a refused change logs nothing");
    }

    #[test]
    fn lookups_check_the_id_shape_then_existence() {
        let mut s = Store::default();
        let missing = "0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b";
        assert!(matches!(
            cidr(s.find_cidr_collection("nope")),
            CidrError::InvalidInput(_)
        ));
        assert_eq!(
            cidr(s.find_cidr_collection(missing)),
            CidrError::NoSuchCollection(missing.into())
        );
        assert_eq!(
            cidr(s.change_cidr_collection(missing, None, &[put("a", &["10.0.0.0/8"])], 1)),
            CidrError::NoSuchCollection(missing.into())
        );
        assert_eq!(
            cidr(s.delete_cidr_collection(missing)),
            CidrError::NoSuchCollection(missing.into())
        );
        assert_eq!(s.cidr_collection(missing), None);
    }

    #[test]
    fn only_an_empty_collection_is_deleted() {
        let mut s = Store::default();
        let (c, _) = s.create_cidr_collection("lab", "r").unwrap();
        s.change_cidr_collection(&c.id, None, &[put("edge", &["192.0.2.0/24"])], 1)
            .unwrap();
        s.take_touched();
        assert_eq!(
            cidr(s.delete_cidr_collection(&c.id)),
            CidrError::InUse(c.id.clone())
        );
        assert!(s.take_touched().is_empty());
        let empty = CidrChange {
            action: ChangeAction::DeleteIfExists,
            ..put("edge", &["192.0.2.0/24"])
        };
        s.change_cidr_collection(&c.id, None, &[empty], 2).unwrap();
        s.delete_cidr_collection(&c.id).unwrap();
        assert!(s.take_touched().cidr_collections.contains(&c.id));
        assert_eq!(s.cidr_collections().count(), 0);
    }
}
