//! The Route 53 emulator's write path and restart at scale (issue #23, item 5): one one-record change
//! through `Shared::mutate` (the copy, the database commit with fsync, the snapshot update) at
//! 100 and at 100 000 record sets (20 zones), and a restart (open the database and load it) at the
//! largest state the bound allows (200 000 record sets). And the fast path's lookup (a persistent
//! map since the snapshot is updated in place) with 1 and with 2 000 weighted names served (8 000 sets, a zone holds 10 000).
//!
//! `cargo bench -p wavelb-route53-emulator --bench state_store`; the figures are in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_auth::sigv4::Payload;
use criterion::{Criterion, criterion_group, criterion_main};
use dns::fast;
use dns::geotable::GeoTable;
use dns::metrics::DnsMetrics;
use dns::snapshot::Snapshot;
use dns::transport::Transport;
use registry::model::{Change, RecordSet, RrType};
use registry::name::Fqdn;
use route53_emulator::db::{Batch, StateDb};
use route53_emulator::metrics::ApiMetrics;
use route53_emulator::shared::Shared;
use route53_emulator::store::{DEFAULT_MAX_RECORD_SETS, Store};

/// Zones the record sets are spread over (a zone holds at most 10 000; 5 000 each at 100 000
/// leaves room for the change).
const ZONES: usize = 20;

fn set(name: &str, id: &str) -> RecordSet {
    RecordSet {
        name: Fqdn::parse(name).unwrap(),
        rtype: RrType::A,
        set_identifier: Some(id.into()),
        weight: Some(10),
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

/// A state directory holding `total` record sets over `zones` zones (pools of 50 weighted sets,
/// with long set identifiers as the audit used), written as one migration would.
fn state(total: usize, zones: usize) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut db, mut store) = StateDb::open(dir.path()).unwrap();
    let per_zone = total / zones;
    let mut ids = Vec::new();
    for z in 0..zones {
        let origin = format!("zone{z}.bench.test");
        let (zone, _) = store.create_zone(&origin, &origin, None, 0).unwrap();
        let all: Vec<usize> = (0..per_zone.saturating_sub(2)).collect();
        for chunk in all.chunks(1000) {
            let changes: Vec<Change> = chunk
                .iter()
                .map(|i| {
                    let name = format!("pool{}.{origin}", i / 50);
                    Change::create(set(&name, &format!("i-{i:017x}-{}", "x".repeat(40))))
                })
                .collect();
            store.change(&zone.id, &changes, None, 1).unwrap();
        }
        ids.push(zone.id);
    }
    store.touch_everything();
    let touched = store.take_touched();
    db.write(&Batch::of(&store, &touched).unwrap()).unwrap();
    (dir, ids)
}

fn shared(db: StateDb, store: Store) -> Shared {
    let mut registry = prometheus_client::registry::Registry::default();
    let shared = Shared {
        store: tokio::sync::Mutex::new(Store::default()),
        dns: Arc::new(dns::shared::Shared::new(
            DnsMetrics::register(&mut registry),
            Arc::new(GeoTable::lab()),
        )),
        state_db: Some(Arc::new(std::sync::Mutex::new(db))),
        propagation_delay: Duration::ZERO,
        rate_limit: None,
        credentials: None,
        unsigned_payload: Payload::MustBeSigned,
        api_insecure: false,
        metrics: ApiMetrics::register(&mut registry),
    };
    shared.publish(&store);
    *shared.store.try_lock().unwrap() = store;
    shared
}

fn one_record_change(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("mutate_one_record");
    g.sample_size(30);
    for total in [100, 100_000] {
        let (dir, ids) = state(total, ZONES);
        let (db, store) = StateDb::open(dir.path()).unwrap();
        assert_eq!(store.totals().sets, total);
        let shared = shared(db, store);
        let zone = ids[ZONES / 2].clone();
        let name = format!("new.zone{}.bench.test", ZONES / 2);
        let name = name.as_str();
        let mut n = 0u64;
        g.bench_function(format!("{total}_sets"), |b| {
            b.iter(|| {
                // CREATE, then DELETE: every iteration is a one-record change.
                let change = if n.is_multiple_of(2) {
                    Change::create(set(name, "one"))
                } else {
                    Change::delete(set(name, "one"))
                };
                n += 1;
                rt.block_on(shared.mutate(|s, now| s.change(&zone, &[change], None, now)))
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn restart(c: &mut Criterion) {
    let (dir, _) = state(DEFAULT_MAX_RECORD_SETS, 20);
    let mut g = c.benchmark_group("restart");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(30));
    g.bench_function(format!("{DEFAULT_MAX_RECORD_SETS}_sets"), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let (db, store) = StateDb::open(dir.path()).unwrap();
                // Serving needs the snapshot too: part of a restart.
                let snapshot = Snapshot::of_zones(&store, &Default::default());
                took += started.elapsed();
                assert_eq!(store.totals().sets, DEFAULT_MAX_RECORD_SETS);
                drop((db, snapshot));
            }
            took
        })
    });
    g.finish();
}

/// An A query for `name` without EDNS, in wire format.
fn a_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn fast_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("fast_lookup");
    for names in [1usize, 2_000] {
        let mut store = Store::default();
        let (zone, _) = store.create_zone("lab.test", "bench", None, 0).unwrap();
        let all: Vec<usize> = (0..names).collect();
        for chunk in all.chunks(250) {
            let changes: Vec<Change> = chunk
                .iter()
                .flat_map(|i| {
                    (0..4).map(move |t| {
                        Change::create(set(&format!("www{i}.lab.test"), &format!("t{t}")))
                    })
                })
                .collect();
            store.change(&zone.id, &changes, None, 1).unwrap();
        }
        let snapshot = Snapshot::of_zones(&store, &Default::default());
        let packet = a_query(&format!("www{}.lab.test", names / 2));
        let mut out = Vec::with_capacity(512);
        let mut x = 1u64;
        assert!(fast::answer(&snapshot, &packet, Transport::Udp, 0, &mut out).is_some());
        g.bench_function(format!("{names}_names"), |b| {
            b.iter(|| {
                x = x.wrapping_add(0x9e37_79b9);
                fast::answer(
                    &snapshot,
                    std::hint::black_box(&packet),
                    Transport::Udp,
                    x,
                    &mut out,
                )
                .map(|a| a.set.weight)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fast_lookup, one_record_change, restart);
criterion_main!(benches);
