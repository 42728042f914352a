//! The store's changes: ChangeResourceRecordSets (a batch applied atomically by Route 53's rules
//! and within the state's bounds, bumping the zone's serial), the change log every change is
//! noted in (the last [`MAX_CHANGE_LOG`]), and GetChange.

use std::collections::BTreeSet;

use registry::model::{Action, CIDR_DEFAULT_LOCATION, Change, RrType};
use registry::name::Fqdn;
use registry::zone::{ChangeError, ZoneRecords};

use super::{ChangeRecord, MAX_CHANGE_LOG};
use crate::store::{MAX_COMMENT_CHARS, Store, StoreError, Totals, check_length, has_id_shape};

impl Store {
    /// Every change in the log, oldest first, and when the newest forgotten one was submitted.
    pub fn change_log(&self) -> (impl Iterator<Item = &ChangeRecord>, Option<u64>) {
        (self.changes.iter(), self.forgotten_until_ms)
    }

    /// Logs a change, forgetting the oldest beyond [`MAX_CHANGE_LOG`].
    pub(crate) fn record_change(&mut self, comment: Option<String>, now_ms: u64) -> ChangeRecord {
        let change = ChangeRecord {
            id: self.fresh_id('C'),
            submitted_at_ms: now_ms,
            comment,
        };
        self.changes.push_back(change.clone());
        self.touched.changes_logged += 1;
        while self.changes.len() > MAX_CHANGE_LOG {
            if let Some(old) = self.changes.pop_front() {
                self.forgotten_until_ms = Some(
                    self.forgotten_until_ms
                        .map_or(old.submitted_at_ms, |t| t.max(old.submitted_at_ms)),
                );
            }
        }
        change
    }

    /// Applies a change batch atomically (Route 53's rules), bumping the zone's serial.
    pub fn change(
        &mut self,
        zone_id: &str,
        changes: &[Change],
        comment: Option<String>,
        now_ms: u64,
    ) -> Result<ChangeRecord, StoreError> {
        if let Some(c) = &comment {
            check_length("changeBatch.comment", c, MAX_COMMENT_CHARS)?;
        }
        let id = self.zone(zone_id)?.id.clone();
        // The lab models aliases to record sets in the same hosted zone only.
        let elsewhere: Vec<String> = changes
            .iter()
            .filter(|c| c.action != Action::Delete)
            .filter_map(|c| c.record_set.alias.as_ref().map(|a| (c, a)))
            .filter(|(_, a)| a.hosted_zone_id.trim_start_matches("/hostedzone/") != id)
            .map(|(c, a)| {
                format!(
                    "Tried to create an alias that targets {}, type {} in zone {}, but the lab resolver \
                     supports alias targets in the same hosted zone ({id}) only",
                    a.dns_name, c.record_set.rtype, a.hosted_zone_id
                )
            })
            .collect();
        if !elsewhere.is_empty() {
            return Err(ChangeError::InvalidChangeBatch(elsewhere).into());
        }
        if let Some(missing) = changes
            .iter()
            .filter(|c| c.action != Action::Delete)
            .filter_map(|c| c.record_set.health_check_id.as_ref())
            .find(|id| !self.health_checks.contains_key(id.as_str()))
        {
            return Err(StoreError::NoSuchHealthCheck(missing.clone()));
        }
        // An IP-based set names a collection the store holds, and a location in it (or `*`),
        // once the batch passed Route 53's input checks (an id of the wrong shape is InvalidInput).
        registry::zone::validate_input(changes)?;
        let unknown: Vec<String> = changes
            .iter()
            .filter(|c| c.action != Action::Delete)
            .filter_map(|c| c.record_set.cidr.as_ref().map(|r| (c, r)))
            .filter_map(|(c, r)| {
                let why = match self.cidr_collection(&r.collection_id) {
                    None => format!("CIDR collection {} does not exist", r.collection_id),
                    Some(_) if r.location_name == CIDR_DEFAULT_LOCATION => return None,
                    Some(col) if col.has_location(&r.location_name) => return None,
                    Some(_) => format!(
                        "CIDR location {} does not exist in collection {}",
                        r.location_name, r.collection_id
                    ),
                };
                Some(format!("{why}, in the record set {}", c.record_set.key()))
            })
            .collect();
        if !unknown.is_empty() {
            return Err(ChangeError::InvalidChangeBatch(unknown).into());
        }
        let zone = self
            .zones
            .get_mut(&id)
            .ok_or_else(|| StoreError::NoSuchHostedZone(id.clone()))?;
        // An O(1) copy (a persistent map), changed in O(changes · log n); kept only if the
        // whole state stays within its bound.
        let mut records = zone.records.clone();
        records.apply_within(
            changes,
            &dns::rdata::check,
            self.limits.record_sets_per_zone,
        )?;
        let groups: BTreeSet<(Fqdn, RrType)> = changes
            .iter()
            .map(|c| (c.record_set.name.clone(), c.record_set.rtype))
            .collect();
        let count = |r: &ZoneRecords| {
            Totals::of(
                groups
                    .iter()
                    .flat_map(|(name, rtype)| r.group(name, *rtype)),
            )
        };
        let totals = self.totals.replace(count(&zone.records), count(&records));
        totals.check(self.totals, self.limits)?;
        zone.records = records;
        zone.serial = zone.serial.wrapping_add(1).max(1);
        self.totals = totals;
        self.touched.zones.insert(id.clone());
        for (name, rtype) in groups {
            self.touched.groups.insert((id.clone(), name, rtype));
        }
        Ok(self.record_change(comment, now_ms))
    }

