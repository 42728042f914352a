//! The console's commands: parsed from a typed line in pure code, each error a usage line.

use registry::ops::Operation;

/// One command typed into the console. Targets and zones are 1-based, as typed and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Command {
    /// Stop the lab.
    Quit,
    /// List the commands.
    Help,
    /// Stop target N's echo server.
    Kill(usize),
    /// Start target N's echo server again.
    Revive(usize),
    /// Stop every target of zone K.
    KillZone(usize),
    /// Start every target of zone K again.
    ReviveZone(usize),
    /// Quarantine, restore or re-weight target N through the Route 53 API.
    Change(usize, Operation),
}

/// The console's commands; `zones`: the multi-zone lab's as well.
pub(super) fn help(zones: bool) -> &'static str {
    if zones {
        "kill N | revive N | kill-zone K | revive-zone K | quarantine N | restore N | weight N W | help | quit"
    } else {
        "kill N | revive N | quarantine N | restore N | weight N W | help | quit"
    }
}

/// A typed line the console cannot run: the line to show (a usage line, or the unknown command
/// and the list), written for the operator at the console.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct Usage(String);

/// Parses one typed line for a lab of `targets` targets in `zones` zones. `Ok(None)`: an empty
/// line. `Err`: the line to show (a usage line, or the unknown command and the list); it may
/// quote the typed text, so callers print it escaped.
pub(super) fn parse(line: &str, targets: usize, zones: usize) -> Result<Option<Command>, Usage> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize, max: usize| {
        words
            .get(i)
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| (1..=max).contains(n))
    };
    // Exactly one argument, in range, or the usage line.
    let one = |max: usize, usage: &str| match (words.len(), number(1, max)) {
        (2, Some(n)) => Ok(n),
        _ => Err(Usage(format!("usage: {usage} (1-{max})"))),
    };
    let command = match words.as_slice() {
        [] => return Ok(None),
        ["quit" | "exit" | "q"] => Command::Quit,
        ["help" | "?"] => Command::Help,
        ["kill-zone", ..] if zones > 1 => Command::KillZone(one(zones, "kill-zone K")?),
        ["revive-zone", ..] if zones > 1 => Command::ReviveZone(one(zones, "revive-zone K")?),
        ["kill", ..] => Command::Kill(one(targets, "kill N")?),
        ["revive", ..] => Command::Revive(one(targets, "revive N")?),
        ["quarantine" | "restore" | "weight", ..] => {
            let usage = || {
                Usage(format!(
                    "usage: quarantine N | restore N | weight N W (N 1-{targets}, W 0-255)"
                ))
            };
            let n = number(1, targets).ok_or_else(usage)?;
            let op = match (words[0], words.len()) {
                ("quarantine", 2) => Operation::Quarantine,
                ("restore", 2) => Operation::Restore,
                ("weight", 3) => Operation::SetWeight(words[2].parse::<u8>().map_err(|_| usage())?),
                _ => return Err(usage()),
            };
            Command::Change(n, op)
        }
        _ => {
            return Err(Usage(format!(
                "unknown command {line:?}; commands: {}",
                help(zones > 1)
            )));
        }
    };
    Ok(Some(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_command() {
        assert_eq!(parse("  ", 4, 1), Ok(None));
        assert_eq!(parse("quit", 4, 1), Ok(Some(Command::Quit)));
        assert_eq!(parse("q", 4, 1), Ok(Some(Command::Quit)));
        assert_eq!(parse("help", 4, 1), Ok(Some(Command::Help)));
        assert_eq!(parse("kill 2", 4, 1), Ok(Some(Command::Kill(2))));
        assert_eq!(parse(" revive  4 ", 4, 1), Ok(Some(Command::Revive(4))));
        assert_eq!(
            parse("quarantine 1", 4, 1),
            Ok(Some(Command::Change(1, Operation::Quarantine)))
        );
        assert_eq!(
            parse("restore 3", 4, 1),
            Ok(Some(Command::Change(3, Operation::Restore)))
        );
        assert_eq!(
            parse("weight 2 80", 4, 1),
            Ok(Some(Command::Change(2, Operation::SetWeight(80))))
        );
        assert_eq!(parse("kill-zone 3", 6, 3), Ok(Some(Command::KillZone(3))));
        assert_eq!(
            parse("revive-zone 1", 6, 3),
            Ok(Some(Command::ReviveZone(1)))
        );
    }

    #[test]
    fn a_bad_argument_gets_the_usage_line() {
        let usage = "usage: quarantine N | restore N | weight N W (N 1-4, W 0-255)";
        assert_eq!(parse("weight 2 abc", 4, 1), Err(Usage(usage.into())));
        assert_eq!(parse("weight 2 256", 4, 1), Err(Usage(usage.into())));
        assert_eq!(parse("weight 2", 4, 1), Err(Usage(usage.into())));
        assert_eq!(parse("quarantine 5", 4, 1), Err(Usage(usage.into())));
        assert_eq!(parse("quarantine 0", 4, 1), Err(Usage(usage.into())));
        assert_eq!(parse("restore 1 2", 4, 1), Err(Usage(usage.into())));
        assert_eq!(
            parse("kill x", 4, 1),
            Err(Usage("usage: kill N (1-4)".into()))
        );
        assert_eq!(
            parse("kill", 4, 1),
            Err(Usage("usage: kill N (1-4)".into()))
        );
        assert_eq!(
            parse("revive 1 2", 4, 1),
            Err(Usage("usage: revive N (1-4)".into()))
        );
        assert_eq!(
            parse("kill-zone 9", 6, 3),
            Err(Usage("usage: kill-zone K (1-3)".into()))
        );
    }

    #[test]
    fn an_unknown_command_lists_the_commands() {
        let e = parse("bogus", 4, 1).unwrap_err().0;
        assert!(
            e.starts_with("unknown command \"bogus\"; commands: kill N"),
            "{e}"
        );
        // Zone commands exist only with zones.
        let e = parse("kill-zone 1", 4, 1).unwrap_err().0;
        assert!(e.starts_with("unknown command"), "{e}");
        assert!(
            !e.split("commands:").nth(1).unwrap().contains("kill-zone"),
            "{e}"
        );
        assert!(parse("x", 6, 3).unwrap_err().0.contains("kill-zone K"));
    }
}
