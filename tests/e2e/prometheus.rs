//! wavelb as Prometheus users see it: every endpoint (lab, resolver, health controller, agent)
//! passes `promtool check metrics`; the rules in `deploy/prometheus/` and the Grafana dashboard
//! in `deploy/grafana/` query only metrics the binary exposes; and a real Prometheus server
//! (Debian's `prometheus`, on loopback with its own data directory) scrapes `wavelb lab`, loads
//! the rules, sees a killed target quarantined, and puts the pool's alerts in pending when most of
//! its targets die.
//!
//! `promtool` and `prometheus` come from `scripts/ensure-packages.sh`; these tests fail, never
//! skip, when they are missing.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testkit::wait;

use serde_json::Value;
use testkit::process::Service;
use testkit::servers::require;

/// The repository's `deploy/` directory.
fn deploy(path: &str) -> PathBuf {
    testkit::repo_root().join("deploy").join(path)
}

fn metrics_of(s: &Service) -> String {
    testkit::http_get(&format!("http://{}/metrics", s.field("metrics")))
}

/// Polls `endpoint`'s `/metrics` until `series` has `value`.
fn wait_for_series(endpoint: &Service, series: &str, value: f64) {
    wait::until_blocking(
        &format!("{series} = {value}"),
        Duration::from_secs(30),
        || testkit::metric(&metrics_of(endpoint), series) == Some(value),
    );
}

/// The `/metrics` text of every kind of endpoint, each after it has done its work: a lab with a
/// target killed and quarantined (probe failures, transitions), a lab of two zones (the zone
/// tier), a resolver with records, a health controller leading its pool, an agent registered.
async fn expositions() -> Vec<(&'static str, String)> {
    let mut lab = crate::lab::start_lab(&[]);
    let mut stdin = lab.child.stdin.take().expect("the lab's stdin is piped");
    wait_for_series(
        &lab,
        "wavelb_target_healthy{pool=\"www.lab.test\",target=\"demo-1\"}",
        1.0,
    );
    writeln!(stdin, "kill 1").unwrap();
    wait_for_series(
        &lab,
        "wavelb_health_quarantined{pool=\"www.lab.test\"}",
        1.0,
    );

    let zones = crate::lab::start_lab(&["--zones", "2"]);
    wait_for_series(
        &zones,
        "wavelb_tier_healthy_targets{tier=\"edge.lab.test\",zone=\"us-east-1-wl1-bos-wlz-1\"}",
        2.0,
    );

    let health = crate::health::lab(2).await;
    let controller = health.controller("c1", "");
    wait_for_series(
        &controller,
        "wavelb_health_leader{pool=\"www.lab.test\"}",
        1.0,
    );

    let bed = crate::agent::bed(&[]).await;
    let agent = crate::agent::agent(&bed.static_config("a0", 0), None);
    wait_for_series(&agent, "wavelb_agent_state{state=\"active\"}", 1.0);

    vec![
        ("lab", metrics_of(&lab)),
        ("lab --zones 2", metrics_of(&zones)),
        ("resolver", metrics_of(&health.resolver)),
        ("health", metrics_of(&controller)),
        ("agent", metrics_of(&agent)),
    ]
}

/// The families an exposition describes (`# TYPE name type`), by name.
fn families(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_passes_promtool_check_metrics() {
    let promtool = require("promtool", "prometheus");
    // A family each endpoint must describe, so that an empty page cannot pass.
    let expected = [
        ("lab", "wavelb_health_quarantined"),
        ("lab", "wavelb_probe_failures_total"),
        ("lab --zones 2", "wavelb_tier_in"),
        ("resolver", "wavelb_dns_answers_total"),
        ("resolver", "wavelb_dns_dropped_total"),
        ("health", "wavelb_health_leader"),
        ("agent", "wavelb_agent_state"),
    ];
    for (endpoint, text) in expositions().await {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "promtool check metrics rejects the {endpoint}'s /metrics:\n{said}\n{text}"
        );
        let described = families(&text);
        for (_, family) in expected.iter().filter(|(e, _)| *e == endpoint) {
            assert!(
                described.contains_key(*family),
                "the {endpoint} does not describe {family}:\n{text}"
            );
        }
    }
}

/// The metric and recording-rule names a PromQL expression uses: the identifiers outside string
/// literals that contain `wavelb` (every wavelb metric and recorded series does; label names,
/// functions and Grafana variables do not).
fn names_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut quote = None;
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None if c.is_ascii_alphanumeric() || c == '_' || c == ':' => {
                word.push(c);
                continue;
            }
            None => {}
        }
        if word.contains("wavelb") {
            names.insert(word.clone());
        }
        word.clear();
    }
    names
}

/// True when `name` is a series of a family in `exposed`: the family itself (not a histogram,
/// whose samples are only `_bucket`, `_sum` and `_count`), or one of a histogram's samples.
fn is_exposed(name: &str, exposed: &HashMap<String, String>) -> bool {
    if exposed.get(name).is_some_and(|kind| kind != "histogram") {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .and_then(|base| exposed.get(base))
            .is_some_and(|kind| kind == "histogram")
    })
}

