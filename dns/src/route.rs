//! Which records one name and type answers with: the routing decision of simple, weighted,
//! geoproximity and alias record sets. Pure: the client's place and the random number are
//! passed in.
//!
//! - Weighted: [`crate::snapshot::Weighted::pick`] (Route 53's weights, all-zero uniform).
//! - Alias: the target's record set of the same type in the same zone answers in its place,
//!   with the target's records (so the target's TTL); an alias to an alias is followed, at most
//!   [`MAX_ALIAS_DEPTH`] deep, beyond which the target counts as having no records.
//! - Geoproximity: among the usable members, the one with the smallest biased distance to the
//!   client (Route 53's formula, `geo::biased_distance_km`); ties go to the first in
//!   SetIdentifier order. A member with its own records is always usable (Route 53 treats
//!   records without health checks as healthy); an alias member is unusable only with
//!   `EvaluateTargetHealth` and a target without records of the type (then the next nearest
//!   answers). A member whose health check is unhealthy is passed over, unless every member's
//!   is (then all count as healthy, as Route 53 answers; decided when the snapshot is built,
//!   [`Geo::candidates`]). No usable member: no records (NOERROR/NODATA). A client whose place
//!   is unknown gets the first usable member in SetIdentifier order (a lab approximation).
//!
//! - IP-based (`CidrRoutingConfig`): the client's subnet ([`Client::address`],
//!   [`Client::source`]) is looked up in the group's collection ([`crate::cidr`]); the member of
//!   the location found answers, or, when that location has no member, its member is unhealthy,
//!   or it is an alias with `EvaluateTargetHealth` to a target without records, the default
//!   member (`*`). No default: no records. The answer's scope is the collection's
//!   ([`crate::cidr::CidrMatch::scope`]).
//!
//! **Work.** Every step is counted in [`Work`] (members looked at, alias targets looked up,
//! distances computed), and one question, with every CNAME it follows, may do at most
//! [`MAX_ROUTE_WORK`] units: a step past it counts as having no records (the next geoproximity
//! member, or NODATA). Each visit of a geoproximity group computes each candidate's distance
//! once and orders the candidates once, on the stack; no step allocates. So no state the API
//! accepts (at most 30 geoproximity members per name and type, `registry::zone`) makes a
//! question cost more than [`MAX_ROUTE_WORK`], 20 times a weighted answer over four sets.

use std::net::{IpAddr, Ipv4Addr};

use geo::Coordinates;
use hickory_proto::rr::{Record, RecordType};

use crate::snapshot::{
    Alias, Cidr, CidrMember, Content, Geo, Rrset, Weighted, WeightedSet, ZoneView,
};

/// How deep alias chains are followed.
pub const MAX_ALIAS_DEPTH: usize = 8;
/// The most [`Work::units`] one question may spend: 20 times the 3 of a weighted answer over
/// four sets (the benchmarks' pool, `benches/hot_paths.rs`). Enough for a geoproximity group
/// at Route 53's quota of 30 whose members alias to weighted pools (at most 30 + 1 + 8), or for
/// two nested groups of up to 25 members each.
pub const MAX_ROUTE_WORK: u32 = 60;

/// The work one question did routing, in the units [`MAX_ROUTE_WORK`] bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Geoproximity members looked at (each at most once per visit of its group), and the
    /// weighted sets a pick's binary search looked at.
    pub members: u32,
    /// Alias targets looked up.
    pub hops: u32,
    /// Biased distances computed: at most one per member looked at (none for an unknown
    /// client), so they are part of [`Work::members`]' units.
    pub distances: u32,
}

impl Work {
    /// The units: members looked at plus alias targets looked up.
    pub fn units(&self) -> u32 {
        self.members + self.hops
    }

