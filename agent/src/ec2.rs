//! EC2 DescribeNetworkInterfaces for the Carrier IP (feature `ec2`).

use aws_sdk_ec2::config::{BehaviorVersion, Region};
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
    let credentials = registry::sdk::credentials(cfg.endpoint_url.as_deref(), &region).await;
    let mut builder = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(credentials);
    if let Some(url) = &cfg.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    let client = aws_sdk_ec2::Client::from_conf(builder.build());
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
