//! An in-memory hosted zone that applies ChangeBatches with Route 53's documented semantics:
//! atomic batches, exact-match DELETE, CREATE of an existing set fails, names inside the zone,
//! weights 0–255, at most 100 weighted and 30 geoproximity sets per name and type, no mixing of weighted and simple
//! sets, CNAME exclusivity, and one TTL per weighted group (the last one written wins). Route 53's
//! size quotas bound what a batch can add: 400 values per set, 1 000 values (`ResourceRecord`
//! elements) and 32 000 value characters per batch (UPSERT values count twice), 10 000 record
//! sets per zone.

use std::collections::{BTreeMap, BTreeSet};

use imbl::OrdMap;

use crate::cidr::{is_collection_id, is_location_name};
use crate::model::{
    Action, CIDR_DEFAULT_LOCATION, Change, CidrRouting, GeoProximity, RecordKey, RecordSet, RrType,
};
use crate::name::Fqdn;
use geo;

/// Why a resource record value is not valid for its type, from the check the caller hands
/// [`ZoneRecords::apply`] (the DNS layer's record data parser, or the in-memory store's address
/// check): its own typed error, boxed, since this crate does not know the formats.
pub type ValueError = Box<dyn std::error::Error + Send + Sync>;

/// Route 53's limit on weighted record sets with the same name and type.
pub const MAX_WEIGHTED_PER_GROUP: usize = 100;
/// Route 53's quota on geoproximity record sets with the same name and type (Route 53 quotas
/// page, "Geoproximity records per record name and type: 30"). It also bounds what one DNS
/// question costs the lab resolver: a geoproximity answer looks at every member of its group.
pub const MAX_GEO_PER_GROUP: usize = 30;
/// Route 53's limit on changes in one batch.
pub const MAX_CHANGES: usize = 1000;
/// The most multivalue answer record sets per name and type: Route 53 documents none; the lab
/// bounds a group as it does a weighted one, so an answer's work stays bounded.
pub const MAX_MULTIVALUE_PER_GROUP: usize = 100;
/// Route 53's limit on values (resource records) in one record set.
pub const MAX_VALUES_PER_SET: usize = 400;
/// Route 53's limit on `ResourceRecord` elements (values) in one batch (UPSERT values count
/// twice).
pub const MAX_RECORDS: usize = 1000;
/// Route 53's limit on the characters of all values in one batch (UPSERT values count twice).
pub const MAX_VALUE_CHARS: usize = 32_000;
/// Route 53's longest `Comment` of a change batch, in characters.
pub const MAX_COMMENT_CHARS: usize = 256;
/// Route 53's default quota on record sets in one hosted zone ("Records per hosted zone: 10,000";
/// AWS raises it on request: Amazon Route 53 Developer Guide, "Quotas").
pub const MAX_RECORD_SETS: usize = 10_000;

/// Why a batch was rejected, in Route 53's two error families.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The request itself is malformed (`InvalidInput`).
    #[error("{0}")]
    InvalidInput(String),
    /// The batch is well-formed but cannot be applied (`InvalidChangeBatch`). Displayed as
    /// Route 53 writes the `<Message>` of its error document: every problem in one list,
    /// `[m1, m2]` (one problem too is in brackets).
    #[error("[{}]", .0.join(", "))]
    InvalidChangeBatch(Vec<String>),
}

/// A hosted zone's record sets, keyed as Route 53 keys them.
///
/// The sets are a persistent map (`imbl::OrdMap`): a copy shares every node with the original
/// and costs O(1), a change to it O(log n). [`ZoneRecords::apply`] works on such a copy, so a
/// batch costs what it changes, not the zone's size; a group's sets are found by a range scan
/// over their common key prefix ([`group_prefix`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ZoneRecords {
    origin: Fqdn,
    sets: OrdMap<String, RecordSet>,
}

/// The sets of one name (and, with `rtype`, one type) in `sets`: every key of a set at `name`
/// starts with `"{name} "`, and of a set of type `rtype` there with `"{name} {rtype} "` (a name
/// and a type never hold a space), so they are one contiguous range of the ordered map.
fn prefixed<'m, 'p>(
    sets: &'m OrdMap<String, RecordSet>,
    prefix: &'p str,
) -> impl Iterator<Item = (&'m String, &'m RecordSet)> + use<'m, 'p> {
    sets.range::<_, str>((
        std::ops::Bound::Included(prefix),
        std::ops::Bound::Unbounded,
    ))
    .take_while(move |(k, _)| k.starts_with(prefix))
}

/// The key prefix of the sets at `name` with type `rtype` (see [`prefixed`]).
fn group_prefix(name: &Fqdn, rtype: RrType) -> String {
    format!("{name} {rtype} ")
}

fn map_key(key: &RecordKey) -> String {
    format!(
        "{} {} {}",
        key.name,
        key.rtype,
        key.set_identifier.as_deref().unwrap_or("")
    )
}

fn describe(change: &Change) -> String {
    let s = &change.record_set;
    format!(
        "[Action={}, Name={}, Type={}, SetIdentifier={}]",
        change.action.as_str(),
        s.name,
        s.rtype,
        s.set_identifier.as_deref().unwrap_or("null")
    )
}

impl ZoneRecords {
    /// An empty zone named `origin`.
    pub fn new(origin: Fqdn) -> Self {
        Self {
            origin,
            sets: OrdMap::new(),
        }
    }

    /// A zone named `origin` holding `sets`, taken as they are (no rules are checked).
    pub fn from_sets(origin: Fqdn, sets: impl IntoIterator<Item = RecordSet>) -> Self {
        Self {
            origin,
            sets: sets.into_iter().map(|s| (map_key(&s.key()), s)).collect(),
        }
    }

    /// The zone's name.
    pub fn origin(&self) -> &Fqdn {
        &self.origin
    }

    /// All record sets, in no particular order.
    pub fn sets(&self) -> impl Iterator<Item = &RecordSet> {
        self.sets.values()
    }

