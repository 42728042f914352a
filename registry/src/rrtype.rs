//! [`RrType`]: the type of a Route 53 record set (`Type` in the API), as the zone model, the
//! writer and the lab's emulator and DNS server carry it.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The address family a pool publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RecordType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    #[serde(rename = "AAAA")]
    Aaaa,
}

impl RecordType {
    /// The Route 53 type code.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }

    /// True when `addr` belongs to this family.
    pub fn fits(self, addr: &IpAddr) -> bool {
        matches!(
            (self, addr),
            (RecordType::A, IpAddr::V4(_)) | (RecordType::Aaaa, IpAddr::V6(_))
        )
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! rr_types {
    ($($(#[$vmeta:meta])* $variant:ident => $text:literal,)+) => {
        /// A record set's type: every type Route 53's API accepts (`RRType`). Ordered as its
        /// text is, which is how Route 53 lists the types at one name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RrType {
            $($(#[$vmeta])* $variant,)+
        }

        impl RrType {
            /// Every type, in declaration order.
            pub const ALL: &[RrType] = &[$(RrType::$variant,)+];

            /// The type as Route 53 writes it (`A`, `AAAA`, `TXT`, …).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RrType::$variant => $text,)+
                }
            }
        }

        impl FromStr for RrType {
            type Err = UnknownRrType;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(RrType::$variant),)+
                    other => Err(UnknownRrType(other.to_owned())),
                }
            }
        }
    };
}

rr_types! {
    /// An IPv4 address.
    A => "A",
    /// An IPv6 address.
    Aaaa => "AAAA",
    /// A certification authority authorization.
    Caa => "CAA",
    /// A canonical name.
    Cname => "CNAME",
    /// A delegation signer.
    Ds => "DS",
    /// HTTPS service binding.
    Https => "HTTPS",
    /// A mail exchanger.
    Mx => "MX",
    /// A naming authority pointer.
    Naptr => "NAPTR",
    /// A name server.
    Ns => "NS",
    /// A pointer.
    Ptr => "PTR",
    /// The start of authority.
    Soa => "SOA",
    /// Sender Policy Framework (obsolete; Route 53 still accepts it).
    Spf => "SPF",
    /// A service locator.
    Srv => "SRV",
    /// An SSH key fingerprint.
    Sshfp => "SSHFP",
    /// A general service binding.
    Svcb => "SVCB",
    /// A TLS certificate association.
    Tlsa => "TLSA",
    /// Text.
    Txt => "TXT",
}

/// A `Type` that is not one of Route 53's record types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Route 53 record type")]
pub struct UnknownRrType(pub String);

impl fmt::Display for RrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Ord for RrType {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for RrType {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<RecordType> for RrType {
    fn from(t: RecordType) -> Self {
        match t {
            RecordType::A => RrType::A,
            RecordType::Aaaa => RrType::Aaaa,
        }
    }
}

impl PartialEq<RecordType> for RrType {
    fn eq(&self, other: &RecordType) -> bool {
        *self == RrType::from(*other)
    }
}

impl serde::Serialize for RrType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RrType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_orders_as_text() {
        for t in RrType::ALL {
            assert_eq!(t.as_str().parse::<RrType>(), Ok(*t));
            assert_eq!(serde_json::to_string(t).unwrap(), format!("\"{t}\""));
            assert_eq!(
                serde_json::from_str::<RrType>(&format!("\"{t}\"")).unwrap(),
                *t
            );
        }
        let mut sorted = RrType::ALL.to_vec();
        sorted.sort();
        let mut texts: Vec<&str> = RrType::ALL.iter().map(|t| t.as_str()).collect();
        texts.sort_unstable();
        assert_eq!(sorted.iter().map(|t| t.as_str()).collect::<Vec<_>>(), texts);
        assert_eq!(
            "FOO".parse::<RrType>().unwrap_err().to_string(),
            "\"FOO\" is not a Route 53 record type"
        );
        assert!(
            "a".parse::<RrType>().is_err(),
            "case matters, as in Route 53"
        );
        assert!(serde_json::from_str::<RrType>("\"FOO\"").is_err());
    }
}
