//! The immutable view DNS queries are answered from. A change builds a new snapshot and swaps it
//! in atomically, so queries never wait on writes.
//!
//! The maps are persistent (`imbl`): a new snapshot is an O(1) copy of the current one with the
//! names a change touched rebuilt ([`Snapshot::updated`]), so publishing a change costs what it
//! changed, not the size of every zone. A new or deleted zone, or a health check's change,
//! rebuilds everything ([`Snapshot::of_zones`]).
//!
//! A snapshot is built from the zones it is handed ([`Zones`]: the Route 53 emulator's store is
//! one) and what a change touched ([`Changed`]); it never reads where they are kept.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use geo::Coordinates;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use prometheus_client::metrics::counter::Counter;
use registry::model::{CIDR_DEFAULT_LOCATION, GeoProximity, RecordSet};
use registry::name::Fqdn;
use registry::zone::ZoneRecords;

use crate::cidr::CidrTable;
use crate::geotable::GeoTable;

use crate::metrics::{AnswerCounters, AnswerLabels};

/// One weighted record set inside a group.
#[derive(Debug, Clone)]
pub struct WeightedSet {
    /// Its SetIdentifier, unique within the group.
    pub set_id: String,
    /// Its Route 53 weight (0-255): its share of answers is weight / the group's total.
    pub weight: u8,
    /// All its records, answered together (none for a weighted alias).
    pub records: Vec<Record>,
    /// A weighted alias record's target: what it answers in its place ([`crate::route`] follows
    /// it). Never on the fast path.
    pub alias: Option<Alias>,
    /// False when its health check (`HealthCheckId`) is unhealthy: [`Weighted::pick`] skips it
    /// while a healthy set is left. True for a set without a health check.
    pub healthy: bool,
    /// Its series of `wavelb_dns_answers_total`, resolved once when the snapshot is built so
    /// that answering does not hash labels.
    pub served: Counter,
    /// The answer section for an A or AAAA set, pre-encoded for [`crate::fast`]: every record
    /// with its owner compressed to the question's name (offset 12). `None` for other types.
    wire: Option<Box<[u8]>>,
}

impl WeightedSet {
    /// A set; `served` is the counter its answers increment.
    pub fn new(set_id: String, weight: u8, records: Vec<Record>, served: Counter) -> Self {
        let wire = encode_answers(&records);
        Self {
            set_id,
            weight,
            records,
            alias: None,
            healthy: true,
            served,
            wire,
        }
    }

    /// A weighted alias record to `alias`; `served` is the counter its answers increment.
    pub fn alias(set_id: String, weight: u8, alias: Alias, served: Counter) -> Self {
        Self {
            alias: Some(alias),
            ..Self::new(set_id, weight, Vec::new(), served)
        }
    }

    /// This set with its health check's status.
    pub fn with_health(mut self, healthy: bool) -> Self {
        self.healthy = healthy;
        self
    }

    /// The pre-encoded answer section (see the field), and how many records it holds.
    pub(crate) fn wire(&self) -> Option<(&[u8], u16)> {
        let wire = self.wire.as_deref()?;
        // At most 400 values per set (the API's limit) keep this far below u16::MAX.
        Some((wire, u16::try_from(self.records.len()).ok()?))
    }
}

/// The answer section of `records` when they are all A or all AAAA: each record's owner is a
/// compression pointer to the question (`C0 0C`), then type, class IN, TTL and address.
fn encode_answers(records: &[Record]) -> Option<Box<[u8]>> {
    let first = records.first()?.record_type();
    let mut wire = Vec::with_capacity(records.len() * 28);
    for r in records {
        let (rtype, address): (u16, Vec<u8>) = match &r.data {
            RData::A(a) if first == RecordType::A => (1, a.0.octets().to_vec()),
            RData::AAAA(a) if first == RecordType::AAAA => (28, a.0.octets().to_vec()),
            _ => return None,
        };
        wire.extend_from_slice(&[0xc0, 0x0c]);
        wire.extend_from_slice(&rtype.to_be_bytes());
        wire.extend_from_slice(&1u16.to_be_bytes());
        wire.extend_from_slice(&r.ttl.to_be_bytes());
        wire.extend_from_slice(&u16::try_from(address.len()).ok()?.to_be_bytes());
        wire.extend_from_slice(&address);
    }
    Some(wire.into_boxed_slice())
}

/// A weighted group (same name and type), with cumulative weights for an O(log n) pick.
///
/// Which sets take part is decided once, when the group is built, as Route 53 chooses among
/// weighted records with health checks (developer guide, "How Amazon Route 53 chooses records
/// when health checking is configured"): the healthy sets with a weight above 0; if there are
/// none, the healthy sets of weight 0 (uniformly); if every set is unhealthy, all sets as if
/// they were healthy (by weight; uniformly when every weight is 0).
#[derive(Debug, Clone)]
pub struct Weighted {
    /// The sets, in a fixed order.
    pub sets: Vec<WeightedSet>,
    /// The indexes of the sets that take part, and their cumulative weights (all 1 when the
    /// pick is uniform).
    eligible: Vec<usize>,
    cumulative: Vec<u64>,
    total: u64,
}

impl Weighted {
    /// Builds a group from its sets (kept in this order), choosing the sets that take part
    /// (see the type) and their cumulative weights.
    pub fn new(sets: Vec<WeightedSet>) -> Self {
        let indexes = |keep: &dyn Fn(&WeightedSet) -> bool| -> Vec<usize> {
            (0..sets.len()).filter(|&i| keep(&sets[i])).collect()
        };
        let mut eligible = indexes(&|s| s.healthy && s.weight > 0);
        let mut uniform = false;
        if eligible.is_empty() {
            eligible = indexes(&|s| s.healthy);
            uniform = true;
        }
        if eligible.is_empty() {
            eligible = indexes(&|s| s.weight > 0);
            uniform = false;
        }
        if eligible.is_empty() {
            eligible = (0..sets.len()).collect();
            uniform = true;
        }
        let mut cumulative = Vec::with_capacity(eligible.len());
        let mut total = 0u64;
        for &i in &eligible {
            total += if uniform {
                1
            } else {
                u64::from(sets[i].weight)
            };
            cumulative.push(total);
        }
        Self {
            sets,
            eligible,
            cumulative,
            total,
        }
    }

