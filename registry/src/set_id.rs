//! A record set's SetIdentifier, checked once where it comes in.
//!
//! Route 53 takes 1 to 128 characters. A target's id is its set identifier (an agent's is its
//! EC2 instance id; a zone tier member's is its Wavelength zone id), so every map of targets, every
//! intent and every planned change is keyed by a [`SetId`], never by a bare string. Record sets as
//! listed keep the raw `Option<String>` ([`crate::model::RecordSet::set_identifier`]): what
//! someone else wrote is judged by [`crate::pool::classify`], which makes a set identifier that
//! does not check a foreign one.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// A set identifier: 1 to [`SetId::MAX_CHARS`] characters.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct SetId(String);

/// Why a string is not a set identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetIdError {
    /// The empty string.
    #[error("a set identifier cannot be empty")]
    Empty,
    /// Longer than Route 53 allows.
    #[error("a set identifier has at most {max} characters, this one has {0}", max = SetId::MAX_CHARS)]
    TooLong(usize),
}

impl SetId {
    /// Route 53's bound on a SetIdentifier, in characters.
    pub const MAX_CHARS: usize = 128;

    /// `id` as a set identifier, when Route 53 would take it.
    pub fn new(id: impl Into<String>) -> Result<Self, SetIdError> {
        let id = id.into();
        match id.chars().count() {
            0 => Err(SetIdError::Empty),
            n if n > Self::MAX_CHARS => Err(SetIdError::TooLong(n)),
            _ => Ok(Self(id)),
        }
    }

    /// The identifier as Route 53 stores it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SetId {
    /// The raw identifier, padded as a string is (`{:<8}`). Logs escape it (the log layer
    /// escapes every field); printed output goes through [`crate::escape`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl FromStr for SetId {
    type Err = SetIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for SetId {
    type Error = SetIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<SetId> for String {
    fn from(id: SetId) -> Self {
        id.0
    }
}

impl AsRef<str> for SetId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Read as the string it is (it cannot be changed through a reference, so it stays checked).
impl std::ops::Deref for SetId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by [`SetId`] are looked up with a `&str`: the order and equality are the string's.
impl Borrow<str> for SetId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SetId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SetId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route53s_bounds_are_checked_in_characters() {
        assert_eq!(SetId::new(""), Err(SetIdError::Empty));
        assert!(SetId::new("i-0123456789abcdef0").is_ok());
        let longest = "é".repeat(SetId::MAX_CHARS);
        assert_eq!(SetId::new(longest.clone()).map(String::from), Ok(longest));
        assert_eq!(
            SetId::new("x".repeat(SetId::MAX_CHARS + 1)),
            Err(SetIdError::TooLong(SetId::MAX_CHARS + 1))
        );
    }

    #[test]
    fn it_displays_as_the_string_it_is_padding_included() {
        let id = SetId::new("demo-1").expect("valid");
        assert_eq!(format!("[{id:<8}]"), "[demo-1  ]");
        assert_eq!(format!("[{id:>8}]"), format!("[{:>8}]", "demo-1"));
    }

    #[test]
    fn a_deserialized_set_id_is_checked_too() {
        let ok: SetId = serde_json::from_str("\"us-east-1-wl1-bos-wlz-1\"").expect("valid");
        assert_eq!(ok, "us-east-1-wl1-bos-wlz-1");
        assert!(serde_json::from_str::<SetId>("\"\"").is_err());
        assert_eq!(
            serde_json::to_string(&ok).expect("serialize"),
            "\"us-east-1-wl1-bos-wlz-1\""
        );
    }

    #[test]
    fn maps_keyed_by_set_id_are_looked_up_by_str() {
        let mut m = std::collections::BTreeMap::new();
        m.insert(SetId::new("b").expect("valid"), 2);
        m.insert(SetId::new("a").expect("valid"), 1);
        assert_eq!(m.get("a"), Some(&1));
        assert_eq!(m.keys().map(SetId::as_str).collect::<Vec<_>>(), ["a", "b"]);
    }
}
