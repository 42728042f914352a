//! The durable state: an SQLite database (`state.sqlite3` in the state directory) that a change
//! writes only the rows it touched to, in one transaction, committed (WAL, `synchronous=FULL`:
//! fsync'd) before the change is acknowledged. Why SQLite, and how an operator reads the file
//! with the `sqlite3` tool, is in docs/robustness.md ("The state database").
//!
//! The tables hold what [`Store`] holds, one row per zone, record set, change, health check,
//! deleted caller reference, tag and CIDR collection, the record sets, health checks and CIDR
//! collections (each with its blocks, at most [`MAX_BLOCKS_PER_COLLECTION`]) as JSON. A state
//! file of an older version (`state.json`, [`crate::persist`]) is moved into a new database at
//! start and renamed `state.json.migrated`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use registry::model::RecordSet;
use registry::name::Fqdn;
use registry::zone::ZoneRecords;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::changes::{ChangeRecord, MAX_CHANGE_LOG};
use crate::cidr_collections::CidrCollection;
#[cfg(doc)]
use crate::cidr_collections::MAX_BLOCKS_PER_COLLECTION;
use crate::health_checks::HealthCheck;
use crate::health_checks::store::MAX_DELETED_REFERENCES;
use crate::persist::{PersistError, StateFile};
use crate::store::{Parts, Store, Touched};
use crate::zones::HostedZone;

