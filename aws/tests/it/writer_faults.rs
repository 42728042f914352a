//! The writer's retry, conflict, timeout, INSYNC and pagination logic, exercised through the real
//! SDK against a fault-injecting Route 53 endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use aws::metrics::WriterMetrics;
use aws::writer::{WriteError, Writer, WriterSettings};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use registry::config::{Route53Config, ZoneRef};
use registry::model::Target;
use registry::name::Fqdn;
use registry::plan::{Intent, plan};
use registry::pool::classify;
use registry::testing::pool_at;
use registry::testing::sid;
use testkit::faulty::{Fault, FaultyRoute53, Op, Rrset};

async fn writer(fake: &FaultyRoute53, registry: &mut Registry) -> Writer {
    writer_tuned(fake, registry, |_| {}).await
}

async fn writer_tuned(
    fake: &FaultyRoute53,
    registry: &mut Registry,
    tune: impl FnOnce(&mut WriterSettings),
) -> Writer {
    let cfg = Route53Config {
        endpoint_url: Some(fake.url.clone()),
        request_timeout: Duration::from_millis(400),
        max_attempts: 4,
        ..Route53Config::default()
    };
    let mut settings = WriterSettings::from_config(&cfg);
    settings.backoff_base = Duration::from_millis(5);
    settings.backoff_cap = Duration::from_millis(50);
    settings.throttle_max_delay = Duration::from_millis(20);
    settings.requests_per_second = 1000.0;
    settings.insync_poll = Duration::from_millis(10);
    tune(&mut settings);
    let client = aws::sdk::client(&cfg).await;
    let metrics = WriterMetrics::register(registry);
    Writer::with_client(
        client,
        settings,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        metrics,
    )
    .await
    .unwrap()
}

fn one_target_plan() -> registry::plan::Plan {
    let p = pool_at("edge.lab.test", 30, "wavelb");
    let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 1);
    plan(
        &p,
        &classify(&p, &[]),
        &BTreeMap::from([(sid("i-1"), Intent::Present(t))]),
    )
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

#[tokio::test]
async fn retries_throttling_prior_request_and_server_errors() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let w = writer(&fake, &mut reg).await;
    fake.push(Op::Change, Fault::Throttling);
    fake.push(Op::Change, Fault::PriorRequestNotComplete);
    fake.push(Op::Change, Fault::ServerError);
    let done = w.execute(&one_target_plan()).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].change_id, "C4");
    assert_eq!(fake.count(Op::Change), 4);
    let text = metrics_text(&reg);
    assert!(
        text.contains("wavelb_route53_retries_total{reason=\"throttling\"} 1"),
        "{text}"
    );
    assert!(text.contains("wavelb_route53_retries_total{reason=\"prior_request_not_complete\"} 1"));
    assert!(text.contains("wavelb_route53_retries_total{reason=\"server_error\"} 1"));
    assert!(text.contains(
        "wavelb_route53_requests_total{operation=\"ChangeResourceRecordSets\",outcome=\"ok\"} 1"
    ));
}

#[tokio::test]
async fn throttling_is_retried_past_max_attempts_until_the_patience_runs_out() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let w = writer(&fake, &mut reg).await;
    // Twice max_attempts (4) throttles in a row: a fleet-wide start, not a fault.
    for _ in 0..8 {
        fake.push(Op::Change, Fault::Throttling);
    }
    let done = w.execute(&one_target_plan()).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(fake.count(Op::Change), 9);
    assert!(
        metrics_text(&reg).contains("wavelb_route53_retries_total{reason=\"throttling\"} 8"),
        "{}",
        metrics_text(&reg)
    );

    // Endless throttling ends once the patience is spent, with the operation named.
    let w = writer_tuned(&fake, &mut Registry::default(), |s| {
        s.throttle_patience = Duration::from_millis(150);
    })
    .await;
    for _ in 0..1000 {
        fake.push(Op::Change, Fault::Throttling);
    }
    let err = w.execute(&one_target_plan()).await.unwrap_err();
    match err {
        WriteError::RetriesExhausted {
            operation,
            attempts,
            ref last,
        } => {
            assert_eq!(operation, "ChangeResourceRecordSets");
            assert!(attempts > 1 && attempts < 1000, "{attempts}");
            assert!(last.contains("Throttling"), "{last}");
        }
        other => panic!("expected exhaustion, got {other:?}"),
    }
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let w = writer(&fake, &mut reg).await;
    fake.push(Op::Change, Fault::Slow(Duration::from_secs(3)));
    w.execute(&one_target_plan()).await.unwrap();
    assert_eq!(fake.count(Op::Change), 2);
    assert!(metrics_text(&reg).contains("wavelb_route53_retries_total{reason=\"timeout\"} 1"));
}

