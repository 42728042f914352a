//! The resolver's state, which every feature shares: the [`Store`] (hosted zones with their
//! record sets, the change log, health checks, tags and CIDR collections), its errors
//! ([`StoreError`]), what a change touched ([`Touched`]) and what the features' parts of it share
//! (ids in Route 53's shape, length checks). Pure: times are passed in and ids are random, so the API layer and
//! tests drive it without a clock.
//!
//! Each feature's part of `impl Store` is in its folder: `zones/store.rs`, `changes/store.rs`
//! (ChangeResourceRecordSets, the change log, GetChange), `health_checks/store.rs`,
//! `tags/store.rs`, `cidr_collections/store.rs`; `record_sets/store.rs` reads a zone's record sets
//! page by page.

use std::collections::BTreeMap;

use imbl::{OrdMap, Vector};

mod touched;

pub use touched::Touched;
// The bound on the whole state is the limits feature's; the store keeps to it.
pub use crate::limits::bounds::{
    DEFAULT_MAX_RECORD_SETS, DEFAULT_MAX_STATE_BYTES, StateLimits, Totals, set_bytes,
};

use crate::changes::ChangeRecord;
use crate::cidr_collections::{CidrCollection, CidrError};
use crate::health_checks::{CheckState, HealthCheck};
use crate::zones::{HostedZone, MAX_HOSTED_ZONES};

use rand::Rng;

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
    /// A CIDR collection operation's refusal (`InvalidInput`, `NoSuchCidrCollectionException`,
    /// `LimitsExceeded`, …).
    #[error(transparent)]
    Cidr(#[from] CidrError),
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
    /// The CIDR collections by id.
    #[serde(default)]
    pub(crate) cidr_collections: OrdMap<String, CidrCollection>,
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

/// A random id in Route 53's health check and CIDR collection shape (a lower-case UUID, version
/// 4).
pub(crate) fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
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
    /// The CIDR collections.
    pub cidr_collections: Vec<CidrCollection>,
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
            cidr_collections: parts
                .cidr_collections
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
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
        t.cidr_collections
            .extend(self.cidr_collections.keys().cloned());
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

/// The zones DNS serves: the DNS server builds its snapshot from the store's zones, the
/// status of its health checks and its CIDR collections' blocks.
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

    fn cidr_tables(&self) -> BTreeMap<String, std::sync::Arc<dns::cidr::CidrTable>> {
        self.cidr_collections
            .iter()
            .map(|(id, c)| {
                let blocks = c
                    .blocks()
                    .map(|(net, location)| (net.network(), net.prefix_len(), location));
                (
                    id.clone(),
                    std::sync::Arc::new(dns::cidr::CidrTable::new(blocks)),
                )
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use registry::model::{RecordSet, RrType};
    use registry::name::Fqdn;

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
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
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