    /// The record sets at `name` with type `rtype` (a weighted or geoproximity group, or one
    /// simple set), in O(log n + the group's size).
    pub fn group<'a>(
        &'a self,
        name: &Fqdn,
        rtype: RrType,
    ) -> impl Iterator<Item = &'a RecordSet> + use<'a> {
        let prefix = group_prefix(name, rtype);
        let sets: Vec<&RecordSet> = prefixed(&self.sets, &prefix).map(|(_, s)| s).collect();
        sets.into_iter()
    }

    /// The record sets at `name`, of every type, in O(log n + their number).
    pub fn at_name<'a>(&'a self, name: &Fqdn) -> impl Iterator<Item = &'a RecordSet> + use<'a> {
        let prefix = format!("{name} ");
        let sets: Vec<&RecordSet> = prefixed(&self.sets, &prefix).map(|(_, s)| s).collect();
        sets.into_iter()
    }

    /// How many record sets the zone holds.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// True when the zone holds no record sets.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Applies a batch atomically: either every change applies or nothing changes.
    ///
    /// `check_value(type, value)` validates one resource record value of a type (the DNS layer
    /// knows the presentation formats); its error says why a value is bad. The zone may hold
    /// Route 53's default quota of record sets, [`MAX_RECORD_SETS`].
    pub fn apply(
        &mut self,
        changes: &[Change],
        check_value: &dyn Fn(RrType, &str) -> Result<(), ValueError>,
    ) -> Result<(), ChangeError> {
        self.apply_within(changes, check_value, MAX_RECORD_SETS)
    }

    /// [`Self::apply`] for a zone whose quota of record sets is `max_sets` (a quota AWS raised
    /// on request, as the lab resolver's `--max-record-sets-per-zone` models it).
    pub fn apply_within(
        &mut self,
        changes: &[Change],
        check_value: &dyn Fn(RrType, &str) -> Result<(), ValueError>,
        max_sets: usize,
    ) -> Result<(), ChangeError> {
        validate_input(changes)?;
        let mut errors = Vec::new();
        let mut next = self.sets.clone();
        let mut touched: BTreeSet<(Fqdn, RrType)> = BTreeSet::new();
        let mut group_ttl: BTreeMap<(Fqdn, RrType), Option<u32>> = BTreeMap::new();
        for change in changes {
            let set = &change.record_set;
            if !set.name.is_within(&self.origin) {
                errors.push(format!(
                    "RRSet with DNS name {} is not permitted in zone {}",
                    set.name, self.origin
                ));
                continue;
            }
            if set.name == self.origin
                && (set.rtype == RrType::Soa || set.rtype == RrType::Ns)
                && change.action != Action::Upsert
            {
                errors.push(format!(
                    "The {} record at the zone apex {} can only be changed with UPSERT",
                    set.rtype, self.origin
                ));
                continue;
            }
            if change.action != Action::Delete {
                for value in &set.values {
                    if let Err(why) = check_value(set.rtype, value) {
                        errors.push(format!(
                            "Invalid Resource Record: FATAL problem: {why} encountered with '{value}'"
                        ));
                    }
                }
            }
            let key = set.key();
            let k = map_key(&key);
            touched.insert((set.name.clone(), set.rtype));
            match change.action {
                Action::Create => match next.entry(k) {
                    imbl::ordmap::Entry::Occupied(_) => errors.push(format!(
                        "Tried to create resource record set {key} but it already exists"
                    )),
                    imbl::ordmap::Entry::Vacant(slot) => {
                        slot.insert(set.clone());
                    }
                },
                Action::Delete => match next.get(&k) {
                    None => errors.push(format!(
                        "Tried to delete resource record set {key} but it was not found"
                    )),
                    Some(existing) if !same_content(existing, set) => errors.push(format!(
                        "Tried to delete resource record set {key} but the values provided do not match the current values"
                    )),
                    Some(_) => {
                        next.remove(&k);
                    }
                },
                Action::Upsert => {
                    next.insert(k, set.clone());
                }
            }
            if change.action != Action::Delete && set.weight.is_some() && set.alias.is_none() {
                group_ttl.insert((set.name.clone(), set.rtype), set.ttl);
            }
        }
        // Route 53: within a weighted group, the TTL written last applies to every set.
        for ((name, rtype), ttl) in &group_ttl {
            let prefix = group_prefix(name, *rtype);
            let stale: Vec<String> = prefixed(&next, &prefix)
                .filter(|(_, s)| s.weight.is_some() && s.alias.is_none() && s.ttl != *ttl)
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                if let Some(s) = next.get_mut(&k) {
                    s.ttl = *ttl;
                }
            }
        }
        for change in changes {
            if change.action != Action::Delete {
                check_alias(&self.origin, &next, &change.record_set, &mut errors);
            }
        }
        for (name, rtype) in &touched {
            check_group(&self.origin, &next, name, *rtype, &mut errors);
        }
        // A zone already beyond the quota (loaded from an older state file) may still shrink.
        if next.len() > max_sets && next.len() > self.sets.len() {
            errors.push(format!(
                "The hosted zone {} would hold {} record sets; the limit is {max_sets} (Route 53's \
                 quota of record sets per hosted zone: spread the names over hosted zones, or ask \
                 AWS for a higher quota)",
                self.origin,
                next.len()
            ));
        }
        if errors.is_empty() {
            self.sets = next;
            Ok(())
        } else {
            Err(ChangeError::InvalidChangeBatch(errors))
        }
    }
}

