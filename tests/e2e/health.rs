//! `wavelb health` end to end against the lab resolver: quarantine and restore, the fraction
//! guard, garbage collection of dead targets, and two controllers sharing one leader lease.

use crate::common::writer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::wait;

use registry::model::{Change, PoolSpec, RecordSet, RrType, SetId, Target, TargetState};
use registry::name::Fqdn;
use registry::plan::{ChangeGroup, Intent, Plan, plan};
use registry::pool::{PoolView, classify};
use registry::testing::sid;
use testkit::echo::Echo;
use testkit::process::Service;

const BIN: &str = env!("CARGO_BIN_EXE_wavelb");

pub(crate) struct Lab {
    pub(crate) resolver: Service,
    pub(crate) api: String,
    pub(crate) targets: Vec<Echo>,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
}

/// The lab's pool, `www.lab.test`, as `wavelb lab` and these tests' configurations name it.
pub(crate) fn lab_pool() -> PoolSpec {
    registry::testing::pool_at("www.lab.test", 5, "wavelb-lab")
}

/// A resolver, `n` echo targets on 127.0.0.2x sharing one port, registered with weights 10, 20, …
pub(crate) async fn lab(n: usize) -> Lab {
    lab_with(n, &[]).await
}

/// [`lab`] with `resolver_args` appended to the resolver's command line.
pub(crate) async fn lab_with(n: usize, resolver_args: &[&str]) -> Lab {
    let mut targets: Vec<Echo> = Vec::new();
    let mut port = 0;
    for i in 0..n {
        let e = Echo::start(SocketAddr::from((
            [127, 0, 0, 21 + u8::try_from(i).unwrap()],
            port,
        )));
        port = e.addr.port();
        targets.push(e);
    }
    let records = targets
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Target::active(
                sid(&format!("t{i}")),
                vec![e.addr.ip()],
                u8::try_from(10 * (i + 1)).unwrap(),
                1,
            )
        })
        .collect();
    lab_of(targets, records, resolver_args).await
}

