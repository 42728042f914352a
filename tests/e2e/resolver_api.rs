//! The resolver's Route 53-compatible API: boto3 differential against moto, the registry writer
//! against strict semantics, `wavelb records` end to end, SigV4, rate limiting, propagation delay
//! and durability across `kill -9`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use aws::metrics::WriterMetrics;
use aws::writer::{WriteError, Writer, WriterSettings};
use registry::config::{Route53Config, ZoneRef};
use registry::model::{PoolSpec, Target, TargetState};
use registry::name::Fqdn;
use registry::plan::{BatchLimits, Intent, batches, plan};
use registry::pool::classify;
use registry::testing::sid;
use testkit::process::Service;
use testkit::wait;

const BIN: &str = env!("CARGO_BIN_EXE_wavelb");

fn resolver(extra: &[&str]) -> Service {
    testkit::process::resolver(BIN, extra)
}

fn py(script: &str, args: &[&str]) -> std::process::Output {
    let path = format!("{}/tests/py/{script}", testkit::repo_root().display());
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
    assert!(text.contains("moto differs at duplicate-create:"), "{text}");
}

/// The pool these tests write through the SDK writer.
fn www() -> PoolSpec {
    registry::testing::pool_at("www.lab.test", 30, "wavelb")
}

async fn writer(api: &str, page_size: i32) -> Writer {
    writer_with_limits(api, page_size, BatchLimits::default()).await
}

/// A writer for `lab.test` at `api` that packs batches within `limits`.
async fn writer_with_limits(api: &str, page_size: i32, limits: BatchLimits) -> Writer {
    let cfg = Route53Config {
        endpoint_url: Some(api.to_owned()),
        ..Route53Config::default()
    };
    let mut settings = WriterSettings::from_config(&cfg);
    settings.page_size = page_size;
    settings.requests_per_second = 1000.0;
    settings.limits = limits;
    Writer::with_client(
        aws::sdk::client(&cfg).await,
        settings,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        WriterMetrics::default(),
    )
    .await
    .unwrap()
}

