//! `wavelb lab` as a process: four targets in the table, weighted answers to dig, stdin commands
//! that take a target out and back, and a clean exit on Ctrl-C.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::process::Service;

/// `dig +short` of `name` `n` times in one run, with `extra` options (e.g. `+subnet=…`).
fn dig_as(dns: &str, name: &str, extra: &[&str], n: usize) -> Vec<String> {
    let (host, port) = dns.rsplit_once(':').unwrap();
    let mut args = vec![format!("@{host}"), "-p".into(), port.into()];
    for _ in 0..n {
        args.extend([name.to_owned(), "+short".into()]);
        args.extend(extra.iter().map(|e| (*e).to_owned()));
    }
    let out = Command::new("dig")
        .args(&args)
        .output()
        .expect("dig is installed by scripts/test.sh");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn dig(dns: &str, n: usize) -> Vec<String> {
    dig_as(dns, "www.lab.test", &[], n)
}

/// `wavelb lab` on free ports with `extra` flags, its stdin piped.
pub(crate) fn start_lab(extra: &[&str]) -> Service {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wavelb"));
    cmd.args(["-q", "lab"])
        .args(extra)
        .args([
            "--dns-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--target-port",
            "0",
            "--refresh",
            "200ms",
        ])
        .stdin(Stdio::piped());
    Service::spawn_cmd(&mut cmd)
}

fn echo(addr: &str) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s.connect(addr).unwrap();
    let _ = s.send(b"ping");
    let mut buf = [0u8; 16];
    matches!(s.recv(&mut buf), Ok(4) if &buf[..4] == b"ping")
}

fn wait_line(lab: &Service, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = lab.lines.recv_timeout(Duration::from_millis(200))
            && pred(&line)
        {
            return line;
        }
    }
    panic!("timed out waiting for {what}");
}

fn poll(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn lab_serves_weighted_answers_and_obeys_commands() {
    let mut lab = start_lab(&[]);
    let dns = lab.dns();
    let targets: Vec<String> = lab.ready["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(targets.len(), 4);
    for (i, w) in [10, 20, 30, 40].iter().enumerate() {
        let row = wait_line(&lab, "the table", |l| {
            l.starts_with(&format!("{}   demo-{}", i + 1, i + 1))
        });
        assert!(
            row.contains(&format!(" {w} ")) && row.contains("active") && row.contains("up"),
            "{row}"
        );
    }

    let answers = dig(&dns, 60);
    assert_eq!(answers.len(), 60);
    assert!(answers.iter().all(|a| ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"].contains(&a.as_str())));
    let distinct: std::collections::HashSet<_> = answers.iter().collect();
    assert!(distinct.len() >= 3, "weighted answers spread: {distinct:?}");

    let mut stdin = lab.child.stdin.take().unwrap();
    writeln!(stdin, "quarantine 4").unwrap();
    wait_line(&lab, "the quarantine", |l| l == "> demo-4: done");
    assert!(
        dig(&dns, 60).iter().all(|a| a != "127.0.0.14"),
        "a quarantined target is never answered"
    );
    writeln!(stdin, "restore 4").unwrap();
    wait_line(&lab, "the restore", |l| l == "> demo-4: done");
    poll("demo-4 back in answers", || {
        dig(&dns, 30).iter().any(|a| a == "127.0.0.14")
    });

    assert!(echo(&targets[1]));
    writeln!(stdin, "kill 2").unwrap();
    wait_line(&lab, "kill", |l| {
        l.starts_with("2   demo-2") && l.contains("down")
    });
    poll("target 2 to stop echoing", || !echo(&targets[1]));
    writeln!(stdin, "revive 2").unwrap();
    poll("target 2 to echo again", || echo(&targets[1]));
    writeln!(stdin, "bogus").unwrap();
    wait_line(&lab, "an error for a bad command", |l| {
        l.starts_with("! unknown command")
    });

    let pid = lab.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = lab.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the lab did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// `dig +short edge.lab.test +subnet=SUBNET`: the addresses a client there gets.
fn dig_from(dns: &str, subnet: &str) -> Vec<String> {
    dig_as(dns, "edge.lab.test", &[&format!("+subnet={subnet}")], 1)
}

#[test]
fn lab_zones_send_clients_to_their_nearest_healthy_zone() {
    let mut lab = start_lab(&["--zones", "3"]);
    let dns = lab.dns();
    assert_eq!(lab.ready["targets"].as_array().unwrap().len(), 6);
    // Zone K's targets are 127.0.K.11-12; clients in 10.K.0.0/16 are near zone K.
    let in_zone = |answers: &[String], k: u8| {
        !answers.is_empty()
            && answers
                .iter()
                .all(|a| a.starts_with(&format!("127.0.{k}.")))
    };
    for k in 1..=3u8 {
        poll(&format!("zone {k}'s clients answered by zone {k}"), || {
            in_zone(&dig_from(&dns, &format!("10.{k}.0.0/16")), k)
        });
    }
    let mut stdin = lab.child.stdin.take().unwrap();
    writeln!(stdin, "kill-zone 1").unwrap();
    wait_line(&lab, "the kill", |l| {
        l.starts_with("> zone 1 (us-east-1-wl1-bos-wlz-1")
    });
    // Boston's clients move to New York, the next nearest; the others stay where they are.
    poll("zone 1's clients moved to zone 2", || {
        in_zone(&dig_from(&dns, "10.1.0.0/16"), 2)
    });
    assert!(in_zone(&dig_from(&dns, "10.3.0.0/16"), 3));
    wait_line(&lab, "the tier line", |l| {
        l.starts_with("tier edge.lab.test: zone 1 out (below-min-healthy), 2 in, 3 in")
    });
    writeln!(stdin, "revive-zone 1").unwrap();
    // Back after the lab's return_after (10 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !in_zone(&dig_from(&dns, "10.1.0.0/16"), 1) {
        assert!(
            Instant::now() < deadline,
            "zone 1's clients never came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    writeln!(stdin, "kill-zone 9").unwrap();
    wait_line(&lab, "an error for a bad zone", |l| {
        l.starts_with("! usage: kill-zone K (1-3)")
    });
}
