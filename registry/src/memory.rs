//! [`MemoryStore`]: a hosted zone in memory that applies plans with Route 53's strict rules
//! ([`ZoneRecords`]: exact-match DELETE, CREATE of an existing set fails, atomic batches, the
//! batch limits) and injects the faults the real service has — throttling, a concurrent writer,
//! slow INSYNC — so that behaviour over time is tested in-process on tokio's paused clock. It
//! keeps the account's CIDR collections too, with Route 53's rules for them (versions, one
//! location per block, atomic requests, the bounds).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use ipnet::IpNet;

use crate::cidr::{self, CidrCollectionState, LocationChange};
use crate::listing::{ListFrom, Span, Walk, reversed};
use crate::model::{Change, RecordSet, RrType};
use crate::name::Fqdn;
use crate::plan::{BatchLimits, Plan};
use crate::retry::is_cas_conflict;
use crate::store::{PoolStore, Submitted, WriteError};
use crate::zone::{ChangeError, ZoneRecords};

/// Faults the store injects, set by tests at any time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    /// The next this many requests are throttled once each: like the SDK writer, the store
    /// counts it ([`PoolStore::throttled`]) and waits `throttle_delay` before serving it.
    pub throttle_next: u32,
    /// What one throttled request costs.
    pub throttle_delay: Duration,
    /// A change is INSYNC this long after it was submitted.
    pub insync_after: Duration,
    /// [`PoolStore::wait_insync`] gives up this long after submission.
    pub insync_timeout: Duration,
    /// The next this many write calls (`execute`, `create_cidr_collection`,
    /// `change_cidr_collection`) fail as every request does while Route 53 is unreachable
    /// (`RetriesExhausted`), changing nothing.
    pub fail_next: u32,
    /// Record sets per `ListResourceRecordSets` page (Route 53's largest, 300, by default).
    pub page_size: usize,
    /// Items per page of ListCidrCollections and ListCidrBlocks (100 by default, the lab's).
    pub cidr_page_size: usize,
    /// The hosted zone's quota of record sets (Route 53's 10 000 by default): a zone at it
    /// refuses every batch that would grow it, for good.
    pub max_record_sets: usize,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            throttle_next: 0,
            throttle_delay: Duration::from_millis(200),
            insync_after: Duration::ZERO,
            insync_timeout: Duration::from_secs(300),
            fail_next: 0,
            page_size: 300,
            cidr_page_size: 100,
            max_record_sets: crate::zone::MAX_RECORD_SETS,
        }
    }
}

/// What the store has served, for assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// `ListResourceRecordSets` requests (pages).
    pub lists: u32,
    /// Change batches submitted (accepted or not).
    pub batches: u32,
    /// Change batches accepted.
    pub accepted: u32,
    /// ListCidrCollections and ListCidrBlocks requests (pages).
    pub cidr_lists: u32,
    /// CreateCidrCollection and ChangeCidrCollection requests (accepted or not).
    pub cidr_writes: u32,
}

/// The most CIDR collections an account holds (the lab's quota: AWS publishes none).
const MAX_COLLECTIONS: usize = 5;

/// One CIDR collection as the store keeps it.
#[derive(Debug, Clone)]
struct Collection {
    name: String,
    caller_reference: String,
    state: CidrCollectionState,
}

#[derive(Debug)]
struct State {
    zone: ZoneRecords,
    faults: Faults,
    calls: Calls,
    throttled: u64,
    submitted: BTreeMap<String, Instant>,
    /// CIDR collections by id.
    collections: BTreeMap<String, Collection>,
    created_collections: u64,
}

/// A hosted zone in memory; see the module documentation.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// The value check Route 53 applies to the types wavelb writes.
fn check_value(rtype: RrType, value: &str) -> Result<(), crate::zone::ValueError> {
    let ok = match rtype {
        RrType::A => value.parse::<Ipv4Addr>().is_ok(),
        RrType::Aaaa => value.parse::<Ipv6Addr>().is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Box::new(IllegalAddress(rtype)))
    }
}

/// An `A` or `AAAA` value that is not an address of its family.
#[derive(Debug, thiserror::Error)]
#[error("AR{0}RDATAIllegalIPAddress")]
struct IllegalAddress(RrType);

