//! The agent over time, in-process: the one reconcile loop against the in-memory store on
//! tokio's paused clock. No sockets, no sleeps: time advances only when every task waits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::registry::Registry;
use registry::memory::MemoryStore;
use registry::model::{Change, RrType, Target, TargetState};
use registry::name::Fqdn;
use registry::pool::classify;
use registry::testing::sid;
use tokio::time::Instant as TokioInstant;

use probe::state::Thresholds;
use probe::{ProbeKind, ProbeResult};

use super::*;
use crate::discovery::{DiscoveryError, Identity};
use crate::imds::ImdsError;
use crate::lifecycle::Placement;

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Notifier for Recorder {
    fn ready(&self, status: &str) {
        self.push(format!("READY {status}"));
    }
    fn status(&self, status: &str) {
        self.push(format!("STATUS {status}"));
    }
    fn stopping(&self) {
        self.push("STOPPING".into());
    }
}

impl Recorder {
    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
}

/// The instance, scripted: what discovery finds (`None`: IMDS does not answer), the Spot
/// notice, and Auto Scaling's lifecycle state (`None`: IMDS does not answer).
struct Scripted {
    notices: bool,
    found: Mutex<Option<Identity>>,
    discoveries: AtomicU32,
    spot: Mutex<Option<String>>,
    placement: Mutex<Option<Placement>>,
    placement_reads: AtomicU32,
}

fn identity(id: &str, address: &str) -> Identity {
    Identity {
        target_id: sid(id),
        region: Some("us-east-1".into()),
        az: Some("us-east-1-wl1-bos-wlz-1".into()),
        addresses: vec![address.parse().unwrap()],
        private_ip: None,
    }
}

fn outage(path: &str) -> ImdsError {
    ImdsError::Unreachable {
        endpoint: "http://169.254.169.254".into(),
        path: path.into(),
        why: "connection refused".into(),
    }
}

impl Scripted {
    fn new(notices: bool) -> Self {
        Self {
            notices,
            found: Mutex::new(Some(identity("i-1", "192.0.2.10"))),
            discoveries: AtomicU32::new(0),
            spot: Mutex::new(None),
            placement: Mutex::new(Some(Placement::InService)),
            placement_reads: AtomicU32::new(0),
        }
    }
    fn find(&self, found: Option<Identity>) {
        *self.found.lock().unwrap() = found;
    }
    fn spot(&self, action: &str) {
        *self.spot.lock().unwrap() = Some(action.into());
    }
    fn place(&self, placement: Option<Placement>) {
        *self.placement.lock().unwrap() = placement;
    }
}

impl Instance for Scripted {
    async fn discover(&self) -> Result<Identity, DiscoveryError> {
        self.discoveries.fetch_add(1, Ordering::Relaxed);
        let found = self.found.lock().unwrap().clone();
        found.ok_or_else(|| outage("meta-data/instance-id").into())
    }
    fn has_notices(&self) -> bool {
        self.notices
    }
    async fn spot_notice(&self) -> Result<Option<String>, ImdsError> {
        match *self.placement.lock().unwrap() {
            None => Err(outage("meta-data/spot/instance-action")),
            Some(_) => Ok(self.spot.lock().unwrap().clone()),
        }
    }
    async fn placement(&self) -> Result<Placement, ImdsError> {
        self.placement_reads.fetch_add(1, Ordering::Relaxed);
        let placement = *self.placement.lock().unwrap();
        placement.ok_or_else(|| outage("meta-data/autoscaling/target-lifecycle-state"))
    }
}

/// The local service the self-check probes: passing or failing as the test says.
#[derive(Clone, Default)]
struct Local(Arc<AtomicBool>);

impl Local {
    fn pass(&self, passing: bool) {
        self.0.store(passing, Ordering::Relaxed);
    }
}

