//! The resolver's state: hosted zones, their record sets and the change log. Pure: ids come
//! from a counter and times are passed in, so the API layer and tests drive it deterministically.

use std::collections::BTreeMap;

use registry::model::{Change, RecordSet};
use registry::name::Fqdn;
use registry::zone::{ChangeError, ZoneRecords};
use serde::{Deserialize, Serialize};

/// The TTL Route 53 gives a new zone's apex NS record.
const APEX_NS_TTL: u32 = 172_800;
/// The TTL Route 53 gives a new zone's apex SOA record.
const APEX_SOA_TTL: u32 = 900;

/// A hosted zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedZone {
    /// The id, without `/hostedzone/`.
    pub id: String,
    /// Its name.
    pub name: Fqdn,
    /// The caller reference it was created with.
    pub caller_reference: String,
    /// The optional comment.
    pub comment: Option<String>,
    /// The SOA serial served; it increases with every change.
    pub serial: u32,
    /// The record sets.
    pub records: ZoneRecords,
}

impl HostedZone {
    /// The name servers of the zone's delegation set.
    pub fn name_servers(&self) -> Vec<String> {
        vec![format!("ns.{}", self.name)]
    }
}

/// A submitted change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// The id, without `/change/`.
    pub id: String,
    /// When it was accepted, in unix milliseconds.
    pub submitted_at_ms: u64,
    /// The batch comment.
    pub comment: Option<String>,
}

/// Errors of the store, mapped onto Route 53 error codes by the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `NoSuchHostedZone`
    #[error("No hosted zone found with ID: {0}")]
    NoSuchHostedZone(String),
    /// `NoSuchChange`
    #[error("Could not find resource with ID: {0}")]
    NoSuchChange(String),
    /// `HostedZoneAlreadyExists`
    #[error("A hosted zone has already been created with the specified caller reference: {0}")]
    HostedZoneAlreadyExists(String),
    /// `HostedZoneNotEmpty`
    #[error(
        "The specified hosted zone contains non-required resource record sets and so cannot be deleted."
    )]
    HostedZoneNotEmpty,
    /// `InvalidDomainName`
    #[error("{0}")]
    InvalidDomainName(String),
    /// `InvalidInput` / `InvalidChangeBatch`
    #[error(transparent)]
    Change(#[from] ChangeError),
}

/// All hosted zones and changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    zones: BTreeMap<String, HostedZone>,
    changes: BTreeMap<String, ChangeRecord>,
    counter: u64,
}

impl Store {
    fn next_id(&mut self, prefix: char) -> String {
        self.counter += 1;
        // Route 53 ids are upper-case alphanumerics; a mixed counter keeps them unique and opaque.
        let mixed = self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0005_DEEC_E66D;
        format!("{prefix}{mixed:016X}")
    }

    /// Creates a hosted zone with its apex SOA and NS record sets.
    pub fn create_zone(
        &mut self,
        name: &str,
        caller_reference: &str,
        comment: Option<String>,
        now_ms: u64,
    ) -> Result<(HostedZone, ChangeRecord), StoreError> {
        let name = Fqdn::parse(name).map_err(|e| StoreError::InvalidDomainName(e.to_string()))?;
        if self
            .zones
            .values()
            .any(|z| z.caller_reference == caller_reference)
        {
            return Err(StoreError::HostedZoneAlreadyExists(
                caller_reference.to_owned(),
            ));
        }
        let id = self.next_id('Z');
        let apex = |rtype: &str, ttl: u32, value: String| RecordSet {
            name: name.clone(),
            rtype: rtype.into(),
            set_identifier: None,
            weight: None,
            ttl: Some(ttl),
            values: vec![value],
            opaque: None,
        };
        let ns = format!("ns.{name}");
        let records = ZoneRecords::from_sets(
            name.clone(),
            [
                apex("NS", APEX_NS_TTL, ns.clone()),
                apex(
                    "SOA",
                    APEX_SOA_TTL,
                    format!("{ns} hostmaster.{name} 1 7200 900 1209600 86400"),
                ),
            ],
        );
        let zone = HostedZone {
            id: id.clone(),
            name,
            caller_reference: caller_reference.to_owned(),
            comment,
            serial: 1,
            records,
        };
        self.zones.insert(id, zone.clone());
        let change = self.record_change(None, now_ms);
        Ok((zone, change))
    }

