//! Record sets: Route 53's listing order and a listing's pages (here), the store's part
//! ([`store`]: a page of ListResourceRecordSets), the XML ([`xml`]: `<ResourceRecordSet>`,
//! parsed and written) and the operation ([`api`]: ListResourceRecordSets). Record sets are
//! changed by ChangeResourceRecordSets (`crate::changes`).

use registry::model::RecordSet;

pub mod api;
pub mod store;
pub mod xml;

/// A record set's place in Route 53's listing order: by name with labels reversed and its
/// trailing dot kept (see [`reversed`]), then type, then set identifier (empty when none). The
/// derived order compares the fields in that order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListingKey {
    /// The owner name as [`reversed`] writes it (`com.example.www.`).
    pub reversed_name: String,
    /// The record type (`A`, `TXT`, …).
    pub rtype: String,
    /// The set identifier, or empty for a simple record set.
    pub set_identifier: String,
}

/// The [`ListingKey`] of `set`.
pub fn listing_key(set: &RecordSet) -> ListingKey {
    ListingKey {
        reversed_name: reversed(set.name.as_str()),
        rtype: set.rtype.to_string(),
        set_identifier: set.set_identifier.clone().unwrap_or_default(),
    }
}

/// Route 53's listing key of a name (`www.example.com.` → `com.example.www.`), shared with the
/// registry writer's walk over the listing.
pub use registry::listing::reversed;

/// Where a ListResourceRecordSets page starts: the request's `name`, `type` and `identifier`
/// parameters (a type needs a name, an identifier needs a type; the API checks that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFrom<'q> {
    /// The first owner name to list, as the client wrote it (a trailing dot is optional).
    pub name: &'q str,
    /// The first type to list at `name`; `None` starts at its first type.
    pub rtype: Option<&'q str>,
    /// The first set identifier to list at `name` and `rtype`; `None` starts at its first set.
    pub identifier: Option<&'q str>,
}

/// The first record set after a truncated page, which the next page starts from (Route 53's
/// `NextRecordName`, `NextRecordType` and `NextRecordIdentifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextRecord {
    /// Its owner name, with the trailing dot.
    pub name: String,
    /// Its record type.
    pub rtype: String,
    /// Its set identifier, if it has one.
    pub identifier: Option<String>,
}

impl NextRecord {
    /// Where the next page starts: at this record set.
    pub fn start(&self) -> ListFrom<'_> {
        ListFrom {
            name: &self.name,
            rtype: Some(&self.rtype),
            identifier: self.identifier.as_deref(),
        }
    }
}

/// One page of ListResourceRecordSets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a> {
    /// The record sets, in Route 53's listing order ([`ListingKey`]).
    pub sets: Vec<&'a RecordSet>,
    /// Where the next page starts, when this one is truncated.
    pub next: Option<NextRecord>,
}
