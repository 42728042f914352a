//! The pool and record model: what a pool is, what a target is, and the raw Route 53 record
//! sets and changes they map to.

use std::fmt;
use std::net::IpAddr;

use crate::mac::OwnershipKey;
use crate::name::Fqdn;
pub use crate::probe_addr::ProbeAddr;
pub use crate::rrtype::{RecordType, RrType, UnknownRrType};
pub use crate::set_id::{SetId, SetIdError};
pub use crate::state::{By, TargetState, Why};
use crate::txt::{self, OwnershipRecord};

/// The weight wavelb gives every ownership (TXT) record set. The TXT weight carries no meaning:
/// the wanted weight lives inside the TXT value.
pub const OWNERSHIP_RECORD_WEIGHT: i64 = 0;

/// The label prepended to the pool name to form the ownership record's name.
pub const OWNERSHIP_LABEL: &str = "_wavelb";

/// The label prepended to the pool name to form the health controllers' leader lease name.
pub const LEADER_LABEL: &str = "_wavelb-leader";

/// The label prepended to the pool name to form the name of its recorded health (what its
/// health controller last saw, for a zone tier anywhere to read).
pub const HEALTH_LABEL: &str = "_wavelb-health";

/// A pool: one weighted DNS name and the rules every target record in it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// The weighted name clients resolve.
    pub name: Fqdn,
    /// A or AAAA.
    pub record_type: RecordType,
    /// The TTL of every record set in the pool (Route 53 wants it equal across the group).
    pub ttl: u32,
    /// Who owns the records this process writes.
    pub owner_id: String,
    /// The shared key (`[pool] ownership_key_file`) that signs the ownership records this
    /// process writes and must verify every ownership record it trusts. `None`: nothing is
    /// signed and no record counts as authenticated.
    pub ownership_key: Option<OwnershipKey>,
}

/// The domain separator of an ownership record's MAC input.
const OWNERSHIP_MAC_CONTEXT: &str = "wavelb-ownership-v1";

impl PoolSpec {
    /// What an ownership record's MAC covers: the pool name and type, the set identifier and
    /// the record's canonical text. A signed record therefore cannot be copied to another set
    /// identifier or pool.
    fn ownership_mac_parts<'a>(&'a self, id: &'a str, canonical: &'a str) -> [&'a str; 5] {
        [
            OWNERSHIP_MAC_CONTEXT,
            self.name.as_str(),
            self.record_type.as_str(),
            id,
            canonical,
        ]
    }

    /// `rec` with its `mac=` set for set identifier `id`, when this pool has a key.
    pub fn sign_ownership(&self, id: &str, mut rec: OwnershipRecord) -> OwnershipRecord {
        rec.mac = self.ownership_key.as_ref().map(|key| {
            let canonical = txt::canonical(&rec);
            key.sign(&self.ownership_mac_parts(id, &canonical))
        });
        rec
    }

    /// True when this pool has a key and `rec` carries a `mac=` that verifies for set
    /// identifier `id`.
    pub fn authenticates(&self, id: &str, rec: &OwnershipRecord) -> bool {
        match (&self.ownership_key, &rec.mac) {
            (Some(key), Some(mac)) => {
                let canonical = txt::canonical(rec);
                key.verify(&self.ownership_mac_parts(id, &canonical), mac)
            }
            _ => false,
        }
    }

    /// The name of the ownership/state TXT records: `_wavelb.<pool name>`.
    pub fn ownership_name(&self) -> Fqdn {
        self.name.child(OWNERSHIP_LABEL)
    }

    /// The name of the health controllers' leader lease: `_wavelb-leader.<pool name>`.
    pub fn leader_name(&self) -> Fqdn {
        self.name.child(LEADER_LABEL)
    }

    /// The name of the pool's recorded health: `_wavelb-health.<pool name>`.
    pub fn health_name(&self) -> Fqdn {
        self.name.child(HEALTH_LABEL)
    }
}

/// One target of a pool: an address record plus its ownership record, decoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// The SetIdentifier shared by both record sets (the EC2 instance id for agents).
    pub id: SetId,
    /// The addresses published in the address record.
    pub addresses: Vec<IpAddr>,
    /// The weight published on the address record (0 while quarantined or draining).
    pub weight: u8,
    /// The weight the owner wants when the target is active.
    pub wanted_weight: u8,
    /// Where the target stands.
    pub state: TargetState,
    /// When `state` was entered, in unix seconds.
    pub since: u64,
    /// Where a health controller should probe, when not the published address.
    pub probe: Option<ProbeAddr>,
    /// Who put the target in its current state, if recorded.
    pub by: Option<By>,
    /// True when the address record is removed on purpose (a health controller's `fail_closed`
    /// when every target is down): only the ownership record exists, and it keeps `addresses`.
    pub parked: bool,
}

impl Target {
    /// A new active target publishing `addresses` at `weight`.
    pub fn active(id: SetId, addresses: Vec<IpAddr>, weight: u8, now: u64) -> Self {
        Self {
            id,
            addresses,
            weight,
            wanted_weight: weight,
            state: TargetState::Active,
            since: now,
            probe: None,
            by: None,
            parked: false,
        }
    }

