//! The ownership/state TXT record codec (`v=1 owner=… weight=… state=… since=… [probe=…]
//! [by=…] [why=…] [parked=…] [mac=…]`) and Route 53's quoted TXT presentation format.
//!
//! [`decode`] and [`encode`] are the entry points for fuzzing: `decode` takes any string (a TXT
//! value exactly as Route 53 lists it) and never panics; for every record it accepts,
//! `decode(&encode(&r)) == Ok(r)`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::probe_addr::ProbeAddr;
use crate::state::{By, TargetState, Why};

/// The protocol version this codec writes and reads.
pub const VERSION: &str = "1";

/// The decoded content of an ownership record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipRecord {
    /// Who owns the target (`owner=`).
    pub owner: String,
    /// The weight the owner wants when active (`weight=`).
    pub wanted_weight: u8,
    /// The target's state (`state=`).
    pub state: TargetState,
    /// Unix seconds when the state was entered (`since=`).
    pub since: u64,
    /// Where to probe, if not the published address (`probe=`).
    pub probe: Option<ProbeAddr>,
    /// Who put the target in its state (`by=`).
    pub by: Option<By>,
    /// Why it is in that state (`why=`, a token such as `below-min-healthy`), when the writer
    /// records one (the zone tier does).
    pub why: Option<Why>,
    /// Set when the address record was removed on purpose (`parked=ip,ip`): the addresses to
    /// publish again on restore.
    pub parked: Option<Vec<IpAddr>>,
    /// The HMAC over the rest of the record (`mac=`, 64 lowercase hex digits), when the writer
    /// holds the pool's ownership key; see [`crate::mac`] and [`canonical`].
    pub mac: Option<String>,
}

/// Why a TXT value is not a valid ownership record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxtError {
    /// The presentation format itself is broken (an unterminated quote, a bad escape).
    #[error("malformed TXT presentation: {0}")]
    Syntax(String),
    /// A string is not of the form `key=value`.
    #[error("the string {0:?} is not key=value")]
    NotKeyValue(String),
    /// A key appears twice.
    #[error("the key {0:?} appears more than once")]
    Duplicate(String),
    /// A required key is missing.
    #[error("the required key {0:?} is missing")]
    Missing(&'static str),
    /// The version is not one this codec reads.
    #[error("unsupported version v={0:?}; this wavelb reads v=1")]
    Version(String),
    /// A value does not parse.
    #[error("bad value {value:?} for {key}: {expected}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// What is allowed.
        expected: String,
    },
}

/// Encodes an ownership record as one Route 53 TXT value (a sequence of quoted strings).
pub fn encode(rec: &OwnershipRecord) -> String {
    let mut parts = vec![
        format!("v={VERSION}"),
        format!("owner={}", rec.owner),
        format!("weight={}", rec.wanted_weight),
        format!("state={}", rec.state),
        format!("since={}", rec.since),
    ];
    if let Some(probe) = rec.probe {
        parts.push(format!("probe={probe}"));
    }
    if let Some(by) = &rec.by {
        parts.push(format!("by={by}"));
    }
    if let Some(why) = &rec.why {
        parts.push(format!("why={why}"));
    }
    if let Some(addrs) = &rec.parked {
        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        parts.push(format!("parked={}", list.join(",")));
    }
    if let Some(mac) = &rec.mac {
        parts.push(format!("mac={mac}"));
    }
    join_quoted(&parts)
}

/// The text a `mac=` covers: the record encoded without its `mac=`. Decoding is canonical (a
/// record decodes to the same fields however its values were spelled), so a verifier recomputes
/// exactly what the writer signed.
pub fn canonical(rec: &OwnershipRecord) -> String {
    encode(&OwnershipRecord {
        mac: None,
        ..rec.clone()
    })
}

