//! Tags on hosted zones and health checks: the kinds of resource that carry them and Route 53's
//! bounds (here), the store's part ([`store`]), the XML ([`xml`]) and the operations
//! ([`api`]: ChangeTagsForResource, ListTagsForResource, ListTagsForResources).

pub mod api;
pub mod store;
pub mod xml;

/// Route 53's most tags on one resource.
pub const MAX_TAGS: usize = 50;
/// Route 53's longest tag key, in characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Route 53's longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Route 53's most `AddTags` or `RemoveTagKeys` entries in one ChangeTagsForResource.
pub const MAX_TAG_CHANGES: usize = 10;

/// The kinds of resource that carry tags (`ResourceType` in the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `hostedzone`.
    HostedZone,
    /// `healthcheck`.
    HealthCheck,
}

impl ResourceKind {
    /// The kind a path names (`hostedzone` or `healthcheck`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hostedzone" => Some(Self::HostedZone),
            "healthcheck" => Some(Self::HealthCheck),
            _ => None,
        }
    }

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HostedZone => "hostedzone",
            Self::HealthCheck => "healthcheck",
        }
    }
}

/// The key of a resource's tags in the store.
pub fn resource_key(kind: ResourceKind, id: &str) -> String {
    format!("{}/{id}", kind.as_str())
}
