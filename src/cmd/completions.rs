//! `wavelb completions <shell>`: a shell completion script generated from the CLI definition, so
//! it always matches the subcommands and flags of this binary.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cli = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cli, "wavelb", &mut out);
    out
}

/// Prints the completion script for `shell` to standard output. A reader that goes away early
/// (`| head`) ends it quietly.
pub fn run(shell: Shell) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(&script(shell)) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::anyhow!(
            "cannot write the {shell} completion script: {e}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_completes_the_subcommands_and_their_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(script(shell)).unwrap();
            for word in [
                "health",
                "resolver",
                "lab",
                "records",
                "completions",
                "zones",
                "geo-table",
            ] {
                assert!(script.contains(word), "{shell}: no {word:?} in the script");
            }
        }
    }
}
