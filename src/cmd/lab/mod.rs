//! `wavelb lab`: the whole system on loopback with no configuration. It starts the lab resolver
//! for `lab.test`, four demo UDP echo targets (or, with `--zones N`, N simulated Wavelength zones
//! of two targets each and the zone tier over them), registers them through the Route 53 API with
//! the same registry writer the agent uses, runs the health controller, and shows a live table.
//! Stdin takes commands (`kill N`, `revive N`, `kill-zone K`, `revive-zone K`, `quarantine N`,
//! `restore N`, `weight N W`, `quit`).

mod command;
mod console;
mod events;
mod guard;
mod input;
mod lines;
mod table;
mod targets;
mod tui;
mod zones;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use aws::metrics::WriterMetrics;
use aws::writer::Writer;
use dns::geotable::GeoTable;
use health::config::{HealthConfig, ProbeVia};
use health::decide::AllDown;
use health::service::Service;
use health::tier::{MinHealthy, TierPolicy};
use probe::{ProbeConfig, ProbeKind, Prober};
use prometheus_client::registry::Registry;
use registry::clock::unix_now;
use registry::config::{Route53Config, ZoneRef};
use registry::model::{RecordSet, SetId, Target};
use registry::name::Fqdn;
use registry::plan::{Intent, plan};
use registry::pool::PoolView;
use registry::reconcile::{CONFLICT_ATTEMPTS, Decision, decide_with, reconcile};
use route53_emulator::service::{self, Settings};
use std::sync::Arc;

use crate::cli::LabArgs;
use crate::port_holder::{self, Proto};
use targets::EchoTarget;

/// The lab's zone.
pub(crate) const ZONE: &str = "lab.test";
/// The lab's weighted name.
pub(crate) const POOL: &str = "www.lab.test";
/// The owner of the lab's records.
pub(crate) const OWNER: &str = "wavelb-lab";
/// The demo targets' weights, in order.
pub(crate) const WEIGHTS: [u8; 4] = [10, 20, 30, 40];
/// The lab's record TTL: low, so clients see changes quickly.
pub(crate) const TTL: u32 = 5;
/// How long a zone of a multi-zone lab that left the tier must be healthy before it returns.
const TIER_RETURN_AFTER: Duration = Duration::from_secs(10);
/// The lab's API request rate (its resolver has no budget; Route 53's is 5/s).
const LAB_REQUESTS_PER_SECOND: f64 = 50.0;
/// The lab's fraction guard: at most half of a pool's targets quarantined.
const MAX_QUARANTINED_FRACTION: f64 = 0.5;

/// Demo target `i` (1-based) set identifier.
pub(crate) fn set_id(i: usize) -> SetId {
    // "demo-" and a number: never empty, far under 128 characters.
    SetId::new(format!("demo-{i}")).expect("a demo target's set identifier is valid")
}

/// The `[health]` of the lab's controllers: UDP probes ("ping" echoed) every `interval`.
fn health_config(port: u16, interval: Duration) -> anyhow::Result<HealthConfig> {
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
        max_quarantined_fraction: MAX_QUARANTINED_FRACTION,
        all_down: AllDown::FailOpen,
        gc_after: Duration::from_secs(24 * 3600),
        lease_ttl: (interval * 15).max(Duration::from_secs(2)),
        concurrency: 16,
        controller_id: Some("lab".into()),
        // The lab's zones span us-east-1 and us-west-2, all on loopback: every one is reachable.
        probe_across_regions: true,
        watch: None,
        probe,
    };
    hc.validate()
        .map_err(|e| anyhow::anyhow!("lab health configuration: {e}"))?;
    Ok(hc)
}

