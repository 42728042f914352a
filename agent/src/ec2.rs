//! EC2 DescribeNetworkInterfaces for the Carrier IP (feature `ec2`).

use aws_sdk_ec2::types::{Filter, NetworkInterface};

use crate::config::Ec2Config;
use crate::discovery::{Ec2Interface, ImdsInterface};

/// The most pages of DescribeNetworkInterfaces read (an instance has at most a few dozen
/// interfaces; an endpoint that keeps sending NextToken is not followed forever).
pub const MAX_PAGES: usize = 10;

/// The interfaces of this instance that IMDS reported (`imds`), with their Carrier and public
/// IPs.
///
/// They are asked for by ENI id (IMDS `interface-id`) when IMDS gave every id, else by MAC
/// address, and always only while attached to `instance_id`, so an interface that moved to
/// another instance is never read as ours. Every page is read, up to [`MAX_PAGES`].
pub async fn interfaces(
    cfg: &Ec2Config,
    region: &str,
    instance_id: &str,
    imds: &[ImdsInterface],
) -> Result<Vec<Ec2Interface>, String> {
    let region = cfg.region.clone().unwrap_or_else(|| region.to_owned());
    let client = aws_sdk_ec2::Client::new(
        &registry::sdk::shared_config(cfg.endpoint_url.as_deref(), &region).await,
    );
    let mut request = client.describe_network_interfaces().filters(
        Filter::builder()
            .name("attachment.instance-id")
            .values(instance_id)
            .build(),
    );
    let ids: Option<Vec<String>> = imds.iter().map(|i| i.interface_id.clone()).collect();
    match ids {
        Some(ids) if !ids.is_empty() => request = request.set_network_interface_ids(Some(ids)),
        _ if !imds.is_empty() => {
            request = request.filters(
                Filter::builder()
                    .name("mac-address")
                    .set_values(Some(imds.iter().map(|i| i.mac.clone()).collect()))
                    .build(),
            );
        }
        _ => {}
    }
    let mut pages = request.into_paginator().send();
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(page) = pages.next().await else {
            return Ok(out);
        };
        let page = page.map_err(|e| aws_sdk_ec2::error::DisplayErrorContext(&e).to_string())?;
        out.extend(page.network_interfaces().iter().map(convert));
    }
    Err(format!(
        "DescribeNetworkInterfaces for {instance_id} still had more pages after {MAX_PAGES}"
    ))
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
