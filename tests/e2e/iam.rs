//! Least privilege, proven (issue 25, item 6): the lab resolver holds each access key to an IAM
//! policy (`--api-credentials`, `policy = "PATH"`), and the policies `deploy/iam/` ships, their
//! placeholders filled in, are enough for the agent (register, repair, drain) and for `wavelb
//! health` with a zone tier (quarantine, restore, garbage collection, a zone leaving and
//! returning) or without one (quarantine, restore), with nothing denied, while the agent's key
//! cannot change the tier or another pool.
//!
//! Each test's resolver holds three keys: the agent's (the shipped agent policy), the
//! controller's (the shipped health policy), and the test process's own (no policy: its reads and
//! seeding through `crate::common::writer` and `wavelb records`, whatever key the SDK finds).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use registry::testing::sid;
use testkit::process::Service;

use crate::agent::{self, Bed};
use crate::common::writer;
use crate::health::{self, Lab};

const BIN: &str = env!("CARGO_BIN_EXE_wavelb");
const AGENT_KEY: (&str, &str) = ("AKIDAGENT", "agent-secret/+key");
const HEALTH_KEY: (&str, &str) = ("AKIDHEALTH", "health-secret/+key");

/// A state directory whose `lab.test` zone already exists (a policy names its hosted zone id,
/// which the resolver draws at random when it creates the zone), the policies and the
/// credentials file.
struct Keys {
    dir: tempfile::TempDir,
    zone: String,
}

