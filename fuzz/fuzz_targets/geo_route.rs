//! Geoproximity and alias answers over states the API accepts, built from the input through the
//! store's Route 53 rules (`registry::zone`: at most 30 geoproximity sets per name and type, an
//! alias needs its target), then asked for from places the lab geo table knows and one it does
//! not, through the resolver's whole answer path (`dns::answer::respond`).
//!
//! Input: 1 byte whose low four bits say which of `g0`…`g3` lose their seed member (a member
//! with its own record each group starts with, so that aliases to it can be created; it gives
//! way to the group's 30th member, or goes at the end), 8 bytes of
//! random number, then 4 bytes per geoproximity set (at most 200):
//! - `name`: `g0`…`g3` (A) or, for 4 and 5, `c0`/`c1` (CNAME: each member's record is a CNAME);
//! - `target`: an alias to `g0`…`g3` or to the weighted pool `w`, or its own record (A groups);
//!   the CNAME's target `g0`…`g3`, the other `c`, or `w` (CNAME groups);
//! - `place`: the latitude (and with `flags` the longitude);
//! - `flags`: bit 0 `EvaluateTargetHealth`, bit 1 a bias of −60 or +60 (bit 2 says which), the
//!   rest the longitude.
//!
//! Sets the store refuses are skipped. Asserts, for every name and place:
//! - the work of one question (members looked at plus alias targets looked up, every CNAME it
//!   followed included) is at most `route::MAX_ROUTE_WORK`, and at most 20 times the work of a
//!   weighted answer over four sets (`w`) in the same run;
//! - no member's distance is computed twice in a visit (distances ≤ members looked at);
//! - the same question with the same random number gets the same bytes.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use dns::answer::respond;
use dns::geotable::GeoTable;
use dns::metrics::AnswerCounters;
use dns::route::MAX_ROUTE_WORK;
use dns::snapshot::Snapshot;
use dns::transport::Transport;
use libfuzzer_sys::fuzz_target;
use registry::model::{AliasTarget, Change, GeoProximity, RecordSet};
use registry::name::Fqdn;
use route53_emulator::store::Store;

const GROUPS: [&str; 4] = ["g0.lab.test", "g1.lab.test", "g2.lab.test", "g3.lab.test"];
const CNAMES: [&str; 2] = ["c0.lab.test", "c1.lab.test"];
const POOL: &str = "w.lab.test";
/// Boston, New York and San Francisco in the lab geo table, and an address it does not place.
const SOURCES: [[u8; 4]; 4] = [
    [127, 0, 0, 1],
    [127, 64, 0, 1],
    [127, 192, 0, 1],
    [192, 0, 2, 1],
];

fn fqdn(name: &str) -> Fqdn {
    Fqdn::parse(name).expect("a valid fixed name")
}

/// A set at `name` of `rtype`: weighted when `weight` is given, geoproximity at `place` with
/// `bias` otherwise; with `values`, or an alias to `alias` (zone id, name, evaluate).
fn set(
    name: &str,
    rtype: &str,
    id: &str,
    weight: Option<i64>,
    place: (f64, f64, i64),
    values: &[&str],
    alias: Option<(&str, &str, bool)>,
) -> RecordSet {
    let (lat, lon, bias) = place;
    RecordSet {
        name: fqdn(name),
        rtype: rtype.parse().expect("a valid fixed type"),
        set_identifier: Some(id.into()),
        weight,
        ttl: alias.is_none().then_some(60),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        alias: alias.map(|(zone, target, evaluate)| AliasTarget {
            hosted_zone_id: zone.into(),
            dns_name: fqdn(target),
            evaluate_target_health: evaluate,
        }),
        geo: weight.is_none().then(|| GeoProximity {
            coordinates: Some((format!("{lat:.2}"), format!("{lon:.2}"))),
            bias: (bias != 0).then_some(bias),
            ..GeoProximity::default()
        }),
        cidr: None,
        multivalue: false,
        opaque: None,
        health_check_id: None,
    }
}