/// Registers one target at 192.0.2.1 through `w`.
async fn register(w: &Writer, p: &PoolSpec, id: &str, weight: u8) {
    let t = Target::active(sid(id), vec!["192.0.2.1".parse().unwrap()], weight, 1);
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
    let p = www();
    let w = writer(&api, 30).await;
    let targets: Vec<Target> = (0..100)
        .map(|i| {
            Target::active(
                sid(&format!("i-{i:03}")),
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
    let p = www();
    let w = writer(&api, 300).await;
    register(&w, &p, "i-1", 10).await;
    // A second target keeps the pool's name in the zone once i-1 is removed (a name that
    // matches nothing makes `records list` fail).
    register(&w, &p, "i-2", 10).await;
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

/// Writes an `--api-credentials` file with the key `AKIDLAB` / `s3cret/lab+key` into `dir`.
fn credentials_file(dir: &std::path::Path) -> std::path::PathBuf {
    let creds = dir.join("creds.toml");
    std::fs::write(
        &creds,
        "[[credentials]]\naccess_key_id = \"AKIDLAB\"\nsecret_access_key = \"s3cret/lab+key\"\n",
    )
    .unwrap();
    creds
}

#[test]
fn sigv4_is_required_when_credentials_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials_file(dir.path());
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
    // With the right keys every request is answered: the pool is empty, so `list` gets as far
    // as reading the zone and saying that no record has the pool's name (exit 1).
    let out = run(Some(("AKIDLAB", "s3cret/lab+key")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pool www.lab.test: no record in hosted zone lab.test"),
        "records list with the right keys: {stderr}"
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
    let p = www();
    let w = writer(&api, 300).await;
    for i in 0..12 {
        register(&w, &p, &format!("i-{i}"), 1).await;
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
        aws::sdk::client(&cfg).await,
        settings,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        WriterMetrics::default(),
    )
    .await
    .unwrap();
    let p = www();
    let t = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 1, 1);
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
        testkit::repo_root().display()
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
    wait::until_blocking(
        "the streamer to ack 40 changes",
        Duration::from_secs(60),
        || {
            let n = acked.lock().unwrap().len();
            if n >= 40 { Ok(()) } else { Err(n) }
        },
    );
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

    // A state database that is not one (overwritten, its write-ahead log gone) is a clear
    // startup error, never an empty zone.
    let file = state.join("state.sqlite3");
    std::fs::write(&file, vec![0x5a; 8192]).unwrap();
    for side in ["state.sqlite3-wal", "state.sqlite3-shm"] {
        let _ = std::fs::remove_file(state.join(side));
    }
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
        err.contains("state.sqlite3 is unusable") && err.contains("move it away"),
        "{err}"
    );
}

#[tokio::test]
async fn metrics_cover_queries_answers_and_the_api() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let p = www();
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

/// Sends `head` (request line and headers, without the blank line; `Connection: close` and the
/// `Host` of `api` are added) and `body` on a fresh connection to `api` (`http://ADDR:PORT`).
/// Returns the status and the whole response text; fails if no answer comes within 60 s.
fn raw_http(api: &str, head: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = api.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response)
        .expect("the API answers within 60 s");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}

/// POSTs `body` to `path` of `api`.
fn raw_post(api: &str, path: &str, body: &str) -> (u16, String) {
    raw_http(
        api,
        &format!(
            "POST {path} HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: {}",
            body.len()
        ),
        body.as_bytes(),
    )
}

/// `dig @DNS NAME TYPE +short` against the resolver.
fn dig_short(r: &Service, name: &str, rtype: &str) -> String {
    let (host, port) = r
        .dns()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let out = Command::new("dig")
        .args([
            format!("@{host}"),
            "-p".into(),
            port,
            name.into(),
            rtype.into(),
            "+short".into(),
            "+tries=1".into(),
            "+time=5".into(),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn hostile_xml_gets_a_quick_400_and_the_resolver_keeps_serving() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let (status, zones) = raw_http(&api, "GET /2013-04-01/hostedzone HTTP/1.1", b"");
    assert_eq!(status, 200, "{zones}");
    let zone = zones
        .split("<Id>/hostedzone/")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no zone id in {zones}"))
        .to_owned();
    let nested = |root: &str| {
        format!(
            "<{root}>{}{}</{root}>",
            "<a>".repeat(400),
            "</a>".repeat(400)
        )
    };
    let attributes = |root: &str| {
        let many: String = (0..40_000).map(|i| format!(" a{i}=\"\"")).collect();
        format!("<{root}{many}/>")
    };
    let targets = [
        (
            "/2013-04-01/hostedzone".to_owned(),
            "CreateHostedZoneRequest",
        ),
        (
            format!("/2013-04-01/hostedzone/{zone}/rrset/"),
            "ChangeResourceRecordSetsRequest",
        ),
    ];
    for (path, root) in &targets {
        for (body, limit) in [
            (nested(root), "more than 16 levels"),
            (attributes(root), "more than 8 attributes"),
        ] {
            let started = std::time::Instant::now();
            let (status, text) = raw_post(&api, path, &body);
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{path} {limit}: took {:?}",
                started.elapsed()
            );
            assert_eq!(status, 400, "{path} {limit}: {text}");
            assert!(
                text.contains("<Code>InvalidInput</Code>") && text.contains(limit),
                "{path}: {text}"
            );
        }
    }

    // A body over the limit is refused from its declared length, before it is read.
    let (status, text) = raw_http(
        &api,
        "POST /2013-04-01/hostedzone HTTP/1.1\r\nContent-Length: 1048577",
        b"",
    );
    assert_eq!(status, 413, "{text}");
    assert!(
        text.contains("<Code>RequestEntityTooLarge</Code>")
            && text.contains("at most 1048576 bytes"),
        "{text}"
    );

    // The process survived: DNS and the API still answer.
    assert!(dig_short(&r, "lab.test", "SOA").contains("lab.test"));
    let (status, zones) = raw_http(&api, "GET /2013-04-01/hostedzone HTTP/1.1", b"");
    assert_eq!(status, 200, "{zones}");
    assert!(zones.contains("<Name>lab.test.</Name>"), "{zones}");
}

/// Runs tests/py/api_guard.py against `api` (signing with `keys` when given).
fn guard_probes(api: &str, keys: &[&str]) -> serde_json::Value {
    let mut args = vec![api];
    args.extend_from_slice(keys);
    let out = py("api_guard.py", &args);
    serde_json::from_str(&assert_ok(&out, "api_guard.py")).unwrap()
}

#[test]
fn an_unauthenticated_api_refuses_web_pages_and_foreign_hosts() {
    let refused = serde_json::json!([403, "AccessDenied"]);
    let ok = serde_json::json!([200, ""]);
    let r = resolver(&[]);
    let got = guard_probes(&r.field("api_url"), &[]);
    for (probe, want) in [
        ("origin", &refused),
        ("dns_name_host", &refused),
        ("ip_host", &refused),
        ("localhost", &ok),
        ("loopback", &ok),
    ] {
        assert_eq!(&got[probe], want, "{probe}: {got}");
    }
    // --api-insecure (an API meant for a network) also answers IP hosts, never names or pages.
    let r = resolver(&["--api-insecure"]);
    let got = guard_probes(&r.field("api_url"), &[]);
    for (probe, want) in [
        ("origin", &refused),
        ("dns_name_host", &refused),
        ("ip_host", &ok),
        ("loopback", &ok),
    ] {
        assert_eq!(&got[probe], want, "--api-insecure {probe}: {got}");
    }
}

#[test]
fn a_signed_api_refuses_unsigned_payloads_unless_allowed_and_serves_any_host() {
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials_file(dir.path());
    let creds = creds.to_str().unwrap();
    let keys = ["AKIDLAB", "s3cret/lab+key"];
    let ok = serde_json::json!([200, ""]);
    let r = resolver(&["--api-credentials", creds]);
    let got = guard_probes(&r.field("api_url"), &keys);
    for probe in [
        "origin",
        "dns_name_host",
        "ip_host",
        "localhost",
        "loopback",
    ] {
        assert_eq!(got[probe], ok, "{probe}: {got}");
    }
    assert_eq!(
        got["unsigned_payload"],
        serde_json::json!([403, "AccessDenied"]),
        "{got}"
    );
    assert_eq!(dig_short(&r, "unsigned.lab.test", "A"), "");

    let r = resolver(&["--api-credentials", creds, "--api-allow-unsigned-payload"]);
    let got = guard_probes(&r.field("api_url"), &keys);
    assert_eq!(got["unsigned_payload"], ok, "{got}");
    assert_eq!(dig_short(&r, "unsigned.lab.test", "A"), "192.0.2.7");
}

/// The id of zone `name` at `api`.
fn zone_id(api: &str, name: &str) -> String {
    let (status, body) = testkit::http(
        "GET",
        &format!("{api}/2013-04-01/hostedzonesbyname?dnsname={name}"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let id = body.split("<Id>/hostedzone/").nth(1).unwrap();
    id[..id.find('<').unwrap()].to_owned()
}

/// A ChangeResourceRecordSets body: one `action` of an A set `name` with `values`.
fn change_body(action: &str, name: &str, values: &[String], comment: &str) -> String {
    batch_body(&[(action, name, values)], comment)
}

/// A ChangeResourceRecordSets body: for each (action, name, values), a change of an A set.
fn batch_body(changes: &[(&str, &str, &[String])], comment: &str) -> String {
    let changes: String = changes
        .iter()
        .map(|(action, name, values)| {
            let records: String = values
                .iter()
                .map(|v| format!("<ResourceRecord><Value>{v}</Value></ResourceRecord>"))
                .collect();
            format!(
                "<Change><Action>{action}</Action><ResourceRecordSet><Name>{name}</Name><Type>A</Type><TTL>30</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet></Change>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch><Comment>{comment}</Comment><Changes>{changes}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
    )
}

/// A CreateHostedZone body.
fn create_zone_body(name: &str, reference: &str, comment: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CreateHostedZoneRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Name>{name}</Name><CallerReference>{reference}</CallerReference><HostedZoneConfig><Comment>{comment}</Comment></HostedZoneConfig></CreateHostedZoneRequest>"
    )
}

/// The change id in a ChangeInfo document.
fn change_id(body: &str) -> String {
    let id = body
        .split("<Id>/change/")
        .nth(1)
        .unwrap_or_else(|| panic!("no change id in {body}"));
    id[..id.find('<').unwrap()].to_owned()
}

#[test]
fn route53_limits_refuse_long_comments_and_references_and_big_sets() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let zone = zone_id(&api, "lab.test");
    let rrset = format!("{api}/2013-04-01/hostedzone/{zone}/rrset");
    let one = vec!["192.0.2.1".to_owned()];
    let refused = |url: &str, body: &str, code: &str| {
        let (status, text) = testkit::http("POST", url, body);
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
        assert!(text.len() < 2000, "the reply echoes no long input: {text}");
    };
    refused(
        &rrset,
        &change_body("CREATE", "a.lab.test", &one, &"c".repeat(257)),
        "InvalidInput",
    );
    let zones = format!("{api}/2013-04-01/hostedzone");
    refused(
        &zones,
        &create_zone_body("other.test", &"r".repeat(129), "fine"),
        "InvalidInput",
    );
    refused(
        &zones,
        &create_zone_body("other.test", "ref-1", &"c".repeat(257)),
        "InvalidInput",
    );
    let many: Vec<String> = (0..401)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    refused(
        &rrset,
        &change_body("CREATE", "m.lab.test", &many, "x"),
        "InvalidChangeBatch",
    );
    // At the limits everything is accepted.
    let (status, text) = testkit::http(
        "POST",
        &rrset,
        &change_body("CREATE", "m.lab.test", &many[..400], &"c".repeat(256)),
    );
    assert_eq!(status, 200, "{text}");
    let (status, text) = testkit::http(
        "POST",
        &zones,
        &create_zone_body("other.test", &"r".repeat(128), &"c".repeat(256)),
    );
    assert_eq!(status, 201, "{text}");
}

/// Issue 25, item 9: the quota of record sets per hosted zone is Route 53's 10 000 by default and
/// `--max-record-sets-per-zone` when AWS raised it: GetHostedZoneLimit reports it, a change past
/// it gets `InvalidChangeBatch` naming the zone, the count and the limit, and nothing of it is
/// applied.
#[test]
fn each_hosted_zone_holds_its_quota_of_record_sets() {
    let limit = |api: &str, zone: &str| {
        let (status, body) = testkit::http(
            "GET",
            &format!("{api}/2013-04-01/hostedzonelimit/{zone}/MAX_RRSETS_BY_ZONE"),
            "",
        );
        assert_eq!(status, 200, "{body}");
        body
    };
    let r = resolver(&[]);
    let api = r.field("api_url");
    let text = limit(&api, &zone_id(&api, "lab.test"));
    assert!(text.contains("<Value>10000</Value>"), "{text}");
    // Raised to 5: the apex SOA and NS, and three more.
    let r = resolver(&["--max-record-sets-per-zone", "5"]);
    let api = r.field("api_url");
    let zone = zone_id(&api, "lab.test");
    let rrset = format!("{api}/2013-04-01/hostedzone/{zone}/rrset");
    let one = vec!["192.0.2.1".to_owned()];
    let create = |names: &[&str]| {
        let changes: Vec<(&str, &str, &[String])> = names
            .iter()
            .map(|n| ("CREATE", *n, one.as_slice()))
            .collect();
        testkit::http("POST", &rrset, &batch_body(&changes, "quota"))
    };
    let (status, text) = create(&["a.lab.test", "b.lab.test"]);
    assert_eq!(status, 200, "{text}");
    let (status, text) = create(&["c.lab.test", "d.lab.test"]);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("<Code>InvalidChangeBatch</Code>")
            && text.contains("lab.test. would hold 6 record sets; the limit is 5"),
        "{text}"
    );
    let text = limit(&api, &zone);
    assert!(
        text.contains("<Value>5</Value>") && text.contains("<Count>4</Count>"),
        "{text}"
    );
    let (status, text) = create(&["c.lab.test"]);
    assert_eq!(status, 200, "{text}");
}

/// `n` distinct IPv4 addresses in 10.`net`.0.0/16.
fn addresses(net: usize, n: usize) -> Vec<String> {
    (0..n)
        .map(|a| format!("10.{net}.{}.{}", a / 256, a % 256))
        .collect()
}

/// Route 53's limit of 1 000 ResourceRecord elements per request (UPSERT values count twice):
/// the resolver refuses a batch past it as Route 53 does, in the standard error document, and
/// applies none of it; the planner and writer split a pool change past it into batches the
/// resolver accepts.
#[tokio::test]
async fn batches_over_1000_records_are_refused_and_the_writer_splits_them() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let zone = zone_id(&api, "lab.test");
    let rrset = format!("{api}/2013-04-01/hostedzone/{zone}/rrset");
    let (v334, v251, v250) = (addresses(1, 334), addresses(2, 251), addresses(3, 250));
    let listed = |name: &str| {
        let (status, text) =
            testkit::http("GET", &format!("{rrset}?name={name}&type=A&maxitems=1"), "");
        assert_eq!(status, 200, "{text}");
        text.contains(&format!("<Name>{name}.</Name>"))
    };
    let refused = |body: &str| {
        let (status, text) = testkit::http("POST", &rrset, body);
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("<ErrorResponse")
                && text.contains("<Code>InvalidChangeBatch</Code>")
                && text.contains("<Message>[Number of records limit of 1000 exceeded."),
            "{text}"
        );
    };
    // 3 changes carrying 1 002 values.
    refused(&batch_body(
        &[
            ("CREATE", "r0.lab.test", &v334),
            ("CREATE", "r1.lab.test", &v334),
            ("CREATE", "r2.lab.test", &v334),
        ],
        "too many records",
    ));
    assert!(
        !listed("r0.lab.test"),
        "nothing of the refused batch applies"
    );
    // 501 UPSERTed values count as 1 002; as CREATEs they are accepted.
    let upserts: [(&str, &str, &[String]); 2] = [
        ("UPSERT", "u0.lab.test", &v251),
        ("UPSERT", "u1.lab.test", &v250),
    ];
    refused(&batch_body(&upserts, "upserts count twice"));
    assert!(!listed("u0.lab.test"));
    let (status, text) = testkit::http(
        "POST",
        &rrset,
        &batch_body(
            &[
                ("CREATE", "u0.lab.test", &v251),
                ("CREATE", "u1.lab.test", &v250),
            ],
            "within the limit",
        ),
    );
    assert_eq!(status, 200, "{text}");
    assert!(listed("u0.lab.test") && listed("u1.lab.test"));

    // A neighbour that sorts between the pool's name and its ownership records unless names
    // sort with their trailing dot, as Route 53 sorts them.
    let (status, text) = testkit::http(
        "POST",
        &rrset,
        &change_body("CREATE", "www-2.lab.test", &v250[..1], "neighbour"),
    );
    assert_eq!(status, 200, "{text}");

    // 30 targets of 40 addresses: 60 changes, but 1 230 records.
    let p = www();
    let targets: Vec<Target> = (0..30)
        .map(|i| {
            let addrs = addresses(10 + i, 40)
                .iter()
                .map(|a| a.parse().unwrap())
                .collect();
            Target::active(sid(&format!("i-{i:03}")), addrs, 10, 1)
        })
        .collect();
    let intents: BTreeMap<_, _> = targets
        .iter()
        .map(|t| (t.id.clone(), Intent::Present(t.clone())))
        .collect();
    let planned = plan(&p, &classify(&p, &[]), &intents);
    assert_eq!(
        planned
            .groups
            .iter()
            .map(|g| g.changes.len())
            .sum::<usize>(),
        60
    );

    // A writer that packs by changes and characters only sends one batch, which is refused as a
    // permanent error (re-reading cannot fix it), and nothing applies.
    let by_changes_only = BatchLimits {
        max_records: usize::MAX,
        ..BatchLimits::default()
    };
    assert_eq!(batches(&planned.groups, by_changes_only).unwrap().len(), 1);
    let naive = writer_with_limits(&api, 300, by_changes_only).await;
    match naive.execute(&planned).await.unwrap_err() {
        WriteError::Rejected { messages } => assert!(
            messages
                .join(" ")
                .contains("Number of records limit of 1000 exceeded"),
            "{messages:?}"
        ),
        other => panic!("expected a permanent rejection, got {other:?}"),
    }
    assert!(naive.list_pool(&p).await.unwrap().is_empty());

    // The planner's packing: several batches, each accepted.
    let w = writer(&api, 300).await;
    let submitted = w.execute(&planned).await.unwrap();
    assert!(submitted.len() >= 2, "{submitted:?}");
    let view = classify(&p, &w.list_pool(&p).await.unwrap());
    let got: Vec<&Target> = view.owned.values().map(|o| &o.target).collect();
    assert_eq!(got, targets.iter().collect::<Vec<_>>());

    // Changing every weight replaces both sets of every target: 2 460 records.
    let heavier: BTreeMap<_, _> = targets
        .iter()
        .map(|t| {
            let t = t.clone().with_wanted_weight(20);
            (t.id.clone(), Intent::Present(t))
        })
        .collect();
    let submitted = w.execute(&plan(&p, &view, &heavier)).await.unwrap();
    assert!(submitted.len() >= 3, "{submitted:?}");
    let view = classify(&p, &w.list_pool(&p).await.unwrap());
    assert_eq!(view.owned.len(), 30);
    assert!(view.owned.values().all(|o| o.target.wanted_weight == 20));
}

#[test]
fn after_2000_changes_the_change_log_and_state_database_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let state_arg = dir.path().to_str().unwrap();
    let r = resolver(&["--state-dir", state_arg]);
    let api = r.field("api_url");
    let zone = zone_id(&api, "lab.test");
    let rrset = format!("{api}/2013-04-01/hostedzone/{zone}/rrset");
    let one = vec!["192.0.2.1".to_owned()];
    let file = dir.path().join("state.sqlite3");
    let logged = || {
        testkit::python(
            "import sys,sqlite3\n\
             db=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True,timeout=5)\n\
             print(db.execute('SELECT count(*) FROM changes').fetchone()[0])",
            &[file.to_str().unwrap()],
        )
        .trim()
        .parse::<usize>()
        .unwrap()
    };
    let mut ids = Vec::new();
    let mut size_at_1000 = 0;
    for i in 0..2000 {
        let action = if i % 2 == 0 { "CREATE" } else { "DELETE" };
        let comment = format!("{i:04}").repeat(16);
        let (status, text) = testkit::http(
            "POST",
            &rrset,
            &change_body(action, "w.lab.test", &one, &comment),
        );
        assert_eq!(status, 200, "change {i}: {text}");
        ids.push(change_id(&text));
        if i == 999 {
            size_at_1000 = std::fs::metadata(&file).unwrap().len();
        }
    }
    // The database file holds what the last checkpoint wrote (SQLite's WAL holds the rest):
    // at most about 100 changes more at 2 000 than at 1 000, and the log's rows stay 1 000.
    let size_at_2000 = std::fs::metadata(&file).unwrap().len();
    assert!(
        size_at_2000 <= size_at_1000 + 64 * 1024,
        "the state grew from {size_at_1000} to {size_at_2000} bytes"
    );
    assert_eq!(logged(), 1000, "the change log's rows");
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "change ids are distinct");
    for id in &ids {
        assert!(
            id.len() == 21
                && id.starts_with('C')
                && id[1..]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{id} is not in Route 53's shape"
        );
    }
    let common = ids[0]
        .chars()
        .zip(ids[1].chars())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(common < 10, "not a sequence: {} {}", ids[0], ids[1]);
    // The oldest change was forgotten and answers INSYNC; the newest is still logged.
    for id in [&ids[0], &ids[1999]] {
        let (status, text) = testkit::http("GET", &format!("{api}/2013-04-01/change/{id}"), "");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("<Status>INSYNC</Status>"), "{text}");
    }
    let (status, _) = testkit::http("GET", &format!("{api}/2013-04-01/change/NOPE"), "");
    assert_eq!(status, 404);
}

