//! The state file of older versions (`state.json`): the whole [`Store`] as JSON behind a header
//! with its length and SHA-256. It is only read now, once, when [`crate::db`] moves it into the
//! state database; a torn or corrupt file is a clear error instead of an empty zone. (Tests
//! write one with `StateFile::save`, as the older versions did.)

use std::fs;
#[cfg(test)]
use std::fs::File;
#[cfg(test)]
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::Store;

const MAGIC: &str = "wavelb-resolver-state v1";
const FILE_NAME: &str = "state.json";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading or writing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`cannot read`, `cannot write`, …), the start of the message.
        action: &'static str,
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The OS error (permissions, full disk, …).
        source: std::io::Error,
    },
    /// The file exists but is not a complete, intact state file.
    #[error(
        "the state file {path} is unusable: {why}. Nothing was loaded. Restore it from a backup, \
         or move it away to start with no zones"
    )]
    Corrupt {
        /// The state file that was read.
        path: PathBuf,
        /// What is wrong with it.
        why: Unusable,
    },
}

/// What is wrong with a state file (or with the state, when it cannot be written).
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    /// No newline at all.
    #[error("it has no header line (truncated or not a wavelb state file)")]
    NoHeader,
    /// The header line is not UTF-8.
    #[error("the header is not text")]
    HeaderNotText,
    /// The header's magic is wrong.
    #[error("the header {0:?} does not start with {MAGIC:?}")]
    Magic(String),
    /// The header lacks a field.
    #[error("the header lacks len= or sha256=")]
    HeaderFields,
    /// The payload's length is not the header's.
    #[error("it is truncated or extended: the header says {header} bytes, the file holds {held}")]
    Length {
        /// The header's `len=`.
        header: usize,
        /// The bytes after the header.
        held: usize,
    },
    /// The checksum does not match.
    #[error("its checksum does not match its content")]
    Checksum,
    /// The JSON does not parse.
    #[error("its content does not parse: {0}")]
    Content(serde_json::Error),
    /// The state does not serialise.
    #[error("cannot serialise the state: {0}")]
    Serialise(serde_json::Error),
}

/// The state file in one directory.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file inside `dir` (created if missing).
    pub fn in_dir(dir: &Path) -> Result<Self, PersistError> {
        fs::create_dir_all(dir).map_err(|source| PersistError::Io {
            action: "cannot create the state directory",
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            path: dir.join(FILE_NAME),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the store; `Ok(None)` when there is no file yet.
    pub fn load(&self) -> Result<Option<Store>, PersistError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PersistError::Io {
                    action: "cannot read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        decode(&bytes)
            .map(|mut store| {
                store.recount();
                Some(store)
            })
            .map_err(|why| PersistError::Corrupt {
                path: self.path.clone(),
                why,
            })
    }

    /// Writes the store as older versions did (write → fsync → rename → fsync(dir)): tests
    /// make such a file to migrate.
    #[cfg(test)]
    pub fn save(&self, store: &Store) -> Result<(), PersistError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| PersistError::Io {
                action,
                path,
                source,
            }
        };
        let bytes = encode(store).map_err(|e| PersistError::Corrupt {
            path: self.path.clone(),
            why: Unusable::Serialise(e),
        })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = File::create(&tmp).map_err(io("cannot create", &tmp))?;
        file.write_all(&bytes).map_err(io("cannot write", &tmp))?;
        file.sync_all().map_err(io("cannot fsync", &tmp))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(io("cannot rename into place", &self.path))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io("cannot fsync the directory", dir))?;
        }
        Ok(())
    }
}

#[cfg(test)]
fn encode(store: &Store) -> Result<Vec<u8>, serde_json::Error> {
    let payload = serde_json::to_vec(store)?;
    let digest = hex(&Sha256::digest(&payload));
    let mut out = format!("{MAGIC} len={} sha256={digest}\n", payload.len()).into_bytes();
    out.extend_from_slice(&payload);
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<Store, Unusable> {
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(Unusable::NoHeader)?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| Unusable::HeaderNotText)?;
    let rest = header
        .strip_prefix(MAGIC)
        .ok_or_else(|| Unusable::Magic(header.to_owned()))?;
    let mut len = None;
    let mut digest = None;
    for field in rest.split_whitespace() {
        if let Some(v) = field.strip_prefix("len=") {
            len = v.parse::<usize>().ok();
        } else if let Some(v) = field.strip_prefix("sha256=") {
            digest = Some(v.to_owned());
        }
    }
    let (len, digest) = len.zip(digest).ok_or(Unusable::HeaderFields)?;
    let payload = &bytes[newline + 1..];
    if payload.len() != len {
        return Err(Unusable::Length {
            header: len,
            held: payload.len(),
        });
    }
    if hex(&Sha256::digest(payload)) != digest {
        return Err(Unusable::Checksum);
    }
    serde_json::from_slice(payload).map_err(Unusable::Content)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Store {
        let mut s = Store::default();
        s.create_zone("lab.test", "r", None, 0).unwrap();
        s
    }

    #[test]
    fn round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::in_dir(dir.path()).unwrap();
        assert!(f.load().unwrap().is_none());
        // Ids are random: the store loaded is the one saved, not another sample.
        let saved = sample();
        f.save(&saved).unwrap();
        assert_eq!(f.load().unwrap(), Some(saved));
    }

    #[test]
    fn health_checks_and_tags_are_kept_but_probe_results_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::in_dir(dir.path()).unwrap();
        let mut s = sample();
        let id = s.failed_test_check("r");
        let check = s.health_check(&id).unwrap().clone();
        let kind = crate::tags::ResourceKind::HealthCheck;
        s.change_tags(kind, &check.id, &[("k".into(), "v".into())], &[])
            .unwrap();
        f.save(&s).unwrap();
        let loaded = f.load().unwrap().unwrap();
        assert_eq!(loaded.health_check(&check.id), Ok(&check));
        assert_eq!(loaded.tags(kind, &check.id).unwrap().len(), 1);
        // A restarted resolver starts every check healthy, as Route 53 starts a new one.
        assert_eq!(loaded.health_statuses().get(&check.id), Some(&true));
        assert_eq!(s.health_statuses().get(&check.id), Some(&false));
    }

    #[test]
    fn truncated_and_corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::in_dir(dir.path()).unwrap();
        f.save(&sample()).unwrap();
        let good = fs::read(f.path()).unwrap();
        fs::write(f.path(), &good[..good.len() - 10]).unwrap();
        let e = f.load().unwrap_err().to_string();
        assert!(e.contains("truncated") && e.contains("move it away"), "{e}");
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x20;
        fs::write(f.path(), &flipped).unwrap();
        assert!(f.load().unwrap_err().to_string().contains("checksum"));
        fs::write(f.path(), b"").unwrap();
        assert!(f.load().unwrap_err().to_string().contains("no header line"));
    }
}