    /// Charges `members` members and `hops` alias lookups when they fit in
    /// [`MAX_ROUTE_WORK`]; false (and nothing charged) when they do not.
    fn charge(&mut self, members: usize, hops: u32) -> bool {
        let Ok(members) = u32::try_from(members) else {
            return false;
        };
        if self.units() + members + hops > MAX_ROUTE_WORK {
            return false;
        }
        self.members += members;
        self.hops += hops;
        true
    }
}

/// What a name and type answered with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Routed<'s> {
    /// The records (empty: no records of the type, NODATA).
    pub records: &'s [Record],
    /// The weighted set answered, when a weighted group decided.
    pub picked: Option<&'s WeightedSet>,
    /// Set when a geoproximity or IP-based group was consulted: the answer depends on where
    /// the client is, and holds for this many leading bits of its address (its EDNS Client
    /// Subnet scope): the geo table's, the collection's, the longest of them.
    pub scope: Option<u8>,
}

/// What routing knows of the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Client {
    /// Its place (the geo table's); `None` when unknown.
    pub place: Option<Coordinates>,
    /// For how many leading bits of its address that place holds.
    pub place_scope: u8,
    /// Its address: its EDNS Client Subnet's, else the query's source address.
    pub address: IpAddr,
    /// How many bits of `address` it revealed: the subnet's SOURCE PREFIX-LENGTH, or the whole
    /// source address (32, 128).
    pub source: u8,
}

impl Client {
    /// A client at `place`, whose address nothing is known of (no IP-based location holds it).
    pub fn at(place: Option<Coordinates>) -> Self {
        Self {
            place,
            place_scope: 0,
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            source: 0,
        }
    }
}

/// Routes `rrset`, of type `rtype` in `zone`, for `client`,
/// adding what it does to `work` (the question's work so far: a question that follows CNAMEs
/// routes more than once on one budget).
pub fn route<'s>(
    zone: &'s ZoneView,
    rrset: &'s Rrset,
    rtype: RecordType,
    client: &Client,
    random: u64,
    work: &mut Work,
) -> Routed<'s> {
    let mut walk = Walk {
        zone,
        rtype,
        client,
        random,
        work,
        scope: None,
    };
    let found = walk.resolve(rrset, 0);
    let scope = walk.scope;
    let (records, picked) = found.unwrap_or((&[], None));
    Routed {
        records,
        picked,
        scope,
    }
}

/// The sets a weighted pick looks at: its binary search over `n` cumulative weights probes
/// ⌈log2 n⌉ + 1 of them (the standard library's `partition_point`).
fn pick_probes(group: &Weighted) -> usize {
    let n = group.sets.len().max(1);
    let ceil_log2 = usize::BITS - (n - 1).leading_zeros();
    ceil_log2 as usize + 1
}

/// At most this many members are ordered on the stack; a group with more cannot be afforded
/// ([`MAX_ROUTE_WORK`] charges one unit each), so it is never ordered.
const MAX_ORDERED: usize = MAX_ROUTE_WORK as usize;

type Found<'s> = Option<(&'s [Record], Option<&'s WeightedSet>)>;

struct Walk<'s, 'w> {
    zone: &'s ZoneView,
    rtype: RecordType,
    client: &'w Client,
    random: u64,
    work: &'w mut Work,
    scope: Option<u8>,
}

