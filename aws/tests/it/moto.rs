//! The writer against moto server: zone lookup, writing, listing across pages, and removing
//! targets, all through the real SDK and wire format.

use std::collections::BTreeMap;

use aws::metrics::WriterMetrics;
use aws::writer::Writer;
use aws_sdk_route53::types::{
    Change as SdkChange, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use registry::config::{Route53Config, ZoneRef};
use registry::model::{PoolSpec, RecordType, Target, TargetState};
use registry::name::Fqdn;
use registry::plan::{Intent, plan};
use registry::pool::{ForeignReason, classify};
use registry::testing::sid;

struct Lab {
    client: aws_sdk_route53::Client,
    zone_id: String,
    zone: Fqdn,
    writer: Writer,
}

async fn lab() -> Lab {
    let cfg = Route53Config {
        endpoint_url: Some(testkit::moto_url()),
        ..Route53Config::default()
    };
    let client = aws::sdk::client(&cfg).await;
    let zone = Fqdn::parse(&testkit::unique_zone("moto")).unwrap();
    let created = client
        .create_hosted_zone()
        .name(zone.as_str())
        .caller_reference(zone.as_str())
        .send()
        .await
        .unwrap();
    let zone_id = created
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    let writer = Writer::connect(&cfg, &ZoneRef::Name(zone.clone()), WriterMetrics::default())
        .await
        .unwrap();
    assert_eq!(
        writer.zone_id(),
        zone_id,
        "ListHostedZonesByName found another zone"
    );
    Lab {
        client,
        zone_id,
        zone,
        writer,
    }
}

fn pool(lab: &Lab) -> PoolSpec {
    PoolSpec {
        name: lab.zone.child("edge"),
        record_type: RecordType::A,
        ttl: 30,
        owner_id: "wavelb".into(),
        ownership_key: None,
    }
}

fn targets(n: usize) -> Vec<Target> {
    (0..n)
        .map(|i| {
            Target::active(
                sid(&format!("i-{i:05}")),
                vec![
                    format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)
                        .parse()
                        .unwrap(),
                ],
                u8::try_from(i % 200 + 1).unwrap(),
                1_700_000_000,
            )
        })
        .collect()
}

async fn put_simple(lab: &Lab, names: impl Iterator<Item = String>) {
    let changes: Vec<SdkChange> = names
        .map(|name| {
            SdkChange::builder()
                .action(ChangeAction::Create)
                .resource_record_set(
                    ResourceRecordSet::builder()
                        .name(name)
                        .r#type(RrType::A)
                        .ttl(60)
                        .resource_records(
                            ResourceRecord::builder()
                                .value("192.0.2.200")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        })
        .collect();
    for chunk in changes.chunks(500) {
        lab.client
            .change_resource_record_sets()
            .hosted_zone_id(&lab.zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(chunk.to_vec()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn write_list_quarantine_and_remove() {
    let lab = lab().await;
    let p = pool(&lab);
    let ts = targets(3);
    let intents: BTreeMap<_, _> = ts
        .iter()
        .map(|t| (t.id.clone(), Intent::Present(t.clone())))
        .collect();
    let view = classify(&p, &lab.writer.list_pool(&p).await.unwrap());
    assert!(view.owned.is_empty());
    lab.writer
        .execute(&plan(&p, &view, &intents))
        .await
        .unwrap();

    // A foreign weighted record written by someone else sits in the same pool.
    lab.client
        .change_resource_record_sets()
        .hosted_zone_id(&lab.zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    SdkChange::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(
                            ResourceRecordSet::builder()
                                .name(p.name.as_str())
                                .r#type(RrType::A)
                                .set_identifier("manual")
                                .weight(5)
                                .ttl(30)
                                .resource_records(
                                    ResourceRecord::builder()
                                        .value("198.51.100.7")
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let view = classify(&p, &lab.writer.list_pool(&p).await.unwrap());
    assert_eq!(view.owned.len(), 3);
    for t in &ts {
        assert_eq!(&view.owned[&t.id].target, t);
    }
    assert_eq!(view.foreign.len(), 1);
    assert_eq!(view.foreign[0].id.as_deref(), Some("manual"));
    assert_eq!(view.foreign[0].reason, ForeignReason::MissingOwnership);

    // Quarantine one: weight 0, wanted weight kept.
    let q = ts[1]
        .clone()
        .with_state(TargetState::Quarantined, 1_700_000_100);
    lab.writer
        .execute(&plan(
            &p,
            &view,
            &BTreeMap::from([(q.id.clone(), Intent::Present(q.clone()))]),
        ))
        .await
        .unwrap();
    let view = classify(&p, &lab.writer.list_pool(&p).await.unwrap());
    let got = &view.owned[&q.id].target;
    assert_eq!(got.weight, 0);
    assert_eq!(got.wanted_weight, ts[1].wanted_weight);
    assert_eq!(got.state, TargetState::Quarantined);
    assert_eq!(
        view.owned.len(),
        3,
        "other targets survived the conditional rewrite"
    );

    // Remove everything we own; the foreign record stays.
    let absent: BTreeMap<_, _> = ts.iter().map(|t| (t.id.clone(), Intent::Absent)).collect();
    lab.writer.execute(&plan(&p, &view, &absent)).await.unwrap();
    let view = classify(&p, &lab.writer.list_pool(&p).await.unwrap());
    assert!(view.owned.is_empty());
    assert_eq!(view.foreign.len(), 1);
}

#[tokio::test]
async fn lists_a_pool_across_pages_in_a_zone_of_thousands() {
    let lab = lab().await;
    let p = pool(&lab);
    let ts = targets(100);
    let intents: BTreeMap<_, _> = ts
        .iter()
        .map(|t| (t.id.clone(), Intent::Present(t.clone())))
        .collect();
    lab.writer
        .execute(&plan(&p, &classify(&p, &[]), &intents))
        .await
        .unwrap();
    // 1200 names inside the pool's subtree sort between its address and ownership records
    // ("0…" < "_wavelb"), so the listing must page through them to reach the TXT group; 1000
    // more names elsewhere make a zone of thousands.
    put_simple(&lab, (0..1200).map(|i| format!("0c{i:04}.{}", p.name))).await;
    put_simple(&lab, (0..1000).map(|i| format!("other{i:04}.{}", lab.zone))).await;
    let listed = lab.writer.list_pool(&p).await.unwrap();
    assert_eq!(listed.len(), 200);
    let view = classify(&p, &listed);
    assert_eq!(view.owned.len(), 100);
    for t in &ts {
        assert_eq!(&view.owned[&t.id].target, t);
    }
}
