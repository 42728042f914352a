//! EC2 DescribeNetworkInterfaces for the Carrier IP (feature `ec2`).

use aws_sdk_ec2::types::{Filter, NetworkInterface};

use crate::config::Ec2Config;
use crate::discovery::Ec2Interface;

/// The interfaces attached to `instance_id`, with their Carrier and public IPs.
pub async fn interfaces(
    cfg: &Ec2Config,
    region: &str,
    instance_id: &str,
) -> Result<Vec<Ec2Interface>, String> {
    let region = cfg.region.clone().unwrap_or_else(|| region.to_owned());
    let client = aws_sdk_ec2::Client::new(
        &registry::sdk::shared_config(cfg.endpoint_url.as_deref(), &region).await,
    );
    let out = client
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("attachment.instance-id")
                .values(instance_id)
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_sdk_ec2::error::DisplayErrorContext(&e).to_string())?;
    Ok(out.network_interfaces().iter().map(convert).collect())
}

/// Reads one interface of the response.
pub fn convert(ni: &NetworkInterface) -> Ec2Interface {
    let association = ni.association();
    Ec2Interface {
        device: ni
            .attachment()
            .and_then(|a| a.device_index())
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(u32::MAX),
        carrier_ip: association
            .and_then(|a| a.carrier_ip())
            .and_then(|ip| ip.parse().ok()),
        public_ip: association
            .and_then(|a| a.public_ip())
            .and_then(|ip| ip.parse().ok()),
    }
}

/// Whether an EC2 instance is gone: `Some(true)` when it is terminated (or shutting down) or
/// does not exist, `Some(false)` when it exists, `None` when EC2 could not say.
pub async fn instance_gone(cfg: &Ec2Config, region: &str, instance_id: &str) -> Option<bool> {
    let region = cfg.region.clone().unwrap_or_else(|| region.to_owned());
    let client = aws_sdk_ec2::Client::new(
        &registry::sdk::shared_config(cfg.endpoint_url.as_deref(), &region).await,
    );
    match client
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
    {
        Ok(out) => {
            let states: Vec<_> = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(|i| {
                    i.state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                })
                .collect();
            Some(
                states.is_empty()
                    || states
                        .iter()
                        .all(|s| s == "terminated" || s == "shutting-down"),
            )
        }
        Err(e) => {
            let code = aws_sdk_ec2::error::ProvideErrorMetadata::code(&e).unwrap_or("");
            if code.starts_with("InvalidInstanceID") {
                Some(true)
            } else {
                tracing::warn!(instance_id, error = %aws_sdk_ec2::error::DisplayErrorContext(&e), "cannot ask EC2 whether the instance exists");
                None
            }
        }
    }
}
