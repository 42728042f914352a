//! `wavelb records` end to end, as a process, against moto server, with records written by
//! another client (boto3).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const BOTO3_SETUP: &str = r#"
import sys, boto3
endpoint, zone = sys.argv[1], sys.argv[2]
r53 = boto3.client("route53", endpoint_url=endpoint)
zid = r53.create_hosted_zone(Name=zone, CallerReference=zone)["HostedZone"]["Id"]
pool = "edge." + zone
def weighted(name, rtype, sid, weight, values):
    return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": rtype,
            "SetIdentifier": sid, "Weight": weight, "TTL": 30,
            "ResourceRecords": [{"Value": v} for v in values]}}
def txt(owner, weight, state):
    return f'"v=1" "owner={owner}" "weight={weight}" "state={state}" "since=1700000000"'
r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
    weighted(pool, "A", "i-1", 10, ["192.0.2.1"]),
    weighted("_wavelb." + pool, "TXT", "i-1", 0, [txt("wavelb", 10, "active")]),
    weighted(pool, "A", "i-2", 20, ["192.0.2.2", "192.0.2.3"]),
    weighted("_wavelb." + pool, "TXT", "i-2", 0, [txt("wavelb", 20, "active")]),
    weighted(pool, "A", "theirs", 30, ["192.0.2.4"]),
    weighted("_wavelb." + pool, "TXT", "theirs", 0, [txt("someone-else", 30, "active")]),
    weighted(pool, "A", "manual", 5, ["198.51.100.7"]),
]})
"#;

struct Env {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup() -> Env {
    let zone = testkit::unique_zone("cli");
    let moto = testkit::moto_url();
    testkit::python(BOTO3_SETUP, &[&moto, &zone]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wavelb.toml");
    std::fs::write(
        &config,
        format!(
            "[pool]\nname = \"edge.{zone}\"\nzone = \"{zone}\"\nowner_id = \"wavelb\"\n\n[route53]\nendpoint_url = \"{moto}\"\n"
        ),
    )
    .unwrap();
    Env { _dir: dir, config }
}

fn wavelb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wavelb"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

fn ok(env: &Env, args: &[&str]) -> String {
    let mut full = vec!["--config", env.config.to_str().unwrap(), "records"];
    full.extend_from_slice(args);
    let out = wavelb(&full);
    assert!(
        out.status.success(),
        "wavelb {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn list(env: &Env) -> Vec<Value> {
    serde_json::from_str::<Value>(&ok(env, &["list", "--json"]))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["set_id"] == id)
        .unwrap_or_else(|| panic!("no row {id} in {rows:?}"))
}

#[test]
fn lists_records_written_by_boto3_with_foreign_ones_marked() {
    let env = setup();
    let table = ok(&env, &["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SET ID"), "{table}");
    assert_eq!(lines.len(), 6, "{table}");
    assert_eq!(
        lines[5], "TTL 30",
        "the pool's TTL agrees with pool.ttl: {table}"
    );
    let line = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
    assert!(line("i-2 ").contains("192.0.2.2,192.0.2.3"), "{table}");
    assert!(line("i-1").contains("active"), "{table}");
    assert!(
        line("manual").contains("foreign (no ownership record)"),
        "{table}"
    );
    assert!(
        line("theirs").contains("foreign (owned by someone-else)"),
        "{table}"
    );

    let rows = list(&env);
    assert_eq!(row(&rows, "i-1")["weight"], 10);
    assert_eq!(row(&rows, "i-1")["wanted_weight"], 10);
    assert_eq!(row(&rows, "i-1")["foreign"], false);
    assert_eq!(row(&rows, "theirs")["foreign"], true);
    assert_eq!(row(&rows, "theirs")["owner"], "someone-else");
    assert_eq!(row(&rows, "manual")["foreign"], true);
    assert_eq!(
        row(&rows, "manual")["foreign_reason"],
        "no ownership record"
    );
    assert_eq!(row(&rows, "i-1")["foreign_reason"], Value::Null);
}

/// Restoring a target returns its address record to an earlier state. moto 5.2 refuses a CREATE
/// identical to one in its change journal while the zone has other records ("already exists"),
/// so restore runs end to end against the lab resolver's strict API instead; here it covers the
/// moves that never repeat a state.
#[test]
fn quarantine_set_weight_and_remove() {
    let env = setup();
    ok(&env, &["quarantine", "i-1"]);
    let rows = list(&env);
    assert_eq!(row(&rows, "i-1")["weight"], 0);
    assert_eq!(row(&rows, "i-1")["wanted_weight"], 10);
    assert_eq!(row(&rows, "i-1")["state"], "quarantined");
    assert_eq!(
        row(&rows, "i-2")["weight"],
        20,
        "the other target is untouched"
    );

    ok(&env, &["set-weight", "i-2", "42"]);
    let rows = list(&env);
    assert_eq!(row(&rows, "i-2")["weight"], 42);
    assert_eq!(row(&rows, "i-2")["wanted_weight"], 42);
    assert_eq!(row(&rows, "i-2")["state"], "active");

    ok(&env, &["remove", "i-2"]);
    let rows = list(&env);
    assert!(rows.iter().all(|r| r["set_id"] != "i-2"));
    assert_eq!(rows.len(), 3);
    assert_eq!(row(&rows, "i-1")["state"], "quarantined");
}

#[test]
fn foreign_records_need_force() {
    let env = setup();
    let cfg = env.config.to_str().unwrap();
    let out = wavelb(&["--config", cfg, "records", "quarantine", "manual"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("foreign") && err.contains("--force"), "{err}");
    assert_eq!(row(&list(&env), "manual")["weight"], 5);

    ok(&env, &["set-weight", "manual", "9", "--force"]);
    assert_eq!(row(&list(&env), "manual")["weight"], 9);
    ok(&env, &["remove", "theirs", "--force"]);
    assert!(list(&env).iter().all(|r| r["set_id"] != "theirs"));

    let out = wavelb(&["--config", cfg, "records", "quarantine", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no target with set identifier \"nope\"")
    );
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let help = wavelb(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for cmd in [
        "agent", "health", "resolver", "lab", "records", "probe", "version",
    ] {
        assert!(text.contains(cmd), "--help lacks {cmd}: {text}");
    }

    for cmd in ["agent", "health", "records"] {
        let out = wavelb(&[cmd, "--check-config"]);
        assert_eq!(out.status.code(), Some(2), "{cmd} without a config");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--config"),
            "{cmd}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\nttl = 0\n",
    )
    .unwrap();
    let out = wavelb(&["--config", bad.to_str().unwrap(), "records", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pool.ttl = 0") && err.contains("1 to 2147483647"),
        "{err}"
    );

    std::fs::write(
        &bad,
        "[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\nowner = \"x\"\n",
    )
    .unwrap();
    let out = wavelb(&[
        "--config",
        bad.to_str().unwrap(),
        "records",
        "--check-config",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `owner`"));

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\n",
    )
    .unwrap();
    let out = wavelb(&[
        "--config",
        good.to_str().unwrap(),
        "records",
        "--check-config",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = wavelb(&[
        "--config",
        good.to_str().unwrap(),
        "records",
        "set-weight",
        "i-1",
        "256",
    ]);
    assert_eq!(out.status.code(), Some(2));

    let out = wavelb(&["--config", "/nonexistent/wavelb.toml", "records", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/wavelb.toml"));
}
