//! `wavelb lab`: the whole system on loopback with no configuration. It starts the lab resolver
//! for `lab.test`, four demo UDP echo targets, registers them through the Route 53 API with the
//! same registry writer the agent uses, and shows a live table. Stdin takes commands
//! (`kill N`, `revive N`, `quarantine N`, `restore N`, `weight N W`, `quit`).

mod console;
mod targets;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use health::config::{HealthConfig, ProbeVia};
use health::controller::Controller;
use health::decide::AllDown;
use health::metrics::HealthMetrics;
use probe::{ProbeConfig, ProbeKind, Prober};
use prometheus_client::registry::Registry;
use registry::clock::unix_now;
use registry::config::{Route53Config, ZoneRef};
use registry::metrics::{PoolMetrics, WriterMetrics};
use registry::model::{PoolSpec, RecordSet, RecordType, Target};
use registry::name::Fqdn;
use registry::plan::{Intent, plan};
use registry::pool::PoolView;
use registry::reconcile::{Decision, decide_with, reconcile};
use registry::writer::Writer;
use resolver::service::{self, Settings};

use crate::cli::LabArgs;
use targets::EchoTarget;

/// The lab's zone.
pub const ZONE: &str = "lab.test";
/// The lab's weighted name.
pub const POOL: &str = "www.lab.test";
/// The owner of the lab's records.
pub const OWNER: &str = "wavelb-lab";
/// The demo targets' weights, in order.
pub const WEIGHTS: [u8; 4] = [10, 20, 30, 40];
/// The lab's record TTL: low, so clients see changes quickly.
pub const TTL: u32 = 5;
/// How often the lab's writes are re-read and re-decided after a conflicting write.
const CONFLICT_ATTEMPTS: u32 = 3;

/// The lab pool.
pub fn pool() -> PoolSpec {
    PoolSpec {
        // A literal, valid name: parsing cannot fail.
        name: Fqdn::parse(POOL).unwrap_or_else(|_| Fqdn::from_api(POOL)),
        record_type: RecordType::A,
        ttl: TTL,
        owner_id: OWNER.into(),
        ownership_key: None,
    }
}

/// Demo target `i` (1-based) set identifier.
pub fn set_id(i: usize) -> String {
    format!("demo-{i}")
}

/// The lab's health controller: UDP probes ("ping" echoed) of every demo target.
async fn health_controller(
    cfg: &Route53Config,
    zone: &ZoneRef,
    port: u16,
    interval: Duration,
    registry: &mut Registry,
) -> anyhow::Result<Controller> {
    let mut probe = ProbeConfig::new(ProbeKind::Udp);
    probe.port = Some(port);
    probe.send = Some("ping".into());
    probe.expect = Some("ping".into());
    probe.timeout = (interval / 2).max(Duration::from_millis(50));
    let hc = HealthConfig {
        interval,
        timeout: None,
        rise: 2,
        fall: 3,
        fast_interval: None,
        readmit_backoff: Duration::from_secs(10),
        readmit_backoff_max: Duration::from_secs(300),
        poll_interval: interval * 5,
        metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        probe_via: ProbeVia::Probe,
        max_quarantined_fraction: 0.5,
        all_down: AllDown::FailOpen,
        gc_after: Duration::from_secs(24 * 3600),
        lease_ttl: (interval * 15).max(Duration::from_secs(2)),
        concurrency: 16,
        controller_id: Some("lab".into()),
        probe,
    };
    hc.validate()
        .map_err(|e| anyhow::anyhow!("lab health configuration: {e}"))?;
    let prober =
        Prober::new(&hc.effective_probe()).map_err(|e| anyhow::anyhow!("lab probe: {e}"))?;
    let writer = Writer::connect(cfg, zone, WriterMetrics::register(registry)).await?;
    Ok(Controller::new(
        pool(),
        std::sync::Arc::new(writer),
        hc,
        std::sync::Arc::new(prober),
        "lab".into(),
        HealthMetrics::register(registry),
        PoolMetrics::register(registry),
    ))
}

