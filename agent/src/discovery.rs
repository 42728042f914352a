//! Who and where this instance is, and which address it publishes: IMDSv2 for the identity and
//! the interfaces, EC2 DescribeNetworkInterfaces (`aws::ec2`, feature `ec2`) for the
//! Carrier IP.

use std::net::IpAddr;

use registry::config::Placeholders;
use registry::model::{SetId, SetIdError};

use registry::config::Ec2Config;
use registry::ec2::{Ec2Interface, InterfaceQuery};

use crate::config::{AgentConfig, Interfaces};

/// Why EC2 could not say which interfaces are this instance's (nothing to say without the
/// `ec2` feature, which never asks).
#[cfg(feature = "ec2")]
pub type DescribeError = aws::ec2::InterfacesError;
/// Why EC2 could not say which interfaces are this instance's (nothing to say without the
/// `ec2` feature, which never asks).
#[cfg(not(feature = "ec2"))]
pub type DescribeError = std::convert::Infallible;
use crate::imds::{Imds, ImdsError};

/// One network interface as IMDS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdsInterface {
    /// The MAC address.
    pub mac: String,
    /// The ENI id (`interface-id`), when IMDS reports it.
    pub interface_id: Option<String>,
    /// The device number (0 for the primary interface).
    pub device: u32,
    /// Private addresses.
    pub private: Vec<IpAddr>,
    /// Public (Carrier) addresses IMDS reports.
    pub public: Vec<IpAddr>,
}

/// The EC2 client discovery asks: built once per process, at the first discovery (which
/// knows the instance's region), and reused by every rediscovery.
#[derive(Debug, Default)]
pub struct Ec2Source {
    cfg: Ec2Config,
    #[cfg(feature = "ec2")]
    client: tokio::sync::OnceCell<aws::ec2::Ec2>,
}

impl Ec2Source {
    /// A source for `[ec2]`.
    pub fn new(cfg: Ec2Config) -> Self {
        Self {
            cfg,
            #[cfg(feature = "ec2")]
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// What EC2 says about the interfaces IMDS reported (`imds`): asked by ENI id when IMDS
    /// gave every id, else by MAC address, always only while attached to `instance_id`.
    /// `None` without the `ec2` feature.
    pub async fn describe(
        &self,
        region: &str,
        instance_id: &str,
        imds: &[ImdsInterface],
    ) -> Option<Result<Vec<Ec2Interface>, DescribeError>> {
        let ids: Option<Vec<String>> = imds.iter().map(|i| i.interface_id.clone()).collect();
        let query = match ids {
            Some(ids) if !ids.is_empty() => InterfaceQuery::Ids(ids),
            _ if !imds.is_empty() => {
                InterfaceQuery::Macs(imds.iter().map(|i| i.mac.clone()).collect())
            }
            _ => InterfaceQuery::All,
        };
        self.interfaces(region, instance_id, &query).await
    }

    #[cfg(feature = "ec2")]
    async fn interfaces(
        &self,
        region: &str,
        instance_id: &str,
        query: &InterfaceQuery,
    ) -> Option<Result<Vec<Ec2Interface>, DescribeError>> {
        let client = self
            .client
            .get_or_try_init(|| aws::ec2::Ec2::connect(&self.cfg, Some(region)))
            .await;
        Some(match client {
            Ok(client) => client.interfaces(instance_id, query).await,
            Err(e) => Err(e.into()),
        })
    }

    #[cfg(not(feature = "ec2"))]
    async fn interfaces(
        &self,
        _region: &str,
        _instance_id: &str,
        _query: &InterfaceQuery,
    ) -> Option<Result<Vec<Ec2Interface>, DescribeError>> {
        let _ = &self.cfg;
        None
    }
}

/// What the agent knows about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The set identifier: the instance id, or `[agent] target_id`.
    pub target_id: SetId,
    /// The region (`{region}`).
    pub region: Option<String>,
    /// The availability zone, e.g. `us-east-1-wl1-bos-wlz-1` (`{az}` and `{wavelength_zone}`).
    pub az: Option<String>,
    /// The addresses to publish.
    pub addresses: Vec<IpAddr>,
    /// The primary private address (for `probe=`).
    pub private_ip: Option<IpAddr>,
}

impl Identity {
    /// The pool-name placeholders this identity fills.
    pub fn placeholders(&self) -> Placeholders {
        Placeholders {
            wavelength_zone: self.az.clone(),
            region: self.region.clone(),
            az: self.az.clone(),
        }
    }
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// IMDS failed.
    #[error(transparent)]
    Imds(#[from] ImdsError),
    /// IMDS answered but lacks something needed.
    #[error("IMDS at {endpoint} has no {what}")]
    Missing {
        /// The endpoint.
        endpoint: String,
        /// What is missing.
        what: String,
    },
    /// No address to publish.
    #[error(
        "no Carrier IP or public address found on the {which} interface(s) (IMDS public-ipv4s{ec2}); associate a Carrier IP, or set [agent] address"
    )]
    NoAddress {
        /// Which interfaces were looked at.
        which: &'static str,
        /// What EC2 said, if asked.
        ec2: String,
    },
    /// IMDS answered an instance id Route 53 would not take as a set identifier.
    #[error(
        "IMDS answered an instance id that is not a set identifier ({0}); set [agent] target_id"
    )]
    InstanceId(SetIdError),
}