    /// The sets that take part, from the one at `picked` (an index into `sets`) on, wrapping: the
    /// order a weighted alias with `EvaluateTargetHealth` whose target has no records passes its
    /// turn in.
    pub fn eligible_from(&self, picked: &WeightedSet) -> impl Iterator<Item = &WeightedSet> {
        let start = self
            .eligible
            .iter()
            .position(|&i| std::ptr::eq(&self.sets[i], picked))
            .unwrap_or(0);
        let n = self.eligible.len();
        (1..n).filter_map(move |k| self.sets.get(self.eligible[(start + k) % n]))
    }

    /// Picks one set as Route 53 does among the sets that take part (see the type): with
    /// probability weight/Σweight, or uniformly. `random` is a uniform `u64`. Returns `None`
    /// only for an empty group.
    pub fn pick(&self, random: u64) -> Option<&WeightedSet> {
        if self.total == 0 {
            return None;
        }
        let x = random % self.total;
        let slot = self.cumulative.partition_point(|&c| c <= x);
        self.eligible.get(slot).and_then(|&i| self.sets.get(i))
    }
}

/// An alias record's target: a name in the same zone whose record set of the alias's type
/// answers in its place ([`crate::route`] follows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The target's name, lower case with trailing dot (the key of [`ZoneView::nodes`]).
    pub target: String,
    /// `EvaluateTargetHealth`: a target without records of the type makes the alias unusable.
    pub evaluate_target_health: bool,
}

/// What a geoproximity member answers with.
#[derive(Debug, Clone)]
pub enum Content {
    /// Its own records (never empty).
    Records(Vec<Record>),
    /// Whatever its alias target answers.
    Alias(Alias),
}

/// One record set of a geoproximity group.
#[derive(Debug, Clone)]
pub struct GeoMember {
    /// Its SetIdentifier.
    pub set_id: String,
    /// Where it is: its `Coordinates`, or the coordinates `geo` gives its
    /// `AWSRegion` or `LocalZoneGroup` (a lab approximation of Route 53's placement).
    pub place: Coordinates,
    /// Its `Bias`, −99 to 99 (0 when absent).
    pub bias: i32,
    /// Its records or its alias target.
    pub content: Content,
    /// False when its health check (`HealthCheckId`) is unhealthy: [`crate::route`] passes it
    /// over while a healthy member is left. True for a member without a health check.
    pub healthy: bool,
}

/// A geoproximity group (same name and type): one member answers, the nearest usable one to
/// the client by biased distance ([`crate::route`]).
#[derive(Debug, Clone)]
pub struct Geo {
    /// The members, in SetIdentifier order (the order ties and unknown clients follow).
    pub members: Vec<GeoMember>,
    /// The indexes of the members that take part: the healthy ones, or all when every one is
    /// unhealthy (decided once, when the group is built).
    candidates: Vec<usize>,
}

impl Geo {
    /// A group of `members` (kept in this order), choosing the members that take part.
    pub fn new(members: Vec<GeoMember>) -> Self {
        let mut candidates: Vec<usize> =
            (0..members.len()).filter(|&i| members[i].healthy).collect();
        if candidates.is_empty() {
            candidates = (0..members.len()).collect();
        }
        Self {
            members,
            candidates,
        }
    }

    /// The indexes of the members that take part (see the field), in SetIdentifier order.
    pub fn candidates(&self) -> &[usize] {
        &self.candidates
    }
}

/// One record set of an IP-based group.
#[derive(Debug, Clone)]
pub struct CidrMember {
    /// Its SetIdentifier.
    pub set_id: String,
    /// Its records or its alias target.
    pub content: Content,
    /// False when its health check (`HealthCheckId`) is unhealthy: [`crate::route`] answers
    /// with the default member instead.
    pub healthy: bool,
}

impl CidrMember {
    /// True for an alias with `EvaluateTargetHealth`: a target without records makes it
    /// unusable.
    pub fn evaluates_target_health(&self) -> bool {
        matches!(&self.content, Content::Alias(a) if a.evaluate_target_health)
    }
}

/// An IP-based group (same name and type, `CidrRoutingConfig`): the member of the client's
/// location answers, else the default's ([`crate::route`]).
#[derive(Debug, Clone)]
pub struct Cidr {
    /// The group's collection (empty when the collection is unknown: every client gets the
    /// default).
    pub table: Arc<CidrTable>,
    /// The members by `LocationName`.
    pub locations: HashMap<String, CidrMember>,
    /// The member of location `*`.
    pub default: Option<CidrMember>,
}

/// The most record sets a multivalue answer holds (Route 53: "up to eight healthy records").
pub const MULTIVALUE_ANSWER_SETS: usize = 8;

/// A multivalue answer group (same name and type, `MultiValueAnswer`): up to
/// [`MULTIVALUE_ANSWER_SETS`] of its sets answer together. The candidates are the healthy sets,
/// or every set when none is (Route 53 then answers with unhealthy ones); with more than eight,
/// each answer is a window of eight consecutive candidates (in SetIdentifier order, wrapping)
/// starting at a random one, so different resolvers get different combinations (a lab
/// approximation of Route 53's). Every window is one slice of [`Multivalue::windows`], built
/// once, so an answer costs no allocation.
#[derive(Debug, Clone)]
pub struct Multivalue {
    /// The candidates' records twice over, in SetIdentifier order.
    windows: Vec<Record>,
    /// Where each candidate's records start in `windows` (one more entry per wrap).
    starts: Vec<usize>,
    /// How many candidates there are.
    candidates: usize,
}

impl Multivalue {
    /// The group of `sets` (SetIdentifier, records, healthy), in SetIdentifier order.
    pub fn new(sets: &[MultivalueSet]) -> Self {
        let healthy: Vec<&Vec<Record>> = sets.iter().filter(|s| s.2).map(|s| &s.1).collect();
        let candidates: Vec<&Vec<Record>> = if healthy.is_empty() {
            sets.iter().map(|s| &s.1).collect()
        } else {
            healthy
        };
        let mut windows = Vec::new();
        let mut starts = Vec::new();
        for records in candidates.iter().chain(candidates.iter()) {
            starts.push(windows.len());
            windows.extend(records.iter().cloned());
        }
        starts.push(windows.len());
        Self {
            windows,
            starts,
            candidates: candidates.len(),
        }
    }

    /// The records of one answer: every candidate's when there are at most eight, else the
    /// eight from the candidate `random` picks.
    pub fn answer(&self, random: u64) -> &[Record] {
        let n = self.candidates;
        if n <= MULTIVALUE_ANSWER_SETS {
            return self
                .windows
                .get(..self.starts.get(n).copied().unwrap_or(0))
                .unwrap_or(&[]);
        }
        // n > 8 > 0, so the modulo is defined and the window stays within the doubled list.
        let first = usize::try_from(random % n as u64).unwrap_or(0);
        let (from, to) = (
            self.starts[first],
            self.starts[first + MULTIVALUE_ANSWER_SETS],
        );
        &self.windows[from..to]
    }
}