impl Probe for Local {
    fn kind(&self) -> ProbeKind {
        ProbeKind::Udp
    }
    fn port(&self) -> Option<u16> {
        Some(4000)
    }
    async fn probe(&self, _: SocketAddr) -> ProbeResult {
        let healthy = self.0.load(Ordering::Relaxed);
        ProbeResult {
            healthy,
            latency: Duration::from_millis(1),
            reason: (!healthy).then_some(probe::Reason::Timeout),
            detail: format!("scripted: {healthy}"),
            resent: 0,
        }
    }
}

struct Bed {
    pool: PoolConfig,
    cfg: AgentConfig,
    instance: Scripted,
    local: Local,
    notify: Recorder,
}

impl Bed {
    fn said(&self) -> Vec<String> {
        self.notify.0.lock().unwrap().clone()
    }
}

/// `[agent]` with `agent`'s lines: i-1 at 192.0.2.10, weight 60, no startup jitter; an instance
/// without notices.
fn bed(agent: &str) -> Bed {
    bed_with(false, agent)
}

/// With `notices`, an EC2 instance: the agent discovers itself and polls the notices.
fn bed_with(notices: bool, agent: &str) -> Bed {
    let pool: PoolConfig = toml::from_str(
        "name = \"edge.example.com\"\nzone = \"example.com\"\nttl = 30\nowner_id = \"wavelb\"",
    )
    .unwrap();
    // On EC2 the agent discovers its id and address; elsewhere they are configured.
    let me = if notices {
        ""
    } else {
        "address = \"192.0.2.10\"\ntarget_id = \"i-1\"\n"
    };
    let cfg: AgentConfig = toml::from_str(&format!(
        "{me}weight = 60\nstartup_jitter = \"0s\"\n{agent}"
    ))
    .unwrap();
    Bed {
        pool,
        cfg,
        instance: Scripted::new(notices),
        local: Local::default(),
        notify: Recorder::default(),
    }
}

type Run<'a> = Running<'a, MemoryStore, Scripted, Local>;

fn agent(bed: &Bed) -> Agent<'_, Scripted, Local> {
    let mut registry = Registry::default();
    Agent {
        pool: &bed.pool,
        cfg: &bed.cfg,
        instance: &bed.instance,
        self_check: bed.cfg.self_check.is_some().then(|| bed.local.clone()),
        metrics: AgentMetrics::register(&mut registry),
        pool_metrics: PoolMetrics::default(),
        notify: &bed.notify,
    }
}

fn running<'a>(
    agent: &'a Agent<'a, Scripted, Local>,
    store: MemoryStore,
    signals: watch::Receiver<u32>,
) -> Run<'a> {
    Running {
        agent,
        pool: agent.pool.spec(&Default::default()).unwrap(),
        writer: store,
        me: Me {
            id: sid("i-1"),
            addresses: vec!["192.0.2.10".parse().unwrap()],
            weight: 60,
            probe: None,
        },
        signals,
        self_check: None,
    }
}

fn store() -> MemoryStore {
    MemoryStore::new(Fqdn::parse("example.com").unwrap())
}

fn view(r: &Run<'_>) -> PoolView {
    classify(&r.pool, &r.writer.sets())
}

/// The whole agent of a test, running: its store, the signal it stops on, whether it returned.
struct Drive<'a> {
    agent: &'a Agent<'a, Scripted, Local>,
    store: Arc<MemoryStore>,
    signals: watch::Sender<u32>,
    stopped: AtomicBool,
}

