//! Route 53's CIDR collections (IP-based routing) as the lab keeps them: a collection maps CIDR
//! blocks to named locations; record sets will name a collection and a location
//! (`CidrRoutingConfig`) and DNS answers a client by the block its address falls in. Here, pure:
//! the model ([`CidrCollection`]), Route 53's validation rules and the lab's quotas, the
//! ChangeCidrCollection semantics ([`CidrCollection::apply`]: atomic, version-checked, one
//! location per block) and the opaque page tokens of the three listings ([`PageToken`]). No I/O
//! and no clock.
//!
//! The feature's other parts: [`store`] (the store's collections and the in-use hook record
//! sets will use), [`xml`] (the requests and responses, lists as `<member>`) and [`api`] (the six
//! operations: Create, List, Change, ListCidrLocations, ListCidrBlocks, Delete).
//!
//! Facts and their sources: Route 53's API reference (CreateCidrCollection,
//! ChangeCidrCollection, CidrCollectionChange, the three listings, DeleteCidrCollection) and the
//! Smithy model of `aws-sdk-route53`; docs/route53-compatibility.md ("CIDR collections") says
//! which choices are the lab's.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub mod api;
pub mod store;
pub mod xml;

/// The lab's quota of CIDR collections per account. No AWS source states Route 53's; third-party
/// write-ups say 5 (unverified), and the lab keeps that. Past it: `LimitsExceeded`.
pub const MAX_COLLECTIONS: usize = 5;
/// The lab's quota of CIDR blocks in one collection (third-party, unverified: 1 000):
/// `registry::cidr`'s, which wavelb's writers plan within.
pub use registry::cidr::MAX_BLOCKS as MAX_BLOCKS_PER_COLLECTION;
/// The lab's quota of locations in one collection (third-party, unverified: 100).
pub const MAX_LOCATIONS_PER_COLLECTION: usize = 100;
/// Route 53's most `Changes` in one ChangeCidrCollection (API reference: 1–1 000 items).
pub const MAX_CHANGES: usize = 1000;
/// Route 53's most `Cidr` in one change's `CidrList` (1–1 000 items).
pub const MAX_CIDRS_PER_CHANGE: usize = 1000;
/// Route 53's most CIDR blocks in one ChangeCidrCollection, all changes together ("The max
/// number of CIDR blocks included in the request is 1000"), and its longest `LocationName`
/// (1–16 of `[0-9A-Za-z_-]`): `registry::cidr`'s.
pub use registry::cidr::{MAX_BLOCKS_PER_REQUEST, MAX_LOCATION_CHARS};
/// Route 53's longest collection `Name` (1–64 of `[0-9A-Za-z_-]`).
pub const MAX_NAME_CHARS: usize = 64;
/// Route 53's longest `CallerReference` of a collection (1–64 ASCII characters).
pub const MAX_CALLER_REFERENCE_CHARS: usize = 64;
/// Route 53's longest `Cidr` (1–50 characters).
pub const MAX_CIDR_CHARS: usize = 50;
/// The longest IPv4 and IPv6 prefixes a block may have (Developer Guide, "IP-based routing":
/// /1 to /24, /1 to /48): the rule is `registry::cidr`'s, shared with wavelb's writers.
pub use registry::cidr::{MAX_V4_PREFIX, MAX_V6_PREFIX};
/// The default and the largest page of the three listings (`maxresults`). Route 53 documents
/// neither; the lab's choice, as its other listings' default.
pub const MAX_PAGE: usize = 100;
/// Route 53's longest `nexttoken` (1 024 characters).
pub const MAX_NEXT_TOKEN_CHARS: usize = 1024;

/// Why a CIDR collection request is refused; the API maps each onto Route 53's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// `InvalidInput` (400): a value breaks a field's rule.
    #[error("{0}")]
    InvalidInput(String),
    /// `NoSuchCidrCollectionException` (404).
    #[error("The CIDR collection {0} doesn't exist")]
    NoSuchCollection(String),
    /// `NoSuchCidrLocationException` (404).
    #[error("The CIDR collection location {0} doesn't match any locations in the collection")]
    NoSuchLocation(String),
    /// `CidrCollectionAlreadyExistsException` (400).
    #[error("A CIDR collection with the name {0} and a different caller reference already exists")]
    AlreadyExists(String),
    /// `CidrCollectionInUseException` (400).
    #[error(
        "The CIDR collection {0} is in use, and isn't empty: delete its locations (every block) \
         first"
    )]
    InUse(String),
    /// `CidrCollectionVersionMismatchException` (409).
    #[error(
        "The CIDR collection version you specified ({given}) doesn't match the current version \
         ({current}); list the collection and retry"
    )]
    VersionMismatch {
        /// `CollectionVersion` as the request named it.
        given: u64,
        /// The collection's version.
        current: u64,
    },
    /// `CidrBlockInUseException` (400).
    #[error("This CIDR block is already in use: {0}")]
    BlockInUse(String),
    /// `LimitsExceeded` (400): one of the lab's quotas.
    #[error("{0}")]
    LimitsExceeded(String),
}

