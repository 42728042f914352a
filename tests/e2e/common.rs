//! Helpers shared by the end-to-end tests of the binary.

use aws::metrics::WriterMetrics;
use aws::writer::Writer;
use registry::config::{Route53Config, ZoneRef};
use registry::name::Fqdn;

/// A registry writer for zone `lab.test` at `api`, patient enough for a throttled API.
pub(crate) async fn writer(api: &str) -> Writer {
    let cfg = Route53Config {
        endpoint_url: Some(api.to_owned()),
        max_requests_per_second: 1000.0,
        max_attempts: 40,
        ..Route53Config::default()
    };
    Writer::connect(
        &cfg,
        &ZoneRef::Name(Fqdn::parse("lab.test").unwrap()),
        WriterMetrics::default(),
    )
    .await
    .unwrap()
}

/// The audit's forged log line (issue #23): text from outside that, unescaped, would start a
/// line of its own in a log.
pub(crate) const FORGED: &str = "2026-12-07T00:00:00Z ERROR wavelb: leader lease stolen";

/// Set identifiers, TXT values and API fields that carry [`FORGED`] behind a line break, a
/// carriage return, a Unicode line separator and a C1 next-line (all legal in XML 1.0, so they
/// reach the resolver through its API).
pub(crate) fn hostile_ids() -> [String; 3] {
    [
        format!("w1\n{FORGED}"),
        format!("w2\r{FORGED}"),
        format!("w3\u{2028}{FORGED}\u{85}\u{202e}x"),
    ]
}

/// Asserts that `log` (a process's stderr) is made of well-formed log lines only: in the text
/// format each starts with tracing's timestamp (with fractional seconds) and a level; in JSON
/// each parses as one object with a `level`. No line starts with [`FORGED`], and no control
/// character, line separator or bidirectional override is in any line.
pub(crate) fn assert_well_formed_log(log: &str, json: bool) {
    for line in log.lines() {
        assert!(!line.starts_with(FORGED), "a forged line: {line:?}\n{log}");
        assert!(
            !line.chars().any(registry::escape::is_unsafe),
            "an unsafe character in {line:?}"
        );
        if json {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
            assert!(value["level"].is_string(), "{line}");
        } else {
            let mut words = line.split_whitespace();
            let stamp = words.next().unwrap_or_default();
            let level = words.next().unwrap_or_default();
            assert!(
                stamp.len() > 20
                    && stamp.as_bytes()[19] == b'.'
                    && stamp.ends_with('Z')
                    && stamp[..4].bytes().all(|b| b.is_ascii_digit()),
                "a line without tracing's timestamp: {line:?}\n{log}"
            );
            assert!(
                ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
                "a line without a level: {line:?}\n{log}"
            );
        }
    }
}

/// Polls the file at `path` until `done` holds for its text (at most `within`); returns it.
pub(crate) fn wait_for_log(
    path: &std::path::Path,
    within: std::time::Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let what = format!("the log {} to get what was awaited", path.display());
    testkit::wait::until_blocking(&what, within, || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            Ok(text.clone())
        } else {
            Err(text)
        }
    })
}

/// Waits up to `within` for `child` to exit and returns its status; kills it and panics naming
/// `what` when it does not.
pub(crate) fn wait_exit(
    child: &mut std::process::Child,
    within: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        testkit::wait::until_blocking(what, within, || child.try_wait().unwrap())
    }));
    waited.unwrap_or_else(|panic| {
        let _ = child.kill();
        std::panic::resume_unwind(panic)
    })
}