/// Runs the whole agent of `bed` (mode `Run`) beside `script`, which drives the instance, looks at
/// the store as time passes, and stops the agent with a signal last. Returns the store.
async fn drive(bed: &Bed, script: impl AsyncFnOnce(&Drive<'_>)) -> Arc<MemoryStore> {
    let agent = agent(bed);
    let (signals, rx) = watch::channel(0);
    let d = Drive {
        agent: &agent,
        store: Arc::new(store()),
        signals,
        stopped: AtomicBool::new(false),
    };
    let (ran, ()) = tokio::join!(whole(&agent, &d.store, rx, &d.stopped), script(&d));
    ran.unwrap();
    d.store
}

/// The whole agent (`run` in mode `Run`) over `store`, which the test also holds; `stopped` is
/// set when it returns.
async fn whole(
    agent: &Agent<'_, Scripted, Local>,
    store: &Arc<MemoryStore>,
    signals: watch::Receiver<u32>,
    stopped: &AtomicBool,
) -> Result<(), AgentError> {
    let connect = async || Ok::<_, std::convert::Infallible>(Arc::clone(store));
    let ran = run(agent, Mode::Run, signals, connect).await;
    stopped.store(true, Ordering::Relaxed);
    ran
}

/// This instance's target in `store`, as the pool reads.
fn mine(bed: &Bed, store: &MemoryStore) -> Option<Target> {
    let pool = bed.pool.spec(&Default::default()).unwrap();
    classify(&pool, &store.sets())
        .owned
        .remove("i-1")
        .map(|o| o.target)
}

fn state_of(t: Option<Target>) -> Option<(TargetState, u8)> {
    t.map(|t| (t.state, t.weight))
}

const ACTIVE: Option<(TargetState, u8)> = Some((TargetState::Active, 60));

fn ready_count(bed: &Bed) -> usize {
    bed.said().iter().filter(|l| l.starts_with("READY")).count()
}

async fn sleep(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// A running agent registered in a store whose changes are INSYNC after 60 s.
async fn registered<'a>(
    agent: &'a Agent<'a, Scripted, Local>,
    signals: watch::Receiver<u32>,
) -> Run<'a> {
    let mut r = running(agent, store(), signals);
    r.writer
        .faults(|f| f.insync_after = Duration::from_secs(60));
    assert!(r.register(false).await.unwrap());
    r
}

/// Register, then drain: weight 0 and `draining`, delete after INSYNC (60 s here) plus one
/// TTL (30 s), all on the paused clock.
#[tokio::test(start_paused = true)]
async fn register_then_drain_waits_for_insync_and_one_ttl() {
    let bed = bed("drain_timeout = \"300s\"");
    let agent = agent(&bed);
    let (_tx, rx) = watch::channel(0);
    let mut r = registered(&agent, rx).await;
    let t = view(&r).owned["i-1"].target.clone();
    assert_eq!((t.weight, t.state), (60, TargetState::Active));

    let start = TokioInstant::now();
    r.drain(DrainCause::Command, false).await;
    assert_eq!(start.elapsed(), Duration::from_secs(90), "INSYNC + one TTL");
    assert!(view(&r).owned.is_empty(), "deleted");
    assert_eq!(r.writer.calls().accepted, 3, "register, weight 0, delete");
}

/// `drain_timeout` bounds the waits; a second signal skips them at once.
#[tokio::test(start_paused = true)]
async fn drain_timeout_and_a_second_signal_cut_the_waits() {
    let bed = bed("drain_timeout = \"45s\"");
    let agent = agent(&bed);
    let (_tx, rx) = watch::channel(0);
    let mut r = registered(&agent, rx).await;
    let start = TokioInstant::now();
    r.drain(DrainCause::Command, false).await;
    assert_eq!(start.elapsed(), Duration::from_secs(45), "drain_timeout");
    assert!(view(&r).owned.is_empty());

    let second_bed = self::bed("drain_timeout = \"300s\"");
    let agent = self::agent(&second_bed);
    let (tx, rx) = watch::channel(0);
    let mut r = registered(&agent, rx).await;
    // The signal that starts the drain.
    tx.send_modify(|n| *n += 1);
    let start = TokioInstant::now();
    let second = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        tx.send_modify(|n| *n += 1);
    };
    tokio::join!(r.drain(DrainCause::Signal, false), second);
    assert_eq!(start.elapsed(), Duration::from_secs(5), "the second signal");
    assert!(view(&r).owned.is_empty());
    let said = second_bed.notify.0.lock().unwrap().clone();
    assert!(said.contains(&"STOPPING".to_owned()), "{said:?}");
}

