//! `wavelb version`: the version and how this binary was built: the git commit (when the build
//! was given one), the cargo features, the target and the profile.
//!
//! No build script: the commit comes from `WAVELB_GIT_COMMIT` at build time
//! (`WAVELB_GIT_COMMIT=$(git rev-parse --short HEAD) cargo build --release`), the target and
//! the profile from the compiler's `cfg` (architecture, OS and environment; debug assertions,
//! which the dev profile has and the release profile has not).

/// How this binary was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BuildInfo {
    /// The crate version.
    pub version: &'static str,
    /// The git commit, if the build was given one.
    pub commit: Option<&'static str>,
    /// The cargo features compiled in.
    pub features: Vec<&'static str>,
    /// `ARCH-OS[-ENV]`, e.g. `x86_64-linux-gnu`.
    pub target: String,
    /// `release` or `dev` (with debug assertions).
    pub profile: &'static str,
}

impl BuildInfo {
    /// This binary's.
    pub(crate) fn current() -> Self {
        let env = if cfg!(target_env = "gnu") {
            "-gnu"
        } else if cfg!(target_env = "musl") {
            "-musl"
        } else {
            ""
        };
        Self {
            version: env!("CARGO_PKG_VERSION"),
            commit: option_env!("WAVELB_GIT_COMMIT").filter(|c| !c.trim().is_empty()),
            features: [("ec2", cfg!(feature = "ec2"))]
                .into_iter()
                .filter_map(|(name, on)| on.then_some(name))
                .collect(),
            target: format!("{}-{}{env}", std::env::consts::ARCH, std::env::consts::OS),
            profile: if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            },
        }
    }

    /// The lines `wavelb version` prints: `wavelb VERSION` (as `--version` says), then one
    /// `key: value` line each.
    pub(crate) fn report(&self) -> String {
        let features = if self.features.is_empty() {
            "(none)".to_owned()
        } else {
            self.features.join(", ")
        };
        format!(
            "wavelb {}\ncommit: {}\nfeatures: {features}\ntarget: {}\nprofile: {}\n",
            self.version,
            self.commit
                .unwrap_or("unknown (built without WAVELB_GIT_COMMIT)"),
            self.target,
            self.profile,
        )
    }
}

/// Prints the version and the build.
pub(crate) fn run() {
    print!("{}", BuildInfo::current().report());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_version_commit_features_target_and_profile() {
        let info = BuildInfo {
            version: "0.1.0",
            commit: Some("be749d9"),
            features: vec!["ec2"],
            target: "x86_64-linux-gnu".into(),
            profile: "release",
        };
        assert_eq!(
            info.report(),
            "wavelb 0.1.0\ncommit: be749d9\nfeatures: ec2\ntarget: x86_64-linux-gnu\n\
             profile: release\n"
        );
        let bare = BuildInfo {
            commit: None,
            features: Vec::new(),
            ..info
        };
        let report = bare.report();
        assert!(
            report.contains("commit: unknown (built without WAVELB_GIT_COMMIT)\n"),
            "{report}"
        );
        assert!(report.contains("features: (none)\n"), "{report}");
    }

    #[test]
    fn this_binary_reports_its_own_build() {
        let info = BuildInfo::current();
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.features.contains(&"ec2"), cfg!(feature = "ec2"));
        assert!(
            info.target
                .starts_with(&format!("{}-linux", std::env::consts::ARCH)),
            "{}",
            info.target
        );
        // The dev profile has debug assertions, the release profile has not.
        let want = if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        };
        assert_eq!(info.profile, want);
        assert!(
            info.report()
                .starts_with(&format!("wavelb {}\ncommit: ", env!("CARGO_PKG_VERSION")))
        );
    }
}
