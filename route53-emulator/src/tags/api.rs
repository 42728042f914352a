//! The tag operations on hosted zones and health checks: ChangeTagsForResource,
//! ListTagsForResource and ListTagsForResources.

use axum::body::Bytes;
use axum::http::StatusCode;

use super::ResourceKind;
use super::xml;
use crate::api::reply::{ApiError, ApiResult, ok, parse_body};
use crate::shared::Shared;

/// Route 53's most resources in one ListTagsForResources.
const MAX_RESOURCE_IDS: usize = 10;

fn kind_of(kind: &str) -> Result<ResourceKind, ApiError> {
    ResourceKind::parse(kind).ok_or_else(|| {
        ApiError::input(format!(
            "1 validation error detected: Value '{kind}' at 'resourceType' failed to satisfy \
             constraint: Member must satisfy enum value set: [healthcheck, hostedzone]"
        ))
    })
}

/// `POST /2013-04-01/tags/{kind}/{id}`.
pub(crate) async fn change(shared: &Shared, kind: &str, id: &str, body: &Bytes) -> ApiResult {
    let kind = kind_of(kind)?;
    let req = parse_body(body, xml::parse_change_tags).await?;
    shared
        .mutate(|store, _| store.change_tags(kind, id, &req.add, &req.remove))
        .await?;
    Ok(ok(StatusCode::OK, "ChangeTagsForResourceResponse", ""))
}

/// `GET /2013-04-01/tags/{kind}/{id}`.
pub(crate) async fn list_one(shared: &Shared, kind: &str, id: &str) -> ApiResult {
    let kind = kind_of(kind)?;
    let tags = shared.store.lock().await.tags(kind, id)?;
    Ok(ok(
        StatusCode::OK,
        "ListTagsForResourceResponse",
        &xml::resource_tag_set(kind.as_str(), id, &tags),
    ))
}

/// `POST /2013-04-01/tags/{kind}`: at most 10 resources, every one must exist.
pub(crate) async fn list_many(shared: &Shared, kind: &str, body: &Bytes) -> ApiResult {
    let kind = kind_of(kind)?;
    let ids = parse_body(body, xml::parse_resource_ids).await?;
    if ids.is_empty() || ids.len() > MAX_RESOURCE_IDS {
        return Err(ApiError::input(format!(
            "1 validation error detected: Value at 'resourceIds' failed to satisfy constraint: \
             Member must have length between 1 and {MAX_RESOURCE_IDS} (it has {})",
            ids.len()
        )));
    }
    let store = shared.store.lock().await;
    let mut sets = String::new();
    for id in &ids {
        let tags = store.tags(kind, id)?;
        sets.push_str(&xml::resource_tag_set(kind.as_str(), id, &tags));
    }
    Ok(ok(
        StatusCode::OK,
        "ListTagsForResourcesResponse",
        &format!("<ResourceTagSets>{sets}</ResourceTagSets>"),
    ))
}