/// Runs the lab until Ctrl-C, SIGTERM or `quit`.
pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    let settings = Settings {
        dns_listen: vec![args.dns_listen],
        api_listen: args.api_listen,
        zones: vec![ZONE.into()],
        state_dir: None,
        propagation_delay: Duration::ZERO,
        api_rate_limit: None,
        api_credentials: None,
        api_insecure: false,
        api_allow_unsigned_payload: false,
        dns_tcp: Default::default(),
        api_limits: Default::default(),
        geo_table: std::sync::Arc::new(resolver::geotable::GeoTable::lab()),
    };
    let mut registry = Registry::default();
    let running = service::start(&settings, &mut registry)
        .await
        .context("cannot start the lab resolver")?;
    let answers = running.shared.metrics.answers.family().clone();

    // Demo targets share one port: the first binds (port 0 picks one), the rest follow.
    let mut targets = Vec::new();
    let mut port = args.target_port;
    for i in 0..WEIGHTS.len() {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11 + u8::try_from(i).unwrap_or(0)));
        let t = EchoTarget::start(SocketAddr::new(ip, port))
            .await
            .with_context(|| format!("cannot start demo target {} on {ip}:{port}", i + 1))?;
        port = t.addr.port();
        targets.push(t);
    }

    let api_url = format!("http://{}", running.api);
    let cfg = Route53Config {
        endpoint_url: Some(api_url.clone()),
        ..Route53Config::default()
    };
    let zone = ZoneRef::Name(Fqdn::parse(ZONE).context("lab zone name")?);
    let writer = Writer::connect(&cfg, &zone, WriterMetrics::default())
        .await
        .context("cannot reach the lab resolver's API")?;
    let p = pool();
    let intents: BTreeMap<String, Intent> = targets
        .iter()
        .zip(WEIGHTS)
        .enumerate()
        .map(|(i, (t, w))| {
            let mut target = Target::active(set_id(i + 1), vec![t.addr.ip()], w, unix_now());
            target.probe = Some(t.addr.into());
            (target.id.clone(), Intent::Present(target))
        })
        .collect();
    let mut register = decide_with(|view: &PoolView, _: &[RecordSet]| {
        Ok::<_, std::convert::Infallible>(Decision {
            plan: plan(&p, view, &intents),
            outcome: (),
        })
    });
    reconcile(&writer, &p, CONFLICT_ATTEMPTS, &mut register)
        .await
        .context("cannot register the demo targets")?;

    let controller = if args.no_health {
        None
    } else {
        Some(health_controller(&cfg, &zone, port, args.probe_interval, &mut registry).await?)
    };
    let metrics = crate::metrics_http::serve(args.metrics_listen, registry).await?;
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
    let health_task = controller.map(|c| {
        tokio::spawn(c.run(
            async {
                let _ = health_stopped.await;
            },
            |summary| tracing::info!(summary, "lab health controller running"),
        ))
    });

    let dns = running.dns.first().copied().unwrap_or(args.dns_listen);
    println!(
        "{}",
        serde_json::json!({
            "dns": running.dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "api_url": api_url,
            "metrics": metrics.to_string(),
            "targets": targets.iter().map(|t| t.addr.to_string()).collect::<Vec<_>>(),
        })
    );
    println!("wavelb lab is running: resolver for {ZONE}, 4 demo UDP echo targets on port {port}.");
    println!("  query:    dig @{} -p {} {POOL}", dns.ip(), dns.port());
    println!("  API:      {api_url}   (aws route53 --endpoint-url {api_url} list-hosted-zones)");
    println!("  metrics:  http://{metrics}/metrics");
    println!("  commands: kill N | revive N | quarantine N | restore N | weight N W | help | quit");
    crate::systemd::ready("lab running");

    let mut console = console::Console {
        writer,
        pool: p,
        last: String::new(),
        targets,
        answers,
    };
    console.run(args.refresh).await;
    crate::systemd::stopping();
    let _ = stop_health.send(());
    if let Some(task) = health_task {
        let _ = task.await;
    }
    println!("lab stopped");
    Ok(())
}