/// Decodes one Route 53 TXT value into an ownership record. Unknown keys are ignored, so newer
/// writers can add keys without breaking older readers.
pub fn decode(value: &str) -> Result<OwnershipRecord, TxtError> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for s in split_quoted(value)? {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| TxtError::NotKeyValue(s.clone()))?;
        if fields.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(TxtError::Duplicate(k.to_owned()));
        }
    }
    let take = |key: &'static str| fields.get(key).ok_or(TxtError::Missing(key));
    let version = take("v")?;
    if version != VERSION {
        return Err(TxtError::Version(version.clone()));
    }
    let owner = take("owner")?;
    if owner.is_empty() {
        return Err(TxtError::BadValue {
            key: "owner",
            value: String::new(),
            expected: "a non-empty owner id".into(),
        });
    }
    let weight = take("weight")?;
    let wanted_weight = weight.parse::<u8>().map_err(|_| TxtError::BadValue {
        key: "weight",
        value: weight.clone(),
        expected: "an integer 0-255".into(),
    })?;
    let state_text = take("state")?;
    let state = state_text
        .parse::<TargetState>()
        .map_err(|expected| TxtError::BadValue {
            key: "state",
            value: state_text.clone(),
            expected,
        })?;
    let since_text = take("since")?;
    let since = since_text.parse::<u64>().map_err(|_| TxtError::BadValue {
        key: "since",
        value: since_text.clone(),
        expected: "unix seconds".into(),
    })?;
    let probe = match fields.get("probe") {
        None => None,
        Some(p) => Some(p.parse::<ProbeAddr>().map_err(|_| TxtError::BadValue {
            key: "probe",
            value: p.clone(),
            expected: "ip, ip:port, or [ipv6]:port".into(),
        })?),
    };
    let by = match fields.get("by") {
        None => None,
        Some(b) if is_token(b) => Some(By::parse(b)),
        Some(b) => {
            return Err(TxtError::BadValue {
                key: "by",
                value: b.clone(),
                expected: "1-64 letters, digits, '.', '_' or '-'".into(),
            });
        }
    };
    let why = match fields.get("why") {
        None => None,
        Some(w) if is_token(w) => Some(Why::parse(w)),
        Some(w) => {
            return Err(TxtError::BadValue {
                key: "why",
                value: w.clone(),
                expected: "1-64 letters, digits, '.', '_' or '-'".into(),
            });
        }
    };
    let parked = match fields.get("parked") {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|a| a.parse::<IpAddr>())
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| TxtError::BadValue {
                    key: "parked",
                    value: list.clone(),
                    expected: "a comma-separated list of IP addresses".into(),
                })?,
        ),
    };
    let mac = match fields.get("mac") {
        None => None,
        Some(m) if crate::mac::is_mac(m) => Some(m.clone()),
        Some(m) => {
            return Err(TxtError::BadValue {
                key: "mac",
                value: m.clone(),
                expected: format!("{} lowercase hex digits", crate::mac::MAC_HEX_LEN),
            });
        }
    };
    Ok(OwnershipRecord {
        owner: owner.clone(),
        wanted_weight,
        state,
        since,
        probe,
        by,
        why,
        parked,
        mac,
    })
}

/// True for the space-free tokens the protocol allows in `owner=`, `by=` and `why=`.
pub fn is_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Joins strings into Route 53's TXT presentation: each one quoted, separated by spaces.
pub fn join_quoted(parts: &[String]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for ch in part.chars() {
            if ch == '"' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push('"');
    }
    out
}

