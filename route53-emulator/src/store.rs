//! The resolver's state, which every feature shares: the [`Store`] (hosted zones with their
//! record sets, the change log, health checks and tags), its errors ([`StoreError`]), what a
//! change touched ([`Touched`]) and what the features' parts of it share (ids in Route 53's
//! shape, length checks). Pure: times are passed in and ids are random, so the API layer and
//! tests drive it without a clock.
//!
//! Each feature's part of `impl Store` is in its folder: `zones/store.rs`, `changes/store.rs`
//! (ChangeResourceRecordSets, the change log, GetChange), `health_checks/store.rs`,
//! `tags/store.rs`. Here: the listing order of record sets.

use std::collections::BTreeMap;

use imbl::{OrdMap, Vector};

mod touched;

pub use touched::Touched;
// The bound on the whole state is the limits feature's; the store keeps to it.
pub use crate::limits::bounds::{
    DEFAULT_MAX_RECORD_SETS, DEFAULT_MAX_STATE_BYTES, StateLimits, Totals, set_bytes,
};

use crate::changes::ChangeRecord;
use crate::health_checks::{CheckState, HealthCheck};
use crate::zones::{HostedZone, MAX_HOSTED_ZONES};

use rand::Rng;

use registry::model::RecordSet;
use registry::name::Fqdn;
use registry::zone::ChangeError;
use serde::{Deserialize, Serialize};

/// Route 53's longest `Comment` (of a hosted zone or a change batch), in characters.
pub use registry::zone::MAX_COMMENT_CHARS;
/// Random characters after the `Z` or `C` of an id (Route 53's ids are up to 32 characters).
const ID_CHARS: usize = 20;

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
    /// `TooManyHostedZones`
    #[error(
        "This operation can't be completed because the current account has reached the limit of \
         {MAX_HOSTED_ZONES} hosted zones. Delete a hosted zone you no longer need first."
    )]
    TooManyHostedZones,
    /// `InvalidInput` / `InvalidChangeBatch`
    #[error(transparent)]
    Change(#[from] ChangeError),
    /// `NoSuchHealthCheck`
    #[error("No health check exists with the specified ID: {0}")]
    NoSuchHealthCheck(String),
    /// `HealthCheckAlreadyExists`
    #[error(
        "A health check with the caller reference {0} already exists with other settings or was \
         deleted; use another CallerReference"
    )]
    HealthCheckAlreadyExists(String),
    /// `TooManyHealthChecks`
    #[error(
        "This operation can't be completed because the current account has reached the limit of \
         {} health checks. Delete a health check you no longer need first.",
        crate::health_checks::MAX_HEALTH_CHECKS
    )]
    TooManyHealthChecks,
    /// `HealthCheckVersionMismatch`
    #[error(
        "The value of HealthCheckVersion in the request ({given}) doesn't match the value of \
         HealthCheckVersion in the health check ({current}); get the health check and retry"
    )]
    HealthCheckVersionMismatch {
        /// The version the request named.
        given: u64,
        /// The health check's version.
        current: u64,
    },
}

/// `InvalidInput` with `message`.
/// An `InvalidInput` refusal with `message`.
pub(crate) fn input_error(message: impl Into<String>) -> StoreError {
    StoreError::Change(ChangeError::InvalidInput(message.into()))
}

/// All hosted zones and the recent changes.
///
/// Every collection is persistent (`imbl`): a copy of the store costs O(1) and shares what it
/// does not change, so [`crate::shared::Shared::mutate`] changes a copy in O(change). Every
/// change notes what it touched ([`Store::take_touched`]) for the database and the snapshot.
///
/// State files written before the log was bounded hold `changes` as a map by id and a
/// `counter`; both load (the counter is ignored, the map is ordered by submission time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub(crate) zones: OrdMap<String, HostedZone>,
    /// The last [`crate::changes::MAX_CHANGE_LOG`] changes, oldest first.
    #[serde(deserialize_with = "crate::changes::change_log")]
    pub(crate) changes: Vector<ChangeRecord>,
    /// When the newest change dropped from the log was submitted; `None` before any was.
    #[serde(default)]
    pub(crate) forgotten_until_ms: Option<u64>,
    /// The health checks by id.
    #[serde(default)]
    pub(crate) health_checks: OrdMap<String, HealthCheck>,
    /// The caller references of deleted health checks (the last [`MAX_DELETED_REFERENCES`]):
    /// Route 53 refuses to reuse them.
    #[serde(default)]
    pub(crate) deleted_check_references: Vector<String>,
    /// The tags of hosted zones and health checks, by [`crate::tags::resource_key`].
    #[serde(default)]
    pub(crate) tags: OrdMap<String, BTreeMap<String, String>>,
    /// What the probes found, by health check id. Not persisted: a restarted resolver starts
    /// every check healthy, as Route 53 does a new one.
    #[serde(skip)]
    pub(crate) check_states: BTreeMap<String, CheckState>,
    /// The record sets of every zone together, counted against `limits`; kept up to date by
    /// every change ([`Store::recount`] after loading).
    #[serde(skip)]
    pub(crate) totals: Totals,
    /// The bound on `totals` ([`Store::set_limits`]).
    #[serde(skip)]
    pub(crate) limits: StateLimits,
    /// What the changes since the last [`Store::take_touched`] touched.
    #[serde(skip)]
    pub(crate) touched: Touched,
}

