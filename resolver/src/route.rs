//! Which records one name and type answers with: the routing decision of simple, weighted,
//! geoproximity and alias record sets. Pure: the client's place and the random number are
//! passed in.
//!
//! - Weighted: [`crate::snapshot::Weighted::pick`] (Route 53's weights, all-zero uniform).
//! - Alias: the target's record set of the same type in the same zone answers in its place,
//!   with the target's records (so the target's TTL); an alias to an alias is followed, at most
//!   [`MAX_ALIAS_DEPTH`] deep and [`MAX_ALIAS_FOLLOWS`] times per question, beyond which the
//!   target counts as having no records.
//! - Geoproximity: among the usable members, the one with the smallest biased distance to the
//!   client (Route 53's formula, `registry::geo::biased_distance_km`); ties go to the first in
//!   SetIdentifier order. A member with its own records is always usable (Route 53 treats
//!   records without health checks as healthy); an alias member is unusable only with
//!   `EvaluateTargetHealth` and a target without records of the type (then the next nearest
//!   answers). A member whose health check is unhealthy is passed over, unless every member's
//!   is (then all count as healthy, as Route 53 answers). No usable member: no records
//!   (NOERROR/NODATA). A client whose place is unknown gets the first usable member in
//!   SetIdentifier order (a lab approximation).

use std::cmp::Ordering;

use hickory_proto::rr::{Record, RecordType};
use registry::geo::{self, Coordinates};

use crate::snapshot::{Alias, Content, Geo, Rrset, WeightedSet, ZoneView};

/// How deep alias chains are followed.
pub const MAX_ALIAS_DEPTH: usize = 8;
/// How many alias targets one question may look at (geoproximity members each may follow one).
pub const MAX_ALIAS_FOLLOWS: usize = 64;

/// What a name and type answered with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Routed<'s> {
    /// The records (empty: no records of the type, NODATA).
    pub records: &'s [Record],
    /// The weighted set answered, when a weighted group decided.
    pub picked: Option<&'s WeightedSet>,
    /// True when a geoproximity group was consulted: the answer may depend on where the client
    /// is (its EDNS Client Subnet scope is the geo table's).
    pub by_location: bool,
}

/// Routes `rrset`, of type `rtype` in `zone`, for a client at `client` (`None`: unknown).
pub fn route<'s>(
    zone: &'s ZoneView,
    rrset: &'s Rrset,
    rtype: RecordType,
    client: Option<Coordinates>,
    random: u64,
) -> Routed<'s> {
    let mut walk = Walk {
        zone,
        rtype,
        client,
        random,
        follows_left: MAX_ALIAS_FOLLOWS,
        by_location: false,
    };
    let found = walk.resolve(rrset, 0);
    let (records, picked) = found.unwrap_or((&[], None));
    Routed {
        records,
        picked,
        by_location: walk.by_location,
    }
}

/// The order geoproximity members are tried in for a client at `client`: nearest by biased
/// distance first, ties in SetIdentifier order; for an unknown client, SetIdentifier order.
pub fn nearest_first(geo: &Geo, client: Option<Coordinates>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..geo.members.len()).collect();
    if let Some(client) = client {
        let distances: Vec<f64> = geo
            .members
            .iter()
            .map(|m| geo::biased_distance_km(geo::distance_km(client, m.place), m.bias))
            .collect();
        // A stable sort keeps SetIdentifier order among equal distances.
        order.sort_by(|&a, &b| {
            distances[a]
                .partial_cmp(&distances[b])
                .unwrap_or(Ordering::Equal)
        });
    }
    order
}

type Found<'s> = Option<(&'s [Record], Option<&'s WeightedSet>)>;

struct Walk<'s> {
    zone: &'s ZoneView,
    rtype: RecordType,
    client: Option<Coordinates>,
    random: u64,
    follows_left: usize,
    by_location: bool,
}

impl<'s> Walk<'s> {
    /// The records `rrset` answers with; `None` when it has none.
    fn resolve(&mut self, rrset: &'s Rrset, depth: usize) -> Found<'s> {
        match rrset {
            Rrset::Simple(records) => (!records.is_empty()).then_some((records.as_slice(), None)),
            Rrset::Weighted(group) => group
                .pick(self.random)
                .map(|set| (set.records.as_slice(), Some(set))),
            Rrset::Alias(alias) => self.follow(alias, depth),
            Rrset::Geo(group) => {
                self.by_location = true;
                let order = nearest_first(group, self.client);
                // Healthy members first; when every member is unhealthy, all as if healthy.
                let all_unhealthy = group.members.iter().all(|m| !m.healthy);
                for index in order {
                    let member = &group.members[index];
                    if !member.healthy && !all_unhealthy {
                        continue;
                    }
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
        }
    }

    fn follow(&mut self, alias: &Alias, depth: usize) -> Found<'s> {
        if depth >= MAX_ALIAS_DEPTH || self.follows_left == 0 {
            return None;
        }
        self.follows_left -= 1;
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
    use crate::store::Store;
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
            rtype: "A".into(),
            set_identifier: id.map(Into::into),
            weight: id.map(|_| 1),
            ttl: Some(if id.is_some() { 30 } else { 45 }),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            alias: None,
            geo: None,
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
        let mut s = Store::default();
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
        Snapshot::of_store(&s, &AnswerCounters::default())
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
        let routed = route(zone, rrset, RecordType::A, client, random);
        assert!(routed.by_location);
        let ttl = routed.records.first().map_or(0, |r| r.ttl);
        (
            routed.records.iter().map(|r| r.data.to_string()).collect(),
            ttl,
        )
    }

    #[test]
    fn an_unhealthy_member_is_passed_over_until_every_member_is_unhealthy() {
        let mut s = Store::default();
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
        let snap = Snapshot::of_store(&s, &AnswerCounters::default());
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
        let snap = Snapshot::of_store(&s, &AnswerCounters::default());
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
            route(zone, rrset, RecordType::A, at(BOSTON), 0)
        };
        assert_eq!(a("a3.lab.test.").records.len(), 1);
        assert!(!a("a3.lab.test.").by_location);
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
}
