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

/// Why a value is not valid record data of its type; displayed like Route 53's `FATAL problem`
/// reasons.
#[derive(Debug, thiserror::Error)]
pub enum RDataError {
    /// A domain name field that is not one.
    #[error("DomainLabelInvalid ({0})")]
    DomainLabel(hickory_proto::ProtoError),
    /// A field that must be an unsigned 32-bit integer.
    #[error("{field}Invalid (expected an unsigned integer, got {text:?})")]
    NotUnsigned {
        /// The field (`Serial`, `Refresh`, …).
        field: &'static str,
        /// As written.
        text: String,
    },
    /// A field that must be 0-65535.
    #[error("{field}Invalid (expected an integer 0-65535, got {text:?})")]
    NotU16 {
        /// The field (`Preference`, `Port`, …).
        field: &'static str,
        /// As written.
        text: String,
    },
    /// A signed 32-bit field above its range.
    #[error("{0}Invalid (too large)")]
    TooLarge(&'static str),
    /// The wrong number of fields for the type.
    #[error("{rtype}RRDATAIllegalFormat (expected {expected} fields, got {got})")]
    Fields {
        /// The record type.
        rtype: RrType,
        /// The fields it has.
        expected: usize,
        /// The fields written.
        got: usize,
    },
    /// An `A` value that is not an IPv4 address.
    #[error("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)")]
    NotIpv4,
    /// An `AAAA` value that is not an IPv6 address.
    #[error("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)")]
    NotIpv6,
    /// A `TXT` value whose quoting is wrong.
    #[error("TXTRRDATAIllegal ({0})")]
    Txt(registry::txt::TxtError),
    /// A `TXT` character string over 255 bytes.
    #[error("TXTRRDATATooLong (a character string is longer than 255)")]
    TxtTooLong,
    /// A type the lab resolver does not serve.
    #[error(
        "UnsupportedType (the lab resolver serves {supported}; {0} is not supported)",
        supported = SUPPORTED.map(RrType::as_str).join(", ")
    )]
    Unsupported(RrType),
}

/// Parses one resource record value of type `rtype`. The error reads like Route 53's
/// `FATAL problem` reasons.
pub fn parse(rtype: RrType, value: &str) -> Result<RData, RDataError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let name = |s: &str| {
        Name::from_ascii(s)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(RDataError::DomainLabel)
    };
    let num = |s: &str, field: &'static str| {
        s.parse::<u32>().map_err(|_| RDataError::NotUnsigned {
            field,
            text: s.to_owned(),
        })
    };
    let u16_of = |s: &str, field: &'static str| {
        s.parse::<u16>().map_err(|_| RDataError::NotU16 {
            field,
            text: s.to_owned(),
        })
    };
    let arity = |n: usize| {
        if fields.len() == n {
            Ok(())
        } else {
            Err(RDataError::Fields {
                rtype,
                expected: n,
                got: fields.len(),
            })
        }
    };
    match rtype {
        RrType::A => value
            .parse::<Ipv4Addr>()
            .map(|ip| RData::A(A(ip)))
            .map_err(|_| RDataError::NotIpv4),
        RrType::Aaaa => value
            .parse::<Ipv6Addr>()
            .map(|ip| RData::AAAA(AAAA(ip)))
            .map_err(|_| RDataError::NotIpv6),
        RrType::Txt => {
            let strings = registry::txt::split_quoted(value).map_err(RDataError::Txt)?;
            if strings.iter().any(|s| s.len() > 255) {
                return Err(RDataError::TxtTooLong);
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
            let signed = |s: &str, field: &'static str| {
                num(s, field)
                    .and_then(|n| i32::try_from(n).map_err(|_| RDataError::TooLarge(field)))
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
        other => Err(RDataError::Unsupported(other)),
    }
}

/// Validation hook for [`registry::zone::ZoneRecords::apply`].
pub fn check(rtype: RrType, value: &str) -> Result<(), registry::zone::ValueError> {
    parse(rtype, value).map(|_| ()).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::parse`] of a type written as text.
    fn parse(rtype: &str, value: &str) -> Result<RData, String> {
        super::parse(rtype.parse().unwrap(), value).map_err(|e| e.to_string())
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
        assert!(
            parse("A", "300.1.1.1")
                .unwrap_err()
                .to_string()
                .contains("IPv4")
        );
        assert!(
            parse("A", "2001:db8::1")
                .unwrap_err()
                .to_string()
                .contains("IPv4")
        );
        assert!(
            parse("MX", "mail.lab.test.")
                .unwrap_err()
                .to_string()
                .contains("expected 2 fields")
        );
        assert!(
            parse("TXT", "\"open")
                .unwrap_err()
                .to_string()
                .contains("TXTRRDATAIllegal")
        );
        assert!(
            parse("CAA", "0 issue \"x\"")
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
    }
}