    /// This target moved to `state`: the published weight follows the state (the wanted weight
    /// when active, 0 otherwise) and `since` is reset when the state really changes (and `by`
    /// cleared; see [`Target::by`]). The wanted weight is never touched.
    pub fn with_state(mut self, state: TargetState, now: u64) -> Self {
        if self.state != state {
            self.since = now;
            self.by = None;
        }
        if state == TargetState::Active {
            self.parked = false;
        }
        self.state = state;
        self.weight = match state {
            TargetState::Active => self.wanted_weight,
            TargetState::Quarantined | TargetState::Draining => 0,
        };
        self
    }

    /// Removes the address record on purpose, keeping the addresses in the ownership record.
    pub fn parked(mut self) -> Self {
        self.parked = true;
        self
    }

    /// Brings a parked target's address record back (with its state's weight).
    pub fn unparked(mut self) -> Self {
        self.parked = false;
        self
    }

    /// The record sets this target consists of: the address record (unless parked) and the
    /// ownership record.
    pub fn record_sets(&self, pool: &PoolSpec) -> Vec<RecordSet> {
        let mut sets = Vec::with_capacity(2);
        if !self.parked {
            sets.push(self.address_record(pool));
        }
        sets.push(self.ownership_record(pool));
        sets
    }

    /// Records who put the target in its current state.
    pub fn by(mut self, who: By) -> Self {
        self.by = Some(who);
        self
    }

    /// This target with a new wanted weight; the published weight follows when active.
    pub fn with_wanted_weight(mut self, weight: u8) -> Self {
        self.wanted_weight = weight;
        if self.state == TargetState::Active {
            self.weight = weight;
        }
        self
    }

    /// The ownership record content for this target.
    pub fn ownership(&self, owner: &str) -> OwnershipRecord {
        OwnershipRecord {
            owner: owner.to_owned(),
            wanted_weight: self.wanted_weight,
            state: self.state,
            since: self.since,
            probe: self.probe,
            by: self.by.clone(),
            why: None,
            parked: self.parked.then(|| self.addresses.clone()),
            mac: None,
        }
    }

    /// The address record set for this target in `pool`.
    pub fn address_record(&self, pool: &PoolSpec) -> RecordSet {
        RecordSet {
            name: pool.name.clone(),
            rtype: pool.record_type.into(),
            set_identifier: Some(self.id.as_str().to_owned()),
            weight: Some(i64::from(self.weight)),
            ttl: Some(pool.ttl),
            values: self.addresses.iter().map(ToString::to_string).collect(),
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }

    /// The ownership (TXT) record set for this target in `pool`, signed when the pool has a key.
    pub fn ownership_record(&self, pool: &PoolSpec) -> RecordSet {
        let record = pool.sign_ownership(self.id.as_str(), self.ownership(&pool.owner_id));
        RecordSet {
            name: pool.ownership_name(),
            rtype: RrType::Txt,
            set_identifier: Some(self.id.as_str().to_owned()),
            weight: Some(OWNERSHIP_RECORD_WEIGHT),
            ttl: Some(pool.ttl),
            values: vec![txt::encode(&record)],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }
}

/// A Route 53 resource record set, as listed or written. Values are in Route 53's
/// presentation format (TXT values quoted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RecordSet {
    /// Owner name.
    pub name: Fqdn,
    /// Type (`A`, `AAAA`, `TXT`, …).
    pub rtype: RrType,
    /// SetIdentifier of a routing-policy record set.
    pub set_identifier: Option<String>,
    /// Weight of a weighted record set.
    pub weight: Option<i64>,
    /// TTL; absent for alias records.
    pub ttl: Option<u32>,
    /// The resource record values.
    pub values: Vec<String>,
    /// An alias record's target (`AliasTarget`); such a set has no TTL and no values.
    pub alias: Option<AliasTarget>,
    /// A geoproximity record's location and bias (`GeoProximityLocation`).
    pub geo: Option<GeoProximity>,
    /// An IP-based record's collection and location (`CidrRoutingConfig`).
    #[serde(default)]
    pub cidr: Option<CidrRouting>,
    /// A multivalue answer record (`MultiValueAnswer`: true): Route 53 answers with up to eight
    /// of its group's healthy records.
    #[serde(default)]
    pub multivalue: bool,
    /// Set when the record set uses features wavelb does not model (another routing policy, a
    /// health check). Such a set is always foreign and is never written back.
    pub opaque: Option<String>,
    /// The Route 53 health check whose status decides whether the set is answered
    /// (`HealthCheckId`). Pools never carry one: a set with a health check is foreign to them.
    #[serde(default)]
    pub health_check_id: Option<String>,
}

/// Where an alias record sends queries (`AliasTarget`): a record set of the same type, in the
/// lab always in the same hosted zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AliasTarget {
    /// The hosted zone id of the target.
    pub hosted_zone_id: String,
    /// The target's name.
    pub dns_name: Fqdn,
    /// True when the alias inherits the health of its target (`EvaluateTargetHealth`).
    pub evaluate_target_health: bool,
}

