//! The resolver's Route 53-compatible API: boto3 differential against moto, the registry writer
//! against strict semantics, `wavelb records` end to end, SigV4, rate limiting, propagation delay
//! and durability across `kill -9`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use registry::config::{Route53Config, ZoneRef};
use registry::metrics::WriterMetrics;
use registry::model::{PoolSpec, RecordType, Target, TargetState};
use registry::name::Fqdn;
use registry::plan::{Intent, plan};
use registry::pool::classify;
use registry::writer::{WriteError, Writer, WriterSettings};
use testkit::process::Service;

const BIN: &str = env!("CARGO_BIN_EXE_wavelb");

fn resolver(extra: &[&str]) -> Service {
    testkit::process::resolver(BIN, extra)
}

fn py(script: &str, args: &[&str]) -> std::process::Output {
    let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    Command::new(testkit::venv_python())
        .arg(path)
        .args(args)
        .output()
        .expect("cannot run python")
}

fn assert_ok(out: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn boto3_scenario_matches_moto_except_where_route53_is_stricter() {
    let r = resolver(&[]);
    let out = py(
        "route53_differential.py",
        &[&testkit::moto_url(), &r.field("api_url")],
    );
    let text = assert_ok(&out, "differential scenario");
    assert!(text.contains("moto is laxer at duplicate-create"), "{text}");
}

fn pool() -> PoolSpec {
    PoolSpec {
        name: Fqdn::parse("www.lab.test").unwrap(),
        record_type: RecordType::A,
        ttl: 30,
        owner_id: "wavelb".into(),
        ownership_key: None,
    }
}

async fn writer(api: &str, page_size: i32) -> Writer {
    let cfg = Route53Config {
        endpoint_url: Some(api.to_owned()),
        ..Route53Config::default()
    };
    let mut settings = WriterSettings::from_config(&cfg);
    settings.page_size = page_size;
    settings.requests_per_second = 1000.0;
    Writer::with_client(
        registry::sdk::client(&cfg).await,
        settings,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        WriterMetrics::default(),
    )
    .await
    .unwrap()
}

/// Registers one target at 192.0.2.1 through `w`.
async fn register(w: &Writer, p: &PoolSpec, id: impl Into<String>, weight: u8) {
    let t = Target::active(id, vec!["192.0.2.1".parse().unwrap()], weight, 1);
    w.execute(&plan(
        p,
        &classify(p, &[]),
        &BTreeMap::from([(t.id.clone(), Intent::Present(t))]),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn writer_conflicts_and_pagination_against_strict_semantics() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let p = pool();
    let w = writer(&api, 30).await;
    let targets: Vec<Target> = (0..100)
        .map(|i| {
            Target::active(
                format!("i-{i:03}"),
                vec![format!("10.0.0.{i}").parse().unwrap()],
                10,
                1,
            )
        })
        .collect();
    let intents: BTreeMap<_, _> = targets
        .iter()
        .map(|t| (t.id.clone(), Intent::Present(t.clone())))
        .collect();
    w.execute(&plan(&p, &classify(&p, &[]), &intents))
        .await
        .unwrap();

    // 200 record sets in pages of 30: most pages end inside a weighted group.
    let view = classify(&p, &w.list_pool(&p).await.unwrap());
    assert_eq!(view.owned.len(), 100);

    // A duplicate registration is refused, as a conflict.
    let err = w
        .execute(&plan(&p, &classify(&p, &[]), &intents))
        .await
        .unwrap_err();
    assert!(matches!(err, WriteError::Conflict { .. }), "{err:?}");

    // Two writers race: the second one's stale read is rejected as a whole batch.
    let stale = view.clone();
    let other = writer(&api, 300).await;
    let q = view.owned["i-007"]
        .target
        .clone()
        .with_state(TargetState::Quarantined, 2);
    other
        .execute(&plan(
            &p,
            &view,
            &BTreeMap::from([(q.id.clone(), Intent::Present(q))]),
        ))
        .await
        .unwrap();
    let mut changed = stale.owned["i-007"].target.clone();
    changed.wanted_weight = 99;
    let untouched = stale.owned["i-008"].target.clone().with_wanted_weight(77);
    let err = w
        .execute(&plan(
            &p,
            &stale,
            &BTreeMap::from([
                (changed.id.clone(), Intent::Present(changed)),
                (untouched.id.clone(), Intent::Present(untouched)),
            ]),
        ))
        .await
        .unwrap_err();
    match err {
        WriteError::Conflict { messages } => {
            assert!(messages.join(" ").contains("do not match"), "{messages:?}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let fresh = classify(&p, &w.list_pool(&p).await.unwrap());
    assert_eq!(
        fresh.owned["i-007"].target.state,
        TargetState::Quarantined,
        "the winner's write stands"
    );
    assert_eq!(
        fresh.owned["i-008"].target.wanted_weight, 10,
        "the rejected batch changed nothing"
    );
}

fn records(config: &std::path::Path, args: &[&str]) -> String {
    let mut full = vec!["--config", config.to_str().unwrap(), "records"];
    full.extend_from_slice(args);
    let out = Command::new(BIN).args(&full).output().unwrap();
    assert_ok(&out, &format!("wavelb records {args:?}"))
}

fn row(config: &std::path::Path, id: &str) -> serde_json::Value {
    let rows: serde_json::Value =
        serde_json::from_str(&records(config, &["list", "--json"])).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["set_id"] == id)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn records_quarantine_restore_cycle_end_to_end() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let p = pool();
    let w = writer(&api, 300).await;
    register(&w, &p, "i-1", 10).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("wavelb.toml");
    std::fs::write(
        &cfg,
        format!("[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\n\n[route53]\nendpoint_url = \"{api}\"\n"),
    )
    .unwrap();
    records(&cfg, &["quarantine", "i-1"]);
    assert_eq!(row(&cfg, "i-1")["weight"], 0);
    records(&cfg, &["set-weight", "i-1", "42"]);
    assert_eq!(
        (
            row(&cfg, "i-1")["weight"].clone(),
            row(&cfg, "i-1")["wanted_weight"].clone()
        ),
        (0.into(), 42.into())
    );
    records(&cfg, &["restore", "i-1"]);
    assert_eq!(row(&cfg, "i-1")["weight"], 42);
    assert_eq!(row(&cfg, "i-1")["state"], "active");
    records(&cfg, &["quarantine", "i-1"]);
    records(&cfg, &["restore", "i-1"]);
    assert_eq!(
        row(&cfg, "i-1")["weight"],
        42,
        "a second cycle restores the same weight"
    );
    records(&cfg, &["remove", "i-1"]);
    assert!(row(&cfg, "i-1").is_null());
}

#[test]
fn sigv4_is_required_when_credentials_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds.toml");
    std::fs::write(
        &creds,
        "[[credentials]]\naccess_key_id = \"AKIDLAB\"\nsecret_access_key = \"s3cret/lab+key\"\n",
    )
    .unwrap();
    let r = resolver(&["--api-credentials", creds.to_str().unwrap()]);
    let api = r.field("api_url");
    assert_ok(
        &py("sigv4_check.py", &[&api, "AKIDLAB", "s3cret/lab+key"]),
        "sigv4 checks",
    );

    // The Rust SDK signs too: `wavelb records` works with the right keys, fails without.
    let cfg = dir.path().join("wavelb.toml");
    std::fs::write(&cfg, format!("[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\n\n[route53]\nendpoint_url = \"{api}\"\nmax_attempts = 1\n")).unwrap();
    let run = |key: Option<(&str, &str)>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--config", cfg.to_str().unwrap(), "records", "list"])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
        if let Some((k, s)) = key {
            cmd.env("AWS_ACCESS_KEY_ID", k)
                .env("AWS_SECRET_ACCESS_KEY", s);
        }
        cmd.output().unwrap()
    };
    assert_ok(
        &run(Some(("AKIDLAB", "s3cret/lab+key"))),
        "records list with the right keys",
    );
    let out = run(None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("InvalidClientTokenId"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn api_refuses_to_listen_beyond_loopback_without_credentials() {
    let out = Command::new(BIN)
        .args([
            "resolver",
            "--api-listen",
            "0.0.0.0:0",
            "--dns-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-insecure"));
}

#[tokio::test]
async fn rate_limit_throttles_and_the_writer_rides_it_out() {
    let r = resolver(&["--api-rate-limit", "5"]);
    let api = r.field("api_url");
    let p = pool();
    let w = writer(&api, 300).await;
    for i in 0..12 {
        register(&w, &p, format!("i-{i}"), 1).await;
    }
    assert_eq!(
        classify(&p, &w.list_pool(&p).await.unwrap()).owned.len(),
        12
    );
    let metrics = testkit::http_get(&format!("http://{}/metrics", r.field("metrics")));
    let throttled = testkit::metric(&metrics, "wavelb_api_throttled_total").unwrap_or(0.0);
    assert!(throttled > 0.0, "the burst was throttled: {metrics}");
}

#[tokio::test]
async fn changes_stay_pending_for_the_propagation_delay() {
    let r = resolver(&["--propagation-delay", "1500ms"]);
    let api = r.field("api_url");
    let cfg = Route53Config {
        endpoint_url: Some(api),
        wait_for_insync: true,
        ..Route53Config::default()
    };
    let mut settings = WriterSettings::from_config(&cfg);
    settings.insync_poll = Duration::from_millis(100);
    let w = Writer::with_client(
        registry::sdk::client(&cfg).await,
        settings,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        WriterMetrics::default(),
    )
    .await
    .unwrap();
    let p = pool();
    let t = Target::active("i-1", vec!["192.0.2.1".parse().unwrap()], 1, 1);
    let started = std::time::Instant::now();
    let done = w
        .execute(&plan(
            &p,
            &classify(&p, &[]),
            &BTreeMap::from([(t.id.clone(), Intent::Present(t))]),
        ))
        .await
        .unwrap();
    assert!(done[0].insync);
    // Not a speed target: INSYNC cannot be reported before the configured delay has passed.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "INSYNC came after {:?}",
        started.elapsed()
    );
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let mut r = resolver(&["--state-dir", state_arg, "--zone", "durable.test"]);
    let api = r.field("api_url");
    let zone_id = testkit::python(
        "import sys,boto3;r=boto3.client('route53',endpoint_url=sys.argv[1]);print(r.list_hosted_zones_by_name(DNSName='durable.test')['HostedZones'][0]['Id'])",
        &[&api],
    );
    let script = format!(
        "{}/tests/py/durability_stream.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut streamer = Command::new(testkit::venv_python())
        .args([script.as_str(), &api, zone_id.trim(), "400"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let acked = acked.clone();
        let stdout = streamer.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                acked.lock().unwrap().push(line);
            }
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "the streamer made no progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    r.kill();
    let _ = streamer.wait();
    reader.join().unwrap();
    let acked = acked.lock().unwrap().clone();

    let r = resolver(&["--state-dir", state_arg]);
    let listed = testkit::python(
        "import sys,boto3\nr=boto3.client('route53',endpoint_url=sys.argv[1])\nzid=r.list_hosted_zones_by_name(DNSName='durable.test')['HostedZones'][0]['Id']\np=r.get_paginator('list_resource_record_sets')\nfor page in p.paginate(HostedZoneId=zid):\n  for s in page['ResourceRecordSets']: print(s['Name'])",
        &[&r.field("api_url")],
    );
    for name in &acked {
        assert!(
            listed.lines().any(|l| l == name),
            "acknowledged {name} was lost after kill -9"
        );
    }
    drop(r);

    // A torn state file is a clear startup error, never an empty zone.
    let file = state.join("state.json");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let out = Command::new(BIN)
        .args([
            "resolver",
            "--state-dir",
            state_arg,
            "--dns-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truncated") && err.contains("state.json"),
        "{err}"
    );
}

#[tokio::test]
async fn metrics_cover_queries_answers_and_the_api() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let p = pool();
    let w = writer(&api, 300).await;
    register(&w, &p, "i-1", 10).await;
    let (host, port) = r
        .dns()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    // The first query is the fast path's (EDNS without options), the second, with dig's
    // default cookie option, the general path's: both count alike.
    let out = Command::new("dig")
        .args([
            format!("@{host}"),
            "-p".into(),
            port,
            "www.lab.test".into(),
            "+short".into(),
            "+nocookie".into(),
            "www.lab.test".into(),
            "+short".into(),
            "nope.lab.test".into(),
            "+short".into(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "192.0.2.1\n192.0.2.1"
    );
    let base = format!("http://{}", r.field("metrics"));
    assert_eq!(testkit::http_get(&format!("{base}/healthz")).trim(), "ok");
    let text = testkit::http_get(&format!("{base}/metrics"));
    for series in [
        "wavelb_dns_queries_total{qtype=\"A\",rcode=\"NOERROR\"} 2",
        "wavelb_dns_queries_total{qtype=\"A\",rcode=\"NXDOMAIN\"} 1",
        "wavelb_dns_answers_total{pool=\"www.lab.test\",set_id=\"i-1\"} 2",
        "wavelb_dns_query_duration_seconds_count 3",
        "wavelb_api_requests_total{operation=\"ChangeResourceRecordSets\",code=\"OK\"} 1",
        "wavelb_zone_changes_total 1",
        "wavelb_api_throttled_total 0",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
}