/// The lab's health service (built as `wavelb health` builds its own): one controller per
/// zone's pool, and with several zones the zone tier (min_healthy 1, return_after
/// [`TIER_RETURN_AFTER`]), sharing one writer client, one listing and one lease.
async fn health_services(
    writer: &Writer,
    zone: &ZoneRef,
    layout: &[zones::LabZone],
    hc: HealthConfig,
    registry: &mut Registry,
) -> anyhow::Result<Vec<Service<Writer, Prober>>> {
    let prober = Arc::new(
        Prober::new(&hc.effective_probe()).map_err(|e| anyhow::anyhow!("lab probe: {e}"))?,
    );
    let tier = (layout.len() > 1).then(|| {
        (
            zones::tier(layout, writer.zone_id()),
            TierPolicy {
                min_healthy: MinHealthy::Targets(1),
                leave_after: 0,
                return_after: TIER_RETURN_AFTER.as_secs(),
                fallback: false,
            },
        )
    });
    let mut pools = Vec::with_capacity(layout.len());
    for z in layout {
        pools.push((z.pool.clone(), writer.sibling(zone).await?, true));
    }
    crate::cmd::health::services(
        pools,
        tier,
        &hc,
        &prober,
        "lab",
        registry,
        std::collections::HashMap::new(),
    )
}

/// The error of a bind that failed: the OS error said once and, when the address is in use,
/// which process holds it (when `/proc` tells) and `how` to move the lab elsewhere.
fn bind_failed(
    addr: SocketAddr,
    what: &str,
    error: &std::io::Error,
    proto: Proto,
    how: &str,
) -> anyhow::Error {
    if error.kind() != std::io::ErrorKind::AddrInUse {
        return anyhow::anyhow!("cannot listen on {addr} ({what}): {error}");
    }
    let holder = port_holder::describe(&port_holder::find(addr, proto), addr.port(), proto)
        .map(|h| format!("; it is held by {h}"))
        .unwrap_or_default();
    anyhow::anyhow!(
        "cannot listen on {addr} ({what}): {error}{holder}; start the lab with {how} to use \
         another port"
    )
}