    /// A change by id (with or without `/change/`). A change already dropped from the log (an id
    /// of this store's shape while the log has forgotten some) comes back without its comment,
    /// submitted when the newest forgotten one was: long applied, so INSYNC.
    pub fn get_change(&self, id: &str) -> Result<ChangeRecord, StoreError> {
        let id = id.trim_start_matches("/change/");
        if let Some(c) = self.changes.iter().find(|c| c.id == id) {
            return Ok(c.clone());
        }
        match self.forgotten_until_ms {
            Some(at) if has_id_shape(id, 'C') => Ok(ChangeRecord {
                id: id.to_owned(),
                submitted_at_ms: at,
                comment: None,
            }),
            _ => Err(StoreError::NoSuchChange(id.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::a;
    use crate::store::{StateLimits, random_id};

    #[test]
    fn the_change_log_keeps_the_last_changes_and_old_ids_answer_as_applied() {
        let mut s = Store::default();
        let (zone, first) = s.create_zone("lab.test", "r", None, 5).unwrap();
        let mut ids = vec![first.id.clone()];
        for i in 0..(MAX_CHANGE_LOG + 100) {
            let set = a("www.lab.test", "x", 1);
            let change = if i % 2 == 0 {
                Change::create(set)
            } else {
                Change::delete(set)
            };
            let now = 10 + u64::try_from(i).unwrap();
            ids.push(s.change(&zone.id, &[change], None, now).unwrap().id);
        }
        assert_eq!(s.changes.len(), MAX_CHANGE_LOG);
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "ids are distinct");
        assert!(ids.iter().all(|id| has_id_shape(id, 'C')), "{ids:?}");
        // The first change was forgotten: it answers, submitted no later than the log's horizon.
        let old = s.get_change(&format!("/change/{}", first.id)).unwrap();
        assert_eq!(old.id, first.id);
        assert!(old.submitted_at_ms <= s.changes[0].submitted_at_ms);
        let last = ids.last().unwrap();
        assert_eq!(&s.get_change(last).unwrap().id, last);
        // Not an id this store gives out: unknown.
        assert!(matches!(
            s.get_change("nope"),
            Err(StoreError::NoSuchChange(_))
        ));
    }

    #[test]
    fn each_zone_holds_its_quota_of_record_sets_the_default_or_a_raised_one() {
        let mut s = Store::default();
        assert_eq!(s.record_sets_per_zone(), registry::zone::MAX_RECORD_SETS);
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let (other, _) = s.create_zone("other.test", "o", None, 0).unwrap();
        // The apex SOA and NS count: room for 2 more in each zone.
        s.set_limits(StateLimits {
            record_sets_per_zone: 4,
            ..StateLimits::default()
        });
        let create = |name: &str, ids: &[&str]| -> Vec<Change> {
            ids.iter()
                .map(|id| Change::create(a(name, id, 1)))
                .collect()
        };
        s.change(&zone.id, &create("www.lab.test", &["a", "b"]), None, 1)
            .unwrap();
        let e = s
            .change(&zone.id, &create("www.lab.test", &["c"]), None, 2)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("lab.test. would hold 5 record sets; the limit is 4"),
            "{e}"
        );
        // The quota is per zone: another zone has its own.
        s.change(&other.id, &create("www.other.test", &["a", "b"]), None, 3)
            .unwrap();
        s.set_limits(StateLimits {
            record_sets_per_zone: 5,
            ..StateLimits::default()
        });
        s.change(&zone.id, &create("www.lab.test", &["c"]), None, 4)
            .unwrap();
        assert_eq!(s.record_sets_per_zone(), 5);
    }

    #[test]
    fn the_whole_state_is_bounded_and_a_state_past_the_bound_may_shrink() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        s.take_touched();
        // The apex SOA and NS count: room for 3 more.
        s.set_limits(StateLimits {
            record_sets: 5,
            bytes: u64::MAX,
            ..StateLimits::default()
        });
        let create = |ids: &[&str]| -> Vec<Change> {
            ids.iter()
                .map(|id| Change::create(a("www.lab.test", id, 1)))
                .collect()
        };
        s.change(&zone.id, &create(&["a", "b"]), None, 1).unwrap();
        let e = s
            .change(&zone.id, &create(&["c", "d"]), None, 2)
            .unwrap_err();
        let m = e.to_string();
        assert!(
            matches!(e, StoreError::Change(ChangeError::InvalidChangeBatch(_)))
                && m.contains("6 record sets")
                && m.contains("limit is 5")
                && m.contains("--max-record-sets"),
            "{m}"
        );
        assert_eq!(s.totals().sets, 4, "nothing applied");
        assert_eq!(
            s.take_touched().groups.len(),
            1,
            "only the first change touched"
        );
        s.change(&zone.id, &create(&["c"]), None, 3).unwrap();
        // Lowered below the state: deleting is allowed, adding is not.
        s.set_limits(StateLimits {
            record_sets: 2,
            bytes: 10,
            ..StateLimits::default()
        });
        let e = s.change(&zone.id, &create(&["d"]), None, 4).unwrap_err();
        assert!(e.to_string().contains("--max-state-mib"), "{e}");
        s.change(
            &zone.id,
            &[Change::delete(a("www.lab.test", "a", 1))],
            None,
            5,
        )
        .unwrap();
        assert_eq!(s.totals().sets, 4);
        let mut recounted = s.clone();
        recounted.recount();
        assert_eq!(recounted.totals(), s.totals());
    }

    #[test]
    fn before_anything_is_forgotten_an_unknown_id_is_no_such_change() {
        let mut s = Store::default();
        s.create_zone("lab.test", "r", None, 0).unwrap();
        let unknown = random_id('C');
        assert!(matches!(
            s.get_change(&unknown),
            Err(StoreError::NoSuchChange(_))
        ));
    }

    #[test]
    fn an_older_state_with_a_change_map_and_a_counter_at_the_top_loads_and_takes_changes() {
        let old = serde_json::json!({
            "zones": {},
            "changes": {
                "C2": {"id": "C2", "submitted_at_ms": 20, "comment": null},
                "C1": {"id": "C1", "submitted_at_ms": 10, "comment": "first"}
            },
            "counter": u64::MAX
        });
        let mut s: Store = serde_json::from_value(old).unwrap();
        assert_eq!(s.changes[0].id, "C1", "ordered by submission");
        assert_eq!(s.get_change("C2").unwrap().submitted_at_ms, 20);
        let (zone, _) = s.create_zone("lab.test", "r", None, 30).unwrap();
        s.change(
            &zone.id,
            &[Change::create(a("www.lab.test", "x", 1))],
            None,
            31,
        )
        .unwrap();
        let mut again: Store = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        again.recount();
        assert_eq!(again, s, "the new form round-trips");
    }
}