/// A `state.json` written by an older version (`route53-emulator/tests/data/state-v1.json`: a zone with
/// a weighted set, a tagged health check; rewritten here as a still older version stored it,
/// the change log a map by id and a counter at u64::MAX) is moved into the database at start:
/// everything is there, the file is kept as `state.json.migrated`, the resolver takes changes,
/// and a second start reads the database alone.
#[test]
fn an_older_state_file_is_migrated_with_its_counter_at_u64_max_and_accepts_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let state_arg = dir.path().to_str().unwrap();
    let fixture = format!(
        "{}/route53-emulator/tests/data/state-v1.json",
        testkit::repo_root().display()
    );
    testkit::python(
        "import sys,json,hashlib\n\
         head,payload=open(sys.argv[1],'rb').read().split(b'\\n',1)\n\
         s=json.loads(payload)\n\
         s['changes']={c['id']:c for c in s['changes']}\n\
         s.pop('forgotten_until_ms',None)\n\
         s['counter']=2**64-1\n\
         out=json.dumps(s).encode()\n\
         open(sys.argv[2]+'/state.json','wb').write(b'wavelb-resolver-state v1 len=%d sha256=%s\\n'%(len(out),hashlib.sha256(out).hexdigest().encode())+out)",
        &[fixture.as_str(), state_arg],
    );
    let check = "652cc0ff-fb6e-4008-8bbf-53f78b99f683";
    for start in 0..2 {
        let r = resolver(&["--state-dir", state_arg]);
        let api = r.field("api_url");
        assert!(!dir.path().join("state.json").exists(), "start {start}");
        assert!(dir.path().join("state.json.migrated").exists(), "kept");
        let zone = zone_id(&api, "lab.test");
        let (status, text) = testkit::http(
            "GET",
            &format!("{api}/2013-04-01/hostedzone/{zone}/rrset"),
            "",
        );
        assert_eq!(status, 200, "{text}");
        assert!(
            text.contains("<Name>www.lab.test.</Name>")
                && text.contains(&format!("<HealthCheckId>{check}</HealthCheckId>")),
            "{text}"
        );
        let (status, text) = testkit::http(
            "GET",
            &format!("{api}/2013-04-01/tags/healthcheck/{check}"),
            "",
        );
        assert!(
            status == 200 && text.contains("<Value>lab</Value>"),
            "{text}"
        );
        let (status, text) = testkit::http(
            "GET",
            &format!("{api}/2013-04-01/change/CGRRTODGBNU22TAC22EL8"),
            "",
        );
        assert!(status == 200 && text.contains("INSYNC"), "{text}");
        let (status, text) = testkit::http(
            "POST",
            &format!("{api}/2013-04-01/hostedzone/{zone}/rrset"),
            &change_body(
                if start == 0 { "CREATE" } else { "DELETE" },
                "w.lab.test",
                &["192.0.2.1".to_owned()],
                "after",
            ),
        );
        assert_eq!(status, 200, "{text}");
        let id = change_id(&text);
        let (status, text) = testkit::http("GET", &format!("{api}/2013-04-01/change/{id}"), "");
        assert_eq!(status, 200, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_api_clients_are_cut_at_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let r = resolver(&["--api-header-timeout", "1s"]);
    let api_addr = r.field("api");
    let started = std::time::Instant::now();
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let addr = api_addr.clone();
        slow.spawn(async move {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let head =
                format!("GET /2013-04-01/hostedzonecount HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
            s.write_all(head.as_bytes()).await.unwrap();
            let mut buf = [0u8; 512];
            // One byte every 100 ms, for at most 10 s, until the server closes the connection.
            for _ in 0..100 {
                if s.write_all(b"a").await.is_err() {
                    return started.elapsed();
                }
                let read =
                    tokio::time::timeout(std::time::Duration::from_millis(100), s.read(&mut buf));
                if let Ok(Ok(0) | Err(_)) = read.await {
                    return started.elapsed();
                }
            }
            panic!("a slowloris connection stayed open 10 s");
        });
    }
    // Meanwhile the API answers.
    let api = r.field("api_url");
    let (status, body) = tokio::task::block_in_place(|| {
        testkit::http("GET", &format!("{api}/2013-04-01/hostedzonecount"), "")
    });
    assert_eq!(status, 200, "{body}");
    while let Some(held) = slow.join_next().await {
        let held = held.unwrap();
        assert!(
            held >= std::time::Duration::from_millis(800)
                && held < std::time::Duration::from_secs(5),
            "a slowloris connection was cut after {held:?}"
        );
    }
    let metrics = format!("http://{}/metrics", r.field("metrics"));
    let text = tokio::task::block_in_place(|| testkit::http_get(&metrics));
    let cut = testkit::metric(
        &text,
        "wavelb_connections_ended_total{listener=\"api\",reason=\"header_timeout\"}",
    )
    .unwrap_or(0.0);
    assert!(cut >= 20.0, "{text}");
}

#[test]
fn boto3_health_checks_tags_and_limits_match_moto_except_where_route53_is_stricter() {
    let r = resolver(&[]);
    let out = py(
        "route53_health.py",
        &["diff", &testkit::moto_url(), &r.field("api_url")],
    );
    let text = assert_ok(&out, "health check, tag and limit scenario");
    // moto lacks these checks; the resolver showed Route 53's documented answer.
    for step in [
        "create-same-reference-other-config",
        "update-stale-version",
        "record-unknown-check",
        "account-limit-zones",
        "zone-limit-rrsets",
    ] {
        assert!(
            text.contains(&format!("moto differs at {step}:")),
            "{step}: {text}"
        );
    }
}

#[test]
fn health_checks_probe_real_targets_and_steer_weighted_answers() {
    let r = resolver(&[]);
    let (host, port) = r
        .dns()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let out = py(
        "route53_health.py",
        &["dns", &r.field("api_url"), &host, &port],
    );
    let text = assert_ok(&out, "health-checked weighted answers");
    for report in [
        "HTTPS_STR_MATCH: Success: HTTP Status Code 200, OK",
        "HTTP_STR_MATCH: Failure: HTTP Status Code 200, OK. The search string was not found",
        "HTTP: Failure: HTTP Status Code 404, Not Found",
        "TCP: Success: TCP connection established",
        "target two down: Failure: ",
    ] {
        assert!(text.contains(report), "{report}: {text}");
    }
    assert!(
        text.contains("ok: unhealthy skipped, all unhealthy answered"),
        "{text}"
    );
}

/// Issue 25, item 8: `Regions` takes 3–64 of Route 53's eight checker Regions, every
/// observation names one of them in turn, and a string match's body has its own two seconds.
#[test]
fn health_checks_name_real_checker_regions_and_time_the_body_on_its_own() {
    let r = resolver(&[]);
    let out = py("route53_health.py", &["checkers", &r.field("api_url")]);
    let text = assert_ok(&out, "checker Regions and the string match's body");
    for line in [
        "observations named: eu-west-1, sa-east-1",
        "slow body: Success: HTTP Status Code 200, OK",
        "ok: Regions validated",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

/// Runs the venv's aws CLI against `api` and parses its JSON output.
fn aws(api: &str, args: &[&str]) -> serde_json::Value {
    let venv = std::env::var("WAVELB_VENV").expect("WAVELB_VENV is set by scripts/test.sh");
    let mut cmd = Command::new(format!("{venv}/bin/aws"));
    cmd.args(["--endpoint-url", api, "--output", "json", "route53"])
        .args(args);
    let out = testkit::with_test_credentials(&mut cmd)
        .output()
        .expect("cannot run the venv's aws CLI");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "aws route53 {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

#[test]
fn the_aws_cli_drives_health_checks_tags_and_limits() {
    let r = resolver(&[]);
    let api = r.field("api_url");
    let created = aws(
        &api,
        &[
            "create-health-check",
            "--caller-reference",
            "cli-1",
            "--health-check-config",
            "Type=TCP,IPAddress=127.0.0.1,Port=9,RequestInterval=10,FailureThreshold=2",
        ],
    );
    let id = created["HealthCheck"]["Id"].as_str().unwrap().to_owned();
    let config = &created["HealthCheck"]["HealthCheckConfig"];
    assert_eq!(
        (
            &config["Type"],
            &config["Port"],
            &config["FailureThreshold"]
        ),
        (&"TCP".into(), &9.into(), &2.into()),
        "{created}"
    );
    let listed = aws(&api, &["list-health-checks"]);
    let ids: Vec<&str> = listed["HealthChecks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["Id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()], "{listed}");
    aws(
        &api,
        &[
            "change-tags-for-resource",
            "--resource-type",
            "healthcheck",
            "--resource-id",
            &id,
            "--add-tags",
            "Key=team,Value=edge",
        ],
    );
    let tags = aws(
        &api,
        &[
            "list-tags-for-resource",
            "--resource-type",
            "healthcheck",
            "--resource-id",
            &id,
        ],
    );
    assert_eq!(
        tags["ResourceTagSet"]["Tags"],
        serde_json::json!([{"Key": "team", "Value": "edge"}]),
        "{tags}"
    );
    let limit = aws(
        &api,
        &["get-account-limit", "--type", "MAX_HEALTH_CHECKS_BY_OWNER"],
    );
    assert_eq!(
        (&limit["Limit"]["Value"], &limit["Count"]),
        (&200.into(), &1.into()),
        "{limit}"
    );
    // The other operations the issue lists, each through the CLI once.
    let got = aws(&api, &["get-health-check", "--health-check-id", &id]);
    assert_eq!(got["HealthCheck"]["Id"], id.as_str(), "{got}");
    let updated = aws(
        &api,
        &[
            "update-health-check",
            "--health-check-id",
            &id,
            "--health-check-version",
            "1",
            "--failure-threshold",
            "3",
        ],
    );
    let check = &updated["HealthCheck"];
    assert_eq!(
        (
            &check["HealthCheckVersion"],
            &check["HealthCheckConfig"]["FailureThreshold"]
        ),
        (&2.into(), &3.into()),
        "{updated}"
    );
    // The check probes a closed port on loopback: its first observation is a failure.
    let status = wait::until_blocking(
        "a health check observation",
        std::time::Duration::from_secs(15),
        || {
            let status = aws(&api, &["get-health-check-status", "--health-check-id", &id]);
            if status["HealthCheckObservations"]
                .as_array()
                .is_some_and(|o| !o.is_empty())
            {
                Ok(status)
            } else {
                Err(status)
            }
        },
    );
    let report = status["HealthCheckObservations"][0]["StatusReport"]["Status"]
        .as_str()
        .unwrap_or_default();
    assert!(report.starts_with("Failure: "), "{status}");
    let count = aws(&api, &["get-health-check-count"]);
    assert_eq!(count["HealthCheckCount"], 1, "{count}");
    let zone = aws(
        &api,
        &[
            "create-hosted-zone",
            "--name",
            "cli.test",
            "--caller-reference",
            "cli-zone",
        ],
    );
    let zone_id = zone["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    aws(
        &api,
        &[
            "change-tags-for-resource",
            "--resource-type",
            "hostedzone",
            "--resource-id",
            &zone_id,
            "--add-tags",
            "Key=env,Value=lab",
        ],
    );
    let sets = aws(
        &api,
        &[
            "list-tags-for-resources",
            "--resource-type",
            "hostedzone",
            "--resource-ids",
            &zone_id,
        ],
    );
    assert_eq!(
        sets["ResourceTagSets"][0]["Tags"],
        serde_json::json!([{"Key": "env", "Value": "lab"}]),
        "{sets}"
    );
    let limit = aws(
        &api,
        &[
            "get-hosted-zone-limit",
            "--type",
            "MAX_RRSETS_BY_ZONE",
            "--hosted-zone-id",
            &zone_id,
        ],
    );
    assert_eq!(
        (&limit["Limit"]["Value"], &limit["Count"]),
        (&10_000.into(), &2.into()),
        "the new zone holds its SOA and NS: {limit}"
    );
    aws(&api, &["delete-health-check", "--health-check-id", &id]);
    let count = aws(&api, &["get-health-check-count"]);
    assert_eq!(count["HealthCheckCount"], 0, "{count}");
}

// Health check targets and status texts (issue #23): the metadata services in every spelling,
// and no byte of a target in GetHealthCheckStatus.

/// Runs `ip args…`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace this test made, deleted (with its addresses) when dropped.
struct Netns(String);

impl Netns {
    /// A new namespace with its loopback up, or why one cannot be made here.
    fn create(tag: &str) -> Result<Self, String> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next().map(str::to_owned));
        if uid.as_deref() != Some("0") {
            return Err("not root: network namespaces need root".into());
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err("`ip` (iproute2) is not installed".into());
        }
        let name = format!("wlb-{tag}-{}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Self(name);
        ns.ip(&["link", "set", "lo", "up"]);
        Ok(ns)
    }

    /// Runs `ip -n NAME args…`, which must succeed.
    fn ip(&self, args: &[&str]) {
        ip(&[&["-n", self.0.as_str()], args].concat());
    }

    /// `argv` run inside the namespace.
    fn exec(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0]).args(argv);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The lines a service printed after its ready line, once `want` of them have arrived (at most
/// 10 s), and any that arrived with them.
fn printed_lines(service: &Service, want: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while lines.len() < want {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match service.lines.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    lines.extend(service.lines.try_iter());
    lines
}

#[test]
fn health_checks_never_reach_a_metadata_service_in_any_spelling() {
    let ns = match Netns::create("hc") {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!(
                "SKIPPED health_checks_never_reach_a_metadata_service_in_any_spelling: {why}"
            );
            return;
        }
    };
    // The fake metadata service answers on every address a refused spelling reaches.
    for address in [
        "169.254.169.254/32",
        "169.254.170.2/32",
        "0.1.2.3/32",
        "fd00:ec2::254/128",
        "64:ff9b::a9fe:a9fe/128",
        "::a9fe:a9fe/128",
        "64:ff9b:1::a9fe:a9fe/128",
    ] {
        ns.ip(&["addr", "add", address, "dev", "lo"]);
    }
    let script = format!(
        "{}/tests/py/route53_health.py",
        testkit::repo_root().display()
    );
    let python = testkit::venv_python();
    let python = python.as_str();
    let fake = Service::spawn_cmd(&mut ns.exec(&[python, &script, "metadata"]));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    // The default listeners (loopback, fixed ports): the namespace is the test's own.
    let resolver_in_ns =
        || Service::spawn_cmd(&mut ns.exec(&[BIN, "-q", "resolver", "--state-dir", state_arg]));

    // Every spelling refused by CreateHealthCheck and UpdateHealthCheck; a control probe seen.
    let mut r = resolver_in_ns();
    let out = ns
        .exec(&[python, &script, "refuse", &r.field("api_url")])
        .output()
        .unwrap();
    let text = assert_ok(&out, "refused spellings");
    assert!(text.contains("the control check was probed"), "{text}");
    let reached: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("reached the fake "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of the fake's connections: {text}"));
    assert!(reached >= 14, "{text}");
    let victims: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("victims "))
        .unwrap_or_else(|| panic!("no victims: {text}"))
        .split_whitespace()
        .collect();
    r.kill();

    // Checks stored by an older version at refused addresses: the checker refuses them too.
    let state_file = state.join("state.sqlite3");
    let out = py(
        "route53_health.py",
        &[
            "forge",
            state_file.to_str().unwrap(),
            "\"127.0.0.2\"=\"169.254.169.254\"",
            "\"127.0.0.3\"=\"::ffff:169.254.169.254\"",
            "\"127.0.0.4\"=\"0.0.0.0\"",
            "\"port\":81=\"port\":80",
        ],
    );
    assert_ok(&out, "forged state file");
    let r = resolver_in_ns();
    let mut args = vec![script.as_str(), "stored"];
    let api = r.field("api_url");
    args.push(&api);
    args.extend(&victims);
    let mut cmd = ns.exec(&[python]);
    let out = cmd.args(&args).output().unwrap();
    let text = assert_ok(&out, "stored checks at refused addresses");
    assert!(
        text.contains("169.254.169.254:80: Failure: the lab does not probe"),
        "{text}"
    );
    drop(r);

    // One last connection of our own: the fake accepts in order, so every connection before it,
    // the resolver's included, has been printed when it is.
    let out = ns
        .exec(&[
            python,
            "-c",
            "import socket; socket.create_connection(('127.0.0.1', 80), timeout=5).recv(64)",
        ])
        .output()
        .unwrap();
    assert_ok(&out, "the last connection");
    let lines = printed_lines(&fake, reached + 1);
    assert_eq!(
        lines.len(),
        reached + 1,
        "the fake metadata service saw connections beyond the test's own {reached} and the last: {lines:#?}"
    );
}

#[test]
fn health_check_status_never_quotes_the_target() {
    let r = resolver(&[]);
    let out = py("route53_health.py", &["secrets", &r.field("api_url")]);
    let text = assert_ok(&out, "hostile targets");
    for report in [
        "reported: Failure: The endpoint's response is not a valid HTTP response",
        "reported: Success: HTTP Status Code 200, OK",
        "reported: Failure: HTTP Status Code 500, Internal Server Error",
        "reported: Failure: HTTP Status Code 599",
        "ok: 5 hostile targets, no secret quoted",
    ] {
        assert!(text.contains(report), "{report}: {text}");
    }
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
}

/// Issue #23, item 6: the resolver's debug log echoed refused API input, so a SetIdentifier
/// holding a line break wrote a whole forged line into it. Hostile set identifiers, TXT values
/// and a body with raw ESC bytes go through the API of a resolver logging at debug level, in
/// the text and the JSON format: every line of its stderr is a well-formed log line, and the
/// hostile text is there, escaped.
#[test]
fn hostile_api_input_cannot_forge_a_resolver_log_line() {
    use crate::common::{FORGED, assert_well_formed_log, hostile_ids, wait_for_log};
    let xml = |s: &str| s.replace('\n', "&#10;").replace('\r', "&#13;");
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("resolver.log");
        let r = testkit::process::resolver_logged(BIN, &["-v", "--log-format", format], &[], &log);
        let api = r.field("api_url");
        let path = format!(
            "/2013-04-01/hostedzone/{}/rrset/",
            zone_id(&api, "lab.test")
        );
        let change = |set: &str, policy: &str, rtype: &str, value: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>t.lab.test</Name><Type>{rtype}</Type><SetIdentifier>{set}</SetIdentifier>{policy}<TTL>30</TTL><ResourceRecords><ResourceRecord><Value>{value}</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
            )
        };
        let mut refused = 0;
        for id in hostile_ids() {
            // Refused (a SetIdentifier without a Weight): the message quotes the identifier.
            let (status, body) = raw_post(&api, &path, &change(&xml(&id), "", "A", "127.0.0.9"));
            assert_eq!(status, 400, "{body}");
            refused += 1;
            // A weighted TXT set whose identifier and value hold the forged line: accepted or
            // refused, whatever is logged about it stays on its line.
            let value = xml(&format!("\"{id}\""));
            let _ = raw_post(
                &api,
                &path,
                &change(&xml(&id), "<Weight>1</Weight>", "TXT", &value),
            );
        }
        // ESC is not XML: the body is refused, and no raw ESC reaches the log.
        let (status, body) = raw_post(
            &api,
            &path,
            &change(
                &format!("e\x1b[31m{FORGED}"),
                "<Weight>1</Weight>",
                "A",
                "127.0.0.9",
            ),
        );
        assert_eq!(status, 400, "{body}");
        refused += 1;
        let text = wait_for_log(&log, Duration::from_secs(20), |t| {
            t.matches("API request refused").count() >= refused
        });
        assert_well_formed_log(&text, format == "json");
        assert!(
            text.contains(&format!("w1\\n{FORGED}")),
            "the hostile identifier is logged, escaped ({format}):\n{text}"
        );
    }
}

