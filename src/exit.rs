//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration.

use std::process::ExitCode;

use registry::escape::write_escaped;

/// A failure caused by how wavelb was invoked or configured (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

/// Maps the outcome of a subcommand to the process exit code, printing the error chain.
pub(crate) fn code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", shown(&format!("{err:#}")));
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// An error chain as printed: it may hold text from outside (a set identifier, an API body),
/// so every control character is escaped, except the line breaks wavelb's own messages use to
/// list items (a newline and two spaces: such a line cannot pass for a log line or an `error:`).
/// Backslashes are kept: messages quote values with `{:?}`, already escaped.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split("\n  ").enumerate() {
        if i > 0 {
            out.push_str("\n  ");
        }
        // Writing to a String cannot fail.
        let _ = write_escaped(&mut out, part, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_cannot_forge_a_line() {
        let text = "cannot change target web-1\n2026-12-07T00:00:00Z ERROR wavelb: leader lease \
                    stolen\r\x1b[31m: refused";
        let out = shown(text);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.contains("web-1\\n2026") && out.contains("\\r\\u{1b}[31m"),
            "{out}"
        );
        // wavelb's own indented lists stay lists; a hostile indented line stays indented.
        let listed = "the geo table t is refused; fix these lines:\n  t:1: bad\n  t:2: \x1b[2Jbad";
        let out = shown(listed);
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(out.lines().skip(1).all(|l| l.starts_with("  ")), "{out}");
        assert!(out.contains("\\u{1b}[2J"), "{out}");
    }
}
