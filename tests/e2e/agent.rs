//! `wavelb agent` as a process on an EC2-like test bed: an IMDSv2 emulator, the lab resolver's
//! strict Route 53 API, and moto for EC2. Covers registration and READY=1, drift repair,
//! respecting a quarantine, the drain order on SIGTERM, Spot and lifecycle notices, an IMDS
//! outage at start, a registration storm under API throttling, and bad configuration.

use crate::common::writer;
use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::wait;

use registry::model::{PoolSpec, SetId, TargetState};
use registry::plan::{Intent, plan};
use registry::pool::{PoolView, classify};
use registry::testing::sid;
use testkit::imds::{Imds, Interface};
use testkit::process::Service;

const BIN: &str = env!("CARGO_BIN_EXE_wavelb");
const AZ: &str = "us-east-1-wl1-bos-wlz-1";
const MAC: &str = "0e:11:22:33:44:55";

pub(crate) struct Bed {
    pub(crate) resolver: Service,
    pub(crate) api: String,
    imds: Imds,
    pub(crate) dir: tempfile::TempDir,
}

/// The pool the agent's configuration names in zone `AZ`.
pub(crate) fn agent_pool() -> PoolSpec {
    registry::testing::pool_at(&format!("edge.{AZ}.lab.test"), 2, "wavelb")
}

pub(crate) async fn bed(extra_resolver: &[&str]) -> Bed {
    bed_for(ID, "155.146.10.20", None, extra_resolver).await
}

/// A resolver and an IMDS emulator for `instance_id`, whose primary interface has the private
/// address 10.0.0.5, IMDS public address `imds_public`, and the ENI id and MAC `eni` (default:
/// no id, MAC 0e:11:22:33:44:55).
async fn bed_for(
    instance_id: &str,
    imds_public: &str,
    eni: Option<(String, String)>,
    extra_resolver: &[&str],
) -> Bed {
    let (interface_id, mac) = match eni {
        Some((id, mac)) => (Some(id), mac),
        None => (None, MAC.to_owned()),
    };
    let resolver = testkit::process::resolver(BIN, extra_resolver);
    let api = resolver.field("api_url");
    let imds = Imds::start(
        instance_id,
        AZ,
        vec![Interface {
            mac,
            interface_id,
            device: 0,
            private: vec!["10.0.0.5".into()],
            public: vec![imds_public.into()],
        }],
    )
    .await;
    Bed {
        resolver,
        api,
        imds,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Bed {
    /// Writes an agent configuration. `[ec2]` always names an emulator (moto, which knows no
    /// instance unless a test created one): a test must never reach the real EC2 API.
    pub(crate) fn config(&self, name: &str, agent: &str) -> PathBuf {
        self.config_for(
            "edge.{wavelength_zone}.lab.test",
            name,
            agent,
            &testkit::moto_url(),
        )
    }

    /// Agent number `i` with a static address and set identifier: no IMDS, so the pool name
    /// must be concrete.
    pub(crate) fn static_config(&self, name: &str, i: usize) -> PathBuf {
        self.config_for(
            &format!("edge.{AZ}.lab.test"),
            name,
            &format!(
                "address = \"198.51.100.{}\"\ntarget_id = \"lab-host-{i:02}\"",
                i + 1
            ),
            &testkit::moto_url(),
        )
    }

    fn config_for(&self, pool_name: &str, name: &str, agent: &str, ec2_endpoint: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"[pool]
name = "{pool_name}"
zone = "lab.test"
ttl = 2
owner_id = "wavelb"

[route53]
endpoint_url = "{api}"

[ec2]
endpoint_url = "{ec2_endpoint}"

[agent]
weight = 60
imds_endpoint = "{imds}"
reconcile_interval = "1s"
drain_timeout = "30s"
startup_jitter = "0s"
notice_poll_interval = "200ms"
metrics_listen = "127.0.0.1:0"
{agent}
"#,
                api = self.api,
                imds = self.imds.url,
            ),
        )
        .unwrap();
        path
    }

    pub(crate) async fn view(&self) -> PoolView {
        let p = agent_pool();
        classify(&p, &writer(&self.api).await.list_pool(&p).await.unwrap())
    }

    /// Waits for this instance's records to go `draining`, then to be deleted (after `why`).
    async fn wait_for_drain(&self, why: &str) {
        self.wait_for(
            &format!("draining on {why}"),
            Duration::from_secs(10),
            |v| {
                v.owned
                    .get(ID)
                    .is_some_and(|o| o.target.state == TargetState::Draining)
            },
        )
        .await;
        self.wait_for(
            &format!("deletion on {why}"),
            Duration::from_secs(15),
            |v| !v.owned.contains_key(ID),
        )
        .await;
    }

    pub(crate) async fn wait_for(
        &self,
        what: &str,
        deadline: Duration,
        check: impl Fn(&PoolView) -> bool,
    ) {
        wait::until(what, deadline, || async {
            let v = self.view().await;
            if check(&v) {
                Ok(())
            } else {
                Err(format!("{:?}", v.owned))
            }
        })
        .await;
    }
}

