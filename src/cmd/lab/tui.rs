//! The console as a terminal UI (ratatui over crossterm): the targets table with each target's
//! share of the recent answers as bars, what a pool's fraction guard is doing, a scrolling
//! event log (commands, their outcomes, the lab's own log lines) and a command line that keeps
//! its input while everything else redraws.
//!
//! The terminal is restored on every way out: `quit`, Ctrl-C, SIGTERM/SIGINT, an error (a
//! guard's `Drop`) and a panic (ratatui's hook). While the UI owns the screen, log lines go to
//! the event log instead of stderr (`crate::logtap`).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event};
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row as TableRow, Table};
use registry::clock::unix_now;
use registry::escape::escape;
use tokio::sync::mpsc;

use super::command::help;
use super::console::{Console, Observed};
use super::events::{EventLog, Kind};
use super::input::{Action, Input};
use super::table::{AnswerWindow, bar};

/// How far back the answer shares look.
const SHARE_WINDOW: Duration = Duration::from_secs(10);
/// Log lines waiting for the UI at most (more are dropped and counted).
const LOG_BACKLOG: usize = 1024;

/// What the UI shows, apart from the console's own state.
pub(super) struct Ui {
    /// The title line: where the lab listens.
    pub title: String,
    /// The command line.
    pub input: Input,
    /// The event log.
    pub log: EventLog,
    /// The last look at the lab.
    pub seen: Option<Observed>,
    /// Why the last look failed, escaped.
    pub trouble: Option<String>,
    /// The answer counts of the last refreshes.
    pub window: AnswerWindow,
    /// How long the window is, for its label.
    pub window_label: String,
    /// True with several zones.
    pub multi: bool,
    /// The event log's height when last drawn (a page for PgUp/PgDn).
    log_rows: usize,
    /// Lines submitted and not run yet (typed while a command runs).
    pending: VecDeque<String>,
    /// Ctrl-C was pressed.
    quit: bool,
}

impl Ui {
    /// A UI for a lab refreshed every `refresh`.
    pub(super) fn new(title: String, refresh: Duration, multi: bool) -> Self {
        let refreshes = (SHARE_WINDOW.as_millis() / refresh.as_millis().max(1)).clamp(1, 100);
        // At most 100: the cast cannot truncate.
        let refreshes = refreshes as usize;
        let span = refresh * u32::try_from(refreshes).unwrap_or(1);
        Self {
            title,
            input: Input::default(),
            log: EventLog::default(),
            seen: None,
            trouble: None,
            window: AnswerWindow::new(refreshes),
            window_label: humantime::format_duration(span).to_string(),
            multi,
            log_rows: 10,
            pending: VecDeque::new(),
            quit: false,
        }
    }

    /// Applies a look at the lab.
    pub(super) fn saw(&mut self, seen: anyhow::Result<Observed>) {
        match seen {
            Ok(seen) => {
                self.seen = Some(seen);
                self.trouble = None;
            }
            Err(e) => self.trouble = Some(escape(&e.to_string()).into_owned()),
        }
    }

    /// Adds a line to the event log, escaped, after the time of day (UTC, as the log lines)
    /// of `now` (unix seconds).
    pub(super) fn event(&mut self, now: u64, kind: Kind, text: &str) {
        self.log
            .push(kind, format!("{} {}", time_of_day(now), escape(text)));
    }

    /// Draws the whole screen.
    pub(super) fn draw(&mut self, frame: &mut Frame<'_>) {
        let area = frame.area();
        let rows = self.seen.as_ref().map_or(0, |s| s.rows.len());
        let said: Vec<(Style, String)> = self
            .said()
            .into_iter()
            .flat_map(|(style, text)| {
                wrap(&text, usize::from(area.width))
                    .into_iter()
                    .map(move |line| (style, line))
            })
            .collect();
        let [title, table, notes, log, input, keys] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(u16::try_from(rows + 2).unwrap_or(u16::MAX)),
            Constraint::Length(u16::try_from(said.len()).unwrap_or(u16::MAX)),
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        frame.render_widget(
            Paragraph::new(self.title.as_str()).style(Style::new().add_modifier(Modifier::BOLD)),
            title,
        );
        self.draw_table(frame, table);
        let lines: Vec<Line> = said
            .into_iter()
            .map(|(style, text)| Line::styled(text, style))
            .collect();
        frame.render_widget(Paragraph::new(lines), notes);
        self.draw_log(frame, log);
        self.draw_input(frame, input);
        frame.render_widget(
            Paragraph::new(help(self.multi)).style(Style::new().fg(Color::DarkGray)),
            keys,
        );
    }