#[tokio::test]
async fn invalid_change_batch_is_a_conflict_and_not_retried() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let w = writer(&fake, &mut reg).await;
    let msg = "Tried to delete resource record set [name='edge.lab.test.', type='A', set-identifier='i-1'] but the values provided do not match the current values";
    fake.push(Op::Change, Fault::InvalidChangeBatch(vec![msg.into()]));
    let err = w.execute(&one_target_plan()).await.unwrap_err();
    match err {
        WriteError::Conflict { messages } => {
            assert!(messages.join(" ").contains("do not match"), "{messages:?}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(fake.count(Op::Change), 1);
}

#[tokio::test]
async fn invalid_change_batch_for_a_limit_is_a_rejection_not_a_conflict() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let w = writer(&fake, &mut reg).await;
    let msg =
        "RRSet with DNS name edge.lab.test., type A has 101 weighted record sets; the limit is 100";
    fake.push(Op::Change, Fault::InvalidChangeBatch(vec![msg.into()]));
    let err = w.execute(&one_target_plan()).await.unwrap_err();
    match &err {
        WriteError::Rejected { messages } => assert_eq!(messages, &[msg.to_owned()]),
        other => panic!("expected a permanent rejection, got {other:?}"),
    }
    assert!(err.to_string().contains("re-reading cannot fix"), "{err}");
    assert_eq!(fake.count(Op::Change), 1);
    assert!(metrics_text(&reg).contains(
        "wavelb_route53_requests_total{operation=\"ChangeResourceRecordSets\",outcome=\"rejected\"} 1"
    ));
}

#[tokio::test]
async fn gives_up_after_max_attempts_and_on_access_denied() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let w = writer(&fake, &mut reg).await;
    for _ in 0..4 {
        fake.push(Op::Change, Fault::ServerError);
    }
    let err = w.execute(&one_target_plan()).await.unwrap_err();
    assert!(
        matches!(err, WriteError::RetriesExhausted { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(fake.count(Op::Change), 4);

    fake.push(Op::Change, Fault::AccessDenied);
    let err = w.execute(&one_target_plan()).await.unwrap_err();
    assert!(
        matches!(err, WriteError::Api { ref code, .. } if code.as_deref() == Some("AccessDenied")),
        "{err:?}"
    );
    assert_eq!(fake.count(Op::Change), 5);
}

#[tokio::test]
async fn deletes_precede_creates_in_one_batch() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let w = writer(&fake, &mut reg).await;
    let p = pool_at("edge.lab.test", 30, "wavelb");
    let old = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 1);
    let view = classify(&p, &[old.address_record(&p), old.ownership_record(&p)]);
    let new = old
        .clone()
        .with_state(registry::model::TargetState::Quarantined, 2);
    let planned = plan(
        &p,
        &view,
        &BTreeMap::from([(sid("i-1"), Intent::Present(new))]),
    );
    w.execute(&planned).await.unwrap();
    let bodies = fake.change_bodies();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    let actions: Vec<_> = body
        .match_indices("<Action>")
        .map(|(i, _)| &body[i + 8..i + 14])
        .collect();
    assert_eq!(actions, ["DELETE", "DELETE", "CREATE", "CREATE"], "{body}");
    assert!(body.contains("state=quarantined"));
}

#[tokio::test]
async fn waits_for_insync_when_asked() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let cfg = Route53Config {
        endpoint_url: Some(fake.url.clone()),
        wait_for_insync: true,
        ..Route53Config::default()
    };
    let mut settings = WriterSettings::from_config(&cfg);
    settings.insync_poll = Duration::from_millis(10);
    let w = Writer::with_client(
        aws::sdk::client(&cfg).await,
        settings.clone(),
        &ZoneRef::Id("Z1".into()),
        WriterMetrics::register(&mut reg),
    )
    .await
    .unwrap();
    fake.set_pending_polls(3);
    let done = w.execute(&one_target_plan()).await.unwrap();
    assert!(done[0].insync);
    assert_eq!(fake.count(Op::GetChange), 4);
    assert!(metrics_text(&reg).contains("wavelb_route53_change_insync_seconds_count 1"));

    settings.insync_timeout = Duration::from_millis(50);
    let impatient = Writer::with_client(
        aws::sdk::client(&cfg).await,
        settings,
        &ZoneRef::Id("Z1".into()),
        WriterMetrics::default(),
    )
    .await
    .unwrap();
    fake.set_pending_polls(1_000);
    let err = impatient.execute(&one_target_plan()).await.unwrap_err();
    assert!(matches!(err, WriteError::InsyncTimeout { .. }), "{err:?}");
}

#[tokio::test]
async fn pagination_resumes_inside_weighted_groups() {
    let fake = FaultyRoute53::start("lab.test").await;
    let mut reg = Registry::default();
    let p = pool_at("edge.lab.test", 30, "wavelb");
    let targets: Vec<Target> = (0..250)
        .map(|i| {
            Target::active(
                sid(&format!("i-{i:04}")),
                vec![format!("10.0.{}.{}", i / 200, i % 200).parse().unwrap()],
                1,
                1,
            )
        })
        .collect();
    let to_rrset = |s: registry::model::RecordSet| Rrset {
        name: s.name.to_string(),
        rtype: s.rtype.to_string(),
        set_id: s.set_identifier,
        weight: s.weight,
        ttl: s.ttl.unwrap(),
        values: s.values,
    };
    let mut records: Vec<Rrset> = targets
        .iter()
        .map(|t| to_rrset(t.address_record(&p)))
        .collect();
    records.extend(targets.iter().map(|t| to_rrset(t.ownership_record(&p))));
    records.push(Rrset {
        name: "zzz.lab.test.".into(),
        rtype: "A".into(),
        set_id: None,
        weight: None,
        ttl: 60,
        values: vec!["192.0.2.99".into()],
    });
    fake.set_records(records);
    let w = writer(&fake, &mut reg).await;
    let listed = w.list_pool(&p).await.unwrap();
    assert_eq!(listed.len(), 500);
    let view = classify(&p, &listed);
    assert_eq!(view.owned.len(), 250);
    assert!(view.foreign.is_empty());
    // 501 record sets at 300 per page: two pages, the second starting mid-group.
    assert_eq!(fake.count(Op::List), 2);
}

#[tokio::test]
async fn unknown_zone_name_is_a_clear_error() {
    let fake = FaultyRoute53::start("lab.test").await;
    let cfg = Route53Config {
        endpoint_url: Some(fake.url.clone()),
        ..Route53Config::default()
    };
    let err = Writer::connect(
        &cfg,
        &ZoneRef::Name(Fqdn::parse("other.test").unwrap()),
        WriterMetrics::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no hosted zone is named other.test.; create it or set pool.hosted_zone_id"
    );
}
