//! `wavelb agent`: keep this instance's weighted record in Route 53, drain it on the way out.

use agent::metrics::AgentMetrics;
use agent::run::{Agent, AgentError, Mode};
use aws::metrics::WriterMetrics;
use aws::writer::Writer;
use prometheus_client::registry::Registry;
use registry::metrics::PoolMetrics;
use tokio::sync::watch;

use crate::cli::AgentArgs;
use crate::config::Config;
use crate::exit::UsageError;

/// Runs `wavelb agent`.
pub(crate) async fn run(cfg: Option<&Config>, args: AgentArgs) -> anyhow::Result<()> {
    let cfg = cfg.ok_or_else(|| {
        UsageError("`wavelb agent` needs a configuration file: pass --config PATH".into())
    })?;
    let pool = cfg.require_pool("agent")?;
    let mut agent_cfg = cfg
        .agent
        .clone()
        .ok_or_else(|| UsageError("`wavelb agent` needs an [agent] section".into()))?;
    if let Some(addr) = args.metrics_listen {
        agent_cfg.metrics_listen = addr;
    }
    agent_cfg
        .validate()
        .map_err(|e| UsageError(e.to_string()))?;
    if args.check_config {
        println!("configuration is valid: pool {}", pool.name);
        return Ok(());
    }
    let mode = match (args.once, args.deregister) {
        (true, true) => {
            return Err(UsageError("--once and --deregister cannot be combined".into()).into());
        }
        (true, false) => Mode::Once,
        (false, true) => Mode::Deregister { now: args.now },
        (false, false) if args.now => {
            return Err(UsageError("--now goes with --deregister".into()).into());
        }
        (false, false) => Mode::Run,
    };
    let mut registry = Registry::default();
    let metrics = AgentMetrics::register(&mut registry);
    let writer_metrics = WriterMetrics::register(&mut registry);
    let zone = pool.zone_ref().map_err(|e| UsageError(e.to_string()))?;
    // `--once` promises INSYNC before it exits.
    let mut route53 = cfg.route53.clone();
    route53.wait_for_insync |= mode == Mode::Once;
    let pool_metrics = PoolMetrics::register(&mut registry);
    let ec2 = agent::discovery::Ec2Source::new(cfg.ec2.clone().unwrap_or_default());
    let instance = agent::instance::Ec2Instance::new(&agent_cfg, ec2);
    let self_check = agent::run::self_check(&agent_cfg).map_err(|e| UsageError(e.to_string()))?;
    let metrics_addr = if mode == Mode::Run {
        let addr = crate::metrics_http::serve(agent_cfg.metrics_listen, registry).await?;
        println!("{}", serde_json::json!({ "metrics": addr.to_string() }));
        Some(addr)
    } else {
        None
    };
    tracing::info!(?mode, metrics = ?metrics_addr, "agent starting");
    let agent = Agent {
        pool,
        cfg: &agent_cfg,
        instance: &instance,
        self_check,
        metrics,
        pool_metrics,
        notify: &crate::systemd::Systemd,
    };
    let connect = async || Writer::connect(&route53, &zone, writer_metrics.clone()).await;
    let run = agent::run::run(&agent, mode, signal_counter(), connect).await;
    run.map_err(|e| match e {
        AgentError::Config(msg) => UsageError(msg).into(),
        // Route 53 refuses the batch for good (the pool is full, a value is bad): the
        // configuration or the pool must change, so exit 2 and let the unit not restart.
        e @ AgentError::Write(aws::writer::WriteError::Rejected { .. }) => {
            UsageError(e.to_string()).into()
        }
        other => anyhow::Error::new(other),
    })
}

/// Counts SIGTERM and SIGINT from now on (the handlers are in place when it returns): the agent
/// drains at the first and skips the drain's waits at the second ([`agent::run::run`]).
fn signal_counter() -> watch::Receiver<u32> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(0u32);
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot watch SIGTERM/SIGINT");
        return rx;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tx.send_modify(|n| *n = n.saturating_add(1));
        }
    });
    rx
}