/// A random id in Route 53's shape: `prefix` and upper-case letters and digits.
pub(crate) fn random_id(prefix: char) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    std::iter::once(prefix)
        .chain((0..ID_CHARS).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])))
        .collect()
}

/// True for an id this store could have given out with `prefix`.
pub(crate) fn has_id_shape(id: &str, prefix: char) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == ID_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

/// `InvalidInput` when `value` is longer than `max` characters (the value is not echoed: it can
/// be megabytes long).
pub(crate) fn check_length(field: &str, value: &str, max: usize) -> Result<(), StoreError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(StoreError::Change(ChangeError::InvalidInput(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length less than or equal to {max} (it has {chars} characters)"
        ))));
    }
    Ok(())
}

/// Everything the database keeps, to build a [`Store`] from ([`Store::from_parts`]).
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// The hosted zones.
    pub zones: Vec<HostedZone>,
    /// The change log, oldest first.
    pub changes: Vec<ChangeRecord>,
    /// When the newest change dropped from the log was submitted.
    pub forgotten_until_ms: Option<u64>,
    /// The health checks.
    pub health_checks: Vec<HealthCheck>,
    /// The caller references of deleted health checks, oldest first.
    pub deleted_check_references: Vec<String>,
    /// The tags by resource key ([`Store::tag_entries`]).
    pub tags: Vec<(String, BTreeMap<String, String>)>,
}

impl Store {
    /// A store holding `parts` (as the database read them).
    pub fn from_parts(parts: Parts) -> Self {
        let mut store = Self {
            zones: parts.zones.into_iter().map(|z| (z.id.clone(), z)).collect(),
            changes: parts.changes.into_iter().collect(),
            forgotten_until_ms: parts.forgotten_until_ms,
            health_checks: parts
                .health_checks
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
            deleted_check_references: parts.deleted_check_references.into_iter().collect(),
            tags: parts.tags.into_iter().collect(),
            ..Self::default()
        };
        store.recount();
        store
    }

    /// Counts the record sets of every zone again (after loading).
    pub fn recount(&mut self) {
        self.totals = Totals::of(self.zones.values().flat_map(|z| z.records.sets()));
    }

    /// The record sets of every zone together.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Bounds the whole state and each zone ([`StateLimits`]): a change past them is refused.
    pub fn set_limits(&mut self, limits: StateLimits) {
        self.limits = limits;
    }

    /// The quota of record sets in each hosted zone (GetHostedZoneLimit's `MAX_RRSETS_BY_ZONE`).
    pub fn record_sets_per_zone(&self) -> usize {
        self.limits.record_sets_per_zone
    }

    /// What the changes since the last call touched, leaving nothing touched.
    pub fn take_touched(&mut self) -> Touched {
        std::mem::take(&mut self.touched)
    }

    /// The caller references of deleted health checks, oldest first.
    pub fn deleted_check_references(&self) -> impl Iterator<Item = &String> {
        self.deleted_check_references.iter()
    }

    /// The tags of every resource, by resource key.
    pub fn tag_entries(&self) -> impl Iterator<Item = (&String, &BTreeMap<String, String>)> {
        self.tags.iter()
    }

    /// The tags of the resource whose store key is `key`, if it has any.
    pub fn tags_by_key(&self, key: &str) -> Option<&BTreeMap<String, String>> {
        self.tags.get(key)
    }

    /// Marks everything as touched (written again by the database, rebuilt by the snapshot):
    /// for a state loaded from elsewhere (the old state file).
    pub fn touch_everything(&mut self) {
        let t = &mut self.touched;
        t.zone_list = true;
        for zone in self.zones.values() {
            t.zones.insert(zone.id.clone());
            for set in zone.records.sets() {
                t.groups
                    .insert((zone.id.clone(), set.name.clone(), set.rtype));
            }
        }
        t.changes_logged = self.changes.len();
        t.checks.extend(self.health_checks.keys().cloned());
        t.references_kept = self.deleted_check_references.len();
        t.tags.extend(self.tags.keys().cloned());
    }

