//! `wavelb health`: the health controller as a long-running service.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use aws::metrics::WriterMetrics;
use aws::writer::Writer;
use health::controller::{Controller, Liveness};
use health::metrics::HealthMetrics;
use health::service::Service;
use health::tier::TierPolicy;
use health::tier_controller::TierController;
use probe::Prober;
use prometheus_client::registry::Registry;
use registry::metrics::PoolMetrics;
use registry::name::Fqdn;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::cli::HealthArgs;
use crate::config::Config;
use crate::exit::UsageError;

/// A default controller id: the host name and the process id, as protocol tokens.
pub(crate) fn default_controller_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    format!("{host}-{}", std::process::id())
}

/// Runs `wavelb health` until SIGTERM or SIGINT: one controller per `[pool]`/`[[pool]]` section,
/// in one process, sharing the prober, the metrics endpoint and the Route 53 request budget.
pub(crate) async fn run(cfg: Option<&Config>, args: HealthArgs) -> anyhow::Result<()> {
    let cfg = cfg.ok_or_else(|| {
        UsageError("`wavelb health` needs a configuration file: pass --config PATH".into())
    })?;
    let pools = cfg.pool_specs("health")?;
    let mut hc = cfg.health.clone().ok_or_else(|| {
        UsageError("`wavelb health` needs a [health] section with [health.probe]".into())
    })?;
    if let Some(id) = args.controller_id.clone() {
        hc.controller_id = Some(id);
    }
    if let Some(addr) = args.metrics_listen {
        hc.metrics_listen = addr;
    }
    hc.validate().map_err(|e| UsageError(e.to_string()))?;
    let prober = Arc::new(
        Prober::new(&hc.effective_probe()).map_err(|e| UsageError(format!("health.probe: {e}")))?,
    );
    let watched = watched(&hc, &pools)?;
    let names: Vec<String> = pools
        .iter()
        .zip(&watched)
        .filter(|(_, w)| **w)
        .map(|((p, _), _)| p.name.without_dot().to_owned())
        .collect();
    // The zone tier, over this file's pools (in their hosted zone, known once it is opened).
    let mut warnings = Vec::new();
    let mut tier_members = None;
    if let Some(global) = &cfg.global {
        let specs: Vec<_> = pools.iter().map(|(p, _)| p.clone()).collect();
        let spec = global
            .spec(&specs, "")
            .map_err(|e| UsageError(e.to_string()))?;
        warnings.extend(health::global::unsigned_tier_warning(&spec));
        let is_watched = |pool: &str| {
            let name = Fqdn::from_api(pool);
            pools
                .iter()
                .zip(&watched)
                .any(|((p, _), w)| *w && p.name == name)
        };
        health::regions::check_one_region(global, hc.probe_across_regions, is_watched)
            .map_err(|e| UsageError(e.to_string()))?;
        for ((p, _), w) in pools.iter().zip(&watched) {
            let member = spec.members.iter().any(|m| m.pool == p.name);
            // A record wavelb did not write never decides a deletion: without a key, anyone
            // with write access to the zone could write a pool's health and take its zone out.
            if !*w && member && p.ownership_key.is_none() {
                return Err(UsageError(format!(
                    "[health] watch leaves the tier's pool {} to its recorded health, which \
                     without an ownership key anyone with write access to the hosted zone could \
                     forge (and take its zone out of the tier): set ownership_key_file in its \
                     [[pool]], the same key as its own controllers'",
                    p.name.without_dot()
                ))
                .into());
            }
            if !*w && !member {
                warnings.push(format!(
                    "[[pool]] {} is neither in [health] watch nor in the zone tier: this process \
                     does nothing with it",
                    p.name.without_dot()
                ));
            }
        }
        tier_members = Some(spec.members.len() + usize::from(spec.fallback.is_some()));
    }
    if args.check_config {
        let zones: Vec<String> = pools.iter().map(|(_, zone)| zone_key(zone)).collect();
        // The tier writes in the first pool's hosted zone.
        let tier = tier_members.zip(zones.first().map(String::as_str));
        let counts = registry::quota::count(
            zones.iter().map(String::as_str),
            tier.map(|(members, zone)| (zone, members)),
        );
        let quota = cfg.route53.max_record_sets_per_zone;
        warnings.extend(
            counts
                .iter()
                .filter_map(|(zone, used)| used.warning(zone, quota)),
        );
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        if names.is_empty() {
            println!(
                "configuration is valid: no pool watched here; the zone tier reads its pools' \
                 recorded health"
            );
        } else {
            println!(
                "configuration is valid: pool{} {} probed with {}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                prober.kind().as_str()
            );
        }
        let budget = budget(&zones, tier_members, &hc, &args);
        let total: f64 = budget.iter().map(|(_, (b, _))| b.total()).sum();
        println!(
            "request budget in steady state: {total:.2} Route 53 requests/s of the account's {} \
             ({} controller{}, {} targets per pool, agents every {} s; registry::budget)",
            registry::budget::ACCOUNT_REQUESTS_PER_SECOND,
            args.controllers,
            if args.controllers == 1 { "" } else { "s" },
            args.targets_per_pool,
            args.agent_reconcile_interval.as_secs(),
        );
        for (zone, (b, _)) in &budget {
            for line in &b.lines {
                println!(
                    "  hosted zone {zone}: {:.3}/s {}",
                    line.per_second, line.what
                );
            }
        }
        let share = cfg.route53.budget_share;
        match budget.as_slice() {
            [(_, (b, fleet))] => {
                if let Some(w) = b.warning(share, fleet) {
                    eprintln!("warning: {w}");
                }
            }
            _ if total > share * registry::budget::ACCOUNT_REQUESTS_PER_SECOND => eprintln!(
                "warning: this fleet would spend {total:.2} Route 53 requests/s in steady state, \
                 more than {:.0} % of the account's {}/s ([route53] budget_share); raise \
                 poll_interval (and lease_ttl with it)",
                share * 100.0,
                registry::budget::ACCOUNT_REQUESTS_PER_SECOND
            ),
            _ => {}
        }
        for (zone, used) in &counts {
            println!(
                "hosted zone {zone}: up to {} record sets of its quota of {quota} ({} pool{} at {} \
                 targets each, {} per target)",
                used.full_sets(),
                used.pools,
                if used.pools == 1 { "" } else { "s" },
                registry::quota::MAX_TARGETS_PER_POOL,
                registry::quota::SETS_PER_TARGET,
            );
        }
        return Ok(());
    }
    let id = hc
        .controller_id
        .clone()
        .unwrap_or_else(default_controller_id);
    let mut registry = Registry::default();
    let writer_metrics = WriterMetrics::register(&mut registry);
    // One writer per pool, all sharing the first one's client and rate limit.
    let mut writers: Vec<Writer> = Vec::with_capacity(pools.len());
    for (pool, zone) in &pools {
        let writer = match writers.first() {
            None => Writer::connect(&cfg.route53, zone, writer_metrics.clone()).await,
            Some(first) => first.sibling(zone).await,
        }
        .with_context(|| format!("cannot open the hosted zone of pool {}", pool.name))?;
        writers.push(writer);
    }
    let tier = match &cfg.global {
        Some(global) => Some(tier_spec(global, &pools, &writers)?),
        None => None,
    };
    // Each pool's EC2 Region: its tier zone's parent Region, else `[ec2] region` (or the SDK's
    // chain). One client per Region asked.
    let pool_regions = cfg
        .global
        .as_ref()
        .map(health::regions::pool_regions)
        .unwrap_or_default();
    let mut liveness = HashMap::new();
    if let Some(ec2) = &cfg.ec2 {
        let mut clients = Ec2Liveness::connect(ec2).await?;
        for (pool, _) in &pools {
            let region = pool_regions.get(pool.name.without_dot()).copied();
            liveness.insert(
                pool.name.clone(),
                clients.for_pool(&pool.name, region).await?,
            );
        }
    }
    let services = services(
        pools
            .into_iter()
            .zip(writers)
            .zip(watched)
            .map(|(((p, _), w), watched)| (p, w, watched))
            .collect(),
        tier,
        &hc,
        &prober,
        &id,
        &mut registry,
        liveness,
    )?;
    let metrics_addr = crate::metrics_http::serve(hc.metrics_listen, registry).await?;
    println!(
        "{}",
        serde_json::json!({ "metrics": metrics_addr.to_string(), "controller_id": id, "pool": names.first(), "pools": names })
    );
    tracing::info!(pools = %names.join(","), controller = %id, metrics = %metrics_addr, "health controller starting");
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<String>();
    let mut tasks = JoinSet::new();
    let total = services.len();
    for service in services {
        let mut stop = stop_rx.clone();
        let ready = ready_tx.clone();
        tasks.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            service
                .run(stopped, |summary| {
                    let _ = ready.send(summary.to_owned());
                })
                .await;
        });
    }
    drop(ready_tx);
    // READY=1 once every hosted zone has been read: until then a restart would lose nothing.
    let mut first = Vec::new();
    let shutdown = crate::systemd::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(summary) = ready_rx.recv(), if first.len() < total => {
                first.push(summary);
                if first.len() == total {
                    crate::systemd::ready(&first.join("; "));
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    crate::systemd::stopping();
    Ok(())
}

/// The health services of a process, built in one place for `wavelb health` and `wavelb lab`:
/// one per hosted zone its pools are in, each with its pools' controllers, the zone tier when
/// its pools are there, and one leader lease. `pools`: each pool with the writer of its hosted
/// zone (siblings sharing one client and rate limit), and whether this process watches it (a
/// tier member it does not watch is read from its recorded health). `liveness`: the EC2 oracle
/// of each pool that has one. Registers the health metrics in `registry`.
pub(crate) fn services(
    pools: Vec<(registry::model::PoolSpec, Writer, bool)>,
    tier: Option<(registry::tier::TierSpec, TierPolicy)>,
    hc: &health::config::HealthConfig,
    prober: &Arc<Prober>,
    id: &str,
    registry: &mut Registry,
    mut liveness: HashMap<Fqdn, Arc<dyn Liveness>>,
) -> anyhow::Result<Vec<Service<Writer, Prober>>> {
    let metrics = HealthMetrics::register(registry);
    let pool_metrics = PoolMetrics::register(registry);
    // Each hosted zone: its writer, the pools watched there, the pools only read there.
    type Zone = (Arc<Writer>, Vec<Controller>, Vec<registry::model::PoolSpec>);
    let mut zones: Vec<Zone> = Vec::new();
    for (pool, writer, watched) in pools {
        let i = match zones
            .iter()
            .position(|(w, _, _)| w.zone_id() == writer.zone_id())
        {
            Some(i) => i,
            None => {
                zones.push((Arc::new(writer), Vec::new(), Vec::new()));
                zones.len() - 1
            }
        };
        if !watched {
            zones[i].2.push(pool);
            continue;
        }
        let mut controller = Controller::new(
            pool,
            hc.clone(),
            Arc::clone(prober),
            metrics.clone(),
            pool_metrics.clone(),
        );
        if let Some(l) = liveness.remove(&controller.pool().name) {
            controller = controller.with_liveness(l);
        }
        zones[i].1.push(controller);
    }
    let mut tier =
        tier.map(|(spec, policy)| TierController::new(spec, policy, hc.lease_ttl, metrics.clone()));
    let mut out = Vec::with_capacity(zones.len());
    for (writer, controllers, unwatched) in zones {
        let here = tier.take_if(|t| t.spec().hosted_zone_id == writer.zone_id());
        // The tier's pools this process does not watch: their recorded health.
        let recorded: Vec<_> = match &here {
            Some(t) => unwatched
                .into_iter()
                .filter(|p| t.spec().members.iter().any(|m| m.pool == p.name))
                .collect(),
            None => Vec::new(),
        };
        if controllers.is_empty() && here.is_none() {
            continue;
        }
        let service = Service::new(
            writer,
            controllers,
            here,
            recorded,
            hc.clone(),
            id.to_owned(),
            metrics.clone(),
        )?;
        out.push(service);
    }
    Ok(out)
}

/// The request budget of each hosted zone's service ([`registry::budget`]): its pools, the tier
/// in the first pool's zone, at the configured intervals and `--check-config`'s fleet size.
fn budget(
    zones: &[String],
    tier_members: Option<usize>,
    hc: &health::config::HealthConfig,
    args: &HealthArgs,
) -> Vec<(String, Budgeted)> {
    let mut out: Vec<(String, Budgeted)> = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        if let Some((_, b)) = out.iter_mut().find(|(z, _)| z == zone) {
            b.1.pools += 1;
            b.0 = registry::budget::model(&b.1);
            continue;
        }
        let fleet = registry::budget::Fleet {
            pools: 1,
            targets_per_pool: usize::from(args.targets_per_pool),
            tier_members: if i == 0 { tier_members.unwrap_or(0) } else { 0 },
            controllers: usize::from(args.controllers),
            poll_interval: hc.poll_interval,
            lease_ttl: hc.lease_ttl,
            // This zone's pools' agents.
            agent_reconcile: Some(args.agent_reconcile_interval),
        };
        out.push((zone.clone(), (registry::budget::model(&fleet), fleet)));
    }
    out
}

