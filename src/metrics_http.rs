//! The `/metrics` and `/healthz` endpoint every long-running subcommand serves.
//!
//! `/metrics` negotiates its format as the Prometheus client libraries do: OpenMetrics 1.0 when
//! the request's `Accept` asks for `application/openmetrics-text` (a Prometheus server's scrape
//! does), otherwise the Prometheus text format 0.0.4 (`curl`, `promtool check metrics`, older
//! scrapers). Both carry the same series under the same sample names.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

/// The content type of an OpenMetrics exposition.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of a Prometheus text format 0.0.4 exposition.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `addr` and serves the registry until the process ends. Returns the bound address.
pub(crate) async fn serve(addr: SocketAddr, registry: Registry) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen for metrics on {addr}; pick another address or port")
    })?;
    let bound = listener.local_addr()?;
    let registry = Arc::new(registry);
    let app = Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let registry = registry.clone();
                async move { exposition(&registry, &headers) }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    Ok(bound)
}

/// The registry's exposition, in the format the request's `Accept` header asks for.
fn exposition(registry: &Registry, headers: &HeaderMap) -> axum::response::Response {
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, registry) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {e}\n"),
        )
            .into_response();
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if wants_openmetrics(accept) {
        ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response()
    } else {
        ([(header::CONTENT_TYPE, TEXT_FORMAT)], text_format(&body)).into_response()
    }
}

/// True when `accept` lists `application/openmetrics-text` with a non-zero quality.
fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        media.eq_ignore_ascii_case("application/openmetrics-text")
            && !params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            })
    })
}

/// Rewrites an OpenMetrics exposition as `prometheus_client` writes it into the Prometheus text
/// format 0.0.4: a counter family `x` (samples `x_total`) is described as `x_total`, an info
/// family `x` (samples `x_info`) as the gauge `x_info`, `unknown` becomes `untyped`, and the
/// `# UNIT` and `# EOF` lines go. Sample lines are the same in both formats.
fn text_format(openmetrics: &str) -> String {
    let types: HashMap<&str, &str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let (name, rest) = line.strip_prefix(prefix)?.split_once(' ')?;
            Some((prefix, name, rest))
        });
        match described {
            Some((prefix, name, rest)) => {
                let (suffix, rest) = match (types.get(name).copied(), prefix) {
                    (Some("counter"), _) => ("_total", rest),
                    (Some("info"), "# TYPE ") => ("_info", "gauge"),
                    (Some("info"), _) => ("_info", rest),
                    (Some("unknown"), "# TYPE ") => ("", "untyped"),
                    _ => ("", rest),
                };
                out.push_str(&format!("{prefix}{name}{suffix} {rest}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::metrics::info::Info;

    fn registry() -> Registry {
        let mut r = Registry::default();
        let c = Counter::<u64>::default();
        c.inc();
        r.register("t_requests", "Requests", c);
        let g = Gauge::<i64>::default();
        g.set(-1);
        r.register("t_healthy", "Verdict", g);
        let h = Histogram::new([0.5]);
        h.observe(0.25);
        r.register_with_unit(
            "t_probe",
            "Latency",
            prometheus_client::registry::Unit::Seconds,
            h,
        );
        r.register("t_build", "Build", Info::new(vec![("version", "1")]));
        r
    }

    #[test]
    fn the_text_format_describes_each_family_by_its_sample_names() {
        let mut om = String::new();
        prometheus_client::encoding::text::encode(&mut om, &registry()).unwrap();
        assert!(om.contains("# TYPE t_requests counter\n"), "{om}");
        assert!(om.contains("# UNIT t_probe_seconds seconds\n"), "{om}");
        let text = text_format(&om);
        let expected = "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n\
                        t_requests_total 1\n\
                        # HELP t_healthy Verdict.\n# TYPE t_healthy gauge\nt_healthy -1\n\
                        # HELP t_probe_seconds Latency.\n# TYPE t_probe_seconds histogram\n\
                        t_probe_seconds_sum 0.25\nt_probe_seconds_count 1\n\
                        t_probe_seconds_bucket{le=\"0.5\"} 1\n\
                        t_probe_seconds_bucket{le=\"+Inf\"} 1\n\
                        # HELP t_build_info Build.\n# TYPE t_build_info gauge\n\
                        t_build_info{version=\"1\"} 1\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn openmetrics_only_when_the_scraper_asks_for_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(prometheus));
        assert!(wants_openmetrics("Application/OpenMetrics-Text"));
        assert!(!wants_openmetrics(
            "application/openmetrics-text;q=0, text/plain"
        ));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
    }
}