fn dashboard() -> Value {
    let path = deploy("grafana/wavelb.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Checks the dashboard's shape as Grafana needs it to import it, and returns its queries by
/// panel title.
fn dashboard_queries(d: &Value) -> Vec<(String, String)> {
    for key in ["title", "uid"] {
        assert!(
            d[key].as_str().is_some_and(|s| !s.is_empty()),
            "the dashboard has no {key}"
        );
    }
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion {} is not a current Grafana's",
        d["schemaVersion"]
    );
    let variables: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        variables.contains(&"datasource") && variables.contains(&"pool"),
        "{variables:?}"
    );
    let panels = d["panels"].as_array().expect("panels is a list");
    assert!(panels.len() >= 10, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    let mut queries = Vec::new();
    for p in panels {
        let title = p["title"].as_str().expect("every panel has a title");
        assert!(
            p["type"].as_str().is_some_and(|t| !t.is_empty()),
            "{title}: no type"
        );
        assert!(
            ids.insert(p["id"].as_u64().expect("a numeric id")),
            "{title}: id reused"
        );
        let grid: Vec<u64> = ["h", "w", "x", "y"]
            .iter()
            .map(|k| {
                p["gridPos"][k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
            })
            .collect();
        assert!(
            grid[0] > 0 && grid[1] > 0 && grid[1] + grid[2] <= 24,
            "{title}: {grid:?}"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a target without expr"));
            queries.push((title.to_owned(), expr.to_owned()));
        }
    }
    queries
}

/// The rules' expressions by rule name, and the names they record.
fn rule_exprs(rules: &Value) -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut exprs = Vec::new();
    let mut recorded = BTreeSet::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["record"]
                .as_str()
                .or(rule["alert"].as_str())
                .expect("a rule name");
            if let Some(r) = rule["record"].as_str() {
                recorded.insert(r.to_owned());
            }
            exprs.push((
                name.to_owned(),
                rule["expr"].as_str().expect("expr").to_owned(),
            ));
        }
    }
    (exprs, recorded)
}

/// `deploy/prometheus/NAME` read as JSON (the venv's PyYAML reads the YAML).
fn yaml(name: &str) -> Value {
    let path = deploy(&format!("prometheus/{name}"));
    let json = testkit::python(
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        &[path.to_str().unwrap()],
    );
    serde_json::from_str(&json).unwrap()
}