    fn record_change(&mut self, comment: Option<String>, now_ms: u64) -> ChangeRecord {
        let change = ChangeRecord {
            id: self.next_id('C'),
            submitted_at_ms: now_ms,
            comment,
        };
        self.changes.insert(change.id.clone(), change.clone());
        change
    }

    /// A zone by id (with or without `/hostedzone/`).
    pub fn zone(&self, id: &str) -> Result<&HostedZone, StoreError> {
        let id = id.trim_start_matches("/hostedzone/");
        self.zones
            .get(id)
            .ok_or_else(|| StoreError::NoSuchHostedZone(id.to_owned()))
    }

    /// All zones, in id order.
    pub fn zones(&self) -> impl Iterator<Item = &HostedZone> {
        self.zones.values()
    }

    /// Deletes a zone; refused while it holds more than its apex SOA and NS.
    pub fn delete_zone(&mut self, id: &str, now_ms: u64) -> Result<ChangeRecord, StoreError> {
        let zone = self.zone(id)?;
        let required = |s: &RecordSet| s.name == zone.name && (s.rtype == "SOA" || s.rtype == "NS");
        if zone.records.sets().any(|s| !required(s)) {
            return Err(StoreError::HostedZoneNotEmpty);
        }
        let id = zone.id.clone();
        self.zones.remove(&id);
        Ok(self.record_change(None, now_ms))
    }

    /// Applies a change batch atomically (Route 53's rules), bumping the zone's serial.
    pub fn change(
        &mut self,
        zone_id: &str,
        changes: &[Change],
        comment: Option<String>,
        now_ms: u64,
    ) -> Result<ChangeRecord, StoreError> {
        let id = self.zone(zone_id)?.id.clone();
        let zone = self
            .zones
            .get_mut(&id)
            .ok_or_else(|| StoreError::NoSuchHostedZone(id.clone()))?;
        zone.records.apply(changes, &crate::rdata::check)?;
        zone.serial = zone.serial.wrapping_add(1).max(1);
        Ok(self.record_change(comment, now_ms))
    }

    /// A change by id (with or without `/change/`).
    pub fn get_change(&self, id: &str) -> Result<&ChangeRecord, StoreError> {
        let id = id.trim_start_matches("/change/");
        self.changes
            .get(id)
            .ok_or_else(|| StoreError::NoSuchChange(id.to_owned()))
    }
}

/// Route 53's listing order: by name with labels reversed, then type, then set identifier.
pub fn listing_key(set: &RecordSet) -> (String, String, String) {
    (
        reversed(set.name.as_str()),
        set.rtype.clone(),
        set.set_identifier.clone().unwrap_or_default(),
    )
}

/// `www.example.com.` → `com.example.www`
pub fn reversed(name: &str) -> String {
    let trimmed = name.trim_end_matches('.');
    trimmed.rsplit('.').collect::<Vec<_>>().join(".")
}

/// One page of ListResourceRecordSets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a> {
    /// The record sets.
    pub sets: Vec<&'a RecordSet>,
    /// Where the next page starts, when truncated: (name, type, set identifier).
    pub next: Option<(String, String, Option<String>)>,
}