/// A zone's budget and the fleet it was computed for.
type Budgeted = (registry::budget::Budget, registry::budget::Fleet);

/// Which of `pools` this process watches: `[health] watch`, or every one.
fn watched(
    hc: &health::config::HealthConfig,
    pools: &[(registry::model::PoolSpec, registry::config::ZoneRef)],
) -> anyhow::Result<Vec<bool>> {
    let Some(watch) = &hc.watch else {
        return Ok(vec![true; pools.len()]);
    };
    let mut names = Vec::with_capacity(watch.len());
    for w in watch {
        let name = Fqdn::parse(w).map_err(|e| UsageError(format!("[health] watch: {e}")))?;
        if !pools.iter().any(|(p, _)| p.name == name) {
            return Err(UsageError(format!(
                "[health] watch: {} is not the name of a [[pool]] of this file",
                registry::escape::escape(w)
            ))
            .into());
        }
        names.push(name);
    }
    Ok(pools.iter().map(|(p, _)| names.contains(&p.name)).collect())
}

/// How `--check-config` names a pool's hosted zone: its name, or its id.
fn zone_key(zone: &registry::config::ZoneRef) -> String {
    match zone {
        registry::config::ZoneRef::Name(name) => name.to_string(),
        registry::config::ZoneRef::Id(id) => id.clone(),
    }
}

