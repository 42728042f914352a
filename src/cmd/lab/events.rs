//! The terminal UI's event log in pure code: the lines (commands typed, their outcomes, the
//! lab's own log lines), bounded, and which of them a window of the screen shows when scrolled.

use std::collections::VecDeque;

/// What a line of the event log is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A command as typed.
    Typed,
    /// A command's outcome.
    Done,
    /// A command's error, or the console's own trouble.
    Failed,
    /// A log line of the lab.
    Log,
}

/// How many lines the event log keeps.
const KEEP: usize = 2000;

/// The event log. Its lines are already escaped (no control character reaches the screen).
#[derive(Debug, Clone, Default)]
pub(super) struct EventLog {
    lines: VecDeque<(Kind, String)>,
    /// Lines scrolled back from the newest (0: following the newest).
    back: usize,
}

impl EventLog {
    /// Adds a line; when scrolled back, the view stays where it is.
    pub(super) fn push(&mut self, kind: Kind, line: String) {
        self.lines.push_back((kind, line));
        if self.lines.len() > KEEP {
            self.lines.pop_front();
        } else if self.back > 0 {
            self.back += 1;
        }
    }

    /// Lines scrolled back from the newest.
    pub(super) fn back(&self) -> usize {
        self.back
    }

    /// Scrolls `page` lines back (`up`) or forward, within the log.
    pub(super) fn scroll(&mut self, up: bool, page: usize) {
        let page = page.max(1);
        self.back = if up {
            (self.back + page).min(self.lines.len().saturating_sub(1))
        } else {
            self.back.saturating_sub(page)
        };
    }

    /// The screen rows of a window `width` wide and `height` high: the lines up to the scroll
    /// position, each wrapped at `width` characters, the last `height` rows of them.
    pub(super) fn window(&self, width: usize, height: usize) -> Vec<(Kind, String)> {
        let width = width.max(1);
        let end = self.lines.len() - self.back.min(self.lines.len());
        let mut rows: Vec<(Kind, String)> = Vec::new();
        for (kind, line) in self.lines.range(..end).rev() {
            if rows.len() >= height {
                break;
            }
            let chars: Vec<char> = line.chars().collect();
            let mut wrapped: Vec<String> = chars
                .chunks(width)
                .map(|c| c.iter().collect::<String>())
                .collect();
            if wrapped.is_empty() {
                wrapped.push(String::new());
            }
            rows.extend(wrapped.into_iter().rev().map(|r| (*kind, r)));
        }
        rows.truncate(height);
        rows.reverse();
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[(Kind, String)]) -> Vec<&str> {
        rows.iter().map(|(_, r)| r.as_str()).collect()
    }

    fn log(n: usize) -> EventLog {
        let mut l = EventLog::default();
        for i in 1..=n {
            l.push(Kind::Log, format!("line {i}"));
        }
        l
    }

    #[test]
    fn shows_the_newest_lines_wrapped() {
        let mut l = log(3);
        l.push(Kind::Failed, "! usage: a long one".into());
        assert_eq!(
            texts(&l.window(8, 4)),
            ["line 3", "! usage:", " a long ", "one"]
        );
        assert_eq!(l.window(8, 4)[3].0, Kind::Failed);
        assert_eq!(texts(&l.window(80, 10)).len(), 4);
        assert!(EventLog::default().window(10, 5).is_empty());
    }

    #[test]
    fn scrolls_by_pages_and_holds_still_while_scrolled() {
        let mut l = log(10);
        l.scroll(true, 3);
        assert_eq!(texts(&l.window(20, 2)), ["line 6", "line 7"]);
        l.push(Kind::Log, "line 11".into());
        assert_eq!(texts(&l.window(20, 2)), ["line 6", "line 7"], "held still");
        l.scroll(true, 100);
        assert_eq!(
            texts(&l.window(20, 2)),
            ["line 1"],
            "the oldest line at most"
        );
        l.scroll(false, 100);
        assert_eq!(l.back(), 0);
        assert_eq!(texts(&l.window(20, 2)), ["line 10", "line 11"]);
        l.push(Kind::Log, "line 12".into());
        assert_eq!(texts(&l.window(20, 1)), ["line 12"], "following the newest");
    }

    #[test]
    fn keeps_a_bounded_number_of_lines() {
        let l = log(KEEP + 5);
        assert_eq!(l.lines.len(), KEEP);
        assert_eq!(texts(&l.window(20, 1)), [format!("line {}", KEEP + 5)]);
    }
}