/// Route 53's input checks of a batch as a whole (its size limits) before any record is looked
/// at: the lab resolver runs them before it evaluates a policy over the batch's names.
pub fn validate_input(changes: &[Change]) -> Result<(), ChangeError> {
    if changes.is_empty() {
        return Err(ChangeError::InvalidInput(
            "1 validation error detected: Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ));
    }
    if changes.len() > MAX_CHANGES {
        return Err(ChangeError::InvalidInput(format!(
            "1 validation error detected: the batch has {} changes; Route 53 allows at most {MAX_CHANGES}",
            changes.len()
        )));
    }
    let mut too_big = Vec::new();
    let records = changes
        .iter()
        .map(Change::records)
        .fold(0, usize::saturating_add);
    if records > MAX_RECORDS {
        too_big.push(format!(
            "Number of records limit of {MAX_RECORDS} exceeded. The batch holds {records} \
             ResourceRecord elements (UPSERT values count twice); split the batch"
        ));
    }
    let value_chars = changes
        .iter()
        .map(Change::value_chars)
        .fold(0, usize::saturating_add);
    if value_chars > MAX_VALUE_CHARS {
        too_big.push(format!(
            "Character limit of {MAX_VALUE_CHARS} exceeded: the values of the batch hold \
             {value_chars} characters (UPSERT values count twice); split the batch"
        ));
    }
    if !too_big.is_empty() {
        return Err(ChangeError::InvalidChangeBatch(too_big));
    }
    for change in changes {
        let s = &change.record_set;
        if let Some(note) = &s.opaque {
            return Err(ChangeError::InvalidInput(format!(
                "Invalid request: {note} is not supported, in Change with {}",
                describe(change)
            )));
        }
        if let Some(w) = s.weight
            && !(0..=255).contains(&w)
        {
            return Err(ChangeError::InvalidInput(format!(
                "1 validation error detected: Value '{w}' at 'changeBatch.changes.member.resourceRecordSet.weight' failed to satisfy constraint: Member must have value between 0 and 255"
            )));
        }
        let policies = usize::from(s.weight.is_some())
            + usize::from(s.geo.is_some())
            + usize::from(s.cidr.is_some())
            + usize::from(s.multivalue);
        let found = |n: usize| if n == 0 { "none" } else { "more than one" };
        match &s.set_identifier {
            Some(id) if id.is_empty() || id.chars().count() > 128 => {
                return Err(ChangeError::InvalidInput(format!(
                    "1 validation error detected: SetIdentifier must be 1-128 characters, in Change with {}",
                    describe(change)
                )));
            }
            Some(_) if policies != 1 => {
                return Err(ChangeError::InvalidInput(format!(
                    "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found {} in Change with {}",
                    found(policies),
                    describe(change)
                )));
            }
            None if policies > 0 => {
                return Err(ChangeError::InvalidInput(format!(
                    "Invalid request: Missing field 'SetIdentifier' in Change with {}",
                    describe(change)
                )));
            }
            _ => {}
        }
        // An alias has neither TTL nor values; any other set has both.
        let forms = match (s.alias.is_some(), s.ttl.is_some(), s.values.is_empty()) {
            (true, false, true) | (false, true, false) => 1,
            (true, _, _) => 2,
            (false, _, _) => 0,
        };
        if forms != 1 {
            return Err(ChangeError::InvalidInput(format!(
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found {} in Change with {}",
                found(forms),
                describe(change)
            )));
        }
        if let Some(geo) = &s.geo
            && change.action != Action::Delete
        {
            check_geo(geo).map_err(|why| {
                ChangeError::InvalidInput(format!("{why}, in Change with {}", describe(change)))
            })?;
        }
        if s.multivalue && (s.alias.is_some() || matches!(s.rtype, RrType::Ns | RrType::Cname)) {
            return Err(ChangeError::InvalidInput(format!(
                "Invalid request: a multivalue answer record cannot be an alias, an NS or a CNAME record, in Change with {}",
                describe(change)
            )));
        }
        if let Some(cidr) = &s.cidr {
            check_cidr_routing(s.rtype, cidr).map_err(|why| {
                ChangeError::InvalidInput(format!("{why}, in Change with {}", describe(change)))
            })?;
        }
        if s.values.len() > MAX_VALUES_PER_SET {
            return Err(ChangeError::InvalidChangeBatch(vec![format!(
                "Cannot have more than {MAX_VALUES_PER_SET} records in a RRSet: {} has {}",
                describe(change),
                s.values.len()
            )]));
        }
    }
    Ok(())
}

/// The record types IP-based routing serves (Route 53's developer guide).
const CIDR_TYPES: [RrType; 10] = [
    RrType::A,
    RrType::Aaaa,
    RrType::Caa,
    RrType::Cname,
    RrType::Mx,
    RrType::Naptr,
    RrType::Ptr,
    RrType::Spf,
    RrType::Srv,
    RrType::Txt,
];

/// Route 53's `CidrRoutingConfig` rules: a collection id, a location name (or `*`), a type IP-based
/// routing serves.
fn check_cidr_routing(rtype: RrType, cidr: &CidrRouting) -> Result<(), String> {
    if !is_collection_id(&cidr.collection_id) {
        return Err(format!(
            "1 validation error detected: Value '{}' at 'changeBatch.changes.member.resourceRecordSet.cidrRoutingConfig.collectionId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-f]{{8}}-(?:[0-9a-f]{{4}}-){{3}}[0-9a-f]{{12}}",
            cidr.collection_id
        ));
    }
    if cidr.location_name != CIDR_DEFAULT_LOCATION && !is_location_name(&cidr.location_name) {
        return Err(format!(
            "1 validation error detected: Value '{}' at 'changeBatch.changes.member.resourceRecordSet.cidrRoutingConfig.locationName' failed to satisfy constraint: Member must have length less than or equal to 16 and satisfy regular expression pattern: [0-9A-Za-z_\\-\\*]+",
            cidr.location_name
        ));
    }
    if !CIDR_TYPES.contains(&rtype) {
        return Err(format!(
            "Invalid request: IP-based routing does not serve type {rtype}"
        ));
    }
    Ok(())
}

/// Route 53's `GeoProximityLocation` rules: exactly one place, coordinates in its decimal
/// format, a known Region or Local Zone group, a bias of −99 to 99.
fn check_geo(geo: &GeoProximity) -> Result<(), GeoLocationError> {
    let places = usize::from(geo.aws_region.is_some())
        + usize::from(geo.local_zone_group.is_some())
        + usize::from(geo.coordinates.is_some());
    if places != 1 {
        return Err(GeoLocationError::Places(places));
    }
    if let Some((lat, lon)) = &geo.coordinates {
        geo::Coordinates::parse_route53(lat, lon).map_err(GeoLocationError::Coordinates)?;
    }
    if let Some(region) = &geo.aws_region
        && geo::aws_region(region).is_none()
    {
        return Err(GeoLocationError::Region(region.clone()));
    }
    if let Some(group) = &geo.local_zone_group
        && geo::local_zone_group_coordinates(group).is_none()
    {
        return Err(GeoLocationError::LocalZoneGroup(group.clone()));
    }
    if let Some(bias) = geo.bias
        && !(i64::from(geo::MIN_BIAS)..=i64::from(geo::MAX_BIAS)).contains(&bias)
    {
        return Err(GeoLocationError::Bias(bias));
    }
    Ok(())
}

/// Why a `GeoProximityLocation` breaks Route 53's rules, in its words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum GeoLocationError {
    /// Not exactly one place (this many).
    #[error(
        "Invalid request: Expected exactly one of [AWSRegion, LocalZoneGroup, or Coordinates], but found {} in GeoProximityLocation",
        if *.0 == 0 { "none" } else { "more than one" }
    )]
    Places(usize),
    /// Coordinates outside Route 53's format.
    #[error("Invalid request: {0}")]
    Coordinates(geo::GeoError),
    /// An unknown Region.
    #[error(
        "Invalid request: AWSRegion {0:?} is not a Region this resolver knows (see geo::AWS_REGIONS)"
    )]
    Region(String),
    /// An unknown Local Zone group.
    #[error(
        "Invalid request: LocalZoneGroup {0:?} is neither a Local Zone group this resolver knows \
         nor named after a Region it knows (see geo::LOCAL_ZONE_GROUPS)"
    )]
    LocalZoneGroup(String),
    /// A bias outside −99 to 99.
    #[error(
        "1 validation error detected: Value '{0}' at 'changeBatch.changes.member.resourceRecordSet.geoProximityLocation.bias' failed to satisfy constraint: Member must have value between {min} and {max}",
        min = geo::MIN_BIAS,
        max = geo::MAX_BIAS
    )]
    Bias(i64),
}

