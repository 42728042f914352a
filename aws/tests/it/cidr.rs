//! The writer's CIDR collection calls (find, create, change at a version) through the real SDK
//! against the lab's Route 53 (`route53_emulator`, started in-process as `wavelb resolver` and
//! `wavelb lab` start it): moto has no CIDR collections.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws::metrics::WriterMetrics;
use aws::writer::{WriteError, Writer, WriterSettings};
use ipnet::IpNet;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use registry::cidr::{Action, LocationChange, collection_requests};
use registry::config::{Route53Config, ZoneRef};
use registry::name::Fqdn;
use route53_emulator::service::{self, Running, Settings};

/// The lab's Route 53 on loopback ports, serving `lab.test`, state in memory.
async fn lab() -> Running {
    lab_limited(None).await
}

/// [`lab`] answering `Throttling` past `rate` requests a second (a burst of `rate`).
async fn lab_limited(rate: Option<f64>) -> Running {
    let settings = Settings {
        dns_listen: vec!["127.0.0.1:0".parse().unwrap()],
        api_listen: "127.0.0.1:0".parse().unwrap(),
        zones: vec!["lab.test".into()],
        state_dir: None,
        state_limits: route53_emulator::store::StateLimits::default(),
        propagation_delay: Duration::ZERO,
        api_rate_limit: rate,
        api_credentials: None,
        api_insecure: false,
        api_allow_unsigned_payload: false,
        dns_tcp: Default::default(),
        api_limits: Default::default(),
        geo_table: Arc::default(),
    };
    service::start(&settings, &mut Registry::default())
        .await
        .unwrap()
}