/// Signals are counted from the start, so none is acted on twice or lost: one that came
/// before a drain no signal started (a Spot notice read at the same moment) does not skip
/// that drain's waits, and a stopping agent never registers (again, after a Standby spell).
#[tokio::test(start_paused = true)]
async fn a_signal_before_a_notice_drain_keeps_its_waits_and_stops_registration() {
    let bed = bed("drain_timeout = \"300s\"");
    let agent = agent(&bed);
    let (tx, rx) = watch::channel(0);
    let mut r = registered(&agent, rx).await;
    tx.send_modify(|n| *n += 1);
    let start = TokioInstant::now();
    r.drain(DrainCause::Spot, false).await;
    assert_eq!(start.elapsed(), Duration::from_secs(90), "INSYNC + one TTL");
    assert!(view(&r).owned.is_empty(), "deleted");
    assert!(
        !r.register(false).await.unwrap(),
        "registered after a signal"
    );
    assert!(view(&r).owned.is_empty(), "registered after a signal");
}

/// A signal that arrives while the agent is busy (here a reconcile that Route 53 throttles
/// for 5 s) is acted on once the reconcile is done: the agent drains and deletes its
/// records. Each turn of the loop used to wait for a signal beyond the count it read, so
/// such a signal was lost and the agent served on until it was killed.
#[tokio::test(start_paused = true)]
async fn a_signal_during_a_reconcile_still_drains() {
    let bed = bed("reconcile_interval = \"10s\"\ndrain_timeout = \"60s\"");
    let agent = agent(&bed);
    let (tx, rx) = watch::channel(0);
    let mut r = registered(&agent, rx).await;
    r.writer.faults(|f| {
        f.throttle_next = 1;
        f.throttle_delay = Duration::from_secs(5);
    });
    let identity = Identity {
        target_id: sid("i-1"),
        region: None,
        az: None,
        addresses: r.me.addresses.clone(),
        private_ip: None,
    };
    let start = TokioInstant::now();
    // The reconcile starts 8 to 12 s in (10 s ± 20 %) and is throttled for 5 s: at 12.5 s
    // it is under way.
    let signal = async {
        tokio::time::sleep(Duration::from_millis(12_500)).await;
        tx.send_modify(|n| *n += 1);
    };
    let (served, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(600), r.serve(&identity)),
        signal
    );
    assert_eq!(served, Ok(false), "the signal was lost: no drain");
    assert_eq!(r.writer.throttled(), 1, "the reconcile was throttled");
    assert!(view(&r).owned.is_empty(), "deleted");
    // The drain began when the reconcile ended (≤ 17 s) and waited out drain_timeout (60 s).
    assert!(
        start.elapsed() <= Duration::from_secs(77),
        "{:?}",
        start.elapsed()
    );
}

