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

/// Waits (up to 10 s) for the lab to exit, and returns its exit code.
fn exit_code(lab: &mut Service) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = lab.child.try_wait().unwrap() {
            return s.code();
        }
        assert!(Instant::now() < deadline, "the lab did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_end_of_stdin_stops_a_lab_in_line_mode() {
    let mut lab = start_lab(&[]);
    wait_line(&lab, "the table", |l| l.starts_with("4   demo-4"));
    drop(lab.child.stdin.take());
    wait_line(&lab, "the notice", |l| {
        l == "> stdin closed: the lab stops (wavelb lab --headless serves without reading stdin, until Ctrl-C or SIGTERM)"
    });
    wait_line(&lab, "the last line", |l| l == "lab stopped");
    assert_eq!(exit_code(&mut lab), Some(0));
}

#[test]
fn a_headless_lab_serves_on_after_stdin_ends_until_a_signal() {
    let mut lab = start_lab(&["--headless"]);
    drop(lab.child.stdin.take());
    wait_line(&lab, "the headless notice", |l| {
        l == "> headless: no commands are read; the lab serves until Ctrl-C or SIGTERM"
    });
    // The table is printed as in line mode, and the resolver answers with stdin closed.
    wait_line(&lab, "the table", |l| l.starts_with("4   demo-4"));
    poll("answers with stdin closed", || {
        dig(&lab.dns(), 5).len() == 5
    });
    assert!(lab.child.try_wait().unwrap().is_none(), "still serving");
    let pid = lab.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut seen = Vec::new();
    while let Ok(line) = lab.lines.recv_timeout(Duration::from_secs(10)) {
        seen.push(line);
    }
    assert_eq!(exit_code(&mut lab), Some(0));
    assert_eq!(
        seen.last().map(String::as_str),
        Some("lab stopped"),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|l| l.contains("stdin closed")), "{seen:?}");
}

/// A terminal of its own: a tmux server on a private socket, one session running `command`
/// in a 100×30 window; killed (with what runs in it) when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        testkit::servers::require("tmux", "tmux");
        let t = Self {
            socket: format!(
                "wavelb-e2e-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        };
        let mut args = vec!["new-session", "-d", "-x", "100", "-y", "30", "-s", "lab"];
        args.push(command);
        t.run(&args);
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "lab", "-l", text]);
    }

    /// Presses keys by name (`Enter`, `C-u`).
    fn press(&self, key: &str) {
        self.run(&["send-keys", "-t", "lab", key]);
    }

    /// What the terminal shows now.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "lab"])
    }

    /// Polls the screen (up to 20 s) until `pred` holds, and returns it.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// The screen's lines joined with spaces: text the UI wrapped at a space reads as one line.
fn flat(screen: &str) -> String {
    screen
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The table row of target `n` on the screen.
fn ui_row(screen: &str, n: usize) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.starts_with(&format!("{n}  demo-{n} ")))
}