/// One set of a multivalue answer group as built: its SetIdentifier, records and health.
pub type MultivalueSet = (String, Vec<Record>, bool);

/// The record sets of one name and type.
#[derive(Debug, Clone)]
pub enum Rrset {
    /// Simple routing: every record is answered.
    Simple(Vec<Record>),
    /// Weighted routing: one set per answer (shared with the snapshot's fast-path table).
    Weighted(Arc<Weighted>),
    /// Geoproximity routing: the nearest usable member answers. Never on the fast path.
    Geo(Arc<Geo>),
    /// IP-based routing: the member of the client's location answers. Never on the fast path.
    Cidr(Arc<Cidr>),
    /// Multivalue answer routing: up to eight healthy sets answer together.
    Multivalue(Arc<Multivalue>),
    /// A simple alias record: its target answers.
    Alias(Alias),
}

/// Everything at one owner name.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The record sets at this name, by record type.
    pub rrsets: HashMap<RecordType, Rrset>,
}

/// One served zone: its records by owner name, and what negative answers need.
#[derive(Debug, Clone)]
pub struct ZoneView {
    /// The zone's name, lower case with trailing dot.
    pub origin: String,
    /// The hosted zone id (for metrics labels).
    pub zone_id: String,
    /// The apex SOA with the current serial, for negative answers.
    pub soa: Record,
    /// Owner names (lower case, trailing dot) → records.
    pub nodes: imbl::HashMap<String, Node>,
    /// Names with names below them (so a name without records there is an empty
    /// non-terminal).
    pub interior: Interior,
}

/// How many owner names lie below each name of a zone (down to its origin), kept as nodes come
/// and go, so that empty non-terminals are known without walking the zone.
#[derive(Debug, Clone, Default)]
pub struct Interior {
    below: imbl::HashMap<String, usize>,
}

impl Interior {
    /// True when some owner name lies below `name` (lower case, trailing dot).
    pub fn contains(&self, name: &str) -> bool {
        self.below.get(name).is_some_and(|&n| n > 0)
    }

    /// Counts `name` (a new owner name of the zone `origin`) below each of its ancestors.
    fn add(&mut self, name: &str, origin: &str) {
        for parent in ancestors(name, origin) {
            *self.below.entry(parent.to_owned()).or_default() += 1;
        }
    }

    /// Stops counting `name` (an owner name no longer in the zone `origin`).
    fn remove(&mut self, name: &str, origin: &str) {
        for parent in ancestors(name, origin) {
            match self.below.get_mut(parent) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    self.below.remove(parent);
                }
            }
        }
    }
}

/// The names above `name` down to the zone's `origin` (which is included).
fn ancestors<'a>(name: &'a str, origin: &'a str) -> impl Iterator<Item = &'a str> {
    let mut rest = name;
    std::iter::from_fn(move || {
        let (_, parent) = rest.split_once('.')?;
        if parent.len() < origin.len() || parent.is_empty() {
            return None;
        }
        rest = parent;
        Some(parent)
    })
}

impl ZoneView {
    /// True when `qname` (lower case, trailing dot) is the origin or below it.
    pub fn contains(&self, qname: &str) -> bool {
        let origin = &self.origin;
        qname == origin
            || (qname.len() > origin.len()
                && qname.ends_with(origin.as_str())
                && (origin == "." || qname.as_bytes()[qname.len() - origin.len() - 1] == b'.'))
    }
}

/// One hosted zone as a snapshot reads it.
#[derive(Debug, Clone, Copy)]
pub struct ZoneRef<'a> {
    /// The hosted zone id (for metrics labels, and to find it again in [`Changed`]).
    pub id: &'a str,
    /// The zone's apex name.
    pub name: &'a Fqdn,
    /// The SOA serial to publish.
    pub serial: u32,
    /// The zone's record sets.
    pub records: &'a ZoneRecords,
}

/// The zones a snapshot is built from, with the health of the checks their sets name.
pub trait Zones {
    /// Every zone, in a stable order: the first weighted sets in it keep their own answer
    /// series when there are more than [`crate::metrics::MAX_ANSWER_SERIES`].
    fn zones(&self) -> impl Iterator<Item = ZoneRef<'_>>;
    /// The zone with this id, if any.
    fn zone_by_id(&self, id: &str) -> Option<ZoneRef<'_>>;
    /// The status of every health check by id (true: healthy); a set whose `HealthCheckId` is
    /// missing here counts as healthy.
    fn health_statuses(&self) -> BTreeMap<String, bool>;
    /// Every CIDR collection's blocks, by collection id; an IP-based set whose collection is
    /// missing here answers every client with its group's default.
    fn cidr_tables(&self) -> BTreeMap<String, Arc<CidrTable>> {
        BTreeMap::new()
    }
}

/// What a change touched, as a snapshot rebuilds it ([`Snapshot::updated`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// A zone was created or deleted, a health check or a CIDR collection changed: everything
    /// is rebuilt.
    pub everything: bool,
    /// By zone id, the names whose record sets changed (none: the zone's serial only).
    pub names: BTreeMap<String, BTreeSet<Fqdn>>,
}

/// What one served zone is built from.
#[derive(Debug, Clone)]
pub struct ZoneSource<'a> {
    /// The hosted zone id (for metrics labels).
    pub zone_id: &'a str,
    /// The zone's apex name.
    pub origin: &'a Fqdn,
    /// The SOA serial to publish.
    pub serial: u32,
    /// The zone's record sets, as the zones' owner holds them.
    pub sets: Vec<&'a RecordSet>,
    /// The status of every health check by id ([`Zones::health_statuses`]); a set whose
    /// `HealthCheckId` is missing here counts as healthy.
    pub health: &'a BTreeMap<String, bool>,
    /// The CIDR collections' blocks by collection id ([`Zones::cidr_tables`]).
    pub cidr: &'a BTreeMap<String, Arc<CidrTable>>,
}

/// Every served zone and the fast-path table, built from the zones after each change and read
/// by every query without locking.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    zones: Vec<ZoneView>,
    /// The weighted A and AAAA groups by question: the lower-case wire name followed by the
    /// type (2 bytes, big-endian). Only groups whose every set is pre-encoded, and only in the
    /// zone that is authoritative for the name.
    fast: imbl::HashMap<Box<[u8]>, Arc<Weighted>>,
    /// Where clients are, for geoproximity answers (empty by default: every place unknown).
    geo_table: Arc<GeoTable>,
}