#[test]
fn the_rules_pass_promtool_and_every_alert_is_tested_firing_and_silent() {
    let promtool = require("promtool", "prometheus");
    for args in [
        ["check", "rules", "wavelb-rules.yml"],
        ["test", "rules", "wavelb-rules.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(deploy("prometheus"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (exprs, _) = rule_exprs(&yaml("wavelb-rules.yml"));
    let tests = yaml("wavelb-rules.test.yml");
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .collect();
    for (alert, _) in exprs.iter().filter(|(n, _)| !n.contains(':')) {
        let expected = |fires: bool| {
            cases.iter().any(|c| {
                c["alertname"] == alert.as_str()
                    && c["exp_alerts"]
                        .as_array()
                        .is_some_and(|a| a.is_empty() != fires)
            })
        };
        assert!(expected(true), "{alert}: no test where it fires");
        assert!(expected(false), "{alert}: no test where it stays silent");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rules_and_the_dashboard_query_only_exposed_metrics() {
    let (rule_queries, recorded) = rule_exprs(&yaml("wavelb-rules.yml"));
    let dashboard_queries = dashboard_queries(&dashboard());
    let mut exposed = HashMap::new();
    for (_, text) in expositions().await {
        exposed.extend(families(&text));
    }
    let alerts = rule_queries
        .iter()
        .filter(|(n, _)| !n.contains(':'))
        .count();
    assert!(alerts >= 8, "{alerts} alerts");
    let mut missing = Vec::new();
    for (what, expr) in rule_queries.iter().chain(&dashboard_queries) {
        let names = names_in(expr);
        assert!(!names.is_empty(), "{what}: {expr} uses no wavelb metric");
        for name in names {
            let known = if name.contains(':') {
                recorded.contains(&name)
            } else {
                is_exposed(&name, &exposed)
            };
            if !known {
                missing.push(format!("{what}: {name}"));
            }
        }
    }
    let mut families: Vec<_> = exposed.keys().collect();
    families.sort();
    assert!(
        missing.is_empty(),
        "queries use metrics the binary does not expose:\n{}\nexposed: {families:?}",
        missing.join("\n")
    );
}

#[test]
fn metric_names_are_found_outside_strings_and_histograms_by_their_samples() {
    assert_eq!(
        names_in(
            "sum by (pool) (rate(wavelb_dns_answers_total{pool=~\"wavelb_x\"}[$__rate_interval])) \
             / pool:wavelb_targets:count + up"
        ),
        BTreeSet::from([
            "pool:wavelb_targets:count".into(),
            "wavelb_dns_answers_total".into()
        ])
    );
    let exposed = HashMap::from([
        (
            "wavelb_probe_duration_seconds".to_owned(),
            "histogram".to_owned(),
        ),
        ("wavelb_dns_queries_total".to_owned(), "counter".to_owned()),
    ]);
    assert!(is_exposed("wavelb_probe_duration_seconds_bucket", &exposed));
    assert!(is_exposed("wavelb_probe_duration_seconds_count", &exposed));
    assert!(!is_exposed("wavelb_probe_duration_seconds", &exposed));
    assert!(is_exposed("wavelb_dns_queries_total", &exposed));
    assert!(!is_exposed("wavelb_dns_queries_total_count", &exposed));
    assert!(!is_exposed("wavelb_dns_queries", &exposed));
}

/// A Prometheus server on loopback; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts `prometheus` in `dir` (config, data, log) scraping `target` every second, with
    /// the project's rules loaded; waits until it is ready.
    fn start(dir: &Path, target: &str) -> Self {
        let bin = require("prometheus", "prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: wavelb-lab\n    static_configs:\n      - targets: ['{target}']\n",
                rules = deploy("prometheus/wavelb-rules.yml").display()
            ),
        )
        .unwrap();
        // A port that was free a moment ago (Prometheus cannot be told to pick one).
        let addr: SocketAddr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut p = Self {
            child,
            url: format!("http://{addr}"),
            log,
        };
        wait::until_blocking("prometheus to be ready", Duration::from_secs(60), || {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!(
                    "prometheus exited ({status}) before it was ready (was {addr} taken?):\n{}",
                    std::fs::read_to_string(&p.log).unwrap_or_default()
                );
            }
            TcpStream::connect(addr).is_ok()
                && testkit::http("GET", &format!("{}/-/ready", p.url), "").0 == 200
        });
        p
    }

    /// Like [`wait::until_blocking`] (60 s), with the server's log in the panic message.
    fn poll(&self, what: &str, check: impl FnMut() -> bool) {
        let log = self.log.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait::until_blocking(what, Duration::from_secs(60), check)
        }));
        if result.is_err() {
            panic!(
                "{what}: Prometheus log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }

    /// The result vector of an instant query (panics when the query fails).
    fn query(&self, promql: &str) -> Vec<Value> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let body = testkit::http_get(&format!("{}/api/v1/query?query={encoded}", self.url));
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(v["status"], "success", "{promql}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of an instant query, if it returned exactly one series.
    fn value(&self, promql: &str) -> Option<f64> {
        match self.query(promql).as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

#[test]
fn a_real_prometheus_scrapes_the_lab_and_sees_a_killed_target_quarantined() {
    let mut lab = crate::lab::start_lab(&[]);
    let mut stdin = lab.child.stdin.take().expect("the lab's stdin is piped");
    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(dir.path(), &lab.field("metrics"));

    let quarantined = "wavelb_health_quarantined{job=\"wavelb-lab\",pool=\"www.lab.test\"}";
    let demo_1 = "wavelb_target_healthy{job=\"wavelb-lab\",target=\"demo-1\"}";
    prometheus.poll("a scrape of the lab with demo-1 healthy", || {
        prometheus.value("up{job=\"wavelb-lab\"}") == Some(1.0)
            && prometheus.value(demo_1) == Some(1.0)
            && prometheus.value(quarantined) == Some(0.0)
    });

    writeln!(stdin, "kill 1").unwrap();
    prometheus.poll("PromQL to see demo-1 quarantined", || {
        prometheus.value(quarantined) == Some(1.0) && prometheus.value(demo_1) == Some(0.0)
    });
    // The rules run on the real series: three of the four targets are healthy.
    prometheus.poll("the recording rules to follow", || {
        prometheus.value("pool:wavelb_targets_healthy:ratio{pool=\"www.lab.test\"}") == Some(0.75)
    });
    // Two more down: one target of four is healthy, and the fraction guard holds back the third
    // quarantine. The alerts go pending on the real series (their `for:` is minutes).
    writeln!(stdin, "kill 2").unwrap();
    writeln!(stdin, "kill 3").unwrap();
    for alert in ["WavelbPoolBelowHealthyFraction", "WavelbHealthPanic"] {
        prometheus.poll(&format!("{alert} to be pending"), || {
            prometheus.value(&format!(
                "ALERTS{{alertname=\"{alert}\",alertstate=\"pending\",pool=\"www.lab.test\"}}"
            )) == Some(1.0)
        });
    }
    let rules = testkit::http_get(&format!("{}/api/v1/rules", prometheus.url));
    let rules: Value = serde_json::from_str(&rules).unwrap();
    let groups = rules["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{rules}");
    for rule in groups.iter().flat_map(|g| g["rules"].as_array().unwrap()) {
        assert_eq!(rule["health"], "ok", "{rule}");
    }
    // Every dashboard query is PromQL this Prometheus accepts, with Grafana's variables filled.
    for (title, expr) in dashboard_queries(&dashboard()) {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$pool", ".*");
        assert!(
            !expr.contains('$'),
            "{title}: an unknown variable in {expr}"
        );
        prometheus.query(&expr);
    }
}
