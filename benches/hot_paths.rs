//! Criterion micro-benchmarks for the hot paths (public APIs only): the weighted pick, response
//! encoding (hickory's general path and the pre-encoded fast path), the costliest geoproximity
//! question against a weighted one (issue 23, item 3), the planner with batching, and the
//! ownership TXT codec.
//!
//! `cargo bench --bench hot_paths` runs them; `benches/run.sh micro` runs them and writes the
//! table into docs/benchmarks.md.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use dns::answer::{reply, respond};
use dns::fast;
use dns::geotable::GeoTable;
use dns::metrics::AnswerCounters;
use dns::snapshot::{Snapshot, Weighted, WeightedSet};
use dns::transport::Transport;
use prometheus_client::metrics::counter::Counter;
use registry::model::{AliasTarget, GeoProximity};
use registry::model::{
    Change, PoolSpec, RecordSet, RecordType, RrType, SetId, Target, TargetState,
};
use registry::name::Fqdn;
use registry::plan::{BatchLimits, Intent};
use registry::pool::classify;
use registry::testing::sid;
use registry::txt::{OwnershipRecord, decode, encode};
use route53_emulator::store::Store;

/// The source address of every benchmarked query.
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `www.lab.test` with the benchmark's four targets, weights 10/20/30/40, TTL 30.
fn lab_store() -> Store {
    let mut store = Store::default();
    let (zone, _) = store.create_zone("lab.test", "bench", None, 0).unwrap();
    let changes: Vec<Change> = (1..=4u8)
        .map(|i| {
            Change::create(RecordSet {
                name: Fqdn::parse("www.lab.test").unwrap(),
                rtype: RrType::A,
                set_identifier: Some(format!("t{i}")),
                weight: Some(i64::from(i) * 10),
                ttl: Some(30),
                values: vec![format!("127.0.0.1{i}")],
                alias: None,
                geo: None,
                cidr: None,
                multivalue: false,
                opaque: None,
                health_check_id: None,
            })
        })
        .collect();
    store.change(&zone.id, &changes, None, 1).unwrap();
    store
}

/// A DNS query in wire format (RD set, one question, optionally an EDNS OPT record).
fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    for label in name.trim_end_matches('.').split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        // Root name, type OPT, payload 1232, rcode/version/flags 0, no options.
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

fn weighted_pick(c: &mut Criterion) {
    let sets = (1..=4u8)
        .map(|i| WeightedSet::new(format!("t{i}"), i * 10, Vec::new(), Counter::default()))
        .collect();
    let group = Weighted::new(sets);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    c.bench_function("weighted_pick/4_sets", |b| {
        b.iter(|| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            black_box(group.pick(black_box(x)).map(|s| s.weight))
        })
    });
}