impl<'s> Walk<'s, '_> {
    /// The records `rrset` answers with; `None` when it has none.
    fn resolve(&mut self, rrset: &'s Rrset, depth: usize) -> Found<'s> {
        match rrset {
            Rrset::Simple(records) => (!records.is_empty()).then_some((records.as_slice(), None)),
            Rrset::Weighted(group) => {
                if !self.work.charge(pick_probes(group), 0) {
                    return None;
                }
                let picked = group.pick(self.random)?;
                let found = self.weighted_set(picked, depth);
                if found.is_some()
                    || !picked
                        .alias
                        .as_ref()
                        .is_some_and(|a| a.evaluate_target_health)
                {
                    return found;
                }
                // A weighted alias whose target has no records is unhealthy: the next set that
                // takes part answers in its place (a lab approximation of Route 53's re-pick).
                for next in group.eligible_from(picked) {
                    if !self.work.charge(1, 0) {
                        return None;
                    }
                    let found = self.weighted_set(next, depth);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            Rrset::Alias(alias) => self.follow(alias, depth),
            Rrset::Geo(group) => {
                self.depends_on(self.client.place_scope);
                self.nearest_usable(group, depth)
            }
            Rrset::Cidr(group) => self.by_subnet(group, depth),
            Rrset::Multivalue(group) => {
                if !self.work.charge(1, 0) {
                    return None;
                }
                let records = group.answer(self.random);
                (!records.is_empty()).then_some((records, None))
            }
        }
    }

    /// The records of one weighted set: its own, or its alias target's.
    fn weighted_set(&mut self, set: &'s WeightedSet, depth: usize) -> Found<'s> {
        match &set.alias {
            None => (!set.records.is_empty()).then_some((set.records.as_slice(), Some(set))),
            Some(alias) => self
                .follow(alias, depth)
                .map(|(records, _)| (records, Some(set))),
        }
    }

    /// Notes that the answer depends on the client's first `scope` bits.
    fn depends_on(&mut self, scope: u8) {
        self.scope = Some(self.scope.map_or(scope, |s| s.max(scope)));
    }

    /// The records of the member of `group` for the client's location, else of its default.
    fn by_subnet(&mut self, group: &'s Cidr, depth: usize) -> Found<'s> {
        if !self.work.charge(1, 0) {
            return None;
        }
        let found = group.table.lookup(self.client.address, self.client.source);
        self.depends_on(found.scope);
        let member = found
            .location
            .and_then(|l| group.locations.get(l))
            .filter(|m| m.healthy);
        if let Some(member) = member {
            let records = self.content(member, depth);
            if records.is_some() || !member.evaluates_target_health() {
                return records;
            }
        }
        let default = group.default.as_ref()?;
        if !self.work.charge(1, 0) {
            return None;
        }
        self.content(default, depth)
    }

    fn content(&mut self, member: &'s CidrMember, depth: usize) -> Found<'s> {
        match &member.content {
            Content::Records(records) => Some((records.as_slice(), None)),
            Content::Alias(alias) => self.follow(alias, depth),
        }
    }

    /// The records of `group`'s nearest usable member: every candidate is looked at once (its
    /// distance computed once), the candidates are ordered once, then tried nearest first.
    fn nearest_usable(&mut self, group: &'s Geo, depth: usize) -> Found<'s> {
        let candidates = group.candidates();
        if candidates.len() > MAX_ORDERED || !self.work.charge(candidates.len(), 0) {
            return None;
        }
        // (biased distance, member index): ties, and every member of an unknown client
        // (distance 0), in index order, which is SetIdentifier order.
        let mut order = [(0.0f64, 0usize); MAX_ORDERED];
        let order = &mut order[..candidates.len()];
        for (slot, &index) in order.iter_mut().zip(candidates) {
            let distance = match (self.client.place, group.members.get(index)) {
                (Some(client), Some(m)) => {
                    self.work.distances += 1;
                    geo::biased_distance_km(geo::distance_km(client, m.place), m.bias)
                }
                _ => 0.0,
            };
            *slot = (distance, index);
        }
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(_, index) in order.iter() {
            let Some(member) = group.members.get(index) else {
                continue;
            };
            match &member.content {
                Content::Records(records) => return Some((records.as_slice(), None)),
                Content::Alias(alias) => {
                    let found = self.follow(alias, depth);
                    if found.is_some() || !alias.evaluate_target_health {
                        return found;
                    }
                }
            }
        }
        None
    }

    fn follow(&mut self, alias: &Alias, depth: usize) -> Found<'s> {
        if depth >= MAX_ALIAS_DEPTH || !self.work.charge(0, 1) {
            return None;
        }
        let target = self
            .zone
            .nodes
            .get(&alias.target)?
            .rrsets
            .get(&self.rtype)?;
        self.resolve(target, depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::AnswerCounters;
    use crate::snapshot::Snapshot;
    use crate::testing::LabZones;
    use registry::model::RrType;
    use registry::model::{AliasTarget, Change, GeoProximity, RecordSet};
    use registry::name::Fqdn;

    const BOSTON: (f64, f64) = (42.36, -71.06);
    const NEW_YORK: (f64, f64) = (40.71, -74.01);

    fn at((lat, lon): (f64, f64)) -> Option<Coordinates> {
        Some(Coordinates::new(lat, lon).unwrap())
    }

    fn plain(name: &str, id: Option<&str>, values: &[&str]) -> RecordSet {
        RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: RrType::A,
            set_identifier: id.map(Into::into),
            weight: id.map(|_| 1),
            ttl: Some(if id.is_some() { 30 } else { 45 }),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }

    /// A geoproximity member at `edge.lab.test`: an alias to `target` (with
    /// EvaluateTargetHealth `evaluate`) or, when `target` is an address, its own record.
    fn member(id: &str, place: (f64, f64), bias: i64, target: &str, evaluate: bool) -> RecordSet {
        let geo = Some(GeoProximity {
            coordinates: Some((place.0.to_string(), place.1.to_string())),
            bias: (bias != 0).then_some(bias),
            ..GeoProximity::default()
        });
        let mut set = plain("edge.lab.test", Some(id), &[]);
        set.weight = None;
        set.geo = geo;
        if target.parse::<std::net::Ipv4Addr>().is_ok() {
            set.values = vec![target.into()];
        } else {
            set.ttl = None;
            set.alias = Some(AliasTarget {
                hosted_zone_id: "Z".into(),
                dns_name: Fqdn::parse(target).unwrap(),
                evaluate_target_health: evaluate,
            });
        }
        set
    }

    fn snapshot(sets: Vec<RecordSet>) -> Snapshot {
        snapshot_after(sets, &[])
    }

    /// A snapshot of `sets`, after the ones at `delete` are deleted again.
    fn snapshot_after(mut sets: Vec<RecordSet>, delete: &[usize]) -> Snapshot {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        for alias in sets.iter_mut().filter_map(|s| s.alias.as_mut()) {
            alias.hosted_zone_id = zone.id.clone();
        }
        let deletions: Vec<Change> = delete
            .iter()
            .map(|&i| Change::delete(sets[i].clone()))
            .collect();
        let changes: Vec<Change> = sets.into_iter().map(Change::create).collect();
        s.change(&zone.id, &changes, None, 1).unwrap();
        if !deletions.is_empty() {
            s.change(&zone.id, &deletions, None, 2).unwrap();
        }
        Snapshot::of_zones(&s, &AnswerCounters::default())
    }

    /// The pools `bos` (weighted, two sets) and `nyc` (simple), and `edge` over them.
    fn pools(bos_evaluate: bool) -> Vec<RecordSet> {
        vec![
            plain("bos.lab.test", Some("b1"), &["192.0.2.1"]),
            plain("bos.lab.test", Some("b2"), &["192.0.2.2"]),
            plain("nyc.lab.test", None, &["198.51.100.1"]),
            member("boston", BOSTON, 0, "bos.lab.test", bos_evaluate),
            member("new-york", NEW_YORK, 0, "nyc.lab.test", true),
        ]
    }

    /// The addresses and TTL `edge.lab.test` A answers a client at `client` with.
    fn answer(snap: &Snapshot, client: Option<Coordinates>, random: u64) -> (Vec<String>, u32) {
        let zone = &snap.zones()[0];
        let rrset = &zone.nodes["edge.lab.test."].rrsets[&RecordType::A];
        let routed = route(
            zone,
            rrset,
            RecordType::A,
            &Client::at(client),
            random,
            &mut Work::default(),
        );
        assert!(routed.scope.is_some());
        let ttl = routed.records.first().map_or(0, |r| r.ttl);
        (
            routed.records.iter().map(|r| r.data.to_string()).collect(),
            ttl,
        )
    }

    #[test]
    fn an_unhealthy_member_is_passed_over_until_every_member_is_unhealthy() {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let (bos_check, nyc_check) = (s.failed_test_check("bos"), s.failed_test_check("nyc"));
        let mut bos = member("boston", BOSTON, 0, "192.0.2.9", false);
        bos.health_check_id = Some(bos_check);
        let nyc = member("new-york", NEW_YORK, 0, "198.51.100.1", false);
        s.change(
            &zone.id,
            &[Change::create(bos.clone()), Change::create(nyc.clone())],
            None,
            1,
        )
        .unwrap();
        let snap = Snapshot::of_zones(&s, &AnswerCounters::default());
        assert_eq!(
            answer(&snap, at(BOSTON), 0).0,
            ["198.51.100.1"],
            "next nearest"
        );
        let mut nyc_down = nyc.clone();
        nyc_down.health_check_id = Some(nyc_check);
        let upsert = registry::model::Change {
            action: registry::model::Action::Upsert,
            record_set: nyc_down,
        };
        s.change(&zone.id, &[upsert], None, 2).unwrap();
        let snap = Snapshot::of_zones(&s, &AnswerCounters::default());
        assert_eq!(
            answer(&snap, at(BOSTON), 0).0,
            ["192.0.2.9"],
            "all unhealthy: nearest"
        );
    }

    #[test]
    fn the_nearest_member_answers_with_its_targets_records_and_ttl() {
        let snap = snapshot(pools(true));
        let ids = |r| answer(&snap, at(BOSTON), r).0;
        assert_eq!(ids(0), ["192.0.2.1"]);
        assert_eq!(ids(1), ["192.0.2.2"], "the weighted pool picks by weight");
        assert_eq!(answer(&snap, at(BOSTON), 0).1, 30, "the target's TTL");
        assert_eq!(
            answer(&snap, at((40.0, -75.0)), 0),
            (vec!["198.51.100.1".to_owned()], 45)
        );
        assert_eq!(
            answer(&snap, at((51.5, -0.1)), 0).0,
            ["192.0.2.1"],
            "London"
        );
    }

    #[test]
    fn bias_moves_the_boundary() {
        // A client in Providence (about 66 km from Boston, 245 km from New York) goes to New
        // York when New York's bias is 99 (its distances count a hundredth).
        let providence = at((41.82, -71.41));
        let near = snapshot(pools(true));
        assert_eq!(answer(&near, providence, 0).0, ["192.0.2.1"]);
        let mut sets = pools(true);
        sets[4] = member("new-york", NEW_YORK, 99, "nyc.lab.test", true);
        assert_eq!(answer(&snapshot(sets), providence, 0).0, ["198.51.100.1"]);
    }

    #[test]
    fn an_empty_target_skips_an_evaluating_alias_only() {
        // Boston's pool loses both its address sets.
        let snap = snapshot_after(pools(true), &[0, 1]);
        assert_eq!(answer(&snap, at(BOSTON), 0).0, ["198.51.100.1"]);
        // Without EvaluateTargetHealth the nearest member answers, with nothing: NODATA.
        let snap = snapshot_after(pools(false), &[0, 1]);
        assert_eq!(answer(&snap, at(BOSTON), 0).0, Vec::<String>::new());
        // No usable member at all: NODATA too.
        let snap = snapshot_after(pools(true), &[0, 1, 2]);
        assert_eq!(answer(&snap, at(BOSTON), 0).0, Vec::<String>::new());
    }

    #[test]
    fn all_weight_zero_targets_are_usable() {
        let mut sets = pools(true);
        sets[0].weight = Some(0);
        sets[1].weight = Some(0);
        let snap = snapshot(sets);
        assert_eq!(answer(&snap, at(BOSTON), 1).0, ["192.0.2.2"]);
    }

    #[test]
    fn unknown_clients_get_the_first_usable_member_by_set_identifier() {
        let snap = snapshot(pools(true));
        assert_eq!(answer(&snap, None, 0).0, ["192.0.2.1"], "boston < new-york");
        let mut sets = pools(true);
        sets[3] = member("zzz-boston", BOSTON, 0, "bos.lab.test", true);
        assert_eq!(answer(&snapshot(sets), None, 0).0, ["198.51.100.1"]);
    }

    #[test]
    fn alias_chains_are_followed_and_bounded() {
        // edge → a1 → a2 → … → a9 → nyc: more than MAX_ALIAS_DEPTH hops.
        let alias = |name: &str, target: &str| {
            let mut s = plain(name, None, &[]);
            s.ttl = None;
            s.values.clear();
            s.alias = Some(AliasTarget {
                hosted_zone_id: "Z".into(),
                dns_name: Fqdn::parse(target).unwrap(),
                evaluate_target_health: false,
            });
            s
        };
        let mut sets = pools(true);
        sets.push(alias("a1.lab.test", "nyc.lab.test"));
        for i in 2..=9 {
            sets.push(alias(
                &format!("a{i}.lab.test"),
                &format!("a{}.lab.test", i - 1),
            ));
        }
        sets.push(member("aab-close", BOSTON, 0, "a3.lab.test", true));
        sets.push(member("aaa-deep", BOSTON, 0, "a9.lab.test", true));
        let snap = snapshot(sets);
        let zone = &snap.zones()[0];
        let a = |name: &str| {
            let rrset = &zone.nodes[name].rrsets[&RecordType::A];
            route(
                zone,
                rrset,
                RecordType::A,
                &Client::at(at(BOSTON)),
                0,
                &mut Work::default(),
            )
        };
        assert_eq!(a("a3.lab.test.").records.len(), 1);
        assert!(a("a3.lab.test.").scope.is_none());
        assert!(a("a9.lab.test.").records.is_empty(), "9 hops are too deep");
        // Three members at the client's place: "aaa-deep" comes first but its chain is too
        // deep (unusable), so the next, "aab-close", answers through a3 → a2 → a1 → nyc.
        assert_eq!(answer(&snap, at(BOSTON), 0).0, ["198.51.100.1"]);
    }

    #[test]
    fn ties_go_to_the_first_set_identifier() {
        let mut sets = pools(true);
        sets.push(member("another", BOSTON, 0, "nyc.lab.test", true));
        assert_eq!(answer(&snapshot(sets), at(BOSTON), 0).0, ["198.51.100.1"]);
    }

    /// A geoproximity alias member of `name` to `target`, placed by `i`.
    fn cross(name: &str, i: usize, target: &str, evaluate: bool) -> RecordSet {
        let place = (
            f64::from(u8::try_from(i).unwrap()) - 15.0,
            2.0 * f64::from(u8::try_from(i).unwrap()),
        );
        let mut set = member(&format!("m{i:02}"), place, 0, target, evaluate);
        set.name = Fqdn::parse(name).unwrap();
        set
    }

    /// The most expensive state the API accepts for one question: `a` and `b`, each with
    /// Route 53's 30 geoproximity members, every member an alias to the other name (with
    /// `EvaluateTargetHealth` when `evaluate`), built through the store's rules as the API
    /// applies them; and `www`, the weighted pool of four sets the benchmarks answer.
    fn cross_aliased(evaluate: bool) -> Snapshot {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let with_zone = |mut set: RecordSet| {
            if let Some(alias) = set.alias.as_mut() {
                alias.hosted_zone_id = zone.id.clone();
            }
            Change::create(set)
        };
        let mut seed_a = member("seed", BOSTON, 0, "192.0.2.1", false);
        seed_a.name = Fqdn::parse("a.lab.test").unwrap();
        let mut seed_b = seed_a.clone();
        seed_b.name = Fqdn::parse("b.lab.test").unwrap();
        let mut first: Vec<Change> = vec![
            Change::create(seed_a.clone()),
            Change::create(seed_b.clone()),
        ];
        first.extend((1..=4).map(|i| {
            Change::create(plain(
                "www.lab.test",
                Some(&format!("t{i}")),
                &["192.0.2.7"],
            ))
        }));
        s.change(&zone.id, &first, None, 1).unwrap();
        let members: Vec<Change> = (0..29)
            .flat_map(|i| {
                [
                    cross("a.lab.test", i, "b.lab.test", evaluate),
                    cross("b.lab.test", i, "a.lab.test", evaluate),
                ]
            })
            .map(with_zone)
            .collect();
        s.change(&zone.id, &members, None, 2).unwrap();
        let last = vec![
            Change::delete(seed_a),
            Change::delete(seed_b),
            with_zone(cross("a.lab.test", 29, "b.lab.test", evaluate)),
            with_zone(cross("b.lab.test", 29, "a.lab.test", evaluate)),
        ];
        s.change(&zone.id, &last, None, 3).unwrap();
        // The 31st member is refused: the group is at the quota.
        let over = with_zone(cross("a.lab.test", 30, "b.lab.test", evaluate));
        assert!(s.change(&zone.id, &[over], None, 4).is_err());
        Snapshot::of_zones(&s, &AnswerCounters::default())
    }

    /// The work of answering `name` A for a client at `client`.
    fn work_of(snap: &Snapshot, name: &str, client: Option<Coordinates>, random: u64) -> Work {
        let zone = &snap.zones()[0];
        let rrset = &zone.nodes[name].rrsets[&RecordType::A];
        let mut work = Work::default();
        route(
            zone,
            rrset,
            RecordType::A,
            &Client::at(client),
            random,
            &mut work,
        );
        work
    }

    #[test]
    fn the_costliest_question_the_api_allows_costs_at_most_20_weighted_answers() {
        for evaluate in [true, false] {
            let snap = cross_aliased(evaluate);
            let weighted = work_of(&snap, "www.lab.test.", at(BOSTON), 7);
            assert_eq!(
                weighted,
                Work {
                    members: 3,
                    hops: 0,
                    distances: 0
                },
                "a pick over four sets looks at three"
            );
            let mut worst = Work::default();
            let clients = [
                None,
                at(BOSTON),
                at((-15.0, 0.0)),
                at((14.0, 58.0)),
                at((-89.0, 179.0)),
            ];
            for client in clients {
                for random in 0..4 {
                    let work = work_of(&snap, "a.lab.test.", client, random);
                    assert!(work.distances <= work.members, "{work:?}");
                    if (work.units(), work.distances) > (worst.units(), worst.distances) {
                        worst = work;
                    }
                }
            }
            assert!(worst.units() <= MAX_ROUTE_WORK, "{worst:?}");
            assert!(
                worst.units() <= 20 * weighted.units(),
                "{worst:?} vs {weighted:?}"
            );
            // The bound is what stops it: with EvaluateTargetHealth every member is tried (one
            // group of 30 looked at, then each member's alias, whose target no longer fits).
            if evaluate {
                assert_eq!(
                    worst,
                    Work {
                        members: 30,
                        hops: 30,
                        distances: 30
                    }
                );
            } else {
                assert_eq!(worst.units(), 31, "the nearest member decides: {worst:?}");
            }
            assert!(
                answer_of(&snap, "a.lab.test.").is_empty(),
                "no records: NODATA"
            );
        }
    }

    fn answer_of(snap: &Snapshot, name: &str) -> Vec<String> {
        let zone = &snap.zones()[0];
        let rrset = &zone.nodes[name].rrsets[&RecordType::A];
        let routed = route(
            zone,
            rrset,
            RecordType::A,
            &Client::at(at(BOSTON)),
            0,
            &mut Work::default(),
        );
        routed.records.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn a_geoproximity_group_at_the_quota_over_weighted_pools_is_answered_in_budget() {
        // 29 members alias to empty names' targets (unusable with EvaluateTargetHealth), the
        // farthest to the weighted pool: every member is tried, within the budget.
        let mut sets = pools(true);
        sets.truncate(3);
        for i in 0..29 {
            let mut gone = plain(&format!("p{i}.lab.test"), Some("x"), &["192.0.2.3"]);
            gone.weight = Some(0);
            sets.push(gone);
            sets.push(member(
                &format!("m{i:02}"),
                BOSTON,
                0,
                &format!("p{i}.lab.test"),
                true,
            ));
        }
        sets.push(member("zz", NEW_YORK, 0, "nyc.lab.test", true));
        let deleted: Vec<usize> = (0..29).map(|i| 3 + 2 * i).collect();
        let snap = snapshot_after(sets, &deleted);
        let zone = &snap.zones()[0];
        let rrset = &zone.nodes["edge.lab.test."].rrsets[&RecordType::A];
        let mut work = Work::default();
        let routed = route(
            zone,
            rrset,
            RecordType::A,
            &Client::at(at(BOSTON)),
            0,
            &mut work,
        );
        assert_eq!(routed.records.len(), 1, "the farthest member answers");
        assert_eq!(
            work,
            Work {
                members: 30,
                hops: 30,
                distances: 30
            }
        );
    }

    proptest::proptest! {
        /// Whatever the aliases between a few geoproximity, weighted and alias names, wherever
        /// the client is: a question's work stays in the budget, each member looked at costs at
        /// most one distance, and routing the same question again gives the same answer.
        #[test]
        fn every_question_stays_in_budget(
            links in proptest::collection::vec((0usize..4, 0usize..5, proptest::bool::ANY, 0i64..3), 1..60),
            lat in -90.0f64..90.0,
            lon in -180.0f64..180.0,
            known in proptest::bool::ANY,
            random in proptest::num::u64::ANY,
        ) {
            let names = ["g0.lab.test", "g1.lab.test", "g2.lab.test", "g3.lab.test", "w.lab.test"];
            let mut sets = vec![plain("w.lab.test", Some("w1"), &["192.0.2.5"])];
            let mut count = [0usize; 4];
            for (i, &(from, to, evaluate, kind)) in links.iter().enumerate() {
                // Route 53 refuses an alias to itself, and a 31st member.
                if count[from] == 30 || (kind != 0 && to == from) {
                    continue;
                }
                count[from] += 1;
                let target = if kind == 0 { "192.0.2.6" } else { names[to] };
                let mut set = member(&format!("m{i:02}"), (f64::from(u8::try_from(i % 90).unwrap()), 0.0), 0, target, evaluate);
                set.name = Fqdn::parse(names[from]).unwrap();
                sets.push(set);
            }
            // An alias must find its target: give every group a member with records first.
            for (g, name) in names.iter().take(4).enumerate() {
                if count[g] < 30 {
                    let mut set = member("zz", NEW_YORK, 0, "198.51.100.9", false);
                    set.name = Fqdn::parse(name).unwrap();
                    sets.push(set);
                }
            }
            let snap = snapshot(sets);
            let client = if known { Coordinates::new(lat, lon).ok() } else { None };
            for name in names.iter().take(4) {
                let key = format!("{name}.");
                let Some(node) = snap.zones()[0].nodes.get(&key) else { continue };
                let Some(rrset) = node.rrsets.get(&RecordType::A) else { continue };
                let zone = &snap.zones()[0];
                let mut work = Work::default();
                let first = route(zone, rrset, RecordType::A, &Client::at(client), random, &mut work);
                proptest::prop_assert!(work.units() <= MAX_ROUTE_WORK, "{:?}", work);
                proptest::prop_assert!(work.distances <= work.members, "{:?}", work);
                let again = route(zone, rrset, RecordType::A, &Client::at(client), random, &mut Work::default());
                proptest::prop_assert_eq!(first.records, again.records);
            }
        }
    }
}