/// The fast-path types.
const FAST_TYPES: [RecordType; 2] = [RecordType::A, RecordType::AAAA];

impl Snapshot {
    /// Builds a snapshot. Values that do not parse are skipped with a warning (the API
    /// validates them, so this only happens with a hand-edited state file). Weighted sets count
    /// their answers in `answers`, whose series for sets this snapshot no longer holds are
    /// removed.
    pub fn build(sources: &[ZoneSource<'_>], answers: &AnswerCounters) -> Self {
        // Free the series of deleted sets first, so that the capped series go to the sets in
        // the sources' order (`AnswerCounters`), not to the first to come after a deletion.
        answers.retain(&source_labels(sources));
        let mut zones: Vec<ZoneView> = sources
            .iter()
            .filter_map(|s| build_zone(s, answers))
            .collect();
        answers.retain(&answer_labels(&zones));
        // Longest origin first, so the most specific zone answers.
        zones.sort_by_key(|z| std::cmp::Reverse(z.origin.len()));
        let mut snapshot = Self {
            zones,
            fast: imbl::HashMap::new(),
            geo_table: Arc::default(),
        };
        snapshot.fast = snapshot.fast_table();
        snapshot
    }

    fn fast_table(&self) -> imbl::HashMap<Box<[u8]>, Arc<Weighted>> {
        let mut fast = imbl::HashMap::new();
        for (index, zone) in self.zones.iter().enumerate() {
            for (name, node) in &zone.nodes {
                if !self.is_authoritative(index, name) {
                    continue;
                }
                for (key, group) in fast_entries(node) {
                    fast.insert(key, group);
                }
            }
        }
        fast
    }

    /// True when zone `index` answers for `name`: a name below a more specific zone is
    /// answered by that zone.
    fn is_authoritative(&self, index: usize, name: &str) -> bool {
        self.zones
            .iter()
            .position(|z| z.contains(name))
            .is_some_and(|i| i == index)
    }

    /// This snapshot with what `changed` names rebuilt from `zones`: an O(1) copy, then each
    /// changed name's node, its fast-path entries, the zone's empty non-terminals and the
    /// zone's SOA (its serial). A zone created or deleted, a health check changed, or a zone
    /// this snapshot does not serve, rebuilds everything ([`Snapshot::of_zones`]).
    pub fn updated(&self, zones: &impl Zones, changed: &Changed, answers: &AnswerCounters) -> Self {
        let full = || Self::of_zones(zones, answers).with_geo_table(self.geo_table.clone());
        if changed.everything {
            return full();
        }
        if changed.names.is_empty() {
            return self.clone();
        }
        let health = zones.health_statuses();
        let cidr = zones.cidr_tables();
        let mut next = self.clone();
        for (zone_id, names) in &changed.names {
            let Some(zone) = zones.zone_by_id(zone_id) else {
                return full();
            };
            let Some(index) = next.zones.iter().position(|z| z.zone_id == *zone_id) else {
                return full();
            };
            for name in names.iter().chain(std::iter::once(zone.name)) {
                let sets: Vec<&RecordSet> = zone.records.at_name(name).collect();
                next.rebuild_name(index, name, &sets, (&health, &cidr), answers);
            }
            let origin = zone.name.as_str();
            let view = &mut next.zones[index];
            let Some(apex) = view.nodes.get_mut(origin) else {
                return full();
            };
            let Some(soa) = live_soa(apex, zone.serial) else {
                return full();
            };
            view.soa = soa;
        }
        next
    }

    /// Rebuilds the node at `name` in zone `index` from `sets` (every record set there now).
    fn rebuild_name(
        &mut self,
        index: usize,
        name: &Fqdn,
        sets: &[&RecordSet],
        (health, cidr): (&BTreeMap<String, bool>, &BTreeMap<String, Arc<CidrTable>>),
        answers: &AnswerCounters,
    ) {
        let key = name.as_str().to_owned();
        let view = &mut self.zones[index];
        let src = ZoneSource {
            zone_id: &view.zone_id,
            origin: name,
            serial: 0,
            sets: sets.to_vec(),
            health,
            cidr,
        };
        let new = build_nodes(&src, answers).remove(&key);
        let old = match &new {
            Some(node) => view.nodes.insert(key.clone(), node.clone()),
            None => view.nodes.remove(&key),
        };
        let origin = view.origin.clone();
        match (&old, &new) {
            (None, Some(_)) => view.interior.add(&key, &origin),
            (Some(_), None) => view.interior.remove(&key, &origin),
            _ => {}
        }
        // The answer series of sets gone from this name (unless another zone serves them).
        let labels = |node: &Option<Node>| -> HashSet<AnswerLabels> {
            node.iter()
                .flat_map(|n| node_labels(&key, n))
                .collect::<HashSet<_>>()
        };
        let kept = labels(&new);
        for gone in labels(&old).difference(&kept) {
            let elsewhere = self.zones.iter().enumerate().any(|(i, z)| {
                i != index
                    && z.nodes
                        .get(&key)
                        .is_some_and(|n| node_labels(&key, n).any(|l| l == *gone))
            });
            if !elsewhere {
                answers.forget(gone);
            }
        }
        if let Ok(owner) = Name::from_ascii(&key) {
            for rtype in FAST_TYPES {
                self.fast.remove(&fast_key(&owner, rtype));
            }
        }
        if let Some(node) = &new
            && self.is_authoritative(index, &key)
        {
            for (k, group) in fast_entries(node) {
                self.fast.insert(k, group);
            }
        }
    }

    /// This snapshot, placing clients with `table`.
    pub fn with_geo_table(mut self, table: Arc<GeoTable>) -> Self {
        self.geo_table = table;
        self
    }

    /// Where clients are ([`Snapshot::with_geo_table`]).
    pub fn geo_table(&self) -> &GeoTable {
        &self.geo_table
    }

    /// The weighted group a fast-path question key (see the field) is answered from.
    pub(crate) fn fast_group(&self, key: &[u8]) -> Option<&Weighted> {
        self.fast.get(key).map(|g| &**g)
    }

    /// Builds the snapshot of every zone in `zones`, counting answers in `answers`.
    pub fn of_zones(zones: &impl Zones, answers: &AnswerCounters) -> Self {
        let health = zones.health_statuses();
        let cidr = zones.cidr_tables();
        let sources: Vec<ZoneSource<'_>> = zones
            .zones()
            .map(|z| ZoneSource {
                zone_id: z.id,
                origin: z.name,
                serial: z.serial,
                sets: z.records.sets().collect(),
                health: &health,
                cidr: &cidr,
            })
            .collect();
        Self::build(&sources, answers)
    }

    /// The zone that is authoritative for `qname` (lower case, trailing dot), if any.
    pub fn zone_for(&self, qname: &str) -> Option<&ZoneView> {
        self.zones.iter().find(|z| z.contains(qname))
    }

    /// The served zones, in the order [`Snapshot::zone_for`] tries them.
    pub fn zones(&self) -> &[ZoneView] {
        &self.zones
    }
}

/// The labels of every weighted set in `zones`: the series of `wavelb_dns_answers_total` they use.
fn answer_labels(zones: &[ZoneView]) -> HashSet<AnswerLabels> {
    let mut labels = HashSet::new();
    for zone in zones {
        for (name, node) in &zone.nodes {
            labels.extend(node_labels(name, node));
        }
    }
    labels
}

/// The labels of every weighted set in `sources` (a superset of what [`answer_labels`] finds
/// once the zones are built: a set whose values do not parse is skipped then).
fn source_labels(sources: &[ZoneSource<'_>]) -> HashSet<AnswerLabels> {
    let weighted = |set: &&&RecordSet| set.weight.is_some() && set.alias.is_none();
    sources
        .iter()
        .flat_map(|source| source.sets.iter().filter(weighted))
        .filter_map(|set| answer_label(set.name.as_str(), set.set_identifier.as_ref()?))
        .collect()
}

/// The labels of the weighted sets at `name`.
fn node_labels<'a>(name: &'a str, node: &'a Node) -> impl Iterator<Item = AnswerLabels> + 'a {
    node.rrsets
        .values()
        .filter_map(|rrset| match rrset {
            Rrset::Weighted(group) => Some(group),
            _ => None,
        })
        .flat_map(move |group| {
            group
                .sets
                .iter()
                .filter_map(move |set| answer_label(name, &set.set_id))
        })
}

/// The fast-path entries of `node`: its weighted A and AAAA groups whose every set is
/// pre-encoded.
fn fast_entries(node: &Node) -> impl Iterator<Item = (Box<[u8]>, Arc<Weighted>)> + '_ {
    node.rrsets.iter().filter_map(|(rtype, rrset)| {
        let Rrset::Weighted(group) = rrset else {
            return None;
        };
        let owner = group.sets.first().and_then(|s| s.records.first())?;
        if !group.sets.iter().all(|s| s.wire.is_some()) {
            return None;
        }
        Some((fast_key(&owner.name, *rtype), group.clone()))
    })
}

/// The apex SOA with `serial`, put back into the apex node (the apex SOA is answered with the
/// live serial too); `None` when the apex has no SOA.
fn live_soa(apex: &mut Node, serial: u32) -> Option<Record> {
    let mut soa = match apex.rrsets.get(&RecordType::SOA)? {
        Rrset::Simple(records) => records.first()?.clone(),
        _ => return None,
    };
    if let RData::SOA(s) = &mut soa.data {
        s.serial = serial;
    }
    apex.rrsets
        .insert(RecordType::SOA, Rrset::Simple(vec![soa.clone()]));
    Some(soa)
}

/// The labels of the answers of set `set_id` at `name` (lower case, trailing dot); `None` for
/// wavelb's own bookkeeping names, which are no pool ([`is_bookkeeping`]).
fn answer_label(name: &str, set_id: &str) -> Option<AnswerLabels> {
    (!is_bookkeeping(name)).then(|| AnswerLabels {
        pool: name.trim_end_matches('.').to_owned(),
        set_id: set_id.to_owned(),
    })
}

/// True for the names of wavelb's ownership records (`_wavelb.<pool>`) and leader leases
/// (`_wavelb-leader.<pool>`): weighted TXT sets, one per target, that `wavelb_dns_answers_total`
/// would otherwise count as pools of their own. Their answers are counted nowhere.
fn is_bookkeeping(name: &str) -> bool {
    let first = name.split('.').next().unwrap_or_default();
    [
        registry::model::OWNERSHIP_LABEL,
        registry::model::LEADER_LABEL,
    ]
    .iter()
    .any(|label| first.eq_ignore_ascii_case(label))
}

/// The records of `set`'s values at `owner`; values that do not parse are skipped (see
/// [`Snapshot::build`]).
fn parse_values(set: &RecordSet, owner: &Name) -> Vec<Record> {
    let ttl = set.ttl.unwrap_or(0);
    let mut records = Vec::with_capacity(set.values.len());
    for value in &set.values {
        match crate::rdata::parse(set.rtype, value) {
            Ok(rdata) => records.push(Record::from_rdata(owner.clone(), ttl, rdata)),
            Err(why) => {
                tracing::warn!(name = %set.name, rtype = %set.rtype, value, %why, "skipping a value")
            }
        }
    }
    records
}

/// Where a geoproximity set is: its coordinates, or those of its Region or Local Zone group.
fn place(location: &GeoProximity) -> Option<Coordinates> {
    if let Some((lat, lon)) = &location.coordinates {
        return Coordinates::parse_route53(lat, lon).ok();
    }
    if let Some(region) = &location.aws_region {
        return geo::aws_region(region).map(|r| r.coordinates);
    }
    location
        .local_zone_group
        .as_deref()
        .and_then(geo::local_zone_group)
        .map(|g| g.coordinates)
}

/// The fast-path key of a question: the name in lower-case wire format, then the type.
fn fast_key(name: &Name, rtype: RecordType) -> Box<[u8]> {
    let mut key = Vec::with_capacity(name.len() + 3);
    for label in name.to_lowercase().iter() {
        // A label is at most 63 bytes (hickory refuses longer ones when parsing).
        key.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
        key.extend_from_slice(label);
    }
    key.push(0);
    key.extend_from_slice(&u16::from(rtype).to_be_bytes());
    key.into_boxed_slice()
}

/// True unless `set`'s health check is unhealthy in `health` (a set without one, or whose
/// check is gone, is healthy).
fn set_healthy(set: &RecordSet, health: &BTreeMap<String, bool>) -> bool {
    set.health_check_id
        .as_ref()
        .is_none_or(|check| health.get(check).copied().unwrap_or(true))
}

fn build_zone(src: &ZoneSource<'_>, answers: &AnswerCounters) -> Option<ZoneView> {
    let origin = src.origin.as_str().to_owned();
    let mut nodes = build_nodes(src, answers);
    let Some(soa) = nodes
        .get_mut(&origin)
        .and_then(|apex| live_soa(apex, src.serial))
    else {
        tracing::warn!(zone = %origin, "zone has no apex SOA; not serving it");
        return None;
    };
    let mut interior = Interior::default();
    for name in nodes.keys() {
        interior.add(name, &origin);
    }
    Some(ZoneView {
        origin,
        zone_id: src.zone_id.to_owned(),
        soa,
        nodes: nodes.into_iter().collect(),
        interior,
    })
}

/// The nodes of `src`'s record sets, by owner name (the apex SOA with the serial it was
/// written with: [`live_soa`] sets the live one).
fn build_nodes(src: &ZoneSource<'_>, answers: &AnswerCounters) -> HashMap<String, Node> {
    let mut nodes: HashMap<String, Node> = HashMap::new();
    let mut weighted: HashMap<(String, RecordType), Vec<WeightedSet>> = HashMap::new();
    let mut geo: HashMap<(String, RecordType), Vec<GeoMember>> = HashMap::new();
    let mut ip_based: HashMap<(String, RecordType), Cidr> = HashMap::new();
    let mut multivalue: HashMap<(String, RecordType), Vec<MultivalueSet>> = HashMap::new();
    for set in &src.sets {
        let key = set.name.as_str().to_owned();
        let Ok(owner) = Name::from_ascii(&key) else {
            tracing::warn!(name = %set.name, "skipping a record set whose name does not parse");
            continue;
        };
        let (rtype, content) = match &set.alias {
            Some(alias) => {
                let Ok(rtype) = set.rtype.as_str().parse::<RecordType>() else {
                    tracing::warn!(name = %set.name, rtype = %set.rtype, "skipping an alias of an unknown type");
                    continue;
                };
                let alias = Alias {
                    target: alias.dns_name.as_str().to_ascii_lowercase(),
                    evaluate_target_health: alias.evaluate_target_health,
                };
                (rtype, Content::Alias(alias))
            }
            None => {
                let records = parse_values(set, &owner);
                let Some(first) = records.first() else {
                    continue;
                };
                (first.record_type(), Content::Records(records))
            }
        };
        if let (Some(id), Some(routing)) = (&set.set_identifier, &set.cidr) {
            let group = ip_based.entry((key, rtype)).or_insert_with(|| Cidr {
                table: src
                    .cidr
                    .get(&routing.collection_id)
                    .cloned()
                    .unwrap_or_default(),
                locations: HashMap::new(),
                default: None,
            });
            let member = CidrMember {
                set_id: id.clone(),
                content,
                healthy: set_healthy(set, src.health),
            };
            if routing.location_name == CIDR_DEFAULT_LOCATION {
                group.default = Some(member);
            } else {
                group
                    .locations
                    .insert(routing.location_name.clone(), member);
            }
            continue;
        }
        if let (Some(id), Some(location)) = (&set.set_identifier, &set.geo) {
            let Some(place) = place(location) else {
                tracing::warn!(name = %set.name, set_id = %id, "skipping a geoproximity set whose place is unknown");
                continue;
            };
            let bias = location
                .bias
                .and_then(|b| i32::try_from(b).ok())
                .unwrap_or(0)
                .clamp(geo::MIN_BIAS, geo::MAX_BIAS);
            geo.entry((key, rtype)).or_default().push(GeoMember {
                set_id: id.clone(),
                place,
                bias,
                content,
                healthy: set_healthy(set, src.health),
            });
            continue;
        }
        let records = match content {
            Content::Records(records) if set.multivalue => {
                let id = set.set_identifier.clone().unwrap_or_default();
                let healthy = set_healthy(set, src.health);
                multivalue
                    .entry((key, rtype))
                    .or_default()
                    .push((id, records, healthy));
                continue;
            }
            Content::Records(records) => records,
            Content::Alias(alias) if set.set_identifier.is_none() => {
                nodes
                    .entry(key)
                    .or_default()
                    .rrsets
                    .insert(rtype, Rrset::Alias(alias));
                continue;
            }
            Content::Alias(alias) => {
                if let (Some(id), Some(w)) = (&set.set_identifier, set.weight) {
                    let served = answer_label(&key, id)
                        .map(|labels| answers.series(&labels))
                        .unwrap_or_default();
                    let weighted_alias =
                        WeightedSet::alias(id.clone(), u8::try_from(w).unwrap_or(0), alias, served)
                            .with_health(set_healthy(set, src.health));
                    weighted
                        .entry((key, rtype))
                        .or_default()
                        .push(weighted_alias);
                }
                continue;
            }
        };
        match (&set.set_identifier, set.weight) {
            (Some(id), Some(w)) => {
                // A bookkeeping set's counter is one of its own, exported nowhere.
                let served = answer_label(&key, id)
                    .map(|labels| answers.series(&labels))
                    .unwrap_or_default();
                let healthy = set_healthy(set, src.health);
                let set =
                    WeightedSet::new(id.clone(), u8::try_from(w).unwrap_or(0), records, served)
                        .with_health(healthy);
                weighted.entry((key, rtype)).or_default().push(set);
            }
            _ => {
                nodes
                    .entry(key)
                    .or_default()
                    .rrsets
                    .insert(rtype, Rrset::Simple(records));
            }
        }
    }
    for ((key, rtype), mut members) in geo {
        members.sort_by(|a, b| a.set_id.cmp(&b.set_id));
        nodes
            .entry(key)
            .or_default()
            .rrsets
            .insert(rtype, Rrset::Geo(Arc::new(Geo::new(members))));
    }
    for ((key, rtype), mut sets) in multivalue {
        sets.sort_by(|a, b| a.0.cmp(&b.0));
        nodes
            .entry(key)
            .or_default()
            .rrsets
            .insert(rtype, Rrset::Multivalue(Arc::new(Multivalue::new(&sets))));
    }
    for ((key, rtype), group) in ip_based {
        nodes
            .entry(key)
            .or_default()
            .rrsets
            .insert(rtype, Rrset::Cidr(Arc::new(group)));
    }
    for ((key, rtype), mut sets) in weighted {
        sets.sort_by(|a, b| a.set_id.cmp(&b.set_id));
        nodes
            .entry(key)
            .or_default()
            .rrsets
            .insert(rtype, Rrset::Weighted(Arc::new(Weighted::new(sets))));
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::LabZones;
    use registry::model::RrType;

    fn group(weights: &[u8]) -> Weighted {
        Weighted::new(
            weights
                .iter()
                .enumerate()
                .map(|(i, &weight)| {
                    WeightedSet::new(format!("s{i}"), weight, Vec::new(), Counter::default())
                })
                .collect(),
        )
    }

    #[test]
    fn pick_follows_cumulative_weights_and_skips_zero() {
        let g = group(&[10, 0, 30]);
        let ids: Vec<_> = (0..40u64)
            .map(|r| g.pick(r).unwrap().set_id.clone())
            .collect();
        assert_eq!(ids.iter().filter(|i| *i == "s0").count(), 10);
        assert_eq!(ids.iter().filter(|i| *i == "s1").count(), 0);
        assert_eq!(ids.iter().filter(|i| *i == "s2").count(), 30);
    }

    /// The ids `g` answers over one full cycle of its random numbers, with their counts.
    fn shares(g: &Weighted, cycle: u64) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in 0..cycle {
            *out.entry(g.pick(r).unwrap().set_id.clone()).or_default() += 1;
        }
        out
    }

    fn health_group(sets: &[(u8, bool)]) -> Weighted {
        Weighted::new(
            sets.iter()
                .enumerate()
                .map(|(i, &(weight, healthy))| {
                    WeightedSet::new(format!("s{i}"), weight, Vec::new(), Counter::default())
                        .with_health(healthy)
                })
                .collect(),
        )
    }

    #[test]
    fn unhealthy_sets_are_skipped_and_all_unhealthy_counts_as_all_healthy() {
        let counts = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        // s1 is unhealthy: only s0 and s2 answer, by weight.
        let g = health_group(&[(10, true), (50, false), (30, true)]);
        assert_eq!(shares(&g, 40), counts(&[("s0", 10), ("s2", 30)]));
        // Every nonzero set unhealthy: the healthy weight-0 set answers.
        let g = health_group(&[(10, false), (0, true), (30, false)]);
        assert_eq!(shares(&g, 7), counts(&[("s1", 7)]));
        // Everything unhealthy: as if all were healthy (weight 0 still never answers).
        let g = health_group(&[(10, false), (0, false), (30, false)]);
        assert_eq!(shares(&g, 40), counts(&[("s0", 10), ("s2", 30)]));
        // All weights 0 and all unhealthy: uniform over all.
        let g = health_group(&[(0, false), (0, false)]);
        assert_eq!(shares(&g, 4), counts(&[("s0", 2), ("s1", 2)]));
        assert!(health_group(&[]).pick(3).is_none());
    }

    /// Zones with weighted sets `ids` at `www.lab.test`, and a plain set.
    fn store(ids: &[&str]) -> LabZones {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let set = |id: Option<&str>| {
            registry::model::Change::create(RecordSet {
                name: Fqdn::parse("www.lab.test").unwrap(),
                rtype: if id.is_some() { RrType::A } else { RrType::Txt },
                set_identifier: id.map(Into::into),
                weight: id.map(|_| 1),
                ttl: Some(30),
                values: vec![if id.is_some() { "192.0.2.1" } else { "\"x\"" }.into()],
                alias: None,
                geo: None,
                cidr: None,
                multivalue: false,
                opaque: None,
                health_check_id: None,
            })
        };
        let mut changes: Vec<_> = ids.iter().map(|id| set(Some(id))).collect();
        changes.push(set(None));
        s.change(&zone.id, &changes, None, 1).unwrap();
        s
    }

    fn series(answers: &AnswerCounters) -> Vec<(String, String, u64)> {
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("answers", "", answers.family().clone());
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let mut found: Vec<_> = text
            .lines()
            .filter_map(|l| l.strip_prefix("answers_total{pool=\""))
            .map(|l| {
                let (pool, rest) = l.split_once("\",set_id=\"").unwrap();
                let (id, value) = rest.split_once("\"} ").unwrap();
                (pool.to_owned(), id.to_owned(), value.parse().unwrap())
            })
            .collect();
        found.sort();
        found
    }

    #[test]
    fn answer_series_of_sets_a_snapshot_no_longer_holds_are_removed() {
        let answers = AnswerCounters::default();
        let first = Snapshot::of_zones(&store(&["a", "b", "c"]), &answers);
        let www = |snap: &Snapshot| match &snap.zones()[0].nodes["www.lab.test."].rrsets
            [&RecordType::A]
        {
            Rrset::Weighted(group) => group.clone(),
            _ => panic!("www is weighted"),
        };
        for (set, n) in www(&first).sets.iter().zip([5, 6, 7]) {
            set.served.inc_by(n);
        }
        let row = |id: &str, n| ("www.lab.test".to_owned(), id.to_owned(), n);
        assert_eq!(series(&answers), [row("a", 5), row("b", 6), row("c", 7)]);
        // "b" deleted, "d" created: b's series goes, the others keep their counts.
        let second = Snapshot::of_zones(&store(&["a", "c", "d"]), &answers);
        assert_eq!(series(&answers), [row("a", 5), row("c", 7), row("d", 0)]);
        assert_eq!(www(&second).sets[0].served.get(), 5, "the same series");
        // A snapshot without the zone's weighted sets leaves no series at all.
        Snapshot::of_zones(&store(&[]), &answers);
        assert!(series(&answers).is_empty());
    }

    /// Issue 24, item 9: wavelb's ownership records and leader leases (weighted TXT sets at
    /// `_wavelb.<pool>` and `_wavelb-leader.<pool>`) are answered, but are no pool of
    /// `wavelb_dns_answers_total`; the pool's address sets are.
    #[test]
    fn bookkeeping_names_are_answered_but_not_counted_as_pools() {
        let mut s = store(&["i-1", "i-2"]);
        let zone = s.zones().next().unwrap().id.clone();
        let txt = |name: &str, id: &str| {
            registry::model::Change::create(RecordSet {
                name: Fqdn::parse(name).unwrap(),
                rtype: RrType::Txt,
                set_identifier: Some(id.into()),
                weight: Some(0),
                ttl: Some(30),
                values: vec!["\"v=1 owner=wavelb\"".into()],
                alias: None,
                geo: None,
                cidr: None,
                multivalue: false,
                opaque: None,
                health_check_id: None,
            })
        };
        s.change(
            &zone,
            &[
                txt("_wavelb.www.lab.test", "i-1"),
                txt("_wavelb.www.lab.test", "i-2"),
                txt("_WAVELB-leader.www.lab.test", "lease"),
            ],
            None,
            2,
        )
        .unwrap();
        let answers = AnswerCounters::default();
        let full = Snapshot::of_zones(&s, &answers);
        // The same, as the resolver builds it after a change: from the previous snapshot.
        s.take_touched();
        s.change(&zone, &[txt("_wavelb.www.lab.test", "i-3")], None, 3)
            .unwrap();
        let touched = s.take_touched();
        let snap = full.updated(&s, &touched, &answers);
        let nodes = &snap.zones()[0].nodes;
        let group = |name: &str, rtype| match &nodes[name].rrsets[&rtype] {
            Rrset::Weighted(group) => group.clone(),
            _ => panic!("{name} is weighted"),
        };
        for name in ["_wavelb.www.lab.test.", "_wavelb-leader.www.lab.test."] {
            for set in &group(name, RecordType::TXT).sets {
                set.served.inc();
            }
        }
        for set in &group("www.lab.test.", RecordType::A).sets {
            set.served.inc();
        }
        assert_eq!(
            group("_wavelb.www.lab.test.", RecordType::TXT).sets.len(),
            3
        );
        let row = |id: &str| ("www.lab.test".to_owned(), id.to_owned(), 1);
        assert_eq!(series(&answers), [row("i-1"), row("i-2")]);
        assert!(is_bookkeeping("_wavelb.www.lab.test."));
        assert!(is_bookkeeping("_wavelb-leader.www.lab.test."));
        assert!(!is_bookkeeping("wavelb.lab.test."));
        assert!(!is_bookkeeping("www._wavelb.lab.test."));
        assert!(!is_bookkeeping("_wavelbx.lab.test."));
    }

    /// Everything a query can see of `snap`: per zone its SOA serial, every node's rrsets
    /// (type → what answers), the empty non-terminals among `probe`; the fast table's keys.
    fn view(snap: &Snapshot, probe: &[&str]) -> String {
        let mut out = String::new();
        for z in snap.zones() {
            out += &format!("zone {} soa {:?}\n", z.origin, z.soa.data);
            let mut names: Vec<&String> = z.nodes.keys().collect();
            names.sort();
            for name in names {
                let mut rrsets: Vec<String> = z.nodes[name]
                    .rrsets
                    .iter()
                    .map(|(t, r)| match r {
                        Rrset::Weighted(g) => format!(
                            "{t} weighted {:?}",
                            g.sets
                                .iter()
                                .map(|s| (&s.set_id, s.weight, s.healthy, &s.records))
                                .collect::<Vec<_>>()
                        ),
                        other => format!("{t} {other:?}"),
                    })
                    .collect();
                rrsets.sort();
                out += &format!("  {name} {rrsets:?}\n");
            }
            for p in probe {
                out += &format!("  interior {p} {}\n", z.interior.contains(p));
            }
        }
        let mut fast: Vec<&Box<[u8]>> = snap.fast.keys().collect();
        fast.sort();
        out + &format!("fast {fast:?}")
    }

    #[test]
    fn an_update_rebuilds_only_the_touched_names_and_equals_a_full_rebuild() {
        use registry::model::Change;
        let answers = AnswerCounters::default();
        let mut s = store(&["a", "b"]);
        let (child, _) = s.create_zone("sub.lab.test", "c", None, 0).unwrap();
        let parent = s
            .zones()
            .find(|z| z.name.as_str() == "lab.test.")
            .unwrap()
            .id
            .clone();
        let set = |name: &str, id: &str, w: i64| RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: RrType::A,
            set_identifier: Some(id.into()),
            weight: Some(w),
            ttl: Some(30),
            values: vec!["192.0.2.7".into()],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        };
        s.change(
            &parent,
            &[Change::create(set("other.lab.test", "o", 1))],
            None,
            1,
        )
        .unwrap();
        s.change(
            &child.id,
            &[Change::create(set("x.sub.lab.test", "c", 1))],
            None,
            1,
        )
        .unwrap();
        s.take_touched();
        let before = Snapshot::of_zones(&s, &answers);
        let probe = ["lab.test.", "b.c.lab.test.", "c.lab.test.", "sub.lab.test."];
        let group_of = |snap: &Snapshot, name: &str| match &snap.zone_for(name).unwrap().nodes[name]
            .rrsets[&RecordType::A]
        {
            Rrset::Weighted(g) => g.clone(),
            _ => panic!("{name} is weighted"),
        };
        // One change: a new name deep below (empty non-terminals appear), a weight changed,
        // a name in the child zone the parent must not serve on the fast path.
        s.change(
            &parent,
            &[
                Change::create(set("a.b.c.lab.test", "n", 1)),
                Change {
                    action: registry::model::Action::Upsert,
                    record_set: set("www.lab.test", "a", 9),
                },
            ],
            None,
            2,
        )
        .unwrap();
        let touched = s.take_touched();
        let after = before.updated(&s, &touched, &answers);
        assert_eq!(
            view(&after, &probe),
            view(&Snapshot::of_zones(&s, &answers), &probe)
        );
        assert!(after.zones()[1].interior.contains("b.c.lab.test."));
        // Untouched names share their groups with the snapshot before: not rebuilt.
        assert!(Arc::ptr_eq(
            &group_of(&before, "other.lab.test."),
            &group_of(&after, "other.lab.test.")
        ));
        assert!(Arc::ptr_eq(
            &group_of(&before, "x.sub.lab.test."),
            &group_of(&after, "x.sub.lab.test.")
        ));
        assert!(!Arc::ptr_eq(
            &group_of(&before, "www.lab.test."),
            &group_of(&after, "www.lab.test.")
        ));
        // Deleting the deep name takes its empty non-terminals with it, and its series.
        s.change(
            &parent,
            &[Change::delete(set("a.b.c.lab.test", "n", 1))],
            None,
            3,
        )
        .unwrap();
        let touched = s.take_touched();
        let last = after.updated(&s, &touched, &answers);
        assert!(
            series(&answers)
                .iter()
                .all(|(pool, _, _)| pool != "a.b.c.lab.test")
        );
        assert!(
            series(&answers)
                .iter()
                .any(|(pool, _, _)| pool == "other.lab.test")
        );
        assert_eq!(
            view(&last, &probe),
            view(&Snapshot::of_zones(&s, &answers), &probe)
        );
        assert!(!last.zones()[1].interior.contains("b.c.lab.test."));
    }

    #[test]
    fn all_zero_is_uniform() {
        let g = group(&[0, 0, 0]);
        let ids: Vec<_> = (0..3u64)
            .map(|r| g.pick(r).unwrap().set_id.clone())
            .collect();
        assert_eq!(ids, ["s0", "s1", "s2"]);
        assert!(group(&[]).pick(1).is_none());
    }
}
