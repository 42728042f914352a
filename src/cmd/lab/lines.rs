//! The console as plain lines, for a pipe, a file or `--plain`: no redraws and no escape codes,
//! one line per event. The table is printed when it changes (answer counts aside), a command's
//! outcome as `> …`, an error as `! …`. Commands come from stdin, whose end stops the lab;
//! `--headless` reads no stdin and serves until a signal.

use std::time::Duration;

use registry::escape::Escaped;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::console::{Console, Observed};
use super::table;

/// What the lab prints when stdin ends.
pub(super) const EOF: &str = "stdin closed: the lab stops (wavelb lab --headless serves without reading stdin, until Ctrl-C or SIGTERM)";
/// What the lab prints when it starts headless.
pub(super) const HEADLESS: &str =
    "headless: no commands are read; the lab serves until Ctrl-C or SIGTERM";

/// Runs until quit, a signal or (`stdin`) the end of stdin; without `stdin`, stdin is not read.
pub(super) async fn run(console: &mut Console, refresh: Duration, stdin: bool) {
    if !stdin {
        println!("> {HEADLESS}");
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut tick = tokio::time::interval(refresh);
    let mut last = String::new();
    // Created once, so a signal that arrives while a command runs is not lost.
    let shutdown = crate::systemd::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
            line = lines.next_line(), if stdin => match line {
                Ok(Some(line)) => match console.line(line.trim()).await {
                    None => return,
                    Some(Ok(msg)) if msg.is_empty() => continue,
                    // Messages may quote the typed line and the resolver's answers: escaped.
                    Some(Ok(msg)) => println!("> {}", Escaped(&msg)),
                    Some(Err(msg)) => println!("! {}", Escaped(&msg.to_string())),
                },
                Ok(None) => {
                    println!("> {EOF}");
                    return;
                }
                Err(e) => {
                    println!("! cannot read stdin ({}): the lab stops", Escaped(&e.to_string()));
                    return;
                }
            },
        }
        let text = match console.observe().await {
            Ok(seen) => text(&seen, console.multi()),
            Err(e) => {
                let e = e.to_string();
                Text {
                    lines: vec![format!("! {}", Escaped(&e))],
                    shape: e,
                }
            }
        };
        if text.shape != last {
            for line in &text.lines {
                println!("{line}");
            }
            last = text.shape;
        }
    }
}

/// The table as lines, and its shape: the same text without the answer counts, which change
/// all the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Text {
    /// What decides whether the table is printed again.
    pub shape: String,
    /// The lines to print.
    pub lines: Vec<String>,
}

/// The plain table of what the console saw: header, one row per target with its answers, the
/// tier's line, then a line per pool whose dead targets stay in the answers.
pub(super) fn text(seen: &Observed, multi: bool) -> Text {
    let mut shape = Vec::new();
    let mut lines = vec![table::plain_header(multi)];
    for row in &seen.rows {
        let plain = table::plain_row(row);
        lines.push(format!("{plain} {:>8}", row.answers));
        shape.push(plain);
    }
    for extra in seen.tier.iter().cloned().chain(
        seen.notes
            .iter()
            .map(|n| Escaped(&n.to_string()).to_string()),
    ) {
        lines.push(extra.clone());
        shape.push(extra);
    }
    Text {
        shape: shape.join("\n"),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::lab::guard::Note;
    use crate::cmd::lab::table::Row;
    use registry::testing::sid;

    fn row(n: usize, answers: u64) -> Row {
        Row {
            n,
            zone: None,
            id: sid(&format!("demo-{n}")),
            addr: format!("127.0.0.{}:4000", 10 + n).parse().unwrap(),
            record: Some((10, 10, "active".into())),
            up: true,
            answers,
        }
    }

    #[test]
    fn the_shape_ignores_the_answer_counts() {
        let a = Observed {
            rows: vec![row(1, 5), row(2, 7)],
            tier: None,
            notes: Vec::new(),
        };
        let mut b = a.clone();
        b.rows[0].answers = 99;
        let (ta, tb) = (text(&a, false), text(&b, false));
        assert_eq!(ta.shape, tb.shape);
        assert_eq!(ta.lines.len(), 3);
        assert!(ta.lines[0].starts_with("#   SET ID"));
        assert_eq!(
            ta.lines[1],
            "1   demo-1   127.0.0.11:4000        10     10  active       up            5"
        );
        b.rows[1].up = false;
        assert_ne!(text(&b, false).shape, ta.shape);
    }

    #[test]
    fn the_tier_and_the_notes_follow_the_rows() {
        let seen = Observed {
            rows: vec![row(1, 0)],
            tier: Some("tier edge.lab.test: zone 1 in".into()),
            notes: vec![Note {
                pool: "www.lab.test".into(),
                down: 1,
                members: 1,
                quarantined: 0,
                held: vec![sid("demo-1\n")],
                all_answers_dead: true,
                fraction: Some(0.5),
            }],
        };
        let t = text(&seen, false);
        assert_eq!(t.lines[2], "tier edge.lab.test: zone 1 in");
        assert!(t.lines[3].starts_with("pool www.lab.test: 1 of 1 targets down"));
        assert!(
            t.lines[3].contains("keeps demo-1\\n in the answers"),
            "escaped"
        );
        assert!(t.shape.contains("tier edge"));
    }
}