/// Registration against a throttled, then conflicting store: throttles cost time and are
/// counted; a record someone else wrote in between is read again, never overwritten.
#[tokio::test(start_paused = true)]
async fn registration_survives_throttling_and_respects_a_quarantine() {
    let bed = bed("");
    let agent = agent(&bed);
    let (_tx, rx) = watch::channel(0);
    let r = running(&agent, store(), rx);
    // An operator quarantined i-1 before this agent started.
    let mut q = Target::active(sid("i-1"), r.me.addresses.clone(), 60, 1)
        .with_state(TargetState::Quarantined, 2)
        .by(registry::model::By::Operator);
    q.probe = None;
    let creates: Vec<Change> = q
        .record_sets(&r.pool)
        .into_iter()
        .map(Change::create)
        .collect();
    r.writer.apply(&creates).unwrap();
    r.writer.faults(|f| {
        f.throttle_next = 5;
        f.throttle_delay = Duration::from_secs(2);
    });
    let mut r = r;
    let start = TokioInstant::now();
    assert!(r.register(false).await.unwrap());
    // Two requests, each throttled once: the refused blind CREATE and one listing.
    let calls = r.writer.calls();
    assert_eq!((calls.batches, calls.accepted, calls.lists), (1, 0, 1));
    assert_eq!(r.writer.throttled(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    let t = view(&r).owned["i-1"].target.clone();
    assert_eq!(
        (
            t.state,
            t.weight,
            t.by.as_ref().map(registry::model::By::as_str)
        ),
        (TargetState::Quarantined, 0, Some("operator")),
        "the blind CREATE was refused and the reconcile left the quarantine alone"
    );
}

/// Over the reconcile loop: an address record edited by someone else is repaired at the
/// next reconcile, a self-check that fails `fall` times quarantines the instance (`by=agent`),
/// and passing `rise` times restores it.
#[tokio::test(start_paused = true)]
async fn drift_is_repaired_and_the_self_check_quarantines_and_restores() {
    let bed = bed(
        "self_quarantine = true\nself_check_rise = 2\nself_check_fall = 3\n\
         [self_check]\nkind = \"udp\"\nport = 4000\nsend = \"ping\"",
    );
    let agent = agent(&bed);
    let (_tx, rx) = watch::channel(0);
    let mut r = registered(&agent, rx).await;
    let mine = |r: &Run<'_>| view(r).owned["i-1"].target.clone();

    // Someone points i-1's address record elsewhere.
    let a = r
        .writer
        .sets()
        .into_iter()
        .find(|s| s.rtype == RrType::A && s.set_identifier.as_deref() == Some("i-1"))
        .unwrap();
    let mut moved = a.clone();
    moved.values = vec!["198.51.100.9".into()];
    r.writer
        .apply(&[Change::delete(a), Change::create(moved)])
        .unwrap();
    assert_ne!(mine(&r).addresses, r.me.addresses);
    r.reconcile_once().await.unwrap();
    assert_eq!(mine(&r).addresses, r.me.addresses, "repaired");

    // The self-check's verdicts, fed as its probes would (the prober is not called here).
    r.self_check = Some((&bed.local, 4000, TargetHealth::default()));
    let thresholds = Thresholds { rise: 2, fall: 3 };
    let feed = |r: &mut Run<'_>, healthy: bool, times: usize| {
        for _ in 0..times {
            r.self_check
                .as_mut()
                .unwrap()
                .2
                .observe(healthy, thresholds);
        }
    };
    feed(&mut r, false, 2);
    r.reconcile_once().await.unwrap();
    assert_eq!(
        mine(&r).state,
        TargetState::Active,
        "two failures are not fall"
    );
    feed(&mut r, false, 1);
    r.reconcile_once().await.unwrap();
    let t = mine(&r);
    assert_eq!(
        (
            t.state,
            t.weight,
            t.wanted_weight,
            t.by.as_ref().map(registry::model::By::as_str)
        ),
        (TargetState::Quarantined, 0, 60, Some("agent"))
    );
    feed(&mut r, true, 2);
    r.reconcile_once().await.unwrap();
    let t = mine(&r);
    assert_eq!((t.state, t.weight), (TargetState::Active, 60), "restored");
}

/// A Spot interruption notice, and Auto Scaling's `Terminated`, drain the instance at the next
/// notice poll (5 s here): weight 0, one TTL (30 s), the delete. Then the agent stays up,
/// deregistered, until it is stopped, and never registers again.
#[tokio::test(start_paused = true)]
async fn spot_and_lifecycle_notices_drain_and_the_agent_stays_deregistered() {
    for notice in ["spot", "lifecycle"] {
        let bed = bed_with(
            true,
            "notice_poll_interval = \"5s\"\nreconcile_interval = \"30s\"",
        );
        let store = drive(&bed, async |d: &Drive<'_>| {
            sleep(1).await;
            assert_eq!(
                state_of(mine(&bed, &d.store)),
                ACTIVE,
                "{notice}: registered"
            );
            match notice {
                "spot" => bed.instance.spot("terminate"),
                _ => bed.instance.place(Some(Placement::Terminating)),
            }
            // Read at the next poll (5 s after the start), drained, deleted one TTL later.
            sleep(6).await;
            assert_eq!(
                state_of(mine(&bed, &d.store)),
                Some((TargetState::Draining, 0)),
                "{notice}: draining"
            );
            sleep(30).await;
            assert_eq!(
                mine(&bed, &d.store),
                None,
                "{notice}: deleted after one TTL"
            );
            sleep(3600).await;
            assert!(
                !d.stopped.load(Ordering::Relaxed),
                "{notice}: the agent stays up"
            );
            assert_eq!(mine(&bed, &d.store), None, "{notice}: and deregistered");
            assert!(
                bed.said()
                    .contains(&"STATUS deregistered; waiting for the instance to stop".into()),
                "{notice}: {:?}",
                bed.said()
            );
            d.signals.send_modify(|n| *n += 1);
        })
        .await;
        assert_eq!(
            store.calls().accepted,
            3,
            "{notice}: register, weight 0, delete"
        );
    }
}