    /// A fresh id with `prefix` that no zone and no logged change holds.
    pub(crate) fn fresh_id(&self, prefix: char) -> String {
        // 20 characters of 36 make a repeat all but impossible; the loop makes it impossible.
        loop {
            let id = random_id(prefix);
            if !self.zones.contains_key(&id) && !self.changes.iter().any(|c| c.id == id) {
                return id;
            }
        }
    }
}

/// A record set's place in Route 53's listing order: by name with labels reversed and its
/// trailing dot kept (see [`reversed`]), then type, then set identifier (empty when none). The
/// derived order compares the fields in that order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListingKey {
    /// The owner name as [`reversed`] writes it (`com.example.www.`).
    pub reversed_name: String,
    /// The record type (`A`, `TXT`, …).
    pub rtype: String,
    /// The set identifier, or empty for a simple record set.
    pub set_identifier: String,
}

/// The [`ListingKey`] of `set`.
pub fn listing_key(set: &RecordSet) -> ListingKey {
    ListingKey {
        reversed_name: reversed(set.name.as_str()),
        rtype: set.rtype.to_string(),
        set_identifier: set.set_identifier.clone().unwrap_or_default(),
    }
}

/// Route 53's listing key of a name (`www.example.com.` → `com.example.www.`), shared with the
/// registry writer's walk over the listing.
pub use registry::listing::reversed;

/// Where a ListResourceRecordSets page starts: the request's `name`, `type` and `identifier`
/// parameters (a type needs a name, an identifier needs a type; the API checks that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFrom<'q> {
    /// The first owner name to list, as the client wrote it (a trailing dot is optional).
    pub name: &'q str,
    /// The first type to list at `name`; `None` starts at its first type.
    pub rtype: Option<&'q str>,
    /// The first set identifier to list at `name` and `rtype`; `None` starts at its first set.
    pub identifier: Option<&'q str>,
}

/// The first record set after a truncated page, which the next page starts from (Route 53's
/// `NextRecordName`, `NextRecordType` and `NextRecordIdentifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextRecord {
    /// Its owner name, with the trailing dot.
    pub name: String,
    /// Its record type.
    pub rtype: String,
    /// Its set identifier, if it has one.
    pub identifier: Option<String>,
}

impl NextRecord {
    /// Where the next page starts: at this record set.
    pub fn start(&self) -> ListFrom<'_> {
        ListFrom {
            name: &self.name,
            rtype: Some(&self.rtype),
            identifier: self.identifier.as_deref(),
        }
    }
}

/// One page of ListResourceRecordSets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a> {
    /// The record sets, in Route 53's listing order ([`ListingKey`]).
    pub sets: Vec<&'a RecordSet>,
    /// Where the next page starts, when this one is truncated.
    pub next: Option<NextRecord>,
}

/// Lists from `from` (the start of the zone when `None`) in Route 53's order, at most
/// `max_items`. Linear in the zone's size (one key per set, then a selection of the page):
/// health controllers list their pools every few seconds, and a lab zone can hold thousands of
/// pools.
pub fn list_page<'a>(
    zone: &'a HostedZone,
    from: Option<ListFrom<'_>>,
    max_items: usize,
) -> Page<'a> {
    let start = from.map(|from| ListingKey {
        reversed_name: reversed(&Fqdn::from_api(from.name).to_string()),
        rtype: from.rtype.unwrap_or("").to_owned(),
        set_identifier: from.identifier.unwrap_or("").to_owned(),
    });
    let mut rest: Vec<(ListingKey, &RecordSet)> = zone
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
    let next = rest.get(max_items).map(|(_, n)| NextRecord {
        name: n.name.to_string(),
        rtype: n.rtype.to_string(),
        identifier: n.set_identifier.clone(),
    });
    let sets: Vec<&RecordSet> = rest.iter().take(max_items).map(|(_, s)| *s).collect();
    Page { sets, next }
}