fn response_encoding(c: &mut Criterion) {
    let snapshot = Snapshot::of_zones(&lab_store(), &AnswerCounters::default());
    let a = query("www.lab.test", 1, false);
    let a_edns = query("www.lab.test", 1, true);
    let nx = query("nope.lab.test", 1, false);
    let mut x = 1u64;
    let mut g = c.benchmark_group("respond");
    for (name, packet) in [
        ("weighted_a", &a),
        ("weighted_a_edns", &a_edns),
        ("nxdomain", &nx),
    ] {
        assert!(respond(&snapshot, packet, Transport::Udp, LOCAL, 0).is_some());
        g.bench_function(name, |b| {
            b.iter(|| {
                x = x.wrapping_add(0x9e37_79b9);
                respond(&snapshot, black_box(packet), Transport::Udp, LOCAL, x)
                    .map(|r| r.bytes.len())
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("fast");
    let mut out = Vec::with_capacity(1232);
    for (name, packet) in [("weighted_a", &a), ("weighted_a_edns", &a_edns)] {
        assert!(fast::answer(&snapshot, packet, Transport::Udp, 0, &mut out).is_some());
        g.bench_function(name, |b| {
            b.iter(|| {
                x = x.wrapping_add(0x9e37_79b9);
                fast::answer(&snapshot, black_box(packet), Transport::Udp, x, &mut out)
                    .map(|a| a.set.weight)
            })
        });
    }
    g.finish();
}

/// A geoproximity set `id` at `name`, placed by `i`: an alias to `target` evaluating its
/// health, or with `target` as its own A record when it is an address.
fn geo_set(name: &str, id: &str, i: usize, zone_id: &str, target: &str) -> RecordSet {
    let own = target.parse::<Ipv4Addr>().is_ok();
    RecordSet {
        name: Fqdn::parse(name).unwrap(),
        rtype: RrType::A,
        set_identifier: Some(id.into()),
        weight: None,
        ttl: own.then_some(30),
        values: if own { vec![target.into()] } else { Vec::new() },
        alias: (!own).then(|| AliasTarget {
            hosted_zone_id: zone_id.into(),
            dns_name: Fqdn::parse(target).unwrap(),
            evaluate_target_health: true,
        }),
        geo: Some(GeoProximity {
            coordinates: Some(((i % 80).to_string(), ((i * 7) % 170).to_string())),
            ..GeoProximity::default()
        }),
        cidr: None,
        multivalue: false,
        opaque: None,
        health_check_id: None,
    }
}

/// The lab store plus the costliest geoproximity state the API accepts: `a` and `b`, each with
/// 30 members (Route 53's quota), every member an alias to the other name.
fn cross_aliased_store() -> Store {
    let mut store = lab_store();
    let zone_id = store.zones().next().unwrap().id.clone();
    let seeds: Vec<Change> = ["a.lab.test", "b.lab.test"]
        .iter()
        .map(|n| Change::create(geo_set(n, "seed", 0, &zone_id, "192.0.2.1")))
        .collect();
    store.change(&zone_id, &seeds, None, 2).unwrap();
    let cross = |i: usize| {
        let id = format!("m{i:02}");
        [
            Change::create(geo_set("a.lab.test", &id, i, &zone_id, "b.lab.test")),
            Change::create(geo_set("b.lab.test", &id, i, &zone_id, "a.lab.test")),
        ]
    };
    let aliases: Vec<Change> = (0..29).flat_map(cross).collect();
    store.change(&zone_id, &aliases, None, 3).unwrap();
    let mut last: Vec<Change> = cross(29).into();
    last.extend(seeds.into_iter().map(|c| Change::delete(c.record_set)));
    store.change(&zone_id, &last, None, 4).unwrap();
    store
}

/// Issue 23, item 3: the costliest geoproximity question (`a.lab.test` in
/// [`cross_aliased_store`], from 127.0.0.1, which the lab geo table places in Boston) beside a
/// weighted one, on the general path (`respond`) and on the path the listeners run (`reply`:
/// the fast path for the weighted name). `benches/run.sh micro` writes the ratios.
fn geoproximity_worst(c: &mut Criterion) {
    let snapshot = Snapshot::of_zones(&cross_aliased_store(), &AnswerCounters::default())
        .with_geo_table(Arc::new(GeoTable::lab()));
    let weighted = query("www.lab.test", 1, false);
    let worst = query("a.lab.test", 1, false);
    let answered = respond(&snapshot, &worst, Transport::Udp, LOCAL, 0).unwrap();
    assert_eq!(answered.work.units(), dns::route::MAX_ROUTE_WORK);
    let mut x = 1u64;
    let mut out = Vec::with_capacity(1232);
    let mut g = c.benchmark_group("geo");
    for (name, packet) in [("weighted_a", &weighted), ("worst_a", &worst)] {
        g.bench_function(format!("respond_{name}"), |b| {
            b.iter(|| {
                x = x.wrapping_add(0x9e37_79b9);
                respond(&snapshot, black_box(packet), Transport::Udp, LOCAL, x)
                    .map(|r| r.bytes.len())
            })
        });
        g.bench_function(format!("reply_{name}"), |b| {
            b.iter(|| {
                x = x.wrapping_add(0x9e37_79b9);
                reply(
                    &snapshot,
                    black_box(packet),
                    Transport::Udp,
                    LOCAL,
                    x,
                    &mut out,
                )
                .is_some()
            })
        });
    }
    g.finish();
}

fn planner(c: &mut Criterion) {
    let pool = PoolSpec {
        name: Fqdn::parse("www.lab.test").unwrap(),
        record_type: RecordType::A,
        ttl: 30,
        owner_id: "bench".into(),
        ownership_key: None,
    };
    let n = 100u32;
    let address = |i: u32| IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + 0x100 + i));
    let targets: Vec<Target> = (0..n)
        .map(|i| {
            Target::active(
                sid(&format!("i-{i:017x}")),
                vec![address(i)],
                10,
                1_700_000_000,
            )
        })
        .collect();
    let listed: Vec<RecordSet> = targets.iter().flat_map(|t| t.record_sets(&pool)).collect();
    let view = classify(&pool, &listed);
    assert_eq!(view.owned.len(), n as usize);
    // Every target changes: half are quarantined, half get a new weight.
    let intents: BTreeMap<SetId, Intent> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let next = if i % 2 == 0 {
                t.clone()
                    .with_state(TargetState::Quarantined, 1_700_000_100)
            } else {
                t.clone()
                    .with_wanted_weight(20)
                    .with_state(TargetState::Active, 1_700_000_100)
            };
            (t.id.clone(), Intent::Present(next))
        })
        .collect();
    let out = registry::plan::plan(&pool, &view, &intents);
    assert_eq!(out.groups.len(), n as usize);
    c.bench_function("plan_and_batch/100_targets", |b| {
        b.iter(|| {
            let p = registry::plan::plan(black_box(&pool), black_box(&view), black_box(&intents));
            registry::plan::batches(&p.groups, BatchLimits::default()).map(|b| b.len())
        })
    });
    c.bench_function("classify/100_targets", |b| {
        b.iter(|| classify(black_box(&pool), black_box(&listed)).owned.len())
    });
}

fn txt_codec(c: &mut Criterion) {
    let rec = OwnershipRecord {
        owner: "agent-i-0123456789abcdef0".into(),
        wanted_weight: 40,
        state: TargetState::Quarantined,
        since: 1_700_000_000,
        probe: Some("127.0.0.14:4433".parse().unwrap()),
        by: Some(registry::model::By::Health),
        why: None,
        parked: None,
        mac: None,
    };
    let text = encode(&rec);
    assert_eq!(decode(&text).unwrap(), rec);
    let mut g = c.benchmark_group("txt");
    g.bench_function("encode", |b| b.iter(|| encode(black_box(&rec)).len()));
    g.bench_function("decode", |b| b.iter(|| decode(black_box(&text)).is_ok()));
    g.finish();
}

criterion_group!(
    hot_paths,
    weighted_pick,
    response_encoding,
    geoproximity_worst,
    planner,
    txt_codec
);
criterion_main!(hot_paths);