/// Picks the addresses to publish. EC2's answer wins (Carrier IP first, then the public IP);
/// IMDS `public-ipv4s` is the fallback. Returns a note when the two disagree. Pure.
pub fn choose_addresses(
    imds: &[ImdsInterface],
    ec2: Option<&[Ec2Interface]>,
    which: Interfaces,
) -> (Vec<IpAddr>, Option<String>) {
    let wanted = |device: u32| which == Interfaces::All || device == 0;
    let mut from_imds: Vec<IpAddr> = imds
        .iter()
        .filter(|i| wanted(i.device))
        .flat_map(|i| i.public.iter().copied())
        .collect();
    from_imds.sort();
    from_imds.dedup();
    let mut from_ec2: Vec<IpAddr> = ec2
        .unwrap_or_default()
        .iter()
        .filter(|i| wanted(i.device))
        .filter_map(|i| i.carrier_ip.or(i.public_ip))
        .collect();
    from_ec2.sort();
    from_ec2.dedup();
    if from_ec2.is_empty() {
        return (from_imds, None);
    }
    let note = (!from_imds.is_empty() && from_imds != from_ec2).then(|| {
        format!("EC2 reports {from_ec2:?} but IMDS public-ipv4s reports {from_imds:?}; using EC2's")
    });
    (from_ec2, note)
}

async fn required(imds: &Imds, path: &str, what: &str) -> Result<String, DiscoveryError> {
    imds.get(path)
        .await?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| DiscoveryError::Missing {
            endpoint: imds.endpoint().to_owned(),
            what: what.to_owned(),
        })
}

