//! `wavelb manpages <dir>`: the man pages, generated from the CLI definition (clap_mangen), so they
//! always match the subcommands and flags of this binary. One page for `wavelb` and one per
//! subcommand (`wavelb-health.1`, …), as git and cargo ship theirs. The Debian package installs
//! them (scripts/package.sh).

use std::path::Path;

use clap::CommandFactory;

/// Every page as (file name, roff text): `wavelb.1` first, then `wavelb-<subcommand>.1`.
pub(crate) fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
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

/// clap_mangen's sections in its order, with a SEE ALSO section naming the documentation
/// ([`DOCS`]) where it would put an `after_help` text under the heading EXTRA.
fn render(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    let shown = |hidden: bool| !hidden;
    let has_options = cmd.get_arguments().any(|a| shown(a.is_hide_set()));
    let has_subcommands = cmd.get_subcommands().any(|c| shown(c.is_hide_set()));
    let has_version = cmd.get_version().is_some() || cmd.get_long_version().is_some();
    let man = clap_mangen::Man::new(cmd);
    let mut sections = || -> std::io::Result<()> {
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_description_section(&mut out)?;
        if has_options {
            man.render_options_section(&mut out)?;
        }
        if has_subcommands {
            man.render_subcommands_section(&mut out)?;
        }
        out.extend_from_slice(see_also(&name).as_bytes());
        if has_version {
            man.render_version_section(&mut out)?;
        }
        Ok(())
    };
    sections().map_err(|e| anyhow::anyhow!("cannot render the man page of {name}: {e}"))?;
    Ok(out)
}

/// Where the documentation is installed (the Debian package, scripts/package.sh) and where it
/// is in the source.
pub(crate) const DOCS: &[(&str, &str)] = &[
    ("configuration.md", "every key of the configuration file"),
    (
        "metrics.md",
        "every metric and alert, and what to do about it",
    ),
    (
        "record-protocol.md",
        "the records wavelb writes in Route 53 and how writers share a pool",
    ),
    (
        "route53-compatibility.md",
        "what the lab resolver does like Route 53, and what not",
    ),
    ("robustness.md", "every bound on hostile input"),
];

/// The installed documentation's directory.
pub(crate) const DOC_DIR: &str = "/usr/share/doc/wavelb";

/// The SEE ALSO section of page `name` (roff): the main page (on a subcommand's page), then
/// every document of [`DOCS`] by its installed path, and the examples.
fn see_also(name: &str) -> String {
    let mut roff = String::from(".SH \"SEE ALSO\"\n");
    if name != "wavelb" {
        roff.push_str("\\fBwavelb\\fR(1)\n.PP\n");
    }
    roff.push_str(&text(&format!(
        "The documentation is installed in {DOC_DIR}/ by the Debian package, and is in docs/ \
         in the source:"
    )));
    for (file, what) in DOCS {
        roff.push_str(".TP\n");
        roff.push_str(&format!(
            "\\fI{}\\fR\n",
            escape(&format!("{DOC_DIR}/{file}"))
        ));
        roff.push_str(&text(what));
    }
    roff.push_str(".TP\n");
    roff.push_str(&format!(
        "\\fI{}\\fR\n",
        escape(&format!("{DOC_DIR}/examples/"))
    ));
    roff.push_str(&text(
        "commented example configurations, the Prometheus rules and the Grafana dashboard",
    ));
    roff
}

/// One line of roff text.
fn text(line: &str) -> String {
    format!("{}\n", escape(line))
}

/// `text` escaped for roff: backslashes, hyphens as `\-` (so they print as typed), and a
/// leading `.` or `'` (a request) made literal.
fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Writes every page into `dir` (created if missing) and prints one line per file.
pub(crate) fn run(dir: &Path) -> anyhow::Result<()> {
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
        // Issue 24, item 8: every page names the installed documentation, by its path.
        for (name, text) in &pages {
            let text = String::from_utf8(text.clone()).unwrap();
            assert!(text.contains(".SH \"SEE ALSO\""), "{name}");
            assert!(
                text.contains("/usr/share/doc/wavelb/configuration.md"),
                "{name}: {text}"
            );
            assert!(
                text.contains("/usr/share/doc/wavelb/route53\\-compatibility.md"),
                "{name}"
            );
            assert!(!text.contains(".SH EXTRA"), "{name}");
            // The global options under their own heading.
            assert!(text.contains(".SH \"GLOBAL OPTIONS\""), "{name}: {text}");
        }
        assert!(resolver.contains("\\fBwavelb\\fR(1)"), "{resolver}");
        // `wavelb --help` names the same documents, and the package installs them there.
        let package = include_str!("../../scripts/package.sh");
        let check = include_str!("../../scripts/check-package.sh");
        for (file, _) in DOCS {
            assert!(crate::cli::DOCS_HELP.contains(file), "{file}");
            assert!(package.contains(&format!(" docs/{file}")), "{file}");
            assert!(check.contains(&format!("{DOC_DIR}/{file}")), "{file}");
        }
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