/// Issue 24, item 4: how log lines look where they go. Under systemd (stderr is the journal
/// stream `JOURNAL_STREAM` names) every line starts with its syslog priority and has no
/// timestamp and no colour; in a file or a pipe, lines have tracing's timestamp and no escape
/// code (`NO_COLOR` unset: colour is for a terminal only).
mod logs {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::common::{assert_well_formed_log, wait_for_log};

    /// A SigV4 credentials file others can read: the resolver warns about it (and names the fix)
    /// when it loads it.
    fn readable_credentials(dir: &std::path::Path) -> std::path::PathBuf {
        let creds = dir.join("credentials.toml");
        std::fs::write(
            &creds,
            "[[credentials]]\naccess_key_id = \"AKIDLAB\"\nsecret_access_key = \"secret\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
        creds
    }

    /// `wavelb resolver` on ephemeral loopback ports with `creds`, its stderr to `stderr`.
    fn resolver(creds: &std::path::Path, stderr: Stdio) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wavelb"));
        cmd.args([
            "resolver",
            "--dns-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--zone",
            "lab.test",
            "--api-credentials",
            creds.to_str().unwrap(),
        ])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
        cmd
    }

    /// Runs `cmd` until its stderr file at `log` says the resolver is ready (at most 20 s), stops
    /// it, and returns the log.
    fn run_until_ready(mut cmd: Command, log: &std::path::Path) -> String {
        let mut child = cmd.spawn().unwrap();
        let text = wait_for_log(log, Duration::from_secs(20), |t| {
            t.contains("resolver ready")
        });
        child.kill().unwrap();
        child.wait().unwrap();
        text
    }