/// `InvalidInput` in the shape of AWS's validation errors.
fn invalid(field: &str, constraint: impl std::fmt::Display) -> CidrError {
    CidrError::InvalidInput(format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
         {constraint}"
    ))
}

/// `Ok` for 1–`max` characters of `[0-9A-Za-z_-]` (a collection or location name).
fn check_name(field: &str, value: &str, max: usize) -> Result<(), CidrError> {
    let chars = value.chars().count();
    if !(1..=max).contains(&chars) {
        return Err(invalid(
            field,
            format!("Member must have length between 1 and {max} (it has {chars})"),
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            field,
            "Member must satisfy regular expression pattern: [0-9A-Za-z_\\-]+",
        ));
    }
    Ok(())
}

/// `Ok` for a collection `Name` Route 53 takes.
///
/// # Errors
///
/// `InvalidInput`.
pub fn check_collection_name(name: &str) -> Result<(), CidrError> {
    check_name("name", name, MAX_NAME_CHARS)
}

/// `Ok` for a `LocationName` a collection may hold (`*`, the default location of record sets,
/// is not one).
///
/// # Errors
///
/// `InvalidInput`.
pub fn check_location_name(location: &str) -> Result<(), CidrError> {
    check_name("locationName", location, MAX_LOCATION_CHARS)
}

/// `Ok` for a `CallerReference` Route 53 takes: 1–64 ASCII characters.
///
/// # Errors
///
/// `InvalidInput`.
pub fn check_caller_reference(reference: &str) -> Result<(), CidrError> {
    let chars = reference.chars().count();
    if !(1..=MAX_CALLER_REFERENCE_CHARS).contains(&chars) {
        return Err(invalid(
            "callerReference",
            format!(
                "Member must have length between 1 and {MAX_CALLER_REFERENCE_CHARS} (it has \
                 {chars})"
            ),
        ));
    }
    if !reference.is_ascii() {
        return Err(invalid(
            "callerReference",
            "Member must satisfy regular expression pattern: \\p{ASCII}+",
        ));
    }
    Ok(())
}

/// True for an id in Route 53's collection shape: a lower-case UUID,
/// `[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}`.
pub use registry::cidr::is_collection_id;

/// `Ok` for a collection id of Route 53's shape (a path's `{Id}`).
///
/// # Errors
///
/// `InvalidInput`: Route 53 checks the pattern before it looks the collection up.
pub fn check_collection_id(id: &str) -> Result<(), CidrError> {
    if is_collection_id(id) {
        Ok(())
    } else {
        Err(invalid(
            "id",
            "Member must satisfy regular expression pattern: \
             [0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}",
        ))
    }
}

/// The ARN of collection `id`.
pub fn arn(id: &str) -> String {
    format!("arn:aws:route53:::cidrcollection/{id}")
}

/// A CIDR block as a collection may hold it: an IPv4 network of /1–/24 or an IPv6 network of
/// /1–/48, written with its host bits zero (Route 53 refuses `10.0.0.1/24`; `10.0.0.0/24` is
/// the block). Any spelling of the address `std` reads is taken (`2001:DB8::/32`, uncompressed
/// IPv6); the block is kept, and listed, in its canonical spelling.
///
/// # Errors
///
/// `InvalidInput` naming the block and what is wrong with it.
pub fn parse_block(text: &str) -> Result<IpNet, CidrError> {
    let chars = text.chars().count();
    if !(1..=MAX_CIDR_CHARS).contains(&chars) {
        return Err(invalid(
            "cidrList.member",
            format!("Member must have length between 1 and {MAX_CIDR_CHARS} (it has {chars})"),
        ));
    }
    registry::cidr::parse_block(text).map_err(|why| {
        CidrError::InvalidInput(format!("The CIDR block {text:?} is not valid: {why}"))
    })
}

/// What one change does (`Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    /// `PUT`: the blocks are in the location afterwards.
    Put,
    /// `DELETE_IF_EXISTS`: the blocks are not in the location afterwards (one that is not there
    /// is no error).
    DeleteIfExists,
}

impl ChangeAction {
    /// The action `text` names.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for anything but `PUT` and `DELETE_IF_EXISTS`.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        match text {
            "PUT" => Ok(Self::Put),
            "DELETE_IF_EXISTS" => Ok(Self::DeleteIfExists),
            _ => Err(invalid(
                "changes.member.action",
                "Member must satisfy enum value set: [PUT, DELETE_IF_EXISTS]",
            )),
        }
    }
}

/// One `CidrCollectionChange` as the request wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChange {
    /// `LocationName`.
    pub location: String,
    /// `Action`.
    pub action: String,
    /// `CidrList`.
    pub cidrs: Vec<String>,
}

