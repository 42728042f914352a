//! The optional shared ownership key: an HMAC-SHA256 (`mac=` in the TXT) over wavelb's own
//! records, so that a record written by anyone else with zone write access, who does not hold
//! the key, is never taken for wavelb's (see docs/record-protocol.md, "Authentication").

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The smallest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;
/// The largest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 4096;
/// The largest key file read, in bytes: a key of [`MAX_KEY_BYTES`] with white space around it.
pub const MAX_KEY_FILE_BYTES: u64 = MAX_KEY_BYTES as u64 + 64;
/// The length of a `mac=` value: 32 bytes in lowercase hex.
pub const MAC_HEX_LEN: usize = 64;

/// A shared key, read from a file. Cloning shares the bytes; `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnershipKey(Arc<[u8]>);

impl fmt::Debug for OwnershipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnershipKey(<redacted>)")
    }
}

/// Why a key file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("cannot read the key file: {0}")]
    Read(String),
    /// The key is too short or the file too large.
    #[error(
        "the key is {0} bytes; expected {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes (e.g. the output of `openssl rand -hex 32`)"
    )]
    Size(usize),
}

impl OwnershipKey {
    /// A key from raw bytes (leading and trailing ASCII white space removed, so a key file may
    /// end with a newline). Between [`MIN_KEY_BYTES`] and [`MAX_KEY_BYTES`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = bytes.trim_ascii();
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(KeyError::Size(key.len()));
        }
        Ok(Self(key.into()))
    }

    /// Reads a key file: a regular file of at most [`MAX_KEY_FILE_BYTES`], with a warning
    /// when others than its owner (and the service's group) can read it.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = crate::file::read_secret(path, MAX_KEY_FILE_BYTES)
            .map_err(|e| KeyError::Read(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    fn hmac(&self, parts: &[&str]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in parts {
            // Length-prefixed, so no two different part lists produce the same input.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The MAC of `parts`, as lowercase hex ([`MAC_HEX_LEN`] characters).
    pub fn sign(&self, parts: &[&str]) -> String {
        let tag = self.hmac(parts).finalize().into_bytes();
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// True when `mac` (hex) is the MAC of `parts`. The comparison takes constant time.
    pub fn verify(&self, parts: &[&str], mac: &str) -> bool {
        let Some(tag) = unhex(mac) else {
            return false;
        };
        self.hmac(parts).verify_slice(&tag).is_ok()
    }
}

/// Decodes [`MAC_HEX_LEN`] lowercase hex digits.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != MAC_HEX_LEN {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            Some((digit(pair[0])? << 4) | digit(pair[1])?)
        })
        .collect()
}

/// True when `text` has the shape of a `mac=` value (not whether it verifies).
pub fn is_mac(text: &str) -> bool {
    unhex(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> OwnershipKey {
        OwnershipKey::from_bytes(s.as_bytes()).unwrap()
    }

    #[test]
    fn signs_and_verifies_and_binds_every_part() {
        let k = key("0123456789abcdef0123");
        let mac = k.sign(&["pool", "i-1", "v=1"]);
        assert_eq!(mac.len(), MAC_HEX_LEN);
        assert!(is_mac(&mac));
        assert!(k.verify(&["pool", "i-1", "v=1"], &mac));
        assert!(!k.verify(&["pool", "i-2", "v=1"], &mac), "another set id");
        assert!(!k.verify(&["pooli-1", "", "v=1"], &mac), "parts are framed");
        assert!(!key("another key of 16+ bytes").verify(&["pool", "i-1", "v=1"], &mac));
        assert!(!k.verify(&["pool", "i-1", "v=1"], &mac.to_uppercase()));
        assert!(!k.verify(&["pool", "i-1", "v=1"], "00"));
    }

    #[test]
    fn key_size_is_bounded_and_newlines_trimmed() {
        assert_eq!(OwnershipKey::from_bytes(b"short\n"), Err(KeyError::Size(5)));
        assert_eq!(
            OwnershipKey::from_bytes(b"0123456789abcdef\n"),
            OwnershipKey::from_bytes(b"0123456789abcdef")
        );
        assert!(OwnershipKey::from_bytes(&[b'k'; MAX_KEY_BYTES + 1]).is_err());
        assert_eq!(
            format!("{:?}", key("0123456789abcdef")),
            "OwnershipKey(<redacted>)"
        );
    }
}
