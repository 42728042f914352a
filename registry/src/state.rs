//! Where a target stands, as its ownership record says: [`TargetState`] (`state=`), [`By`]
//! (`by=`: who put it there) and [`Why`] (`why=`: the reason). A leaf module: the model and the
//! TXT codec both use it.

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

/// An enum over the tokens wavelb itself writes after a TXT key, plus `Other` for any other
/// token read from a record (someone else's writer, a newer wavelb): such a token round-trips
/// unchanged and is never mistaken for one of ours. [`parse`](By::parse) maps a known token to
/// its variant, so `Other` never holds one.
macro_rules! token_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $token:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// Any other token, as read (the TXT codec accepts only
            /// [`is_token`](crate::txt::is_token) text here).
            Other(String),
        }

        impl $name {
            /// The token as written in the TXT record.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $token,)+
                    $name::Other(s) => s,
                }
            }

            /// The value of `token`: one of ours, or `Other`.
            pub fn parse(token: &str) -> Self {
                match token {
                    $($token => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

token_enum! {
    /// Who put a target in its state (`by=`).
    By {
        /// The target's own agent (self-quarantine, drain).
        Agent => "agent",
        /// A health controller (quarantine, restore, park; the zone tier's records).
        Health => "health",
        /// An operator (`wavelb records quarantine`, …).
        Operator => "operator",
    }
}

token_enum! {
    /// Why a record stands as it does (`why=`); the zone tier writes one on each of its records.
    Why {
        /// In: at or above `min_healthy`.
        Healthy => "healthy",
        /// Out (or leaving): below `min_healthy`.
        BelowMinHealthy => "below-min-healthy",
        /// Out, at or above `min_healthy` again, waiting out `return_after`.
        Recovering => "recovering",
        /// In although below `min_healthy`: every zone is out and there is no fallback.
        KeptHealthiest => "kept-healthiest",
        /// The fallback is in: every zone is out.
        EveryZoneOut => "every-zone-out",
        /// The fallback is out: some zone is in.
        ZonesAvailable => "zones-available",
        /// Out: its pool has no records, and Route 53 refuses an alias to a name without any.
        EmptyPool => "empty-pool",
        /// Route 53 refused to publish the zone's record lately.
        Refused => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_variants_and_back() {
        for by in [
            By::Agent,
            By::Health,
            By::Operator,
            By::Other("ops-bot".into()),
        ] {
            assert_eq!(By::parse(by.as_str()), by);
        }
        assert_eq!(By::parse("Health"), By::Other("Health".into()));
        for why in [Why::Healthy, Why::EmptyPool, Why::Other("later".into())] {
            assert_eq!(Why::parse(&why.to_string()), why);
        }
        assert_eq!(Why::parse("below-min-healthy"), Why::BelowMinHealthy);
    }
}