/// A resolver (with `resolver_args`) with `records` registered; `servers` share one port, the
/// probe port.
async fn lab_of(servers: Vec<Echo>, records: Vec<Target>, resolver_args: &[&str]) -> Lab {
    let resolver = testkit::process::resolver(BIN, resolver_args);
    let api = resolver.field("api_url");
    let p = lab_pool();
    let intents: BTreeMap<SetId, Intent> = records
        .into_iter()
        .map(|t| (t.id.clone(), Intent::Present(t)))
        .collect();
    let w = writer(&api).await;
    w.execute(&plan(&p, &classify(&p, &[]), &intents))
        .await
        .unwrap();
    Lab {
        resolver,
        api,
        port: servers[0].addr.port(),
        targets: servers,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Lab {
    pub(crate) fn config(&self, name: &str, extra: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"[pool]
name = "www.lab.test"
zone = "lab.test"
ttl = 5
owner_id = "wavelb-lab"

[route53]
endpoint_url = "{api}"
max_requests_per_second = 100

[health]
interval = "200ms"
timeout = "150ms"
rise = 2
fall = 3
poll_interval = "500ms"
metrics_listen = "127.0.0.1:0"
{extra}

[health.probe]
kind = "udp"
port = {port}
send = "ping"
expect = "ping"
"#,
                api = self.api,
                port = self.port
            ),
        )
        .unwrap();
        path
    }

    pub(crate) fn controller(&self, name: &str, extra: &str) -> Service {
        let cfg = self.config(name, extra);
        Service::spawn_logged(
            BIN,
            &[
                "--config",
                cfg.to_str().unwrap(),
                "health",
                "--controller-id",
                name,
            ],
            &self.log(name),
        )
    }

    /// A second pool, api.lab.test, with two targets of its own (a0, a1 on 127.0.0.`first` and
    /// the next address, weight 50) on the same probe port, registered.
    pub(crate) async fn second_pool(&self, first: u8) -> (PoolSpec, Vec<Echo>) {
        let api_pool = PoolSpec {
            name: Fqdn::parse("api.lab.test").unwrap(),
            ..lab_pool()
        };
        let targets: Vec<Echo> = (0..2)
            .map(|i| Echo::start(SocketAddr::from(([127, 0, 0, first + i], self.port))))
            .collect();
        let intents: BTreeMap<SetId, Intent> = targets
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let t = Target::active(sid(&format!("a{i}")), vec![e.addr.ip()], 50, 1);
                (t.id.clone(), Intent::Present(t))
            })
            .collect();
        writer(&self.api)
            .await
            .execute(&plan(&api_pool, &classify(&api_pool, &[]), &intents))
            .await
            .unwrap();
        (api_pool, targets)
    }

    /// Registers target `id` at `ip` (weight 50) in www.lab.test, with nothing listening there.
    pub(crate) async fn add_silent_target(&self, id: &str, ip: &str) {
        let p = lab_pool();
        let t = Target::active(sid(id), vec![ip.parse().unwrap()], 50, 1);
        let v = self.view().await;
        writer(&self.api)
            .await
            .execute(&plan(
                &p,
                &v,
                &BTreeMap::from([(t.id.clone(), Intent::Present(t))]),
            ))
            .await
            .unwrap();
    }

    /// [`Lab::config`] (with `health` in its `[health]` table) watching www.lab.test and
    /// api.lab.test (`[[pool]]` sections), with `sections` (TOML tables) after them.
    pub(crate) fn two_pools_config(
        &self,
        name: &str,
        health: &str,
        sections: &str,
    ) -> std::path::PathBuf {
        let cfg = self.config(name, health);
        let one = "[pool]\nname = \"www.lab.test\"\nzone = \"lab.test\"\nttl = 5\nowner_id = \"wavelb-lab\"\n";
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.contains(one));
        let two = format!(
            "{}\n{}\n{sections}\n",
            one.replace("[pool]", "[[pool]]"),
            one.replace("[pool]", "[[pool]]")
                .replace("www.lab.test", "api.lab.test")
        );
        std::fs::write(&cfg, text.replace(one, &two)).unwrap();
        cfg
    }

    /// `wavelb health` over [`Lab::two_pools_config`]: its configuration file and the process.
    fn two_pools_controller(
        &self,
        name: &str,
        health: &str,
        sections: &str,
    ) -> (std::path::PathBuf, Service) {
        let cfg = self.two_pools_config(name, health, sections);
        let c = Service::spawn_logged(
            BIN,
            &["--config", cfg.to_str().unwrap(), "health"],
            &self.log(name),
        );
        (cfg, c)
    }

    fn log(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub(crate) async fn view(&self) -> PoolView {
        let p = lab_pool();
        classify(&p, &writer(&self.api).await.list_pool(&p).await.unwrap())
    }

    pub(crate) async fn wait_for(
        &self,
        what: &str,
        deadline: Duration,
        check: impl Fn(&PoolView) -> bool,
    ) -> Duration {
        let start = Instant::now();
        wait::until(what, deadline, || async {
            let v = self.view().await;
            if check(&v) {
                Ok(start.elapsed())
            } else {
                Err(format!("{:?}", v.owned))
            }
        })
        .await
    }

    fn dig(&self, n: usize) -> Vec<String> {
        let dns = self.resolver.dns();
        let (host, port) = dns.rsplit_once(':').unwrap();
        let mut args = vec![format!("@{host}"), "-p".into(), port.into()];
        for _ in 0..n {
            args.extend(["www.lab.test".into(), "+short".into()]);
        }
        let out = Command::new("dig").args(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

pub(crate) fn state(v: &PoolView, id: &str) -> (u8, u8, TargetState) {
    let t = &v.owned[id].target;
    (t.weight, t.wanted_weight, t.state)
}

pub(crate) fn metrics(s: &Service) -> String {
    testkit::http_get(&format!("http://{}/metrics", s.field("metrics")))
}

/// Polls `s`'s metrics until `done` holds for them (at most `within`) and returns them; the
/// timeout names `what` and shows the last metrics read.
pub(crate) async fn wait_metrics(
    s: &Service,
    what: &str,
    within: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    wait::until(what, within, || async {
        let m = metrics(s);
        if done(&m) { Ok(m) } else { Err(m) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_target_is_quarantined_and_restored_with_its_weight() {
    let mut lab = lab(4).await;
    let c = lab.controller("c1", "");
    // Everyone healthy first (rise = 2 probes), so the stop below is what is measured.
    wait_metrics(
        &c,
        "targets to become healthy",
        Duration::from_secs(10),
        |m| m.contains("wavelb_target_healthy{pool=\"www.lab.test\",target=\"t3\"} 1"),
    )
    .await;
    lab.targets[1].stop();
    // fall × interval + one round (500ms), with slack for a loaded CI machine.
    let took = lab
        .wait_for("t1 quarantined", Duration::from_secs(10), |v| {
            state(v, "t1") == (0, 20, TargetState::Quarantined)
        })
        .await;
    assert!(
        took < Duration::from_millis(600 + 500 + 4000),
        "quarantine took {took:?}"
    );
    assert_eq!(
        state(&lab.view().await, "t0"),
        (10, 10, TargetState::Active)
    );
    assert!(
        lab.dig(40).iter().all(|a| a != "127.0.0.22"),
        "a quarantined target is not answered"
    );
    let text = metrics(&c);
    assert_eq!(
        testkit::metric(&text, "wavelb_health_transitions_total{direction=\"down\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("wavelb_probe_failures_total{kind=\"udp\",reason=\"refused\"}"),
        "{text}"
    );
    assert_eq!(
        testkit::metric(&text, "wavelb_health_leader{pool=\"www.lab.test\"}"),
        Some(1.0)
    );

    lab.targets[1].resume();
    lab.wait_for("t1 restored", Duration::from_secs(10), |v| {
        state(v, "t1") == (20, 20, TargetState::Active)
    })
    .await;
    assert_eq!(lab.view().await.owned["t1"].target.by, None);
}

/// Wavelength zones admit no inbound traffic from outside the carrier network: a controller in
/// the Region reaches targets only at their private addresses. By default it probes the
/// `probe=` an agent publishes (with its own port, or at `[health.probe] port` when it names
/// none); probing the published addresses instead sees every target dead.
#[tokio::test(flavor = "multi_thread")]
async fn targets_are_probed_at_their_private_probe_address_by_default() {
    async fn carrier_lab() -> Lab {
        let private = Echo::start(SocketAddr::from(([127, 0, 0, 31], 0)));
        let port = private.addr.port();
        let other = Echo::start(SocketAddr::from(([127, 0, 0, 32], port)));
        // The published "Carrier IPs" answer nothing, as seen from a Region subnet.
        let mut t0 = Target::active(sid("t0"), vec!["127.0.0.41".parse().unwrap()], 10, 1);
        t0.probe = Some(private.addr.ip().into());
        let mut t1 = Target::active(sid("t1"), vec!["127.0.0.42".parse().unwrap()], 20, 1);
        t1.probe = Some(other.addr.into());
        lab_of(vec![private, other], vec![t0, t1], &[]).await
    }
    let lab = carrier_lab().await;
    let c = lab.controller("c1", "");
    wait_metrics(&c, "healthy via probe=", Duration::from_secs(10), |m| {
        ["t0", "t1"].iter().all(|t| {
            m.contains(&format!(
                "wavelb_target_healthy{{pool=\"www.lab.test\",target=\"{t}\"}} 1"
            ))
        })
    })
    .await;
    let v = lab.view().await;
    assert_eq!(state(&v, "t0"), (10, 10, TargetState::Active));
    assert_eq!(state(&v, "t1"), (20, 20, TargetState::Active));

    let published = carrier_lab().await;
    let _c = published.controller("c2", "probe_via = \"published\"");
    published
        .wait_for(
            "a quarantine (up to the guard) through the unreachable published addresses",
            Duration::from_secs(10),
            |v| {
                v.owned
                    .values()
                    .filter(|o| o.target.state == TargetState::Quarantined)
                    .count()
                    == 1
            },
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_process_watches_several_pools() {
    let lab = lab(2).await;
    let (api_pool, mut api_targets) = lab.second_pool(31).await;
    let w = writer(&lab.api).await;
    let (_, c) = lab.two_pools_controller("multi", "", "");
    assert_eq!(
        c.ready["pools"],
        serde_json::json!(["www.lab.test", "api.lab.test"])
    );
    wait_metrics(
        &c,
        "targets to become healthy",
        Duration::from_secs(10),
        |m| {
            ["t1", "a1"]
                .iter()
                .all(|t| m.contains(&format!("target=\"{t}\"}} 1")))
        },
    )
    .await;
    api_targets[1].stop();
    let v = wait::until("a1 quarantined", Duration::from_secs(10), || async {
        let v = classify(&api_pool, &w.list_pool(&api_pool).await.unwrap());
        if v.owned["a1"].target.state == TargetState::Quarantined {
            Ok(v)
        } else {
            Err(format!("{:?}", v.owned))
        }
    })
    .await;
    assert_eq!(v.owned["a0"].target.state, TargetState::Active);
    assert!(
        lab.view()
            .await
            .owned
            .values()
            .all(|o| o.target.state == TargetState::Active),
        "the other pool is untouched"
    );
    let text = metrics(&c);
    for pool in ["www.lab.test", "api.lab.test"] {
        assert_eq!(
            testkit::metric(&text, &format!("wavelb_health_leader{{pool=\"{pool}\"}}")),
            Some(1.0),
            "{text}"
        );
    }
}

/// Smoke test of the pool's guards as clients see them, through the lab resolver's answers. With
/// three of four targets dead the fraction guard keeps half the pool quarantined at most (the
/// panic is raised and logged) and the live one answered; with all four dead, `fail_closed`
/// parks the pool and nothing is answered; the first to come back is answered alone. The
/// decisions and their timing are tested in process (`health::decide`, `health::controller`).
#[tokio::test(flavor = "multi_thread")]
async fn the_guards_hold_in_the_answers() {
    let mut lab = lab(4).await;
    let c = lab.controller("c1", "all_down = \"fail_closed\"");
    for t in lab.targets.iter_mut().take(3) {
        t.stop();
    }
    lab.wait_for("two quarantined", Duration::from_secs(10), |v| {
        v.owned
            .values()
            .filter(|o| o.target.state == TargetState::Quarantined)
            .count()
            == 2
    })
    .await;
    wait_metrics(&c, "the panic metric", Duration::from_secs(10), |m| {
        testkit::metric(m, "wavelb_health_panic{pool=\"www.lab.test\"}") == Some(1.0)
    })
    .await;
    let answers = lab.dig(40);
    assert!(
        answers.iter().any(|a| a == "127.0.0.24"),
        "the healthy target is still answered: {answers:?}"
    );
    assert_eq!(
        testkit::metric(
            &metrics(&c),
            "wavelb_health_quarantined{pool=\"www.lab.test\"}"
        ),
        Some(2.0)
    );
    let log = std::fs::read_to_string(lab.log("c1")).unwrap();
    assert!(
        log.contains("PANIC: more targets failed than may be quarantined"),
        "{log}"
    );

    lab.targets[3].stop();
    lab.wait_for("every target parked", Duration::from_secs(10), |v| {
        v.owned
            .values()
            .all(|o| o.target.parked && o.address_set.is_none())
    })
    .await;
    assert!(
        lab.dig(5).is_empty(),
        "no addresses are answered while everything is down"
    );
    lab.targets[1].resume();
    lab.wait_for("t1 back", Duration::from_secs(10), |v| {
        state(v, "t1") == (20, 20, TargetState::Active)
            && v.owned.values().all(|o| !o.target.parked)
    })
    .await;
    assert!(lab.dig(20).iter().all(|a| a == "127.0.0.22"));
}

/// Smoke test of leadership between processes: a leader lease someone else wrote that never
/// expires (`expires=u64::MAX`) is taken over and counted; of two controllers exactly one leads;
/// when it is killed, the other takes over once the lease lapses, handles a failure, and holds
/// the lease. Leases and takeovers are tested in process (`health::lease`, `health::leader`,
/// `health::controller`).
#[tokio::test(flavor = "multi_thread")]
async fn leadership_moves_between_processes() {
    let mut lab = lab(4).await;
    let p = lab_pool();
    let forged = txt(
        p.leader_name(),
        None,
        &format!(r#""holder=attacker" "expires={}""#, u64::MAX),
    );
    raw_write(&lab.api, vec![Change::create(forged)]).await;
    let extra = "lease_ttl = \"2s\"";
    let mut a = lab.controller("ctl-a", extra);
    let mut b = lab.controller("ctl-b", extra);
    let leader_of =
        |s: &Service| testkit::metric(&metrics(s), "wavelb_health_leader{pool=\"www.lab.test\"}");
    let a_leads = wait::until("a single leader", Duration::from_secs(15), || async {
        match (leader_of(&a), leader_of(&b)) {
            (Some(1.0), Some(0.0)) => Ok(true),
            (Some(0.0), Some(1.0)) => Ok(false),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (leader, follower, leader_log, follower_log) = if a_leads {
        (&mut a, &mut b, lab.log("ctl-a"), lab.log("ctl-b"))
    } else {
        (&mut b, &mut a, lab.log("ctl-b"), lab.log("ctl-a"))
    };
    // Whichever controller read the forged lease first took it over, and counted and logged it.
    let implausible: f64 = [&*leader, &*follower]
        .iter()
        .filter_map(|s| {
            testkit::metric(
                &metrics(s),
                "wavelb_health_lease_implausible_total{pool=\"www.lab.test\"}",
            )
        })
        .sum();
    assert!(implausible >= 1.0, "{implausible}");
    let logs = [leader_log, follower_log].map(|l| std::fs::read_to_string(l).unwrap());
    assert!(
        logs.iter().any(|l| l.contains("implausibly far ahead")),
        "{logs:?}"
    );
    wait::holds("the same single leader", Duration::from_secs(1), || async {
        match (leader_of(leader), leader_of(follower)) {
            (Some(1.0), Some(0.0)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let follower_id = follower.field("controller_id");
    leader.kill();
    lab.targets[0].stop();
    lab.wait_for(
        "t0 quarantined by the new leader",
        Duration::from_secs(15),
        |v| state(v, "t0") == (0, 10, TargetState::Quarantined),
    )
    .await;
    assert_eq!(leader_of(follower), Some(1.0));
    let sets = writer(&lab.api).await.list_pool(&p).await.unwrap();
    let lease = sets.iter().find(|s| s.name == p.leader_name()).unwrap();
    assert!(
        lease.values[0].contains(&format!("holder={follower_id}")),
        "{lease:?}"
    );
    // Nothing else changed, and nothing was quarantined twice over.
    let v = lab.view().await;
    let quarantined = v
        .owned
        .values()
        .filter(|o| o.target.state == TargetState::Quarantined)
        .count();
    assert_eq!(quarantined, 1, "{:?}", v.owned);
}

/// With `[ec2]`, garbage collection deletes a long-quarantined target only when EC2 says its
/// instance is gone (moto: a running instance is kept; an id EC2 does not know is deleted).
#[tokio::test(flavor = "multi_thread")]
async fn garbage_collection_asks_ec2_whether_the_instance_is_gone() {
    let moto = testkit::moto_url();
    let (live, _) = testkit::moto_instance(false);
    let live = live.as_str();
    let mut lab = lab(4).await;
    // A fifth target named after the live instance, with nothing listening at its address.
    lab.add_silent_target(live, "127.0.0.25").await;
    let extra =
        format!("gc_after = \"1s\"\n\n[ec2]\nendpoint_url = \"{moto}\"\nregion = \"us-east-1\"");
    let c = lab.controller("c1", &extra);
    lab.targets[2].stop();
    lab.wait_for("t2 deleted", Duration::from_secs(15), |v| {
        !v.owned.contains_key("t2")
    })
    .await;
    wait_gc_deleted(&c, Duration::from_secs(10)).await;
    // Several more rounds: the live instance's target stays, quarantined, and nothing more is
    // collected.
    wait::holds(
        "the live instance's target kept, quarantined",
        Duration::from_millis(2000),
        || async {
            let v = lab.view().await;
            let kept = v.owned[live].target.state == TargetState::Quarantined
                && testkit::metric(&metrics(&c), "wavelb_gc_deleted_total") == Some(1.0);
            if kept {
                Ok(())
            } else {
                Err(format!("{:?}\n{}", v.owned, metrics(&c)))
            }
        },
    )
    .await;
    // The collected target's records are gone whole: no companion left behind as foreign.
    let v = lab.view().await;
    assert_eq!(v.owned.len(), 4, "{:?}", v.owned);
    assert!(v.foreign.is_empty(), "{:?}", v.foreign);
}

/// Waits (at most `within`) until controller `c` has collected exactly one target.
async fn wait_gc_deleted(c: &Service, within: Duration) {
    wait_metrics(c, "the gc metric at 1", within, |m| {
        testkit::metric(m, "wavelb_gc_deleted_total") == Some(1.0)
    })
    .await;
}

/// Issue 25, item 3: EC2 answers for its own Region only, so garbage collection asks each pool's
/// own Region (its tier zone's parent Region), not `[ec2] region`. The pool www.lab.test is in a
/// us-west-2 zone; a live us-west-2 instance's target there stays quarantined (us-east-1, the
/// `[ec2] region`, would answer NotFound for it, and it would be deleted), while a target whose
/// instance us-west-2 does not know is collected.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_collection_asks_each_pools_own_region() {
    let moto = testkit::moto_url();
    let (live, _) = testkit::moto_instance_in("us-west-2", false);
    let live = live.as_str();
    let mut lab = lab(4).await;
    let (_, _api) = lab.second_pool(41).await;
    lab.add_silent_target(live, "127.0.0.25").await;
    // The tier spans two Regions: this test's controller reaches both (loopback), and says so.
    let (_, c) = lab.two_pools_controller(
        "gc-regions",
        "gc_after = \"1s\"\nprobe_across_regions = true",
        &format!(
            "[global]\nname = \"edge.lab.test\"\n\
             [[global.zone]]\npool = \"www.lab.test\"\nwavelength_zone = \"usw2-wl1-las-wlz1\"\n\
             [[global.zone]]\npool = \"api.lab.test\"\nwavelength_zone = \"us-east-1-wl1-bos-wlz-1\"\n\
             [ec2]\nendpoint_url = \"{moto}\"\nregion = \"us-east-1\"\n"
        ),
    );
    lab.targets[2].stop();
    lab.wait_for("t2 deleted", Duration::from_secs(15), |v| {
        !v.owned.contains_key("t2")
    })
    .await;
    // Both pools' rounds keep running past several gc_after: the live instance's target stays.
    wait_rounds(&c, 12.0).await;
    let v = lab.view().await;
    assert_eq!(
        v.owned[live].target.state,
        TargetState::Quarantined,
        "{:?}",
        v.owned
    );
    let log = std::fs::read_to_string(lab.log("gc-regions")).unwrap();
    assert!(
        log.contains("garbage collection asks EC2 in the pool's zone's Region")
            && log.contains("us-west-2"),
        "{log}"
    );
}

/// With `[ec2]` but no region anywhere (no `region`, no AWS_REGION, no profile), the
/// controller refuses to start instead of guessing one.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_collection_never_guesses_the_ec2_region() {
    let lab = lab(1).await;
    let cfg = lab.config("noregion", "\n[ec2]\nendpoint_url = \"http://127.0.0.1:9\"");
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "health"])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", lab.dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            lab.dir.path().join("no-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no region for EC2"), "{err}");
}

/// Writes `changes` exactly as given, as anyone with write access to the zone can: no planner,
/// no ownership checks.
async fn raw_write(api: &str, changes: Vec<Change>) {
    writer(api)
        .await
        .execute(&Plan {
            groups: vec![ChangeGroup {
                target_id: sid("raw"),
                changes,
            }],
            skipped: Vec::new(),
            guard: None,
        })
        .await
        .unwrap();
}

/// A TXT record set at `name` with one value.
fn txt(name: Fqdn, set_id: Option<&str>, value: &str) -> RecordSet {
    RecordSet {
        name,
        rtype: RrType::Txt,
        weight: set_id.map(|_| 0),
        set_identifier: set_id.map(str::to_owned),
        ttl: Some(5),
        values: vec![value.into()],
        alias: None,
        geo: None,
        cidr: None,
        multivalue: false,
        opaque: None,
        health_check_id: None,
    }
}

/// Waits (bounded) until controller `c` has read the pool `n` more times.
async fn wait_rounds(c: &Service, n: f64) {
    let lists = || {
        testkit::metric(
            &metrics(c),
            "wavelb_route53_requests_total{operation=\"ListResourceRecordSets\",outcome=\"ok\"}",
        )
        .unwrap_or(0.0)
    };
    let until = lists() + n;
    wait::until("rounds", Duration::from_secs(20), || async {
        if lists() >= until {
            Ok(())
        } else {
            Err(metrics(c))
        }
    })
    .await;
}

/// Issue 11: a TXT written beside another team's address record, claiming it for this owner as
/// quarantined since 1970 (`since=0`), never makes the controller delete that record, even well
/// past `gc_after` — while a real dead target of the same pool is collected in the same run.
#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_quarantine_never_deletes_a_foreign_record() {
    let mut lab = lab(4).await;
    let p = lab_pool();
    // Another team's record in the weighted group, nothing answering at its address.
    let theirs = Target::active(
        sid("other-team"),
        vec!["127.0.0.40".parse().unwrap()],
        10,
        1,
    );
    let foreign = theirs.address_record(&p);
    let forged = txt(
        p.ownership_name(),
        Some("other-team"),
        r#""v=1" "owner=wavelb-lab" "weight=10" "state=quarantined" "since=0" "by=health""#,
    );
    raw_write(
        &lab.api,
        vec![
            Change::create(foreign.clone()),
            Change::create(forged.clone()),
        ],
    )
    .await;
    let c = lab.controller("c1", "gc_after = \"1s\"");
    lab.targets[2].stop();
    lab.wait_for("t2 collected", Duration::from_secs(20), |v| {
        !v.owned.contains_key("t2")
    })
    .await;
    // Six more rounds of 500ms: three times gc_after, and `since=0` is decades old.
    wait_rounds(&c, 6.0).await;
    let sets = writer(&lab.api).await.list_pool(&p).await.unwrap();
    assert!(
        sets.contains(&foreign),
        "the foreign address record is untouched: {sets:?}"
    );
    assert!(sets.iter().any(|s| s.key() == forged.key()), "{sets:?}");
    let v = classify(&p, &sets);
    assert!(v.is_foreign("other-team"), "{:?}", v.foreign);
    assert_eq!(v.owned.len(), 3);
    assert_eq!(
        testkit::metric(&metrics(&c), "wavelb_gc_deleted_total"),
        Some(1.0),
        "only t2 was collected"
    );
}

/// Issue 11: a TXT-only set claiming a parked target of this owner (`parked=127.0.0.1
/// weight=255`, quarantined by `health`) never makes the controller publish an address record,
/// although something answers probes at that address and the controller leads and writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_parked_record_is_never_published() {
    let mut lab = lab(4).await;
    let _answers = Echo::start(SocketAddr::from(([127, 0, 0, 1], lab.port)));
    let p = lab_pool();
    let forged = txt(
        p.ownership_name(),
        Some("evil"),
        r#""v=1" "owner=wavelb-lab" "weight=255" "state=quarantined" "since=0" "by=health" "parked=127.0.0.1""#,
    );
    raw_write(&lab.api, vec![Change::create(forged.clone())]).await;
    let c = lab.controller("c1", "");
    // The claimed address answers: without the fix this is where it would be restored.
    wait_metrics(&c, "evil probed", Duration::from_secs(10), |m| {
        m.contains("wavelb_target_healthy{pool=\"www.lab.test\",target=\"evil\"} 1")
    })
    .await;
    // The controller leads and writes: a real failure is quarantined.
    lab.targets[1].stop();
    lab.wait_for("t1 quarantined", Duration::from_secs(10), |v| {
        assert!(
            v.owned["evil"].address_set.is_none(),
            "an address record appeared: {:?}",
            v.owned["evil"]
        );
        state(v, "t1") == (0, 20, TargetState::Quarantined)
    })
    .await;
    wait_rounds(&c, 4.0).await;
    let v = lab.view().await;
    assert!(
        v.owned["evil"].address_set.is_none(),
        "{:?}",
        v.owned["evil"]
    );
    assert!(v.owned["evil"].target.parked);
    assert!(
        lab.dig(20).iter().all(|a| a != "127.0.0.1"),
        "the claimed address is never answered"
    );
}

/// `wavelb records list --json` with `cfg`, parsed.
pub(crate) fn records_json(cfg: &std::path::Path) -> serde_json::Value {
    let out = Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "records",
            "list",
            "--json",
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "records list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `records list` with `cfg` until `check` holds (20 s at most); returns that listing.
/// The controller `c`'s metrics are shown if it never does.
pub(crate) fn wait_for_tier(
    cfg: &std::path::Path,
    c: &Service,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait::until_blocking(what, Duration::from_secs(20), || {
        let listing = records_json(cfg);
        if check(&listing) {
            Ok(listing)
        } else {
            Err(format!("the tier is {listing:#}\n{}", metrics(c)))
        }
    })
}

/// The zones `records list` shows in the tier.
pub(crate) fn tier_in(listing: &serde_json::Value) -> Vec<String> {
    listing["zones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["in_tier"] == serde_json::json!(true))
        .map(|z| z["zone"].as_str().unwrap().to_owned())
        .collect()
}

/// Issue 25, item 7: the tier may be the hosted zone's own name, and a zone may be named by its
/// Zone ID (`use1-wl1-bos-wlz1`): it is published under its Zone Name, placed by the table.
#[tokio::test(flavor = "multi_thread")]
async fn a_tier_at_the_zone_apex_with_a_zone_id_goes_live_through_the_lab_api() {
    let lab = lab(2).await;
    let (_, _nyc) = lab.second_pool(41).await;
    let (cfg, c) = lab.two_pools_controller(
        "apex",
        "",
        "[global]\nname = \"lab.test\"\n\
         [[global.zone]]\npool = \"www.lab.test\"\nwavelength_zone = \"use1-wl1-bos-wlz1\"\n\
         [[global.zone]]\npool = \"api.lab.test\"\nwavelength_zone = \"us-east-1-wl1-nyc-wlz-1\"\n",
    );
    let listing = wait_for_tier(&cfg, &c, "both zones in at the apex", |l| {
        tier_in(l) == ["us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"]
    });
    let boston = geo::wavelength_zone("us-east-1-wl1-bos-wlz-1").unwrap();
    let (lat, lon) = boston.coordinates.route53_strings();
    assert_eq!(
        listing["zones"][0]["coordinates"],
        serde_json::json!([lat, lon]),
        "{listing:#}"
    );
    assert_eq!(listing["zones"][0]["target"], "www.lab.test");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zone_tier_follows_its_pools_through_the_strict_lab_api() {
    // Zone "bos" is www.lab.test (t0, t1); zone "nyc" is api.lab.test (a0, a1).
    let mut lab = lab(2).await;
    let (_, mut nyc) = lab.second_pool(41).await;
    let (cfg, c) = lab.two_pools_controller(
        "tier", "",
        "[global]\nname = \"edge.lab.test\"\nreturn_after = \"2s\"\n\
         [[global.zone]]\npool = \"www.lab.test\"\nwavelength_zone = \"bos\"\ncoordinates = [42.36, -71.06]\n\
         [[global.zone]]\npool = \"api.lab.test\"\nwavelength_zone = \"nyc\"\ncoordinates = [40.71, -74.01]\nbias = -20\n",
    );
    let wait = |what: &str, want: &[&str]| wait_for_tier(&cfg, &c, what, |l| tier_in(l) == want);
    let listing = wait("both zones in", &["bos", "nyc"]);
    let nyc_row = &listing["zones"][1];
    assert_eq!(
        nyc_row["coordinates"],
        serde_json::json!(["40.71", "-74.01"])
    );
    assert_eq!(
        (nyc_row["bias"].as_i64(), nyc_row["target"].as_str()),
        (Some(-20), Some("api.lab.test"))
    );
    assert_eq!(nyc_row["why"], "healthy");
    // Every target of bos dies: the zone leaves the tier, with its reason recorded.
    for t in &mut lab.targets {
        t.stop();
    }
    let listing = wait("bos out", &["nyc"]);
    assert_eq!(listing["zones"][0]["why"], "below-min-healthy");
    assert_eq!(
        testkit::metric(
            &metrics(&c),
            "wavelb_tier_in{tier=\"edge.lab.test\",zone=\"bos\"}"
        ),
        Some(0.0)
    );
    // It comes back after return_after.
    let port = lab.port;
    lab.targets = (0..2)
        .map(|i| Echo::start(SocketAddr::from(([127, 0, 0, 21 + i], port))))
        .collect();
    wait("bos back", &["bos", "nyc"]);
    // Every zone dies: the tier never goes empty; the healthiest zone stays, and says why.
    for t in lab.targets.iter_mut().chain(nyc.iter_mut()) {
        t.stop();
    }
    let kept = |l: &serde_json::Value| -> Vec<serde_json::Value> {
        let zones = l["zones"].as_array().unwrap().iter();
        zones
            .filter(|z| z["why"] == "kept-healthiest")
            .cloned()
            .collect()
    };
    let listing = wait_for_tier(&cfg, &c, "a zone kept", |l| kept(l).len() == 1);
    assert_eq!(tier_in(&listing).len(), 1, "{listing:#}");
    assert_eq!(kept(&listing)[0]["in_tier"], serde_json::json!(true));
    assert_eq!(
        testkit::metric(&metrics(&c), "wavelb_tier_kept{tier=\"edge.lab.test\"}"),
        Some(1.0)
    );
}

/// Issue 25, item 5, through the binary and the lab's strict API (an alias to a name without
/// records is refused, as Route 53 refuses it): a zone whose pool empties leaves the tier at
/// once (`why=empty-pool`) while the other stays, and a regional fallback the lab refuses never
/// blocks the zones' changes nor empties the tier: the healthiest zone is kept, and the refusal
/// is counted and logged with its zone.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_pool_or_a_refused_fallback_never_blocks_the_tier() {
    // Zone "bos" is www.lab.test (t0, t1); zone "nyc" is api.lab.test (a0, a1).
    let mut lab = lab(2).await;
    let (api_pool, _nyc) = lab.second_pool(41).await;
    let (cfg, c) = lab.two_pools_controller(
        "tier", "",
        "[global]\nname = \"edge.lab.test\"\n\
         fallback = { name = \"regional.lab.test\", coordinates = [38.9, -77.0] }\n\
         [[global.zone]]\npool = \"www.lab.test\"\nwavelength_zone = \"bos\"\ncoordinates = [42.36, -71.06]\n\
         [[global.zone]]\npool = \"api.lab.test\"\nwavelength_zone = \"nyc\"\ncoordinates = [40.71, -74.01]\n",
    );
    wait_for_tier(&cfg, &c, "both zones in", |l| tier_in(l) == ["bos", "nyc"]);
    // nyc's pool loses every record (its targets still answer probes): it leaves at once.
    let sets = writer(&lab.api).await.list_pool(&api_pool).await.unwrap();
    let all: Vec<Change> = sets
        .into_iter()
        .filter(|s| {
            s.set_identifier
                .as_deref()
                .is_some_and(|id| id.starts_with('a'))
        })
        .map(Change::delete)
        .collect();
    assert_eq!(all.len(), 4, "a0 and a1: address and ownership records");
    raw_write(&lab.api, all).await;
    let listing = wait_for_tier(&cfg, &c, "nyc out", |l| tier_in(l) == ["bos"]);
    assert_eq!(listing["zones"][1]["why"], "empty-pool", "{listing:#}");
    // Every target of bos dies: the fallback would replace it, but its alias has no target.
    // bos is not taken out for it; it is kept as the healthiest zone with records.
    for t in &mut lab.targets {
        t.stop();
    }
    let rejected = "wavelb_tier_rejected_changes_total{tier=\"edge.lab.test\",zone=\"fallback\"}";
    wait::until_blocking("a refused change", Duration::from_secs(20), || {
        let m = metrics(&c);
        if testkit::metric(&m, rejected).unwrap_or(0.0) >= 1.0 {
            Ok(())
        } else {
            Err(m)
        }
    });
    let listing = wait_for_tier(&cfg, &c, "bos kept", |l| {
        l["zones"][0]["why"] == "kept-healthiest"
    });
    assert_eq!(tier_in(&listing), ["bos"], "{listing:#}");
    wait::holds_blocking(
        "the tier never empty, bos in",
        Duration::from_secs(1),
        || {
            let listing = records_json(&cfg);
            if tier_in(&listing) == ["bos"] {
                Ok(())
            } else {
                Err(format!("{listing:#}"))
            }
        },
    );
    let log = std::fs::read_to_string(lab.log("tier")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("refused this zone's change to the tier")
                && l.contains("fallback")
                && l.contains("that target was not found")),
        "{log}"
    );
}

/// Issue 23, item 7: a target deleted through the Route 53 API (as an operator or a GC would)
/// takes its `wavelb_target_healthy` series with it; the other targets' stay.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_deleted_through_the_api_disappears_from_metrics() {
    let lab = lab(3).await;
    let c = lab.controller("c1", "");
    let series = |t: &str| format!("wavelb_target_healthy{{pool=\"www.lab.test\",target=\"{t}\"}}");
    wait_metrics(&c, "all healthy", Duration::from_secs(10), |m| {
        (0..3).all(|i| m.contains(&format!("{} 1", series(&format!("t{i}")))))
    })
    .await;
    let p = lab_pool();
    let sets = writer(&lab.api).await.list_pool(&p).await.unwrap();
    let t1: Vec<Change> = sets
        .into_iter()
        .filter(|s| s.set_identifier.as_deref() == Some("t1"))
        .map(Change::delete)
        .collect();
    assert_eq!(t1.len(), 2, "t1's address and ownership records");
    raw_write(&lab.api, t1).await;
    let text = wait_metrics(&c, "t1's series to go", Duration::from_secs(10), |m| {
        !m.contains(&series("t1"))
    })
    .await;
    assert!(text.contains(&format!("{} 1", series("t0"))), "{text}");
    assert!(text.contains(&format!("{} 1", series("t2"))), "{text}");
}

/// `wavelb health --check-config` with the configuration at `path`: it must succeed; its stdout
/// and stderr.
fn check_config(path: &std::path::Path) -> (String, String) {
    check_config_with(path, &[])
}

/// `wavelb health --check-config` on `path`, refused as a usage error: its stderr.
fn check_config_refused(path: &std::path::Path) -> String {
    run_check_config(path, &[], 2).1
}

/// [`check_config`] with more flags after `--check-config`.
fn check_config_with(path: &std::path::Path, flags: &[&str]) -> (String, String) {
    run_check_config(path, flags, 0)
}

/// `wavelb health --check-config FLAGS…` on `path`, which must exit with `code`: its stdout and
/// stderr.
fn run_check_config(path: &std::path::Path, flags: &[&str], code: i32) -> (String, String) {
    let out = Command::new(BIN)
        .args([
            "--config",
            path.to_str().unwrap(),
            "health",
            "--check-config",
        ])
        .args(flags)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// Issue 23, item 8: `wavelb health --check-config` warns when `[global]` runs without an
/// ownership key (anyone with zone write access can then pin a zone), and is quiet with one.
#[test]
fn check_config_warns_about_a_tier_without_an_ownership_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let config = |first_pool_extra: &str| {
        let path = dir.path().join("tier.toml");
        std::fs::write(
            &path,
            format!(
                r#"[[pool]]
name = "www.lab.test"
zone = "lab.test"
{first_pool_extra}

[[pool]]
name = "api.lab.test"
zone = "lab.test"

[health]
[health.probe]
kind = "udp"
port = 4000
send = "ping"
expect = "ping"

[global]
name = "edge.lab.test"

[[global.zone]]
pool = "www.lab.test"
wavelength_zone = "bos"
coordinates = [42.36, -71.06]

[[global.zone]]
pool = "api.lab.test"
wavelength_zone = "nyc"
coordinates = [40.71, -74.01]
"#
            ),
        )
        .unwrap();
        check_config(&path).1
    };
    let unsigned = config("");
    assert!(
        unsigned.contains("warning: [global] edge.lab.test")
            && unsigned.contains("without an ownership key")
            && unsigned.contains("ownership_key_file in the [[pool]] www.lab.test"),
        "{unsigned}"
    );
    let signed = config(&format!("ownership_key_file = {:?}", key.to_str().unwrap()));
    assert!(!signed.contains("ownership key"), "{signed}");
}

/// Issue 25, item 3: one `wavelb health` probes every pool of its tier at their private
/// addresses, which it reaches only inside its own VPC: `--check-config` refuses a tier over two
/// parent Regions (exit 2, naming both), unless `[health] probe_across_regions = true`.
#[test]
fn check_config_refuses_a_tier_over_two_regions_unless_told_the_path_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("us.toml");
    let write = |health: &str| {
        std::fs::write(
            &path,
            format!(
                "[[pool]]\nname = \"www.lab.test\"\nzone = \"lab.test\"\n\
                 [[pool]]\nname = \"api.lab.test\"\nzone = \"lab.test\"\n\
                 [health]\n{health}\n[health.probe]\nkind = \"udp\"\nport = 4000\n\
                 send = \"ping\"\nexpect = \"ping\"\n\
                 [global]\nname = \"edge.lab.test\"\n\
                 [[global.zone]]\npool = \"www.lab.test\"\nwavelength_zone = \"us-east-1-wl1-bos-wlz-1\"\n\
                 [[global.zone]]\npool = \"api.lab.test\"\nwavelength_zone = \"usw2-wl1-las-wlz1\"\n"
            ),
        )
        .unwrap();
    };
    write("");
    let stderr = check_config_refused(&path);
    assert!(
        stderr.contains(
            "us-east-1 (us-east-1-wl1-bos-wlz-1) and us-west-2 (us-west-2-wl1-las-wlz-1)"
        ) && stderr.contains("probe_across_regions = true"),
        "{stderr}"
    );
    write("probe_across_regions = true");
    let (stdout, _) = check_config(&path);
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    // Issue 25, item 3: a tier controller that watches none of the pools (it reads their
    // recorded health), or one Region's, probes no other Region; the pools it reads must be
    // signed, or anyone with write access to the zone could take a zone out.
    write("watch = []");
    let stderr = check_config_refused(&path);
    assert!(
        stderr.contains("leaves the tier's pool www.lab.test to its recorded health")
            && stderr.contains("ownership_key_file"),
        "{stderr}"
    );
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "zone = \"lab.test\"\n",
        &format!(
            "zone = \"lab.test\"\nownership_key_file = {:?}\n",
            key.to_str().unwrap()
        ),
    );
    std::fs::write(&path, &text).unwrap();
    let (stdout, _) = check_config(&path);
    assert!(
        stdout.contains("configuration is valid: no pool watched here"),
        "{stdout}"
    );
    std::fs::write(
        &path,
        text.replace("watch = []", "watch = [\"www.lab.test\"]"),
    )
    .unwrap();
    let (stdout, _) = check_config(&path);
    assert!(
        stdout.contains("pool www.lab.test probed with udp"),
        "{stdout}"
    );
    write("watch = [\"nope.lab.test\"]");
    let stderr = check_config_refused(&path);
    assert!(
        stderr.contains("[health] watch: nope.lab.test is not the name of a [[pool]]"),
        "{stderr}"
    );
}

/// Issue 25, item 9: `wavelb health --check-config` counts the record sets its pools can put in
/// each hosted zone (two per target at 100 targets a pool, a health record per pool, the
/// zone's lease, the apex) and
/// warns when a zone would pass Route 53's quota of 10 000, or the quota set in `[route53]`.
#[test]
fn check_config_counts_record_sets_per_hosted_zone_against_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let check = |pools: usize, route53: &str| {
        let path = dir.path().join("fleet.toml");
        let mut text: String = (0..pools)
            .map(|i| format!("[[pool]]\nname = \"p{i}.lab.test\"\nzone = \"lab.test\"\n\n"))
            .collect();
        text.push_str("[[pool]]\nname = \"www.other.test\"\nzone = \"other.test\"\n\n");
        text.push_str(&format!(
            "[route53]\n{route53}\n\n[health]\n[health.probe]\nkind = \"udp\"\nport = 4000\n\
             send = \"ping\"\nexpect = \"ping\"\n"
        ));
        std::fs::write(&path, text).unwrap();
        check_config(&path)
    };
    let (stdout, stderr) = check(50, "");
    assert!(
        stdout.contains("hosted zone lab.test.: up to 10053 record sets of its quota of 10000")
            && stdout.contains("hosted zone other.test.: up to 204 record sets"),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning: hosted zone lab.test.: its 50 pools hold up to 10053")
            && stderr.contains("over the quota of 10000")
            && !stderr.contains("other.test"),
        "{stderr}"
    );
    let (_, stderr) = check(40, "");
    assert!(stderr.contains("near the quota of 10000"), "{stderr}");
    let (stdout, stderr) = check(50, "max_record_sets_per_zone = 20000");
    assert!(!stderr.contains("record sets"), "{stderr}");
    assert!(stdout.contains("of its quota of 20000"), "{stdout}");
}

/// Issue 25, item 2: `--check-config` prints the request budget's model (registry::budget)
/// for the fleet it is told of, line by line, and warns above `[route53] budget_share` of the
/// account's 5 requests/s with the poll_interval that would fit.
#[test]
fn check_config_prints_the_request_budget_and_warns_above_its_share() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    let write = |route53: &str| {
        let mut text = format!("[route53]\n{route53}\n");
        for z in ["bos", "nyc"] {
            text.push_str(&format!(
                "[[pool]]\nname = \"edge.{z}.lab.test\"\nzone = \"lab.test\"\n"
            ));
        }
        text.push_str(
            "[health]\n[health.probe]\nkind = \"udp\"\nport = 4000\nsend = \"ping\"\n\
             expect = \"ping\"\n[global]\nname = \"edge.lab.test\"\n[[global.zone]]\n\
             pool = \"edge.bos.lab.test\"\nwavelength_zone = \"us-east-1-wl1-bos-wlz-1\"\n\
             [[global.zone]]\npool = \"edge.nyc.lab.test\"\n\
             wavelength_zone = \"us-east-1-wl1-nyc-wlz-1\"\n",
        );
        std::fs::write(&path, text).unwrap();
    };
    write("");
    // One controller, two targets a pool, agents every minute: one page of 2 × 5 + 4 + 1 sets
    // every 5 s, a renewal every 10 s, 4 agents' pages a minute.
    let (stdout, stderr) = check_config_with(
        &path,
        &[
            "--controllers",
            "1",
            "--targets-per-pool",
            "2",
            "--agent-reconcile-interval",
            "60s",
        ],
    );
    let model = registry::budget::model(&registry::budget::Fleet {
        pools: 2,
        targets_per_pool: 2,
        tier_members: 2,
        controllers: 1,
        poll_interval: Duration::from_secs(5),
        lease_ttl: Duration::from_secs(15),
        agent_reconcile: Some(Duration::from_secs(60)),
    });
    assert!(
        stdout.contains(&format!(
            "request budget in steady state: {:.2} Route 53 requests/s",
            model.total()
        )) && stdout.contains("1 controller × 1 page (15 record sets) per 5 s")
            && stdout.contains("lease renewals: the leader, every 10 s")
            && stdout.contains("agents: 4 × 1 page per 60 s"),
        "{stdout}"
    );
    assert!(!stderr.contains("requests/s"), "{stderr}");
    // The defaults (two controllers, full pools, agents every 300 s) over a quarter of 5/s.
    write("budget_share = 0.25");
    let (_, stderr) = check_config(&path);
    assert!(
        stderr.contains("warning: this fleet would spend 1.57 Route 53 requests/s")
            && stderr.contains("more than 25 % of the account's 5/s")
            && stderr.contains("poll_interval = \"9s\"")
            && stderr.contains("would fit"),
        "{stderr}"
    );
}

/// Issue 23, item 8: a forged ownership record beside a zone's tier record makes the zone
/// foreign. wavelb never changes it (it stays published, answered though its targets die), but
/// the controller counts it, warns once, and `records list` shows it as foreign and in.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_tier_member_is_counted_listed_and_warned_about_once() {
    let lab = lab(2).await;
    let (_, mut nyc) = lab.second_pool(51).await;
    let (cfg, c) = lab.two_pools_controller(
        "forged", "",
        "[global]\nname = \"edge.lab.test\"\n\
         [[global.zone]]\npool = \"www.lab.test\"\nwavelength_zone = \"bos\"\ncoordinates = [42.36, -71.06]\n\
         [[global.zone]]\npool = \"api.lab.test\"\nwavelength_zone = \"nyc\"\ncoordinates = [40.71, -74.01]\n",
    );
    wait::until(
        "bos and nyc in the tier",
        Duration::from_secs(20),
        || async {
            let listing = records_json(&cfg);
            if tier_in(&listing) == ["bos", "nyc"] {
                Ok(())
            } else {
                Err(format!("{listing:#}"))
            }
        },
    )
    .await;
    let tier = PoolSpec {
        name: Fqdn::parse("edge.lab.test").unwrap(),
        ..lab_pool()
    };
    let gauge =
        |name: &str| testkit::metric(&metrics(&c), &format!("{name}{{tier=\"edge.lab.test\"}}"));
    assert_eq!(gauge("wavelb_tier_foreign_records"), Some(0.0));
    assert_eq!(gauge("wavelb_tier_turned_foreign_total"), Some(0.0));
    // A few more rounds (three controllers read every 500ms), so the tier's controller has read
    // nyc as its own at least once: what follows is a turn from owned to foreign.
    wait_rounds(&c, 12.0).await;
    // Someone with zone write access replaces nyc's ownership record with another owner's.
    wait::until("the record forged", Duration::from_secs(10), || async {
        let sets = writer(&lab.api).await.list_pool(&tier).await.unwrap();
        let ours = sets
            .iter()
            .find(|s| s.name == tier.ownership_name() && s.set_identifier.as_deref() == Some("nyc"))
            .unwrap()
            .clone();
        let mut forged = ours.clone();
        forged.values = vec![ours.values[0].replace("owner=wavelb-lab", "owner=mallory")];
        assert_ne!(forged, ours);
        let plan = Plan {
            groups: vec![ChangeGroup {
                target_id: sid("nyc"),
                changes: vec![Change::delete(ours), Change::create(forged)],
            }],
            skipped: Vec::new(),
            guard: None,
        };
        // The controller may rewrite it at the same moment: read again and retry.
        writer(&lab.api)
            .await
            .execute(&plan)
            .await
            .map(drop)
            .map_err(|e| format!("{e:?}"))
    })
    .await;
    wait_metrics(
        &c,
        "the foreign record counted",
        Duration::from_secs(10),
        |m| testkit::metric(m, "wavelb_tier_foreign_records{tier=\"edge.lab.test\"}") == Some(1.0),
    )
    .await;
    // nyc's targets die: the foreign zone is not taken out, and is shown as foreign and in.
    for t in &mut nyc {
        t.stop();
    }
    wait_rounds(&c, 6.0).await;
    let listing = records_json(&cfg);
    let row = listing["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == "nyc")
        .unwrap_or_else(|| panic!("{listing:#}"));
    assert_eq!(row["foreign"], true, "{listing:#}");
    assert_eq!(row["in_tier"], true, "still published: {listing:#}");
    assert_eq!(row["foreign_reason"], "owned by mallory", "{listing:#}");
    assert_eq!(gauge("wavelb_tier_foreign_records"), Some(1.0));
    assert_eq!(gauge("wavelb_tier_turned_foreign_total"), Some(1.0));
    assert_eq!(
        testkit::metric(
            &metrics(&c),
            "wavelb_tier_in{tier=\"edge.lab.test\",zone=\"nyc\"}"
        ),
        Some(1.0),
        "a published foreign zone shows as in"
    );
    let log = std::fs::read_to_string(lab.log("forged")).unwrap();
    assert_eq!(
        log.matches("a member of the zone tier is foreign").count(),
        1,
        "{log}"
    );
    assert!(log.contains("mallory"), "{log}");
}

/// Issue #23, item 6: a SetIdentifier holding a newline wrote a whole forged line
/// (`… ERROR wavelb: leader lease stolen …`) into `wavelb health`'s text log. Targets whose
/// identifiers carry the forged line behind a line feed, a carriage return and Unicode line
/// breaks go dead and are logged as such, in the text and the JSON format: every line of the
/// controller's stderr is a well-formed log line, and the identifiers are there, escaped.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_set_identifiers_cannot_forge_a_health_log_line() {
    use crate::common::{FORGED, assert_well_formed_log, hostile_ids, wait_for_log};
    for format in ["text", "json"] {
        let live = Echo::start(SocketAddr::from(([127, 0, 0, 61], 0)));
        let mut records = vec![Target::active(sid("t0"), vec![live.addr.ip()], 10, 1)];
        // Nothing listens on 127.0.0.62-64: these targets are judged dead and logged.
        for (i, id) in (62u8..).zip(hostile_ids()) {
            records.push(Target::active(sid(&id), vec![[127, 0, 0, i].into()], 10, 1));
        }
        let lab = lab_of(vec![live], records, &[]).await;
        let cfg = lab.config("c1", "");
        let log = lab.log("c1");
        let _c = Service::spawn_logged(
            BIN,
            &[
                "--log-format",
                format,
                "--config",
                cfg.to_str().unwrap(),
                "health",
                "--controller-id",
                "c1",
            ],
            &log,
        );
        let text = wait_for_log(&log, Duration::from_secs(20), |t| {
            t.lines()
                .filter(|l| l.contains("target verdict changed") || l.contains("target healthy"))
                .count()
                >= 4
        });
        assert_well_formed_log(&text, format == "json");
        assert!(
            text.contains(&format!("w1\\n{FORGED}")) && text.contains(&format!("w2\\r{FORGED}")),
            "the hostile identifiers are logged, escaped ({format}):\n{text}"
        );
    }
}