/// Route 53's alias rule: the target lies in the zone and exists (after the batch) with the
/// alias's type. Aliases to other hosted zones are not modelled.
fn check_alias(
    origin: &Fqdn,
    sets: &OrdMap<String, RecordSet>,
    set: &RecordSet,
    errors: &mut Vec<String>,
) {
    let Some(alias) = &set.alias else {
        return;
    };
    let target = &alias.dns_name;
    let head = format!(
        "Tried to create an alias that targets {target}, type {} in zone {}",
        set.rtype, alias.hosted_zone_id
    );
    if !target.is_within(origin) {
        errors.push(format!(
            "{head}, but the alias target name does not lie within the target zone"
        ));
    } else if *target == set.name {
        errors.push(format!("{head}, but an alias cannot target itself"));
    } else if prefixed(sets, &group_prefix(target, set.rtype))
        .next()
        .is_none()
    {
        errors.push(format!("{head}, but that target was not found"));
    }
}

/// The routing policy of a record set, for the rule that a name and type holds one policy.
fn policy(set: &RecordSet) -> &'static str {
    if set.weight.is_some() {
        "weighted"
    } else if set.geo.is_some() {
        "geoproximity"
    } else if set.cidr.is_some() {
        "IP-based"
    } else if set.multivalue {
        "multivalue answer"
    } else {
        "simple"
    }
}

fn check_group(
    origin: &Fqdn,
    sets: &OrdMap<String, RecordSet>,
    name: &Fqdn,
    rtype: RrType,
    errors: &mut Vec<String>,
) {
    let group_prefix = group_prefix(name, rtype);
    let group: Vec<&RecordSet> = prefixed(sets, &group_prefix).map(|(_, s)| s).collect();
    let weighted = group.iter().filter(|s| s.weight.is_some()).count();
    let geoproximity = group.iter().filter(|s| policy(s) == "geoproximity").count();
    let policies: BTreeSet<&str> = group.iter().map(|s| policy(s)).collect();
    if policies.len() > 1 {
        if policies.contains("weighted") {
            errors.push(format!(
                "RRSet with DNS name {name}, type {rtype} cannot mix weighted and non-weighted record sets"
            ));
        } else {
            let mixed: Vec<&str> = policies.iter().copied().collect();
            errors.push(format!(
                "RRSet with DNS name {name}, type {rtype} cannot mix {} record sets",
                mixed.join(" and ")
            ));
        }
    }
    // IP-based routing: one collection for the whole group, each location (and the default)
    // answered by one record set.
    let cidr: Vec<&CidrRouting> = group.iter().filter_map(|s| s.cidr.as_ref()).collect();
    let collections: BTreeSet<&str> = cidr.iter().map(|c| c.collection_id.as_str()).collect();
    if collections.len() > 1 {
        errors.push(format!(
            "RRSet with DNS name {name}, type {rtype} uses more than one CIDR collection; every IP-based record set of a name and type uses the same one"
        ));
    }
    let mut locations = BTreeSet::new();
    for c in &cidr {
        if !locations.insert(c.location_name.as_str()) {
            errors.push(format!(
                "RRSet with DNS name {name}, type {rtype} has more than one record set for CIDR location {}",
                c.location_name
            ));
        }
    }
    if weighted > MAX_WEIGHTED_PER_GROUP {
        errors.push(format!(
            "RRSet with DNS name {name}, type {rtype} has {weighted} weighted record sets; the limit is {MAX_WEIGHTED_PER_GROUP}"
        ));
    }
    let multivalue = group.iter().filter(|s| s.multivalue).count();
    if multivalue > MAX_MULTIVALUE_PER_GROUP {
        errors.push(format!(
            "RRSet with DNS name {name}, type {rtype} has {multivalue} multivalue answer record sets; the lab's limit is {MAX_MULTIVALUE_PER_GROUP}"
        ));
    }
    if geoproximity > MAX_GEO_PER_GROUP {
        errors.push(format!(
            "RRSet with DNS name {name}, type {rtype} has {geoproximity} geoproximity record sets; the limit is {MAX_GEO_PER_GROUP}"
        ));
    }
    let name_prefix = format!("{name} ");
    let at_name: Vec<&RecordSet> = prefixed(sets, &name_prefix).map(|(_, s)| s).collect();
    let has_cname = at_name.iter().any(|s| s.rtype == RrType::Cname);
    if has_cname {
        if name == origin {
            errors.push(format!(
                "RRSet of type CNAME with DNS name {name} is not permitted at apex in zone {origin}"
            ));
        } else if at_name.iter().any(|s| s.rtype != RrType::Cname) {
            errors.push(format!(
                "RRSet of type CNAME with DNS name {name} is not permitted as it conflicts with other records with the same DNS name in zone {origin}"
            ));
        }
        if at_name
            .iter()
            .any(|s| s.rtype == RrType::Cname && s.values.len() > 1)
        {
            errors.push(format!(
                "RRSet of type CNAME with DNS name {name} has more than one value; a CNAME holds exactly one"
            ));
        }
    }
}

