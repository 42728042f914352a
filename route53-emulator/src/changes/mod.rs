//! Changes: what a change is and how long the log keeps them (here, with the log's form in
//! older state files), the store's part ([`store`]: ChangeResourceRecordSets, the change log,
//! GetChange), the XML ([`xml`]: the ChangeBatch request, `<ChangeInfo>`) and the operations
//! ([`api`]: ChangeResourceRecordSets, GetChange).

use std::collections::BTreeMap;

use imbl::Vector;
use serde::{Deserialize, Serialize};

pub mod api;
pub mod store;
pub mod xml;

/// Changes the log keeps; older ones are forgotten (GetChange answers them INSYNC).
pub const MAX_CHANGE_LOG: usize = 1000;

/// A submitted change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// The id, without `/change/`.
    pub id: String,
    /// When it was accepted, in unix milliseconds.
    pub submitted_at_ms: u64,
    /// The batch comment.
    pub comment: Option<String>,
}

/// The change log as written now (oldest first) or by older versions (a map by id).
#[derive(Deserialize)]
#[serde(untagged)]
enum ChangeLog {
    List(Vector<ChangeRecord>),
    ById(BTreeMap<String, ChangeRecord>),
}

/// `Store::changes` as either form of the log deserializes.
pub(crate) fn change_log<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vector<ChangeRecord>, D::Error> {
    Ok(match ChangeLog::deserialize(d)? {
        ChangeLog::List(list) => list,
        ChangeLog::ById(map) => {
            let mut list: Vec<ChangeRecord> = map.into_values().collect();
            list.sort_by_key(|c| c.submitted_at_ms);
            list.into_iter().collect()
        }
    })
}