async fn writer(lab: &Running, registry: &mut Registry) -> Writer {
    let cfg = Route53Config {
        endpoint_url: Some(format!("http://{}", lab.api)),
        ..Route53Config::default()
    };
    let mut settings = WriterSettings::from_config(&cfg);
    settings.requests_per_second = 1000.0;
    settings.backoff_base = Duration::from_millis(5);
    settings.backoff_cap = Duration::from_millis(50);
    let client = aws::sdk::client(&cfg).await;
    Writer::with_client(
        client,
        settings,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        WriterMetrics::register(registry),
    )
    .await
    .unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn wanted(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<IpNet>> {
    pairs
        .iter()
        .map(|(l, bs)| ((*l).to_owned(), bs.iter().map(|b| net(b)).collect()))
        .collect()
}

fn requests_of(registry: &Registry, operation: &str, outcome: &str) -> f64 {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    testkit::metric(
        &text,
        &format!(
            "wavelb_route53_requests_total{{operation=\"{operation}\",outcome=\"{outcome}\"}}"
        ),
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn a_collection_is_created_found_and_changed_at_its_version() {
    let lab = lab().await;
    let mut reg = Registry::default();
    let w = writer(&lab, &mut reg).await;

    assert_eq!(w.find_cidr_collection("carriers").await.unwrap(), None);
    let created = w
        .create_cidr_collection("carriers", "carriers-1")
        .await
        .unwrap();
    assert!(registry::cidr::is_collection_id(&created.id));
    assert_eq!((created.version, created.blocks.len()), (1, 0));
    // The same request again is Route 53's idempotent retry: the same collection.
    let again = w
        .create_cidr_collection("carriers", "carriers-1")
        .await
        .unwrap();
    assert_eq!(again, created);
    // Another caller reference is refused for good, with Route 53's code.
    let err = w
        .create_cidr_collection("carriers", "someone-else")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Api { code: Some(c), .. } if c == "CidrCollectionAlreadyExistsException"),
        "{err:?}"
    );
    let found = w.find_cidr_collection("carriers").await.unwrap().unwrap();
    assert_eq!(found, created);

    // The planned request, at the listed version.
    let first = wanted(&[
        ("verizon", &["198.51.100.0/24", "2001:db8::/32"]),
        ("kddi", &["203.0.113.0/24"]),
    ]);
    let requests = collection_requests(&found.blocks, &first);
    assert_eq!(requests.len(), 1);
    let version = w
        .change_cidr_collection(&found.id, found.version, &requests[0])
        .await
        .unwrap();
    assert_eq!(version, 2);

    // The same request at the version it was planned at is now stale: the typed conflict.
    let err = w
        .change_cidr_collection(&found.id, found.version, &requests[0])
        .await
        .unwrap_err();
    assert!(matches!(&err, WriteError::Conflict { .. }), "{err:?}");
    assert_eq!(requests_of(&reg, "ChangeCidrCollection", "conflict"), 1.0);
    assert_eq!(requests_of(&reg, "ChangeCidrCollection", "ok"), 1.0);

    // Found again: the blocks by location, at the version returned.
    let found = w.find_cidr_collection("carriers").await.unwrap().unwrap();
    assert_eq!(found.version, version);
    let by_block: BTreeMap<IpNet, String> = [
        ("198.51.100.0/24", "verizon"),
        ("2001:db8::/32", "verizon"),
        ("203.0.113.0/24", "kddi"),
    ]
    .into_iter()
    .map(|(b, l)| (net(b), l.to_owned()))
    .collect();
    assert_eq!(found.blocks, by_block);

    // 203.0.113.0/24 moves from kddi to verizon in one request; kddi gets another block.
    let next = wanted(&[
        (
            "verizon",
            &["198.51.100.0/24", "2001:db8::/32", "203.0.113.0/24"],
        ),
        ("kddi", &["192.0.2.0/24"]),
    ]);
    let requests = collection_requests(&found.blocks, &next);
    assert_eq!(requests.len(), 1);
    let version = w
        .change_cidr_collection(&found.id, found.version, &requests[0])
        .await
        .unwrap();
    let found = w.find_cidr_collection("carriers").await.unwrap().unwrap();
    assert_eq!(found.version, version);
    assert_eq!(found.blocks[&net("203.0.113.0/24")], "verizon");
    assert_eq!(found.blocks[&net("192.0.2.0/24")], "kddi");
    assert!(collection_requests(&found.blocks, &next).is_empty());

    // A block put in a second location without leaving the first: refused for good, with
    // Route 53's code, and nothing changes.
    let err = w
        .change_cidr_collection(
            &found.id,
            found.version,
            &[LocationChange {
                location: "kddi".into(),
                action: Action::Put,
                blocks: vec![net("198.51.100.0/24")],
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Api { code: Some(c), .. } if c == "CidrBlockInUseException"),
        "{err:?}"
    );
    assert_eq!(
        w.find_cidr_collection("carriers").await.unwrap().unwrap(),
        found
    );
}

#[tokio::test]
async fn blocks_are_listed_across_pages() {
    let lab = lab().await;
    let mut reg = Registry::default();
    let w = writer(&lab, &mut reg).await;
    let c = w.create_cidr_collection("many", "many-1").await.unwrap();
    // 250 blocks: three pages of the lab's 100.
    let blocks: Vec<String> = (0..250)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = blocks.iter().map(String::as_str).collect();
    let w_all = wanted(&[("a", &refs[..125]), ("b", &refs[125..])]);
    let requests = collection_requests(&c.blocks, &w_all);
    assert_eq!(requests.len(), 1);
    w.change_cidr_collection(&c.id, c.version, &requests[0])
        .await
        .unwrap();
    let before = requests_of(&reg, "ListCidrBlocks", "ok");
    let found = w.find_cidr_collection("many").await.unwrap().unwrap();
    assert_eq!(requests_of(&reg, "ListCidrBlocks", "ok") - before, 3.0);
    assert_eq!(found.blocks.len(), 250);
    assert!(collection_requests(&found.blocks, &w_all).is_empty());
}

#[tokio::test]
async fn throttled_cidr_requests_are_retried_until_they_pass() {
    // Two requests a second, a burst of two: the writer's zone lookup and the create take the
    // burst, so the change right after them is throttled (a token takes 500 ms to come back).
    let lab = lab_limited(Some(2.0)).await;
    let mut reg = Registry::default();
    let w = writer(&lab, &mut reg).await;
    let c = w.create_cidr_collection("carriers", "r").await.unwrap();
    let put = [LocationChange {
        location: "verizon".into(),
        action: Action::Put,
        blocks: vec![net("198.51.100.0/24")],
    }];
    let version = w
        .change_cidr_collection(&c.id, c.version, &put)
        .await
        .unwrap();
    assert!(requests_of(&reg, "ChangeCidrCollection", "retry") >= 1.0);
    assert_eq!(requests_of(&reg, "ChangeCidrCollection", "ok"), 1.0);
    assert!(w.throttled() >= 1);
    let found = w.find_cidr_collection("carriers").await.unwrap().unwrap();
    assert_eq!(found.version, version);
    assert_eq!(found.blocks[&net("198.51.100.0/24")], "verizon");
}
