//! Where log lines go: stderr, or, while the lab's terminal UI owns the screen, a bounded
//! channel the UI reads (its event log). A line that finds the channel full is counted and
//! dropped, never waited for: logging must not stall the lab.
//!
//! `logging` writes through [`writer`]; the lab's UI calls [`divert`] and holds the returned
//! [`Diverted`] while it runs. Diverted lines lose their colour codes and are escaped once more
//! (`registry::escape`), so no byte of them drives the terminal.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// The UI's end of the channel while it runs.
static TAP: Mutex<Option<mpsc::Sender<String>>> = Mutex::new(None);
/// Lines dropped because the channel was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines go to the returned receiver (at most `capacity` waiting) until the [`Diverted`] is
/// dropped; then to stderr again.
pub(crate) fn divert(capacity: usize) -> (Diverted, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    set(Some(tx));
    (Diverted(()), rx)
}

/// Lines dropped since the last call.
pub(crate) fn dropped() -> u64 {
    DROPPED.swap(0, Ordering::Relaxed)
}

fn set(tx: Option<mpsc::Sender<String>>) {
    // A panic while holding this lock cannot leave the Option half-written: recover it.
    *TAP.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = tx;
}

/// While alive, log lines go to the UI.
#[derive(Debug)]
pub(crate) struct Diverted(());

impl Drop for Diverted {
    fn drop(&mut self) {
        set(None);
    }
}

/// The writer of one log event: stderr, or a buffer sent line by line when dropped.
pub(crate) enum LogWriter {
    /// Not diverted.
    Stderr(std::io::Stderr),
    /// Diverted: the event's bytes, sent when the writer is dropped (tracing writes an event
    /// with one writer, then drops it).
    Tap(mpsc::Sender<String>, Vec<u8>),
}

/// A writer for one log event (`tracing_subscriber`'s `MakeWriter`).
pub(crate) fn writer() -> LogWriter {
    match TAP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
    {
        Some(tx) => LogWriter::Tap(tx.clone(), Vec::new()),
        None => LogWriter::Stderr(std::io::stderr()),
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Stderr(e) => e.write(buf),
            Self::Tap(_, pending) => {
                pending.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Stderr(e) => e.flush(),
            Self::Tap(..) => Ok(()),
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if let Self::Tap(tx, pending) = self {
            for line in String::from_utf8_lossy(pending).lines() {
                if line.is_empty() {
                    continue;
                }
                if tx.try_send(screen_safe(line)).is_err() {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// A log line for the screen: colour codes (`ESC [ … final byte`) removed, anything else
/// escaped.
pub(crate) fn screen_safe(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..=~.
            for p in chars.by_ref() {
                if ('@'..='~').contains(&p) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    registry::escape::escape(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_go_and_other_controls_are_escaped() {
        assert_eq!(
            screen_safe("\x1b[2m2026\x1b[0m \x1b[33m WARN\x1b[0m lost \x1b]0;x\x07"),
            "2026  WARN lost \\u{1b}]0;x\\u{7}"
        );
        assert_eq!(screen_safe("tail \x1b["), "tail ");
    }

    #[tokio::test]
    async fn diverted_lines_reach_the_receiver_then_stderr_again() {
        let (guard, mut rx) = divert(2);
        for text in ["one\ntwo\n", "three\n"] {
            let mut w = writer();
            assert!(matches!(w, LogWriter::Tap(..)));
            w.write_all(text.as_bytes()).unwrap();
        }
        assert_eq!(rx.recv().await.as_deref(), Some("one"));
        assert_eq!(rx.recv().await.as_deref(), Some("two"));
        // The channel held two: the third was dropped and counted.
        assert_eq!(dropped(), 1);
        drop(guard);
        assert!(matches!(writer(), LogWriter::Stderr(_)));
    }
}