/// The zones DNS serves: the DNS server builds its snapshot from the store's zones and the
/// status of its health checks.
impl dns::snapshot::Zones for Store {
    fn zones(&self) -> impl Iterator<Item = dns::snapshot::ZoneRef<'_>> {
        self.zones.values().map(HostedZone::as_served)
    }

    fn zone_by_id(&self, id: &str) -> Option<dns::snapshot::ZoneRef<'_>> {
        self.zones.get(id).map(HostedZone::as_served)
    }

    fn health_statuses(&self) -> BTreeMap<String, bool> {
        Store::health_statuses(self)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use registry::model::{Change, RrType};

    use super::*;

    /// A weighted A record set of `name`, set identifier `id`, weight `w` (TTL 30).
    pub(crate) fn a(name: &str, id: &str, w: i64) -> RecordSet {
        RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: RrType::A,
            set_identifier: Some(id.into()),
            weight: Some(w),
            ttl: Some(30),
            values: vec!["192.0.2.1".into()],
            alias: None,
            geo: None,
            opaque: None,
            health_check_id: None,
        }
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
        let all = list_page(zone, None, 100);
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
        let p1 = list_page(
            zone,
            Some(ListFrom {
                name: "www.lab.test",
                rtype: None,
                identifier: None,
            }),
            2,
        );
        assert_eq!(names(&p1), ["www.lab.test. s0", "www.lab.test. s1"]);
        let next = p1.next.clone().unwrap();
        assert_eq!(
            next.start(),
            ListFrom {
                name: "www.lab.test.",
                rtype: Some("A"),
                identifier: Some("s2")
            }
        );
        let p2 = list_page(zone, Some(next.start()), 2);
        assert_eq!(names(&p2), ["www.lab.test. s2", "www.lab.test. s3"]);
    }

    #[test]
    fn names_sort_as_route53_does_reversed_with_the_trailing_dot_in_ascii() {
        assert_eq!(reversed("www.example.com."), "com.example.www.");
        assert_eq!(reversed("www.example.com"), "com.example.www.");
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "ref-1", None, 0).unwrap();
        // Inserted out of order; '-' (45) < '.' (46) < '0' (48) < '_' (95) < 'a' (97).
        let names = [
            "a0.lab.test",
            "b.a.lab.test",
            "_x.a.lab.test",
            "a.lab.test",
            "a-b.lab.test",
            "www-2.lab.test",
            "_wavelb.www.lab.test",
            "www.lab.test",
        ];
        let changes: Vec<Change> = names.iter().map(|n| Change::create(a(n, "s", 1))).collect();
        s.change(&zone.id, &changes, None, 1).unwrap();
        let zone = s.zone(&zone.id).unwrap();
        let listed: Vec<String> = list_page(
            zone,
            Some(ListFrom {
                name: "a-b.lab.test",
                rtype: None,
                identifier: None,
            }),
            100,
        )
        .sets
        .iter()
        .map(|s| s.name.to_string())
        .collect();
        assert_eq!(
            listed,
            [
                "a-b.lab.test.",
                "a.lab.test.",
                "_x.a.lab.test.",
                "b.a.lab.test.",
                "a0.lab.test.",
                "www-2.lab.test.",
                "www.lab.test.",
                "_wavelb.www.lab.test.",
            ]
        );
        // A name's subtree follows it without a gap, so a listing from the pool name stops at
        // the first name outside it.
        let from_www: Vec<String> = list_page(
            zone,
            Some(ListFrom {
                name: "www.lab.test",
                rtype: None,
                identifier: None,
            }),
            2,
        )
        .sets
        .iter()
        .map(|s| s.name.to_string())
        .collect();
        assert_eq!(from_www, ["www.lab.test.", "_wavelb.www.lab.test."]);
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
        let mut at: Option<NextRecord> = None;
        loop {
            let page = list_page(zone, at.as_ref().map(NextRecord::start), 7);
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

    #[test]
    fn ids_are_random_in_route53_shape_and_never_reuse_a_taken_one() {
        let mut s = Store::default();
        let (z1, c1) = s.create_zone("a.test", "r1", None, 0).unwrap();
        let (z2, c2) = s.create_zone("b.test", "r2", None, 0).unwrap();
        assert!(has_id_shape(&z1.id, 'Z') && has_id_shape(&z2.id, 'Z'));
        assert!(has_id_shape(&c1.id, 'C') && has_id_shape(&c2.id, 'C'));
        assert_ne!(z1.id, z2.id);
        // Not a sequence: the two ids differ in more than their last characters.
        let common = z1
            .id
            .chars()
            .zip(z2.id.chars())
            .take_while(|(a, b)| a == b)
            .count();
        assert!(common < 10, "{} {}", z1.id, z2.id);
        for _ in 0..200 {
            let id = s.fresh_id('Z');
            assert!(id != z1.id && id != z2.id);
        }
    }
}
