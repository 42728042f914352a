//! `wavelb lab` as a process: four targets in the table, weighted answers to dig, stdin commands
//! that take a target out and back, and a clean exit on Ctrl-C.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::wait;

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
    wait::until_blocking(what, Duration::from_secs(20), || {
        lab.lines
            .recv_timeout(Duration::from_millis(200))
            .ok()
            .filter(|line| pred(line))
    })
}

fn poll(what: &str, check: impl FnMut() -> bool) {
    wait::until_blocking(what, Duration::from_secs(20), check);
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
    let status = crate::common::wait_exit(
        &mut lab.child,
        Duration::from_secs(10),
        "the lab to stop on SIGINT",
    );
    assert_eq!(status.code(), Some(0));
}

/// Waits (up to 10 s) for the lab to exit, and returns its exit code.
fn exit_code(lab: &mut Service) -> Option<i32> {
    crate::common::wait_exit(&mut lab.child, Duration::from_secs(10), "the lab to stop").code()
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
        wait::until_blocking(what, Duration::from_secs(20), || {
            let screen = self.screen();
            if pred(&screen) {
                Ok(screen)
            } else {
                Err(format!("the screen:\n{screen}"))
            }
        })
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
    wait::until_blocking(
        "zone 1's clients to come back",
        Duration::from_secs(30),
        || in_zone(&dig_from(&dns, "10.1.0.0/16"), 1),
    );
    writeln!(stdin, "kill-zone 9").unwrap();
    wait_line(&lab, "an error for a bad zone", |l| {
        l.starts_with("! usage: kill-zone K (1-3)")
    });
}

// ---- Issue 24: the first hour (ports, the aws CLI line, the lab's pool file, the README) ----

/// The next banner line starting with `prefix` (after its indentation), without the prefix.
fn banner(lab: &Service, prefix: &str) -> String {
    let line = wait_line(lab, prefix, |l| l.trim_start().starts_with(prefix));
    line.trim_start()[prefix.len()..].trim().to_owned()
}

/// A `Command` with no `AWS_*` variable and a `HOME` of its own (no `~/.aws`): a fresh machine.
fn fresh_machine(cmd: &mut Command, home: &std::path::Path) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home).env_remove("RUST_LOG");
}

fn venv_bin() -> String {
    let venv = std::env::var("WAVELB_VENV").expect("WAVELB_VENV is set by scripts/test.sh");
    format!("{venv}/bin")
}