/// The database's file name inside the state directory.
pub const FILE_NAME: &str = "state.sqlite3";
/// What an older state file is renamed to once its content is in the database.
const MIGRATED_SUFFIX: &str = "migrated";
/// The schema this version writes (`meta.schema_version`). 2: record sets may carry
/// `CidrRoutingConfig` and `MultiValueAnswer`, and CIDR collections have a table. A version-1
/// database is opened and marked 2 (its rows read as they are: the new fields default to
/// absent); a wavelb that reads only version 1 refuses a version-2 database instead of loading
/// IP-based and multivalue sets as plain ones and losing their routing at its next write.
const SCHEMA_VERSION: i64 = 2;
/// The oldest schema this version opens (and upgrades to [`SCHEMA_VERSION`]).
const OLDEST_SCHEMA_VERSION: i64 = 1;
/// How long a statement waits for a lock another connection (an operator's `sqlite3`) holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS zones (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    caller_reference TEXT NOT NULL,
    comment TEXT,
    serial INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS record_sets (
    zone_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    set_identifier TEXT NOT NULL,
    record_set TEXT NOT NULL,
    PRIMARY KEY (zone_id, name, type, set_identifier)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    submitted_at_ms INTEGER NOT NULL,
    comment TEXT
);
CREATE TABLE IF NOT EXISTS health_checks (
    id TEXT PRIMARY KEY,
    health_check TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deleted_check_references (
    seq INTEGER PRIMARY KEY,
    caller_reference TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    resource TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cidr_collections (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL
) WITHOUT ROWID;
";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The state directory could not be created.
    #[error("cannot create the state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite failed (a full disk, permissions, a lock held past the busy timeout, …).
    #[error("the state database {path}: cannot {action}: {source}")]
    Sqlite {
        /// What was being done.
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database exists but is not an intact wavelb state database.
    #[error(
        "the state database {path} is unusable: {why}. Nothing was loaded. Restore it from a \
         backup, or move it away to start with no zones"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A value could not be written as JSON (cannot happen with the store's types).
    #[error("cannot serialise the state: {0}")]
    Encode(#[from] serde_json::Error),
    /// The older state file could not be read (it stays where it is).
    #[error(transparent)]
    Legacy(#[from] PersistError),
    /// The older state file could not be renamed after it was moved into the database.
    #[error("cannot rename {path} after moving it into the state database: {source}")]
    Rename {
        /// The older state file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The state database of one state directory, open.
#[derive(Debug)]
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

impl StateDb {
    /// Opens (or creates) the database in `dir`, moves an older `state.json` into it, and loads
    /// the store.
    ///
    /// # Errors
    ///
    /// [`DbError`]: a directory or database that cannot be opened, a corrupt database or
    /// older state file (nothing is loaded then), a schema from a newer version.
    pub fn open(dir: &Path) -> Result<(Self, Store), DbError> {
        fs::create_dir_all(dir).map_err(|source| DbError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let conn = Connection::open(&path).map_err(|source| DbError::Sqlite {
            action: "open it",
            path: path.clone(),
            source,
        })?;
        let mut db = Self { conn, path };
        db.prepare()?;
        db.migrate(dir)?;
        let store = db.load()?;
        Ok((db, store))
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError + '_ {
        move |source| match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                DbError::Corrupt {
                    path: self.path.clone(),
                    why: source.to_string(),
                }
            }
            _ => DbError::Sqlite {
                action,
                path: self.path.clone(),
                source,
            },
        }
    }

    /// Settings, the schema, and its version.
    fn prepare(&mut self) -> Result<(), DbError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(self.sqlite("set the busy timeout"))?;
        // WAL: a commit appends to the log and fsyncs it (synchronous=FULL), readers such as an
        // operator's sqlite3 never block the writer.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(self.sqlite("switch to WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::Corrupt {
                path: self.path.clone(),
                why: format!("it stays in journal mode {mode}, not WAL"),
            });
        }
        self.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")
            .map_err(self.sqlite("set synchronous=FULL"))?;
        self.conn
            .execute_batch(SCHEMA)
            .map_err(self.sqlite("create its tables"))?;
        let version: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sqlite("read the schema version"))?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                self.conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        params![SCHEMA_VERSION.to_string()],
                    )
                    .map_err(self.sqlite("write the schema version"))?;
            }
            Some(Ok(SCHEMA_VERSION)) => {}
            Some(Ok(old)) if (OLDEST_SCHEMA_VERSION..SCHEMA_VERSION).contains(&old) => {
                self.conn
                    .execute(
                        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                        params![SCHEMA_VERSION.to_string()],
                    )
                    .map_err(self.sqlite("write the schema version"))?;
            }
            Some(other) => {
                return Err(DbError::Corrupt {
                    path: self.path.clone(),
                    why: format!(
                        "its schema version is {other:?}; this wavelb reads version \
                         {SCHEMA_VERSION} (was it written by a newer one?)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// True when the database holds no zone, change, health check or CIDR collection.
    fn is_empty(&self) -> Result<bool, DbError> {
        self.conn
            .query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM zones) AND NOT EXISTS (SELECT 1 FROM changes) \
                 AND NOT EXISTS (SELECT 1 FROM health_checks) \
                 AND NOT EXISTS (SELECT 1 FROM cidr_collections)",
                [],
                |r| r.get(0),
            )
            .map_err(self.sqlite("read it"))
    }

    /// Moves `dir/state.json` (an older version's state) into an empty database in one
    /// transaction, then renames it `state.json.migrated`. A corrupt file stops the start
    /// (nothing is written); a file beside a database that already holds state is left alone.
    fn migrate(&mut self, dir: &Path) -> Result<(), DbError> {
        let legacy = StateFile::in_dir(dir)?;
        if !legacy.path().exists() {
            return Ok(());
        }
        let migrated_before: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'migrated_from')",
                [],
                |r| r.get(0),
            )
            .map_err(self.sqlite("read it"))?;
        if !migrated_before {
            if !self.is_empty()? {
                tracing::warn!(
                    file = %legacy.path().display(),
                    database = %self.path.display(),
                    "an older state file lies beside a state database that holds state; it is \
                     ignored (the database is the state)"
                );
                return Ok(());
            }
            let Some(mut store) = legacy.load()? else {
                return Ok(());
            };
            store.recount();
            store.touch_everything();
            let touched = store.take_touched();
            let mut batch = Batch::of(&store, &touched)?;
            batch.migrated_from = Some(legacy.path().display().to_string());
            self.write(&batch)?;
            tracing::info!(
                file = %legacy.path().display(),
                database = %self.path.display(),
                zones = store.zones().count(),
                "moved the older state file into the state database"
            );
        }
        // The rename is after the commit: a crash between them finds the database migrated.
        let mut to = legacy.path().as_os_str().to_owned();
        to.push(".");
        to.push(MIGRATED_SUFFIX);
        fs::rename(legacy.path(), &to).map_err(|source| DbError::Rename {
            path: legacy.path().to_owned(),
            source,
        })?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| DbError::Rename {
                path: legacy.path().to_owned(),
                source,
            })?;
        Ok(())
    }

    /// Reads the whole store.
    fn load(&self) -> Result<Store, DbError> {
        let corrupt = |why: String| DbError::Corrupt {
            path: self.path.clone(),
            why,
        };
        let mut parts = Parts::default();
        let mut sets: BTreeMap<String, Vec<RecordSet>> = BTreeMap::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT zone_id, record_set FROM record_sets")
                .map_err(self.sqlite("read record sets"))?;
            let mut rows = stmt.query([]).map_err(self.sqlite("read record sets"))?;
            while let Some(row) = rows.next().map_err(self.sqlite("read record sets"))? {
                let zone_id: String = row.get(0).map_err(self.sqlite("read record sets"))?;
                let json: String = row.get(1).map_err(self.sqlite("read record sets"))?;
                let set: RecordSet = serde_json::from_str(&json).map_err(|e| {
                    corrupt(format!(
                        "a record set of zone {zone_id} does not parse: {e}"
                    ))
                })?;
                sets.entry(zone_id).or_default().push(set);
            }
        }
        {
            let mut stmt = self
                .conn
                .prepare("SELECT id, name, caller_reference, comment, serial FROM zones")
                .map_err(self.sqlite("read zones"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(self.sqlite("read zones"))?;
            for row in rows {
                let (id, name, caller_reference, comment, serial) =
                    row.map_err(self.sqlite("read zones"))?;
                let name = Fqdn::parse(&name)
                    .map_err(|e| corrupt(format!("zone {id} has a bad name: {e}")))?;
                let serial = u32::try_from(serial)
                    .map_err(|_| corrupt(format!("zone {id} has a bad serial {serial}")))?;
                let records =
                    ZoneRecords::from_sets(name.clone(), sets.remove(&id).unwrap_or_default());
                parts.zones.push(HostedZone {
                    id,
                    name,
                    caller_reference,
                    comment,
                    serial,
                    records,
                });
            }
        }
        if let Some(orphan) = sets.keys().next() {
            return Err(corrupt(format!(
                "it holds record sets of zone {orphan}, which it does not hold"
            )));
        }
        {
            let mut stmt = self
                .conn
                .prepare("SELECT id, submitted_at_ms, comment FROM changes ORDER BY seq")
                .map_err(self.sqlite("read changes"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(ChangeRecord {
                        id: r.get(0)?,
                        submitted_at_ms: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
                        comment: r.get(2)?,
                    })
                })
                .map_err(self.sqlite("read changes"))?;
            for row in rows {
                parts
                    .changes
                    .push(row.map_err(self.sqlite("read changes"))?);
            }
        }
        parts.forgotten_until_ms = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'forgotten_until_ms'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(self.sqlite("read meta"))?
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| corrupt(format!("forgotten_until_ms {v:?} is not a number")))
            })
            .transpose()?;
        {
            let mut stmt = self
                .conn
                .prepare("SELECT id, health_check FROM health_checks")
                .map_err(self.sqlite("read health checks"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(self.sqlite("read health checks"))?;
            for row in rows {
                let (id, json) = row.map_err(self.sqlite("read health checks"))?;
                let check: HealthCheck = serde_json::from_str(&json)
                    .map_err(|e| corrupt(format!("health check {id} does not parse: {e}")))?;
                parts.health_checks.push(check);
            }
        }
        {
            let mut stmt = self
                .conn
                .prepare("SELECT caller_reference FROM deleted_check_references ORDER BY seq")
                .map_err(self.sqlite("read deleted check references"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(self.sqlite("read deleted check references"))?;
            for row in rows {
                parts
                    .deleted_check_references
                    .push(row.map_err(self.sqlite("read deleted check references"))?);
            }
        }
        {
            let mut stmt = self
                .conn
                .prepare("SELECT resource, key, value FROM tags ORDER BY resource")
                .map_err(self.sqlite("read tags"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(self.sqlite("read tags"))?;
            let mut tags: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for row in rows {
                let (resource, key, value) = row.map_err(self.sqlite("read tags"))?;
                tags.entry(resource).or_default().insert(key, value);
            }
            parts.tags = tags.into_iter().collect();
        }
        {
            let mut stmt = self
                .conn
                .prepare("SELECT id, collection FROM cidr_collections")
                .map_err(self.sqlite("read CIDR collections"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(self.sqlite("read CIDR collections"))?;
            for row in rows {
                let (id, json) = row.map_err(self.sqlite("read CIDR collections"))?;
                let collection: CidrCollection = serde_json::from_str(&json)
                    .map_err(|e| corrupt(format!("CIDR collection {id} does not parse: {e}")))?;
                if collection.id != id {
                    return Err(corrupt(format!(
                        "the row of CIDR collection {id} holds collection {}",
                        collection.id
                    )));
                }
                parts.cidr_collections.push(collection);
            }
        }
        Ok(Store::from_parts(parts))
    }

    /// Writes `batch` in one transaction and commits it: when this returns `Ok`, the change
    /// survives a crash; when it fails, the database holds what it held before.
    ///
    /// # Errors
    ///
    /// [`DbError::Sqlite`]: the change is not in the database.
    pub fn write(&mut self, batch: &Batch) -> Result<(), DbError> {
        let path = self.path.clone();
        let fail = |action: &'static str| {
            let path = path.clone();
            move |source| DbError::Sqlite {
                action,
                path,
                source,
            }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(fail("begin a transaction"))?;
        write_rows(&tx, batch).map_err(fail("write a change"))?;
        tx.commit().map_err(fail("commit a change"))
    }

    /// How many rows the connection has inserted, updated or deleted since it was opened
    /// (SQLite's `total_changes()`); tests count a change's rows with it.
    pub fn total_changes(&self) -> u64 {
        self.conn.total_changes()
    }
}

/// One zone's row.
#[derive(Debug, Clone)]
struct ZoneRow {
    name: String,
    caller_reference: String,
    comment: Option<String>,
    serial: u32,
}

/// The rows of one record-set group (a zone's sets of one name and type).
#[derive(Debug, Clone)]
struct GroupRows {
    zone_id: String,
    name: String,
    rtype: String,
    /// Each set now: its identifier (empty for none) and JSON.
    sets: Vec<(String, String)>,
}

/// The rows one change writes, taken from the store (in O(what it touched)) before they are
/// written on the blocking pool.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Zones by id: the row to write, or `None` to delete the zone and its record sets.
    zones: Vec<(String, Option<ZoneRow>)>,
    /// Record-set groups and every set of each now.
    groups: Vec<GroupRows>,
    /// Changes appended to the log, oldest first.
    changes: Vec<ChangeRecord>,
    forgotten_until_ms: Option<u64>,
    /// Health checks by id: the JSON to write, or `None` to delete.
    checks: Vec<(String, Option<String>)>,
    /// Caller references of deleted checks appended, oldest first.
    references: Vec<String>,
    /// Tags by resource: the whole set now (empty: none).
    tags: Vec<(String, BTreeMap<String, String>)>,
    /// CIDR collections by id: the JSON to write, or `None` to delete.
    cidr_collections: Vec<(String, Option<String>)>,
    /// The older state file this batch moves into the database.
    migrated_from: Option<String>,
}

impl Batch {
    /// The rows `touched` names, as `store` holds them now.
    ///
    /// # Errors
    ///
    /// A value that cannot be written as JSON (none of the store's can fail).
    pub fn of(store: &Store, touched: &Touched) -> Result<Self, serde_json::Error> {
        let mut batch = Self::default();
        for id in &touched.zones {
            let row = store.zone_by_id(id).map(|z| ZoneRow {
                name: z.name.to_string(),
                caller_reference: z.caller_reference.clone(),
                comment: z.comment.clone(),
                serial: z.serial,
            });
            batch.zones.push((id.clone(), row));
        }
        for (zone_id, name, rtype) in &touched.groups {
            let mut sets = Vec::new();
            if let Some(zone) = store.zone_by_id(zone_id) {
                for set in zone.records.group(name, *rtype) {
                    let id = set.set_identifier.clone().unwrap_or_default();
                    sets.push((id, serde_json::to_string(set)?));
                }
            }
            batch.groups.push(GroupRows {
                zone_id: zone_id.clone(),
                name: name.to_string(),
                rtype: rtype.to_string(),
                sets,
            });
        }
        let (log, forgotten) = store.change_log();
        let log: Vec<&ChangeRecord> = log.collect();
        let appended = touched.changes_logged.min(log.len());
        batch.changes = log[log.len() - appended..]
            .iter()
            .map(|c| (*c).clone())
            .collect();
        batch.forgotten_until_ms = forgotten;
        for id in &touched.checks {
            let json = store
                .health_check(id)
                .ok()
                .map(serde_json::to_string)
                .transpose()?;
            batch.checks.push((id.clone(), json));
        }
        let references: Vec<&String> = store.deleted_check_references().collect();
        let appended = touched.references_kept.min(references.len());
        batch.references = references[references.len() - appended..]
            .iter()
            .map(|r| (*r).clone())
            .collect();
        for key in &touched.tags {
            let tags = store.tags_by_key(key).cloned().unwrap_or_default();
            batch.tags.push((key.clone(), tags));
        }
        for id in &touched.cidr_collections {
            let json = store
                .cidr_collection(id)
                .map(serde_json::to_string)
                .transpose()?;
            batch.cidr_collections.push((id.clone(), json));
        }
        Ok(batch)
    }
}

fn write_rows(tx: &Transaction<'_>, b: &Batch) -> rusqlite::Result<()> {
    for (id, row) in &b.zones {
        match row {
            Some(z) => {
                tx.prepare_cached(
                    "INSERT INTO zones (id, name, caller_reference, comment, serial) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET \
                     name = excluded.name, caller_reference = excluded.caller_reference, \
                     comment = excluded.comment, serial = excluded.serial",
                )?
                .execute(params![
                    id,
                    z.name,
                    z.caller_reference,
                    z.comment,
                    z.serial
                ])?;
            }
            None => {
                tx.prepare_cached("DELETE FROM zones WHERE id = ?1")?
                    .execute(params![id])?;
                tx.prepare_cached("DELETE FROM record_sets WHERE zone_id = ?1")?
                    .execute(params![id])?;
            }
        }
    }
    for GroupRows {
        zone_id,
        name,
        rtype,
        sets,
    } in &b.groups
    {
        tx.prepare_cached(
            "DELETE FROM record_sets WHERE zone_id = ?1 AND name = ?2 AND type = ?3",
        )?
        .execute(params![zone_id, name, rtype])?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO record_sets (zone_id, name, type, set_identifier, record_set) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (set_id, json) in sets {
            insert.execute(params![zone_id, name, rtype, set_id, json])?;
        }
    }
    if !b.changes.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO changes (id, submitted_at_ms, comment) VALUES (?1, ?2, ?3)",
        )?;
        for c in &b.changes {
            let at = i64::try_from(c.submitted_at_ms).unwrap_or(i64::MAX);
            insert.execute(params![c.id, at, c.comment])?;
        }
        // The log keeps the newest MAX_CHANGE_LOG, as the store does.
        tx.prepare_cached(
            "DELETE FROM changes WHERE seq <= \
             (SELECT seq FROM changes ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
        )?
        .execute(params![i64::try_from(MAX_CHANGE_LOG).unwrap_or(i64::MAX)])?;
        if let Some(at) = b.forgotten_until_ms {
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('forgotten_until_ms', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![at.to_string()])?;
        }
    }
    for (id, json) in &b.checks {
        match json {
            Some(json) => tx
                .prepare_cached(
                    "INSERT INTO health_checks (id, health_check) VALUES (?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET health_check = excluded.health_check",
                )?
                .execute(params![id, json])?,
            None => tx
                .prepare_cached("DELETE FROM health_checks WHERE id = ?1")?
                .execute(params![id])?,
        };
    }
    if !b.references.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO deleted_check_references (caller_reference) VALUES (?1)",
        )?;
        for r in &b.references {
            insert.execute(params![r])?;
        }
        tx.prepare_cached(
            "DELETE FROM deleted_check_references WHERE seq <= \
             (SELECT seq FROM deleted_check_references ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
        )?
        .execute(params![
            i64::try_from(MAX_DELETED_REFERENCES).unwrap_or(i64::MAX)
        ])?;
    }
    for (resource, tags) in &b.tags {
        tx.prepare_cached("DELETE FROM tags WHERE resource = ?1")?
            .execute(params![resource])?;
        let mut insert =
            tx.prepare_cached("INSERT INTO tags (resource, key, value) VALUES (?1, ?2, ?3)")?;
        for (key, value) in tags {
            insert.execute(params![resource, key, value])?;
        }
    }
    for (id, json) in &b.cidr_collections {
        match json {
            Some(json) => tx
                .prepare_cached(
                    "INSERT INTO cidr_collections (id, collection) VALUES (?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET collection = excluded.collection",
                )?
                .execute(params![id, json])?,
            None => tx
                .prepare_cached("DELETE FROM cidr_collections WHERE id = ?1")?
                .execute(params![id])?,
        };
    }
    if let Some(from) = &b.migrated_from {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('migrated_from', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![from])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cidr_collections::{ChangeAction, CidrChange};
    use crate::store::tests::a;
    use crate::tags::ResourceKind;
    use registry::model::Change;

    /// Applies `op` to `store` and commits what it touched, as `Shared::mutate` does; returns
    /// the rows the commit inserted, updated or deleted.
    fn commit<T>(
        db: &mut StateDb,
        store: &mut Store,
        op: impl FnOnce(&mut Store) -> T,
    ) -> (T, u64) {
        let out = op(store);
        let touched = store.take_touched();
        let before = db.total_changes();
        db.write(&Batch::of(store, &touched).unwrap()).unwrap();
        (out, db.total_changes() - before)
    }

    /// A store with zones, record sets, changes, a health check, a deleted check's reference
    /// and tags, each written to `db` as it was made.
    fn everything(db: &mut StateDb) -> Store {
        let mut s = Store::default();
        let (zone, _) = commit(db, &mut s, |s| {
            s.create_zone("lab.test", "r", Some("c".into()), 1).unwrap()
        })
        .0;
        commit(db, &mut s, |s| {
            s.change(
                &zone.id,
                &[
                    Change::create(a("www.lab.test", "x", 1)),
                    Change::create(a("www.lab.test", "y", 2)),
                ],
                Some("two".into()),
                2,
            )
            .unwrap()
        });
        let gone = commit(db, &mut s, |s| s.failed_test_check("gone")).0;
        commit(db, &mut s, |s| s.delete_health_check(&gone).unwrap());
        let kept = commit(db, &mut s, |s| s.failed_test_check("kept")).0;
        commit(db, &mut s, |s| {
            s.change_tags(
                ResourceKind::HealthCheck,
                &kept,
                &[("k".into(), "v".into())],
                &[],
            )
            .unwrap()
        });
        commit(db, &mut s, |s| {
            s.change_tags(
                ResourceKind::HostedZone,
                &zone.id,
                &[("team".into(), "lab".into())],
                &[],
            )
            .unwrap()
        });
        let (collection, _) = commit(db, &mut s, |s| {
            s.create_cidr_collection("kept", "r").unwrap()
        })
        .0;
        commit(db, &mut s, |s| {
            s.change_cidr_collection(
                &collection.id,
                None,
                &[cidr_put("edge", &["192.0.2.0/24", "2001:db8::/32"])],
                3,
            )
            .unwrap()
        });
        let (gone, _) = commit(db, &mut s, |s| {
            s.create_cidr_collection("gone", "r").unwrap()
        })
        .0;
        commit(db, &mut s, |s| s.delete_cidr_collection(&gone.id).unwrap());
        s
    }

    /// A PUT of `blocks` into `location`.
    fn cidr_put(location: &str, blocks: &[&str]) -> CidrChange {
        CidrChange {
            location: location.into(),
            action: ChangeAction::Put,
            blocks: blocks.iter().map(|b| b.parse().unwrap()).collect(),
        }
    }

    /// `s` as a restarted resolver holds it: probe results are not kept (every check starts
    /// healthy, as Route 53 starts a new one).
    fn as_reloaded(s: &Store) -> Store {
        let (log, forgotten) = s.change_log();
        Store::from_parts(Parts {
            zones: s.zones().cloned().collect(),
            changes: log.cloned().collect(),
            forgotten_until_ms: forgotten,
            health_checks: s.health_checks().cloned().collect(),
            deleted_check_references: s.deleted_check_references().cloned().collect(),
            tags: s
                .tag_entries()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cidr_collections: s.cidr_collections().cloned().collect(),
        })
    }

    #[test]
    fn every_part_of_the_state_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, empty) = StateDb::open(dir.path()).unwrap();
        assert_eq!(empty, Store::default());
        let saved = everything(&mut db);
        drop(db);
        let (_, loaded) = StateDb::open(dir.path()).unwrap();
        assert_eq!(loaded, as_reloaded(&saved));
        let check = saved.health_checks().next().unwrap().id.clone();
        assert_eq!(loaded.health_statuses().get(&check), Some(&true));
        assert_eq!(saved.health_statuses().get(&check), Some(&false));
        assert_eq!(loaded.totals(), saved.totals());
        let collections: Vec<(&str, u64, usize)> = loaded
            .cidr_collections()
            .map(|c| (c.name.as_str(), c.version, c.blocks().count()))
            .collect();
        assert_eq!(
            collections,
            [("kept", 2, 2)],
            "the deleted one stays deleted"
        );
        // The old change ids answer, with their comments.
        let (log, _) = saved.change_log();
        for c in log {
            assert_eq!(loaded.get_change(&c.id).unwrap(), *c);
        }
    }

    /// A version-1 database opens, keeps its state and is marked version 2; a database of a
    /// version this wavelb does not know is refused.
    #[test]
    fn an_older_schema_is_upgraded_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, _) = StateDb::open(dir.path()).unwrap();
        let saved = everything(&mut db);
        let set_version = |db: &StateDb, v: &str| {
            db.conn
                .execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    params![v],
                )
                .unwrap();
        };
        let version = |db: &StateDb| -> String {
            db.conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        set_version(&db, "1");
        drop(db);
        let (db, loaded) = StateDb::open(dir.path()).unwrap();
        assert_eq!(loaded, as_reloaded(&saved));
        assert_eq!(version(&db), SCHEMA_VERSION.to_string());
        set_version(&db, "3");
        drop(db);
        let err = StateDb::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("written by a newer one"), "{err}");
    }

    #[test]
    fn the_change_log_and_deleted_references_stay_bounded_in_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, mut s) = StateDb::open(dir.path()).unwrap();
        let (zone, _) = commit(&mut db, &mut s, |s| s.create_zone("lab.test", "r", None, 0))
            .0
            .unwrap();
        for i in 0..(MAX_CHANGE_LOG + 20) {
            let set = a("www.lab.test", "x", 1);
            let change = if i % 2 == 0 {
                Change::create(set)
            } else {
                Change::delete(set)
            };
            let now = 1 + u64::try_from(i).unwrap();
            commit(&mut db, &mut s, |s| {
                s.change(&zone.id, &[change], None, now)
            })
            .0
            .unwrap();
        }
        let rows: i64 = db
            .conn
            .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(usize::try_from(rows).unwrap(), MAX_CHANGE_LOG);
        drop(db);
        let (_, loaded) = StateDb::open(dir.path()).unwrap();
        assert_eq!(loaded, as_reloaded(&s));
    }

    #[test]
    fn an_older_state_file_is_moved_into_the_database_once() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = StateFile::in_dir(dir.path()).unwrap();
        let mut old = Store::default();
        let (zone, _) = old.create_zone("lab.test", "r", None, 0).unwrap();
        old.change(
            &zone.id,
            &[Change::create(a("www.lab.test", "x", 1))],
            None,
            1,
        )
        .unwrap();
        let check = old.failed_test_check("c");
        old.change_tags(
            ResourceKind::HealthCheck,
            &check,
            &[("k".into(), "v".into())],
            &[],
        )
        .unwrap();
        legacy.save(&old).unwrap();
        let (db, migrated) = StateDb::open(dir.path()).unwrap();
        assert_eq!(migrated, as_reloaded(&old));
        assert!(!legacy.path().exists(), "renamed");
        let renamed = dir.path().join("state.json.migrated");
        assert!(renamed.exists(), "never deleted");
        drop(db);
        // A second start reads the database alone.
        let (_, again) = StateDb::open(dir.path()).unwrap();
        assert_eq!(again, migrated);
        // An older file put back beside a database that holds state is not loaded.
        fs::copy(&renamed, legacy.path()).unwrap();
        let (_, kept) = StateDb::open(dir.path()).unwrap();
        assert_eq!(kept, migrated);
    }

    #[test]
    fn a_corrupt_older_state_file_stops_the_start_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = StateFile::in_dir(dir.path()).unwrap();
        let mut old = Store::default();
        old.create_zone("lab.test", "r", None, 0).unwrap();
        legacy.save(&old).unwrap();
        let good = fs::read(legacy.path()).unwrap();
        fs::write(legacy.path(), &good[..good.len() - 10]).unwrap();
        let e = StateDb::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("truncated") && e.contains("state.json") && e.contains("move it away"),
            "{e}"
        );
        assert!(legacy.path().exists(), "left where it was");
        // Nothing was written: once the file is whole again, it is migrated.
        fs::write(legacy.path(), &good).unwrap();
        let (_, migrated) = StateDb::open(dir.path()).unwrap();
        assert_eq!(migrated.zones().count(), 1);
    }

    #[test]
    fn a_database_that_is_not_one_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), vec![0x5a; 8192]).unwrap();
        let e = StateDb::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("state.sqlite3 is unusable") && e.contains("move it away"),
            "{e}"
        );
    }

    /// A store of `zones` zones holding `per_zone` weighted sets each, written to `db`.
    fn filled(db: &mut StateDb, zones: usize, per_zone: usize) -> (Store, Vec<String>) {
        let mut s = Store::default();
        let mut ids = Vec::new();
        for z in 0..zones {
            let origin = format!("z{z}.test");
            let (zone, _) = s.create_zone(&origin, &origin, None, 0).unwrap();
            for chunk in (0..per_zone).collect::<Vec<_>>().chunks(1000) {
                let changes: Vec<Change> = chunk
                    .iter()
                    .map(|i| {
                        Change::create(a(&format!("n{}.{origin}", i / 50), &format!("s{i}"), 1))
                    })
                    .collect();
                s.change(&zone.id, &changes, None, 1).unwrap();
            }
            ids.push(zone.id);
        }
        s.touch_everything();
        let touched = s.take_touched();
        db.write(&Batch::of(&s, &touched).unwrap()).unwrap();
        (s, ids)
    }

    #[test]
    fn a_one_record_change_writes_the_same_rows_at_any_size() {
        let rows_at = |zones: usize, per_zone: usize| {
            let dir = tempfile::tempdir().unwrap();
            let (mut db, _) = StateDb::open(dir.path()).unwrap();
            let (mut s, ids) = filled(&mut db, zones, per_zone);
            let zone = &ids[zones / 2];
            let origin = s.zone_by_id(zone).unwrap().name.clone();
            let name = format!("new.{origin}");
            let (_, rows) = commit(&mut db, &mut s, |s| {
                s.change(zone, &[Change::create(a(&name, "one", 1))], None, 2)
                    .unwrap()
            });
            rows
        };
        let small = rows_at(10, 10);
        let large = rows_at(4, 5_000);
        // The zone's row (serial), the set's row, the change's row.
        assert_eq!(small, 3);
        assert_eq!(large, small);
    }

    #[test]
    fn a_cidr_collection_change_writes_its_row_and_the_change_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, mut s) = StateDb::open(dir.path()).unwrap();
        let ((c, _), rows) = commit(&mut db, &mut s, |s| {
            s.create_cidr_collection("lab", "r").unwrap()
        });
        assert_eq!(rows, 1, "the collection's row");
        let (_, rows) = commit(&mut db, &mut s, |s| {
            s.change_cidr_collection(&c.id, Some(1), &[cidr_put("a", &["10.0.0.0/8"])], 1)
                .unwrap()
        });
        assert_eq!(rows, 2, "the collection's row and the change's");
        let (_, rows) = commit(&mut db, &mut s, |s| {
            s.change_cidr_collection(&c.id, Some(2), &[cidr_put("a", &["10.0.0.0/8"])], 2)
                .unwrap()
        });
        assert_eq!(rows, 1, "a no-op: the change's row only");
        drop(db);
        let (mut db, mut loaded) = StateDb::open(dir.path()).unwrap();
        assert_eq!(loaded, as_reloaded(&s));
        assert_eq!(loaded.cidr_collection(&c.id).unwrap().version, 2);
        // A collection the database holds goes on changing (its version was kept).
        commit(&mut db, &mut loaded, |s| {
            s.change_cidr_collection(&c.id, Some(2), &[cidr_put("b", &["192.0.2.0/24"])], 3)
                .unwrap()
        });
        drop(db);
        let (_, again) = StateDb::open(dir.path()).unwrap();
        assert_eq!(again.cidr_collection(&c.id).unwrap().version, 3);
        assert_eq!(again.cidr_collection(&c.id).unwrap().blocks().count(), 2);
    }

    #[test]
    fn a_cidr_collection_row_that_does_not_check_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut db, mut s) = StateDb::open(dir.path()).unwrap();
        let ((c, _), _) = commit(&mut db, &mut s, |s| {
            s.create_cidr_collection("lab", "r").unwrap()
        });
        let json = serde_json::to_string(&c)
            .unwrap()
            .replace(r#""locations":{}"#, r#""locations":{"a":["10.0.0.1/8"]}"#);
        db.conn
            .execute(
                "UPDATE cidr_collections SET collection = ?1 WHERE id = ?2",
                params![json, c.id],
            )
            .unwrap();
        drop(db);
        let e = StateDb::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("CIDR collection {} does not parse", c.id))
                && e.contains("host bits"),
            "{e}"
        );
    }
}
