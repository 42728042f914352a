//! The probe keys: one table ([`Key::spec`]) names every probe option where a user writes it —
//! the TOML key of `[health.probe]` and `[agent.self_check]`, the flag of `wavelb probe` — with
//! the kinds that use it and its help text.
//!
//! Everything that names an option reads it from here: [`crate::Prober::new`]'s check that a
//! key is used by the kind, the error messages, and the command line's arguments (the binary
//! builds its flags from [`Key::ALL`]). Errors are kept as parts that refer to keys
//! ([`Message`]) and rendered in the caller's terms ([`Naming::Toml`]: `` `send_hex` ``,
//! [`Naming::Cli`]: `--send-hex`); no text is rewritten afterwards.
//!
//! Adding an option: a field of [`ProbeConfig`], a [`Key`] variant, its row in [`Key::spec`]
//! and its arms in [`Key::is_set`] and [`ProbeConfig::set`] (the compiler points at each
//! match), and the variant in [`Key::ALL`] (a test checks it against the TOML fields).

use std::fmt;
use std::path::PathBuf;

use crate::{ProbeConfig, ProbeKind};

/// One option of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// `kind`: the protocol.
    Kind,
    /// `port`: the port when the target has none.
    Port,
    /// `timeout`: the bound on one probe.
    Timeout,
    /// `send`: a `udp` payload as text.
    Send,
    /// `send_hex`: a `udp` payload as hex.
    SendHex,
    /// `send_base64`: a `udp` payload as base64.
    SendBase64,
    /// `expect`: the exact reply (`udp`) or answer (`dns`).
    Expect,
    /// `expect_hex`: the exact `udp` reply as hex.
    ExpectHex,
    /// `expect_prefix`: the start of the `udp` reply.
    ExpectPrefix,
    /// `expect_regex`: a regular expression for the reply (`udp`) or an answer (`dns`).
    ExpectRegex,
    /// `alpn`: the `quic` ALPN protocols.
    Alpn,
    /// `sni`: the `quic` TLS server name.
    Sni,
    /// `insecure`: `quic` accepts any certificate.
    Insecure,
    /// `ca`: the `quic` trust roots file.
    Ca,
    /// `pin`: the `quic` certificate's key pin.
    Pin,
    /// `name`: the `dns` name to query.
    Name,
    /// `qtype`: the `dns` query type.
    Qtype,
    /// `retransmit`: how often a UDP request is sent again within the timeout.
    Retransmit,
}

/// Whose words an error uses: the configuration file's or the command line's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// TOML keys (`send_hex`), quoted in backticks inside a message.
    Toml,
    /// `wavelb probe` flags (`--send-hex`) and positional arguments (`<KIND>`).
    Cli,
}