/// An IP-based record's `CidrRoutingConfig`: the CIDR collection, and the location in it whose
/// clients this record answers (`*`: the default record, every client no location holds).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CidrRouting {
    /// `CollectionId`, the collection's id (a UUID).
    pub collection_id: String,
    /// `LocationName`: 1 to 16 of `[0-9A-Za-z_-]`, or `*`.
    pub location_name: String,
}

/// The `LocationName` of an IP-based group's default record.
pub const CIDR_DEFAULT_LOCATION: &str = "*";

/// A geoproximity record's `GeoProximityLocation`, exactly as the API carries it: Route 53
/// wants exactly one of the three places (checked by [`crate::zone`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GeoProximity {
    /// `AWSRegion`, e.g. `us-east-1`.
    pub aws_region: Option<String>,
    /// `LocalZoneGroup`, e.g. `us-east-1-bos-1`.
    pub local_zone_group: Option<String>,
    /// `Coordinates`: latitude and longitude as Route 53's decimal strings.
    pub coordinates: Option<(String, String)>,
    /// `Bias`, −99 to 99: positive grows the region the record serves, negative shrinks it.
    pub bias: Option<i64>,
}

impl RecordSet {
    /// A simple (not weighted) TXT record set of one value: the health controllers' lease and
    /// recorded health.
    pub fn simple_txt(name: Fqdn, ttl: u32, value: String) -> Self {
        Self::simple(name, RrType::Txt, ttl, value)
    }

    /// A simple-routing record set of `rtype` holding one value.
    pub fn simple(name: Fqdn, rtype: RrType, ttl: u32, value: String) -> Self {
        Self {
            name,
            rtype,
            set_identifier: None,
            weight: None,
            ttl: Some(ttl),
            values: vec![value],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }

    /// The identity Route 53 keys record sets by.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            name: self.name.clone(),
            rtype: self.rtype,
            set_identifier: self.set_identifier.clone(),
        }
    }

    /// What makes this set something other than a plain (simple or weighted) record set of
    /// values: an alias target, geoproximity routing, a health check, or a feature wavelb does
    /// not model. Pools
    /// manage only plain sets; anything else at a pool's name is foreign.
    pub fn routing_note(&self) -> Option<String> {
        if let Some(note) = &self.opaque {
            return Some(note.clone());
        }
        if self.health_check_id.is_some() {
            return Some("a Route 53 health check".into());
        }
        if self.cidr.is_some() {
            return Some("IP-based routing".into());
        }
        if self.multivalue {
            return Some("multivalue answer routing".into());
        }
        match (&self.alias, &self.geo) {
            (Some(_), Some(_)) => Some("an alias target, geoproximity routing".into()),
            (Some(_), None) => Some("an alias target".into()),
            (None, Some(_)) => Some("geoproximity routing".into()),
            (None, None) => None,
        }
    }

    /// Characters counted against Route 53's per-request limit of 32 000 value characters.
    pub fn value_chars(&self) -> usize {
        self.values.iter().map(|v| v.chars().count()).sum()
    }
}

/// What identifies a record set within a hosted zone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// Owner name.
    pub name: Fqdn,
    /// Type.
    pub rtype: RrType,
    /// SetIdentifier, if any.
    pub set_identifier: Option<String>,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[name='{}', type='{}'", self.name, self.rtype)?;
        if let Some(id) = &self.set_identifier {
            write!(f, ", set-identifier='{id}'")?;
        }
        f.write_str("]")
    }
}

/// A ChangeResourceRecordSets action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Action {
    /// Create; fails when the set exists.
    Create,
    /// Delete; fails unless the given set matches the existing one exactly.
    Delete,
    /// Create or overwrite.
    Upsert,
}

impl Action {
    /// The Route 53 action name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Delete => "DELETE",
            Action::Upsert => "UPSERT",
        }
    }
}

/// One change of a ChangeBatch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Change {
    /// What to do.
    pub action: Action,
    /// The record set it applies to.
    pub record_set: RecordSet,
}

impl Change {
    /// A CREATE of `record_set`.
    pub fn create(record_set: RecordSet) -> Self {
        Self {
            action: Action::Create,
            record_set,
        }
    }

    /// An exact-match DELETE of `record_set`.
    pub fn delete(record_set: RecordSet) -> Self {
        Self {
            action: Action::Delete,
            record_set,
        }
    }

    /// Characters this change counts against the per-request limit of 32 000 (UPSERT counts
    /// twice, as Route 53 documents).
    pub fn value_chars(&self) -> usize {
        self.counted(self.record_set.value_chars())
    }

    /// `ResourceRecord` elements (values) this change counts against the per-request limit of
    /// 1 000 (UPSERT counts twice, as Route 53 documents).
    pub fn records(&self) -> usize {
        self.counted(self.record_set.values.len())
    }

    /// `n` as Route 53 counts it against a request's limits: the API reference's
    /// ChangeResourceRecordSets page, "Limits", counts an UPSERT's values twice.
    fn counted(&self, n: usize) -> usize {
        match self.action {
            Action::Upsert => n.saturating_mul(2),
            Action::Create | Action::Delete => n,
        }
    }
}
