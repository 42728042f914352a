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
    env_at(&zone, &moto)
}

/// A configuration for pool `edge.ZONE` (owner `wavelb`) at the Route 53 API `endpoint`.
fn env_at(zone: &str, endpoint: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wavelb.toml");
    std::fs::write(
        &config,
        format!(
            "[pool]\nname = \"edge.{zone}\"\nzone = \"{zone}\"\nowner_id = \"wavelb\"\n\n[route53]\nendpoint_url = \"{endpoint}\"\n"
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

/// Runs `wavelb args…`: its exit code and stderr. Fails the test if it has not exited within
/// 20 s (a FIFO given as a file used to block the open forever).
fn wavelb_within(args: &[&str]) -> (Option<i32>, String) {
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wavelb"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::null())
        // A file, not a pipe: a child never blocks on a full pipe nobody reads yet.
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let code = crate::common::wait_exit(
        &mut child,
        std::time::Duration::from_secs(20),
        &format!("wavelb {args:?} to exit"),
    )
    .code();
    (
        code,
        String::from_utf8_lossy(&std::fs::read(err.path()).unwrap()).into_owned(),
    )
}

/// Issue #23, item 6: `wavelb records list` prints set identifiers, owners and notes that anyone
/// with zone access writes. Owned and foreign records whose identifiers carry a forged log line
/// are listed (table and JSON) against the lab resolver with the text and JSON log formats at
/// debug level: no stdout line starts with the forged text or holds a control character, and
/// every stderr line is a well-formed log line. An error naming a hostile identifier
/// (`records quarantine`) stays on one line too.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_set_identifiers_cannot_forge_a_line_in_records_output() {
    use crate::common::{FORGED, assert_well_formed_log, hostile_ids};
    use registry::model::{PoolSpec, RecordType, SetId, Target};
    use registry::plan::{Intent, plan};
    use registry::pool::classify;
    use registry::testing::sid;

    let resolver = testkit::process::resolver(env!("CARGO_BIN_EXE_wavelb"), &[]);
    let api = resolver.field("api_url");
    let pool = PoolSpec {
        name: registry::name::Fqdn::parse("edge.lab.test").unwrap(),
        record_type: RecordType::A,
        ttl: 30,
        owner_id: "wavelb".into(),
        ownership_key: None,
    };
    let intents: std::collections::BTreeMap<SetId, Intent> = hostile_ids()
        .into_iter()
        .zip(1u8..)
        .map(|(id, i)| {
            let t = Target::active(sid(&id), vec![[127, 0, 0, i].into()], 10, 1);
            (t.id.clone(), Intent::Present(t))
        })
        .collect();
    let w = crate::common::writer(&api).await;
    w.execute(&plan(&pool, &classify(&pool, &[]), &intents))
        .await
        .unwrap();
    // The same records as another owner's: listed as foreign, with the owner and note shown.
    let theirs = PoolSpec {
        owner_id: format!("them\n{FORGED}"),
        ..pool.clone()
    };
    let foreign: std::collections::BTreeMap<SetId, Intent> = [(
        sid(&format!("f1\n{FORGED}")),
        Intent::Present(Target::active(
            sid(&format!("f1\n{FORGED}")),
            vec![[127, 0, 0, 9].into()],
            5,
            1,
        )),
    )]
    .into();
    let listed = w.list_pool(&theirs).await.unwrap();
    w.execute(&plan(&theirs, &classify(&theirs, &listed), &foreign))
        .await
        .unwrap();

    let env = env_at("lab.test", &api);
    let cfg = env.config.to_str().unwrap();
    for format in ["text", "json"] {
        for list in [&["list"][..], &["list", "--json"]] {
            let mut args = vec!["-v", "--log-format", format, "--config", cfg, "records"];
            args.extend_from_slice(list);
            let out = wavelb(&args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{args:?}: {stderr}");
            for line in stdout.lines() {
                assert!(!line.trim_start().starts_with(FORGED), "{line:?}\n{stdout}");
                assert!(
                    !line.chars().any(registry::escape::is_unsafe),
                    "{line:?}\n{stdout}"
                );
            }
            assert!(
                stdout.contains(&format!("w1\\n{FORGED}")) && stdout.contains("f1\\n"),
                "{args:?}:\n{stdout}"
            );
            assert_well_formed_log(&stderr, format == "json");
        }
    }
    assert_eq!(
        list_json_rows(cfg).len(),
        4,
        "three owned targets and one foreign are listed"
    );
    let id = format!("nope\n{FORGED}");
    let out = wavelb(&["--config", cfg, "records", "quarantine", &id]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().count() <= 2
            && stderr.lines().all(|l| !l.starts_with(FORGED))
            && stderr.contains("nope\\n2026"),
        "{stderr}"
    );
}

fn list_json_rows(cfg: &str) -> Vec<Value> {
    let out = wavelb(&["--config", cfg, "records", "list", "--json"]);
    serde_json::from_str::<Value>(&String::from_utf8_lossy(&out.stdout))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Issue #23, item 9: the files an operator names are read only when they are regular files
/// within a bound. A FIFO (which used to block startup forever), `/dev/zero` (read to 1 GiB), a
/// directory and an oversized file given as the configuration, the ownership key or the geo
/// table make `--check-config` exit 2 at once with a message naming the path; a TOML error on
/// a 65 KB line is one short line; key and credentials files others can read get a warning.
#[test]
fn operator_files_must_be_regular_files_within_their_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
    let d = dir.path().to_str().unwrap();
    for (path, why) in [
        (fifo.to_str().unwrap(), "is a FIFO, not a regular file"),
        ("/dev/zero", "is a character device, not a regular file"),
        (d, "is a directory, not a regular file"),
        (big.to_str().unwrap(), "is larger than 1048576 bytes"),
    ] {
        let (code, err) = wavelb_within(&["--config", path, "health", "--check-config"]);
        assert_eq!(code, Some(2), "{path}: {err}");
        assert!(err.contains(path) && err.contains(why), "{path}: {err}");
        // The ownership key and the geo table go through the same reader.
        let key = dir.path().join("key.toml");
        std::fs::write(
            &key,
            format!(
                "[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\nownership_key_file = {path:?}\n"
            ),
        )
        .unwrap();
        let (code, err) = wavelb_within(&[
            "--config",
            key.to_str().unwrap(),
            "records",
            "--check-config",
        ]);
        assert_eq!(code, Some(2), "key {path}: {err}");
        assert!(err.contains("ownership_key_file"), "key {path}: {err}");
        let (code, err) = wavelb_within(&["resolver", "--geo-table", path, "--check-config"]);
        assert_eq!(code, Some(2), "geo table {path}: {err}");
        assert!(
            err.contains("geo table") && err.contains(path),
            "{path}: {err}"
        );
    }

    // A TOML error on a 65 KB line: line and column, a short escaped excerpt.
    let long = dir.path().join("long.toml");
    std::fs::write(
        &long,
        format!("[pool]\nname = \"{}\x1b[31m\n", "x".repeat(65_536)),
    )
    .unwrap();
    let (code, err) = wavelb_within(&[
        "--config",
        long.to_str().unwrap(),
        "health",
        "--check-config",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.len() < 600 && err.lines().count() == 1,
        "{} bytes: {err}",
        err.len()
    );
    assert!(
        err.contains("line 2, column") && !err.contains('\x1b'),
        "{err}"
    );

    // Secrets others can read: a warning naming the path, the mode and the fix.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join("ownership.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    let creds = dir.path().join("credentials.toml");
    std::fs::write(
        &creds,
        "[[credentials]]\naccess_key_id = \"AKIDLAB\"\nsecret_access_key = \"secret\"\n",
    )
    .unwrap();
    let cfg = dir.path().join("keyed.toml");
    std::fs::write(
        &cfg,
        format!(
            "[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\nownership_key_file = {:?}\n",
            key.to_str().unwrap()
        ),
    )
    .unwrap();
    for (mode, warned) in [(0o644, true), (0o604, true), (0o600, false)] {
        for file in [&key, &creds] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let (code, err) = wavelb_within(&[
            "--config",
            cfg.to_str().unwrap(),
            "records",
            "--check-config",
        ]);
        assert_eq!(code, Some(0), "{err}");
        let (creds_code, creds_err) = wavelb_within(&[
            "resolver",
            "--api-credentials",
            creds.to_str().unwrap(),
            "--check-config",
        ]);
        assert_eq!(creds_code, Some(0), "{creds_err}");
        for (err, file) in [(&err, &key), (&creds_err, &creds)] {
            let shown = format!("{mode:04o}");
            assert_eq!(
                err.contains("WARN")
                    && err.contains(file.to_str().unwrap())
                    && err.contains(&shown)
                    && err.contains("chmod 600"),
                warned,
                "mode {shown}: {err}"
            );
        }
    }
}
