//! [`ProbeAddr`]: the `probe=` of an ownership record (a leaf module: the model and the TXT
//! codec both use it).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Where a health controller probes a target instead of its published address (`probe=` in
/// the ownership record): the instance's private address, with a port or without one (then the
/// controller's `[health.probe] port` applies). Wavelength zones admit no inbound traffic from
/// outside the carrier network, so controllers in the Region reach targets only at their
/// private addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ProbeAddr {
    /// The address.
    pub ip: IpAddr,
    /// The port, when the target names one.
    pub port: Option<u16>,
}

impl ProbeAddr {
    /// The socket address to probe: this port, or else `default_port`.
    pub fn socket(self, default_port: Option<u16>) -> Option<SocketAddr> {
        self.port
            .or(default_port)
            .map(|port| SocketAddr::new(self.ip, port))
    }
}

impl From<SocketAddr> for ProbeAddr {
    fn from(addr: SocketAddr) -> Self {
        Self {
            ip: addr.ip(),
            port: Some(addr.port()),
        }
    }
}

impl From<IpAddr> for ProbeAddr {
    fn from(ip: IpAddr) -> Self {
        Self { ip, port: None }
    }
}

impl fmt::Display for ProbeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => SocketAddr::new(self.ip, port).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

impl FromStr for ProbeAddr {
    type Err = String;
    /// `ip`, `ip:port` or `[ipv6]:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<SocketAddr>()
            .map(Self::from)
            .or_else(|_| s.parse::<IpAddr>().map(Self::from))
            .map_err(|_| format!("{s:?} is not an ip, ip:port or [ipv6]:port"))
    }
}