/// Route 53's DELETE match: same TTL, weight, alias target, location and values (values
/// compared as a set).
fn same_content(a: &RecordSet, b: &RecordSet) -> bool {
    let sorted = |s: &RecordSet| {
        let mut v = s.values.clone();
        v.sort();
        v
    };
    a.ttl == b.ttl
        && a.weight == b.weight
        && a.alias == b.alias
        && a.geo == b.geo
        && a.cidr == b.cidr
        && a.multivalue == b.multivalue
        && a.opaque == b.opaque
        && a.health_check_id == b.health_check_id
        && sorted(a) == sorted(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Fqdn {
        Fqdn::parse("lab.test").unwrap()
    }

    fn rs(
        name: &str,
        rtype: &str,
        id: Option<&str>,
        weight: Option<i64>,
        ttl: u32,
        values: &[&str],
    ) -> RecordSet {
        RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: rtype.parse().unwrap(),
            set_identifier: id.map(str::to_owned),
            weight,
            ttl: Some(ttl),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }

    fn any(_: RrType, _: &str) -> Result<(), ValueError> {
        Ok(())
    }

    const COLLECTION: &str = "0b5c3a3e-5f3c-4c2e-9d2b-7a1e3c9f0a11";

    fn ip_based(id: &str, collection: &str, location: &str, rtype: &str) -> RecordSet {
        let mut s = rs(
            "carrier.lab.test",
            rtype,
            Some(id),
            None,
            60,
            &["192.0.2.1"],
        );
        if rtype == "NS" {
            s.values = vec!["ns.lab.test.".into()];
        }
        s.cidr = Some(CidrRouting {
            collection_id: collection.into(),
            location_name: location.into(),
        });
        s
    }

    #[test]
    fn multivalue_answer_sets_follow_route53s_rules() {
        let mv = |id: &str, rtype: &str, value: &str| {
            let mut s = rs("mv.lab.test", rtype, Some(id), None, 60, &[value]);
            s.multivalue = true;
            s
        };
        let mut z = ZoneRecords::new(origin());
        let create = |sets: Vec<RecordSet>| -> Vec<Change> {
            sets.into_iter().map(Change::create).collect()
        };
        z.apply(
            &create(vec![mv("a", "A", "192.0.2.1"), mv("b", "A", "192.0.2.2")]),
            &any,
        )
        .unwrap();
        let e = errors(z.apply(
            &create(vec![rs(
                "mv.lab.test",
                "A",
                Some("w"),
                Some(1),
                60,
                &["192.0.2.3"],
            )]),
            &any,
        ));
        assert!(e.contains("cannot mix"), "{e}");
        for bad in [
            mv("c", "CNAME", "x.lab.test."),
            mv("c", "NS", "ns.lab.test."),
        ] {
            let e = errors(z.apply(&create(vec![bad]), &any));
            assert!(e.contains("cannot be an alias, an NS or a CNAME"), "{e}");
        }
        let mut anonymous = mv("c", "A", "192.0.2.4");
        anonymous.set_identifier = None;
        assert!(
            errors(z.apply(&create(vec![anonymous]), &any))
                .contains("Missing field 'SetIdentifier'")
        );
        let many: Vec<RecordSet> = (0..MAX_MULTIVALUE_PER_GROUP)
            .map(|i| mv(&format!("m{i}"), "AAAA", &format!("2001:db8::{i:x}")))
            .collect();
        z.apply(&create(many), &any).unwrap();
        let e = errors(z.apply(
            &create(vec![mv("one-more", "AAAA", "2001:db8::ffff")]),
            &any,
        ));
        assert!(
            e.contains("multivalue answer record sets; the lab's limit"),
            "{e}"
        );
    }

    #[test]
    fn ip_based_sets_follow_route53s_rules() {
        let mut z = ZoneRecords::new(origin());
        let create = |sets: Vec<RecordSet>| -> Vec<Change> {
            sets.into_iter().map(Change::create).collect()
        };
        // One collection, one set per location, the default `*` among them.
        z.apply(
            &create(vec![
                ip_based("a", COLLECTION, "carrier-a", "A"),
                ip_based("d", COLLECTION, "*", "A"),
            ]),
            &any,
        )
        .unwrap();
        assert_eq!(z.len(), 2);
        let refused =
            |z: &mut ZoneRecords, sets: Vec<RecordSet>| errors(z.apply(&create(sets), &any));
        let other = "1b5c3a3e-5f3c-4c2e-9d2b-7a1e3c9f0a11";
        let e = refused(&mut z, vec![ip_based("b", other, "carrier-b", "A")]);
        assert!(e.contains("more than one CIDR collection"), "{e}");
        let e = refused(&mut z, vec![ip_based("b", COLLECTION, "carrier-a", "A")]);
        assert!(
            e.contains("more than one record set for CIDR location carrier-a"),
            "{e}"
        );
        let e = refused(
            &mut z,
            vec![rs(
                "carrier.lab.test",
                "A",
                Some("w"),
                Some(1),
                60,
                &["192.0.2.2"],
            )],
        );
        assert!(e.contains("cannot mix"), "{e}");
        // Input rules: the id's form, the location's, the types IP-based routing serves, one
        // routing policy, a SetIdentifier.
        for (set, why) in [
            (ip_based("x", "not-a-uuid", "a", "A"), "collectionId"),
            (
                ip_based("x", COLLECTION, "seventeen-chars-x", "A"),
                "locationName",
            ),
            (ip_based("x", COLLECTION, "a b", "A"), "locationName"),
            (
                ip_based("x", COLLECTION, "a", "NS"),
                "does not serve type NS",
            ),
        ] {
            let e = refused(&mut z, vec![set]);
            assert!(e.contains(why), "{why}: {e}");
        }
        let mut both = ip_based("x", COLLECTION, "c", "A");
        both.weight = Some(1);
        assert!(refused(&mut z, vec![both]).contains("Expected exactly one of"));
        let mut anonymous = ip_based("x", COLLECTION, "c", "A");
        anonymous.set_identifier = None;
        assert!(refused(&mut z, vec![anonymous]).contains("Missing field 'SetIdentifier'"));
        // DELETE matches the routing too.
        let mut moved = ip_based("a", COLLECTION, "carrier-z", "A");
        let e = errors(z.apply(&[Change::delete(moved.clone())], &any));
        assert!(e.contains("do not match"), "{e}");
        moved.cidr = ip_based("a", COLLECTION, "carrier-a", "A").cidr;
        z.apply(&[Change::delete(moved)], &any).unwrap();
        assert_eq!(z.len(), 1);
    }

    fn errors(r: Result<(), ChangeError>) -> String {
        r.unwrap_err().to_string()
    }

    /// A geoproximity alias at `edge.lab.test` for zone `id`, to `target`.
    fn tier(id: &str, target: &str, lat: &str, lon: &str) -> RecordSet {
        RecordSet {
            ttl: None,
            values: Vec::new(),
            alias: Some(crate::model::AliasTarget {
                hosted_zone_id: "Z1".into(),
                dns_name: Fqdn::parse(target).unwrap(),
                evaluate_target_health: true,
            }),
            geo: Some(GeoProximity {
                coordinates: Some((lat.into(), lon.into())),
                ..GeoProximity::default()
            }),
            ..rs("edge.lab.test", "A", Some(id), None, 0, &[])
        }
    }

    /// The weighted pool `bos.lab.test` with one target, an alias target for [`tier`].
    fn bos_pool() -> RecordSet {
        rs(
            "bos.lab.test",
            "A",
            Some("i-1"),
            Some(10),
            5,
            &["192.0.2.1"],
        )
    }

    #[test]
    fn geoproximity_aliases_need_an_existing_target_and_one_place() {
        let mut z = ZoneRecords::new(origin());
        let pool = bos_pool();
        let bos = tier("bos", "bos.lab.test", "42.36", "-71.06");
        // The target must exist after the batch: alone, the alias is refused …
        let alone = errors(z.apply(&[Change::create(bos.clone())], &any));
        assert!(alone.contains("but that target was not found"), "{alone}");
        // … with its target in the same batch, both are created.
        z.apply(&[Change::create(pool), Change::create(bos.clone())], &any)
            .unwrap();
        // A DELETE must match the location and the alias exactly.
        let moved = tier("bos", "bos.lab.test", "42.37", "-71.06");
        let e = errors(z.apply(&[Change::delete(moved)], &any));
        assert!(e.contains("do not match"), "{e}");
        // A target outside the zone, an alias to itself.
        let outside = tier("nyc", "nyc.example.com", "40.71", "-74.01");
        let e = errors(z.apply(&[Change::create(outside)], &any));
        assert!(e.contains("does not lie within the target zone"), "{e}");
        let me = tier("me", "edge.lab.test", "40.71", "-74.01");
        let e = errors(z.apply(&[Change::create(me)], &any));
        assert!(e.contains("cannot target itself"), "{e}");
        z.apply(&[Change::delete(bos)], &any).unwrap();
    }

    #[test]
    fn geoproximity_sets_follow_route53s_input_rules() {
        let mut z = ZoneRecords::new(origin());
        let pool = bos_pool();
        z.apply(&[Change::create(pool)], &any).unwrap();
        let ok = tier("bos", "bos.lab.test", "42.36", "-71.06");
        let bad = |f: &dyn Fn(&mut RecordSet)| {
            let mut s = ok.clone();
            f(&mut s);
            let mut z = z.clone();
            match z.apply(&[Change::create(s)], &any) {
                Err(ChangeError::InvalidInput(m)) => m,
                other => panic!("expected InvalidInput, got {other:?}"),
            }
        };
        let geo = |s: &mut RecordSet| s.geo.as_mut().unwrap().clone();
        let e = bad(&|s| s.weight = Some(1));
        assert!(e.contains("but found more than one"), "{e}");
        let e = bad(&|s| s.ttl = Some(5));
        assert!(
            e.contains("[AliasTarget, all of [TTL, and ResourceRecords]"),
            "{e}"
        );
        let e = bad(&|s| {
            let mut g = geo(s);
            g.aws_region = Some("us-east-1".into());
            s.geo = Some(g);
        });
        assert!(
            e.contains("[AWSRegion, LocalZoneGroup, or Coordinates]"),
            "{e}"
        );
        let e = bad(&|s| s.geo = Some(GeoProximity::default()));
        assert!(e.contains("but found none"), "{e}");
        let e = bad(&|s| {
            let mut g = geo(s);
            g.bias = Some(100);
            s.geo = Some(g);
        });
        assert!(e.contains("between -99 and 99"), "{e}");
        let e = bad(&|s| {
            let mut g = geo(s);
            g.coordinates = Some(("91".into(), "0".into()));
            s.geo = Some(g);
        });
        assert!(e.contains("91"), "{e}");
        let e = bad(&|s| {
            s.geo = Some(GeoProximity {
                aws_region: Some("mars-north-1".into()),
                ..GeoProximity::default()
            })
        });
        assert!(e.contains("mars-north-1"), "{e}");
        // One name and type holds one routing policy.
        let mut z2 = z.clone();
        z2.apply(&[Change::create(ok)], &any).unwrap();
        let weighted = rs("edge.lab.test", "A", Some("w"), Some(1), 5, &["192.0.2.9"]);
        let e = errors(z2.apply(&[Change::create(weighted)], &any));
        assert!(e.contains("cannot mix"), "{e}");
    }

    #[test]
    fn at_most_30_geoproximity_sets_per_name_and_type() {
        let mut z = ZoneRecords::new(origin());
        z.apply(&[Change::create(bos_pool())], &any).unwrap();
        let member = |i: usize| tier(&format!("g{i}"), "bos.lab.test", "42.36", &format!("-{i}"));
        let creates: Vec<Change> = (0..30).map(|i| Change::create(member(i))).collect();
        z.apply(&creates, &any).unwrap();
        let e = errors(z.apply(&[Change::create(member(30))], &any));
        assert!(
            e.contains("has 31 geoproximity record sets; the limit is 30"),
            "{e}"
        );
        // Another type at the same name, or another name, has its own 30.
        let mut aaaa = member(30);
        aaaa.rtype = RrType::Aaaa;
        let mut pool6 = bos_pool();
        pool6.rtype = RrType::Aaaa;
        pool6.values = vec!["2001:db8::1".into()];
        z.apply(&[Change::create(pool6), Change::create(aaaa)], &any)
            .unwrap();
        // An UPSERT of a member replaces it: still 30.
        let mut moved = member(0);
        moved.geo.as_mut().unwrap().bias = Some(10);
        z.apply(&[upsert(moved)], &any).unwrap();
    }

    #[test]
    fn batches_are_atomic_and_deletes_exact() {
        let mut z = ZoneRecords::new(origin());
        let a = rs("www.lab.test", "A", Some("a"), Some(10), 30, &["192.0.2.1"]);
        z.apply(&[Change::create(a.clone())], &any).unwrap();
        let mut wrong = a.clone();
        wrong.values = vec!["192.0.2.9".into()];
        let b = rs("www.lab.test", "A", Some("b"), Some(10), 30, &["192.0.2.2"]);
        let e = errors(z.apply(&[Change::create(b.clone()), Change::delete(wrong)], &any));
        assert!(e.contains("do not match the current values"), "{e}");
        assert_eq!(z.len(), 1, "the CREATE in the failed batch did not apply");
        let e = errors(z.apply(&[Change::create(a.clone())], &any));
        assert!(e.contains("but it already exists"), "{e}");
        z.apply(&[Change::delete(a.clone())], &any).unwrap();
        let e = errors(z.apply(&[Change::delete(a)], &any));
        assert!(e.contains("but it was not found"), "{e}");
    }

    #[test]
    fn route53_rules() {
        let mut z = ZoneRecords::new(origin());
        let e = errors(z.apply(
            &[Change::create(rs(
                "www.other.test",
                "A",
                None,
                None,
                30,
                &["192.0.2.1"],
            ))],
            &any,
        ));
        assert!(e.contains("is not permitted in zone lab.test."), "{e}");
        let e = errors(z.apply(
            &[Change::create(rs(
                "www.lab.test",
                "A",
                Some("a"),
                Some(256),
                30,
                &["192.0.2.1"],
            ))],
            &any,
        ));
        assert!(e.contains("255"), "{e}");
        assert!(matches!(
            z.apply(
                &[Change::create(rs(
                    "www.lab.test",
                    "A",
                    Some("a"),
                    None,
                    30,
                    &["192.0.2.1"]
                ))],
                &any
            ),
            Err(ChangeError::InvalidInput(_))
        ));
        z.apply(
            &[Change::create(rs(
                "www.lab.test",
                "A",
                None,
                None,
                30,
                &["192.0.2.1"],
            ))],
            &any,
        )
        .unwrap();
        let e = errors(z.apply(
            &[Change::create(rs(
                "www.lab.test",
                "A",
                Some("a"),
                Some(1),
                30,
                &["192.0.2.1"],
            ))],
            &any,
        ));
        assert!(e.contains("cannot mix weighted and non-weighted"), "{e}");
        let e = errors(z.apply(
            &[Change::create(rs(
                "www.lab.test",
                "CNAME",
                None,
                None,
                30,
                &["x.lab.test."],
            ))],
            &any,
        ));
        assert!(e.contains("conflicts with other records"), "{e}");
        let e = errors(z.apply(
            &[Change::delete(rs(
                "lab.test",
                "NS",
                None,
                None,
                30,
                &["ns.lab.test."],
            ))],
            &any,
        ));
        assert!(e.contains("can only be changed with UPSERT"), "{e}");
        let reject = |t: RrType, v: &str| {
            if t == RrType::A && v.parse::<std::net::Ipv4Addr>().is_err() {
                Err("ARRDATAIllegalIPv4Address".into())
            } else {
                Ok(())
            }
        };
        let e = errors(z.apply(
            &[Change::create(rs(
                "bad.lab.test",
                "A",
                None,
                None,
                30,
                &["nope"],
            ))],
            &reject,
        ));
        assert!(
            e.contains("ARRDATAIllegalIPv4Address") && e.contains("'nope'"),
            "{e}"
        );
    }

    #[test]
    fn at_most_100_weighted_and_one_ttl_per_group() {
        let mut z = ZoneRecords::new(origin());
        let creates: Vec<Change> = (0..100)
            .map(|i| {
                Change::create(rs(
                    "w.lab.test",
                    "A",
                    Some(&format!("s{i}")),
                    Some(1),
                    30,
                    &["192.0.2.1"],
                ))
            })
            .collect();
        z.apply(&creates, &any).unwrap();
        let e = errors(z.apply(
            &[Change::create(rs(
                "w.lab.test",
                "A",
                Some("s100"),
                Some(1),
                30,
                &["192.0.2.1"],
            ))],
            &any,
        ));
        assert!(e.contains("the limit is 100"), "{e}");
        let old = rs("w.lab.test", "A", Some("s0"), Some(1), 30, &["192.0.2.1"]);
        let new = rs("w.lab.test", "A", Some("s0"), Some(1), 60, &["192.0.2.1"]);
        z.apply(&[Change::delete(old), Change::create(new)], &any)
            .unwrap();
        assert!(
            z.sets().all(|s| s.ttl == Some(60)),
            "the last TTL written applies to the group"
        );
    }

    fn batch_error(r: Result<(), ChangeError>) -> String {
        match r {
            Err(ChangeError::InvalidChangeBatch(m)) => m.join("; "),
            other => panic!("expected InvalidChangeBatch, got {other:?}"),
        }
    }

    #[test]
    fn a_set_holds_at_most_400_values() {
        let mut z = ZoneRecords::new(origin());
        let values: Vec<String> = (0..=MAX_VALUES_PER_SET)
            .map(|i| format!("192.0.{}.{}", i / 256, i % 256))
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let big = rs("m.lab.test", "A", None, None, 30, &refs);
        let e = batch_error(z.apply(&[Change::create(big)], &any));
        assert!(e.contains("more than 400 records"), "{e}");
        assert!(z.is_empty());
        let fits = rs(
            "m.lab.test",
            "A",
            None,
            None,
            30,
            &refs[..MAX_VALUES_PER_SET],
        );
        z.apply(&[Change::create(fits)], &any).unwrap();
    }

    #[test]
    fn a_batch_holds_at_most_32000_value_characters_upserts_twice() {
        let mut z = ZoneRecords::new(origin());
        let value = format!("\"{}\"", "x".repeat(198));
        let sets = |n: usize| -> Vec<RecordSet> {
            (0..n)
                .map(|i| rs(&format!("t{i}.lab.test"), "TXT", None, None, 30, &[&value]))
                .collect()
        };
        // 160 values of 200 characters: exactly the limit as CREATEs, twice it as UPSERTs.
        let creates: Vec<Change> = sets(160).into_iter().map(Change::create).collect();
        let upserts: Vec<Change> = sets(160)
            .into_iter()
            .map(|record_set| Change {
                action: Action::Upsert,
                record_set,
            })
            .collect();
        let e = batch_error(z.apply(&upserts, &any));
        assert!(e.contains("32000"), "{e}");
        z.apply(&creates, &any).unwrap();
        let more: Vec<Change> = sets(161).into_iter().map(Change::create).collect();
        assert!(batch_error(z.apply(&more, &any)).contains("32000"));
    }

    /// A set `name` of `n` distinct A values.
    fn wide(name: &str, n: usize) -> RecordSet {
        let mut set = rs(name, "A", None, None, 30, &[]);
        set.values = (0..n)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        set
    }

    fn upsert(record_set: RecordSet) -> Change {
        Change {
            action: Action::Upsert,
            record_set,
        }
    }

    #[test]
    fn a_batch_holds_at_most_1000_records_upserts_twice() {
        let over = "Number of records limit of 1000 exceeded.";
        let mut z = ZoneRecords::new(origin());
        // 400 + 400 + 201 CREATEd values: one past the limit, and nothing applies.
        let e = errors(z.apply(
            &[
                Change::create(wide("r0.lab.test", 400)),
                Change::create(wide("r1.lab.test", 400)),
                Change::create(wide("r2.lab.test", 201)),
            ],
            &any,
        ));
        assert!(e.starts_with(&format!("[{over}")), "{e}");
        assert!(e.contains("1001 ResourceRecord elements"), "{e}");
        assert!(z.is_empty());
        // Exactly the limit.
        z.apply(
            &[
                Change::create(wide("r0.lab.test", 400)),
                Change::create(wide("r1.lab.test", 400)),
                Change::create(wide("r2.lab.test", 200)),
            ],
            &any,
        )
        .unwrap();
        // UPSERTed values count twice: 250 + 250 is the limit, 250 + 251 one past it.
        z.apply(
            &[
                upsert(wide("r0.lab.test", 250)),
                upsert(wide("r1.lab.test", 250)),
            ],
            &any,
        )
        .unwrap();
        let e = batch_error(z.apply(
            &[
                upsert(wide("r0.lab.test", 251)),
                upsert(wide("r1.lab.test", 250)),
            ],
            &any,
        ));
        assert!(e.contains(over) && e.contains("1002 ResourceRecord"), "{e}");
        assert_eq!(
            z.sets().map(|s| s.values.len()).collect::<Vec<_>>(),
            [250, 250, 200],
            "the rejected UPSERTs changed nothing"
        );
        // The same 501 values as CREATEs count once.
        z.apply(
            &[
                Change::create(wide("c0.lab.test", 251)),
                Change::create(wide("c1.lab.test", 250)),
            ],
            &any,
        )
        .unwrap();
        // DELETEs count too: 200 + 400 + 401 values.
        let e = batch_error(z.apply(
            &[
                Change::delete(wide("r2.lab.test", 200)),
                Change::create(wide("d0.lab.test", 400)),
                Change::create(wide("d1.lab.test", 400)),
                Change::create(wide("d2.lab.test", 1)),
            ],
            &any,
        ));
        assert!(e.contains(over), "{e}");
    }

    #[test]
    fn a_batch_over_both_size_limits_reports_both_in_one_list() {
        let mut z = ZoneRecords::new(origin());
        let value = format!("\"{}\"", "x".repeat(38));
        let changes: Vec<Change> = (0..3)
            .map(|i| {
                let mut set = rs(&format!("t{i}.lab.test"), "TXT", None, None, 30, &[]);
                set.values = (0..334)
                    .map(|j| format!("\"{j}{}\"", &value[1..]))
                    .collect();
                Change::create(set)
            })
            .collect();
        let e = errors(z.apply(&changes, &any));
        assert!(
            e.starts_with("[Number of records limit of 1000 exceeded.")
                && e.contains(", Character limit of 32000 exceeded")
                && e.ends_with(']'),
            "{e}"
        );
    }

    #[test]
    fn a_zone_holds_at_most_10000_sets_but_may_shrink_beyond() {
        let set = |i: usize| {
            rs(
                &format!("h{i}.lab.test"),
                "A",
                None,
                None,
                30,
                &["192.0.2.1"],
            )
        };
        let mut z = ZoneRecords::from_sets(origin(), (0..MAX_RECORD_SETS).map(set));
        let e = batch_error(z.apply(&[Change::create(set(MAX_RECORD_SETS))], &any));
        assert!(e.contains("the limit is 10000"), "{e}");
        // A zone loaded beyond the quota accepts changes that do not grow it.
        let mut over = ZoneRecords::from_sets(origin(), (0..MAX_RECORD_SETS + 2).map(set));
        over.apply(&[Change::delete(set(0))], &any).unwrap();
        z.apply(&[Change::delete(set(0))], &any).unwrap();
        z.apply(&[Change::create(set(MAX_RECORD_SETS))], &any)
            .unwrap();
        // A raised quota: the same zone grows to it, and no further.
        let raised = MAX_RECORD_SETS + 2;
        z.apply_within(&[Change::create(set(0))], &any, raised)
            .unwrap();
        z.apply_within(&[Change::create(set(raised))], &any, raised)
            .unwrap();
        let e = batch_error(z.apply_within(&[Change::create(set(raised + 1))], &any, raised));
        assert!(
            e.contains("would hold 10003 record sets; the limit is 10002"),
            "{e}"
        );
    }
}