/// One change, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrChange {
    /// The location.
    pub location: String,
    /// What to do.
    pub action: ChangeAction,
    /// The blocks.
    pub blocks: Vec<IpNet>,
}

/// Checks a ChangeCidrCollection's changes against Route 53's rules: 1–1 000 changes, each with
/// a location name, an action and 1–1 000 blocks, at most 1 000 blocks in all, every block
/// valid ([`parse_block`]).
///
/// # Errors
///
/// `InvalidInput` for the first rule broken.
pub fn check_changes(raw: &[RawChange]) -> Result<Vec<CidrChange>, CidrError> {
    if !(1..=MAX_CHANGES).contains(&raw.len()) {
        return Err(invalid(
            "changes",
            format!(
                "Member must have length between 1 and {MAX_CHANGES} (it has {})",
                raw.len()
            ),
        ));
    }
    let total: usize = raw.iter().map(|c| c.cidrs.len()).sum();
    if total > MAX_BLOCKS_PER_REQUEST {
        return Err(CidrError::InvalidInput(format!(
            "The request holds {total} CIDR blocks; the max number of CIDR blocks included in \
             the request is {MAX_BLOCKS_PER_REQUEST}. Split it into several requests"
        )));
    }
    raw.iter()
        .map(|c| {
            check_location_name(&c.location)?;
            let action = ChangeAction::parse(&c.action)?;
            if !(1..=MAX_CIDRS_PER_CHANGE).contains(&c.cidrs.len()) {
                return Err(invalid(
                    "changes.member.cidrList",
                    format!(
                        "Member must have length between 1 and {MAX_CIDRS_PER_CHANGE} (it has {})",
                        c.cidrs.len()
                    ),
                ));
            }
            let blocks = c
                .cidrs
                .iter()
                .map(|b| parse_block(b))
                .collect::<Result<_, _>>()?;
            Ok(CidrChange {
                location: c.location.clone(),
                action,
                blocks,
            })
        })
        .collect()
}

/// A CIDR collection: its identity, its version, and which location each of its blocks is in.
/// A location exists while it holds at least one block (Route 53 has no call to create or
/// delete one: a PUT creates it, deleting its last block deletes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct CidrCollection {
    /// The id: a random lower-case UUID, as Route 53 gives.
    pub id: String,
    /// `Name`, unique in the account.
    pub name: String,
    /// The caller reference it was created with.
    pub caller_reference: String,
    /// `Version`: 1 at creation, one more with every ChangeCidrCollection that changed a block.
    pub version: u64,
    /// Each block and the location it is in.
    blocks: BTreeMap<IpNet, String>,
}

impl CidrCollection {
    /// A new, empty collection (version 1).
    pub fn new(id: String, name: String, caller_reference: String) -> Self {
        Self {
            id,
            name,
            caller_reference,
            version: 1,
            blocks: BTreeMap::new(),
        }
    }

    /// `arn:aws:route53:::cidrcollection/<id>`.
    pub fn arn(&self) -> String {
        arn(&self.id)
    }

    /// Every block and the location it is in, in block order (IPv4 before IPv6, then by
    /// address and prefix length): what DNS matches a client's address against.
    pub fn blocks(&self) -> impl Iterator<Item = (IpNet, &str)> {
        self.blocks.iter().map(|(b, l)| (*b, l.as_str()))
    }

    /// The location `block` is in, if the collection holds it.
    pub fn location_of(&self, block: &IpNet) -> Option<&str> {
        self.blocks.get(block).map(String::as_str)
    }

    /// True when the collection holds no block (and so no location).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// True when `location` holds a block (a location exists while it has one).
    pub fn has_location(&self, location: &str) -> bool {
        self.blocks.values().any(|l| l == location)
    }

    /// The locations of the collection, in name order.
    pub fn locations(&self) -> BTreeSet<&str> {
        self.blocks.values().map(String::as_str).collect()
    }

    /// Every block with its location, by location, then block (ListCidrBlocks' order).
    pub fn blocks_by_location(&self) -> Vec<(&str, IpNet)> {
        let mut out: Vec<(&str, IpNet)> =
            self.blocks.iter().map(|(b, l)| (l.as_str(), *b)).collect();
        out.sort_unstable();
        out
    }