/// Amazon EC2 Auto Scaling: an instance in a warm pool (`Warmed:*`) is never registered,
/// however long it waits; `InService` registers it; `Standby` drains it and the agent stays up;
/// back `InService`, it registers again. A signal then drains it for good.
#[tokio::test(start_paused = true)]
async fn warm_pool_instances_wait_and_standby_drains_until_in_service_again() {
    let bed = bed_with(
        true,
        "notice_poll_interval = \"5s\"\nreconcile_interval = \"30s\"",
    );
    bed.instance.place(Some(Placement::Warmed));
    let store = drive(&bed, async |d: &Drive<'_>| {
        let out_of_service = || {
            d.agent
                .metrics
                .state
                .get_or_create(&crate::metrics::StateLabels {
                    state: crate::metrics::AgentState::OutOfService,
                })
                .get()
        };
        sleep(60).await;
        assert_eq!(
            mine(&bed, &d.store),
            None,
            "a warm pool instance registered"
        );
        assert!(bed.instance.placement_reads.load(Ordering::Relaxed) >= 12);
        assert_eq!(out_of_service(), 1);
        assert_eq!(ready_count(&bed), 0, "READY before registering");

        bed.instance.place(Some(Placement::InService));
        sleep(6).await;
        assert_eq!(state_of(mine(&bed, &d.store)), ACTIVE, "in service");
        assert_eq!(ready_count(&bed), 1);

        bed.instance.place(Some(Placement::Standby));
        sleep(6 + 30).await;
        assert_eq!(mine(&bed, &d.store), None, "Standby drained it");
        sleep(60).await;
        assert_eq!(mine(&bed, &d.store), None, "registered in Standby");
        assert!(!d.stopped.load(Ordering::Relaxed), "the agent stays up");

        bed.instance.place(Some(Placement::InService));
        sleep(6).await;
        assert_eq!(state_of(mine(&bed, &d.store)), ACTIVE, "back in service");
        assert_eq!(ready_count(&bed), 2);
        d.signals.send_modify(|n| *n += 1);
    })
    .await;
    assert_eq!(mine(&bed, &store), None, "the signal deregistered it");
}

/// IMDS that does not answer at the start is retried with a back-off (≤ 10 s) until it does;
/// once serving, an IMDS that stops answering changes nothing: the notices read as unknown,
/// rediscovery keeps the address in use, and the instance stays registered and reconciled.
#[tokio::test(start_paused = true)]
async fn an_imds_outage_is_retried_at_the_start_and_ignored_while_serving() {
    let bed = bed_with(
        true,
        "notice_poll_interval = \"5s\"\nreconcile_interval = \"10s\"",
    );
    bed.instance.find(None);
    drive(&bed, async |d: &Drive<'_>| {
        sleep(30).await;
        assert_eq!(mine(&bed, &d.store), None);
        assert!(bed.instance.discoveries.load(Ordering::Relaxed) >= 4);
        assert!(
            bed.said()
                .iter()
                .any(|l| l.starts_with("STATUS waiting for instance metadata")),
            "{:?}",
            bed.said()
        );
        bed.instance.find(Some(identity("i-1", "192.0.2.10")));
        sleep(11).await;
        assert_eq!(state_of(mine(&bed, &d.store)), ACTIVE, "registered");

        bed.instance.find(None);
        bed.instance.place(None);
        let lists = d.store.calls().lists;
        sleep(120).await;
        assert_eq!(
            state_of(mine(&bed, &d.store)),
            ACTIVE,
            "an outage drained it"
        );
        assert!(d.store.calls().lists >= lists + 9, "reconciles went on");
        assert!(!d.stopped.load(Ordering::Relaxed));
        d.signals.send_modify(|n| *n += 1);
    })
    .await;
}