/// Lists from (name, type, identifier) in Route 53's order, at most `max_items`. Linear in the
/// zone's size (one key per set, then a selection of the page): health controllers list their
/// pools every few seconds, and a lab zone can hold thousands of pools.
pub fn list_page<'a>(
    zone: &'a HostedZone,
    start_name: Option<&str>,
    start_type: Option<&str>,
    start_id: Option<&str>,
    max_items: usize,
) -> Page<'a> {
    let start = start_name.map(|n| {
        (
            reversed(&Fqdn::from_api(n).to_string()),
            start_type.unwrap_or("").to_owned(),
            start_id.unwrap_or("").to_owned(),
        )
    });
    let mut rest: Vec<((String, String, String), &RecordSet)> = zone
        .records
        .sets()
        .map(|s| (listing_key(s), s))
        .filter(|(k, _)| start.as_ref().is_none_or(|st| k >= st))
        .collect();
    // The page and the first set after it, without sorting the whole zone.
    let want = max_items + 1;
    if rest.len() > want {
        rest.select_nth_unstable_by(want - 1, |a, b| a.0.cmp(&b.0));
        rest.truncate(want);
    }
    rest.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let next = rest.get(max_items).map(|(_, n)| {
        (
            n.name.to_string(),
            n.rtype.clone(),
            n.set_identifier.clone(),
        )
    });
    let sets: Vec<&RecordSet> = rest.iter().take(max_items).map(|(_, s)| *s).collect();
    Page { sets, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::model::Change;

    fn a(name: &str, id: &str, w: i64) -> RecordSet {
        RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: "A".into(),
            set_identifier: Some(id.into()),
            weight: Some(w),
            ttl: Some(30),
            values: vec!["192.0.2.1".into()],
            opaque: None,
        }
    }

    #[test]
    fn zone_lifecycle() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("Lab.Test", "ref-1", None, 0).unwrap();
        assert_eq!(zone.name.as_str(), "lab.test.");
        assert_eq!(zone.records.len(), 2, "apex SOA and NS");
        assert!(matches!(
            s.create_zone("other.test", "ref-1", None, 0),
            Err(StoreError::HostedZoneAlreadyExists(_))
        ));
        s.change(
            &zone.id,
            &[Change::create(a("www.lab.test", "x", 1))],
            None,
            1,
        )
        .unwrap();
        assert_eq!(s.zone(&zone.id).unwrap().serial, 2);
        assert_eq!(
            s.delete_zone(&zone.id, 2),
            Err(StoreError::HostedZoneNotEmpty)
        );
        s.change(
            &zone.id,
            &[Change::delete(a("www.lab.test", "x", 1))],
            None,
            3,
        )
        .unwrap();
        s.delete_zone(&format!("/hostedzone/{}", zone.id), 4)
            .unwrap();
        assert!(matches!(
            s.zone(&zone.id),
            Err(StoreError::NoSuchHostedZone(_))
        ));
    }

    #[test]
    fn listing_order_and_pages_resume_inside_weighted_groups() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let mut changes: Vec<Change> = (0..5)
            .map(|i| Change::create(a("www.lab.test", &format!("s{i}"), 1)))
            .collect();
        changes.push(Change::create(a("a.www.lab.test", "q", 1)));
        changes.push(Change::create(a("b.lab.test", "q", 1)));
        s.change(&zone.id, &changes, None, 1).unwrap();
        let zone = s.zone(&zone.id).unwrap();
        let names = |p: &Page<'_>| {
            p.sets
                .iter()
                .map(|s| {
                    format!(
                        "{} {}",
                        s.name,
                        s.set_identifier.clone().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
        };
        let all = list_page(zone, None, None, None, 100);
        assert_eq!(
            names(&all),
            [
                "lab.test. ",
                "lab.test. ",
                "b.lab.test. q",
                "www.lab.test. s0",
                "www.lab.test. s1",
                "www.lab.test. s2",
                "www.lab.test. s3",
                "www.lab.test. s4",
                "a.www.lab.test. q"
            ]
        );
        let p1 = list_page(zone, Some("www.lab.test"), None, None, 2);
        assert_eq!(names(&p1), ["www.lab.test. s0", "www.lab.test. s1"]);
        let (n, t, i) = p1.next.clone().unwrap();
        assert_eq!(
            (n.as_str(), t.as_str(), i.as_deref()),
            ("www.lab.test.", "A", Some("s2"))
        );
        let p2 = list_page(zone, Some(&n), Some(&t), i.as_deref(), 2);
        assert_eq!(names(&p2), ["www.lab.test. s2", "www.lab.test. s3"]);
    }

    #[test]
    fn paging_through_a_large_zone_visits_every_set_once_in_order() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "ref-1", None, 0).unwrap();
        // Names, types and identifiers whose insertion order is not the listing order.
        let changes: Vec<Change> = (0..600)
            .map(|i| {
                let name = format!("p{}.lab.test", (i * 37) % 13);
                Change::create(a(&name, &format!("t{:03}", (i * 101) % 600), 1))
            })
            .collect();
        s.change(&zone.id, &changes, None, 1).unwrap();
        let zone = s.zone(&zone.id).unwrap();
        let mut expected: Vec<&RecordSet> = zone.records.sets().collect();
        expected.sort_by_key(|s| listing_key(s));
        let mut got = Vec::new();
        let mut at: Option<(String, String, Option<String>)> = None;
        loop {
            let page = match &at {
                None => list_page(zone, None, None, None, 7),
                Some((n, t, i)) => list_page(zone, Some(n), Some(t), i.as_deref(), 7),
            };
            assert!(page.sets.len() <= 7);
            got.extend(page.sets);
            match page.next {
                Some(next) => at = Some(next),
                None => break,
            }
        }
        assert_eq!(got.len(), expected.len());
        assert!(got.iter().zip(&expected).all(|(a, b)| std::ptr::eq(*a, *b)));
    }
}