    /// Applies a ChangeCidrCollection: with `version`, only if it is the collection's. The
    /// changes apply in order on a copy of the blocks, so one request can move a block (delete
    /// it from one location and put it in another, in either order); only the result is
    /// checked: a block in two locations is `CidrBlockInUseException`, and the lab's quotas
    /// hold. Nothing changes unless everything holds. A request that changes no block (a PUT of
    /// a block already there, a DELETE_IF_EXISTS of one that is not) succeeds and keeps the
    /// version; otherwise the version goes up by one.
    ///
    /// Returns the collection after the change and the locations it removed (they held blocks
    /// before, none after).
    ///
    /// # Errors
    ///
    /// `CidrCollectionVersionMismatchException`, `CidrBlockInUseException`, `LimitsExceeded`.
    pub fn apply(
        &self,
        version: Option<u64>,
        changes: &[CidrChange],
    ) -> Result<(Self, Vec<String>), CidrError> {
        if let Some(given) = version
            && given != self.version
        {
            return Err(CidrError::VersionMismatch {
                given,
                current: self.version,
            });
        }
        // Each block and the locations it is in as the changes go; more than one at the end is
        // refused.
        let mut working: BTreeMap<IpNet, BTreeSet<&str>> = self
            .blocks
            .iter()
            .map(|(b, l)| (*b, BTreeSet::from([l.as_str()])))
            .collect();
        for change in changes {
            for block in &change.blocks {
                match change.action {
                    ChangeAction::Put => {
                        working
                            .entry(*block)
                            .or_default()
                            .insert(change.location.as_str());
                    }
                    ChangeAction::DeleteIfExists => {
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
            let (Some(first), None) = (locations.next(), locations.next()) else {
                let now = self.location_of(&block).unwrap_or("another location");
                return Err(CidrError::BlockInUse(format!(
                    "{block} is in location {now} of collection {}; a block can be in one \
                     location of a collection only (delete it from {now} in the same request \
                     to move it)",
                    self.id
                )));
            };
            blocks.insert(block, first.to_owned());
        }
        if blocks.len() > MAX_BLOCKS_PER_COLLECTION {
            return Err(CidrError::LimitsExceeded(format!(
                "The CIDR collection {} would hold {} CIDR blocks; the lab's limit is \
                 {MAX_BLOCKS_PER_COLLECTION} per collection",
                self.id,
                blocks.len()
            )));
        }
        let after: BTreeSet<&str> = blocks.values().map(String::as_str).collect();
        if after.len() > MAX_LOCATIONS_PER_COLLECTION {
            return Err(CidrError::LimitsExceeded(format!(
                "The CIDR collection {} would hold {} locations; the lab's limit is \
                 {MAX_LOCATIONS_PER_COLLECTION} per collection",
                self.id,
                after.len()
            )));
        }
        let removed = self
            .locations()
            .into_iter()
            .filter(|l| !after.contains(l))
            .map(str::to_owned)
            .collect();
        let mut next = self.clone();
        if blocks != self.blocks {
            next.blocks = blocks;
            next.version = self.version.saturating_add(1);
        }
        Ok((next, removed))
    }
}

/// A collection as the state database and older state files keep it: its blocks grouped by
/// location, as text.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    name: String,
    caller_reference: String,
    version: u64,
    locations: BTreeMap<String, Vec<String>>,
}

impl From<CidrCollection> for Stored {
    fn from(c: CidrCollection) -> Self {
        let mut locations: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (block, location) in c.blocks {
            locations
                .entry(location)
                .or_default()
                .push(block.to_string());
        }
        Self {
            id: c.id,
            name: c.name,
            caller_reference: c.caller_reference,
            version: c.version,
            locations,
        }
    }
}

/// A stored collection is checked as a request would be: what loads is what the API could have
/// made.
impl TryFrom<Stored> for CidrCollection {
    type Error = CidrError;

    fn try_from(s: Stored) -> Result<Self, CidrError> {
        check_collection_id(&s.id)?;
        check_collection_name(&s.name)?;
        check_caller_reference(&s.caller_reference)?;
        if s.version == 0 {
            return Err(CidrError::InvalidInput(format!(
                "collection {} has version 0",
                s.id
            )));
        }
        let mut blocks = BTreeMap::new();
        for (location, list) in s.locations {
            check_location_name(&location)?;
            for text in list {
                let block = parse_block(&text)?;
                if let Some(other) = blocks.insert(block, location.clone()) {
                    return Err(CidrError::BlockInUse(format!(
                        "{block} is in locations {other} and {location} of collection {}",
                        s.id
                    )));
                }
            }
        }
        Ok(Self {
            id: s.id,
            name: s.name,
            caller_reference: s.caller_reference,
            version: s.version,
            blocks,
        })
    }
}

/// Which listing a page token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// ListCidrCollections.
    Collections,
    /// ListCidrLocations.
    Locations,
    /// ListCidrBlocks.
    Blocks,
}

impl Listing {
    fn tag(self) -> char {
        match self {
            Self::Collections => 'c',
            Self::Locations => 'l',
            Self::Blocks => 'b',
        }
    }
}

/// Where the next page of a listing starts: the key of its first item. Listings are in a
/// stable order (collections by name, then id; locations by name; blocks by location, then
/// block), and a page holds the items whose key is this one or after, so a change between
/// pages neither repeats nor skips an item that stayed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageToken {
    /// ListCidrCollections: name and id.
    Collection(String, String),
    /// ListCidrLocations: the location.
    Location(String),
    /// ListCidrBlocks: the location and the block.
    Block(String, IpNet),
}