    #[test]
    fn under_systemd_every_line_carries_its_priority_and_no_timestamp_or_colour() {
        let dir = tempfile::tempdir().unwrap();
        let creds = readable_credentials(dir.path());
        let log = dir.path().join("journal-stream");
        let file = std::fs::File::create(&log).unwrap();
        // What systemd sets: the device and inode of the stream it connected stderr to (here the
        // file, which fstat tells apart the same way).
        let meta = file.metadata().unwrap();
        let mut cmd = resolver(&creds, file.into());
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        let text = run_until_ready(cmd, &log);

        assert!(!text.contains('\x1b'), "{text:?}");
        for line in text.lines() {
            let (priority, rest) = line.split_at(3);
            assert!(
                ["<3>", "<4>", "<6>", "<7>"].contains(&priority),
                "a line without a priority: {line:?}\n{text}"
            );
            // No timestamp: the level's name follows the prefix at once.
            let level = rest.split_whitespace().next().unwrap_or_default();
            assert!(
                ["ERROR", "WARN", "INFO"].contains(&level),
                "{line:?}\n{text}"
            );
            assert!(
                !line.chars().any(registry::escape::is_unsafe),
                "an unsafe character in {line:?}"
            );
        }
        let warning = text
            .lines()
            .find(|l| l.contains("chmod 600"))
            .unwrap_or_else(|| panic!("no warning about the credentials file:\n{text}"));
        assert!(warning.starts_with("<4>WARN "), "{warning}");
        let ready = text.lines().find(|l| l.contains("resolver ready")).unwrap();
        assert!(ready.starts_with("<6>INFO "), "{ready}");
    }

