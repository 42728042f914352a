//! Which addresses a health check may probe, judged on the address a connection reaches, not on
//! how it is written: an IPv4 address inside an IPv6 one (IPv4-mapped `::ffff:a.b.c.d`,
//! IPv4-translated `::ffff:0:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64's well-known prefix
//! `64:ff9b::a.b.c.d`) is judged as that IPv4 address. Used by the API's validation (create and
//! update) and by [`crate::health_checks::checker`] right before it connects, so a check stored by an older
//! version never reaches a refused address either.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why the lab never probes an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 0.0.0.0/8 or `::` ("this network": a connection to 0.0.0.0 reaches the host itself).
    ThisNetwork,
    /// 169.254.0.0/16 or fe80::/10: link-local, where the cloud's instance metadata services
    /// answer (EC2's 169.254.169.254, ECS's 169.254.170.2, DNS 169.254.169.253, time
    /// 169.254.169.123).
    LinkLocal,
    /// fd00:ec2::/32: EC2's IPv6 metadata (fd00:ec2::254), DNS and time services.
    CloudServices,
    /// 64:ff9b:1::/48, NAT64's local-use prefix (RFC 8215): where the IPv4 address sits inside
    /// depends on the network, so no address in it is probed.
    LocalNat64,
    /// 224.0.0.0/4 or ff00::/8.
    Multicast,
    /// 240.0.0.0/4, the limited broadcast address 255.255.255.255 included.
    Reserved,
}

impl Refusal {
    fn describe(self) -> &'static str {
        match self {
            Self::ThisNetwork => "an unspecified or \"this network\" address (0.0.0.0/8, ::)",
            Self::LinkLocal => {
                "a link-local address (169.254.0.0/16, fe80::/10: the instance metadata service)"
            }
            Self::CloudServices => {
                "an EC2 service address (fd00:ec2::/32: the instance metadata service)"
            }
            Self::LocalNat64 => "in NAT64's local-use prefix (64:ff9b:1::/48)",
            Self::Multicast => "a multicast address",
            Self::Reserved => "a reserved or broadcast address (240.0.0.0/4)",
        }
    }
}

/// An address the lab refuses to probe: the address a connection would reach, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The address judged (the IPv4 address inside an IPv6 spelling of one).
    pub reaches: IpAddr,
    /// Why it is refused.
    pub why: Refusal,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "it reaches {}, {}", self.reaches, self.why.describe())
    }
}

/// The IPv4 address written inside `v6` (IPv4-mapped, IPv4-translated, IPv4-compatible or NAT64's
/// well-known prefix), if any. `::` and `::1` are IPv6's own unspecified and loopback addresses,
/// not IPv4-compatible ones.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(v6);
    let o = v6.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let high = bits >> 32;
    let mapped = high == 0xffff;
    let translated = high == 0xffff_0000;
    let compatible = high == 0 && bits > 1;
    let nat64 = high == 0x0064_ff9b_0000_0000_0000_0000;
    (mapped || translated || compatible || nat64).then_some(low)
}

/// The address a connection to `ip` reaches: an IPv4 address written inside IPv6 becomes that
/// IPv4 address; any other address is itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn refusal_v4(v4: Ipv4Addr) -> Option<Refusal> {
    match v4.octets() {
        [0, ..] => Some(Refusal::ThisNetwork),
        [169, 254, ..] => Some(Refusal::LinkLocal),
        [224..=239, ..] => Some(Refusal::Multicast),
        [240..=255, ..] => Some(Refusal::Reserved),
        _ => None,
    }
}

fn refusal_v6(v6: Ipv6Addr) -> Option<Refusal> {
    let s = v6.segments();
    if v6.is_unspecified() {
        Some(Refusal::ThisNetwork)
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some(Refusal::LinkLocal)
    } else if s[0] == 0xfd00 && s[1] == 0x0ec2 {
        Some(Refusal::CloudServices)
    } else if s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001 {
        Some(Refusal::LocalNat64)
    } else if s[0] & 0xff00 == 0xff00 {
        Some(Refusal::Multicast)
    } else {
        None
    }
}

