//! CIDR collections (IP-based routing's blocks by location) through aws-sdk-route53 against the
//! lab resolver: create (a retry, a taken name), ChangeCidrCollection with the right and a stale
//! `CollectionVersion`, the three listings page by page, delete refused while not empty, the
//! lab's quota, and a restart on the same state directory. Also a boto3 smoke of the same wire
//! format (`<member>` lists both ways).

use aws_sdk_route53::Client;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{CidrCollectionChange, CidrCollectionChangeAction};
use registry::config::Route53Config;
use testkit::process::Service;

const BIN: &str = env!("CARGO_BIN_EXE_wavelb");

fn resolver(extra: &[&str]) -> Service {
    testkit::process::resolver(BIN, extra)
}

async fn client(api: &str) -> Client {
    let cfg = Route53Config {
        endpoint_url: Some(api.to_owned()),
        ..Route53Config::default()
    };
    aws::sdk::client(&cfg).await
}

/// A change of `action` of `blocks` in `location`.
fn change(
    location: &str,
    action: CidrCollectionChangeAction,
    blocks: &[&str],
) -> CidrCollectionChange {
    CidrCollectionChange::builder()
        .location_name(location)
        .action(action)
        .set_cidr_list(Some(blocks.iter().map(|b| (*b).to_owned()).collect()))
        .build()
        .unwrap()
}

fn put(location: &str, blocks: &[&str]) -> CidrCollectionChange {
    change(location, CidrCollectionChangeAction::Put, blocks)
}

fn delete(location: &str, blocks: &[&str]) -> CidrCollectionChange {
    change(location, CidrCollectionChangeAction::DeleteIfExists, blocks)
}

/// The error code and HTTP status of a refused call.
fn refusal<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E>>,
) -> (String, u16) {
    let err = result.expect_err("the call should be refused");
    let status = err.raw_response().map_or(0, |r| r.status().as_u16());
    let code = err.code().unwrap_or_default().to_owned();
    (code, status)
}

/// Applies `changes` to collection `id` at `version` (none: unconditionally).
async fn apply(
    r53: &Client,
    id: &str,
    version: Option<i64>,
    changes: Vec<CidrCollectionChange>,
) -> Result<
    aws_sdk_route53::operation::change_cidr_collection::ChangeCidrCollectionOutput,
    SdkError<aws_sdk_route53::operation::change_cidr_collection::ChangeCidrCollectionError>,
> {
    r53.change_cidr_collection()
        .id(id)
        .set_collection_version(version)
        .set_changes(Some(changes))
        .send()
        .await
}

/// Every (location, block) of collection `id`, page by page of `page` (`location`: that one's).
/// Also checks each page holds at most `page` items.
async fn blocks(
    r53: &Client,
    id: &str,
    location: Option<&str>,
    page: i32,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = r53
            .list_cidr_blocks()
            .collection_id(id)
            .set_location_name(location.map(str::to_owned))
            .max_results(page)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(resp.cidr_blocks().len() <= usize::try_from(page).unwrap());
        out.extend(resp.cidr_blocks().iter().map(|b| {
            (
                b.location_name().unwrap().to_owned(),
                b.cidr_block().unwrap().to_owned(),
            )
        }));
        match resp.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return out,
        }
    }
}

/// The locations of collection `id`, page by page of `page`; the pages' sizes too.
async fn locations(r53: &Client, id: &str, page: i32) -> (Vec<String>, Vec<usize>) {
    let (mut names, mut sizes) = (Vec::new(), Vec::new());
    let mut token: Option<String> = None;
    loop {
        let resp = r53
            .list_cidr_locations()
            .collection_id(id)
            .max_results(page)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        sizes.push(resp.cidr_locations().len());
        names.extend(
            resp.cidr_locations()
                .iter()
                .map(|l| l.location_name().unwrap().to_owned()),
        );
        match resp.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return (names, sizes),
        }
    }
}

