//! `wavelb manpages <dir>`: the man pages, generated from the CLI definition (clap_mangen), so they
//! always match the subcommands and flags of this binary. One page for `wavelb` and one per
//! subcommand (`wavelb-health.1`, …), as git and cargo ship theirs. The Debian package installs
//! them (scripts/package.sh).

use std::path::Path;

use clap::CommandFactory;

/// Every page as (file name, roff text): `wavelb.1` first, then `wavelb-<subcommand>.1`.
pub fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut cli = crate::cli::Cli::command();
    // Building propagates the global options (--config, -v, …) and the version to the subcommands.
    cli.build();
    let mut pages = vec![("wavelb.1".to_owned(), render(cli.clone())?)];
    // `help` is clap's own subcommand, described on the main page.
    for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("wavelb-{}", sub.get_name());
        // The page's NAME and SYNOPSIS say `wavelb-health`, the way `man wavelb-health` finds it.
        pages.push((format!("{name}.1"), render(sub.clone().name(name.clone()))?));
    }
    Ok(pages)
}

fn render(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| anyhow::anyhow!("cannot render the man page of {name}: {e}"))?;
    Ok(out)
}

/// Writes every page into `dir` (created if missing) and prints one line per file.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the man page directory {}: {e}",
            dir.display()
        )
    })?;
    for (file, text) in pages()? {
        let path = dir.join(&file);
        std::fs::write(&path, text).map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: {e}; check the directory is writable",
                path.display()
            )
        })?;
        println!("{}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_subcommand_naming_its_flags() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "wavelb.1",
            "wavelb-agent.1",
            "wavelb-health.1",
            "wavelb-resolver.1",
            "wavelb-lab.1",
            "wavelb-records.1",
            "wavelb-manpages.1",
        ] {
            assert!(names.contains(&want), "no {want} in {names:?}");
        }
        assert!(!names.contains(&"wavelb-help.1"), "{names:?}");
        let page = |name: &str| {
            let (_, text) = pages.iter().find(|(n, _)| n == name).unwrap();
            String::from_utf8(text.clone()).unwrap()
        };
        // roff escapes '-' as '\-'.
        let resolver = page("wavelb-resolver.1");
        assert!(resolver.contains(".TH wavelb-resolver 1"), "{resolver}");
        assert!(resolver.contains("\\-\\-dns\\-listen"), "{resolver}");
        let root = page("wavelb.1");
        assert!(root.contains("wavelb\\-health(1)"), "{root}");
        assert!(root.contains(env!("CARGO_PKG_VERSION")), "{root}");
        // Global options appear on every subcommand's page, and so does the version.
        assert!(resolver.contains("\\-\\-config"), "{resolver}");
        assert!(resolver.contains(env!("CARGO_PKG_VERSION")), "{resolver}");
    }

    #[test]
    fn run_writes_every_page() {
        let dir = tempfile::tempdir().unwrap();
        run(&dir.path().join("man1")).unwrap();
        let mut written: Vec<String> = std::fs::read_dir(dir.path().join("man1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        written.sort();
        let mut want: Vec<String> = pages().unwrap().into_iter().map(|(n, _)| n).collect();
        want.sort();
        assert_eq!(written, want);
    }
}
