//! Running `wavelb` subcommands as child processes that announce their addresses as one JSON
//! line on stdout.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running service; killed (SIGKILL) when dropped. One started with a log prints the log's
/// last lines when dropped by a failing test, so a failure in CI says what the service saw.
pub struct Service {
    /// The child process.
    pub child: Child,
    /// The JSON line it printed when ready.
    pub ready: serde_json::Value,
    /// The rest of its stdout, line by line.
    pub lines: mpsc::Receiver<String>,
    /// Where its stderr goes, when to a file.
    log: Option<PathBuf>,
}

/// How many of a logged service's last lines a failing test prints.
const LOG_TAIL: usize = 80;

impl Service {
    /// Starts `bin args…` and waits (up to 30 s) for its JSON ready line.
    pub fn spawn(bin: &str, args: &[&str]) -> Self {
        Self::spawn_cmd(Command::new(bin).args(args))
    }

    /// Starts `bin args…` with its stderr (the logs) written to `log`.
    pub fn spawn_logged(bin: &str, args: &[&str], log: &Path) -> Self {
        Self::spawn_cmd_logged(Command::new(bin).args(args), log)
    }

    /// Starts a prepared command (stderr inherited) and waits for its JSON ready line.
    pub fn spawn_cmd(cmd: &mut Command) -> Self {
        Self::start(cmd.stderr(Stdio::inherit()), None)
    }

    /// Starts a prepared command (its own environment, say) with its stderr written to `log`.
    pub fn spawn_cmd_logged(cmd: &mut Command, log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("cannot create the log file");
        Self::start(cmd.stderr(file), Some(log.to_owned()))
    }

    fn start(cmd: &mut Command, log: Option<PathBuf>) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start the service");
        let stdout = child.stdout.take().expect("stdout is piped");
        let lines = pump(stdout);
        let first = match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "the service printed no ready line: {e}; status {status:?}{}",
                    log.as_deref().map(log_tail).unwrap_or_default()
                );
            }
        };
        let ready = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("the ready line {first:?} is not JSON: {e}"));
        Self {
            child,
            ready,
            lines,
            log,
        }
    }

    /// A string field of the ready line.
    pub fn field(&self, key: &str) -> String {
        self.ready[key]
            .as_str()
            .unwrap_or_else(|| panic!("ready line lacks {key}: {}", self.ready))
            .to_owned()
    }

    /// The first DNS address of a resolver's ready line.
    pub fn dns(&self) -> String {
        self.ready["dns"][0]
            .as_str()
            .unwrap_or_else(|| panic!("ready line lacks dns: {}", self.ready))
            .to_owned()
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
        if let Some(log) = self.log.as_deref().filter(|_| std::thread::panicking()) {
            eprintln!("{}", log_tail(log));
        }
    }
}

/// The last [`LOG_TAIL`] lines of the log at `log`, framed, for a failing test's output.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
    format!(
        "\n---- the last {} lines of {}:\n{}\n----",
        tail.len(),
        log.display(),
        tail.join("\n")
    )
}

fn pump(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Starts `wavelb resolver` (binary `bin`) on free loopback ports serving `lab.test`, quiet,
/// with `extra` arguments appended.
pub fn resolver(bin: &str, extra: &[&str]) -> Service {
    Service::spawn(bin, &resolver_args(&["-q"], extra))
}

/// Starts `wavelb GLOBAL… resolver …` like [`resolver`], with the global flags `global` (such
/// as `-v`, `--log-format json`) instead of `-q`, and its stderr (the logs) written to `log`.
pub fn resolver_logged(
    bin: &str,
    global: &[&str],
    extra: &[&str],
    log: &std::path::Path,
) -> Service {
    Service::spawn_logged(bin, &resolver_args(global, extra), log)
}

fn resolver_args<'a>(global: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = global.to_vec();
    args.extend_from_slice(&[
        "resolver",
        "--dns-listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--zone",
        "lab.test",
    ]);
    args.extend_from_slice(extra);
    args
}