/// Every collection's (name, version), page by page of `page`.
async fn collections(r53: &Client, page: i32) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = r53
            .list_cidr_collections()
            .max_results(page)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        out.extend(
            resp.cidr_collections()
                .iter()
                .map(|c| (c.name().unwrap().to_owned(), c.version().unwrap())),
        );
        match resp.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return out,
        }
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn cidr_collections_through_the_sdk() {
    let r = resolver(&[]);
    let r53 = client(&r.field("api_url")).await;

    // Create: 201 with Location; a retry (same name and reference) returns the same collection;
    // the name with another reference is taken.
    let created = r53
        .create_cidr_collection()
        .name("lab")
        .caller_reference("r1")
        .send()
        .await
        .unwrap();
    let c = created.collection().unwrap();
    let id = c.id().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(
        c.arn(),
        Some(format!("arn:aws:route53:::cidrcollection/{id}").as_str())
    );
    assert_eq!((c.name(), c.version()), (Some("lab"), Some(1)));
    assert!(
        created
            .location()
            .unwrap()
            .ends_with(&format!("/cidrcollection/{id}"))
    );
    let retry = r53
        .create_cidr_collection()
        .name("lab")
        .caller_reference("r1")
        .send()
        .await
        .unwrap();
    assert_eq!(retry.collection().unwrap().id(), Some(id.as_str()));
    let taken = r53
        .create_cidr_collection()
        .name("lab")
        .caller_reference("r2")
        .send()
        .await;
    assert_eq!(
        refusal(taken),
        ("CidrCollectionAlreadyExistsException".to_owned(), 400)
    );

    // Change at version 1: two locations, IPv4 and IPv6; the answer's id is a change.
    let changed = apply(
        &r53,
        &id,
        Some(1),
        vec![
            put("edge", &["198.51.100.0/24", "192.0.2.0/24"]),
            put("core", &["10.0.0.0/8", "2001:db8::/32"]),
        ],
    )
    .await
    .unwrap();
    let status = r53.get_change().id(changed.id()).send().await.unwrap();
    assert!(status.change_info().is_some());
    // A stale version: 409, nothing applied.
    let stale = apply(&r53, &id, Some(1), vec![put("late", &["203.0.113.0/24"])]).await;
    assert_eq!(
        refusal(stale),
        ("CidrCollectionVersionMismatchException".to_owned(), 409)
    );
    // Version 2 moves 192.0.2.0/24 from edge to core in one request.
    apply(
        &r53,
        &id,
        Some(2),
        vec![
            delete("edge", &["192.0.2.0/24"]),
            put("core", &["192.0.2.0/24"]),
        ],
    )
    .await
    .unwrap();
    // A block in one location cannot be put in another; a block with host bits is refused.
    let in_use = apply(&r53, &id, None, vec![put("edge", &["10.0.0.0/8"])]).await;
    assert_eq!(refusal(in_use), ("CidrBlockInUseException".to_owned(), 400));
    let host_bits = apply(&r53, &id, None, vec![put("edge", &["10.0.0.1/8"])]).await;
    assert_eq!(refusal(host_bits), ("InvalidInput".to_owned(), 400));
    let missing = apply(
        &r53,
        "0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
        None,
        vec![put("edge", &["10.0.0.0/8"])],
    )
    .await;
    assert_eq!(
        refusal(missing),
        ("NoSuchCidrCollectionException".to_owned(), 404)
    );

    // A third location, then the listings page by page.
    apply(&r53, &id, Some(3), vec![put("apex", &["203.0.113.0/24"])])
        .await
        .unwrap();
    assert_eq!(
        locations(&r53, &id, 1).await,
        (
            vec!["apex".into(), "core".into(), "edge".into()],
            vec![1, 1, 1]
        )
    );
    assert_eq!(locations(&r53, &id, 100).await.1, [3]);
    let all = pairs(&[
        ("apex", "203.0.113.0/24"),
        ("core", "10.0.0.0/8"),
        ("core", "192.0.2.0/24"),
        ("core", "2001:db8::/32"),
        ("edge", "198.51.100.0/24"),
    ]);
    for page in [1, 2, 5, 100] {
        assert_eq!(blocks(&r53, &id, None, page).await, all, "pages of {page}");
    }
    assert_eq!(blocks(&r53, &id, Some("core"), 2).await, all[1..4].to_vec());
    let nowhere = r53
        .list_cidr_blocks()
        .collection_id(&id)
        .location_name("nowhere")
        .send()
        .await;
    assert_eq!(
        refusal(nowhere),
        ("NoSuchCidrLocationException".to_owned(), 404)
    );
    let forged = r53
        .list_cidr_blocks()
        .collection_id(&id)
        .next_token("not-a-token")
        .send()
        .await;
    assert_eq!(refusal(forged), ("InvalidInput".to_owned(), 400));

    // More collections, up to the lab's 5: listed by name, page by page.
    for name in ["b", "a", "d", "c"] {
        r53.create_cidr_collection()
            .name(name)
            .caller_reference(format!("ref-{name}"))
            .send()
            .await
            .unwrap();
    }
    let listed = collections(&r53, 2).await;
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "lab"]);
    assert_eq!(listed[4].1, 4, "lab went through three changes");
    let sixth = r53
        .create_cidr_collection()
        .name("f")
        .caller_reference("f")
        .send()
        .await;
    assert_eq!(refusal(sixth), ("LimitsExceeded".to_owned(), 400));

    // Delete: refused while the collection holds blocks; once every location is emptied, done.
    let busy = r53.delete_cidr_collection().id(&id).send().await;
    assert_eq!(
        refusal(busy),
        ("CidrCollectionInUseException".to_owned(), 400)
    );
    apply(
        &r53,
        &id,
        Some(4),
        vec![
            delete("apex", &["203.0.113.0/24"]),
            delete("core", &["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]),
            delete("edge", &["198.51.100.0/24"]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(locations(&r53, &id, 100).await.0, Vec::<String>::new());
    r53.delete_cidr_collection().id(&id).send().await.unwrap();
    let gone = r53.list_cidr_locations().collection_id(&id).send().await;
    assert_eq!(
        refusal(gone),
        ("NoSuchCidrCollectionException".to_owned(), 404)
    );
    assert_eq!(collections(&r53, 100).await.len(), 4);
}

#[tokio::test]
async fn cidr_collections_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let mut r = resolver(&["--state-dir", state]);
    let r53 = client(&r.field("api_url")).await;
    let created = r53
        .create_cidr_collection()
        .name("durable")
        .caller_reference("r")
        .send()
        .await
        .unwrap();
    let id = created.collection().unwrap().id().unwrap().to_owned();
    apply(
        &r53,
        &id,
        Some(1),
        vec![put("edge", &["192.0.2.0/24", "2001:db8::/48"])],
    )
    .await
    .unwrap();
    // Killed: what was acknowledged is in the database already.
    r.kill();

    let r = resolver(&["--state-dir", state]);
    let r53 = client(&r.field("api_url")).await;
    assert_eq!(collections(&r53, 100).await, [("durable".to_owned(), 2)]);
    assert_eq!(
        blocks(&r53, &id, None, 100).await,
        pairs(&[("edge", "192.0.2.0/24"), ("edge", "2001:db8::/48")])
    );
    // Its version goes on from where it was.
    let stale = apply(&r53, &id, Some(1), vec![put("x", &["10.0.0.0/8"])]).await;
    assert_eq!(
        refusal(stale),
        ("CidrCollectionVersionMismatchException".to_owned(), 409)
    );
    apply(&r53, &id, Some(2), vec![put("x", &["10.0.0.0/8"])])
        .await
        .unwrap();
}

/// boto3 writes `<Changes><member>` and reads `<member>` lists, as the SDK for Rust does.
#[test]
fn boto3_creates_changes_and_lists_a_collection() {
    let r = resolver(&[]);
    let out = testkit::python(
        r#"
import sys, boto3
r53 = boto3.client("route53", endpoint_url=sys.argv[1])
c = r53.create_cidr_collection(Name="py", CallerReference="py-1")["Collection"]
r53.change_cidr_collection(Id=c["Id"], CollectionVersion=1, Changes=[
    {"LocationName": "edge", "Action": "PUT", "CidrList": ["192.0.2.0/24", "2001:db8::/32"]},
    {"LocationName": "core", "Action": "PUT", "CidrList": ["10.0.0.0/8"]},
])
for s in r53.list_cidr_collections()["CidrCollections"]:
    print("collection", s["Name"], s["Version"])
for l in r53.list_cidr_locations(CollectionId=c["Id"])["CidrLocations"]:
    print("location", l["LocationName"])
pages = r53.get_paginator("list_cidr_blocks").paginate(
    CollectionId=c["Id"], PaginationConfig={"PageSize": 1})
for page in pages:
    for b in page["CidrBlocks"]:
        print("block", b["LocationName"], b["CidrBlock"])
"#,
        &[&r.field("api_url")],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "collection py 2",
            "location core",
            "location edge",
            "block core 10.0.0.0/8",
            "block edge 192.0.2.0/24",
            "block edge 2001:db8::/32",
        ]
    );
}
