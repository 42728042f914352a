//! Payloads and reply matchers: text, hex and base64 decoding, and short escaped excerpts.

use base64::Engine as _;

use super::{Key, Message, ProbeConfigError, at_most_one};

/// Decodes hex digits; ASCII whitespace and `:` between bytes are ignored.
pub(crate) fn decode_hex(key: Key, text: &str) -> Result<Vec<u8>, ProbeConfigError> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != ':')
        .collect();
    if digits.is_empty() {
        return Err(ProbeConfigError::new(
            key,
            "is empty; write hex digits, e.g. \"deadbeef\"",
        ));
    }
    hex::decode(&digits).map_err(|e| {
        ProbeConfigError::new(
            key,
            format!("{text:?} is not hex ({e}); write pairs of hex digits, e.g. \"de ad be ef\""),
        )
    })
}

/// Decodes standard base64, with or without padding.
pub(crate) fn decode_base64(key: Key, text: &str) -> Result<Vec<u8>, ProbeConfigError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(text.trim()).map_err(|e| {
        ProbeConfigError::new(
            key,
            format!("{text:?} is not base64 ({e}); use the standard alphabet (A-Z a-z 0-9 + /)"),
        )
    })?;
    if bytes.is_empty() {
        return Err(ProbeConfigError::new(key, "is empty"));
    }
    Ok(bytes)
}

/// The largest `udp` probe payload: a datagram of 1300 bytes with its IPv4 (20) and UDP (8)
/// headers, the MTU between a Wavelength Zone and its Region (AWS Wavelength Developer Guide,
/// "Quotas and considerations for Wavelength Zones"). A larger probe would be fragmented or
/// dropped on that path and fail where the service works.
pub(crate) const MAX_UDP_PAYLOAD: usize = 1300 - 20 - 8;

/// The payload of a `udp` probe: exactly one of `send`, `send_hex`, `send_base64`, at most
/// [`MAX_UDP_PAYLOAD`] bytes.
pub(crate) fn send_payload(
    send: Option<&str>,
    send_hex: Option<&str>,
    send_base64: Option<&str>,
) -> Result<Vec<u8>, ProbeConfigError> {
    let (key, payload) = any_payload(send, send_hex, send_base64)?;
    if payload.len() > MAX_UDP_PAYLOAD {
        return Err(ProbeConfigError::new(
            key,
            format!(
                "is {} bytes; at most {MAX_UDP_PAYLOAD} fit the 1300-byte MTU between a \
                 Wavelength Zone and its Region: send a shorter request",
                payload.len()
            ),
        ));
    }
    Ok(payload)
}

fn any_payload(
    send: Option<&str>,
    send_hex: Option<&str>,
    send_base64: Option<&str>,
) -> Result<(Key, Vec<u8>), ProbeConfigError> {
    at_most_one(&[
        (Key::Send, send.is_some()),
        (Key::SendHex, send_hex.is_some()),
        (Key::SendBase64, send_base64.is_some()),
    ])?;
    if let Some(text) = send {
        if text.is_empty() {
            return Err(ProbeConfigError::new(Key::Send, "is empty"));
        }
        return Ok((Key::Send, text.as_bytes().to_vec()));
    }
    if let Some(text) = send_hex {
        return Ok((Key::SendHex, decode_hex(Key::SendHex, text)?));
    }
    if let Some(text) = send_base64 {
        return Ok((Key::SendBase64, decode_base64(Key::SendBase64, text)?));
    }
    Err(ProbeConfigError::new(
        Key::Send,
        Message::text("kind udp needs a payload: give one of ")
            .keys(&[Key::Send, Key::SendHex, Key::SendBase64], "or"),
    ))
}

/// What a `udp` reply must look like.
#[derive(Debug)]
pub(crate) enum Expect {
    /// Any reply.
    Any,
    /// Exactly these bytes.
    Exact(Vec<u8>),
    /// Starting with these bytes.
    Prefix(Vec<u8>),
    /// A regular expression over the bytes, matching anywhere unless anchored.
    Regex(regex::bytes::Regex),
}

impl Expect {
    /// Builds the matcher from at most one of `expect`, `expect_hex`, `expect_prefix`,
    /// `expect_regex`.
    pub(crate) fn from_keys(
        expect: Option<&str>,
        expect_hex: Option<&str>,
        expect_prefix: Option<&str>,
        expect_regex: Option<&str>,
    ) -> Result<Self, ProbeConfigError> {
        at_most_one(&[
            (Key::Expect, expect.is_some()),
            (Key::ExpectHex, expect_hex.is_some()),
            (Key::ExpectPrefix, expect_prefix.is_some()),
            (Key::ExpectRegex, expect_regex.is_some()),
        ])?;
        if let Some(text) = expect {
            return Ok(Expect::Exact(text.as_bytes().to_vec()));
        }
        if let Some(text) = expect_hex {
            return Ok(Expect::Exact(decode_hex(Key::ExpectHex, text)?));
        }
        if let Some(text) = expect_prefix {
            if text.is_empty() {
                return Err(ProbeConfigError::new(
                    Key::ExpectPrefix,
                    "is empty; leave it out to accept any reply",
                ));
            }
            return Ok(Expect::Prefix(text.as_bytes().to_vec()));
        }
        if let Some(text) = expect_regex {
            let re = regex::bytes::Regex::new(text).map_err(|e| {
                ProbeConfigError::new(
                    Key::ExpectRegex,
                    format!("is not a valid regular expression: {e}"),
                )
            })?;
            return Ok(Expect::Regex(re));
        }
        Ok(Expect::Any)
    }

