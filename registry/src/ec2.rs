//! EC2, beside the Route 53 client: the one place wavelb's AWS adapters live. The agent asks
//! DescribeNetworkInterfaces for its Carrier IP; the health controller asks DescribeInstances
//! whether a long-quarantined target's instance is gone. Each process builds one [`Ec2`]
//! client, for an explicit region (`[ec2] region`, the instance's region from IMDS, or the
//! SDK's region chain), never a silent default.

use std::net::IpAddr;

/// One network interface as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Interface {
    /// The attachment's device index (`u32::MAX` when EC2 gave none).
    pub device: u32,
    /// `Association.CarrierIp`: the Wavelength address.
    pub carrier_ip: Option<IpAddr>,
    /// `Association.PublicIp` (EC2 folds a Carrier IP into it).
    pub public_ip: Option<IpAddr>,
}

/// Which of an instance's interfaces to describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceQuery {
    /// By ENI id (IMDS `interface-id`).
    Ids(Vec<String>),
    /// By MAC address (when IMDS gave no ENI id).
    Macs(Vec<String>),
    /// Every interface attached to the instance.
    All,
}

/// The most pages of DescribeNetworkInterfaces read (an instance has at most a few dozen
/// interfaces; an endpoint that keeps sending NextToken is not followed forever).
pub const MAX_PAGES: usize = 10;

/// Why no EC2 client could be built.
#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// No region in `[ec2]`, from IMDS, or in the SDK's region chain.
    #[error("no region for EC2: set [ec2] region (or AWS_REGION); wavelb never guesses one")]
    NoRegion,
}

/// What an EC2 error code says of whether an instance is gone: `Some(true)` only for
/// `InvalidInstanceID.NotFound` (EC2 knows the id and holds no such instance), `None` (EC2 could
/// not say) for everything else. `InvalidInstanceID.Malformed` in particular means the id is
/// not one EC2 can judge: an id written by hand or by an older or newer agent, never evidence
/// that the instance is gone, so it never lets a record be collected.
/// (EC2 API reference, *Error codes for the Amazon EC2 API*:
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>.)
pub fn gone_by_error_code(code: &str) -> Option<bool> {
    (code == "InvalidInstanceID.NotFound").then_some(true)
}

#[cfg(feature = "ec2")]
pub use client::Ec2;

#[cfg(feature = "ec2")]
mod client {
    use aws_sdk_ec2::types::{Filter, NetworkInterface};

    use super::{Ec2Error, Ec2Interface, InterfaceQuery, MAX_PAGES};
    use crate::config::Ec2Config;

    /// An EC2 client for one region.
    #[derive(Debug, Clone)]
    pub struct Ec2 {
        client: aws_sdk_ec2::Client,
        region: String,
    }

    impl Ec2 {
        /// A client for `[ec2] region`, else `region` (the instance's, from IMDS), else the
        /// SDK's region chain (AWS_REGION, the profile); an error when none names one.
        pub async fn connect(cfg: &Ec2Config, region: Option<&str>) -> Result<Self, Ec2Error> {
            let region = match cfg.region.as_deref().or(region) {
                Some(r) => r.to_owned(),
                None => aws_config::default_provider::region::DefaultRegionChain::builder()
                    .build()
                    .region()
                    .await
                    .map(|r| r.to_string())
                    .ok_or(Ec2Error::NoRegion)?,
            };
            let shared = crate::sdk::shared_config(cfg.endpoint_url.as_deref(), &region).await;
            Ok(Self {
                client: aws_sdk_ec2::Client::new(&shared),
                region,
            })
        }

        /// The region this client asks.
        pub fn region(&self) -> &str {
            &self.region
        }

        /// The interfaces `query` names, only while attached to `instance_id` (an interface
        /// that moved to another instance is never read as ours), every page up to
        /// [`MAX_PAGES`].
        pub async fn interfaces(
            &self,
            instance_id: &str,
            query: &InterfaceQuery,
        ) -> Result<Vec<Ec2Interface>, String> {
            let mut request = self.client.describe_network_interfaces().filters(
                Filter::builder()
                    .name("attachment.instance-id")
                    .values(instance_id)
                    .build(),
            );
            match query {
                InterfaceQuery::Ids(ids) => {
                    request = request.set_network_interface_ids(Some(ids.clone()));
                }
                InterfaceQuery::Macs(macs) => {
                    request = request.filters(
                        Filter::builder()
                            .name("mac-address")
                            .set_values(Some(macs.clone()))
                            .build(),
                    );
                }
                InterfaceQuery::All => {}
            }
            let mut pages = request.into_paginator().send();
            let mut out = Vec::new();
            for _ in 0..MAX_PAGES {
                let Some(page) = pages.next().await else {
                    return Ok(out);
                };
                let page =
                    page.map_err(|e| aws_sdk_ec2::error::DisplayErrorContext(&e).to_string())?;
                out.extend(page.network_interfaces().iter().map(convert));
            }
            Err(format!(
                "DescribeNetworkInterfaces for {instance_id} still had more pages after {MAX_PAGES}"
            ))
        }

        /// Whether an EC2 instance is gone: `Some(true)` when it is terminated (or shutting down) or
        /// does not exist, `Some(false)` when it exists, `None` when EC2 could not say.
        pub async fn instance_gone(&self, instance_id: &str) -> Option<bool> {
            match self
                .client
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
                    let gone = super::gone_by_error_code(code);
                    if gone.is_none() {
                        tracing::warn!(instance_id, error = %aws_sdk_ec2::error::DisplayErrorContext(&e), "cannot ask EC2 whether the instance exists");
                    }
                    gone
                }
            }
        }
    }

    /// Reads one interface of the response.
    fn convert(ni: &NetworkInterface) -> Ec2Interface {
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
}

#[cfg(test)]
mod tests {
    use super::gone_by_error_code;

    #[test]
    fn only_not_found_means_gone() {
        assert_eq!(gone_by_error_code("InvalidInstanceID.NotFound"), Some(true));
        for code in [
            "InvalidInstanceID.Malformed",
            "InvalidInstanceID",
            "InvalidInstanceID.NotFound.Extra",
            "UnauthorizedOperation",
            "RequestLimitExceeded",
            "",
        ] {
            assert_eq!(gone_by_error_code(code), None, "{code}");
        }
    }
}