impl Keys {
    /// Creates `lab.test` in a fresh state directory with a resolver without credentials, and
    /// reads its id.
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut resolver = testkit::process::resolver(BIN, &["--state-dir", path(&state)]);
        let zone = writer(&resolver.field("api_url"))
            .await
            .zone_id()
            .to_owned();
        resolver.kill();
        Self { dir, zone }
    }

    /// Writes the policies and a credentials file holding the agent's and the controller's keys
    /// (with `agent_policy` and `health_policy`) and the test process's own key (no policy);
    /// returns the resolver's arguments: this state directory and the credentials.
    async fn resolver_args(&self, agent_policy: &str, health_policy: &str) -> Vec<String> {
        let own = aws::sdk::credentials(Some("http://127.0.0.1:9"), "us-east-1")
            .await
            .provide_credentials()
            .await
            .expect("the SDK finds credentials for a lab endpoint");
        let write = |name: &str, text: &str| {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            p
        };
        write("agent-policy.json", agent_policy);
        write("health-policy.json", health_policy);
        let creds = write(
            "credentials.toml",
            &format!(
                "[[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\
                 policy = \"agent-policy.json\"\n\n\
                 [[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\
                 policy = \"health-policy.json\"\n\n\
                 [[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
                AGENT_KEY.0,
                AGENT_KEY.1,
                HEALTH_KEY.0,
                HEALTH_KEY.1,
                own.access_key_id(),
                own.secret_access_key(),
            ),
        );
        vec![
            "--state-dir".into(),
            path(&self.dir.path().join("state")).to_owned(),
            "--api-credentials".into(),
            path(&creds).to_owned(),
        ]
    }

    /// The shipped agent policy for pool `pool` in this zone.
    fn agent_policy(&self, pool: &str) -> String {
        shipped("agent-policy.json")
            .replace("ZONEID", &self.zone)
            .replace("edge.example.com", pool)
    }

    /// The shipped health policy for `pools` and the tier `tier` (without one, the tier's names
    /// deleted, as deploy/README.md says) in this zone: every name the template gives for its one
    /// pool, given for each pool.
    fn health_policy(&self, pools: &[&str], tier: Option<&str>) -> String {
        let text = shipped("health-policy.json").replace("ZONEID", &self.zone);
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let names = &mut doc["Statement"][0]["Condition"]["ForAllValues:StringEquals"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"];
        let template: Vec<String> = names
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        let mut filled = Vec::new();
        for name in &template {
            if name.ends_with("edge.example.com") {
                filled.extend(pools.iter().map(|p| name.replace("edge.example.com", p)));
            } else {
                assert!(name.ends_with("global.example.com"), "{name}");
                if let Some(tier) = tier {
                    filled.push(name.replace("global.example.com", tier));
                }
            }
        }
        *names = serde_json::json!(filled);
        serde_json::to_string_pretty(&doc).unwrap()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A policy as `deploy/iam/` ships it.
fn shipped(name: &str) -> String {
    let p: PathBuf = testkit::repo_root().join("deploy/iam").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `cmd` signing with `key` only: no other key in the environment or a profile.
fn with_key<'c>(cmd: &'c mut Command, key: (&str, &str)) -> &'c mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// The resolver's count of requests a policy denied.
fn denied(resolver: &Service) -> f64 {
    let text = testkit::http_get(&format!("http://{}/metrics", resolver.field("metrics")));
    testkit::metric(&text, "wavelb_api_denied_total")
        .unwrap_or_else(|| panic!("no wavelb_api_denied_total in\n{text}"))
}

/// One ChangeResourceRecordSets by `key` through boto3 (`tests/py/iam_change.py`): each change
/// `ACTION:NAME:TYPE`; the outcome as `{"code", "message", "status"}`.
fn change_as(api: &str, key: (&str, &str), zone: &str, changes: &[&str]) -> serde_json::Value {
    let script = testkit::repo_root().join("tests/py/iam_change.py");
    let out = Command::new(testkit::venv_python())
        .arg(script)
        .args([api, key.0, key.1, zone])
        .args(changes)
        .output()
        .expect("cannot run python");
    assert!(
        out.status.success(),
        "iam_change.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts that `outcome` is AWS's AccessDenied for `key` on the hosted zone `zone`.
fn assert_access_denied(outcome: &serde_json::Value, key: &str, zone: &str, what: &str) {
    assert_eq!(outcome["code"], "AccessDenied", "{what}: {outcome}");
    assert_eq!(outcome["status"], 403, "{what}: {outcome}");
    let want = format!(
        "User: arn:aws:iam::000000000000:user/{key} is not authorized to perform: \
         route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/{zone} \
         because no identity-based policy allows the route53:ChangeResourceRecordSets action"
    );
    assert_eq!(outcome["message"], want.as_str(), "{what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_runs_under_the_shipped_policy_and_cannot_touch_the_tier_or_another_pool() {
    let keys = Keys::new().await;
    let pool = agent::agent_pool()
        .name
        .as_str()
        .trim_end_matches('.')
        .to_owned();
    let args = keys
        .resolver_args(
            &keys.agent_policy(&pool),
            &keys.health_policy(&["www.lab.test"], Some("edge.lab.test")),
        )
        .await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bed: Bed = agent::bed(&args).await;
    let cfg = bed.config("a", "");
    // Logged, so a failure prints what the agent saw.
    let mut a = Service::spawn_cmd_logged(
        with_key(
            Command::new(BIN).args(["--config", path(&cfg), "agent"]),
            AGENT_KEY,
        ),
        &bed.dir.path().join("agent.log"),
    );

    // Register.
    bed.wait_for("registration", Duration::from_secs(15), |v| {
        v.owned.contains_key(agent::ID)
    })
    .await;
    // Repair drift: its records deleted behind its back come back.
    let p = agent::agent_pool();
    let v = bed.view().await;
    writer(&bed.api)
        .await
        .execute(&registry::plan::plan(
            &p,
            &v,
            &std::collections::BTreeMap::from([(sid(agent::ID), registry::plan::Intent::Absent)]),
        ))
        .await
        .unwrap();
    bed.wait_for("the record restored", Duration::from_secs(10), |v| {
        v.owned
            .get(agent::ID)
            .is_some_and(|o| o.target.weight == 60)
    })
    .await;
    // Drain on SIGTERM: weight 0, then deletion, then exit 0.
    agent::signal(&a, "-TERM");
    bed.wait_for("deletion", Duration::from_secs(20), |v| {
        !v.owned.contains_key(agent::ID)
    })
    .await;
    assert_eq!(agent::wait_exit(&mut a, Duration::from_secs(10)), Some(0));
    assert_eq!(denied(&bed.resolver), 0.0, "the agent was denied something");

    // The agent's key cannot change the tier, another pool, or its pool's controller lease, nor
    // UPSERT; one such change spoils the whole batch.
    let zone = &keys.zone;
    let own = format!("CREATE:{pool}:A");
    let lease = format!("CREATE:_wavelb-leader.{pool}:TXT");
    let upsert = format!("UPSERT:{pool}:A");
    let refused: [(&str, Vec<&str>); 6] = [
        ("the tier's alias name", vec!["CREATE:edge.lab.test:A"]),
        (
            "the tier's ownership",
            vec!["CREATE:_wavelb.edge.lab.test:TXT"],
        ),
        ("another pool", vec!["DELETE:www.lab.test:A"]),
        ("its pool's leader lease", vec![&lease]),
        ("an UPSERT", vec![&upsert]),
        (
            "a batch with one foreign change",
            vec![&own, "CREATE:www.lab.test:A"],
        ),
    ];
    for (what, changes) in &refused {
        let outcome = change_as(&bed.api, AGENT_KEY, zone, changes);
        assert_access_denied(&outcome, AGENT_KEY.0, zone, what);
    }
    assert_eq!(denied(&bed.resolver), refused.len() as f64);
    // The policy is not a blanket refusal: its own pool name is still its to write.
    let outcome = change_as(&bed.api, AGENT_KEY, zone, &[&own]);
    assert_eq!(outcome["code"], "OK", "{outcome}");
    assert_eq!(denied(&bed.resolver), refused.len() as f64);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_and_its_tier_run_under_the_shipped_policy_with_nothing_denied() {
    let keys = Keys::new().await;
    let args = keys
        .resolver_args(
            &keys.agent_policy("edge.us-east-1-wl1-bos-wlz-1.lab.test"),
            &keys.health_policy(&["www.lab.test", "api.lab.test"], Some("edge.lab.test")),
        )
        .await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Zone "bos" is www.lab.test (t0, t1, t2 and a target nobody answers for, to be collected);
    // zone "nyc" is api.lab.test (a0, a1).
    let mut lab: Lab = health::lab_with(3, &args).await;
    let (_, _nyc) = lab.second_pool(41).await;
    lab.add_silent_target("gone", "127.0.0.29").await;
    let cfg = lab.two_pools_config(
        "iam",
        "gc_after = \"1s\"",
        "[global]\nname = \"edge.lab.test\"\nreturn_after = \"2s\"\n\
         [[global.zone]]\npool = \"www.lab.test\"\nwavelength_zone = \"bos\"\ncoordinates = [42.36, -71.06]\n\
         [[global.zone]]\npool = \"api.lab.test\"\nwavelength_zone = \"nyc\"\ncoordinates = [40.71, -74.01]\n",
    );
    let log = lab.dir.path().join("iam.log");
    let c = Service::spawn_cmd_logged(
        with_key(
            Command::new(BIN).args(["--config", path(&cfg), "health"]),
            HEALTH_KEY,
        ),
        &log,
    );
    let tier = |what: &str, want: &[&str]| {
        health::wait_for_tier(&cfg, &c, what, |l| health::tier_in(l) == want)
    };

    // Tier changes: both zones go in (alias records, their ownership TXTs, the tier's lease).
    tier("both zones in", &["bos", "nyc"]);
    // Quarantine and garbage collection: the silent target goes, and is collected.
    lab.wait_for(
        "the silent target collected",
        Duration::from_secs(20),
        |v| !v.owned.contains_key("gone"),
    )
    .await;
    assert_eq!(
        testkit::metric(&health::metrics(&c), "wavelb_gc_deleted_total"),
        Some(1.0)
    );
    // Quarantine and restore.
    lab.targets[1].stop();
    lab.wait_for("t1 quarantined", Duration::from_secs(10), |v| {
        health::state(v, "t1") == (0, 20, registry::model::TargetState::Quarantined)
    })
    .await;
    lab.targets[1].resume();
    lab.wait_for("t1 restored", Duration::from_secs(10), |v| {
        health::state(v, "t1") == (20, 20, registry::model::TargetState::Active)
    })
    .await;
    // Tier changes: every target of bos dies, the zone leaves; they come back, so does it.
    for t in &mut lab.targets {
        t.stop();
    }
    tier("bos out", &["nyc"]);
    for t in &mut lab.targets {
        t.resume();
    }
    tier("bos back", &["bos", "nyc"]);

    assert_eq!(
        denied(&lab.resolver),
        0.0,
        "the controller was denied something"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("AccessDenied"), "{text}");
    // The policy is in force for the controller's key: a name it does not list is refused.
    let outcome = change_as(
        &lab.api,
        HEALTH_KEY,
        &keys.zone,
        &["CREATE:other.lab.test:A"],
    );
    assert_access_denied(
        &outcome,
        HEALTH_KEY.0,
        &keys.zone,
        "a name not in the policy",
    );
    assert_eq!(denied(&lab.resolver), 1.0);
}

/// Without a tier the controller's one lease is at its pool's `_wavelb-leader.` name: the shipped
/// policy without the tier's names is enough for quarantine and restore.
#[tokio::test(flavor = "multi_thread")]
async fn a_controller_without_a_tier_runs_under_the_shipped_policy_with_nothing_denied() {
    let keys = Keys::new().await;
    let args = keys
        .resolver_args(
            &keys.agent_policy("edge.us-east-1-wl1-bos-wlz-1.lab.test"),
            &keys.health_policy(&["www.lab.test"], None),
        )
        .await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut lab: Lab = health::lab_with(3, &args).await;
    let cfg = lab.config("iam-one-pool", "");
    let log = lab.dir.path().join("iam-one-pool.log");
    let c = Service::spawn_cmd_logged(
        with_key(
            Command::new(BIN).args(["--config", path(&cfg), "health"]),
            HEALTH_KEY,
        ),
        &log,
    );
    lab.targets[1].stop();
    lab.wait_for("t1 quarantined", Duration::from_secs(10), |v| {
        health::state(v, "t1") == (0, 20, registry::model::TargetState::Quarantined)
    })
    .await;
    lab.targets[1].resume();
    lab.wait_for("t1 restored", Duration::from_secs(10), |v| {
        health::state(v, "t1") == (20, 20, registry::model::TargetState::Active)
    })
    .await;
    assert_eq!(
        testkit::metric(
            &health::metrics(&c),
            "wavelb_health_leader{pool=\"www.lab.test\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        denied(&lab.resolver),
        0.0,
        "the controller was denied something"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("AccessDenied"), "{text}");
}

/// Review finding: ListTagsForResources names its resources in its body; a key is allowed it
/// only for every hosted zone it names. A policy that allows everything but denies it on this
/// zone: asking for this zone's tags (alone, or among others) is AccessDenied; asking for
/// another zone's passes the policy (and finds no such zone).
#[tokio::test(flavor = "multi_thread")]
async fn list_tags_for_resources_is_held_to_every_zone_it_names() {
    let keys = Keys::new().await;
    let policy = format!(
        r#"{{"Version": "2012-10-17", "Statement": [
            {{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}},
            {{"Effect": "Deny", "Action": "route53:ListTagsForResources",
              "Resource": "arn:aws:route53:::hostedzone/{}"}}]}}"#,
        keys.zone
    );
    let args = keys
        .resolver_args(&policy, &keys.health_policy(&["www.lab.test"], None))
        .await;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let resolver = testkit::process::resolver(BIN, &args);
    let api = resolver.field("api_url");
    let other = change_as(&api, AGENT_KEY, "ZNOSUCHZONE", &["TAGS"]);
    assert_eq!(other["code"], "NoSuchHostedZone", "{other}");
    for ids in [keys.zone.clone(), format!("ZNOSUCHZONE,{}", keys.zone)] {
        let denied_now = change_as(&api, AGENT_KEY, &ids, &["TAGS"]);
        assert_eq!(denied_now["code"], "AccessDenied", "{ids}: {denied_now}");
        assert!(
            denied_now["message"]
                .as_str()
                .unwrap()
                .contains(&format!("arn:aws:route53:::hostedzone/{}", keys.zone)),
            "{denied_now}"
        );
    }
    assert_eq!(denied(&resolver), 2.0);
}