/// A port in use is named once, with the process holding it (this test) and the flag that
/// moves the lab; the lab exits non-zero.
#[test]
fn lab_names_the_process_holding_its_port_and_the_flag_that_moves_it() {
    let held = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_wavelb"))
        .args(["-q", "lab", "--dns-listen", &addr])
        .args([
            "--api-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--target-port", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
    assert!(err.contains("--dns-listen 127.0.0.1:PORT"), "{err}");
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    assert!(
        err.contains(&format!("{} (pid {}", comm.trim(), std::process::id())),
        "the holder (this test, {}) is named: {err}",
        comm.trim()
    );

    // The API's port likewise, with its own flag.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_wavelb"))
        .args([
            "-q",
            "lab",
            "--dns-listen",
            "127.0.0.1:0",
            "--api-listen",
            &api,
        ])
        .args(["--metrics-listen", "127.0.0.1:0", "--target-port", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--api-listen 127.0.0.1:PORT"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );

    // The documented defaults are the lab's.
    let help = Command::new(env!("CARGO_BIN_EXE_wavelb"))
        .args(["lab", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for default in ["127.0.0.1:15353", "127.0.0.1:18053", "127.0.0.1:19153"] {
        assert!(help.contains(&format!("[default: {default}]")), "{help}");
    }
}

/// The banner's aws CLI line works as printed on a machine with no AWS configuration, and so do
/// boto3 with any key pair and boto3 unsigned, as the README says.
#[test]
fn the_banners_aws_line_works_on_a_fresh_machine() {
    let lab = start_lab(&[]);
    let line = banner(&lab, "aws CLI:");
    assert!(line.starts_with("aws "), "{line}");
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &line])
        .env("PATH", format!("{}:/usr/bin:/bin", venv_bin()));
    fresh_machine(&mut cmd, home.path());
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("\"Name\": \"lab.test.\""),
        "{line}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let api = lab.field("api_url");
    let script = format!(
        "import boto3, botocore, botocore.config\n\
         keyed = boto3.client('route53', endpoint_url='{api}', region_name='us-east-1',\n\
             aws_access_key_id='lab', aws_secret_access_key='lab')\n\
         unsigned = boto3.client('route53', endpoint_url='{api}', region_name='us-east-1',\n\
             config=botocore.config.Config(signature_version=botocore.UNSIGNED))\n\
         for c in (keyed, unsigned): print([z['Name'] for z in c.list_hosted_zones()['HostedZones']])\n"
    );
    let mut cmd = Command::new(testkit::venv_python());
    cmd.args(["-c", &script]);
    fresh_machine(&mut cmd, home.path());
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("['lab.test.']").count(),
        2,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `deploy/lab/pool.toml` with the endpoint of a lab on free ports.
fn lab_pool_file(dir: &std::path::Path, api_url: &str, ttl: Option<u32>) -> std::path::PathBuf {
    let shipped = include_str!("../../deploy/lab/pool.toml");
    let mut text = shipped.replace("http://127.0.0.1:18053", api_url);
    assert_ne!(text, shipped, "the shipped file names the default API");
    if let Some(ttl) = ttl {
        text = text.replace("ttl = 5", &format!("ttl = {ttl}"));
    }
    let path = dir.join(format!("pool-{}.toml", ttl.unwrap_or(5)));
    std::fs::write(&path, text).unwrap();
    path
}

/// `wavelb --config FILE records ARGS` on a fresh machine: (exit code, stdout, stderr).
fn records(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wavelb"));
    cmd.arg("--config").arg(config).arg("records").args(args);
    fresh_machine(&mut cmd, home.path());
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The demo targets' rows of a `records list`: (set id, weight, state).
fn demo_rows(list: &str) -> Vec<(String, String, String)> {
    list.lines()
        .filter(|l| l.starts_with("demo-"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_owned(), w[2].to_owned(), w[4].to_owned())
        })
        .collect()
}

/// The shipped lab pool file lists the four demo targets as this owner's and changes them; a
/// pool name that matches nothing exits 1 saying so; a TTL mismatch names its fix once; the
/// banner's records line works as printed.
#[test]
fn records_against_the_lab_with_its_pool_file() {
    let lab = start_lab(&[]);
    let api = lab.field("api_url");
    let dir = tempfile::tempdir().unwrap();
    let pool = lab_pool_file(dir.path(), &api, None);
    let (code, out, err) = records(&pool, &["list"]);
    assert_eq!(code, Some(0), "{err}");
    let rows = demo_rows(&out);
    assert_eq!(
        rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["demo-1", "demo-2", "demo-3", "demo-4"],
        "{out}"
    );
    assert!(rows.iter().all(|r| r.2 == "active"), "{out}");
    assert_eq!(out.matches("(this owner)").count(), 4, "{out}");
    assert!(out.ends_with("TTL 5\n"), "{out}");

    let (code, out, err) = records(&pool, &["set-weight", "demo-3", "55"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (_, out, _) = records(&pool, &["list"]);
    assert_eq!(demo_rows(&out)[2].1, "55", "{out}");

    // A pool name that matches nothing.
    let text = std::fs::read_to_string(&pool)
        .unwrap()
        .replace("www.lab.test", "nothing.lab.test");
    let nothing = dir.path().join("nothing.toml");
    std::fs::write(&nothing, text).unwrap();
    for args in [&["list"][..], &["set-weight", "demo-1", "5"][..]] {
        let (code, out, err) = records(&nothing, args);
        assert_eq!(code, Some(1), "{args:?}: {out}{err}");
        assert!(
            err.contains("pool nothing.lab.test: no record in hosted zone lab.test"),
            "{args:?}: {err}"
        );
    }

    // A TTL mismatch: said under the list, its fix named once.
    let (code, out, err) = records(&lab_pool_file(dir.path(), &api, Some(30)), &["list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("TTL 5 in Route 53, but pool.ttl is 30: writes keep 5"),
        "{out}"
    );
    assert_eq!(out.matches("set-ttl").count(), 1, "{out}");

    // The banner's line, as printed (`wavelb` is this binary).
    let line = banner(&lab, "records:");
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(args[..2], ["wavelb", "--config"], "{line}");
    let (code, out, err) = records(std::path::Path::new(args[2]), &args[4..]);
    assert_eq!(code, Some(0), "{line}: {err}");
    assert_eq!(demo_rows(&out).len(), 4, "{out}");
}

/// One line of a README console session.
#[derive(Debug)]
enum Step {
    /// `$ command`, and the output the README shows under it.
    Shell { cmd: String, shown: Vec<String> },
    /// `lab> command`, typed into the lab.
    Lab(String),
}

/// The README's lab sessions: for each `cargo run --release -- lab ARGS` of the "Try it"
/// section, its ARGS and the console lines after it.
fn readme_sessions(readme: &str) -> Vec<(Vec<String>, Vec<Step>)> {
    let start = readme
        .find("## Try it")
        .expect("README has a Try it section");
    let section = &readme[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    let mut sessions: Vec<(Vec<String>, Vec<Step>)> = Vec::new();
    let mut block: Option<&str> = None;
    for line in section[..end].lines() {
        if let Some(kind) = line.strip_prefix("```") {
            block = if block.is_some() { None } else { Some(kind) };
            continue;
        }
        let without_comment = |l: &str| match l.find(" #") {
            Some(i) => l[..i].trim_end().to_owned(),
            None => l.trim_end().to_owned(),
        };
        match block {
            Some("sh") => {
                if let Some(args) = line.trim().strip_prefix("cargo run --release -- lab") {
                    sessions.push((
                        args.split_whitespace().map(str::to_owned).collect(),
                        Vec::new(),
                    ));
                }
            }
            Some("console") => {
                let steps = &mut sessions.last_mut().expect("a lab is started first").1;
                if let Some(cmd) = line.strip_prefix("$ ") {
                    steps.push(Step::Shell {
                        cmd: cmd.to_owned(),
                        shown: Vec::new(),
                    });
                } else if let Some(cmd) = line.strip_prefix("lab> ") {
                    steps.push(Step::Lab(without_comment(cmd)));
                } else if let Some(Step::Shell { shown, .. }) = steps.last_mut() {
                    let out = without_comment(line);
                    if !out.trim().is_empty() {
                        shown.push(out);
                    }
                }
            }
            _ => {}
        }
    }
    sessions
}

/// An answer line: an address, or a count and an address (`uniq -c`).
fn answer_line(line: &str) -> Option<std::net::Ipv4Addr> {
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        [addr] => addr.parse().ok(),
        [count, addr] if count.parse::<u32>().is_ok() => addr.parse().ok(),
        _ => None,
    }
}

/// Whether `actual` is what the README shows (`shown`):
/// - answers only, two or more addresses: the same set of addresses (the counts vary);
/// - answers only, one address: one answer in the same /24 (the same lab zone);
/// - other text: line by line, word by word, where a timestamp stands for any timestamp and a
///   word starting with `…` for the rest of the line.
fn matches_readme(shown: &[String], actual: &str) -> bool {
    let actual: Vec<&str> = actual.lines().filter(|l| !l.trim().is_empty()).collect();
    let shown_answers: Option<Vec<_>> = shown.iter().map(|l| answer_line(l)).collect();
    if let Some(want) = shown_answers.filter(|a| !a.is_empty()) {
        let Some(got) = actual
            .iter()
            .map(|l| answer_line(l))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let set =
            |v: &[std::net::Ipv4Addr]| v.iter().copied().collect::<std::collections::BTreeSet<_>>();
        let want = set(&want);
        return if want.len() == 1 {
            let w = want.first().unwrap().octets();
            got.len() == 1 && got[0].octets()[..3] == w[..3]
        } else {
            set(&got) == want
        };
    }
    let stamp = |w: &str| w.len() == 20 && w.as_bytes()[10] == b'T' && w.ends_with('Z');
    shown.len() == actual.len()
        && shown.iter().zip(&actual).all(|(s, a)| {
            let (s, a): (Vec<&str>, Vec<&str>) = (
                s.split_whitespace().collect(),
                a.split_whitespace().collect(),
            );
            for (i, word) in s.iter().enumerate() {
                if word.starts_with('…') {
                    return a.len() >= i;
                }
                match a.get(i) {
                    Some(got) if got == word || (stamp(word) && stamp(got)) => {}
                    _ => return false,
                }
            }
            s.len() == a.len()
        })
}

/// Every console line of the README's "Try it" section, run against the lab it documents: `$`
/// lines in a shell (the lab's actual ports in place of the documented defaults, which the lab
/// is held to), `lab>` lines typed into the lab, each output checked ([`matches_readme`]) and,
/// where the lab needs time (a kill, a zone coming back), polled until it holds.
#[test]
fn every_readme_console_line_holds_against_the_lab() {
    let readme = include_str!("../../README.md");
    let sessions = readme_sessions(readme);
    assert_eq!(
        sessions.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        [vec![], vec!["--zones".to_owned(), "3".to_owned()]],
        "the README starts the default lab, then a lab of 3 zones"
    );
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    for (args, steps) in sessions {
        let shells = steps
            .iter()
            .filter(|s| matches!(s, Step::Shell { .. }))
            .count();
        assert!(shells >= 4, "a session of {shells} shell lines: {steps:?}");
        let extra: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut lab = start_lab(&extra);
        let dns_port = lab.dns().rsplit_once(':').unwrap().1.to_owned();
        let api = lab.field("api_url");
        let pool = lab_pool_file(dir.path(), &api, None);
        let mut stdin = lab.child.stdin.take().unwrap();
        for step in &steps {
            let (cmd, shown) = match step {
                Step::Lab(cmd) => {
                    writeln!(stdin, "{cmd}").unwrap();
                    continue;
                }
                Step::Shell { cmd, shown } => (cmd, shown),
            };
            if cmd.contains("dig ") {
                assert!(
                    cmd.contains("-p 15353"),
                    "a dig line off the default port: {cmd}"
                );
            }
            if cmd.contains("127.0.0.1:") {
                assert!(
                    cmd.contains("127.0.0.1:18053"),
                    "an API line off the default: {cmd}"
                );
            }
            let mut real = cmd
                .replace("-p 15353", &format!("-p {dns_port}"))
                .replace("http://127.0.0.1:18053", &api)
                .replace("deploy/lab/pool.toml", pool.to_str().unwrap());
            if let Some(rest) = real.strip_prefix("wavelb ") {
                real = format!("{} {rest}", env!("CARGO_BIN_EXE_wavelb"));
            }
            let what = format!(
                "README line `{cmd}` (lab {args:?}) to show\n{}",
                shown.join("\n")
            );
            wait::until_blocking(&what, Duration::from_secs(30), || {
                let mut sh = Command::new("sh");
                sh.args(["-c", &real]).env(
                    "PATH",
                    format!(
                        "{}:{}",
                        venv_bin(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                );
                fresh_machine(&mut sh, home.path());
                sh.env("AWS_EC2_METADATA_DISABLED", "true");
                let out = sh.output().unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                if out.status.success() && matches_readme(shown, &text) {
                    Ok(())
                } else {
                    Err(format!(
                        "exit {:?}\n{text}{}",
                        out.status.code(),
                        String::from_utf8_lossy(&out.stderr)
                    ))
                }
            });
        }
        writeln!(stdin, "quit").unwrap();
    }
}

#[test]
fn readme_outputs_are_matched_as_documented() {
    let s = |v: &[&str]| v.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    let counts = s(&[
        "     13 127.0.0.11",
        "     37 127.0.0.13",
        "     50 127.0.0.14",
    ]);
    assert!(matches_readme(
        &counts,
        "  40 127.0.0.11\n  10 127.0.0.13\n  50 127.0.0.14\n"
    ));
    assert!(!matches_readme(
        &counts,
        "  40 127.0.0.11\n 1 127.0.0.12\n  10 127.0.0.13\n  49 127.0.0.14\n"
    ));
    assert!(!matches_readme(
        &counts,
        "  40 127.0.0.11\n  60 127.0.0.14\n"
    ));
    assert!(matches_readme(&s(&["127.0.2.12"]), "127.0.2.11\n"));
    assert!(!matches_readme(&s(&["127.0.2.12"]), "127.0.1.11\n"));
    let row = s(&["demo-2  127.0.0.12  80  80  active  (this owner)  2026-12-07T05:52:41Z"]);
    assert!(matches_readme(
        &row,
        "demo-2 127.0.0.12 80 80 active (this owner) 2027-01-01T00:00:00Z"
    ));
    assert!(!matches_readme(
        &row,
        "demo-2 127.0.0.12 20 80 active (this owner) 2027-01-01T00:00:00Z"
    ));
    let change = s(&["demo-2: restored (change …)"]);
    assert!(matches_readme(&change, "demo-2: restored (change C0123)\n"));
    assert!(!matches_readme(&change, "demo-2: nothing to change\n"));
}