    /// Whether `reply` is what was expected.
    pub(crate) fn matches(&self, reply: &[u8]) -> bool {
        match self {
            Expect::Any => true,
            Expect::Exact(want) => reply == want.as_slice(),
            Expect::Prefix(want) => reply.starts_with(want),
            Expect::Regex(re) => re.is_match(reply),
        }
    }

    /// What was expected, for a failure's detail.
    pub(crate) fn describe(&self) -> String {
        match self {
            Expect::Any => "any reply".to_owned(),
            Expect::Exact(want) => format!("exactly \"{}\"", excerpt(want)),
            Expect::Prefix(want) => format!("a reply starting with \"{}\"", excerpt(want)),
            Expect::Regex(re) => format!("a reply matching /{}/", re.as_str()),
        }
    }
}

/// The longest excerpt of a reply shown in a failure's detail, in bytes.
const EXCERPT_BYTES: usize = 48;

/// A short, escaped, printable excerpt of `bytes` (`…` marks a cut).
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(EXCERPT_BYTES)];
    let mut out: String = shown.escape_ascii().to_string();
    if bytes.len() > EXCERPT_BYTES {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ignores_separators_and_rejects_garbage() {
        assert_eq!(
            decode_hex(Key::SendHex, "de:ad be\nef").unwrap(),
            [0xde, 0xad, 0xbe, 0xef]
        );
        assert_eq!(
            decode_hex(Key::SendHex, "zz").unwrap_err().key,
            Key::SendHex
        );
        assert!(decode_hex(Key::SendHex, "abc").is_err(), "odd length");
        assert!(decode_hex(Key::SendHex, " ").is_err(), "empty");
    }

    #[test]
    fn base64_with_or_without_padding() {
        assert_eq!(decode_base64(Key::SendBase64, "aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64(Key::SendBase64, "aGk").unwrap(), b"hi");
        assert!(decode_base64(Key::SendBase64, "a*b").is_err());
    }

    #[test]
    fn exactly_one_payload() {
        assert_eq!(send_payload(Some("ping"), None, None).unwrap(), b"ping");
        let err = send_payload(Some("ping"), Some("00"), None).unwrap_err();
        assert_eq!(err.key, Key::SendHex);
        assert!(err.to_string().contains("`send`"), "{err}");
        assert_eq!(send_payload(None, None, None).unwrap_err().key, Key::Send);
        let fits = "ab".repeat(MAX_UDP_PAYLOAD);
        assert_eq!(
            send_payload(None, Some(&fits), None).unwrap().len(),
            MAX_UDP_PAYLOAD
        );
        let err = send_payload(None, Some(&format!("{fits}00")), None).unwrap_err();
        assert_eq!(err.key, Key::SendHex);
        assert!(err.to_string().contains("1272"), "{err}");
    }

    #[test]
    fn matchers() {
        let m = |e: Option<&str>, h: Option<&str>, p: Option<&str>, r: Option<&str>| {
            Expect::from_keys(e, h, p, r).unwrap()
        };
        assert!(m(None, None, None, None).matches(b"anything"));
        assert!(m(Some("pong"), None, None, None).matches(b"pong"));
        assert!(!m(Some("pong"), None, None, None).matches(b"pong!"));
        assert!(m(None, Some("00ff"), None, None).matches(&[0, 255]));
        assert!(m(None, None, Some("PO"), None).matches(b"PONG"));
        assert!(!m(None, None, Some("PO"), None).matches(b"P"));
        assert!(m(None, None, None, Some(r"^ok \d+$")).matches(b"ok 42"));
        assert!(!m(None, None, None, Some(r"^ok \d+$")).matches(b"ok x"));
        let err = Expect::from_keys(None, None, None, Some("(")).unwrap_err();
        assert_eq!(err.key, Key::ExpectRegex);
        let err = Expect::from_keys(Some("a"), None, Some("b"), None).unwrap_err();
        assert_eq!(err.key, Key::ExpectPrefix);
    }

    #[test]
    fn excerpts_are_escaped_and_short() {
        assert_eq!(excerpt(b"ok\n\x00"), "ok\\n\\x00");
        let long = vec![b'a'; 100];
        let e = excerpt(&long);
        assert!(e.ends_with('…') && e.len() < 60, "{e}");
    }
}
