//! EDNS Client Subnet (RFC 7871): the option a query carries in its OPT record, read from the
//! raw packet and checked against §6 and §7.1.2 (hickory's parser accepts options RFC 7871 says
//! to refuse, and keeps no option length), and the option a reply echoes.
//!
//! A query's option is refused (the answer is FORMERR, RFC 7871 §7.1.2) when its FAMILY is not 1
//! (IPv4) or 2 (IPv6), its SOURCE PREFIX-LENGTH is longer than the family's address, its ADDRESS
//! is not exactly ⌈SOURCE PREFIX-LENGTH / 8⌉ bytes, bits beyond the prefix are set, its SCOPE
//! PREFIX-LENGTH is not 0, or when the query carries more than one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::opt::{ClientSubnet as Echo, EdnsOption};

/// The EDNS option code of Client Subnet.
pub const OPTION_CODE: u16 = 8;
/// The OPT record's type.
const OPT_TYPE: u16 = 41;

/// A valid Client Subnet option of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// The address, every bit beyond `source_prefix` zero.
    pub address: IpAddr,
    /// SOURCE PREFIX-LENGTH: how many leading bits of `address` the client revealed.
    pub source_prefix: u8,
}

impl ClientSubnet {
    /// The option a reply carries: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as asked, with
    /// `scope` as SCOPE PREFIX-LENGTH.
    pub fn echo(self, scope: u8) -> EdnsOption {
        EdnsOption::Subnet(Echo::new(self.address, self.source_prefix, scope))
    }
}

/// Why a query's Client Subnet option was refused (the query gets FORMERR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcsError {
    /// FAMILY is neither 1 (IPv4) nor 2 (IPv6).
    #[error("Client Subnet FAMILY {0} is neither 1 (IPv4) nor 2 (IPv6)")]
    Family(u16),
    /// SOURCE PREFIX-LENGTH is longer than the family's address.
    #[error("Client Subnet SOURCE PREFIX-LENGTH {0} is longer than the address ({1} bits)")]
    Prefix(u8, u8),
    /// The option's length does not match its SOURCE PREFIX-LENGTH.
    #[error("Client Subnet option of {0} bytes; SOURCE PREFIX-LENGTH {1} needs {2}")]
    Length(usize, u8, usize),
    /// ADDRESS has bits set beyond SOURCE PREFIX-LENGTH.
    #[error("Client Subnet ADDRESS has bits set beyond SOURCE PREFIX-LENGTH {0}")]
    HostBits(u8),
    /// SCOPE PREFIX-LENGTH is not 0 in a query.
    #[error("Client Subnet SCOPE PREFIX-LENGTH {0} in a query; it must be 0")]
    Scope(u8),
    /// The query carries more than one Client Subnet option.
    #[error("more than one Client Subnet option")]
    Repeated,
    /// The records after the question could not be walked to their end.
    #[error("the query's records end early")]
    Malformed,
}

/// Parses one option's data (after OPTION-CODE and OPTION-LENGTH).
pub fn parse_option(data: &[u8]) -> Result<ClientSubnet, EcsError> {
    let [f0, f1, source_prefix, scope, address @ ..] = data else {
        return Err(EcsError::Length(data.len(), 0, 4));
    };
    let family = u16::from_be_bytes([*f0, *f1]);
    let width: u8 = match family {
        1 => 32,
        2 => 128,
        other => return Err(EcsError::Family(other)),
    };
    if *source_prefix > width {
        return Err(EcsError::Prefix(*source_prefix, width));
    }
    let needed = usize::from(source_prefix.div_ceil(8));
    if address.len() != needed {
        return Err(EcsError::Length(data.len(), *source_prefix, 4 + needed));
    }
    if let Some(last) = address.last()
        && source_prefix % 8 != 0
        && last & (0xff >> (source_prefix % 8)) != 0
    {
        return Err(EcsError::HostBits(*source_prefix));
    }
    if *scope != 0 {
        return Err(EcsError::Scope(*scope));
    }
    let address = if width == 32 {
        let mut octets = [0u8; 4];
        octets[..needed].copy_from_slice(address);
        IpAddr::V4(Ipv4Addr::from(octets))
    } else {
        let mut octets = [0u8; 16];
        octets[..needed].copy_from_slice(address);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    Ok(ClientSubnet {
        address,
        source_prefix: *source_prefix,
    })
}

/// The Client Subnet option of a query, if it carries one: every OPT record in its additional
/// section is searched. Reads only within `packet`; the work is bounded by its length.
pub fn from_query(packet: &[u8]) -> Result<Option<ClientSubnet>, EcsError> {
    let count = |at: usize| {
        packet
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or(EcsError::Malformed)
    };
    let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(packet, at)? + 4;
    }
    for _ in 0..an + ns {
        let (_, end, _) = record(packet, at)?;
        at = end;
    }
    let mut found = None;
    for _ in 0..ar {
        let (rtype, end, rdata) = record(packet, at)?;
        at = end;
        if rtype != OPT_TYPE {
            continue;
        }
        let mut options = rdata;
        while let [c0, c1, l0, l1, rest @ ..] = options {
            let len = usize::from(u16::from_be_bytes([*l0, *l1]));
            let data = rest.get(..len).ok_or(EcsError::Malformed)?;
            options = &rest[len..];
            if u16::from_be_bytes([*c0, *c1]) == OPTION_CODE {
                if found.is_some() {
                    return Err(EcsError::Repeated);
                }
                found = Some(parse_option(data)?);
            }
        }
        if !options.is_empty() {
            return Err(EcsError::Malformed);
        }
    }
    Ok(found)
}

