//! Text from outside (set identifiers, TXT values, API fields, probe replies, file contents)
//! made safe to print: one line, no terminal control, nothing that reorders what follows.
//!
//! [`escape`] is the one rule every log line and every printed table goes through. It is
//! unambiguous: the backslash is escaped too, so `a\nb` (four characters) and `a` newline `b`
//! print differently.

use std::borrow::Cow;
use std::fmt;

/// True for a character that must not reach a log or a terminal as itself: C0 controls (line
/// feed, carriage return, tab, ESC, …), DEL, C1 controls, the Unicode line and paragraph
/// separators (U+2028, U+2029), and the bidirectional marks, embeddings, overrides and isolates
/// (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which reorder the text shown after
/// them.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Writes `text` with every [`is_unsafe`] character escaped (`\n`, `\r`, `\t`, others as
/// `\u{XX}`); with `backslash`, `\` is written as `\\` so the result is unambiguous.
pub fn write_escaped(out: &mut impl fmt::Write, text: &str, backslash: bool) -> fmt::Result {
    let mut clean = 0;
    for (i, c) in text.char_indices() {
        let escaped = match c {
            '\\' if backslash => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if is_unsafe(c) => "",
            _ => continue,
        };
        out.write_str(&text[clean..i])?;
        if escaped.is_empty() {
            write!(out, "\\u{{{:x}}}", u32::from(c))?;
        } else {
            out.write_str(escaped)?;
        }
        clean = i + c.len_utf8();
    }
    out.write_str(&text[clean..])
}

/// `text` escaped unambiguously (backslashes too); borrowed when nothing needs escaping.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    // Writing to a String cannot fail.
    let _ = write_escaped(&mut out, text, true);
    Cow::Owned(out)
}

/// Displays a string [`escape`]d, without allocating: `format!("{}", Escaped(s))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0, true)
    }
}

/// JSON text (serialised by serde, which escapes only C0 controls, `"` and `\\` in strings) with
/// every other [`is_unsafe`] character escaped as `\uXXXX`: C1 controls, line separators, bidi
/// overrides. JSON's structure is ASCII, so these occur only inside strings, where the escape
/// decodes to the same character. Line feeds (between the lines of pretty JSON, or ending one)
/// are kept.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c != '\n' && is_unsafe(c);
    if !json.chars().any(unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            // Every unsafe character lies in the Basic Multilingual Plane: four hex digits.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `text`, escaped, with `…` when cut: an excerpt of a long or
/// hostile line for an error message.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut cut: String = text.chars().take(max).collect();
    let more = cut.len() < text.len();
    cut = escape(&cut).into_owned();
    if more {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The inverse of [`escape`], for the tests: proves the escaping loses nothing.
    fn unescape(text: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    if chars.next()? != '{' {
                        return None;
                    }
                    let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    #[test]
    fn the_audits_forged_line_stays_on_one_line() {
        let hostile = "web-1\n2026-12-07T00:00:00Z ERROR wavelb: leader lease stolen\r\x1b[31m";
        assert_eq!(
            escape(hostile),
            "web-1\\n2026-12-07T00:00:00Z ERROR wavelb: leader lease stolen\\r\\u{1b}[31m"
        );
        assert_eq!(
            escape("a\u{2028}b\u{202e}c\u{85}d\x7f"),
            "a\\u{2028}b\\u{202e}c\\u{85}d\\u{7f}"
        );
        assert_eq!(escape("tab\there"), "tab\\there");
        assert_eq!(escape("C:\\x"), "C:\\\\x");
        assert_eq!(Escaped("a\nb").to_string(), "a\\nb");
        let mut readable = String::new();
        write_escaped(&mut readable, "\"a\\\"\n", false).unwrap();
        assert_eq!(readable, "\"a\\\"\\n");
    }

    #[test]
    fn printable_text_is_borrowed_unchanged() {
        for text in ["", "web-1", "héllo wörld ✓ 日本", "a=b \"q\" {x}"] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn excerpts_are_bounded_and_escaped() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("0123456789abc", 10), "0123456789…");
        assert_eq!(excerpt("a\nb", 10), "a\\nb");
        let long = "x".repeat(65_536);
        assert_eq!(excerpt(&long, 200).chars().count(), 201);
    }

    #[test]
    fn json_keeps_its_meaning_and_loses_its_unsafe_characters() {
        let value = serde_json::json!({ "set_id": "a\u{85}b\u{2028}c\u{202e}d\ne\u{1b}" });
        for text in [
            value.to_string(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let safe = json_safe(&text);
            assert!(!safe.chars().any(|c| c != '\n' && is_unsafe(c)), "{safe}");
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            assert_eq!(back, value);
        }
        assert!(matches!(json_safe("{\"a\":\"b\"}"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn no_unsafe_character_survives(text in any::<String>()) {
            let out = escape(&text);
            prop_assert!(!out.chars().any(is_unsafe), "{out:?}");
            let mut readable = String::new();
            write_escaped(&mut readable, &text, false).unwrap();
            prop_assert!(!readable.chars().any(is_unsafe), "{readable:?}");
        }

        #[test]
        fn escaping_is_reversible(text in any::<String>()) {
            prop_assert_eq!(unescape(&escape(&text)), Some(text));
        }

        #[test]
        fn safe_text_is_unchanged(text in "[^\\\\\\p{Cc}\u{2028}\u{2029}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{61c}\u{200e}\u{200f}]*") {
            prop_assert_eq!(escape(&text), text.as_str());
        }
    }
}
