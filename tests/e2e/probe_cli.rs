//! `wavelb probe` end to end, as a process: verdicts and exit codes against real servers
//! (aioquic, the lab resolver, an echo server), JSON output, and bad usage.

use std::process::{Command, Output};

use testkit::echo::Echo;
use testkit::process::Service;
use testkit::servers::{closed_udp_port, quic_server};

fn wavelb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wavelb"))
        .args(args)
        .output()
        .expect("cannot run wavelb")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn json(out: &Output) -> serde_json::Value {
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let line = lines.next().expect("one line of output");
    assert_eq!(lines.next(), None, "exactly one line: {stdout}");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
}

fn quic() -> (Service, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = quic_server(&testkit::repo_root(), dir.path(), &["h3"]);
    let port = server.ready["port"].as_u64().expect("port");
    (server, format!("127.0.0.1:{port}"), dir)
}

#[test]
fn quic_against_aioquic_is_healthy_and_a_closed_port_is_not() {
    let (_server, target, _dir) = quic();
    let out = wavelb(&["probe", "quic", &target, "--alpn", "h3", "--insecure"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("healthy: quic {target} in ")) && stdout.contains("alpn h3"),
        "{stdout}"
    );

    let closed = closed_udp_port().to_string();
    let out = wavelb(&[
        "probe",
        "quic",
        &closed,
        "--alpn",
        "h3",
        "--insecure",
        "--timeout",
        "10s",
    ]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    // Refused by the ICMP port unreachable, not left to the 10 s timeout.
    assert!(
        stdout.starts_with(&format!("unhealthy: quic {closed} after "))
            && stdout.contains("refused"),
        "{stdout}"
    );
}

#[test]
fn json_output_parses_for_both_verdicts() {
    let (server, target, _dir) = quic();
    let pin = server.field("spki_sha256");
    let out = wavelb(&[
        "probe", "quic", &target, "--alpn", "h3", "--pin", &pin, "--json",
    ]);
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!(v["kind"], "quic");
    assert_eq!(v["target"], target.as_str());
    assert_eq!(v["healthy"], true);
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["reason"].is_null(), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("alpn h3"), "{v}");

    // The default verification rejects the self-signed certificate.
    let out = wavelb(&["probe", "quic", &target, "--alpn", "h3", "--json"]);
    assert_exit(&out, 1);
    let v = json(&out);
    assert_eq!(v["healthy"], false);
    assert_eq!(v["reason"], "tls");

    // --ca with the server's certificate (the default SNI is localhost).
    let cert = server.field("cert");
    let out = wavelb(&["probe", "quic", &target, "--alpn", "h3", "--ca", &cert]);
    assert_exit(&out, 0);

    let out = wavelb(&["probe", "quic-ping", &target, "--json"]);
    assert_exit(&out, 0);
    assert_eq!(json(&out)["kind"], "quic-ping");
}

#[test]
fn udp_verdicts_and_exit_codes() {
    let echo = Echo::start("127.0.0.1:0".parse().unwrap());
    let target = echo.addr.to_string();
    let out = wavelb(&[
        "probe", "udp", &target, "--send", "ping", "--expect", "ping",
    ]);
    assert_exit(&out, 0);

    let out = wavelb(&[
        "probe",
        "udp",
        &target,
        "--send-hex",
        "70 6f",
        "--expect-regex",
        "^po$",
        "--json",
    ]);
    assert_exit(&out, 0);

    let out = wavelb(&[
        "probe", "udp", &target, "--send", "ping", "--expect", "pong", "--json",
    ]);
    assert_exit(&out, 1);
    let v = json(&out);
    assert_eq!(v["reason"], "bad_reply");
    assert!(v["detail"].as_str().unwrap().contains("ping"), "{v}");

    let closed = closed_udp_port().to_string();
    let out = wavelb(&["probe", "udp", &closed, "--send", "ping", "--json"]);
    assert_exit(&out, 1);
    assert_eq!(json(&out)["reason"], "refused");

    // A host name resolves (first address).
    let port = echo.addr.port();
    let out = wavelb(&[
        "probe",
        "udp",
        &format!("localhost:{port}"),
        "--send",
        "x",
        "--expect",
        "x",
    ]);
    // localhost may resolve to ::1 first, where nothing listens: either verdict is a real
    // probe, never bad usage.
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dns_against_the_lab_resolver() {
    let resolver = testkit::process::resolver(env!("CARGO_BIN_EXE_wavelb"), &[]);
    let dns = resolver.dns();
    let out = wavelb(&[
        "probe", "dns", &dns, "--name", "lab.test", "--qtype", "SOA", "--json",
    ]);
    assert_exit(&out, 0);
    let v = json(&out);
    assert_eq!(v["healthy"], true, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("NOERROR"), "{v}");

    // The SOA's text form names the zone's primary server: a regex over it.
    let out = wavelb(&[
        "probe",
        "dns",
        &dns,
        "--name",
        "lab.test",
        "--qtype",
        "soa",
        "--expect-regex",
        r"\S+\. \S+\. \d+",
    ]);
    assert_exit(&out, 0);

    let out = wavelb(&["probe", "dns", &dns, "--name", "example.org", "--json"]);
    assert_exit(&out, 1);
    let v = json(&out);
    assert_eq!(v["reason"], "bad_reply", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("REFUSED"), "{v}");
}

#[test]
fn bad_usage_exits_2_and_names_the_option() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "probe",
                "udp",
                "127.0.0.1:9",
                "--send",
                "a",
                "--send-hex",
                "00",
            ],
            "--send-hex",
        ),
        (
            &["probe", "udp", "127.0.0.1:9", "--send-hex", "xyz"],
            "--send-hex",
        ),
        (&["probe", "udp", "127.0.0.1:9"], "--send"),
        (
            &["probe", "ping", "127.0.0.1:9"],
            "[possible values: udp, quic, quic-ping, stun, srt, dns, tcp]",
        ),
        (&["probe", "quic", "127.0.0.1:9"], "--alpn"),
        (
            &[
                "probe",
                "quic",
                "127.0.0.1:9",
                "--alpn",
                "h3",
                "--pin",
                "nope",
            ],
            "--pin",
        ),
        (
            &[
                "probe",
                "quic",
                "127.0.0.1:9",
                "--alpn",
                "h3",
                "--insecure",
                "--ca",
                "/x.pem",
            ],
            "--ca",
        ),
        (&["probe", "tcp", "127.0.0.1:9", "--alpn", "h3"], "--alpn"),
        (&["probe", "dns", "127.0.0.1:9"], "--name"),
        (
            &[
                "probe",
                "dns",
                "127.0.0.1:9",
                "--name",
                "a.test",
                "--qtype",
                "NOPE",
            ],
            "--qtype",
        ),
        (&["probe", "tcp", "127.0.0.1"], "<HOST:PORT>"),
        (
            &["probe", "tcp", "127.0.0.1:9", "--timeout", "soon"],
            "--timeout",
        ),
        (
            &["probe", "tcp", "127.0.0.1:9", "--timeout", "0s"],
            "--timeout",
        ),
        (
            &["probe", "udp", "127.0.0.1:9", "--send", "a", "--bogus"],
            "--bogus",
        ),
    ];
    for (args, named) in cases {
        let out = wavelb(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(named),
            "{args:?} should name {named}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: no verdict on bad usage");
    }
}