pub(crate) fn agent(cfg: &Path, notify: Option<&Path>) -> Service {
    let mut cmd = Command::new(BIN);
    cmd.args(["-q", "--config", cfg.to_str().unwrap(), "agent"]);
    if let Some(sock) = notify {
        cmd.env("NOTIFY_SOCKET", sock);
    }
    Service::spawn_cmd(&mut cmd)
}

pub(crate) fn signal(s: &Service, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &s.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

pub(crate) fn wait_exit(s: &mut Service, deadline: Duration) -> Option<i32> {
    crate::common::wait_exit(&mut s.child, deadline, "the agent to exit").code()
}

pub(crate) const ID: &str = "i-0123456789abcdef0";

#[tokio::test(flavor = "multi_thread")]
async fn registers_then_says_ready_and_drains_in_order_on_sigterm() {
    let bed = bed(&[]).await;
    let sock_path = bed.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut a = agent(&bed.config("a", "probe_port = 4433"), Some(&sock_path));
    let mut buf = [0u8; 4096];
    let ready = loop {
        let n = sock.recv(&mut buf).expect("no READY=1 from the agent");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains("READY=1") {
            break msg;
        }
    };
    // READY=1 comes only after the record is written: it must be there right now.
    let v = bed.view().await;
    let owned = v
        .owned
        .get(ID)
        .unwrap_or_else(|| panic!("no record at READY: {ready}"));
    let t = &owned.target;
    assert_eq!(
        t.addresses,
        vec!["155.146.10.20".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        (t.weight, t.wanted_weight, t.state),
        (60, 60, TargetState::Active)
    );
    assert_eq!(t.probe, Some("10.0.0.5:4433".parse().unwrap()));
    assert_eq!(owned.address_set.as_ref().unwrap().ttl, Some(2));
    assert!(
        ready.contains("STATUS=registered i-0123456789abcdef0"),
        "{ready}"
    );
    assert!(bed.imds.tokens_issued() >= 1);

    let metrics = testkit::http_get(&format!("http://{}/metrics", a.field("metrics")));
    assert!(
        metrics.contains(&format!(
            "wavelb_agent_registered{{pool=\"edge.{AZ}.lab.test\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("wavelb_agent_state{state=\"active\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("wavelb_agent_info{instance_id=\"i-0123456789abcdef0\""),
        "{metrics}"
    );

    // SIGTERM: weight 0 + draining first, then deletion, then exit 0.
    signal(&a, "-TERM");
    bed.wait_for("draining at weight 0", Duration::from_secs(10), |v| {
        v.owned
            .get(ID)
            .is_some_and(|o| o.target.state == TargetState::Draining && o.target.weight == 0)
    })
    .await;
    bed.wait_for("deletion", Duration::from_secs(15), |v| {
        !v.owned.contains_key(ID)
    })
    .await;
    assert_eq!(wait_exit(&mut a, Duration::from_secs(10)), Some(0));
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 was sent");
}

/// Polls `agent`'s metrics until it has counted `n` reconciles that left another's quarantine.
async fn wait_for_quarantined_by_other(agent: &Service, n: f64, what: &str) {
    let base = format!("http://{}/metrics", agent.field("metrics"));
    wait::until(what, Duration::from_secs(15), || async {
        let m = testkit::http_get(&base);
        let seen = testkit::metric(
            &m,
            "wavelb_agent_reconcile_total{outcome=\"quarantined_by_other\"}",
        )
        .unwrap_or(0.0);
        if seen >= n { Ok(()) } else { Err(m) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repairs_a_deleted_record_and_respects_a_quarantine() {
    let bed = bed(&[]).await;
    let cfg = bed.config("a", "");
    let a = agent(&cfg, None);
    bed.wait_for("registration", Duration::from_secs(15), |v| {
        v.owned.contains_key(ID)
    })
    .await;
    let p = agent_pool();
    let w = writer(&bed.api).await;
    let v = bed.view().await;
    w.execute(&plan(&p, &v, &BTreeMap::from([(sid(ID), Intent::Absent)])))
        .await
        .unwrap();
    bed.wait_for("the record restored", Duration::from_secs(10), |v| {
        v.owned.get(ID).is_some_and(|o| o.target.weight == 60)
    })
    .await;

    // `wavelb records` cannot fill placeholders: give it the concrete pool name.
    let cfg = bed.config_for(
        &format!("edge.{AZ}.lab.test"),
        "records",
        "",
        &testkit::moto_url(),
    );
    let out = Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "records",
            "quarantine",
            ID,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_quarantined_by_other(&a, 2.0, "the agent did not reconcile twice").await;
    let t = bed.view().await.owned[ID].target.clone();
    assert_eq!(
        (
            t.state,
            t.weight,
            t.by.as_ref().map(registry::model::By::as_str)
        ),
        (TargetState::Quarantined, 0, Some("operator")),
        "never fights it"
    );

    // A restart starts with a blind CREATE (one API call for a new instance): against the
    // strict API it is refused, the agent reads the pool, and the quarantine stands.
    drop(a);
    let b = agent(&cfg, None);
    wait_for_quarantined_by_other(&b, 1.0, "the restarted agent did not reconcile").await;
    let metrics = testkit::http_get(&format!("http://{}/metrics", b.field("metrics")));
    assert_eq!(
        testkit::metric(
            &metrics,
            "wavelb_agent_reconcile_total{outcome=\"created\"}"
        ),
        None,
        "{metrics}"
    );
    let t = bed.view().await.owned[ID].target.clone();
    assert_eq!(
        (
            t.state,
            t.weight,
            t.by.as_ref().map(registry::model::By::as_str)
        ),
        (TargetState::Quarantined, 0, Some("operator")),
        "a restart does not clear it either"
    );
}

/// Smoke test of the notices through a real IMDS (the emulator): an instance in a warm pool
/// (`Warmed:*`) is not registered; `InService` registers it, with its private address published
/// for probes; a Spot notice drains it and the agent stays up until SIGTERM. Every notice and
/// lifecycle state, and their timing, are tested in process on the paused clock
/// (`agent::run::tests`).
#[tokio::test(flavor = "multi_thread")]
async fn the_notices_reach_the_agent_through_imds() {
    let bed = bed(&[]).await;
    bed.imds.set_lifecycle("Warmed:Running");
    let mut a = agent(&bed.config("a", ""), None);
    wait::until(
        "the agent to read the lifecycle state twice",
        Duration::from_secs(15),
        || async {
            let reads = bed.imds.lifecycle_reads();
            if reads >= 2 { Ok(()) } else { Err(reads) }
        },
    )
    .await;
    assert!(
        bed.view().await.owned.is_empty(),
        "a warm pool instance registered"
    );
    bed.imds.set_lifecycle("InService");
    bed.wait_for("registration in service", Duration::from_secs(15), |v| {
        v.owned.contains_key(ID)
    })
    .await;
    // By default the private address is published for probes, without a port (controllers
    // use their own [health.probe] port).
    assert_eq!(
        bed.view().await.owned[ID].target.probe,
        Some(registry::model::ProbeAddr {
            ip: "10.0.0.5".parse().unwrap(),
            port: None
        })
    );
    bed.imds.interrupt_spot();
    bed.wait_for_drain("a Spot notice").await;
    assert!(a.child.try_wait().unwrap().is_none(), "the agent stays up");
    signal(&a, "-TERM");
    assert_eq!(wait_exit(&mut a, Duration::from_secs(10)), Some(0));
}

/// Route 53 gives a weighted group one TTL, the last written. An agent whose `pool.ttl` differs
/// from the pool's keeps the pool's TTL (no flapping), reports the mismatch, and `wavelb records
/// set-ttl` changes the TTL on purpose.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_keeps_the_pools_ttl_and_reports_a_mismatch() {
    let bed = bed(&[]).await;
    let cfg = bed.config("a", "");
    let a = agent(&cfg, None);
    bed.wait_for("registration", Duration::from_secs(15), |v| {
        v.owned.contains_key(ID)
    })
    .await;
    let operator = bed.config_for(
        &agent_pool().name.to_string(),
        "operator",
        "",
        &testkit::moto_url(),
    );
    let set_ttl = |ttl: &str| {
        let out = Command::new(BIN)
            .args([
                "-q",
                "--config",
                operator.to_str().unwrap(),
                "records",
                "set-ttl",
                ttl,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ttl_of = |v: &PoolView| v.owned[ID].address_set.as_ref().and_then(|s| s.ttl);
    assert_eq!(ttl_of(&bed.view().await), Some(2));
    assert!(set_ttl("7").contains("TTL set to 7 on 1 targets"));
    assert_eq!(ttl_of(&bed.view().await), Some(7));

    let base = format!("http://{}/metrics", a.field("metrics"));
    let reconciles = |m: &str| {
        testkit::metric(m, "wavelb_agent_reconcile_total{outcome=\"unchanged\"}").unwrap_or(0.0)
    };
    let seen = reconciles(&testkit::http_get(&base));
    // Two reconciles after the change: each read the pool at 7 and left it there.
    let m = wait::until("two reconciles", Duration::from_secs(15), || async {
        let m = testkit::http_get(&base);
        if reconciles(&m) >= seen + 2.0 {
            Ok(m)
        } else {
            Err(m)
        }
    })
    .await;
    assert!(
        m.contains("wavelb_pool_ttl_mismatch{pool=\"edge.us-east-1-wl1-bos-wlz-1.lab.test\"} 1"),
        "{m}"
    );
    assert_eq!(
        ttl_of(&bed.view().await),
        Some(7),
        "the agent did not flip it back"
    );

    assert!(set_ttl("2").contains("TTL set to 2"));
    assert!(set_ttl("2").contains("the TTL is 2 already"));
    wait::until("the mismatch to clear", Duration::from_secs(15), || async {
        let m = testkit::http_get(&base);
        if m.contains("wavelb_pool_ttl_mismatch{pool=\"edge.us-east-1-wl1-bos-wlz-1.lab.test\"} 0")
        {
            Ok(())
        } else {
            Err(m)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_agents_register_through_a_throttled_api() {
    let bed = bed(&["--api-rate-limit", "5"]).await;
    let agents: Vec<Service> = (0..50)
        .map(|i| {
            let cfg = bed.static_config(&format!("a{i}"), i);
            // Spread the start over 3 s, as an Auto Scaling scale-out would be.
            let text = std::fs::read_to_string(&cfg)
                .unwrap()
                .replace("startup_jitter = \"0s\"", "startup_jitter = \"3s\"")
                .replace(
                    "reconcile_interval = \"1s\"",
                    "reconcile_interval = \"600s\"",
                );
            std::fs::write(&cfg, text).unwrap();
            agent(&cfg, None)
        })
        .collect();
    bed.wait_for("all 50 registered", Duration::from_secs(150), |v| {
        v.owned.len() == 50
    })
    .await;
    let v = bed.view().await;
    assert!(
        v.owned
            .values()
            .all(|o| o.target.state == TargetState::Active && o.target.weight == 60)
    );
    let metrics = testkit::http_get(&format!("http://{}/metrics", bed.resolver.field("metrics")));
    assert!(
        testkit::metric(&metrics, "wavelb_api_throttled_total").unwrap_or(0.0) > 0.0,
        "the storm was throttled"
    );
    // One API call each besides finding the zone: the blind CREATE, no listing.
    for a in &agents {
        let m = testkit::http_get(&format!("http://{}/metrics", a.field("metrics")));
        let ok = |op: &str| {
            testkit::metric(
                &m,
                &format!("wavelb_route53_requests_total{{operation=\"{op}\",outcome=\"ok\"}}"),
            )
        };
        assert_eq!(ok("ChangeResourceRecordSets"), Some(1.0), "{m}");
        assert_eq!(ok("ListResourceRecordSets"), None, "{m}");
    }
    drop(agents);
}

/// Smoke test of the stretch through the SDK writer: its count of throttled requests reaches the
/// agent. The stretch itself (up to 8x, and back) is tested on the paused clock.
#[tokio::test(flavor = "multi_thread")]
async fn reconciles_space_out_while_the_api_throttles_them() {
    // Four agents reconciling every second against 1 request/s: their reads crowd the limit.
    let bed = bed(&["--api-rate-limit", "1"]).await;
    let agents: Vec<Service> = (0..4)
        .map(|i| {
            let cfg = bed.static_config(&format!("s{i}"), i);
            agent(&cfg, None)
        })
        .collect();
    let interval = |a: &Service| {
        testkit::metric(
            &testkit::http_get(&format!("http://{}/metrics", a.field("metrics"))),
            "wavelb_agent_reconcile_interval_seconds",
        )
        .unwrap_or(0.0)
    };
    wait::until(
        "an agent to stretch its reconcile interval",
        Duration::from_secs(60),
        || async {
            let seen: Vec<f64> = agents.iter().map(interval).collect();
            if seen.iter().any(|&i| i >= 2.0) {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await;
    assert!(agents.iter().all(|a| interval(a) <= 8.0), "at most 8x");
}

#[test]
fn bad_configuration_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    for (agent, key) in [
        ("weight = 300", "weight"),
        ("reconcile_interval = \"0s\"", "agent.reconcile_interval"),
        ("wieght = 3", "wieght"),
        ("self_quarantine = true", "agent.self_quarantine"),
    ] {
        std::fs::write(
            &cfg,
            format!("[pool]\nname = \"edge.lab.test\"\nzone = \"lab.test\"\n\n[agent]\n{agent}\n"),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["--config", cfg.to_str().unwrap(), "agent"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{agent}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{agent}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ec2_public_ip_wins_over_imds_against_moto() {
    let (iid, public_ip) = testkit::moto_instance(true);
    let (iid, public_ip) = (iid.as_str(), public_ip.expect("an Elastic IP"));
    let eni = testkit::moto_primary_interface(iid);
    let bed = bed_for(iid, "155.146.99.99", Some(eni), &[]).await;
    let _a = agent(&bed.config("a", ""), None);
    bed.wait_for(
        "registration with the EC2 address",
        Duration::from_secs(20),
        |v| {
            v.owned.get(iid).is_some_and(|o| {
                o.target.addresses == vec![public_ip.parse::<std::net::IpAddr>().unwrap()]
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_skips_the_wait() {
    let bed = bed(&[]).await;
    let cfg = bed.config("a", "");
    // A long TTL: the drain would wait a minute for caches to expire.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("ttl = 2", "ttl = 60");
    std::fs::write(&cfg, text).unwrap();
    let mut a = agent(&cfg, None);
    bed.wait_for("registration", Duration::from_secs(15), |v| {
        v.owned.contains_key(ID)
    })
    .await;
    signal(&a, "-TERM");
    bed.wait_for("draining", Duration::from_secs(10), |v| {
        v.owned
            .get(ID)
            .is_some_and(|o| o.target.state == TargetState::Draining)
    })
    .await;
    let second = Instant::now();
    signal(&a, "-TERM");
    bed.wait_for("deletion", Duration::from_secs(20), |v| {
        !v.owned.contains_key(ID)
    })
    .await;
    assert_eq!(wait_exit(&mut a, Duration::from_secs(10)), Some(0));
    assert!(
        second.elapsed() < Duration::from_secs(30),
        "the TTL wait was skipped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_and_deregister_modes() {
    let bed = bed(&[]).await;
    let cfg = bed.config("a", "");
    let run = |args: &[&str]| {
        let mut full = vec!["-q", "--config", cfg.to_str().unwrap(), "agent"];
        full.extend_from_slice(args);
        Command::new(BIN).args(&full).output().unwrap()
    };
    let out = run(&["--once"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bed.view().await.owned[ID].target.state, TargetState::Active);
    let out = run(&["--deregister"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!bed.view().await.owned.contains_key(ID));
    assert_eq!(run(&["--once"]).status.code(), Some(0));
    let out = run(&["--deregister", "--now"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!bed.view().await.owned.contains_key(ID));
    assert_eq!(
        run(&["--now"]).status.code(),
        Some(2),
        "--now needs --deregister"
    );
}

/// Smoke test of the self-check with a real UDP probe of a local echo service: no registration
/// while it fails. Quarantine and restore by the self-check are tested on the paused clock.
#[tokio::test(flavor = "multi_thread")]
async fn the_self_check_gates_registration() {
    let bed = bed(&[]).await;
    let mut echo = testkit::echo::Echo::start("127.0.0.1:0".parse().unwrap());
    let port = echo.addr.port();
    echo.stop();
    let cfg = bed.config(
        "a",
        &format!(
            "self_quarantine = true\nself_check_rise = 2\nself_check_fall = 2\nself_check_interval = \"200ms\"\n\n[agent.self_check]\nkind = \"udp\"\nport = {port}\nsend = \"ping\"\nexpect = \"ping\"\ntimeout = \"150ms\"\n"
        ),
    );
    let _a = agent(&cfg, None);
    // Not registered while the local service fails its self-check.
    wait::holds(
        "no registration before the self-check passed",
        Duration::from_millis(1500),
        || async { bed.view().await.owned.is_empty() },
    )
    .await;
    echo.resume();
    bed.wait_for(
        "registration once the self-check passes",
        Duration::from_secs(15),
        |v| {
            v.owned
                .get(ID)
                .is_some_and(|o| o.target.state == TargetState::Active)
        },
    )
    .await;
}

/// The 101st instance of a pool: Route 53 refuses a 101st weighted set per name for good. The
/// agent must not take that for a conflict and retry forever: `--once` and the service both exit
/// 2 (the unit's `RestartPreventExitStatus=2`) naming Route 53's reason.
#[tokio::test(flavor = "multi_thread")]
async fn the_101st_instance_of_a_pool_fails_clearly_instead_of_retrying() {
    let bed = bed(&[]).await;
    let p = agent_pool();
    let intents: BTreeMap<SetId, Intent> = (0..100u8)
        .map(|i| {
            let id = format!("i-full{i:03}");
            let addr = std::net::IpAddr::from([198, 51, 100, i]);
            let target = registry::model::Target::active(sid(&id), vec![addr], 10, 1);
            (target.id.clone(), Intent::Present(target))
        })
        .collect();
    writer(&bed.api)
        .await
        .execute(&plan(&p, &bed.view().await, &intents))
        .await
        .unwrap();
    assert_eq!(bed.view().await.owned.len(), 100);

    let cfg = bed.config("a", "");
    for mode in [&["--once"][..], &[]] {
        let mut args = vec!["-q", "--config", cfg.to_str().unwrap(), "agent"];
        args.extend_from_slice(mode);
        let mut child = Command::new(BIN)
            .args(&args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = crate::common::wait_exit(
            &mut child,
            Duration::from_secs(30),
            &format!("agent {mode:?} to give up on a batch Route 53 refuses for good"),
        );
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{mode:?}: {stderr}");
        assert!(
            stderr.contains("re-reading cannot fix"),
            "{mode:?}: {stderr}"
        );
        assert!(stderr.contains("the limit is 100"), "{mode:?}: {stderr}");
    }
    assert_eq!(
        bed.view().await.owned.len(),
        100,
        "nothing else was written"
    );
}
