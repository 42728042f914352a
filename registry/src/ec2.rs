//! What wavelb asks EC2, in its own terms (pure): an instance's interfaces, which of them to
//! describe, and what an error code says of an instance. The client itself is `aws::ec2::Ec2`.

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