/// The zone tier over `pools` (opened as `writers`), in their hosted zone: the tier and every
/// pool it points at must share one (Route 53 aliases records in the same zone).
fn tier_spec(
    global: &health::global::GlobalConfig,
    pools: &[(registry::model::PoolSpec, registry::config::ZoneRef)],
    writers: &[Writer],
) -> anyhow::Result<(registry::tier::TierSpec, TierPolicy)> {
    let specs: Vec<_> = pools.iter().map(|(p, _)| p.clone()).collect();
    let zone_of = |name: &Fqdn| {
        pools
            .iter()
            .zip(writers)
            .find(|((p, _), _)| p.name == *name)
            .map(|((_, zone), w)| (zone, w))
    };
    // The hosted zone id is known once the pools' zones are open: filled in below.
    let mut spec = global
        .spec(&specs, "")
        .map_err(|e| UsageError(e.to_string()))?;
    let mut zone_ids = spec
        .members
        .iter()
        .filter_map(|m| zone_of(&m.pool))
        .map(|(_, w)| w.zone_id().to_owned());
    let first = zone_ids.next().unwrap_or_default();
    if let Some(other) = zone_ids.find(|z| *z != first) {
        return Err(UsageError(format!(
            "[global] {}: its pools are in different hosted zones ({first} and {other}); Route 53 \
             aliases only records in the same zone, so every pool of the tier must share one",
            global.name
        ))
        .into());
    }
    spec.hosted_zone_id = first;
    let (zone, _) = zone_of(&spec.members[0].pool)
        .ok_or_else(|| anyhow::anyhow!("the tier's first pool has no writer"))?;
    // The zone's own name is inside it: Route 53 allows alias (and geoproximity) records at
    // the apex, beside its SOA and NS, so the tier may be `example.com` itself.
    if let registry::config::ZoneRef::Name(zone) = zone
        && !spec.name.is_within(zone)
    {
        return Err(UsageError(format!(
            "[global] name {} is not inside the hosted zone {zone} of its pools",
            spec.name
        ))
        .into());
    }
    let policy = global.policy().map_err(|e| UsageError(e.to_string()))?;
    Ok((spec, policy))
}