/// A query for `name` of type `qtype` (RD set, no EDNS).
fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).expect("a short label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<9>() else {
        return;
    };
    let random = u64::from_le_bytes(head[1..9].try_into().expect("8 bytes"));
    let mut store = Store::default();
    let (zone, _) = store
        .create_zone("lab.test", "fuzz", None, 0)
        .expect("zone");
    let zid = zone.id.as_str();
    let seed = |g: &str| set(g, "A", "seed", None, (0.0, 0.0, 0), &["192.0.2.1"], None);
    // The pool `w` (four sets, as the benchmarks'), a seed member with its own record in every
    // group, and a CNAME seed in each CNAME group, so that any alias or CNAME finds a target.
    let mut seeds: Vec<Change> = (1..=4)
        .map(|i| {
            let id = format!("t{i}");
            Change::create(set(
                POOL,
                "A",
                &id,
                Some(i * 10),
                (0.0, 0.0, 0),
                &["192.0.2.7"],
                None,
            ))
        })
        .collect();
    for g in GROUPS {
        seeds.push(Change::create(seed(g)));
    }
    for c in CNAMES {
        seeds.push(Change::create(set(
            c,
            "CNAME",
            "seed",
            None,
            (0.0, 0.0, 0),
            &[POOL],
            None,
        )));
    }
    store.change(zid, &seeds, None, 1).expect("the seeds apply");
    let (mut members, mut seed_gone) = ([0usize; 4], [false; 4]);
    for (i, m) in rest.chunks_exact(4).take(200).enumerate() {
        let [name, target, place, flags] = [m[0], m[1], m[2], m[3]];
        let lat = f64::from(place % 180) - 89.5;
        let lon = f64::from(flags >> 3) * 11.0 - 170.0;
        let bias = match flags & 6 {
            2 => -60,
            6 => 60,
            _ => 0,
        };
        let evaluate = flags & 1 == 1;
        let id = format!("m{i:03}");
        let built = match name % 6 {
            g @ 0..=3 => {
                let owner = GROUPS[usize::from(g)];
                let (values, to): (&[&str], _) = match target % 6 {
                    t @ 0..=3 => (&[], Some(GROUPS[usize::from(t)])),
                    4 => (&[], Some(POOL)),
                    _ => (&["192.0.2.9"], None),
                };
                // Route 53 refuses an alias to itself.
                let alias = to.map(|to| (zid, to, evaluate));
                (to != Some(owner))
                    .then(|| set(owner, "A", &id, None, (lat, lon, bias), values, alias))
            }
            c => {
                let owner = CNAMES[usize::from(c - 4)];
                let to = match target % 6 {
                    t @ 0..=3 => GROUPS[usize::from(t)],
                    4 => CNAMES[usize::from(5 - c)],
                    _ => POOL,
                };
                Some(set(
                    owner,
                    "CNAME",
                    &id,
                    None,
                    (lat, lon, bias),
                    &[to],
                    None,
                ))
            }
        };
        let Some(built) = built else {
            continue;
        };
        // A group whose seed goes gives it up for its 30th member (so it can reach the quota).
        let group = GROUPS.iter().position(|g| fqdn(g) == built.name);
        let gives_way =
            group.filter(|&g| (head[0] >> g) & 1 == 1 && !seed_gone[g] && members[g] == 29);
        let mut changes: Vec<Change> = gives_way
            .map(|g| Change::delete(seed(GROUPS[g])))
            .into_iter()
            .collect();
        changes.push(Change::create(built));
        // Refused sets (a group at its quota, …) are simply not there.
        if store.change(zid, &changes, None, 2).is_ok()
            && let Some(g) = group
        {
            members[g] += 1;
            seed_gone[g] |= gives_way.is_some();
        }
    }
    for (g, name) in GROUPS.iter().enumerate() {
        if (head[0] >> g) & 1 == 1 && !seed_gone[g] {
            let _ = store.change(zid, &[Change::delete(seed(name))], None, 3);
        }
    }
    let snapshot = Snapshot::of_zones(&store, &AnswerCounters::default())
        .with_geo_table(Arc::new(GeoTable::lab()));

    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let weighted = respond(&snapshot, &query(POOL, 1), Transport::Udp, local, random)
        .expect("a query gets a reply")
        .work;
    assert_eq!(weighted.units(), 3, "a pick over four sets looks at three");
    for name in GROUPS.iter().chain(&CNAMES) {
        for source in SOURCES {
            let packet = query(name, 1);
            let source = IpAddr::V4(Ipv4Addr::from(source));
            let first = respond(&snapshot, &packet, Transport::Udp, source, random)
                .expect("a query gets a reply");
            let work = first.work;
            assert!(
                work.units() <= MAX_ROUTE_WORK,
                "{name} from {source}: {work:?}"
            );
            assert!(
                work.units() <= 20 * weighted.units(),
                "{name} from {source}: {work:?}, a weighted answer {weighted:?}"
            );
            assert!(
                work.distances <= work.members,
                "{name} from {source}: {work:?}"
            );
            let again = respond(&snapshot, &packet, Transport::Udp, source, random)
                .expect("a query gets a reply");
            assert_eq!(
                first.bytes, again.bytes,
                "{name} from {source}: another answer"
            );
        }
    }
});
