//! Log setup: `tracing` to stderr, as text or JSON, with the level from -v/-q or RUST_LOG.
//!
//! Every value in a log line may hold text from outside (a set identifier, a TXT value, an API
//! field, a probe reply), so escaping happens here, once, for every event and span of every
//! process, not at each call site: the text format's field formatter ([`EscapedFields`])
//! escapes every control character (`registry::escape`) in the message and in every field, so
//! no value can start a line of its own or drive the terminal; JSON is escaped by serde (one
//! object a line).
//!
//! Where the lines go decides how they look ([`style`]): colour (ANSI codes) only on a terminal
//! and without `NO_COLOR` (<https://no-color.org>); under systemd, when stderr is the journal
//! stream that `JOURNAL_STREAM` names, each line starts with its syslog priority (`<3>` error,
//! `<4>` warning, `<6>` info, `<7>` debug and trace: sd-daemon(3)), which journald takes as the
//! entry's level (`SyslogLevelPrefix=yes`, systemd's default), and carries no timestamp, which
//! journald adds. A file or a pipe gets plain lines with tracing's timestamp.

use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use registry::escape::write_escaped;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::LogFormat;

/// Installs the global subscriber.
pub(crate) fn init(format: LogFormat, verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let journal_stream = std::env::var_os("JOURNAL_STREAM");
    let no_color = std::env::var_os("NO_COLOR");
    let style = style(&Stderr {
        terminal: std::io::stderr().is_terminal(),
        id: stderr_id(),
        journal_stream: journal_stream.as_deref(),
        no_color: no_color.as_deref(),
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logtap::writer)
        .with_ansi(style.colour);
    let json_lines = || JsonLines(crate::logtap::writer());
    match (format, style.journal) {
        (LogFormat::Text, false) => builder.fmt_fields(EscapedFields).init(),
        (LogFormat::Text, true) => builder
            .fmt_fields(EscapedFields)
            .event_format(Journal {
                inner: tracing_subscriber::fmt::format()
                    .without_time()
                    .with_level(false)
                    .with_ansi(false),
                level_word: true,
            })
            .init(),
        (LogFormat::Json, false) => builder.json().with_writer(json_lines).init(),
        // JSON keeps its `timestamp` and `level` keys: the prefix is for journald, which strips
        // it, so the entry's message is the object as it is elsewhere.
        (LogFormat::Json, true) => builder
            .json()
            .with_writer(json_lines)
            .event_format(Journal {
                inner: tracing_subscriber::fmt::format().json(),
                level_word: false,
            })
            .init(),
    }
}

/// What the process found stderr to be.
#[derive(Debug, Clone, Copy, Default)]
struct Stderr<'a> {
    /// stderr is a terminal.
    terminal: bool,
    /// stderr's device and inode numbers (`fstat`), when known.
    id: Option<(u64, u64)>,
    /// `$JOURNAL_STREAM`: `DEVICE:INODE` of the journal stream systemd connected stdout and
    /// stderr to (inherited by every child, so compared with [`Stderr::id`]).
    journal_stream: Option<&'a OsStr>,
    /// `$NO_COLOR`.
    no_color: Option<&'a OsStr>,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Style {
    /// ANSI colour codes.
    colour: bool,
    /// journald's format: a `<N>` priority prefix, no timestamp, no colour.
    journal: bool,
}

/// How log lines look on `stderr`: journald's format when stderr is the journal stream that
/// `JOURNAL_STREAM` names (the variable alone is not enough: a child of a unit inherits it with
/// its stderr sent elsewhere), colour on a terminal without `NO_COLOR`, plain lines otherwise.
fn style(stderr: &Stderr<'_>) -> Style {
    let journal = stderr.id.is_some_and(|id| {
        stderr
            .journal_stream
            .and_then(OsStr::to_str)
            .and_then(parse_journal_stream)
            == Some(id)
    });
    Style {
        colour: !journal && colour(stderr.terminal, stderr.no_color),
        journal,
    }
}

