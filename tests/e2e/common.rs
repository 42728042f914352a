//! Helpers shared by the end-to-end tests of the binary.

use registry::config::{Route53Config, ZoneRef};
use registry::metrics::WriterMetrics;
use registry::name::Fqdn;
use registry::writer::Writer;

/// A registry writer for zone `lab.test` at `api`, patient enough for a throttled API.
pub async fn writer(api: &str) -> Writer {
    let cfg = Route53Config {
        endpoint_url: Some(api.to_owned()),
        max_requests_per_second: 1000.0,
        max_attempts: 40,
        ..Route53Config::default()
    };
    Writer::connect(
        &cfg,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        WriterMetrics::default(),
    )
    .await
    .unwrap()
}