/// While Route 53 throttles the agent's requests, its reconciles space out: the interval doubles
/// with each throttled round up to 8x, so a fleet under contention asks less; it halves back
/// once the throttling stops.
#[tokio::test(start_paused = true)]
async fn reconciles_space_out_while_route53_throttles_them() {
    let bed = bed("reconcile_interval = \"10s\"");
    drive(&bed, async |d: &Drive<'_>| {
        let interval = || d.agent.metrics.reconcile_interval.get();
        sleep(1).await;
        assert_eq!(state_of(mine(&bed, &d.store)), ACTIVE);
        assert_eq!(interval(), 10);
        d.store.faults(|f| f.throttle_next = u32::MAX);
        // 10 + 20 + 40 + 80 s, each up to 20 % longer.
        sleep(180).await;
        assert_eq!(interval(), 80, "stretched to 8x");
        let lists = d.store.calls().lists;
        sleep(600).await;
        // Each gap is 64 to 96 s plus the 0.2 s a throttled request costs: 6 to 10 in 600 s.
        let throttled = d.store.calls().lists - lists;
        assert!(
            (6..=10).contains(&throttled),
            "{throttled} reconciles in 600 s at 80 s ± 20 %"
        );
        d.store.faults(|f| f.throttle_next = 0);
        // At most 96 s until the next round, then 40 + 20 + 10 s.
        sleep(96 + 84).await;
        assert_eq!(interval(), 10, "back to the configured interval");
        let lists = d.store.calls().lists;
        sleep(600).await;
        let relaxed = d.store.calls().lists - lists;
        assert!(
            (50..=75).contains(&relaxed),
            "{relaxed} reconciles in 600 s at 10 s ± 20 %"
        );
        d.signals.send_modify(|n| *n += 1);
    })
    .await;
}

/// With a self-check, the agent registers, and says READY, only once the local service passes
/// it `rise` times; with `self_quarantine`, `fall` failures in a row quarantine the instance
/// (`by=agent`) at once, not at the next reconcile, and `rise` passes restore it.
#[tokio::test(start_paused = true)]
async fn the_self_check_gates_registration_and_quarantines_itself() {
    let bed = bed(
        "reconcile_interval = \"300s\"\nself_quarantine = true\nself_check_rise = 2\n\
         self_check_fall = 3\nself_check_interval = \"1s\"\n\
         [self_check]\nkind = \"udp\"\nport = 4000\nsend = \"ping\"",
    );
    drive(&bed, async |d: &Drive<'_>| {
        // Half a second off the self-check's 1 s probes, so no look lands on a check.
        tokio::time::sleep(Duration::from_millis(30_500)).await;
        assert_eq!(
            mine(&bed, &d.store),
            None,
            "registered while failing its self-check"
        );
        assert_eq!(ready_count(&bed), 0);
        assert!(
            bed.said()
                .contains(&"STATUS waiting for the local service to pass its self-check".into())
        );
        bed.local.pass(true);
        sleep(2).await;
        assert_eq!(
            state_of(mine(&bed, &d.store)),
            ACTIVE,
            "registered after rise passes"
        );
        assert_eq!(ready_count(&bed), 1);

        bed.local.pass(false);
        sleep(4).await;
        let t = mine(&bed, &d.store).unwrap();
        assert_eq!(
            (
                t.state,
                t.weight,
                t.by.as_ref().map(registry::model::By::as_str)
            ),
            (TargetState::Quarantined, 0, Some("agent")),
            "fall failures quarantine it"
        );
        bed.local.pass(true);
        sleep(3).await;
        assert_eq!(
            state_of(mine(&bed, &d.store)),
            ACTIVE,
            "rise passes restore it"
        );
        d.signals.send_modify(|n| *n += 1);
    })
    .await;
}