    /// The lines under the table: the tier, the notes on pools, trouble reading them.
    fn said(&self) -> Vec<(Style, String)> {
        let mut out = Vec::new();
        if let Some(seen) = &self.seen {
            out.extend(seen.tier.iter().map(|t| (Style::new(), t.clone())));
            out.extend(seen.notes.iter().map(|n| {
                (
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                    escape(&n.to_string()).into_owned(),
                )
            }));
        }
        if let Some(t) = &self.trouble {
            out.push((Style::new().fg(Color::Red), format!("! {t}")));
        }
        out
    }

    fn draw_table(&self, frame: &mut Frame<'_>, area: Rect) {
        // Narrow enough for bars on an 80-column terminal.
        let mut widths = vec![Constraint::Length(2)];
        let mut header = vec!["#"];
        if self.multi {
            widths.push(Constraint::Length(4));
            header.push("ZONE");
        }
        widths.extend([
            Constraint::Length(7),
            Constraint::Length(16),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(11),
            Constraint::Length(4),
            Constraint::Length(7),
        ]);
        header.extend([
            "SET ID", "ADDRESS", "WEIGHT", "WANTED", "STATE", "PROC", "ANSWERS",
        ]);
        // Fixed columns, a space after each, and " 100%" after the bar.
        let fixed: u16 = widths
            .iter()
            .map(|c| match c {
                Constraint::Length(n) => *n + 1,
                _ => 0,
            })
            .sum::<u16>();
        let bar_width = usize::from(area.width.saturating_sub(fixed + 5));
        widths.push(Constraint::Fill(1));
        header.push("SHARE");
        let shares = self.window.shares();
        let rows: Vec<TableRow> = self
            .seen
            .iter()
            .flat_map(|s| s.rows.iter())
            .enumerate()
            .map(|(i, r)| {
                let mut cells = vec![Cell::from(r.n.to_string())];
                if let Some(z) = r.zone {
                    cells.push(Cell::from(z.to_string()));
                }
                let (weight, wanted, state) = r.record.clone().map_or(
                    ("-".to_owned(), "-".to_owned(), "missing".to_owned()),
                    |(w, ww, s)| (w.to_string(), ww.to_string(), s),
                );
                let state_style = match state.as_str() {
                    "active" => Style::new().fg(Color::Green),
                    "missing" => Style::new().fg(Color::Red),
                    _ => Style::new().fg(Color::Yellow),
                };
                let share = shares.as_ref().and_then(|s| s.get(i).copied());
                cells.extend([
                    Cell::from(escape(&r.id).into_owned()),
                    Cell::from(r.addr.to_string()),
                    Cell::from(Line::from(weight).right_aligned()),
                    Cell::from(Line::from(wanted).right_aligned()),
                    Cell::from(state).style(state_style),
                    if r.up {
                        Cell::from("up").style(Style::new().fg(Color::Green))
                    } else {
                        Cell::from("down").style(Style::new().fg(Color::Red))
                    },
                    Cell::from(Line::from(r.answers.to_string()).right_aligned()),
                    Cell::from(Line::from(vec![
                        Span::styled(
                            format!(
                                "{:<bar_width$}",
                                share.map_or(String::new(), |s| bar(s, bar_width))
                            ),
                            Style::new().fg(Color::Cyan),
                        ),
                        Span::raw(
                            share.map_or("    -".to_owned(), |s| format!(" {:>3.0}%", s * 100.0)),
                        ),
                    ])),
                ]);
                TableRow::new(cells)
            })
            .collect();
        let title = format!(
            " targets | SHARE: answers over the last {} ",
            self.window_label
        );
        let table = Table::new(rows, widths)
            .header(TableRow::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
            .block(Block::new().borders(Borders::TOP).title(title));
        frame.render_widget(table, area);
    }

    fn draw_log(&mut self, frame: &mut Frame<'_>, area: Rect) {
        let title = match self.log.back() {
            0 => " events | PgUp/PgDn scroll | Up/Down history | Esc clears | Ctrl-C quits "
                .to_owned(),
            n => format!(" events | {n} lines back, PgDn to follow "),
        };
        let block = Block::new().borders(Borders::TOP).title(title);
        let inner = block.inner(area);
        self.log_rows = usize::from(inner.height);
        let lines: Vec<Line> = self
            .log
            .window(usize::from(inner.width), usize::from(inner.height))
            .into_iter()
            .map(|(kind, text)| {
                let style = match kind {
                    Kind::Typed => Style::new().add_modifier(Modifier::BOLD),
                    Kind::Done => Style::new().fg(Color::Green),
                    Kind::Failed => Style::new().fg(Color::Red),
                    Kind::Log => Style::new(),
                };
                Line::styled(text, style)
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    fn draw_input(&self, frame: &mut Frame<'_>, area: Rect) {
        let prompt = "> ";
        let room = usize::from(area.width)
            .saturating_sub(prompt.len() + 1)
            .max(1);
        // Long lines scroll sideways to keep the cursor in view.
        let skip = self.input.cursor().saturating_sub(room);
        let shown: String = self
            .input
            .text()
            .chars()
            .skip(skip)
            .take(room + 1)
            .collect();
        frame.render_widget(
            Paragraph::new(format!("{prompt}{shown}"))
                .style(Style::new().add_modifier(Modifier::BOLD)),
            area,
        );
        let x = area.x + u16::try_from(prompt.len() + self.input.cursor() - skip).unwrap_or(0);
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
    }

    /// Applies terminal events: keys edit the command line, scroll the log, quit, or queue a
    /// line to run; anything else (a resize) only asks for a redraw.
    pub(super) fn on_events(&mut self, events: impl IntoIterator<Item = Event>) {
        for ev in events {
            let Event::Key(key) = ev else { continue };
            match self.input.key(key) {
                Action::None => {}
                Action::Quit => self.quit = true,
                Action::ScrollUp => self.log.scroll(true, self.log_rows.saturating_sub(1)),
                Action::ScrollDown => self.log.scroll(false, self.log_rows.saturating_sub(1)),
                Action::Submit(line) => self.pending.push_back(line),
            }
        }
    }

    /// Adds the lab's log lines (escaped already by `logtap::screen_safe`).
    pub(super) fn on_logs(&mut self, lines: impl IntoIterator<Item = String>) {
        for line in lines {
            self.log.push(Kind::Log, short_time(&line));
        }
    }

    /// Shows a command's outcome (`None`: it was `quit`).
    fn outcome(&mut self, now: u64, outcome: anyhow::Result<String>) {
        match outcome {
            Ok(msg) if msg.is_empty() => {}
            Ok(msg) => self.event(now, Kind::Done, &format!("> {msg}")),
            Err(msg) => self.event(now, Kind::Failed, &format!("! {msg}")),
        }
    }
}

/// `HH:MM:SS` of unix time `now`, UTC.
fn time_of_day(now: u64) -> String {
    let s = now % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A log line with its RFC 3339 timestamp (`2026-12-07T05:53:32.884991Z`) cut to the time of
/// day, as the console's own events show it; other lines as they are.
fn short_time(line: &str) -> String {
    let b = line.as_bytes();
    let stamped = b.len() > 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && b[13] == b':';
    match line.find('Z').filter(|z| stamped && *z < 40) {
        // ASCII up to the `Z`: these byte offsets are character boundaries.
        Some(z) => format!("{}{}", &line[11..19], &line[z + 1..]),
        None => line.to_owned(),
    }
}

/// `text` in lines of at most `width` characters, broken at spaces where it can be.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        if len > 0 && len + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
            len = 0;
        } else if len > 0 {
            line.push(' ');
            len += 1;
        }
        // A word longer than a line is cut.
        while len + word.len() > width {
            let rest = word.split_off(width - len);
            line.extend(word);
            lines.push(std::mem::take(&mut line));
            len = 0;
            word = rest;
        }
        len += word.len();
        line.extend(word);
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Restores the terminal when dropped.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Stops the key reader when dropped.
struct StopKeys(Arc<AtomicBool>);

impl Drop for StopKeys {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Reads terminal events on a thread of its own (crossterm's reads block), polling so that it
/// notices `stop` within 100 ms. The channel closes when reading fails.
fn read_events(stop: Arc<AtomicBool>) -> (std::thread::JoinHandle<()>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(64);
    let reader = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(false) => {}
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.blocking_send(ev).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Err(_) => return,
            }
        }
    });
    (reader, rx)
}

/// Runs the terminal UI until quit, Ctrl-C or a signal.
pub(super) async fn run(console: &mut Console, refresh: Duration) -> anyhow::Result<()> {
    let mut ui = Ui::new(console.title.clone(), refresh, console.multi());
    // Dropped in reverse order: keys stop, the terminal is restored, then logs go to stderr.
    // Log lines to a terminal would scribble over the UI: they go to its event log. Sent
    // elsewhere (`2>lab.log`), they stay there.
    let (mut _diverted, mut _idle) = (None, None);
    let mut logs = if std::io::stderr().is_terminal() {
        let (diverted, logs) = crate::logtap::divert(LOG_BACKLOG);
        _diverted = Some(diverted);
        logs
    } else {
        let (idle, logs) = mpsc::channel(1);
        _idle = Some(idle);
        logs
    };
    let mut terminal = ratatui::try_init().context("cannot take over the terminal")?;
    let _restore = Restore;
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_keys = StopKeys(Arc::clone(&stop));
    let (reader, mut keys) = read_events(stop);
    ui.event(
        unix_now(),
        Kind::Done,
        "> the lab is running: type a command below (the last line lists them); quit or Ctrl-C stops it",
    );
    let mut tick = tokio::time::interval(refresh);
    let shutdown = crate::systemd::shutdown_signal();
    tokio::pin!(shutdown);
    // Each turn draws, then waits for one thing: a command to finish, the refresh, log lines,
    // keys (every key already waiting is applied before the next draw), or a signal. A command
    // runs while the screen stays live: keys still edit the line (and queue more commands), log
    // lines still arrive; only the refresh waits for it.
    'ui: loop {
        terminal
            .draw(|frame| ui.draw(frame))
            .context("cannot draw the console")?;
        if ui.quit {
            break;
        }
        if let Some(line) = ui.pending.pop_front() {
            ui.event(unix_now(), Kind::Typed, &format!("$ {line}"));
            let outcome = {
                let command = console.line(line.trim());
                tokio::pin!(command);
                loop {
                    tokio::select! {
                        outcome = &mut command => break outcome,
                        _ = &mut shutdown => break 'ui,
                        line = logs.recv() => ui.on_logs(line.into_iter().chain(std::iter::from_fn(|| logs.try_recv().ok()))),
                        ev = keys.recv() => match ev {
                            None => break 'ui,
                            Some(ev) => ui.on_events(std::iter::once(ev).chain(std::iter::from_fn(|| keys.try_recv().ok()))),
                        },
                    }
                    if ui.quit {
                        break 'ui;
                    }
                    terminal
                        .draw(|frame| ui.draw(frame))
                        .context("cannot draw the console")?;
                }
            };
            match outcome {
                None => break,
                Some(outcome) => ui.outcome(unix_now(), outcome),
            }
            ui.saw(console.observe().await);
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                ui.window.push(console.answer_counts());
                ui.saw(console.observe().await);
                let dropped = crate::logtap::dropped();
                if dropped > 0 {
                    ui.event(unix_now(), Kind::Failed, &format!("! {dropped} log lines dropped: they came faster than the screen"));
                }
            }
            line = logs.recv() => ui.on_logs(line.into_iter().chain(std::iter::from_fn(|| logs.try_recv().ok()))),
            ev = keys.recv() => match ev {
                // The terminal cannot be read any more (it went away): stop.
                None => break,
                Some(ev) => ui.on_events(std::iter::once(ev).chain(std::iter::from_fn(|| keys.try_recv().ok()))),
            },
        }
    }
    drop(_stop_keys);
    let _ = reader.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::lab::guard::Note;
    use crate::cmd::lab::table::Row;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use registry::testing::sid;

