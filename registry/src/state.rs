//! [`TargetState`]: where a target stands, as its ownership record says (a leaf module: the
//! model and the TXT codec both use it).

use std::fmt;
use std::str::FromStr;

/// A target's place in the rotation, as recorded in its ownership record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// In rotation with its wanted weight.
    Active,
    /// Taken out of rotation by a health controller (weight 0).
    Quarantined,
    /// Leaving: weight 0 while caches expire, then deleted.
    Draining,
}

impl TargetState {
    /// The value written after `state=`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Active => "active",
            TargetState::Quarantined => "quarantined",
            TargetState::Draining => "draining",
        }
    }
}

impl fmt::Display for TargetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(TargetState::Active),
            "quarantined" => Ok(TargetState::Quarantined),
            "draining" => Ok(TargetState::Draining),
            other => Err(format!(
                "unknown state {other:?}; expected active, quarantined or draining"
            )),
        }
    }
}