/// A Carrier IP re-associated to the instance is published at the next reconcile; a discovery
/// that fails, or that names another target id, keeps the address in use.
#[tokio::test(start_paused = true)]
async fn a_reassociated_address_is_published_at_the_next_reconcile() {
    let bed = bed_with(true, "reconcile_interval = \"10s\"");
    drive(&bed, async |d: &Drive<'_>| {
        let addresses = || mine(&bed, &d.store).map(|t| t.addresses);
        let ip = |s: &str| vec![s.parse::<std::net::IpAddr>().unwrap()];
        sleep(1).await;
        assert_eq!(addresses(), Some(ip("192.0.2.10")));
        bed.instance.find(Some(identity("i-1", "192.0.2.99")));
        sleep(13).await;
        assert_eq!(addresses(), Some(ip("192.0.2.99")), "the new address");
        bed.instance.find(Some(identity("i-2", "192.0.2.77")));
        sleep(13).await;
        assert_eq!(addresses(), Some(ip("192.0.2.99")), "another target id");
        bed.instance.find(None);
        sleep(13).await;
        assert_eq!(addresses(), Some(ip("192.0.2.99")), "a failed discovery");
        let pool = bed.pool.spec(&Default::default()).unwrap();
        assert_eq!(
            classify(&pool, &d.store.sets()).owned.len(),
            1,
            "only i-1 is registered"
        );
        d.signals.send_modify(|n| *n += 1);
    })
    .await;
}

/// Auto Scaling's `Terminated` read before the first registration: the agent never registers
/// and waits, deregistered, until it is stopped. In one-shot mode an instance out of service
/// (`Standby`) is not registered and the agent exits at once.
#[tokio::test(start_paused = true)]
async fn an_instance_out_of_service_at_the_start_is_never_registered() {
    let bed = bed_with(true, "notice_poll_interval = \"5s\"");
    bed.instance.place(Some(Placement::Terminating));
    let store = drive(&bed, async |d: &Drive<'_>| {
        sleep(600).await;
        assert_eq!(
            mine(&bed, &d.store),
            None,
            "a terminating instance registered"
        );
        assert!(!d.stopped.load(Ordering::Relaxed), "the agent stays up");
        assert_eq!(
            bed.instance.placement_reads.load(Ordering::Relaxed),
            1,
            "Terminated is final: no more polls"
        );
        d.signals.send_modify(|n| *n += 1);
    })
    .await;
    assert_eq!(store.calls().batches, 0);

    let bed = bed_with(true, "");
    bed.instance.place(Some(Placement::Standby));
    let a = agent(&bed);
    let store = Arc::new(self::store());
    let (_tx, rx) = watch::channel(0);
    let connect = async || Ok::<_, std::convert::Infallible>(Arc::clone(&store));
    let start = TokioInstant::now();
    run(&a, Mode::Once, rx, connect).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO, "--once waits for nothing");
    assert_eq!(mine(&bed, &store), None, "--once registered in Standby");
}

/// A signal while Auto Scaling holds the instance in `Standby` (drained, waiting to be back in
/// service) stops the agent at once, with nothing registered.
#[tokio::test(start_paused = true)]
async fn a_signal_while_out_of_service_stops_the_agent() {
    let bed = bed_with(true, "notice_poll_interval = \"5s\"");
    let store = drive(&bed, async |d: &Drive<'_>| {
        sleep(1).await;
        assert_eq!(state_of(mine(&bed, &d.store)), ACTIVE);
        bed.instance.place(Some(Placement::Standby));
        sleep(6 + 30 + 60).await;
        assert_eq!(mine(&bed, &d.store), None, "Standby drained it");
        assert!(!d.stopped.load(Ordering::Relaxed));
        d.signals.send_modify(|n| *n += 1);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(
            d.stopped.load(Ordering::Relaxed),
            "the signal did not stop it"
        );
    })
    .await;
    assert_eq!(mine(&bed, &store), None);
}