    #[test]
    fn a_file_gets_plain_lines_even_when_journal_stream_names_another_stream() {
        let dir = tempfile::tempdir().unwrap();
        let creds = readable_credentials(dir.path());
        let log = dir.path().join("stderr.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = resolver(&creds, file.into());
        // A child of a unit whose stderr was sent to a file inherits its parent's JOURNAL_STREAM.
        cmd.env("JOURNAL_STREAM", "8:1");
        let text = run_until_ready(cmd, &log);
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(!text.contains("<4>") && !text.contains("<6>"), "{text}");
        assert_well_formed_log(&text, false);
        assert!(
            text.lines()
                .any(|l| l.contains(" WARN ") && l.contains("chmod 600")),
            "{text}"
        );
    }

    #[test]
    fn a_pipe_gets_no_escape_code() {
        let dir = tempfile::tempdir().unwrap();
        let creds = readable_credentials(dir.path());
        // --check-config loads the credentials (and warns) and exits: its stderr is read whole
        // from the pipe.
        let mut cmd = resolver(&creds, Stdio::piped());
        cmd.arg("--check-config");
        let started = Instant::now();
        let out = cmd.output().unwrap();
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stderr).unwrap();
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_well_formed_log(&text, false);
        assert!(
            text.lines()
                .any(|l| l.contains(" WARN ") && l.contains("chmod 600")),
            "{text}"
        );
    }
}