/// Runs the lab until Ctrl-C, SIGTERM or `quit`.
pub(crate) async fn run(args: LabArgs) -> anyhow::Result<()> {
    let layout = zones::layout(args.zones);
    let geo_table = if layout.len() > 1 {
        GeoTable::parse("wavelb lab --zones", &zones::geo_table(&layout))
            .context("the lab's generated geo table")?
    } else {
        GeoTable::lab()
    };
    let settings = Settings {
        dns_listen: vec![args.dns_listen],
        api_listen: args.api_listen,
        zones: vec![ZONE.into()],
        state_dir: None,
        state_limits: route53_emulator::store::StateLimits::default(),
        propagation_delay: Duration::ZERO,
        api_rate_limit: None,
        api_credentials: None,
        api_insecure: false,
        api_allow_unsigned_payload: false,
        dns_tcp: Default::default(),
        api_limits: Default::default(),
        geo_table: Arc::new(geo_table),
    };
    let mut registry = Registry::default();
    let running = match service::start(&settings, &mut registry).await {
        Ok(running) => running,
        Err(service::StartError::Listen(dns::listen::ListenError::Bind { addr, what, error })) => {
            let (proto, flag) = match what {
                "API" => (Proto::Tcp, "--api-listen"),
                "DNS UDP" => (Proto::Udp, "--dns-listen"),
                _ => (Proto::Tcp, "--dns-listen"),
            };
            let how = format!("{flag} {}:PORT", addr.ip());
            return Err(bind_failed(addr, what, &error, proto, &how));
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot start the lab resolver")),
    };
    let answers = running.shared.dns.metrics.answers.family().clone();

    // Demo targets share one port: the first binds (port 0 picks one), the rest follow.
    let mut targets = Vec::new();
    let mut zone_of = Vec::new();
    let mut port = args.target_port;
    for (k, z) in layout.iter().enumerate() {
        for (_, ip) in &z.targets {
            let addr = SocketAddr::new(*ip, port);
            let t = EchoTarget::start(addr).await.map_err(|e| {
                let what = format!("demo target {}", targets.len() + 1);
                bind_failed(
                    addr,
                    &what,
                    &e,
                    Proto::Udp,
                    "--target-port 0 (any free port)",
                )
            })?;
            port = t.addr.port();
            targets.push(t);
            zone_of.push(k);
        }
    }

    let api_url = format!("http://{}", running.api);
    let cfg = Route53Config {
        endpoint_url: Some(api_url.clone()),
        // The lab's own resolver has no request budget: Route 53's 5 requests/s would only slow
        // every controller of a multi-zone lab down.
        max_requests_per_second: LAB_REQUESTS_PER_SECOND,
        ..Route53Config::default()
    };
    let zone = ZoneRef::Name(Fqdn::parse(ZONE).context("lab zone name")?);
    let writer = Writer::connect(&cfg, &zone, WriterMetrics::register(&mut registry))
        .await
        .context("cannot reach the lab resolver's API")?;
    let mut n = 0;
    for z in &layout {
        let intents: BTreeMap<SetId, Intent> = z
            .targets
            .iter()
            .map(|(w, _)| {
                let t = &targets[n];
                n += 1;
                let mut target = Target::active(set_id(n), vec![t.addr.ip()], *w, unix_now());
                target.probe = Some(t.addr.into());
                (target.id.clone(), Intent::Present(target))
            })
            .collect();
        let mut register = decide_with(|view: &PoolView, _: &[RecordSet]| {
            Ok::<_, std::convert::Infallible>(Decision {
                plan: plan(&z.pool, view, &intents),
                outcome: (),
            })
        });
        reconcile(&writer, &z.pool, CONFLICT_ATTEMPTS, &mut register)
            .await
            .with_context(|| format!("cannot register the demo targets of {}", z.pool.name))?;
    }

    let services = if args.no_health {
        Vec::new()
    } else {
        let hc = health_config(port, args.probe_interval)?;
        health_services(&writer, &zone, &layout, hc, &mut registry).await?
    };
    let metrics = crate::metrics_http::serve(args.metrics_listen, registry)
        .await
        .map_err(|e| {
            let addr = args.metrics_listen;
            match e.root_cause().downcast_ref::<std::io::Error>() {
                Some(io) => {
                    let how = format!("--metrics-listen {}:PORT", addr.ip());
                    bind_failed(addr, "metrics", io, Proto::Tcp, &how)
                }
                None => e,
            }
        })?;
    let (stop_health, health_stopped) = tokio::sync::watch::channel(false);
    let stopped = || {
        let mut rx = health_stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let health_tasks: Vec<_> = services
        .into_iter()
        .map(|service| {
            tokio::spawn(service.run(stopped(), |summary| {
                tracing::info!(summary, "lab health controller running");
            }))
        })
        .collect();

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
    if layout.len() == 1 {
        println!(
            "wavelb lab is running: resolver for {ZONE}, 4 demo UDP echo targets on port {port}."
        );
        println!("  query:    dig @{} -p {} {POOL}", dns.ip(), dns.port());
    } else {
        println!(
            "wavelb lab is running: resolver for {ZONE}, {} Wavelength zones with 2 UDP echo targets each on port {port}, the zone tier at {}.",
            layout.len(),
            zones::GLOBAL
        );
        for (k, z) in (1..).zip(&layout) {
            println!(
                "  zone {k}: {} ({}), pool {}; its clients: dig @{} -p {} {} +subnet=10.{k}.0.0/16",
                z.id,
                z.city,
                z.pool.name.without_dot(),
                dns.ip(),
                dns.port(),
                zones::GLOBAL
            );
        }
    }
    println!("  API:      {api_url}");
    println!("  aws CLI:  {}", aws_line(&api_url));
    // The first zone's pool (the only one without --zones), for `wavelb records`.
    let pool_dir = PoolDir::write(&pool_file(&layout[0].pool.name, &api_url));
    match &pool_dir {
        Ok(dir) => println!(
            "  records:  wavelb --config {} records list{}",
            dir.file.display(),
            if layout.len() > 1 {
                "   (zone 1's pool; edit its name for another zone)"
            } else {
                ""
            }
        ),
        Err(e) => println!("  records:  no pool file written ({e}); see deploy/lab/pool.toml"),
    }
    println!("  metrics:  http://{metrics}/metrics");
    println!("  commands: {}", console::help(layout.len() > 1));
    crate::systemd::ready("lab running");

    let title = if layout.len() == 1 {
        format!("wavelb lab: dig @{} -p {} {POOL}", dns.ip(), dns.port())
    } else {
        format!(
            "wavelb lab: dig @{} -p {} {} +subnet=10.K.0.0/16",
            dns.ip(),
            dns.port(),
            zones::GLOBAL
        )
    };
    let mut console = console::Console {
        writer,
        resolver: Arc::clone(&running.shared),
        zones: layout,
        zone_of,
        targets,
        answers,
        guard: (!args.no_health).then_some(MAX_QUARANTINED_FRACTION),
        title: format!("{title} | API {api_url} | metrics http://{metrics}/metrics"),
    };
    let mode = console::Mode::detect(args.plain, args.headless);
    let outcome = show(&mut console, mode, args.refresh).await;
    crate::systemd::stopping();
    let _ = stop_health.send(true);
    for task in health_tasks {
        let _ = task.await;
    }
    drop(pool_dir);
    println!("lab stopped");
    outcome
}

/// Runs the console in `mode`, looking at the lab every `refresh`, until quit or a signal.
async fn show(
    console: &mut console::Console,
    mode: console::Mode,
    refresh: Duration,
) -> anyhow::Result<()> {
    match mode {
        console::Mode::Tui => tui::run(console, refresh).await,
        console::Mode::Lines => {
            lines::run(console, refresh, true).await;
            Ok(())
        }
        console::Mode::Headless => {
            lines::run(console, refresh, false).await;
            Ok(())
        }
    }
}

/// The aws CLI line the banner shows: it works as printed on a fresh machine. The lab's API is
/// unauthenticated (loopback only), so the request needs no signature and no credentials; Route
/// 53 is global, but the CLI still wants a region.
pub(crate) fn aws_line(api_url: &str) -> String {
    format!(
        "aws --endpoint-url {api_url} --region us-east-1 --no-sign-request route53 list-hosted-zones"
    )
}

/// The configuration file of the lab's pool `name` for `wavelb records` against the lab's API
/// at `api_url`: its owner and TTL are the lab's, so its records are this file's to change.
/// `deploy/lab/pool.toml` is this file for the default lab (a test holds them equal).
pub(crate) fn pool_file(name: &Fqdn, api_url: &str) -> String {
    format!(
        "# The pool of `wavelb lab`, for `wavelb --config THIS_FILE records list` (set-weight,\n\
         # quarantine, restore...). The lab writes its records as owner {OWNER} with a TTL of\n\
         # {TTL} s: with another owner_id every record is foreign and changes are refused.\n\
         [pool]\n\
         name = \"{name}\"\n\
         zone = \"{ZONE}\"\n\
         owner_id = \"{OWNER}\"\n\
         ttl = {TTL}\n\
         \n\
         [route53]\n\
         # The lab's API (wavelb lab --api-listen); it takes any credentials, or none.\n\
         endpoint_url = \"{api_url}\"\n",
        name = name.without_dot(),
    )
}

/// The directory holding the running lab's pool file, removed when the lab stops.
struct PoolDir {
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl PoolDir {
    /// Writes `text` to `pool.toml` in a new directory of this user's (`$XDG_RUNTIME_DIR`, else
    /// the temporary directory), named for this process; created, never reused, mode 0700.
    fn write(text: &str) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(std::path::PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("wavelb-lab-{}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let file = dir.join("pool.toml");
        let written = Self { dir, file };
        std::fs::write(&written.file, text)?;
        Ok(written)
    }
}

impl Drop for PoolDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped lab pool file is the one the lab writes for its default API address.
    #[test]
    fn the_shipped_pool_file_is_the_default_labs() {
        let shipped = include_str!("../../../deploy/lab/pool.toml");
        let name = Fqdn::parse(POOL).unwrap();
        let api = format!("http://{}", crate::cli::LAB_API_LISTEN);
        assert_eq!(shipped, pool_file(&name, &api));
        let cfg: toml::Value = toml::from_str(shipped).unwrap();
        assert_eq!(cfg["pool"]["owner_id"].as_str(), Some(OWNER));
        assert_eq!(cfg["pool"]["ttl"].as_integer(), Some(i64::from(TTL)));
    }
}