/// `DEVICE:INODE` in decimal, as systemd writes `JOURNAL_STREAM`.
fn parse_journal_stream(text: &str) -> Option<(u64, u64)> {
    let (dev, ino) = text.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// stderr's device and inode numbers: `fstat` on a duplicate of descriptor 2 (closed at once).
fn stderr_id() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The syslog priority journald reads from a line's `<N>` prefix (sd-daemon(3)).
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// journald's line format around another: `<N>` (the level's [`priority`]), then, for text,
/// the level's name unpadded (so `grep WARN` still finds it), then the inner format's line. An
/// event is always one line ([`EscapedFields`], serde), so one prefix covers it.
struct Journal<F> {
    inner: F,
    level_word: bool,
}

impl<S, N, F> FormatEvent<S, N> for Journal<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        write!(writer, "<{}>", priority(level))?;
        if self.level_word {
            write!(writer, "{level} ")?;
        }
        self.inner.format_event(ctx, writer, event)
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
fn colour(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The text format's fields: `message` then `name=value`, separated by spaces, every value
/// escaped. The message and `%display` values are escaped unambiguously (backslashes too);
/// the output of `?debug` values (already quoted and escaped by `Debug` for strings) keeps its
/// backslashes readable and has any control character left in it escaped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EscapedFields;

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

    /// What a journald-format subscriber writes for a WARN, an INFO, an ERROR and a DEBUG
    /// event in a span.
    fn capture_journal(json: bool) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let events = || {
            let span = tracing::info_span!("pool", name = "www.lab.test");
            let _guard = span.enter();
            tracing::warn!(target_id = "i-1", "target verdict changed");
            tracing::info!("resolver ready");
            tracing::error!(set = HOSTILE, "PANIC");
            tracing::debug!("detail");
        };
        let builder = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_ansi(false);
        if json {
            let builder = builder
                .json()
                .with_writer(move || JsonLines(writer.clone()))
                .event_format(Journal {
                    inner: tracing_subscriber::fmt::format().json(),
                    level_word: false,
                });
            tracing::subscriber::with_default(builder.finish(), events);
        } else {
            let builder = builder
                .with_writer(move || writer.clone())
                .fmt_fields(EscapedFields)
                .event_format(Journal {
                    inner: tracing_subscriber::fmt::format()
                        .without_time()
                        .with_level(false)
                        .with_ansi(false),
                    level_word: true,
                });
            tracing::subscriber::with_default(builder.finish(), events);
        }
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn journal_lines_start_with_their_priority_and_carry_no_timestamp() {
        let out = capture_journal(false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        let module = module_path!();
        assert_eq!(
            lines[0],
            format!(
                "<4>WARN pool{{name=\"www.lab.test\"}}: {module}: target verdict changed \
                 target_id=\"i-1\""
            )
        );
        assert_eq!(
            lines[1],
            format!("<6>INFO pool{{name=\"www.lab.test\"}}: {module}: resolver ready")
        );
        assert!(lines[2].starts_with("<3>ERROR pool"), "{out}");
        assert!(lines[3].starts_with("<7>DEBUG pool"), "{out}");
        assert!(!out.contains('\x1b'), "{out:?}");
        // A hostile value stays on its line.
        assert!(
            !lines[2].chars().any(registry::escape::is_unsafe),
            "{:?}",
            lines[2]
        );
    }

    #[test]
    fn journal_json_lines_are_a_priority_then_one_object() {
        let out = capture_journal(true);
        let priorities: Vec<&str> = out.lines().map(|l| &l[..3]).collect();
        assert_eq!(priorities, ["<4>", "<6>", "<3>", "<7>"], "{out}");
        for line in out.lines() {
            let value: serde_json::Value = serde_json::from_str(&line[3..]).unwrap();
            assert!(value["level"].is_string(), "{line}");
        }
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
        assert_eq!(priority(Level::TRACE), 7);
    }

    #[test]
    fn the_journal_format_only_when_stderr_is_the_journal_stream() {
        use std::ffi::OsStr;
        let journal = Stderr {
            terminal: false,
            id: Some((8, 4_711_234)),
            journal_stream: Some(OsStr::new("8:4711234")),
            no_color: None,
        };
        let plain = Style {
            colour: false,
            journal: false,
        };
        assert_eq!(
            style(&journal),
            Style {
                colour: false,
                journal: true
            }
        );
        // A child of a unit inherits JOURNAL_STREAM with its stderr sent to a file.
        let elsewhere = Stderr {
            id: Some((8, 99)),
            ..journal
        };
        assert_eq!(style(&elsewhere), plain);
        // fstat failed, or the variable is unset or garbled.
        assert_eq!(
            style(&Stderr {
                id: None,
                ..journal
            }),
            plain
        );
        for garbled in ["", "8", "8:", ":4711234", "8:4711234:1", "x:y", "8:-1"] {
            let stderr = Stderr {
                journal_stream: Some(OsStr::new(garbled)),
                ..journal
            };
            assert_eq!(style(&stderr), plain, "{garbled:?}");
        }
        assert_eq!(
            style(&Stderr {
                journal_stream: None,
                ..journal
            }),
            plain
        );
        // A terminal gets colour unless NO_COLOR says otherwise; a file or a pipe never.
        let terminal = Stderr {
            terminal: true,
            id: Some((0, 5)),
            journal_stream: None,
            no_color: None,
        };
        assert_eq!(
            style(&terminal),
            Style {
                colour: true,
                journal: false
            }
        );
        assert_eq!(
            style(&Stderr {
                no_color: Some(OsStr::new("1")),
                ..terminal
            }),
            plain
        );
        assert_eq!(
            style(&Stderr {
                terminal: false,
                ..terminal
            }),
            plain
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
