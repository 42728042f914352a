//! `wavelb completions <shell>`: a shell completion script generated from the CLI definition, so
//! it always matches the subcommands and flags of this binary.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

/// The completion script for `shell`.
pub(crate) fn script(shell: Shell) -> Vec<u8> {
    let mut cli = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cli, "wavelb", &mut out);
    out
}

/// Prints the completion script for `shell` to standard output. A reader that goes away early
/// (`| head`) ends it quietly.
pub(crate) fn run(shell: Shell) -> anyhow::Result<()> {
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

    /// Issue 24, item 9: `wavelb probe <TAB>` offers the probe kinds.
    #[test]
    fn completions_offer_the_probe_kinds() {
        let bash = String::from_utf8(script(Shell::Bash)).unwrap();
        // The words bash offers after `wavelb probe`: its case's first `opts="…"`.
        let words: Vec<&str> = bash
            .split("wavelb__subcmd__probe)")
            .nth(1)
            .and_then(|case| case.split("opts=\"").nth(1))
            .and_then(|opts| opts.split('"').next())
            .unwrap_or_else(|| panic!("no probe case in the bash script:\n{bash}"))
            .split_whitespace()
            .collect();
        for kind in probe::ProbeKind::ALL {
            assert!(
                words.contains(&kind.as_str()),
                "bash does not offer {kind:?}: {words:?}"
            );
        }
        // zsh offers them too (clap_complete's fish script completes no positional's values).
        let zsh = String::from_utf8(script(Shell::Zsh)).unwrap();
        assert!(
            zsh.contains("(udp quic quic-ping stun srt dns tcp)"),
            "zsh: no probe kinds"
        );
    }
}
