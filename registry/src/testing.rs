//! Fixtures shared by the tests of every crate (feature `testing`, which only tests enable:
//! `cargo test --workspace` unifies it into the binary's test build, where it is dead code): one
//! constructor for the pool spec a test starts from, and one for a set identifier.

use crate::model::{PoolSpec, RecordType, SetId};
use crate::name::Fqdn;

/// The unsigned A pool `name` with TTL `ttl`, owned by `owner_id`.
///
/// # Panics
/// When `name` is not a domain name (a test's own constant).
pub fn pool_at(name: &str, ttl: u32, owner_id: &str) -> PoolSpec {
    PoolSpec {
        name: Fqdn::parse(name).expect("a test's pool name"),
        record_type: RecordType::A,
        ttl,
        owner_id: owner_id.into(),
        ownership_key: None,
    }
}

/// `edge.example.com`, A, TTL 30, owned by `me`: the pool of a test that needs no other.
pub fn pool() -> PoolSpec {
    pool_at("edge.example.com", 30, "me")
}

/// A test's set identifier.
///
/// # Panics
/// When `id` is not one (a test's own constant).
pub fn sid(id: &str) -> SetId {
    SetId::new(id).expect("a test's set identifier")
}
