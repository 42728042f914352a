//! Files an operator names (the configuration, the ownership key, the resolver's API
//! credentials, the geo table): regular files only, read to a bound, and checked for
//! permissions that let others read a secret.
//!
//! A FIFO does not block the open (`O_NONBLOCK`), a device, a directory or a socket is refused
//! by `fstat` on the opened file (no race with a rename), and at most `max + 1` bytes are read
//! whatever size the file claims (procfs files claim 0, a growing file grows).

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::escape::escape;

/// The largest configuration file (`--config`) read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The largest credentials file (`--api-credentials`) read.
pub const MAX_CREDENTIALS_BYTES: u64 = 1 << 20;

/// Why an operator's file cannot be used. Paths are shown escaped.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path, escaped.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not a regular file (a FIFO, a device, a directory, a socket).
    #[error("{path} is a {kind}, not a regular file; give the path of a file")]
    NotRegular {
        /// The path, escaped.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// Larger than the bound for its kind.
    #[error("{path} is larger than {max} bytes")]
    TooLarge {
        /// The path, escaped.
        path: String,
        /// The bound.
        max: u64,
    },
    /// Not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotText {
        /// The path, escaped.
        path: String,
    },
}

/// A path as error messages and logs show it: escaped, so a name holding a newline stays on
/// its line.
pub fn shown(path: &Path) -> String {
    escape(&path.to_string_lossy()).into_owned()
}

fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Opens `path` (symbolic links followed) and returns the file with its metadata, if it is a
/// regular file of at most `max` bytes.
fn open(path: &Path, max: u64) -> Result<(File, Metadata), FileError> {
    let io = |source| FileError::Io {
        path: shown(path),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        // A FIFO with no writer would block a plain open forever; the regular file this accepts
        // reads the same either way.
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(FileError::NotRegular {
            path: shown(path),
            kind: kind(meta.file_type()),
        });
    }
    if meta.len() > max {
        return Err(FileError::TooLarge {
            path: shown(path),
            max,
        });
    }
    Ok((file, meta))
}

/// Reads the regular file at `path`, at most `max` bytes.
///
/// # Errors
///
/// [`FileError`]: cannot open or read it, not a regular file, more than `max` bytes.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    read_with_meta(path, max).map(|(bytes, _)| bytes)
}

fn read_with_meta(path: &Path, max: u64) -> Result<(Vec<u8>, Metadata), FileError> {
    let (file, meta) = open(path, max)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte past the bound, so a file that grew (or claimed a wrong size) is refused, not cut.
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io {
            path: shown(path),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            path: shown(path),
            max,
        });
    }
    Ok((bytes, meta))
}

/// Reads the regular file at `path` as UTF-8 text, at most `max` bytes.
///
/// # Errors
///
/// As [`read`], and [`FileError::NotText`].
pub fn read_text(path: &Path, max: u64) -> Result<String, FileError> {
    String::from_utf8(read(path, max)?).map_err(|_| FileError::NotText { path: shown(path) })
}

/// A secret file (a key, credentials) others may read: what to tell the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoosePermissions {
    /// The path, escaped.
    pub path: String,
    /// The permission bits (`0o640`, …).
    pub mode: u32,
    /// Who else can read or write it.
    pub who: &'static str,
}

impl std::fmt::Display for LoosePermissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} holds a secret and {} (mode {:04o}); run `chmod 600` on it, or `chown \
             root:wavelb` and `chmod 640` for the service's group",
            self.path, self.who, self.mode
        )
    }
}

/// The rule for a secret file, as ssh has for its keys, with the package's layout allowed:
/// others (the world) must have no access, the group must not write, and the group may read
/// only when it is the process's own group (`root:wavelb 0640` read by the service running as
/// `wavelb`). `process_gid` is the process's effective group.
pub fn loose_permissions(mode: u32, file_gid: u32, process_gid: u32) -> Option<&'static str> {
    if mode & 0o007 != 0 {
        Some("every user can access it")
    } else if mode & 0o020 != 0 {
        Some("its group can write it")
    } else if mode & 0o040 != 0 && file_gid != process_gid {
        Some("its group (not this process's) can read it")
    } else {
        None
    }
}

/// The process's effective group: the group of `/proc/self`, which procfs gives the process's
/// effective ids. `None` where there is no procfs.
fn process_gid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.gid())
}

/// Reads a secret file like [`read`], and warns (once per path in a process) when its
/// permissions are too loose (see [`loose_permissions`]).
///
/// # Errors
///
/// As [`read`].
pub fn read_secret(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let (bytes, loose) = read_checked(path, max)?;
    if let Some(loose) = loose {
        static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        // A poisoned list only means a panic elsewhere while warning: warn again then.
        let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
        if !warned.contains(&loose.path) {
            tracing::warn!(path = %loose.path, mode = %format_args!("{:04o}", loose.mode), "{loose}");
            warned.push(loose.path);
        }
    }
    Ok(bytes)
}