/// Garbage collection asks EC2 whether an instance is gone (`[ec2]` present). EC2 answers for
/// its own Region only (an instance of another Region is `InvalidInstanceID.NotFound`, which
/// would read as gone), so each pool asks its own Region: its tier zone's parent Region when the
/// zone names one, else `[ec2] region` or the SDK's region chain (never a guessed region). One
/// client per Region, shared by its pools.
struct Ec2Liveness {
    cfg: registry::config::Ec2Config,
    default: Arc<dyn Liveness>,
    default_region: String,
    by_region: HashMap<String, Arc<dyn Liveness>>,
}

impl Ec2Liveness {
    async fn connect(cfg: &registry::config::Ec2Config) -> anyhow::Result<Self> {
        let (default, default_region) = ec2_client(cfg).await?;
        Ok(Self {
            cfg: cfg.clone(),
            default,
            default_region,
            by_region: HashMap::new(),
        })
    }

    /// The client for `pool`, in `region` when its zone names one.
    async fn for_pool(
        &mut self,
        pool: &Fqdn,
        region: Option<&str>,
    ) -> anyhow::Result<Arc<dyn Liveness>> {
        let region = match region {
            Some(r) if r != self.default_region => r,
            _ => {
                tracing::info!(pool = %pool, region = %self.default_region, "garbage collection asks EC2");
                return Ok(self.default.clone());
            }
        };
        if !self.by_region.contains_key(region) {
            let cfg = registry::config::Ec2Config {
                region: Some(region.to_owned()),
                ..self.cfg.clone()
            };
            let (client, _) = ec2_client(&cfg).await?;
            self.by_region.insert(region.to_owned(), client);
        }
        tracing::info!(pool = %pool, region, "garbage collection asks EC2 in the pool's zone's Region");
        Ok(self.by_region[region].clone())
    }
}

/// One EC2 client for `[ec2] region` or the SDK's region chain, and the Region it asks.
#[cfg(feature = "ec2")]
async fn ec2_client(
    ec2: &registry::config::Ec2Config,
) -> anyhow::Result<(Arc<dyn Liveness>, String)> {
    struct Ec2(aws::ec2::Ec2);
    impl Liveness for Ec2 {
        fn instance_gone<'a>(
            &'a self,
            id: &'a str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<bool>> + Send + 'a>>
        {
            Box::pin(self.0.instance_gone(id))
        }
    }
    let client = aws::ec2::Ec2::connect(ec2, None)
        .await
        .map_err(|e| UsageError(format!("[ec2]: {e}")))?;
    let region = client.region().to_owned();
    Ok((Arc::new(Ec2(client)), region))
}

/// Without the `ec2` feature an `[ec2]` section cannot be honoured: say so instead of ignoring it.
#[cfg(not(feature = "ec2"))]
async fn ec2_client(
    _: &registry::config::Ec2Config,
) -> anyhow::Result<(Arc<dyn Liveness>, String)> {
    Err(UsageError("[ec2] needs a wavelb built with the `ec2` feature (the default)".into()).into())
}
