//! The configuration file's durations: human-readable text such as `"500ms"`, `"30s"` or `"2m"`,
//! read with `#[serde(deserialize_with = "vocab::duration::deserialize")]`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserialises a human-readable duration such as `"500ms"`, `"30s"` or `"2m"`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration ({e}); write e.g. \"500ms\", \"30s\" or \"2m\""
        ))
    })
}

/// [`deserialize`] for an optional key (`#[serde(default, deserialize_with = …)]`).
pub fn deserialize_optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Keys {
        #[serde(deserialize_with = "deserialize")]
        every: Duration,
        #[serde(default, deserialize_with = "deserialize_optional")]
        within: Option<Duration>,
    }

    #[test]
    fn durations_are_read_from_text_and_a_bad_one_says_what_to_write() {
        let keys: Keys = toml::from_str("every = \"1m30s\"\nwithin = \"500ms\"").expect("valid");
        assert_eq!(keys.every, Duration::from_secs(90));
        assert_eq!(keys.within, Some(Duration::from_millis(500)));
        let keys: Keys = toml::from_str("every = \"2s\"").expect("valid");
        assert_eq!(keys.within, None);
        let err = toml::from_str::<Keys>("every = \"soon\"").expect_err("not a duration");
        assert!(
            err.to_string().contains("\"soon\" is not a duration ("),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("write e.g. \"500ms\", \"30s\" or \"2m\""),
            "{err}"
        );
    }
}
