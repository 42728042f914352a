//! Issue 24, item 4: how log lines look where they go. Under systemd (stderr is the journal
//! stream `JOURNAL_STREAM` names) every line starts with its syslog priority and has no
//! timestamp and no colour; in a file or a pipe, lines have tracing's timestamp and no escape
//! code, whether or not `NO_COLOR` is set.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{assert_well_formed_log, wait_for_log};

/// A SigV4 credentials file others can read: the resolver warns about it (and names the fix)
/// when it loads it.
fn readable_credentials(dir: &std::path::Path) -> std::path::PathBuf {
    let creds = dir.join("credentials.toml");
    std::fs::write(
        &creds,
        "[[credentials]]\naccess_key_id = \"AKIDLAB\"\nsecret_access_key = \"secret\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    creds
}

/// `wavelb resolver` on ephemeral loopback ports with `creds`, its stderr to `stderr`.
fn resolver(creds: &std::path::Path, stderr: Stdio) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wavelb"));
    cmd.args([
        "resolver",
        "--dns-listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--zone",
        "lab.test",
        "--api-credentials",
        creds.to_str().unwrap(),
    ])
    .env_remove("RUST_LOG")
    .env_remove("NO_COLOR")
    .env_remove("JOURNAL_STREAM")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(stderr);
    cmd
}

/// Runs `cmd` until its stderr file at `log` says the resolver is ready (at most 20 s), stops
/// it, and returns the log.
fn run_until_ready(mut cmd: Command, log: &std::path::Path) -> String {
    let mut child = cmd.spawn().unwrap();
    let text = wait_for_log(log, Duration::from_secs(20), |t| {
        t.contains("resolver ready")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    text
}

#[test]
fn under_systemd_every_line_carries_its_priority_and_no_timestamp_or_colour() {
    let dir = tempfile::tempdir().unwrap();
    let creds = readable_credentials(dir.path());
    let log = dir.path().join("journal-stream");
    let file = std::fs::File::create(&log).unwrap();
    // What systemd sets: the device and inode of the stream it connected stderr to (here the
    // file, which fstat tells apart the same way).
    let meta = file.metadata().unwrap();
    let mut cmd = resolver(&creds, file.into());
    cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    let text = run_until_ready(cmd, &log);

    assert!(!text.contains('\x1b'), "{text:?}");
    for line in text.lines() {
        let (priority, rest) = line.split_at(3);
        assert!(
            ["<3>", "<4>", "<6>", "<7>"].contains(&priority),
            "a line without a priority: {line:?}\n{text}"
        );
        // No timestamp: the level's name follows the prefix at once.
        let level = rest.split_whitespace().next().unwrap_or_default();
        assert!(
            ["ERROR", "WARN", "INFO"].contains(&level),
            "{line:?}\n{text}"
        );
        assert!(
            !line.chars().any(registry::escape::is_unsafe),
            "an unsafe character in {line:?}"
        );
    }
    let warning = text
        .lines()
        .find(|l| l.contains("chmod 600"))
        .unwrap_or_else(|| panic!("no warning about the credentials file:\n{text}"));
    assert!(warning.starts_with("<4>WARN "), "{warning}");
    let ready = text.lines().find(|l| l.contains("resolver ready")).unwrap();
    assert!(ready.starts_with("<6>INFO "), "{ready}");
}

#[test]
fn a_file_gets_plain_lines_even_when_journal_stream_names_another_stream() {
    let dir = tempfile::tempdir().unwrap();
    let creds = readable_credentials(dir.path());
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = resolver(&creds, file.into());
    // A child of a unit whose stderr was sent to a file inherits its parent's JOURNAL_STREAM.
    cmd.env("JOURNAL_STREAM", "8:1");
    let text = run_until_ready(cmd, &log);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(!text.contains("<4>") && !text.contains("<6>"), "{text}");
    assert_well_formed_log(&text, false);
    assert!(
        text.lines()
            .any(|l| l.contains(" WARN ") && l.contains("chmod 600")),
        "{text}"
    );
}

#[test]
fn a_pipe_gets_no_escape_code() {
    let dir = tempfile::tempdir().unwrap();
    let creds = readable_credentials(dir.path());
    // --check-config loads the credentials (and warns) and exits: its stderr is read whole
    // from the pipe.
    let mut cmd = resolver(&creds, Stdio::piped());
    cmd.arg("--check-config");
    let started = Instant::now();
    let out = cmd.output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(!text.contains('\x1b'), "{text:?}");
    assert_well_formed_log(&text, false);
    assert!(
        text.lines()
            .any(|l| l.contains(" WARN ") && l.contains("chmod 600")),
        "{text}"
    );
}
