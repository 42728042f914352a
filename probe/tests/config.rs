//! `[health.probe]` tables as TOML → `ProbeConfig` → `Prober::new`: what is accepted, and that
//! every rejection names the offending key and what is allowed.

use std::time::Duration;

use probe::{Key, Naming, ProbeConfig, ProbeConfigError, ProbeKind, Prober};

fn parse(toml_text: &str) -> ProbeConfig {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}\n{e}"))
}

fn reject(toml_text: &str) -> ProbeConfigError {
    match Prober::new(&parse(toml_text)) {
        Ok(p) => panic!("accepted {toml_text}: {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn accepts_one_table_per_kind_with_defaults() {
    let cases = [
        (
            "kind = \"udp\"\nsend = \"ping\"\nexpect = \"pong\"",
            ProbeKind::Udp,
        ),
        (
            "kind = \"udp\"\nsend_hex = \"de ad\"\nexpect_regex = \"^ok\"",
            ProbeKind::Udp,
        ),
        ("kind = \"udp\"\nsend_base64 = \"aGk=\"", ProbeKind::Udp),
        (
            "kind = \"quic\"\nalpn = [\"h3\"]\nsni = \"edge.example.com\"",
            ProbeKind::Quic,
        ),
        (
            "kind = \"quic\"\nalpn = [\"h3\", \"hq-interop\"]\ninsecure = true",
            ProbeKind::Quic,
        ),
        (
            "kind = \"quic\"\nalpn = [\"h3\"]\npin = \"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
            ProbeKind::Quic,
        ),
        ("kind = \"quic-ping\"\nport = 443", ProbeKind::QuicPing),
        ("kind = \"stun\"\nport = 3478", ProbeKind::Stun),
        ("kind = \"srt\"", ProbeKind::Srt),
        (
            "kind = \"dns\"\nname = \"lab.test\"\nqtype = \"soa\"",
            ProbeKind::Dns,
        ),
        ("kind = \"tcp\"\ntimeout = \"250ms\"", ProbeKind::Tcp),
    ];
    for (text, kind) in cases {
        let cfg = parse(text);
        let prober = Prober::new(&cfg).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(prober.kind(), kind);
    }
    let cfg = parse("kind = \"stun\"\nport = 3478");
    assert_eq!(cfg.timeout, Duration::from_secs(1), "default timeout");
    assert_eq!(Prober::new(&cfg).unwrap().port(), Some(3478));
    assert_eq!(
        parse("kind = \"tcp\"\ntimeout = \"250ms\"").timeout,
        Duration::from_millis(250)
    );
}

#[test]
fn serde_rejects_unknown_keys_kinds_and_bad_durations() {
    for text in [
        "kind = \"udp\"\nsend = \"x\"\nexpect_hexx = \"00\"",
        "kind = \"ping\"",
        "kind = \"tcp\"\ntimeout = \"soon\"",
    ] {
        assert!(
            toml::from_str::<ProbeConfig>(text).is_err(),
            "accepted {text}"
        );
    }
}

#[test]
fn payload_and_expect_forms() {
    let e = reject("kind = \"udp\"");
    assert_eq!(e.key, Key::Send);
    assert!(e.to_string().contains("`send_hex`"), "{e}");

    let e = reject("kind = \"udp\"\nsend = \"a\"\nsend_hex = \"00\"");
    assert_eq!(e.key, Key::SendHex);
    assert!(
        e.to_string().starts_with("send_hex: conflicts with `send`"),
        "{e}"
    );
    assert!(
        e.render(Naming::Cli)
            .starts_with("--send-hex: conflicts with --send; give at most one of --send, "),
        "{}",
        e.render(Naming::Cli)
    );

    let e = reject("kind = \"udp\"\nsend_hex = \"0g\"");
    assert_eq!(e.key, Key::SendHex);
    assert!(e.to_string().contains("not hex"), "{e}");

    let e = reject("kind = \"udp\"\nsend_base64 = \"@@@\"");
    assert_eq!(e.key, Key::SendBase64);

    let e = reject("kind = \"udp\"\nsend = \"a\"\nexpect = \"b\"\nexpect_regex = \"c\"");
    assert_eq!(e.key, Key::ExpectRegex);

    let e = reject("kind = \"udp\"\nsend = \"a\"\nexpect_regex = \"(\"");
    assert_eq!(e.key, Key::ExpectRegex);
    assert!(e.to_string().contains("regular expression"), "{e}");

    let e = reject("kind = \"udp\"\nsend = \"a\"\nexpect_hex = \"abc\"");
    assert_eq!(e.key, Key::ExpectHex);
}

#[test]
fn quic_keys() {
    let e = reject("kind = \"quic\"");
    assert_eq!(e.key, Key::Alpn);
    assert!(e.to_string().contains("at least one"), "{e}");

    let e = reject("kind = \"quic\"\nalpn = [\"h3\"]\ninsecure = true\npin = \"00\"");
    assert_eq!(e.key, Key::Pin);
    assert!(e.to_string().contains("conflicts with `insecure`"), "{e}");

    let e = reject("kind = \"quic\"\nalpn = [\"h3\"]\npin = \"abcd\"");
    assert_eq!(e.key, Key::Pin);
    assert!(e.to_string().contains("64 hex digits"), "{e}");

    let e = reject("kind = \"quic\"\nalpn = [\"h3\"]\nca = \"/nonexistent/ca.pem\"");
    assert_eq!(e.key, Key::Ca);
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");

    let e = reject("kind = \"quic\"\nalpn = [\"h3\"]\nsni = \"not a name\"");
    assert_eq!(e.key, Key::Sni);

    let e = reject("kind = \"quic\"\nalpn = [\"\"]");
    assert_eq!(e.key, Key::Alpn);
}

#[test]
fn dns_keys() {
    let e = reject("kind = \"dns\"");
    assert_eq!(e.key, Key::Name);
    let e = reject("kind = \"dns\"\nname = \"a.test\"\nqtype = \"NOPE\"");
    assert_eq!(e.key, Key::Qtype);
    assert!(e.to_string().contains("AAAA"), "lists allowed types: {e}");
    let e = reject("kind = \"dns\"\nname = \"a.test\"\nexpect_hex = \"00\"");
    assert_eq!(e.key, Key::ExpectHex);
    assert!(e.to_string().contains("only by udp"), "{e}");
}

#[test]
fn keys_a_kind_does_not_use_are_rejected() {
    let e = reject("kind = \"stun\"\nalpn = [\"h3\"]");
    assert_eq!(e.key, Key::Alpn);
    assert_eq!(
        e.to_string(),
        "alpn: is not used by kind stun (only by quic); remove it or change `kind`"
    );
    assert_eq!(
        e.render(Naming::Cli),
        "--alpn: is not used by kind stun (only by quic); remove it or change <KIND>",
        "the same error in the command line's words"
    );
    let e = reject("kind = \"tcp\"\nsend = \"x\"");
    assert_eq!(e.key, Key::Send);
    let e = reject("kind = \"udp\"\nsend = \"x\"\ninsecure = true");
    assert_eq!(e.key, Key::Insecure);
    let e = reject("kind = \"quic-ping\"\nname = \"x.test\"");
    assert_eq!(e.key, Key::Name);
}

#[test]
fn timeout_and_port_bounds() {
    let e = reject("kind = \"tcp\"\ntimeout = \"0s\"");
    assert_eq!(e.key, Key::Timeout);
    let e = reject("kind = \"tcp\"\nport = 0");
    assert_eq!(e.key, Key::Port);
}