impl PageToken {
    /// The token as `NextToken`: opaque (hex), well under Route 53's 1 024 characters.
    pub fn encode(&self) -> String {
        let (listing, key) = match self {
            Self::Collection(name, id) => (Listing::Collections, format!("{name}/{id}")),
            Self::Location(location) => (Listing::Locations, location.clone()),
            Self::Block(location, block) => (Listing::Blocks, format!("{location}/{block}")),
        };
        std::iter::once(listing.tag())
            .chain(key.bytes().flat_map(|b| {
                let hex = |n: u8| char::from(b"0123456789abcdef"[usize::from(n)]);
                [hex(b >> 4), hex(b & 0x0f)]
            }))
            .collect()
    }

    /// The token `text` (a `nexttoken` of `listing`), checked: a token this listing did not
    /// give out is refused rather than taken for a position.
    ///
    /// # Errors
    ///
    /// `InvalidInput`.
    pub fn decode(listing: Listing, text: &str) -> Result<Self, CidrError> {
        let refused = || {
            CidrError::InvalidInput(format!(
                "The nexttoken is not one this listing gave out (it is {} characters); start \
                 over without it",
                text.chars().count()
            ))
        };
        if text.len() > MAX_NEXT_TOKEN_CHARS {
            return Err(refused());
        }
        let hex = text.strip_prefix(listing.tag()).ok_or_else(refused)?;
        if hex.len() % 2 != 0 {
            return Err(refused());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(refused)?;
        let key = String::from_utf8(bytes).map_err(|_| refused())?;
        let token = match listing {
            Listing::Collections => {
                let (name, id) = key.split_once('/').ok_or_else(refused)?;
                check_collection_name(name).map_err(|_| refused())?;
                check_collection_id(id).map_err(|_| refused())?;
                Self::Collection(name.to_owned(), id.to_owned())
            }
            Listing::Locations => {
                check_location_name(&key).map_err(|_| refused())?;
                Self::Location(key)
            }
            Listing::Blocks => {
                let (location, block) = key.split_once('/').ok_or_else(refused)?;
                check_location_name(location).map_err(|_| refused())?;
                let block = parse_block(block).map_err(|_| refused())?;
                Self::Block(location.to_owned(), block)
            }
        };
        Ok(token)
    }
}

/// One page of a listing of `items` (in key order): those whose key is `start` or after, at
/// most `max`, and the token of the next page when there is one.
pub fn page<T>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> PageToken,
    start: Option<&PageToken>,
    max: usize,
) -> (Vec<T>, Option<PageToken>) {
    let mut rest = items
        .into_iter()
        .filter(|item| start.is_none_or(|s| key(item) >= *s));
    let page: Vec<T> = rest.by_ref().take(max).collect();
    let next = rest.next().map(|item| key(&item));
    (page, next)
}

