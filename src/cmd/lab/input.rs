//! The terminal UI's keys in pure code: the command line (editing, history) and the keys that
//! act on the screen. The command line belongs to the operator: nothing but a key changes it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks of the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    /// Nothing beyond the command line's own change (if any).
    None,
    /// Run this line (already taken off the command line and added to the history).
    Submit(String),
    /// Stop the lab (Ctrl-C, Ctrl-D on an empty line).
    Quit,
    /// Scroll the event log a page back (PgUp) or forward (PgDn).
    ScrollUp,
    /// See [`Action::ScrollUp`].
    ScrollDown,
}

/// How many lines the history keeps.
const HISTORY: usize = 100;

/// The command line: its text, the cursor (in characters) and the history of submitted lines.
#[derive(Debug, Clone, Default)]
pub(super) struct Input {
    text: String,
    cursor: usize,
    history: Vec<String>,
    /// Where Up/Down is in the history (`None`: at the line being typed).
    recalled: Option<usize>,
    /// The line being typed, kept while the history is browsed.
    draft: String,
}

impl Input {
    /// The text on the command line.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// The cursor's position, in characters from the start.
    pub(super) fn cursor(&self) -> usize {
        self.cursor
    }

    /// Applies one key.
    pub(super) fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => return Action::Quit,
            KeyCode::Char('d') if ctrl && self.text.is_empty() => return Action::Quit,
            KeyCode::Char('u') if ctrl => self.clear(),
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.len(),
            // Control keys not bound above, and characters that would drive the terminal.
            KeyCode::Char(c) if ctrl || registry::escape::is_unsafe(c) => {}
            KeyCode::Char(c) => {
                let at = self.byte(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte(self.cursor);
                self.text.remove(at);
            }
            KeyCode::Delete if self.cursor < self.len() => {
                let at = self.byte(self.cursor);
                self.text.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.len(),
            KeyCode::Esc => self.clear(),
            KeyCode::Up => self.recall(true),
            KeyCode::Down => self.recall(false),
            KeyCode::PageUp => return Action::ScrollUp,
            KeyCode::PageDown => return Action::ScrollDown,
            KeyCode::Enter => return self.submit(),
            _ => {}
        }
        Action::None
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// The byte offset of character `i`.
    fn byte(&self, i: usize) -> usize {
        self.text
            .char_indices()
            .nth(i)
            .map_or(self.text.len(), |(b, _)| b)
    }

    fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.recalled = None;
    }

    fn set(&mut self, text: String) {
        self.text = text;
        self.cursor = self.len();
    }

    fn recall(&mut self, back: bool) {
        let next = match (self.recalled, back) {
            (None, true) if !self.history.is_empty() => {
                self.draft = self.text.clone();
                Some(self.history.len() - 1)
            }
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < self.history.len() => Some(i + 1),
            (Some(_), false) => {
                self.recalled = None;
                let draft = std::mem::take(&mut self.draft);
                self.set(draft);
                return;
            }
            _ => return,
        };
        self.recalled = next;
        if let Some(line) = next.and_then(|i| self.history.get(i)) {
            self.set(line.clone());
        }
    }

    fn submit(&mut self) -> Action {
        let line = std::mem::take(&mut self.text);
        self.clear();
        if line.trim().is_empty() {
            return Action::None;
        }
        if self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        Action::Submit(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn typed(input: &mut Input, text: &str) {
        for c in text.chars() {
            assert_eq!(input.key(press(KeyCode::Char(c))), Action::None);
        }
    }

    #[test]
    fn typing_editing_and_enter() {
        let mut i = Input::default();
        typed(&mut i, "weight 2 ab");
        assert_eq!(i.text(), "weight 2 ab");
        i.key(press(KeyCode::Backspace));
        typed(&mut i, "bc");
        assert_eq!(i.text(), "weight 2 abc");
        i.key(press(KeyCode::Home));
        i.key(press(KeyCode::Delete));
        typed(&mut i, "W");
        assert_eq!((i.text(), i.cursor()), ("Weight 2 abc", 1));
        i.key(press(KeyCode::End));
        i.key(press(KeyCode::Left));
        typed(&mut i, "é");
        assert_eq!(i.text(), "Weight 2 abéc");
        i.key(press(KeyCode::Backspace));
        assert_eq!(i.text(), "Weight 2 abc");
        assert_eq!(
            i.key(press(KeyCode::Enter)),
            Action::Submit("Weight 2 abc".into())
        );
        assert_eq!((i.text(), i.cursor()), ("", 0));
        assert_eq!(i.key(press(KeyCode::Enter)), Action::None, "empty line");
    }

    #[test]
    fn esc_and_ctrl_u_clear_and_ctrl_c_quits() {
        let mut i = Input::default();
        typed(&mut i, "kill 3");
        i.key(press(KeyCode::Esc));
        assert_eq!(i.text(), "");
        typed(&mut i, "kill 3");
        i.key(ctrl('u'));
        assert_eq!(i.text(), "");
        typed(&mut i, "kill");
        assert_eq!(
            i.key(ctrl('d')),
            Action::None,
            "Ctrl-D quits only on an empty line"
        );
        assert_eq!(i.key(ctrl('c')), Action::Quit);
        i.key(ctrl('u'));
        assert_eq!(i.key(ctrl('d')), Action::Quit);
        let release = KeyEvent {
            kind: KeyEventKind::Release,
            ..press(KeyCode::Char('x'))
        };
        assert_eq!(i.key(release), Action::None);
        assert_eq!(i.text(), "", "key releases type nothing");
    }

    #[test]
    fn up_and_down_walk_the_history_and_keep_the_draft() {
        let mut i = Input::default();
        for line in ["kill 1", "revive 1", "revive 1"] {
            typed(&mut i, line);
            i.key(press(KeyCode::Enter));
        }
        typed(&mut i, "quar");
        i.key(press(KeyCode::Up));
        assert_eq!(i.text(), "revive 1", "repeats are kept once");
        i.key(press(KeyCode::Up));
        assert_eq!(i.text(), "kill 1");
        i.key(press(KeyCode::Up));
        assert_eq!(i.text(), "kill 1", "the oldest stays");
        i.key(press(KeyCode::Down));
        assert_eq!(i.text(), "revive 1");
        i.key(press(KeyCode::Down));
        assert_eq!((i.text(), i.cursor()), ("quar", 4), "back to the draft");
        i.key(press(KeyCode::Down));
        assert_eq!(i.text(), "quar");
    }

    #[test]
    fn page_keys_scroll() {
        let mut i = Input::default();
        assert_eq!(i.key(press(KeyCode::PageUp)), Action::ScrollUp);
        assert_eq!(i.key(press(KeyCode::PageDown)), Action::ScrollDown);
    }
}