/// How an option is written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    /// A positional argument, shown as this (`<KIND>`); the binary declares it itself.
    Positional(&'static str),
    /// A switch without a value: `--NAME`.
    Switch(&'static str),
    /// `--NAME VALUE`, at most once.
    One(&'static str),
    /// `--NAME VALUE`, repeatable.
    Many(&'static str),
}

/// Everything said about one [`Key`].
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The TOML key (`send_hex`).
    pub toml: &'static str,
    /// The command-line form.
    pub cli: Cli,
    /// The value's placeholder in `--help` (`HEX`; empty for a switch).
    pub value_name: &'static str,
    /// Whether a value may start with `-` on the command line (free text such as a payload).
    pub hyphen_values: bool,
    /// The kinds that use it.
    pub kinds: &'static [ProbeKind],
    /// One line for `--help` (no final full stop, as clap shows doc comments).
    pub help: &'static str,
}

const UDP: &[ProbeKind] = &[ProbeKind::Udp];
const QUIC: &[ProbeKind] = &[ProbeKind::Quic];
const DNS: &[ProbeKind] = &[ProbeKind::Dns];
const UDP_DNS: &[ProbeKind] = &[ProbeKind::Udp, ProbeKind::Dns];
/// The kinds that exchange datagrams: every kind but `tcp`, the last of [`ProbeKind::ALL`].
const DATAGRAM: &[ProbeKind] = ProbeKind::ALL
    .as_slice()
    .split_at(ProbeKind::ALL.len() - 1)
    .0;

impl Key {
    /// Every key, in documentation order.
    pub const ALL: [Key; 18] = [
        Key::Kind,
        Key::Port,
        Key::Timeout,
        Key::Send,
        Key::SendHex,
        Key::SendBase64,
        Key::Expect,
        Key::ExpectHex,
        Key::ExpectPrefix,
        Key::ExpectRegex,
        Key::Alpn,
        Key::Sni,
        Key::Insecure,
        Key::Ca,
        Key::Pin,
        Key::Name,
        Key::Qtype,
        Key::Retransmit,
    ];

    /// The table: names, the kinds that use the key, and help.
    pub const fn spec(self) -> Spec {
        const fn row(
            toml: &'static str,
            cli: Cli,
            value_name: &'static str,
            kinds: &'static [ProbeKind],
            help: &'static str,
        ) -> Spec {
            Spec {
                toml,
                cli,
                value_name,
                hyphen_values: false,
                kinds,
                help,
            }
        }
        const fn free_text(spec: Spec) -> Spec {
            Spec {
                hyphen_values: true,
                ..spec
            }
        }
        const ALL_KINDS: &[ProbeKind] = &ProbeKind::ALL;
        match self {
            Key::Kind => row(
                "kind",
                Cli::Positional("<KIND>"),
                "KIND",
                ALL_KINDS,
                "Probe kind: udp, quic, quic-ping, stun, srt, dns or tcp",
            ),
            Key::Port => row(
                "port",
                Cli::Positional("<HOST:PORT>"),
                "PORT",
                ALL_KINDS,
                "The port to probe when the target has none",
            ),
            Key::Timeout => row(
                "timeout",
                Cli::One("timeout"),
                "DURATION",
                ALL_KINDS,
                "The bound on the whole probe, e.g. 500ms or 2s [default: 1s]",
            ),
            Key::Send => free_text(row(
                "send",
                Cli::One("send"),
                "TEXT",
                UDP,
                "udp: the payload as text",
            )),
            Key::SendHex => row(
                "send_hex",
                Cli::One("send-hex"),
                "HEX",
                UDP,
                "udp: the payload as hex digits",
            ),
            Key::SendBase64 => row(
                "send_base64",
                Cli::One("send-base64"),
                "BASE64",
                UDP,
                "udp: the payload as base64",
            ),
            Key::Expect => free_text(row(
                "expect",
                Cli::One("expect"),
                "TEXT",
                UDP_DNS,
                "udp: the reply must be exactly this text; dns: an answer must be exactly this",
            )),
            Key::ExpectHex => row(
                "expect_hex",
                Cli::One("expect-hex"),
                "HEX",
                UDP,
                "udp: the reply must be exactly these bytes (hex)",
            ),
            Key::ExpectPrefix => free_text(row(
                "expect_prefix",
                Cli::One("expect-prefix"),
                "TEXT",
                UDP,
                "udp: the reply must start with this text",
            )),
            Key::ExpectRegex => free_text(row(
                "expect_regex",
                Cli::One("expect-regex"),
                "RE",
                UDP_DNS,
                "udp: a regular expression the reply must match; dns: that an answer must match",
            )),
            Key::Alpn => row(
                "alpn",
                Cli::Many("alpn"),
                "PROTOCOL",
                QUIC,
                "quic: an ALPN protocol to offer (repeatable; at least one), e.g. h3",
            ),
            Key::Sni => row(
                "sni",
                Cli::One("sni"),
                "NAME",
                QUIC,
                "quic: the TLS server name [default: localhost]",
            ),
            Key::Insecure => row(
                "insecure",
                Cli::Switch("insecure"),
                "",
                QUIC,
                "quic: accept any certificate (the handshake signature is still checked)",
            ),
            Key::Ca => row(
                "ca",
                Cli::One("ca"),
                "FILE",
                QUIC,
                "quic: trust only the PEM CA certificates in FILE",
            ),
            Key::Pin => row(
                "pin",
                Cli::One("pin"),
                "SHA256",
                QUIC,
                "quic: the SHA-256 of the certificate's SubjectPublicKeyInfo (64 hex digits or base64)",
            ),
            Key::Name => row(
                "name",
                Cli::One("name"),
                "NAME",
                DNS,
                "dns: the name to query",
            ),
            Key::Qtype => row(
                "qtype",
                Cli::One("qtype"),
                "TYPE",
                DNS,
                "dns: the query type [default: A]",
            ),
            Key::Retransmit => row(
                "retransmit",
                Cli::One("retransmit"),
                "N",
                DATAGRAM,
                "Every kind but tcp: send the request again up to N times within the timeout while no reply came (0-10) [default: 3]",
            ),
        }
    }

    /// The key as the user wrote it: `send_hex`, or `--send-hex` / `<KIND>`.
    pub fn name(self, naming: Naming) -> String {
        let spec = self.spec();
        match (naming, spec.cli) {
            (Naming::Toml, _) => spec.toml.to_owned(),
            (Naming::Cli, Cli::Positional(shown)) => shown.to_owned(),
            (Naming::Cli, Cli::Switch(long) | Cli::One(long) | Cli::Many(long)) => {
                format!("--{long}")
            }
        }
    }

    /// Whether `kind` uses this key.
    pub fn used_by(self, kind: ProbeKind) -> bool {
        self.spec().kinds.contains(&kind)
    }

    /// Whether `cfg` sets this key (`kind` and `timeout` always count as set).
    pub fn is_set(self, cfg: &ProbeConfig) -> bool {
        match self {
            Key::Kind | Key::Timeout => true,
            Key::Port => cfg.port.is_some(),
            Key::Send => cfg.send.is_some(),
            Key::SendHex => cfg.send_hex.is_some(),
            Key::SendBase64 => cfg.send_base64.is_some(),
            Key::Expect => cfg.expect.is_some(),
            Key::ExpectHex => cfg.expect_hex.is_some(),
            Key::ExpectPrefix => cfg.expect_prefix.is_some(),
            Key::ExpectRegex => cfg.expect_regex.is_some(),
            Key::Alpn => !cfg.alpn.is_empty(),
            Key::Sni => cfg.sni.is_some(),
            Key::Insecure => cfg.insecure,
            Key::Ca => cfg.ca.is_some(),
            Key::Pin => cfg.pin.is_some(),
            Key::Name => cfg.name.is_some(),
            Key::Qtype => cfg.qtype.is_some(),
            Key::Retransmit => cfg.retransmit.is_some(),
        }
    }
}

impl ProbeConfig {
    /// Sets `key` from its text (a command-line value): a repeatable key gains a value, a
    /// switch takes `true` or `false`. Checks only the value's type; [`crate::Prober::new`]
    /// checks the rest.
    ///
    /// # Errors
    ///
    /// The key, when the text is not a value of its type (a kind, a port, a duration, a bool).
    pub fn set(&mut self, key: Key, text: &str) -> Result<(), ProbeConfigError> {
        let some = || Some(text.to_owned());
        match key {
            Key::Kind => {
                self.kind = text
                    .parse()
                    .map_err(|e: crate::UnknownKind| ProbeConfigError::new(key, e.to_string()))?;
            }
            Key::Port => {
                let port = text.parse().map_err(|_| {
                    ProbeConfigError::new(key, format!("{text:?} is not a port (1-65535)"))
                })?;
                self.port = Some(port);
            }
            Key::Timeout => {
                self.timeout = humantime::parse_duration(text).map_err(|e| {
                    ProbeConfigError::new(
                        key,
                        Message::text(format!("{text:?} is not a duration ({e}); write e.g. "))
                            .example(key, "500ms"),
                    )
                })?;
            }
            Key::Send => self.send = some(),
            Key::SendHex => self.send_hex = some(),
            Key::SendBase64 => self.send_base64 = some(),
            Key::Expect => self.expect = some(),
            Key::ExpectHex => self.expect_hex = some(),
            Key::ExpectPrefix => self.expect_prefix = some(),
            Key::ExpectRegex => self.expect_regex = some(),
            Key::Alpn => self.alpn.push(text.to_owned()),
            Key::Sni => self.sni = some(),
            Key::Insecure => {
                self.insecure = text.parse().map_err(|_| {
                    ProbeConfigError::new(key, format!("{text:?} is not true or false"))
                })?;
            }
            Key::Ca => self.ca = Some(PathBuf::from(text)),
            Key::Pin => self.pin = some(),
            Key::Name => self.name = some(),
            Key::Qtype => self.qtype = some(),
            Key::Retransmit => {
                let n = text.parse().map_err(|_| {
                    ProbeConfigError::new(key, format!("{text:?} is not a count (0-10)"))
                })?;
                self.retransmit = Some(n);
            }
        }
        Ok(())
    }
}

/// What is wrong with a key, as parts that name other keys, rendered in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Key(Key),
    /// The key set to a value: `alpn = ["h3"]` in TOML, `--alpn h3` on the command line.
    Example(Key, &'static str),
}

impl Message {
    /// A message that starts with `text`.
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self(vec![Part::Text(text.into())])
    }

    /// Appends text.
    pub(crate) fn then(mut self, text: impl Into<String>) -> Self {
        self.0.push(Part::Text(text.into()));
        self
    }

    /// Appends a key's name.
    pub(crate) fn key(mut self, key: Key) -> Self {
        self.0.push(Part::Key(key));
        self
    }

    /// Appends `a, b or c` (with `conjunction` for "or").
    pub(crate) fn keys(mut self, keys: &[Key], conjunction: &str) -> Self {
        for (i, key) in keys.iter().enumerate() {
            if i + 1 == keys.len() && i > 0 {
                self = self.then(format!(" {conjunction} "));
            } else if i > 0 {
                self = self.then(", ");
            }
            self = self.key(*key);
        }
        self
    }

    /// Appends an example setting of `key` to `value`.
    pub(crate) fn example(mut self, key: Key, value: &'static str) -> Self {
        self.0.push(Part::Example(key, value));
        self
    }

    /// The message in `naming`'s words.
    pub fn render(&self, naming: Naming) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match (part, naming) {
                (Part::Text(text), _) => out.push_str(text),
                (Part::Key(key), Naming::Toml) => {
                    out.push('`');
                    out.push_str(&key.name(naming));
                    out.push('`');
                }
                (Part::Key(key), Naming::Cli) => out.push_str(&key.name(naming)),
                (Part::Example(key, value), Naming::Toml) => {
                    let toml = key.spec().toml;
                    out.push_str(&match key.spec().cli {
                        Cli::Switch(_) => format!("{toml} = {value}"),
                        Cli::Many(_) => format!("{toml} = [{value:?}]"),
                        Cli::One(_) | Cli::Positional(_) => format!("{toml} = {value:?}"),
                    });
                }
                (Part::Example(key, value), Naming::Cli) => match key.spec().cli {
                    Cli::Switch(long) => out.push_str(&format!("--{long}")),
                    Cli::One(long) | Cli::Many(long) => out.push_str(&format!("--{long} {value}")),
                    Cli::Positional(_) => out.push_str(value),
                },
            }
        }
        out
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

/// A configuration that cannot be probed with: the offending key and what is allowed. Its
/// Display is in TOML terms (`send_hex: conflicts with `send`; …`); the caller prefixes the
/// section, e.g. `health.probe`. [`ProbeConfigError::render`] gives the command line's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render(Naming::Toml))]
pub struct ProbeConfigError {
    /// The offending key.
    pub key: Key,
    /// What is wrong and what is allowed.
    pub message: Message,
}

impl ProbeConfigError {
    pub(crate) fn new(key: Key, message: impl Into<Message>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }

    /// `key: message` in `naming`'s words.
    pub fn render(&self, naming: Naming) -> String {
        format!("{}: {}", self.key.name(naming), self.message.render(naming))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().toml)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_toml_field_has_a_key_and_every_key_is_a_toml_field() {
        // serde lists the fields it expects when it meets an unknown one.
        let err = toml::from_str::<ProbeConfig>("kind = \"tcp\"\nno_such_key = 1").unwrap_err();
        let text = err.to_string();
        let listed = text
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("{text}"));
        let fields: Vec<&str> = listed
            .split('`')
            .filter(|s| !s.trim().is_empty() && !s.contains(','))
            .map(str::trim)
            .collect();
        let keys: Vec<&str> = Key::ALL.iter().map(|k| k.spec().toml).collect();
        assert_eq!(fields, keys);
    }

    #[test]
    fn flags_are_unique_and_every_kind_specific_key_names_its_kinds() {
        let mut names: Vec<String> = Key::ALL.iter().map(|k| k.name(Naming::Cli)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Key::ALL.len());
        for key in Key::ALL {
            let help = key.spec().help;
            let kinds = key.spec().kinds;
            if kinds.len() < ProbeKind::ALL.len() {
                // Either each kind that uses it ("udp: …; dns: …"), or the ones that do not.
                let each = kinds.iter().all(|k| help.contains(&format!("{k}:")));
                let but = help.starts_with("Every kind but ")
                    && ProbeKind::ALL
                        .iter()
                        .filter(|k| !kinds.contains(k))
                        .all(|k| help.contains(k.as_str()));
                assert!(each || but, "{key}: {help}");
            }
        }
    }

    #[test]
    fn every_kind_but_tcp_exchanges_datagrams() {
        assert_eq!(ProbeKind::ALL.last(), Some(&ProbeKind::Tcp));
        assert!(!DATAGRAM.contains(&ProbeKind::Tcp));
        assert_eq!(DATAGRAM.len(), ProbeKind::ALL.len() - 1);
    }

    #[test]
    fn set_takes_each_key_from_text() {
        let mut cfg = ProbeConfig::new(ProbeKind::Tcp);
        for key in Key::ALL {
            let text = match key {
                Key::Kind => "quic",
                Key::Port => "443",
                Key::Timeout => "2s",
                Key::Insecure => "true",
                Key::Retransmit => "2",
                _ => "x",
            };
            cfg.set(key, text).unwrap();
            assert!(key.is_set(&cfg), "{key}");
        }
        assert_eq!(cfg.kind, ProbeKind::Quic);
        assert_eq!(cfg.timeout, std::time::Duration::from_secs(2));
        cfg.set(Key::Alpn, "h3").unwrap();
        assert_eq!(cfg.alpn, ["x", "h3"]);
        let err = cfg.set(Key::Timeout, "soon").unwrap_err();
        assert_eq!(err.key, Key::Timeout);
        assert!(
            err.render(Naming::Cli)
                .starts_with("--timeout: \"soon\" is not a duration"),
            "{}",
            err.render(Naming::Cli)
        );
        assert!(
            err.to_string().ends_with("e.g. timeout = \"500ms\""),
            "{err}"
        );
        assert_eq!(cfg.set(Key::Port, "0x").unwrap_err().key, Key::Port);
        assert_eq!(cfg.set(Key::Kind, "ping").unwrap_err().key, Key::Kind);
    }

    #[test]
    fn messages_render_in_either_naming() {
        let err = ProbeConfigError::new(
            Key::SendHex,
            Message::text("conflicts with ")
                .key(Key::Send)
                .then("; give at most one of ")
                .keys(&[Key::Send, Key::SendHex, Key::SendBase64], "or")
                .then(", e.g. ")
                .example(Key::Alpn, "h3")
                .then(" or change ")
                .key(Key::Kind),
        );
        assert_eq!(
            err.to_string(),
            "send_hex: conflicts with `send`; give at most one of `send`, `send_hex` or \
             `send_base64`, e.g. alpn = [\"h3\"] or change `kind`"
        );
        assert_eq!(
            err.render(Naming::Cli),
            "--send-hex: conflicts with --send; give at most one of --send, --send-hex or \
             --send-base64, e.g. --alpn h3 or change <KIND>"
        );
    }
}