fn ips(text: Option<String>) -> Vec<IpAddr> {
    text.unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Reads the interfaces from IMDS.
pub async fn imds_interfaces(imds: &Imds) -> Result<Vec<ImdsInterface>, DiscoveryError> {
    let macs = imds
        .get("meta-data/network/interfaces/macs/")
        .await?
        .unwrap_or_default();
    let mut out = Vec::new();
    for mac in macs
        .lines()
        .map(|l| l.trim().trim_end_matches('/'))
        .filter(|l| !l.is_empty())
    {
        let base = format!("meta-data/network/interfaces/macs/{mac}");
        let device = imds
            .get(&format!("{base}/device-number"))
            .await?
            .and_then(|d| d.trim().parse().ok())
            .unwrap_or(u32::MAX);
        let interface_id = imds
            .get(&format!("{base}/interface-id"))
            .await?
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        out.push(ImdsInterface {
            mac: mac.to_owned(),
            interface_id,
            device,
            private: ips(imds.get(&format!("{base}/local-ipv4s")).await?),
            public: ips(imds.get(&format!("{base}/public-ipv4s")).await?),
        });
    }
    out.sort_by_key(|i| i.device);
    Ok(out)
}

/// Discovers the identity. With `[agent] address` and `target_id` set, IMDS is not used at all.
pub async fn discover(cfg: &AgentConfig, ec2: &Ec2Source) -> Result<Identity, DiscoveryError> {
    if let (Some(address), Some(id)) = (cfg.address, &cfg.target_id) {
        return Ok(Identity {
            target_id: id.clone(),
            region: None,
            az: None,
            addresses: vec![address],
            private_ip: None,
        });
    }
    let imds = Imds::new(&cfg.imds_endpoint, 3)?;
    let instance_id = required(&imds, "meta-data/instance-id", "instance id").await?;
    let region = required(&imds, "meta-data/placement/region", "region").await?;
    let az = required(
        &imds,
        "meta-data/placement/availability-zone",
        "availability zone",
    )
    .await?;
    let interfaces = imds_interfaces(&imds).await?;
    let private_ip = interfaces.first().and_then(|i| i.private.first().copied());
    let addresses = match cfg.address {
        Some(a) => vec![a],
        None => {
            let from_ec2 = ec2_interfaces(ec2, &region, &instance_id, &interfaces).await;
            let (addresses, note) =
                choose_addresses(&interfaces, from_ec2.as_deref(), cfg.interfaces);
            if let Some(note) = note {
                tracing::warn!(instance_id, "{note}");
            }
            if addresses.is_empty() {
                return Err(DiscoveryError::NoAddress {
                    which: if cfg.interfaces == Interfaces::All {
                        "attached"
                    } else {
                        "primary"
                    },
                    ec2: match from_ec2 {
                        Some(list) => format!(", EC2 {list:?}"),
                        None => String::new(),
                    },
                });
            }
            addresses
        }
    };
    let target_id = match &cfg.target_id {
        Some(id) => id.clone(),
        None => SetId::new(instance_id).map_err(DiscoveryError::InstanceId)?,
    };
    Ok(Identity {
        target_id,
        region: Some(region),
        az: Some(az),
        addresses,
        private_ip,
    })
}

/// What EC2 says about this instance's interfaces, `None` when it cannot be asked or fails:
/// IMDS public-ipv4s is the fallback, so an EC2 API outage never keeps the instance out.
async fn ec2_interfaces(
    ec2: &Ec2Source,
    region: &str,
    instance_id: &str,
    imds: &[ImdsInterface],
) -> Option<Vec<Ec2Interface>> {
    match ec2.describe(region, instance_id, imds).await? {
        Ok(list) => Some(list),
        Err(e) => {
            tracing::warn!(error = %e, "EC2 DescribeNetworkInterfaces failed; falling back to IMDS public-ipv4s");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn imds(device: u32, public: &[&str]) -> ImdsInterface {
        ImdsInterface {
            mac: format!("0e:00:00:00:00:0{device}"),
            interface_id: None,
            device,
            private: vec![ip("10.0.0.5")],
            public: public.iter().map(|p| ip(p)).collect(),
        }
    }

    #[test]
    fn carrier_ip_first_then_public_then_imds() {
        let i = [imds(0, &["155.146.0.1"]), imds(1, &["155.146.0.2"])];
        let carrier = [Ec2Interface {
            device: 0,
            carrier_ip: Some(ip("155.146.9.9")),
            public_ip: Some(ip("3.3.3.3")),
        }];
        let (a, note) = choose_addresses(&i, Some(&carrier), Interfaces::Primary);
        assert_eq!(a, [ip("155.146.9.9")]);
        assert!(
            note.unwrap().contains("using EC2's"),
            "a disagreement is reported"
        );
        let public = [Ec2Interface {
            device: 0,
            carrier_ip: None,
            public_ip: Some(ip("155.146.0.1")),
        }];
        assert_eq!(
            choose_addresses(&i, Some(&public), Interfaces::Primary),
            (vec![ip("155.146.0.1")], None)
        );
        assert_eq!(
            choose_addresses(&i, None, Interfaces::Primary).0,
            [ip("155.146.0.1")]
        );
        assert_eq!(
            choose_addresses(&i, None, Interfaces::All).0,
            [ip("155.146.0.1"), ip("155.146.0.2")]
        );
        assert_eq!(
            choose_addresses(&i, Some(&[]), Interfaces::Primary).0,
            [ip("155.146.0.1")]
        );
        assert!(
            choose_addresses(&[imds(0, &[])], None, Interfaces::Primary)
                .0
                .is_empty()
        );
    }
}