/// [`read`], and whether the file's permissions are too loose for a secret.
fn read_checked(path: &Path, max: u64) -> Result<(Vec<u8>, Option<LoosePermissions>), FileError> {
    let (bytes, meta) = read_with_meta(path, max)?;
    let mode = meta.permissions().mode() & 0o7777;
    // Without procfs the group cannot be judged: only the world and group-write rules apply.
    let gid = process_gid().unwrap_or(meta.gid());
    let loose = loose_permissions(mode, meta.gid(), gid).map(|who| LoosePermissions {
        path: shown(path),
        mode,
        who,
    });
    Ok((bytes, loose))
}

/// The longest excerpt of a file's line an error message shows, in characters.
pub const EXCERPT_CHARS: usize = 120;

/// A parse error in a file's `text` as one line: the line and column of `span` (byte offsets),
/// the parser's `message` (escaped), and the offending line, escaped and cut at
/// [`EXCERPT_CHARS`], so a 65 KB line or one full of control characters is not echoed.
pub fn error_at(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let message = escape(message.trim_end());
    let Some(start) = span.map(|s| s.start.min(text.len())) else {
        return message.into_owned();
    };
    // A span inside a multi-byte character: back up to its start.
    let start = (0..=start)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let excerpt = crate::escape::excerpt(
        text[line_start..line_end].trim_end_matches('\r'),
        EXCERPT_CHARS,
    );
    format!("line {line}, column {column}: {message} (in `{excerpt}`)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_regular_file_and_a_symlink_to_one_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg.toml");
        std::fs::write(&path, "a = 1\n").unwrap();
        assert_eq!(read_text(&path, 100).unwrap(), "a = 1\n");
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(read(&link, 6).unwrap(), b"a = 1\n");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // Nobody writes to it: a blocking open would hang this test.
        let err = read(&fifo, 100).unwrap_err();
        assert!(
            matches!(err, FileError::NotRegular { kind: "FIFO", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let err = read(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: "character device",
                    ..
                }
            ),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path(), 100).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: "directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn an_oversize_file_is_refused_and_a_lying_size_still_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&[b'x'; 101])
            .unwrap();
        assert!(matches!(
            read(&path, 100).unwrap_err(),
            FileError::TooLarge { max: 100, .. }
        ));
        assert_eq!(read(&path, 101).unwrap().len(), 101);
        // procfs files claim a size of 0: the read itself is bounded.
        let err = read(Path::new("/proc/self/maps"), 8).unwrap_err();
        assert!(matches!(err, FileError::TooLarge { max: 8, .. }), "{err}");
    }

    #[test]
    fn a_missing_file_and_a_hostile_name_are_reported_escaped() {
        let err = read(Path::new("/nonexistent/a\nb"), 10).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("a\\nb") && !text.contains('\n'), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_text(&path, 10).unwrap_err(),
            FileError::NotText { .. }
        ));
    }

    #[test]
    fn secrets_others_can_read_are_reported() {
        assert_eq!(loose_permissions(0o600, 5, 7), None);
        assert_eq!(loose_permissions(0o400, 5, 7), None);
        // The package's layout: root:wavelb 0640, read by the service running as wavelb.
        assert_eq!(loose_permissions(0o640, 7, 7), None);
        assert!(loose_permissions(0o640, 5, 7).is_some());
        assert!(loose_permissions(0o660, 7, 7).is_some());
        assert!(loose_permissions(0o644, 7, 7).is_some());
        assert!(loose_permissions(0o604, 7, 7).is_some());
        assert!(loose_permissions(0o602, 7, 7).is_some());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (bytes, loose) = read_checked(&path, 100).unwrap();
        assert_eq!(bytes, b"0123456789abcdef");
        let loose = loose.unwrap();
        assert_eq!(loose.mode, 0o644);
        let text = loose.to_string();
        assert!(
            text.contains("0644") && text.contains("chmod 600") && text.contains("key"),
            "{text}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_checked(&path, 100).unwrap().1, None);
        assert_eq!(read_secret(&path, 100).unwrap(), b"0123456789abcdef");
    }
    #[test]
    fn parse_errors_are_one_bounded_line() {
        let text = "a = 1\nbad = \"soon\"\n";
        let at = text.find("\"soon").unwrap();
        assert_eq!(
            error_at(text, Some(at..at + 6), "invalid duration\n"),
            "line 2, column 7: invalid duration (in `bad = \"soon\"`)"
        );
        assert_eq!(error_at(text, None, "oops"), "oops");
        let long = format!("k = \"{}\x1b\n", "x".repeat(65_536));
        let shown = error_at(&long, Some(4..5), "unterminated\nforged");
        assert!(shown.len() < 300, "{}", shown.len());
        assert!(!shown.chars().any(crate::escape::is_unsafe), "{shown}");
        assert!(
            shown.contains("unterminated\\nforged") && shown.contains('…'),
            "{shown}"
        );
        // A span past the end or inside a character does not panic.
        assert!(error_at("é", Some(1..2), "m").starts_with("line 1, column 1"));
        assert!(error_at("a", Some(9..10), "m").starts_with("line 1, column 2"));
    }
}
