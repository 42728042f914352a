//! The EC2 client, beside the Route 53 one. The agent asks DescribeNetworkInterfaces for its
//! Carrier IP; the health controller asks DescribeInstances whether a long-quarantined target's
//! instance is gone. Each process builds one [`Ec2`] client, for an explicit region (`[ec2]
//! region`, the instance's region from IMDS, or the SDK's region chain), never a silent default.

use aws_sdk_ec2::types::{Filter, NetworkInterface};

use registry::config::Ec2Config;
use registry::ec2::{Ec2Error, Ec2Interface, InterfaceQuery, MAX_PAGES};

/// Why EC2 could not say which interfaces are attached.
#[derive(Debug, thiserror::Error)]
pub enum InterfacesError {
    /// No client: no region for EC2.
    #[error(transparent)]
    Connect(#[from] Ec2Error),
    /// DescribeNetworkInterfaces failed (shown with the SDK's whole error context).
    #[error("{}", aws_sdk_ec2::error::DisplayErrorContext(.0))]
    Api(
        Box<
            aws_sdk_ec2::error::SdkError<
                aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesError,
                aws_smithy_runtime_api::client::orchestrator::HttpResponse,
            >,
        >,
    ),
    /// Still more pages after [`MAX_PAGES`].
    #[error("DescribeNetworkInterfaces for {instance_id} still had more pages after {max}")]
    TooManyPages {
        /// The instance asked about.
        instance_id: String,
        /// The bound on pages.
        max: usize,
    },
}

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
    ) -> Result<Vec<Ec2Interface>, InterfacesError> {
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
            let page = page.map_err(|e| InterfacesError::Api(Box::new(e)))?;
            out.extend(page.network_interfaces().iter().map(convert));
        }
        Err(InterfacesError::TooManyPages {
            instance_id: instance_id.to_owned(),
            max: MAX_PAGES,
        })
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
                let gone = registry::ec2::gone_by_error_code(code);
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