/// `Some` when a health check may not probe `ip`, however it is written: judged on
/// [`canonical`]`(ip)`. Route 53 also refuses loopback and private addresses; the lab, whose
/// targets are on loopback, does not.
pub fn refused(ip: IpAddr) -> Option<Refused> {
    let reaches = canonical(ip);
    let why = match reaches {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }?;
    Some(Refused { reaches, why })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn judged(text: &str) -> Option<Refused> {
        refused(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn every_spelling_of_the_metadata_services_is_refused() {
        for text in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "::ffff:a9fe:a9fe",
            "0:0:0:0:0:ffff:a9fe:a9fe",
            "0000:0000:0000:0000:0000:FFFF:A9FE:A9FE",
            "::ffff:169.254.170.2",
            "::ffff:0:169.254.169.254",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::169.254.170.2",
            "169.254.169.123",
            "169.254.169.253",
        ] {
            let r = judged(text).unwrap_or_else(|| panic!("{text} is accepted"));
            assert_eq!(r.why, Refusal::LinkLocal, "{text}");
            assert!(matches!(r.reaches, IpAddr::V4(_)), "{text}: {r}");
        }
        for (text, why) in [
            ("fd00:ec2::254", Refusal::CloudServices),
            ("fd00:ec2::253", Refusal::CloudServices),
            ("fe80::1", Refusal::LinkLocal),
            ("::ffff:0.0.0.0", Refusal::ThisNetwork),
            ("0.1.2.3", Refusal::ThisNetwork),
            ("0.0.0.0", Refusal::ThisNetwork),
            ("::", Refusal::ThisNetwork),
            ("::2", Refusal::ThisNetwork),
            ("64:ff9b:1::a9fe:a9fe", Refusal::LocalNat64),
            ("224.0.0.1", Refusal::Multicast),
            ("::ffff:239.1.2.3", Refusal::Multicast),
            ("ff02::1", Refusal::Multicast),
            ("255.255.255.255", Refusal::Reserved),
            ("64:ff9b::255.255.255.255", Refusal::Reserved),
        ] {
            assert_eq!(judged(text).map(|r| r.why), Some(why), "{text}");
        }
        let text = judged("::ffff:169.254.169.254").unwrap().to_string();
        assert!(
            text.contains("169.254.169.254") && text.contains("link-local"),
            "{text}"
        );
    }

    #[test]
    fn loopback_private_and_their_spellings_are_probed() {
        for text in [
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "10.1.2.3",
            "192.0.2.7",
            "2001:db8::1",
            "fd00::1",
            "fd00:ec3::254",
        ] {
            assert_eq!(judged(text), None, "{text} is refused");
        }
        assert_eq!(
            canonical("::ffff:127.0.0.1".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            canonical("::1".parse().unwrap()),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
    }

    /// A refused IPv4 address: one of the refused ranges with random host bits.
    fn refused_v4() -> impl Strategy<Value = Ipv4Addr> {
        (0usize..4, any::<u32>()).prop_map(|(range, host)| {
            let (net, len): (u32, u32) = [
                (0x0000_0000, 8),  // 0.0.0.0/8
                (0xa9fe_0000, 16), // 169.254.0.0/16
                (0xe000_0000, 4),  // 224.0.0.0/4
                (0xf000_0000, 4),  // 240.0.0.0/4
            ][range];
            Ipv4Addr::from(net | (host & (u32::MAX >> len)))
        })
    }

    /// An IPv4 address outside every refused range.
    fn probed_v4() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>()
            .prop_map(Ipv4Addr::from)
            .prop_filter("a refused range", |v4| refusal_v4(*v4).is_none())
    }

    /// `v4` inside IPv6: mapped, translated, compatible or NAT64 (never `::` or `::1`, which are
    /// IPv6's own addresses).
    fn embed(v4: Ipv4Addr, how: usize) -> Ipv6Addr {
        let low = u128::from(u32::from(v4));
        let high: u128 = [0xffff, 0xffff_0000, 0, 0x0064_ff9b_0000_0000_0000_0000][how];
        let bits = (high << 32) | low;
        Ipv6Addr::from(if bits <= 1 {
            0xffff_0000_0000 | bits
        } else {
            bits
        })
    }

    /// `v6` written out by hand: every group or with the first run of zero groups as `::`, padded
    /// or not, upper or lower case, the last 32 bits dotted or in hex.
    fn spell(v6: Ipv6Addr, pad: bool, upper: bool, dotted: bool, compress: bool) -> String {
        let s = v6.segments();
        let hex_groups = if dotted { 6 } else { 8 };
        let mut groups: Vec<String> = s[..hex_groups]
            .iter()
            .map(|g| {
                let g = if pad {
                    format!("{g:04x}")
                } else {
                    format!("{g:x}")
                };
                if upper { g.to_uppercase() } else { g }
            })
            .collect();
        let o = v6.octets();
        let tail = dotted.then(|| format!("{}.{}.{}.{}", o[12], o[13], o[14], o[15]));
        let zero_run = s[..hex_groups].iter().position(|g| *g == 0).map(|start| {
            let len = s[start..hex_groups].iter().take_while(|g| **g == 0).count();
            (start, len)
        });
        match zero_run {
            Some((start, len)) if compress => {
                let before = groups[..start].join(":");
                let after: Vec<String> = groups.drain(start + len..).chain(tail.clone()).collect();
                format!("{before}::{}", after.join(":"))
            }
            _ => groups.into_iter().chain(tail).collect::<Vec<_>>().join(":"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn no_spelling_of_a_refused_address_is_accepted(
            v4 in refused_v4(),
            how in 0usize..4,
            pad: bool, upper: bool, dotted: bool, compress: bool,
        ) {
            prop_assert!(refused(IpAddr::V4(v4)).is_some(), "{v4}");
            let v6 = embed(v4, how);
            let written = [
                v6.to_string(),
                spell(v6, true, false, false, false),
                spell(v6, pad, upper, dotted, compress),
            ];
            for text in written {
                let parsed: IpAddr = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                prop_assert_eq!(parsed, IpAddr::V6(v6), "{} reads back as another address", text);
                let r = refused(parsed);
                prop_assert!(r.is_some(), "{} ({}) is accepted", text, v4);
                // The API refuses it too (its message quotes what was written).
                let input = crate::health_checks::ConfigInput {
                    check_type: Some("HTTP".into()),
                    ip_address: Some(text.clone()),
                    ..Default::default()
                };
                let e = input.create().expect_err("accepted by CreateHealthCheck").to_string();
                prop_assert!(e.contains(&text), "{}", e);
            }
        }

        #[test]
        fn the_spellings_of_a_probed_address_are_probed(v4 in probed_v4(), how in 0usize..4) {
            let v6 = embed(v4, how);
            prop_assume!(u128::from(v6) > 1);
            prop_assert_eq!(canonical(IpAddr::V6(v6)), IpAddr::V4(v4));
            prop_assert_eq!(refused(IpAddr::V6(v6)), None);
        }
    }
}
