//! What the agent asks about the instance it runs on: who and where it is and which address it
//! publishes, and the notices that take it out of service (Spot interruption, Auto Scaling's
//! lifecycle state). [`Ec2Instance`] asks IMDS and EC2; in-process tests script an [`Instance`].

use std::future::Future;

use crate::config::AgentConfig;
use crate::discovery::{DiscoveryError, Ec2Source, Identity, discover};
use crate::imds::{Imds, ImdsError};
use crate::lifecycle::Placement;

/// The instance as the agent sees it.
pub trait Instance: Send + Sync {
    /// Who and where the instance is and what it publishes (asked at the start, and again at
    /// every reconcile so that a re-associated Carrier IP is published).
    fn discover(&self) -> impl Future<Output = Result<Identity, DiscoveryError>> + Send;
    /// Whether there are notices to poll: false when the agent runs without IMDS (an address and
    /// a target id configured), in which case the instance is always in service.
    fn has_notices(&self) -> bool;
    /// The Spot interruption notice (`spot/instance-action`), `None` while none is posted.
    fn spot_notice(&self) -> impl Future<Output = Result<Option<String>, ImdsError>> + Send;
    /// Auto Scaling's target lifecycle state (in service when the instance is in no group).
    fn placement(&self) -> impl Future<Output = Result<Placement, ImdsError>> + Send;
}

/// The instance through IMDSv2 and EC2 (`[agent] imds_endpoint`, `[ec2]`).
pub struct Ec2Instance<'a> {
    cfg: &'a AgentConfig,
    ec2: Ec2Source,
    /// IMDS for the notices; `None` when `[agent] address` and `target_id` are both set.
    notices: Option<Imds>,
}

impl<'a> Ec2Instance<'a> {
    /// The instance as `[agent]` and `[ec2]` describe how to ask it. With `address` and
    /// `target_id` both set, IMDS is never asked.
    pub fn new(cfg: &'a AgentConfig, ec2: Ec2Source) -> Self {
        let notices = if cfg.address.is_some() && cfg.target_id.is_some() {
            None
        } else {
            Imds::new(&cfg.imds_endpoint, 1).ok()
        };
        Self { cfg, ec2, notices }
    }
}

impl Instance for Ec2Instance<'_> {
    fn discover(&self) -> impl Future<Output = Result<Identity, DiscoveryError>> + Send {
        discover(self.cfg, &self.ec2)
    }

    fn has_notices(&self) -> bool {
        self.notices.is_some()
    }

    async fn spot_notice(&self) -> Result<Option<String>, ImdsError> {
        match &self.notices {
            Some(imds) => imds.get("meta-data/spot/instance-action").await,
            None => Ok(None),
        }
    }

    async fn placement(&self) -> Result<Placement, ImdsError> {
        match &self.notices {
            Some(imds) => imds
                .get("meta-data/autoscaling/target-lifecycle-state")
                .await
                .map(|v| Placement::from_imds(v.as_deref())),
            None => Ok(Placement::InService),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IMDS is asked for notices unless the address and the target id are both configured.
    #[test]
    fn notices_need_imds_unless_the_agent_is_told_who_it_is() {
        let cfg = |lines: &str| -> AgentConfig { toml::from_str(lines).unwrap() };
        let on_ec2 = cfg("");
        let told = cfg("address = \"192.0.2.10\"\ntarget_id = \"i-1\"");
        let half = cfg("address = \"192.0.2.10\"");
        assert!(Ec2Instance::new(&on_ec2, Ec2Source::default()).has_notices());
        assert!(!Ec2Instance::new(&told, Ec2Source::default()).has_notices());
        assert!(Ec2Instance::new(&half, Ec2Source::default()).has_notices());
    }
}
