//! Route 53 presentation-format values → DNS record data, for the types the lab resolver serves.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData};
use registry::model::RrType;

/// The record types the lab resolver accepts and serves.
pub const SUPPORTED: [RrType; 9] = [
    RrType::A,
    RrType::Aaaa,
    RrType::Txt,
    RrType::Cname,
    RrType::Ns,
    RrType::Mx,
    RrType::Soa,
    RrType::Srv,
    RrType::Ptr,
];

/// Parses one resource record value of type `rtype`. The error reads like Route 53's
/// `FATAL problem` reasons.
pub fn parse(rtype: RrType, value: &str) -> Result<RData, String> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let name = |s: &str| {
        Name::from_ascii(s)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|e| format!("DomainLabelInvalid ({e})"))
    };
    let num = |s: &str, what: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{what}Invalid (expected an unsigned integer, got {s:?})"))
    };
    let u16_of = |s: &str, what: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("{what}Invalid (expected an integer 0-65535, got {s:?})"))
    };
    let arity = |n: usize| {
        if fields.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{rtype}RRDATAIllegalFormat (expected {n} fields, got {})",
                fields.len()
            ))
        }
    };
    match rtype {
        RrType::A => value
            .parse::<Ipv4Addr>()
            .map(|ip| RData::A(A(ip)))
            .map_err(|_| "ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)".into()),
        RrType::Aaaa => value
            .parse::<Ipv6Addr>()
            .map(|ip| RData::AAAA(AAAA(ip)))
            .map_err(|_| "AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)".into()),
        RrType::Txt => {
            let strings = registry::txt::split_quoted(value)
                .map_err(|e| format!("TXTRRDATAIllegal ({e})"))?;
            if strings.iter().any(|s| s.len() > 255) {
                return Err("TXTRRDATATooLong (a character string is longer than 255)".into());
            }
            Ok(RData::TXT(TXT::new(strings)))
        }
        RrType::Cname => {
            arity(1)?;
            Ok(RData::CNAME(CNAME(name(fields[0])?)))
        }
        RrType::Ns => {
            arity(1)?;
            Ok(RData::NS(NS(name(fields[0])?)))
        }
        RrType::Ptr => {
            arity(1)?;
            Ok(RData::PTR(PTR(name(fields[0])?)))
        }
        RrType::Mx => {
            arity(2)?;
            Ok(RData::MX(MX::new(
                u16_of(fields[0], "Preference")?,
                name(fields[1])?,
            )))
        }
        RrType::Srv => {
            arity(4)?;
            Ok(RData::SRV(SRV::new(
                u16_of(fields[0], "Priority")?,
                u16_of(fields[1], "Weight")?,
                u16_of(fields[2], "Port")?,
                name(fields[3])?,
            )))
        }
        RrType::Soa => {
            arity(7)?;
            let signed = |s: &str, what: &str| {
                num(s, what).and_then(|n| {
                    i32::try_from(n).map_err(|_| format!("{what}Invalid (too large)"))
                })
            };
            Ok(RData::SOA(SOA::new(
                name(fields[0])?,
                name(fields[1])?,
                num(fields[2], "Serial")?,
                signed(fields[3], "Refresh")?,
                signed(fields[4], "Retry")?,
                signed(fields[5], "Expire")?,
                num(fields[6], "Minimum")?,
            )))
        }
        other => Err(format!(
            "UnsupportedType (the lab resolver serves {}; {other} is not supported)",
            SUPPORTED.map(RrType::as_str).join(", ")
        )),
    }
}

/// Validation hook for [`registry::zone::ZoneRecords::apply`].
pub fn check(rtype: RrType, value: &str) -> Result<(), String> {
    parse(rtype, value).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::parse`] of a type written as text.
    fn parse(rtype: &str, value: &str) -> Result<RData, String> {
        super::parse(rtype.parse().unwrap(), value)
    }

    #[test]
    fn parses_supported_types() {
        assert!(matches!(parse("A", "192.0.2.1"), Ok(RData::A(_))));
        assert!(matches!(parse("AAAA", "2001:db8::1"), Ok(RData::AAAA(_))));
        match parse("TXT", r#""v=1" "owner=x y""#) {
            Ok(RData::TXT(t)) => assert_eq!(t.txt_data.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse("MX", "10 mail.lab.test."), Ok(RData::MX(_))));
        assert!(matches!(
            parse("SRV", "1 2 443 svc.lab.test"),
            Ok(RData::SRV(_))
        ));
        assert!(matches!(
            parse(
                "SOA",
                "ns.lab.test. hostmaster.lab.test. 1 7200 900 1209600 86400"
            ),
            Ok(RData::SOA(_))
        ));
    }

    #[test]
    fn rejects_bad_values_with_reasons() {
        assert!(parse("A", "300.1.1.1").unwrap_err().contains("IPv4"));
        assert!(parse("A", "2001:db8::1").unwrap_err().contains("IPv4"));
        assert!(
            parse("MX", "mail.lab.test.")
                .unwrap_err()
                .contains("expected 2 fields")
        );
        assert!(
            parse("TXT", "\"open")
                .unwrap_err()
                .contains("TXTRRDATAIllegal")
        );
        assert!(
            parse("CAA", "0 issue \"x\"")
                .unwrap_err()
                .contains("not supported")
        );
    }
}