/// The answers column of the UI's rows, summed.
fn ui_answers(screen: &str) -> u64 {
    (1..=4)
        .filter_map(|n| {
            ui_row(screen, n)?
                .split_whitespace()
                .nth(7)?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// `wavelb lab` on free ports in a tmux terminal; when it exits, the shell prints its exit code
/// and the terminal's modes (`icanon`/`-icanon`, `echo`/`-echo`). Returns once the table shows
/// four healthy targets.
fn ui_lab() -> (Tmux, String) {
    let script = format!(
        "'{}' lab --dns-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
         --target-port 0 --refresh 200ms --probe-interval 200ms; echo \"lab exited $?\"; \
         stty -a | tr ' ;' '\\n\\n' | grep -x -e '-\\?icanon' -e '-\\?echo'; exec sleep 600",
        env!("CARGO_BIN_EXE_wavelb")
    );
    let tmux = Tmux::start(&script);
    let screen = tmux.wait("the table", |s| {
        (1..=4).all(|n| ui_row(s, n).is_some_and(|r| r.contains("active") && r.contains("up")))
    });
    (tmux, screen)
}

/// Waits for the lab in `tmux` to exit; asserts it exited 0 and left the terminal as it found
/// it: cooked mode with echo, off the alternate screen.
fn assert_restored(tmux: &Tmux) {
    let screen = tmux.wait("the exit", |s| s.contains("lab exited"));
    assert!(screen.contains("lab exited 0"), "{screen}");
    let modes = tmux.wait("the terminal modes", |s| {
        s.lines().any(|l| l.trim_end().ends_with("echo"))
    });
    let lines: Vec<&str> = modes.lines().map(str::trim_end).collect();
    assert!(
        lines.contains(&"icanon") && lines.contains(&"echo"),
        "raw mode left on: {modes}"
    );
    // Off the alternate screen: the ready line printed before the UI is there again.
    assert!(modes.contains("\"api_url\""), "{modes}");
}

#[test]
fn the_console_ui_through_a_terminal() {
    let (tmux, screen) = ui_lab();
    assert!(
        screen.contains("SHARE: answers over the last 10s"),
        "{screen}"
    );
    let port = screen
        .split_once(" -p ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .expect("the title names the DNS port")
        .to_owned();
    let dns = format!("127.0.0.1:{port}");

    // A bad command's usage stays on screen.
    tmux.type_text("weight 2 abc");
    tmux.press("Enter");
    tmux.wait("the usage error", |s| {
        s.contains("! usage: quarantine N | restore N | weight N W (N 1-4, W 0-255)")
    });

    tmux.type_text("quarantine 2");
    tmux.press("Enter");
    tmux.wait("demo-2 quarantined", |s| {
        ui_row(s, 2).is_some_and(|r| r.contains("quarantined")) && s.contains("> demo-2: done")
    });

    // A half-typed command survives the refreshes that show new answers, and their shares.
    tmux.type_text("restore 2");
    let typed = |s: &str| s.lines().any(|l| l.trim_end() == "> restore 2");
    tmux.wait("the typed line", typed);
    assert_eq!(dig(&dns, 40).len(), 40);
    let screen = tmux.wait("the answers counted", |s| ui_answers(s) >= 40);
    assert!(
        typed(&screen),
        "the input line across the refresh: {screen}"
    );
    assert!(
        ui_row(&screen, 4).is_some_and(|r| r.contains('█')),
        "a bar: {screen}"
    );
    assert!(
        ui_row(&screen, 2).is_some_and(|r| r.trim_end().ends_with("  0%")),
        "{screen}"
    );
    tmux.press("Enter");
    tmux.wait("demo-2 restored", |s| {
        ui_row(s, 2).is_some_and(|r| r.contains("active"))
    });

    // Three of four dead: the fraction guard keeps one in the answers, and the screen says so;
    // the controller's own log lines are in the event log.
    for n in [1, 3, 4] {
        tmux.type_text(&format!("kill {n}"));
        tmux.press("Enter");
    }
    let screen = tmux.wait("the fraction guard's note", |s| {
        flat(s).contains("3 of 4 targets down, 2 quarantined - the fraction guard (max_quarantined_fraction 0.5: at most 2 of 4) keeps")
    });
    tmux.wait("the controller's PANIC in the event log", |s| {
        flat(s).contains("PANIC: more targets failed than may be quarantined")
    });
    assert!(!screen.contains('\u{1b}'));

    // `q` quits: the lab exits 0 and the terminal is back in cooked mode with echo.
    tmux.press("C-u");
    tmux.type_text("q");
    tmux.press("Enter");
    assert_restored(&tmux);
}

#[test]
fn the_console_ui_restores_the_terminal_on_sigterm() {
    let (tmux, _) = ui_lab();
    // A half-typed command on the line when the signal comes.
    tmux.type_text("kill 1");
    let shell = tmux.run(&["list-panes", "-t", "lab", "-F", "#{pane_pid}"]);
    let shell = shell.trim();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the shell's children");
    let lab = children
        .split_whitespace()
        .next()
        .expect("the lab runs under the shell");
    assert!(
        Command::new("kill")
            .args(["-TERM", lab])
            .status()
            .unwrap()
            .success()
    );
    assert_restored(&tmux);
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
