//! Log setup: `tracing` to stderr, as text or JSON, with the level from -v/-q or RUST_LOG.
//!
//! Every value in a log line may hold text from outside (a set identifier, a TXT value, an API
//! field, a probe reply), so escaping happens here, once, for every event and span of every
//! process, not at each call site: the text format's field formatter ([`EscapedFields`])
//! escapes every control character (`registry::escape`) in the message and in every field, so
//! no value can start a line of its own or drive the terminal; JSON is escaped by serde (one
//! object a line). Colour only on a terminal and without `NO_COLOR` (<https://no-color.org>).

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use registry::escape::write_escaped;
use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::cli::LogFormat;

/// Installs the global subscriber.
pub fn init(format: LogFormat, verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logtap::writer)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ));
    match format {
        LogFormat::Text => builder.fmt_fields(EscapedFields).init(),
        LogFormat::Json => builder
            .json()
            .with_writer(|| JsonLines(crate::logtap::writer()))
            .init(),
    }
}

/// A writer of JSON log lines that escapes, as `\uXXXX`, the characters serde leaves raw in
/// strings but that break or reorder a line on a terminal or in a log viewer
/// ([`registry::escape::json_safe`]).
struct JsonLines<W>(W);

impl<W: std::io::Write> std::io::Write for JsonLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // tracing writes each event as one buffer; a character split across two calls (never
        // seen) is passed through as it is.
        let valid = match std::str::from_utf8(buf) {
            Ok(text) => text.len(),
            Err(e) => e.valid_up_to(),
        };
        let (text, rest) = buf.split_at(valid);
        let text = std::str::from_utf8(text).unwrap_or_default();
        self.0
            .write_all(registry::escape::json_safe(text).as_bytes())?;
        self.0.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Colour (ANSI codes) only on a terminal, and not when `NO_COLOR` is set to a non-empty value.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The text format's fields: `message` then `name=value`, separated by spaces, every value
/// escaped. The message and `%display` values are escaped unambiguously (backslashes too);
/// the output of `?debug` values (already quoted and escaped by `Debug` for strings) keeps its
/// backslashes readable and has any control character left in it escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            out: &mut writer,
            first: true,
            scratch: String::new(),
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    scratch: String,
    result: fmt::Result,
}

impl<W: fmt::Write> Visitor<'_, W> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>, backslash: bool) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.scratch.clear();
        // Formatting into a String fails only if a Display impl does; the line then shows what
        // it wrote so far.
        let _ = self.scratch.write_fmt(value);
        self.result = self.write(field.name(), backslash);
    }

    fn write(&mut self, name: &str, backslash: bool) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.out.write_char(' ')?;
        }
        if name != "message" {
            self.out
                .write_str(name.strip_prefix("r#").unwrap_or(name))?;
            self.out.write_char('=')?;
        }
        write_escaped(self.out, &self.scratch, backslash)
    }
}

impl<W: fmt::Write> Visit for Visitor<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"), true);
        } else {
            // Quoted, as tracing's default shows strings; Debug escapes the quotes inside.
            self.field(field, format_args!("{value:?}"), false);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, format_args!("{value}"), true);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%display` values arrive here too, as a Debug that prints Display; the message is
        // always Display (`format_args!`), so it is escaped unambiguously.
        let message = field.name() == "message";
        self.field(field, format_args!("{value:?}"), message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Captures what a subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const HOSTILE: &str =
        "web-1\n2026-12-07T00:00:00Z ERROR wavelb: leader lease stolen\r\x1b[31m\u{2028}x\u{85}";

    fn log_everything() {
        let err = std::io::Error::other(HOSTILE);
        let span = tracing::info_span!("pool", name = %HOSTILE, set = HOSTILE);
        let _guard = span.enter();
        tracing::warn!(
            set_id = %HOSTILE,
            txt = HOSTILE,
            reply = ?HOSTILE,
            error = &err as &(dyn std::error::Error + 'static),
            "refused {HOSTILE}"
        );
    }

    fn capture(json: bool) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false);
        if json {
            let writer = sink.clone();
            let builder = builder.with_writer(move || JsonLines(writer.clone()));
            tracing::subscriber::with_default(builder.json().finish(), log_everything);
        } else {
            tracing::subscriber::with_default(
                builder.fmt_fields(EscapedFields).finish(),
                log_everything,
            );
        }
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn text_lines_hold_no_control_character_from_any_field() {
        let out = capture(false);
        assert_eq!(out.lines().count(), 1, "{out}");
        let line = out.trim_end_matches('\n');
        assert!(!line.chars().any(registry::escape::is_unsafe), "{line:?}");
        assert!(line.contains(" WARN "), "{line}");
        // The message and Display values: unambiguous; strings and Debug values: quoted.
        assert!(
            line.contains("refused web-1\\n2026-12-07T00:00:00Z ERROR wavelb: leader lease stolen\\r\\u{1b}[31m\\u{2028}x"),
            "{line}"
        );
        assert!(line.contains("set_id=web-1\\n2026"), "{line}");
        assert!(line.contains("txt=\"web-1\\n2026"), "{line}");
        assert!(line.contains("reply=\"web-1\\n2026"), "{line}");
        assert!(line.contains("error=web-1\\n2026"), "{line}");
        assert!(line.contains("name=web-1\\n2026"), "{line}");
        assert!(line.contains("set=\"web-1\\n2026"), "{line}");
    }

    #[test]
    fn json_lines_are_one_object_each() {
        let out = capture(true);
        assert_eq!(out.lines().count(), 1, "{out}");
        let value: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        let message = value["fields"]["message"].as_str().unwrap();
        assert_eq!(message, format!("refused {HOSTILE}"));
        assert_eq!(value["fields"]["set_id"].as_str(), Some(HOSTILE));
        assert!(
            !out.trim_end().chars().any(registry::escape::is_unsafe),
            "{out:?}"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
