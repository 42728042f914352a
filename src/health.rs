//! `wavelb health`: the health controller as a long-running service.

use anyhow::Context;
use health::controller::Controller;
use health::metrics::HealthMetrics;
use health::probe::Prober;
use prometheus_client::registry::Registry;
use registry::config::Placeholders;
use registry::metrics::{PoolMetrics, WriterMetrics};
use registry::writer::Writer;

use crate::cli::HealthArgs;
use crate::config::Config;
use crate::exit::UsageError;

/// A default controller id: the host name and the process id, as protocol tokens.
pub fn default_controller_id() -> String {
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

/// Runs `wavelb health` until SIGTERM or SIGINT.
pub async fn run(cfg: Option<&Config>, args: HealthArgs) -> anyhow::Result<()> {
    let cfg = cfg.ok_or_else(|| {
        UsageError("`wavelb health` needs a configuration file: pass --config PATH".into())
    })?;
    let pool_cfg = cfg.require_pool("health")?;
    let pool = pool_cfg
        .spec(&Placeholders::default())
        .map_err(|e| UsageError(e.to_string()))?;
    let mut hc = cfg.health.clone().ok_or_else(|| {
        UsageError("`wavelb health` needs a [health] section with [health.probe]".into())
    })?;
    if let Some(id) = args.controller_id {
        hc.controller_id = Some(id);
    }
    if let Some(addr) = args.metrics_listen {
        hc.metrics_listen = addr;
    }
    hc.validate().map_err(|e| UsageError(e.to_string()))?;
    let prober =
        Prober::new(&hc.effective_probe()).map_err(|e| UsageError(format!("health.probe: {e}")))?;
    if args.check_config {
        println!(
            "configuration is valid: pool {} probed with {}",
            pool.name,
            prober.kind().as_str()
        );
        return Ok(());
    }
    let id = hc
        .controller_id
        .clone()
        .unwrap_or_else(default_controller_id);
    let mut registry = Registry::default();
    let zone = pool_cfg.zone_ref().map_err(|e| UsageError(e.to_string()))?;
    let writer = Writer::connect(&cfg.route53, &zone, WriterMetrics::register(&mut registry))
        .await
        .context("cannot open the pool's hosted zone")?;
    let metrics = HealthMetrics::register(&mut registry);
    let pool_metrics = PoolMetrics::register(&mut registry);
    let metrics_addr = crate::metrics_http::serve(hc.metrics_listen, registry).await?;
    println!(
        "{}",
        serde_json::json!({ "metrics": metrics_addr.to_string(), "controller_id": id, "pool": pool.name.without_dot() })
    );
    tracing::info!(pool = %pool.name, controller = %id, metrics = %metrics_addr, "health controller starting");
    let mut controller = Controller::new(pool, writer, hc, prober, id, metrics, pool_metrics);
    if let Some(ec2) = &cfg.ec2 {
        controller = with_ec2(controller, ec2)?;
    }
    controller
        .run(crate::systemd::shutdown_signal(), |summary| {
            crate::systemd::ready(summary)
        })
        .await;
    crate::systemd::stopping();
    Ok(())
}

/// Garbage collection asks EC2 whether an instance is gone (`[ec2]` present).
#[cfg(feature = "ec2")]
fn with_ec2(controller: Controller, ec2: &agent::config::Ec2Config) -> anyhow::Result<Controller> {
    struct Ec2(agent::config::Ec2Config);
    impl ::health::controller::Liveness for Ec2 {
        fn instance_gone<'a>(
            &'a self,
            id: &'a str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<bool>> + Send + 'a>>
        {
            let region = self.0.region.clone().unwrap_or_else(|| "us-east-1".into());
            Box::pin(async move { agent::ec2::instance_gone(&self.0, &region, id).await })
        }
    }
    Ok(controller.with_liveness(std::sync::Arc::new(Ec2(ec2.clone()))))
}

/// Without the `ec2` feature an `[ec2]` section cannot be honoured: say so instead of ignoring it.
#[cfg(not(feature = "ec2"))]
fn with_ec2(_: Controller, _: &agent::config::Ec2Config) -> anyhow::Result<Controller> {
    Err(UsageError("[ec2] needs a wavelb built with the `ec2` feature (the default)".into()).into())
}