/// Skips the name at `at` (labels, ending in a root label or a compression pointer).
fn skip_name(packet: &[u8], mut at: usize) -> Result<usize, EcsError> {
    loop {
        let len = *packet.get(at).ok_or(EcsError::Malformed)?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => return Ok(at + 2),
            l if l & 0xc0 != 0 => return Err(EcsError::Malformed),
            l => at += 1 + usize::from(l),
        }
    }
}

/// The record at `at`: its type, where the next one starts, and its RDATA.
fn record(packet: &[u8], at: usize) -> Result<(u16, usize, &[u8]), EcsError> {
    let at = skip_name(packet, at)?;
    let fixed = packet.get(at..at + 10).ok_or(EcsError::Malformed)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let rdata = packet
        .get(at + 10..at + 10 + len)
        .ok_or(EcsError::Malformed)?;
    Ok((rtype, at + 10 + len, rdata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(family: u16, source: u8, scope: u8, address: &[u8]) -> Vec<u8> {
        let mut o = family.to_be_bytes().to_vec();
        o.extend_from_slice(&[source, scope]);
        o.extend_from_slice(address);
        o
    }

    #[test]
    fn valid_options_are_accepted() {
        let ok = |o: Vec<u8>| parse_option(&o).unwrap();
        assert_eq!(
            ok(option(1, 24, 0, &[127, 64, 1])),
            ClientSubnet {
                address: "127.64.1.0".parse().unwrap(),
                source_prefix: 24
            }
        );
        assert_eq!(ok(option(1, 0, 0, &[])).source_prefix, 0);
        assert_eq!(
            ok(option(1, 9, 0, &[10, 128])).address,
            "10.128.0.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(ok(option(1, 32, 0, &[192, 0, 2, 1])).source_prefix, 32);
        let v6 = ok(option(2, 56, 0, &[0x20, 1, 0xd, 0xb8, 0, 1, 0]));
        assert_eq!(v6.address, "2001:db8:1::".parse::<IpAddr>().unwrap());
        assert_eq!(ok(option(2, 128, 0, &[0; 16])).source_prefix, 128);
    }

    #[test]
    fn malformed_options_are_refused() {
        let cases = [
            (option(3, 8, 0, &[10]), EcsError::Family(3)),
            (option(0, 0, 0, &[]), EcsError::Family(0)),
            (option(1, 33, 0, &[0; 5]), EcsError::Prefix(33, 32)),
            (option(2, 129, 0, &[0; 17]), EcsError::Prefix(129, 128)),
            (option(1, 24, 0, &[10, 0, 0, 0]), EcsError::Length(8, 24, 7)),
            (option(1, 24, 0, &[10, 0]), EcsError::Length(6, 24, 7)),
            (option(1, 0, 0, &[0]), EcsError::Length(5, 0, 4)),
            (option(1, 23, 0, &[10, 0, 1]), EcsError::HostBits(23)),
            (option(1, 9, 0, &[10, 0x40]), EcsError::HostBits(9)),
            (option(1, 24, 24, &[10, 0, 0]), EcsError::Scope(24)),
            (vec![0, 1, 24], EcsError::Length(3, 0, 4)),
            (vec![], EcsError::Length(0, 0, 4)),
        ];
        for (o, want) in cases {
            assert_eq!(parse_option(&o), Err(want.clone()), "{o:?}");
        }
    }

    /// A query for `a.` with an OPT record holding `options` (code, data).
    fn query(options: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, b'a', 0, 0, 1, 0, 1];
        let mut rdata = Vec::new();
        for (code, data) in options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
            rdata.extend_from_slice(data);
        }
        q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
        q.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        q.extend_from_slice(&rdata);
        q
    }

    #[test]
    fn the_option_is_found_among_others_and_only_once() {
        let ecs = option(1, 24, 0, &[127, 0, 0]);
        assert_eq!(from_query(&query(&[])), Ok(None));
        assert_eq!(
            from_query(&query(&[(10, vec![1; 8]), (8, ecs.clone())]))
                .unwrap()
                .map(|c| c.source_prefix),
            Some(24)
        );
        assert_eq!(
            from_query(&query(&[(8, ecs.clone()), (8, ecs.clone())])),
            Err(EcsError::Repeated)
        );
        assert_eq!(
            from_query(&query(&[(8, option(1, 24, 1, &[127, 0, 0]))])),
            Err(EcsError::Scope(1))
        );
        let mut short = query(&[(8, ecs)]);
        let n = short.len();
        short[n - 9] += 1; // the option's length now runs past the record
        assert_eq!(from_query(&short), Err(EcsError::Malformed));
        for len in 0..n {
            let _ = from_query(&query(&[(8, option(1, 24, 0, &[1, 2, 3]))])[..len]);
        }
    }
}