impl MemoryStore {
    /// An empty hosted zone named `origin`.
    pub fn new(origin: Fqdn) -> Self {
        Self {
            state: Mutex::new(State {
                zone: ZoneRecords::new(origin),
                faults: Faults::default(),
                calls: Calls::default(),
                throttled: 0,
                submitted: BTreeMap::new(),
                collections: BTreeMap::new(),
                created_collections: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a failed test already; keep serving the state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the injected faults.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.lock().faults);
    }

    /// What the store has served so far.
    pub fn calls(&self) -> Calls {
        self.lock().calls
    }

    /// Every record set in the zone.
    pub fn sets(&self) -> Vec<RecordSet> {
        self.lock().zone.sets().cloned().collect()
    }

    /// Applies `changes` as another writer would (an operator, another process), with the same
    /// rules; returns Route 53's messages when they are refused.
    pub fn apply(&self, changes: &[Change]) -> Result<(), ChangeError> {
        self.lock().zone.apply(changes, &check_value)
    }

    /// The CIDR collection `id` as it is now.
    pub fn cidr_collection(&self, id: &str) -> Option<CidrCollectionState> {
        self.lock().collections.get(id).map(|c| c.state.clone())
    }

    /// Applies `changes` to CIDR collection `id` as another writer would (an operator, another
    /// controller), whatever its version, with the same rules; returns the version after it.
    pub fn apply_cidr(&self, id: &str, changes: &[LocationChange]) -> Result<i64, WriteError> {
        apply_cidr(&mut self.lock(), id, None, changes)
    }

    /// Counts and waits out one injected throttle, if any is due.
    async fn maybe_throttle(&self) {
        let delay = {
            let mut s = self.lock();
            if s.faults.throttle_next == 0 {
                return;
            }
            s.faults.throttle_next -= 1;
            s.throttled += 1;
            s.faults.throttle_delay
        };
        tokio::time::sleep(delay).await;
    }
}

/// An [`WriteError::Api`] of a CIDR collection operation, with Route 53's code.
fn cidr_error(operation: &'static str, code: &str, message: String) -> WriteError {
    WriteError::Api {
        operation,
        code: Some(code.to_owned()),
        message,
    }
}

/// Takes one injected failure of a write, if one is due.
fn injected_failure(s: &mut State, operation: &'static str) -> Result<(), WriteError> {
    if s.faults.fail_next == 0 {
        return Ok(());
    }
    s.faults.fail_next -= 1;
    Err(WriteError::RetriesExhausted {
        operation,
        attempts: 3,
        last: "injected: the endpoint is unreachable".into(),
    })
}

/// ChangeCidrCollection by Route 53's rules: the request's bounds and values first, then the
/// collection and its version (`None`: any), then the changes in order on a copy, checked as a
/// whole (one location per block, the quota). Nothing changes unless everything holds; a
/// request that changes no block keeps the version.
fn apply_cidr(
    s: &mut State,
    id: &str,
    version: Option<i64>,
    changes: &[LocationChange],
) -> Result<i64, WriteError> {
    const OP: &str = "ChangeCidrCollection";
    let invalid = |message: String| cidr_error(OP, "InvalidInput", message);
    let total: usize = changes.iter().map(|c| c.blocks.len()).sum();
    if changes.is_empty() || total > cidr::MAX_BLOCKS_PER_REQUEST {
        return Err(invalid(format!(
            "a request holds 1 to {} changes and at most {} CIDR blocks (this one {} and {total})",
            cidr::MAX_BLOCKS_PER_REQUEST,
            cidr::MAX_BLOCKS_PER_REQUEST,
            changes.len()
        )));
    }
    for change in changes {
        if !cidr::is_location_name(&change.location) {
            return Err(invalid(format!(
                "the location name {:?} is not 1 to {} of [0-9A-Za-z_-]",
                change.location,
                cidr::MAX_LOCATION_CHARS
            )));
        }
        if change.blocks.is_empty() {
            return Err(invalid(format!(
                "the change of {} lists no block",
                change.location
            )));
        }
        if let Some(bad) = change
            .blocks
            .iter()
            .find(|b| cidr::parse_block(&b.to_string()).is_err())
        {
            return Err(invalid(format!("The CIDR block {bad} is not valid")));
        }
    }
    let collection = s.collections.get_mut(id).ok_or_else(|| {
        cidr_error(
            OP,
            "NoSuchCidrCollectionException",
            format!("The CIDR collection {id} doesn't exist"),
        )
    })?;
    let current = collection.state.version;
    if let Some(given) = version
        && given != current
    {
        return Err(WriteError::Conflict {
            messages: vec![format!(
                "The CIDR collection version you specified ({given}) doesn't match the current \
                 version ({current})"
            )],
        });
    }
    let mut working: BTreeMap<IpNet, BTreeSet<&str>> = collection
        .state
        .blocks
        .iter()
        .map(|(b, l)| (*b, BTreeSet::from([l.as_str()])))
        .collect();
    for change in changes {
        for block in &change.blocks {
            match change.action {
                cidr::Action::Put => {
                    working
                        .entry(*block)
                        .or_default()
                        .insert(change.location.as_str());
                }
                cidr::Action::DeleteIfExists => {
                    if let Some(locations) = working.get_mut(block) {
                        locations.remove(change.location.as_str());
                        if locations.is_empty() {
                            working.remove(block);
                        }
                    }
                }
            }
        }
    }
    let mut blocks = BTreeMap::new();
    for (block, locations) in working {
        let mut locations = locations.into_iter();
        let (Some(only), None) = (locations.next(), locations.next()) else {
            return Err(cidr_error(
                OP,
                "CidrBlockInUseException",
                format!("This CIDR block is already in use: {block}"),
            ));
        };
        blocks.insert(block, only.to_owned());
    }
    if blocks.len() > cidr::MAX_BLOCKS {
        return Err(cidr_error(
            OP,
            "LimitsExceeded",
            format!(
                "the collection would hold {} CIDR blocks; the limit is {}",
                blocks.len(),
                cidr::MAX_BLOCKS
            ),
        ));
    }
    if blocks != collection.state.blocks {
        collection.state.blocks = blocks;
        collection.state.version += 1;
    }
    Ok(collection.state.version)
}

/// True for a collection `Name` Route 53 takes: 1 to 64 of `[0-9A-Za-z_-]`.
fn is_collection_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl PoolStore for MemoryStore {
    /// Serves the walk page by page from the zone in Route 53's listing order, each page a
    /// request (counted, and throttled when injected).
    async fn list_names(&self, names: &[Fqdn], walk: Walk) -> Result<Vec<RecordSet>, WriteError> {
        let mut span = Span::new(names, walk);
        let mut from = span.start();
        while let Some(start) = from {
            self.maybe_throttle().await;
            let (page, next) = {
                let mut s = self.lock();
                s.calls.lists += 1;
                let mut sets: Vec<RecordSet> = s.zone.sets().cloned().collect();
                let key = |r: &RecordSet| {
                    (
                        reversed(r.name.as_str()),
                        r.rtype.to_string(),
                        r.set_identifier.clone().unwrap_or_default(),
                    )
                };
                sets.sort_by_key(key);
                let first = (
                    reversed(&start.name),
                    start.rtype.clone().unwrap_or_default(),
                    start.identifier.clone().unwrap_or_default(),
                );
                let at = sets.partition_point(|r| key(r) < first);
                let end = (at + s.faults.page_size.max(1)).min(sets.len());
                let next = sets.get(end).map(|r| ListFrom {
                    name: r.name.as_str().to_owned(),
                    rtype: Some(r.rtype.to_string()),
                    identifier: r.set_identifier.clone(),
                });
                (sets[at..end].to_vec(), next)
            };
            let truncated = next.is_some();
            from = span.page(page, next, truncated)?;
        }
        Ok(span.finish())
    }

    async fn execute(&self, plan: &Plan) -> Result<Vec<Submitted>, WriteError> {
        let mut done = Vec::new();
        for batch in plan.batches(BatchLimits::default())? {
            self.maybe_throttle().await;
            let mut s = self.lock();
            s.calls.batches += 1;
            if s.faults.fail_next > 0 {
                s.faults.fail_next -= 1;
                return Err(WriteError::RetriesExhausted {
                    operation: "ChangeResourceRecordSets",
                    attempts: 3,
                    last: "injected: the endpoint is unreachable".into(),
                });
            }
            let quota = s.faults.max_record_sets;
            match s.zone.apply_within(&batch.changes, &check_value, quota) {
                Ok(()) => {}
                Err(ChangeError::InvalidChangeBatch(messages)) if is_cas_conflict(&messages) => {
                    return Err(WriteError::Conflict { messages });
                }
                Err(ChangeError::InvalidChangeBatch(messages)) => {
                    return Err(WriteError::Rejected { messages });
                }
                Err(ChangeError::InvalidInput(message)) => {
                    return Err(WriteError::Api {
                        operation: "ChangeResourceRecordSets",
                        code: Some("InvalidInput".into()),
                        message,
                    });
                }
            }
            s.calls.accepted += 1;
            let change_id = format!("C{:020}", s.calls.accepted);
            s.submitted.insert(change_id.clone(), Instant::now());
            let insync = s.faults.insync_after.is_zero();
            done.push(Submitted {
                change_id,
                target_ids: batch.target_ids,
                insync,
            });
        }
        Ok(done)
    }

    async fn wait_insync(&self, change_id: &str, submitted_at: Instant) -> Result<(), WriteError> {
        let (at, timeout) = {
            let s = self.lock();
            let Some(at) = s.submitted.get(change_id).copied() else {
                return Err(WriteError::Api {
                    operation: "GetChange",
                    code: Some("NoSuchChange".into()),
                    message: format!("no change {change_id}"),
                });
            };
            (at + s.faults.insync_after, s.faults.insync_timeout)
        };
        let deadline = submitted_at + timeout;
        if at > deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(WriteError::InsyncTimeout {
                change_id: change_id.to_owned(),
                waited: timeout,
            });
        }
        tokio::time::sleep_until(at).await;
        Ok(())
    }

    fn throttled(&self) -> u64 {
        self.lock().throttled
    }

    /// Serves ListCidrCollections, then ListCidrBlocks, page by page (each page a request,
    /// counted, and throttled when injected).
    async fn find_cidr_collection(
        &self,
        name: &str,
    ) -> Result<Option<CidrCollectionState>, WriteError> {
        let mut seen = 0;
        let found = loop {
            self.maybe_throttle().await;
            let mut s = self.lock();
            s.calls.cidr_lists += 1;
            let mut all: Vec<&Collection> = s.collections.values().collect();
            all.sort_by(|a, b| (&a.name, &a.state.id).cmp(&(&b.name, &b.state.id)));
            let page_size = s.faults.cidr_page_size.max(1);
            let page: Vec<&Collection> = all.iter().skip(seen).take(page_size).copied().collect();
            seen += page.len();
            if let Some(c) = page.iter().find(|c| c.name == name) {
                break Some(c.state.id.clone());
            }
            if seen >= all.len() {
                break None;
            }
        };
        let Some(id) = found else {
            return Ok(None);
        };
        let mut seen = 0;
        loop {
            self.maybe_throttle().await;
            let mut s = self.lock();
            s.calls.cidr_lists += 1;
            let page_size = s.faults.cidr_page_size.max(1);
            let Some(c) = s.collections.get(&id) else {
                return Err(cidr_error(
                    "ListCidrBlocks",
                    "NoSuchCidrCollectionException",
                    format!("The CIDR collection {id} doesn't exist"),
                ));
            };
            seen += page_size;
            if seen >= c.state.blocks.len() {
                return Ok(Some(c.state.clone()));
            }
        }
    }

    async fn create_cidr_collection(
        &self,
        name: &str,
        caller_reference: &str,
    ) -> Result<CidrCollectionState, WriteError> {
        const OP: &str = "CreateCidrCollection";
        self.maybe_throttle().await;
        let mut s = self.lock();
        s.calls.cidr_writes += 1;
        injected_failure(&mut s, OP)?;
        if !is_collection_name(name)
            || !(1..=64).contains(&caller_reference.len())
            || !caller_reference.is_ascii()
        {
            return Err(cidr_error(
                OP,
                "InvalidInput",
                format!(
                    "the name {name:?} is not 1 to 64 of [0-9A-Za-z_-], or the caller reference \
                     {caller_reference:?} is not 1 to 64 ASCII characters"
                ),
            ));
        }
        if let Some(c) = s.collections.values().find(|c| c.name == name) {
            if c.caller_reference == caller_reference {
                return Ok(c.state.clone());
            }
            return Err(cidr_error(
                OP,
                "CidrCollectionAlreadyExistsException",
                format!(
                    "A CIDR collection with the name {name} and a different caller reference \
                     already exists"
                ),
            ));
        }
        if s.collections.len() >= MAX_COLLECTIONS {
            return Err(cidr_error(
                OP,
                "LimitsExceeded",
                format!("the account holds {MAX_COLLECTIONS} CIDR collections, the limit"),
            ));
        }
        s.created_collections += 1;
        let n = s.created_collections;
        let id = format!("{:08x}-0000-4000-8000-{n:012x}", n & 0xffff_ffff);
        let state = CidrCollectionState {
            id: id.clone(),
            version: 1,
            blocks: BTreeMap::new(),
        };
        s.collections.insert(
            id,
            Collection {
                name: name.to_owned(),
                caller_reference: caller_reference.to_owned(),
                state: state.clone(),
            },
        );
        Ok(state)
    }

    async fn change_cidr_collection(
        &self,
        id: &str,
        version: i64,
        changes: &[LocationChange],
    ) -> Result<i64, WriteError> {
        self.maybe_throttle().await;
        let mut s = self.lock();
        s.calls.cidr_writes += 1;
        injected_failure(&mut s, "ChangeCidrCollection")?;
        apply_cidr(&mut s, id, Some(version), changes)?;
        Ok(version + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cidr::{Action, collection_requests};

    fn store() -> MemoryStore {
        MemoryStore::new(Fqdn::parse("lab.test").unwrap())
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn wanted(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<IpNet>> {
        pairs
            .iter()
            .map(|(l, bs)| ((*l).to_owned(), bs.iter().map(|b| net(b)).collect()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_collection_is_found_created_and_changed_at_its_version() {
        let s = store();
        assert_eq!(s.find_cidr_collection("carriers").await.unwrap(), None);
        let created = s.create_cidr_collection("carriers", "ref-1").await.unwrap();
        assert!(cidr::is_collection_id(&created.id), "{}", created.id);
        assert_eq!((created.version, created.blocks.len()), (1, 0));
        // The same request again is a retry: the same collection.
        assert_eq!(
            s.create_cidr_collection("carriers", "ref-1").await.unwrap(),
            created
        );
        let other = s.create_cidr_collection("carriers", "ref-2").await;
        assert!(
            matches!(&other, Err(WriteError::Api { code: Some(c), .. }) if c == "CidrCollectionAlreadyExistsException"),
            "{other:?}"
        );
        let found = s.find_cidr_collection("carriers").await.unwrap().unwrap();
        assert_eq!(found, created);

        let w = wanted(&[
            ("verizon", &["198.51.100.0/24", "2001:db8::/32"]),
            ("kddi", &["203.0.113.0/24"]),
        ]);
        let requests = collection_requests(&found.blocks, &w);
        assert_eq!(requests.len(), 1);
        let v = s
            .change_cidr_collection(&found.id, found.version, &requests[0])
            .await
            .unwrap();
        assert_eq!(v, 2);
        let found = s.find_cidr_collection("carriers").await.unwrap().unwrap();
        assert_eq!(found.version, 2);
        assert_eq!(found.blocks[&net("203.0.113.0/24")], "kddi");
        assert_eq!(found.blocks[&net("2001:db8::/32")], "verizon");
        assert_eq!(found.blocks.len(), 3);

        // A block moves between locations in one request.
        let next = wanted(&[(
            "verizon",
            &["198.51.100.0/24", "2001:db8::/32", "203.0.113.0/24"],
        )]);
        let requests = collection_requests(&found.blocks, &next);
        assert_eq!(requests.len(), 1);
        let v = s
            .change_cidr_collection(&found.id, found.version, &requests[0])
            .await
            .unwrap();
        let after = s.cidr_collection(&found.id).unwrap();
        assert_eq!(after.version, v);
        assert_eq!(after.blocks[&net("203.0.113.0/24")], "verizon");
        assert_eq!(after.blocks.len(), 3);
        // One request to find no collection, two (collections, blocks) to find one, twice.
        assert_eq!(s.calls().cidr_lists, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_at_a_stale_version_is_a_conflict_and_changes_nothing() {
        let s = store();
        let c = s.create_cidr_collection("carriers", "r").await.unwrap();
        let put = |location: &str, block: &str| LocationChange {
            location: location.into(),
            action: Action::Put,
            blocks: vec![net(block)],
        };
        // Another writer changes the collection after it was read.
        assert_eq!(
            s.apply_cidr(&c.id, &[put("kddi", "192.0.2.0/24")]).unwrap(),
            2
        );
        let err = s
            .change_cidr_collection(&c.id, c.version, &[put("verizon", "198.51.100.0/24")])
            .await
            .unwrap_err();
        assert!(matches!(err, WriteError::Conflict { .. }), "{err:?}");
        let now = s.cidr_collection(&c.id).unwrap();
        assert_eq!(now.version, 2);
        assert_eq!(now.blocks.len(), 1);
        // A block in two locations is refused for good, and changes nothing either.
        let err = s
            .change_cidr_collection(&c.id, 2, &[put("verizon", "192.0.2.0/24")])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, WriteError::Api { code: Some(code), .. } if code == "CidrBlockInUseException"),
            "{err:?}"
        );
        assert_eq!(s.cidr_collection(&c.id).unwrap(), now);
        // So is a bad location name.
        let err = s
            .change_cidr_collection(&c.id, 2, &[put("*", "198.51.100.0/24")])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, WriteError::Api { code: Some(code), .. } if code == "InvalidInput"),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cidr_requests_are_throttled_and_fail_like_the_others() {
        let s = store();
        s.faults(|f| {
            f.throttle_next = 2;
            f.throttle_delay = Duration::from_secs(1);
        });
        let started = Instant::now();
        let c = s.create_cidr_collection("carriers", "r").await.unwrap();
        assert!(s.find_cidr_collection("carriers").await.unwrap().is_some());
        assert_eq!(s.throttled(), 2);
        assert_eq!(started.elapsed(), Duration::from_secs(2));

        s.faults(|f| f.fail_next = 1);
        let change = [LocationChange {
            location: "kddi".into(),
            action: Action::Put,
            blocks: vec![net("192.0.2.0/24")],
        }];
        let err = s
            .change_cidr_collection(&c.id, c.version, &change)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::RetriesExhausted {
                    operation: "ChangeCidrCollection",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(s.cidr_collection(&c.id).unwrap().version, 1);
        assert_eq!(
            s.change_cidr_collection(&c.id, c.version, &change)
                .await
                .unwrap(),
            2
        );
    }

    #[tokio::test(start_paused = true)]
    async fn find_pages_through_the_collections_and_the_blocks() {
        let s = store();
        s.faults(|f| f.cidr_page_size = 2);
        for name in ["a", "b", "c", "d"] {
            s.create_cidr_collection(name, name).await.unwrap();
        }
        let d = s.find_cidr_collection("d").await.unwrap().unwrap();
        // Two pages of collections, one (empty) of blocks.
        assert_eq!(s.calls().cidr_lists, 3);
        let blocks: Vec<IpNet> = (0..5).map(|i| net(&format!("10.{i}.0.0/16"))).collect();
        s.apply_cidr(
            &d.id,
            &[LocationChange {
                location: "x".into(),
                action: Action::Put,
                blocks,
            }],
        )
        .unwrap();
        let d = s.find_cidr_collection("d").await.unwrap().unwrap();
        assert_eq!(d.blocks.len(), 5);
        // Two pages of collections, three of blocks.
        assert_eq!(s.calls().cidr_lists, 3 + 5);
    }
}
