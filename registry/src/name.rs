//! Domain names as Route 53 stores them: lower case, absolute (trailing dot).

use std::fmt;

/// Why a domain name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name was empty (or just ".").
    #[error("the name is empty; expected a domain name such as edge.example.com")]
    Empty,
    /// The name is longer than DNS allows.
    #[error("the name {name:?} is {len} characters long; a domain name has at most 253")]
    TooLong {
        /// The offending name.
        name: String,
        /// Its length without the trailing dot.
        len: usize,
    },
    /// One label is empty or longer than 63 characters.
    #[error("the label {label:?} in {name:?} must be 1-63 characters long")]
    BadLabelLength {
        /// The offending name.
        name: String,
        /// The offending label.
        label: String,
    },
    /// A label holds a character Route 53 does not accept unescaped.
    #[error(
        "the label {label:?} in {name:?} contains {ch:?}; allowed are letters, digits, '-' and '_' (or a lone '*')"
    )]
    BadCharacter {
        /// The offending name.
        name: String,
        /// The offending label.
        label: String,
        /// The first bad character.
        ch: char,
    },
    /// A label starts with a hyphen (RFC 1123 host names; DNS servers, wavelb's resolver
    /// included, do not read such a name as a host name).
    #[error(
        "the label {label:?} in {name:?} starts with '-'; a label must start with a letter, a digit or '_'"
    )]
    LeadingHyphen {
        /// The offending name.
        name: String,
        /// The offending label.
        label: String,
    },
}

/// An absolute, lower-case domain name with a trailing dot (`edge.example.com.`).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Fqdn(String);

impl Fqdn {
    /// Parses and validates a host name as written by an operator.
    ///
    /// Accepts names with or without the trailing dot, in any case.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        if trimmed.len() > 253 {
            return Err(NameError::TooLong {
                name: input.to_owned(),
                len: trimmed.len(),
            });
        }
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(NameError::BadLabelLength {
                    name: input.to_owned(),
                    label: label.to_owned(),
                });
            }
            if label == "*" {
                continue;
            }
            if let Some(ch) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(NameError::BadCharacter {
                    name: input.to_owned(),
                    label: label.to_owned(),
                    ch,
                });
            }
            if label.starts_with('-') {
                return Err(NameError::LeadingHyphen {
                    name: input.to_owned(),
                    label: label.to_owned(),
                });
            }
        }
        Ok(Self(format!("{}.", trimmed.to_ascii_lowercase())))
    }

    /// Normalises a name returned by the Route 53 API without validating it.
    ///
    /// Route 53 escapes unusual characters (`\052` for `*`); those escapes are kept as they are.
    pub fn from_api(input: &str) -> Self {
        let lower = input.to_ascii_lowercase();
        if lower.ends_with('.') {
            Self(lower)
        } else {
            Self(lower + ".")
        }
    }

    /// The name with its trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without its trailing dot, as people usually write it.
    pub fn without_dot(&self) -> &str {
        self.0.strip_suffix('.').unwrap_or(&self.0)
    }

    /// `label.self`: a name one level below this one.
    pub fn child(&self, label: &str) -> Self {
        Self(format!("{}.{}", label.to_ascii_lowercase(), self.0))
    }

    /// True when `self` equals `ancestor` or lies below it.
    pub fn is_within(&self, ancestor: &Fqdn) -> bool {
        self == ancestor
            || (self.0.len() > ancestor.0.len()
                && self.0.ends_with(&ancestor.0)
                && self.0.as_bytes()[self.0.len() - ancestor.0.len() - 1] == b'.')
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_case_and_dot() {
        assert_eq!(
            Fqdn::parse("Edge.Example.COM").unwrap().as_str(),
            "edge.example.com."
        );
        assert_eq!(
            Fqdn::parse("edge.example.com.").unwrap().as_str(),
            "edge.example.com."
        );
    }

    #[test]
    fn parse_rejects_bad_names() {
        assert_eq!(Fqdn::parse(""), Err(NameError::Empty));
        assert!(matches!(
            Fqdn::parse("a..b"),
            Err(NameError::BadLabelLength { .. })
        ));
        assert!(matches!(
            Fqdn::parse("-a.example.com"),
            Err(NameError::LeadingHyphen { .. })
        ));
        assert!(Fqdn::parse("a-.example.com").is_ok());
        assert!(matches!(
            Fqdn::parse("a b.com"),
            Err(NameError::BadCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            Fqdn::parse(&"a".repeat(64)),
            Err(NameError::BadLabelLength { .. })
        ));
        let long = ["abcdefghij"; 26].join(".");
        assert!(matches!(Fqdn::parse(&long), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn within() {
        let zone = Fqdn::parse("example.com").unwrap();
        assert!(Fqdn::parse("example.com").unwrap().is_within(&zone));
        assert!(Fqdn::parse("a.example.com").unwrap().is_within(&zone));
        assert!(!Fqdn::parse("badexample.com").unwrap().is_within(&zone));
        assert!(!Fqdn::parse("com").unwrap().is_within(&zone));
    }
}