/// Splits a TXT value in Route 53's presentation format into its character strings.
///
/// Quoted strings may contain spaces, `\"`, `\\` and `\DDD` (decimal octet) escapes; unquoted
/// runs end at white space.
pub fn split_quoted(value: &str) -> Result<Vec<String>, TxtError> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let quoted = first == '"';
        if quoted {
            chars.next();
        }
        let mut bytes: Vec<u8> = Vec::new();
        let mut closed = !quoted;
        while let Some(ch) = chars.next() {
            match ch {
                '"' if quoted => {
                    closed = true;
                    break;
                }
                c if !quoted && c.is_ascii_whitespace() => break,
                '\\' => {
                    let Some(next) = chars.next() else {
                        return Err(TxtError::Syntax("a backslash ends the value".into()));
                    };
                    if let Some(d0) = next.to_digit(10) {
                        let mut n = d0;
                        for _ in 0..2 {
                            let d = chars.next().and_then(|c| c.to_digit(10)).ok_or_else(|| {
                                TxtError::Syntax("a \\DDD escape needs three digits".into())
                            })?;
                            n = n * 10 + d;
                        }
                        let byte = u8::try_from(n).map_err(|_| {
                            TxtError::Syntax(format!("the escape \\{n:03} is above 255"))
                        })?;
                        bytes.push(byte);
                    } else {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !closed {
            return Err(TxtError::Syntax("a quoted string is not closed".into()));
        }
        out.push(String::from_utf8_lossy(&bytes).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> OwnershipRecord {
        OwnershipRecord {
            owner: "wavelb".into(),
            wanted_weight: 100,
            state: TargetState::Quarantined,
            since: 1_700_000_000,
            probe: Some("10.0.0.5:4433".parse().unwrap()),
            by: Some(By::Health),
            why: None,
            parked: None,
            mac: None,
        }
    }

    #[test]
    fn encodes_as_quoted_strings() {
        assert_eq!(
            encode(&sample()),
            r#""v=1" "owner=wavelb" "weight=100" "state=quarantined" "since=1700000000" "probe=10.0.0.5:4433" "by=health""#
        );
    }

    #[test]
    fn a_probe_address_may_name_a_port() {
        for (text, ip, port) in [
            ("10.0.0.5", "10.0.0.5", None),
            ("10.0.0.5:4433", "10.0.0.5", Some(4433)),
            ("[fd00::5]:53", "fd00::5", Some(53)),
            ("fd00::5", "fd00::5", None),
        ] {
            let rec = decode(&format!(
                "v=1 owner=x weight=1 state=active since=5 probe={text}"
            ))
            .unwrap();
            let want = ProbeAddr {
                ip: ip.parse().unwrap(),
                port,
            };
            assert_eq!(rec.probe, Some(want), "{text}");
            assert_eq!(want.to_string(), text);
            assert_eq!(want.socket(Some(9)).unwrap().port(), port.unwrap_or(9));
            assert_eq!(want.socket(None).is_some(), port.is_some());
        }
        for bad in ["10.0.0.5:", "10.0.0.5:99999", "host:53", "[fd00::5]", ""] {
            let e = decode(&format!(
                "v=1 owner=x weight=1 state=active since=5 probe={bad}"
            ));
            assert!(
                matches!(e, Err(TxtError::BadValue { key: "probe", .. })),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn tolerates_unknown_keys_and_unquoted_strings() {
        let rec = decode("v=1 owner=x \"weight=7\" state=active since=5 future=yes").unwrap();
        assert_eq!(rec.owner, "x");
        assert_eq!(rec.wanted_weight, 7);
        assert_eq!(rec.probe, None);
    }

    #[test]
    fn rejects_bad_records_with_reasons() {
        assert_eq!(decode(""), Err(TxtError::Missing("v")));
        assert_eq!(decode("\"v=2\""), Err(TxtError::Version("2".into())));
        assert!(matches!(
            decode("v=1 owner=x weight=300 state=active since=1"),
            Err(TxtError::BadValue { key: "weight", .. })
        ));
        assert!(matches!(
            decode("v=1 owner=x weight=3 state=sleeping since=1"),
            Err(TxtError::BadValue { key: "state", .. })
        ));
        assert!(matches!(decode("\"v=1"), Err(TxtError::Syntax(_))));
        assert!(matches!(decode("v=1 v=1"), Err(TxtError::Duplicate(_))));
        assert!(matches!(decode("hello"), Err(TxtError::NotKeyValue(_))));
        assert!(matches!(
            decode("v=1 owner=x weight=3 state=active since=1 mac=ABC"),
            Err(TxtError::BadValue { key: "mac", .. })
        ));
    }

    #[test]
    fn decimal_escapes() {
        assert_eq!(
            split_quoted(r#""a\034b" "c\\d""#).unwrap(),
            vec!["a\"b", "c\\d"]
        );
        assert!(split_quoted(r#""\999""#).is_err());
    }

    fn any_state() -> impl Strategy<Value = TargetState> {
        prop_oneof![
            Just(TargetState::Active),
            Just(TargetState::Quarantined),
            Just(TargetState::Draining)
        ]
    }

    proptest! {
        #[test]
        fn round_trips(
            owner in "[A-Za-z0-9._-]{1,40}",
            weight in any::<u8>(),
            state in any_state(),
            since in any::<u64>(),
            probe in proptest::option::of((any::<std::net::IpAddr>(), proptest::option::of(any::<u16>())).prop_map(|(ip, port)| ProbeAddr { ip, port })),
            by in proptest::option::of("[a-z0-9._-]{1,20}"),
            why in proptest::option::of("[a-z0-9._-]{1,20}"),
            parked in proptest::option::of(proptest::collection::vec(any::<std::net::IpAddr>(), 1..4)),
            mac in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let (by, why) = (by.as_deref().map(By::parse), why.as_deref().map(Why::parse));
            let rec = OwnershipRecord { owner, wanted_weight: weight, state, since, probe, by, why, parked, mac };
            prop_assert_eq!(decode(&encode(&rec)), Ok(rec.clone()));
            // What a MAC covers does not depend on the MAC, and survives a round trip.
            let decoded = decode(&encode(&rec)).unwrap();
            prop_assert_eq!(canonical(&decoded), canonical(&OwnershipRecord { mac: None, ..rec }));
        }

        /// However a value is spelled (leading zeros, unknown keys, order, quoting), the
        /// canonical text is that of the decoded record, so a MAC verifies the same fields.
        #[test]
        fn canonical_is_independent_of_spelling(weight in any::<u8>(), since in any::<u32>()) {
            let odd = format!("since=00{since} junk=1 \"weight=0{weight}\" state=active owner=me v=1");
            let rec = decode(&odd).unwrap();
            prop_assert_eq!(decode(&canonical(&rec)), Ok(rec.clone()));
            prop_assert_eq!(canonical(&rec), format!(
                "\"v=1\" \"owner=me\" \"weight={weight}\" \"state=active\" \"since={since}\""
            ));
        }

        #[test]
        fn garbage_never_panics(input in any::<String>()) {
            let _ = decode(&input);
        }

        #[test]
        fn quoting_round_trips(parts in proptest::collection::vec("[ -~]{0,20}", 1..5)) {
            prop_assert_eq!(split_quoted(&join_quoted(&parts)).unwrap(), parts);
        }
    }
}