/// The `maxresults` of a listing: [`MAX_PAGE`] without it, at most [`MAX_PAGE`].
///
/// # Errors
///
/// `InvalidInput` for anything but a positive integer.
pub fn max_results(text: Option<&str>) -> Result<usize, CidrError> {
    match text {
        None => Ok(MAX_PAGE),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n.min(MAX_PAGE))
            .ok_or_else(|| {
                CidrError::InvalidInput(format!("maxresults {v:?} is not a positive integer"))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b";

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn change(location: &str, action: ChangeAction, blocks: &[&str]) -> CidrChange {
        CidrChange {
            location: location.into(),
            action,
            blocks: blocks.iter().map(|b| net(b)).collect(),
        }
    }

    fn put(location: &str, blocks: &[&str]) -> CidrChange {
        change(location, ChangeAction::Put, blocks)
    }

    fn delete(location: &str, blocks: &[&str]) -> CidrChange {
        change(location, ChangeAction::DeleteIfExists, blocks)
    }

    fn empty() -> CidrCollection {
        CidrCollection::new(ID.into(), "lab".into(), "r1".into())
    }

    /// The collection after `changes`, which must apply.
    fn applied(c: &CidrCollection, changes: &[CidrChange]) -> CidrCollection {
        c.apply(None, changes).unwrap().0
    }

    fn listed(c: &CidrCollection) -> Vec<(String, String)> {
        c.blocks_by_location()
            .into_iter()
            .map(|(l, b)| (l.to_owned(), b.to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(l, b)| ((*l).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn is_invalid<T: std::fmt::Debug>(r: Result<T, CidrError>) -> bool {
        matches!(r, Err(CidrError::InvalidInput(_)))
    }

    #[test]
    fn names_locations_references_and_ids_follow_route53s_patterns() {
        for good in ["a", "lab-1_X", &"n".repeat(MAX_NAME_CHARS)] {
            assert_eq!(check_collection_name(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "a.b", "é", "*", &"n".repeat(MAX_NAME_CHARS + 1)] {
            assert!(is_invalid(check_collection_name(bad)), "{bad:?}");
        }
        assert_eq!(check_location_name(&"l".repeat(MAX_LOCATION_CHARS)), Ok(()));
        for bad in ["", "*", "a/b", &"l".repeat(MAX_LOCATION_CHARS + 1)] {
            assert!(is_invalid(check_location_name(bad)), "{bad:?}");
        }
        assert_eq!(check_caller_reference("any thing: ascii!"), Ok(()));
        for bad in ["", "ré", &"r".repeat(MAX_CALLER_REFERENCE_CHARS + 1)] {
            assert!(is_invalid(check_caller_reference(bad)), "{bad:?}");
        }
        assert!(is_collection_id(ID));
        for bad in [
            "0B6E1F2A-1C3D-4E5F-8A9B-0C1D2E3F4A5B",
            "0b6e1f2a1c3d4e5f8a9b0c1d2e3f4a5b",
            "0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5",
            "0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5bb",
            "0b6e1f2g-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "Z0123",
            "",
        ] {
            assert!(!is_collection_id(bad), "{bad}");
            assert!(is_invalid(check_collection_id(bad)), "{bad}");
        }
        assert_eq!(arn(ID), format!("arn:aws:route53:::cidrcollection/{ID}"));
    }

    #[test]
    fn blocks_must_be_canonical_networks_within_the_prefix_bounds() {
        for (text, canonical) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("192.0.2.0/24", "192.0.2.0/24"),
            ("128.0.0.0/1", "128.0.0.0/1"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("2001:DB8::/48", "2001:db8::/48"),
            (
                "2001:0db8:0000:0000:0000:0000:0000:0000/32",
                "2001:db8::/32",
            ),
            ("8000::/1", "8000::/1"),
        ] {
            assert_eq!(parse_block(text).unwrap().to_string(), canonical, "{text}");
        }
        for (text, why) in [
            // Host bits set: Route 53 refuses the block rather than truncating it.
            ("10.0.0.1/24", "host bits"),
            ("2001:db8::1/48", "host bits"),
            // Prefix lengths outside /1–/24 and /1–/48.
            ("0.0.0.0/0", "/1 to /24"),
            ("192.0.2.0/25", "/1 to /24"),
            ("192.0.2.1/32", "/1 to /24"),
            ("::/0", "/1 to /48"),
            ("2001:db8::/49", "/1 to /48"),
            // Not a network.
            ("192.0.2.0", "prefix"),
            ("192.0.2.0/", "prefix length"),
            ("192.0.2.0/024", "prefix length"),
            ("192.0.2.0/+24", "prefix length"),
            ("192.0.2.0/33", "/1 to /24"),
            ("192.000.2.0/24", "address"),
            ("example.com/24", "address"),
            (" 10.0.0.0/8", "address"),
        ] {
            match parse_block(text) {
                Err(CidrError::InvalidInput(m)) => assert!(m.contains(why), "{text}: {m}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(is_invalid(parse_block("")));
        let long = format!("{}/8", "1".repeat(MAX_CIDR_CHARS));
        assert!(is_invalid(parse_block(&long)));
    }

    #[test]
    fn a_request_holds_1_to_1000_changes_and_blocks() {
        let raw = |location: &str, action: &str, cidrs: Vec<String>| RawChange {
            location: location.into(),
            action: action.into(),
            cidrs,
        };
        let one = |action: &str| raw("edge", action, vec!["10.0.0.0/8".into()]);
        let ok = check_changes(&[one("PUT"), one("DELETE_IF_EXISTS")]).unwrap();
        assert_eq!(ok[0], put("edge", &["10.0.0.0/8"]));
        assert_eq!(ok[1], delete("edge", &["10.0.0.0/8"]));
        assert!(is_invalid(check_changes(&[])));
        assert!(is_invalid(check_changes(&[one("UPSERT")])));
        assert!(is_invalid(check_changes(&[one("put")])));
        assert!(is_invalid(check_changes(&[raw("edge", "PUT", vec![])])));
        assert!(is_invalid(check_changes(&[raw(
            "*",
            "PUT",
            vec!["10.0.0.0/8".into()]
        )])));
        assert!(is_invalid(check_changes(&[raw(
            "edge",
            "PUT",
            vec!["10.0.0.1/8".into()]
        )])));
        let blocks = |n: usize, from: usize| -> Vec<String> {
            (from..from + n)
                .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
                .collect()
        };
        // 1 000 blocks in all pass, over one change or two; 1 001 do not, however split.
        assert!(check_changes(&[raw("a", "PUT", blocks(1000, 0))]).is_ok());
        assert!(
            check_changes(&[
                raw("a", "PUT", blocks(600, 0)),
                raw("b", "PUT", blocks(400, 600))
            ])
            .is_ok()
        );
        let e = check_changes(&[raw("a", "PUT", blocks(1001, 0))]).unwrap_err();
        assert!(e.to_string().contains("1001 CIDR blocks"), "{e}");
        assert!(is_invalid(check_changes(&[
            raw("a", "PUT", blocks(600, 0)),
            raw("b", "PUT", blocks(401, 600)),
        ])));
        let many: Vec<RawChange> = (0..=MAX_CHANGES).map(|_| one("PUT")).collect();
        assert!(is_invalid(check_changes(&many)));
    }

    #[test]
    fn changes_apply_atomically_and_bump_the_version_once() {
        let c = empty();
        let (after, removed) = c
            .apply(
                Some(1),
                &[
                    put("edge", &["192.0.2.0/24", "2001:db8::/32"]),
                    put("core", &["10.0.0.0/8"]),
                ],
            )
            .unwrap();
        assert_eq!(after.version, 2, "one request, one version");
        assert!(removed.is_empty());
        assert_eq!(
            listed(&after),
            pairs(&[
                ("core", "10.0.0.0/8"),
                ("edge", "192.0.2.0/24"),
                ("edge", "2001:db8::/32"),
            ])
        );
        assert_eq!(
            after.locations().into_iter().collect::<Vec<_>>(),
            ["core", "edge"]
        );
        assert_eq!(c.version, 1, "the original is untouched");
        // A refused request changes nothing: the conflict is in its second change.
        let e = after
            .apply(
                None,
                &[
                    put("edge", &["198.51.100.0/24"]),
                    put("other", &["10.0.0.0/8"]),
                ],
            )
            .unwrap_err();
        let CidrError::BlockInUse(m) = e else {
            panic!("{e:?}")
        };
        assert!(m.contains("10.0.0.0/8") && m.contains("core"), "{m}");
        assert_eq!(listed(&after).len(), 3);
        // Deleting a location's last block removes the location, and says so.
        let (gone, removed) = after
            .apply(Some(2), &[delete("core", &["10.0.0.0/8"])])
            .unwrap();
        assert_eq!(removed, ["core"]);
        assert_eq!(gone.version, 3);
        assert_eq!(gone.locations().into_iter().collect::<Vec<_>>(), ["edge"]);
    }

    #[test]
    fn a_stale_version_is_refused() {
        let c = applied(&empty(), &[put("edge", &["192.0.2.0/24"])]);
        assert_eq!(c.version, 2);
        for stale in [1, 3] {
            assert_eq!(
                c.apply(Some(stale), &[put("edge", &["198.51.100.0/24"])]),
                Err(CidrError::VersionMismatch {
                    given: stale,
                    current: 2
                })
            );
        }
        assert_eq!(
            c.apply(Some(2), &[put("edge", &["198.51.100.0/24"])])
                .unwrap()
                .0
                .version,
            3
        );
    }

    #[test]
    fn a_request_that_changes_no_block_is_a_no_op() {
        let c = applied(&empty(), &[put("edge", &["192.0.2.0/24"])]);
        // DELETE_IF_EXISTS of an absent block, of a block in another location, and a PUT of a
        // block already there.
        for changes in [
            vec![delete("edge", &["198.51.100.0/24"])],
            vec![delete("nowhere", &["192.0.2.0/24"])],
            vec![put("edge", &["192.0.2.0/24"])],
        ] {
            let (same, removed) = c.apply(Some(2), &changes).unwrap();
            assert_eq!(same, c, "{changes:?}");
            assert!(removed.is_empty());
        }
    }

    #[test]
    fn a_block_moves_between_locations_in_one_request_in_either_order() {
        let c = applied(&empty(), &[put("a", &["192.0.2.0/24", "10.0.0.0/8"])]);
        for changes in [
            vec![delete("a", &["192.0.2.0/24"]), put("b", &["192.0.2.0/24"])],
            vec![put("b", &["192.0.2.0/24"]), delete("a", &["192.0.2.0/24"])],
        ] {
            let (moved, removed) = c.apply(None, &changes).unwrap();
            assert_eq!(
                listed(&moved),
                pairs(&[("a", "10.0.0.0/8"), ("b", "192.0.2.0/24")])
            );
            assert!(removed.is_empty(), "a still holds 10.0.0.0/8");
            assert_eq!(moved.version, c.version + 1);
        }
        // Without the delete, the PUT is refused.
        assert!(matches!(
            c.apply(None, &[put("b", &["192.0.2.0/24"])]),
            Err(CidrError::BlockInUse(_))
        ));
        // Moving every block empties the old location.
        let (moved, removed) = c
            .apply(
                None,
                &[
                    delete("a", &["192.0.2.0/24", "10.0.0.0/8"]),
                    put("b", &["192.0.2.0/24", "10.0.0.0/8"]),
                ],
            )
            .unwrap();
        assert_eq!(removed, ["a"]);
        assert_eq!(moved.locations().into_iter().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn the_labs_quotas_bound_blocks_and_locations() {
        let blocks: Vec<String> = (0..MAX_BLOCKS_PER_COLLECTION)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect();
        let refs: Vec<&str> = blocks.iter().map(String::as_str).collect();
        let full = applied(&empty(), &[put("a", &refs)]);
        let e = full
            .apply(None, &[put("a", &["192.0.2.0/24"])])
            .unwrap_err();
        assert!(
            matches!(e, CidrError::LimitsExceeded(ref m) if m.contains("1001 CIDR blocks")),
            "{e:?}"
        );
        // Replacing one keeps the count.
        assert!(
            full.apply(
                None,
                &[delete("a", &[refs[0]]), put("a", &["192.0.2.0/24"])]
            )
            .is_ok()
        );
        let names: Vec<String> = (0..=MAX_LOCATIONS_PER_COLLECTION)
            .map(|i| format!("l{i}"))
            .collect();
        let changes: Vec<CidrChange> = names.iter().zip(&refs).map(|(l, b)| put(l, &[b])).collect();
        let e = empty().apply(None, &changes).unwrap_err();
        assert!(
            matches!(e, CidrError::LimitsExceeded(ref m) if m.contains("101 locations")),
            "{e:?}"
        );
        assert!(empty().apply(None, &changes[1..]).is_ok());
    }

    #[test]
    fn a_collection_round_trips_through_json_and_a_bad_one_does_not_load() {
        let c = applied(
            &empty(),
            &[
                put("edge", &["192.0.2.0/24", "2001:db8::/32"]),
                put("core", &["10.0.0.0/8"]),
            ],
        );
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""core":["10.0.0.0/8"]"#), "{json}");
        assert_eq!(serde_json::from_str::<CidrCollection>(&json).unwrap(), c);
        for bad in [
            json.replace("10.0.0.0/8", "10.0.0.1/8"),
            json.replace("\"core\"", "\"*\""),
            json.replace(ID, "not-an-id"),
            json.replace(r#""version":2"#, r#""version":0"#),
            json.replace("10.0.0.0/8", "192.0.2.0/24"),
        ] {
            assert!(
                serde_json::from_str::<CidrCollection>(&bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        let tokens = [
            (
                Listing::Collections,
                PageToken::Collection("lab".into(), ID.into()),
            ),
            (Listing::Locations, PageToken::Location("edge-1".into())),
            (
                Listing::Blocks,
                PageToken::Block("edge".into(), net("2001:db8::/32")),
            ),
        ];
        for (listing, token) in &tokens {
            let text = token.encode();
            assert!(text.len() <= MAX_NEXT_TOKEN_CHARS);
            assert_eq!(PageToken::decode(*listing, &text).as_ref(), Ok(token));
            // Another listing's token, a cut one, one with a bad character: refused.
            let other = if *listing == Listing::Locations {
                Listing::Blocks
            } else {
                Listing::Locations
            };
            assert!(is_invalid(PageToken::decode(other, &text)));
            assert!(is_invalid(PageToken::decode(
                *listing,
                &text[..text.len() - 1]
            )));
            assert!(is_invalid(PageToken::decode(
                *listing,
                &format!("{text}zz")
            )));
        }
        // Keys the listing could not have given out: a location "*", a block with host bits,
        // a token past Route 53's 1 024 characters, an empty one.
        let host_bits = PageToken::Block("edge".into(), net("10.0.0.0/8"))
            .encode()
            .replace(&hexed("10.0.0.0"), &hexed("10.0.0.1"));
        let long = format!("l{}", hexed(&"a".repeat(600)));
        for (listing, bad) in [
            (Listing::Locations, ""),
            (Listing::Locations, "l"),
            (Listing::Locations, "x00"),
            (Listing::Locations, "l2a"),
            (Listing::Locations, long.as_str()),
            (Listing::Blocks, host_bits.as_str()),
            (Listing::Collections, "c61"),
        ] {
            assert!(is_invalid(PageToken::decode(listing, bad)), "{bad}");
        }
    }

    fn hexed(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn pages_start_at_the_token_and_end_with_the_next_one() {
        let items = ["a", "b", "c", "d", "e"];
        let key = |s: &&str| PageToken::Location((*s).to_owned());
        let (first, next) = page(items, key, None, 2);
        assert_eq!(first, ["a", "b"]);
        let next = next.unwrap();
        assert_eq!(next, PageToken::Location("c".into()));
        // An item removed between pages does not shift the next page.
        let (second, next) = page(["a", "b", "d", "e"], key, Some(&next), 2);
        assert_eq!(second, ["d", "e"]);
        assert_eq!(next, None);
        let (all, next) = page(items, key, None, MAX_PAGE);
        assert_eq!((all.len(), next), (5, None));
        assert_eq!(max_results(None), Ok(MAX_PAGE));
        assert_eq!(max_results(Some("7")), Ok(7));
        assert_eq!(max_results(Some("100000")), Ok(MAX_PAGE));
        for bad in ["0", "-1", "x", ""] {
            assert!(is_invalid(max_results(Some(bad))), "{bad}");
        }
    }
}