    fn rows() -> Vec<Row> {
        (1..=4)
            .map(|n| Row {
                n,
                zone: None,
                id: sid(&format!("demo-{n}")),
                addr: format!("127.0.0.{}:4000", 10 + n).parse().unwrap(),
                record: Some(if n == 2 {
                    (0, 20, "quarantined".into())
                } else {
                    (10 * n as u8, 10 * n as u8, "active".into())
                }),
                up: n != 3,
                answers: 10 * n as u64,
            })
            .collect()
    }

    fn screen(ui: &mut Ui, width: u16, height: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        t.draw(|f| ui.draw(f)).unwrap();
        let buf = t.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn ui() -> Ui {
        let mut ui = Ui::new(
            "wavelb lab: dig @127.0.0.1 -p 5300 www.lab.test".into(),
            Duration::from_secs(2),
            false,
        );
        ui.saw(Ok(Observed {
            rows: rows(),
            tier: None,
            notes: vec![Note {
                pool: "www.lab.test".into(),
                down: 3,
                members: 4,
                quarantined: 2,
                held: vec![sid("demo-3")],
                all_answers_dead: false,
                fraction: Some(0.5),
            }],
        }));
        ui.window.push(vec![0, 0, 0, 0]);
        ui.window.push(vec![10, 30, 0, 60]);
        ui
    }

    #[test]
    fn the_screen_shows_table_bars_notes_log_and_input() {
        let mut ui = ui();
        ui.event(0, Kind::Failed, "! usage: weight N W");
        for c in "quarantine 2".chars() {
            ui.input
                .key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        let s = screen(&mut ui, 80, 24);
        assert!(s.contains("wavelb lab: dig @127.0.0.1 -p 5300"), "{s}");
        assert!(s.contains("answers over the last 10s"), "{s}");
        assert!(s.contains("#  SET ID  ADDRESS"), "{s}");
        let row = |n: usize| {
            s.lines()
                .find(|l| l.contains(&format!("demo-{n}")))
                .unwrap()
                .to_owned()
        };
        assert!(
            row(2).contains("quarantined") && row(2).contains(" 30%"),
            "{}",
            row(2)
        );
        assert!(
            row(3).contains("down") && row(3).contains("  0%"),
            "{}",
            row(3)
        );
        assert!(
            row(4).contains("████") && row(4).contains(" 60%"),
            "{}",
            row(4)
        );
        // 60% of the bar column (8 cells at 80 columns), 10%, 30%.
        assert!(row(4).contains(" ████▊ "), "{s}");
        assert!(row(1).contains(" ▊ "), "{s}");
        assert!(row(2).contains(" ██▍ "), "{s}");
        assert!(
            s.contains(
                "pool www.lab.test: 3 of 4 targets down, 2 quarantined - the fraction guard"
            ),
            "{s}"
        );
        assert!(s.contains("! usage: weight N W"), "{s}");
        assert!(s.lines().any(|l| l.starts_with("> quarantine 2")), "{s}");
        assert!(
            s.lines().last().unwrap().starts_with("kill N | revive N"),
            "{s}"
        );
        assert!(s.contains("Ctrl-C quits"), "{s}");
        assert!(
            s.contains("rather than empty the pool"),
            "the whole note: {s}"
        );
    }

    #[test]
    fn the_input_survives_a_refresh_and_a_log_line() {
        let mut ui = ui();
        for c in "restore 2".chars() {
            ui.input
                .key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        let before = screen(&mut ui, 100, 20);
        ui.saw(Ok(Observed {
            rows: rows(),
            tier: None,
            notes: Vec::new(),
        }));
        ui.log.push(
            Kind::Log,
            "2026-12-07T00:00:00Z  WARN target unhealthy".into(),
        );
        let after = screen(&mut ui, 100, 20);
        assert!(
            before.lines().any(|l| l.starts_with("> restore 2")),
            "{before}"
        );
        assert!(
            after.lines().any(|l| l.starts_with("> restore 2")),
            "{after}"
        );
        assert!(after.contains("WARN target unhealthy"), "{after}");
        assert!(!after.contains("fraction guard"), "{after}");
    }

    #[test]
    fn trouble_and_outside_text_are_escaped() {
        let mut ui = ui();
        ui.saw(Err(anyhow::anyhow!("cannot read pool: \x1b[2Jgone")));
        ui.event(0, Kind::Failed, "! unknown command \"\x1b[31m\"");
        let s = screen(&mut ui, 100, 20);
        assert!(s.contains("! cannot read pool: \\u{1b}[2Jgone"), "{s}");
        assert!(s.contains("unknown command \"\\u{1b}[31m\""), "{s}");
        assert!(!s.contains('\x1b'));
        // The last good table stays on screen.
        assert!(s.contains("demo-4"), "{s}");
    }

    #[test]
    fn log_lines_and_events_show_the_time_of_day() {
        assert_eq!(
            short_time("2026-12-07T05:53:32.884991Z  INFO health::leader: took it"),
            "05:53:32  INFO health::leader: took it"
        );
        assert_eq!(short_time("no stamp Z here"), "no stamp Z here");
        assert_eq!(short_time("2026-12-07T05"), "2026-12-07T05");
        assert_eq!(time_of_day(86_400 + 3600 * 5 + 60 * 53 + 32), "05:53:32");
        let mut ui = ui();
        ui.event(3661, Kind::Done, "> demo-2: done");
        assert!(screen(&mut ui, 80, 24).contains("01:01:01 > demo-2: done"));
    }

    #[test]
    fn keys_queue_lines_and_ctrl_c_quits() {
        let mut ui = ui();
        let key = |c| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
        let mut events: Vec<Event> = "kill 1".chars().map(|c| key(KeyCode::Char(c))).collect();
        events.push(key(KeyCode::Enter));
        events.extend("rest".chars().map(|c| key(KeyCode::Char(c))));
        events.push(Event::Resize(80, 24));
        ui.on_events(events);
        assert_eq!(ui.pending, ["kill 1"]);
        assert_eq!(ui.input.text(), "rest");
        assert!(!ui.quit);
        ui.on_events([Event::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        ))]);
        assert!(ui.quit);
        ui.on_logs(["2026-12-07T05:53:32.884991Z  WARN x".to_owned()]);
        assert!(screen(&mut ui, 80, 24).contains("05:53:32  WARN x"));
    }

    #[test]
    fn notes_wrap_at_spaces() {
        assert_eq!(wrap("pool a: 3 of 4", 8), ["pool a:", "3 of 4"]);
        assert_eq!(wrap("abcdefghij k", 4), ["abcd", "efgh", "ij k"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("ab", 0), ["a", "b"]);
    }

    #[test]
    fn a_scrolled_log_says_so() {
        let mut ui = ui();
        for i in 0..50 {
            ui.event(0, Kind::Log, &format!("line {i}"));
        }
        screen(&mut ui, 100, 20);
        ui.log.scroll(true, ui.log_rows);
        let s = screen(&mut ui, 100, 20);
        assert!(s.contains("lines back, PgDn to follow"), "{s}");
        assert!(!s.contains("line 49"), "{s}");
    }
}
