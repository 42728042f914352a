//! `wavelb resolver`: the lab resolver as a long-running service.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use dns::conn::Caps;
use dns::geotable::GeoTable;
use dns::tcp::TcpLimits;
use prometheus_client::registry::Registry;
use route53_emulator::config::{ResolverConfig, load_credentials};
use route53_emulator::http::ApiLimits;
use route53_emulator::service::{self, Settings};

use crate::cli::ResolverArgs;
use crate::config::Config;
use crate::exit::UsageError;

/// Default DNS address.
pub(crate) const DEFAULT_DNS: &str = "127.0.0.1:5353";
/// Default API address.
pub(crate) const DEFAULT_API: &str = "127.0.0.1:8053";
/// Default metrics address.
pub(crate) const DEFAULT_METRICS: &str = "127.0.0.1:9153";

fn addr(text: &str) -> SocketAddr {
    // The defaults above are literal socket addresses; parsing them cannot fail.
    text.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// The resolver's settings: flags over `[resolver]` over defaults.
pub(crate) fn settings(
    cfg: Option<&Config>,
    args: &ResolverArgs,
) -> Result<(Settings, SocketAddr), UsageError> {
    let file = cfg.map(|c| c.resolver.clone()).unwrap_or_default();
    let (dns_tcp, api_limits) = connection_limits(&file, args)?;
    let state_limits = state_limits(&file, args)?;
    let dns_listen = if args.dns_listen.is_empty() {
        file.dns_listen.unwrap_or_else(|| vec![addr(DEFAULT_DNS)])
    } else {
        args.dns_listen.clone()
    };
    let mut zones = file.zones.unwrap_or_default();
    zones.extend(args.zones.iter().cloned());
    let credentials_path = args.api_credentials.clone().or(file.api_credentials);
    let api_credentials = credentials_path
        .as_deref()
        .map(load_credentials)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    let geo_table = match args.geo_table.as_deref().or(file.geo_table.as_deref()) {
        Some(path) => GeoTable::load(path).map_err(|e| UsageError(e.to_string()))?,
        None => GeoTable::lab(),
    };
    let api_rate_limit = args.api_rate_limit.or(file.api_rate_limit);
    if let Some(r) = api_rate_limit
        && (!r.is_finite() || r <= 0.0)
    {
        return Err(UsageError(format!(
            "api_rate_limit {r}: expected requests per second above 0"
        )));
    }
    let settings = Settings {
        dns_listen,
        api_listen: args
            .api_listen
            .or(file.api_listen)
            .unwrap_or_else(|| addr(DEFAULT_API)),
        zones,
        state_dir: args.state_dir.clone().or(file.state_dir),
        state_limits,
        propagation_delay: args
            .propagation_delay
            .or(file.propagation_delay)
            .unwrap_or(Duration::ZERO),
        api_rate_limit,
        api_credentials,
        api_insecure: args.api_insecure || file.api_insecure.unwrap_or(false),
        api_allow_unsigned_payload: args.api_allow_unsigned_payload
            || file.api_allow_unsigned_payload.unwrap_or(false),
        dns_tcp,
        api_limits,
        geo_table: std::sync::Arc::new(geo_table),
    };
    let metrics = args
        .metrics_listen
        .or(file.metrics_listen)
        .unwrap_or_else(|| addr(DEFAULT_METRICS));
    Ok((settings, metrics))
}

/// The bound on the whole state: flags over `[resolver]` over defaults, each above 0.
fn state_limits(
    file: &ResolverConfig,
    args: &ResolverArgs,
) -> Result<route53_emulator::store::StateLimits, UsageError> {
    let defaults = route53_emulator::store::StateLimits::default();
    let record_sets = args
        .max_record_sets
        .or(file.max_record_sets)
        .unwrap_or(defaults.record_sets);
    let mib = args.max_state_mib.or(file.max_state_mib);
    let per_zone = args
        .max_record_sets_per_zone
        .or(file.max_record_sets_per_zone)
        .unwrap_or(defaults.record_sets_per_zone);
    if record_sets == 0 || mib == Some(0) || per_zone == 0 {
        return Err(UsageError(
            "max_record_sets, max_record_sets_per_zone and max_state_mib: expected a value above 0"
                .into(),
        ));
    }
    Ok(route53_emulator::store::StateLimits {
        record_sets,
        bytes: mib.map_or(defaults.bytes, |m| m.saturating_mul(1024 * 1024)),
        record_sets_per_zone: per_zone,
    })
}

/// The DNS-over-TCP and API connection bounds: flags over `[resolver]` over defaults; every
/// count and time must be above 0.
fn connection_limits(
    file: &ResolverConfig,
    args: &ResolverArgs,
) -> Result<(TcpLimits, ApiLimits), UsageError> {
    fn pick<T: Copy + PartialEq + Default + std::fmt::Debug>(
        key: &str,
        flag: Option<T>,
        file: Option<T>,
        default: T,
    ) -> Result<T, UsageError> {
        let value = flag.or(file).unwrap_or(default);
        if value == T::default() {
            return Err(UsageError(format!(
                "{key} {value:?}: expected a value above 0"
            )));
        }
        Ok(value)
    }
    let tcp = TcpLimits::default();
    let api = ApiLimits::default();
    let dns_tcp = TcpLimits {
        caps: Caps {
            total: pick(
                "dns_tcp_max_connections",
                args.dns_tcp_max_connections,
                file.dns_tcp_max_connections,
                tcp.caps.total,
            )?,
            per_source: pick(
                "dns_tcp_max_per_source",
                args.dns_tcp_max_per_source,
                file.dns_tcp_max_per_source,
                tcp.caps.per_source,
            )?,
        },
        timeout: pick(
            "dns_tcp_timeout",
            args.dns_tcp_timeout,
            file.dns_tcp_timeout,
            tcp.timeout,
        )?,
        max_queries: pick(
            "dns_tcp_max_queries",
            args.dns_tcp_max_queries,
            file.dns_tcp_max_queries,
            tcp.max_queries,
        )?,
        lifetime: pick(
            "dns_tcp_lifetime",
            args.dns_tcp_lifetime,
            file.dns_tcp_lifetime,
            tcp.lifetime,
        )?,
    };
    let api_limits = ApiLimits {
        caps: Caps {
            total: pick(
                "api_max_connections",
                args.api_max_connections,
                file.api_max_connections,
                api.caps.total,
            )?,
            per_source: pick(
                "api_max_per_source",
                args.api_max_per_source,
                file.api_max_per_source,
                api.caps.per_source,
            )?,
        },
        header_timeout: pick(
            "api_header_timeout",
            args.api_header_timeout,
            file.api_header_timeout,
            api.header_timeout,
        )?,
        ..api
    };
    Ok((dns_tcp, api_limits))
}

/// Runs `wavelb resolver` until SIGTERM or SIGINT.
pub(crate) async fn run(cfg: Option<&Config>, args: ResolverArgs) -> anyhow::Result<()> {
    let (settings, metrics_listen) = settings(cfg, &args)?;
    if args.check_config {
        println!("configuration is valid");
        return Ok(());
    }
    let mut registry = Registry::default();
    let running = service::start(&settings, &mut registry)
        .await
        .map_err(|e| match e {
            service::StartError::Zone { .. } | service::StartError::Insecure(_) => {
                anyhow::Error::new(UsageError(e.to_string()))
            }
            other => anyhow::Error::new(other),
        })?;
    let metrics = crate::metrics_http::serve(metrics_listen, registry).await?;
    let line = serde_json::json!({
        "dns": running.dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "api": running.api.to_string(),
        "api_url": format!("http://{}", running.api),
        "metrics": metrics.to_string(),
    });
    println!("{line}");
    tracing::info!(dns = ?running.dns, api = %running.api, %metrics, "resolver ready");
    crate::systemd::ready(&format!(
        "serving DNS on {:?}, API on {}",
        running.dns, running.api
    ));
    tokio::select! {
        _ = crate::systemd::shutdown_signal() => {
            crate::systemd::stopping();
            tracing::info!("stopping");
            Ok(())
        }
        _ = running.join() => Err(anyhow::anyhow!("a resolver listener stopped unexpectedly")).context("resolver failed"),
    }
}
