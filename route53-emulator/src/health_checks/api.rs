//! The health check operations: Create, Get, List, Update, Delete, GetHealthCheckStatus and
//! GetHealthCheckCount.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;

use super::CheckType;
use super::xml;
use crate::api::reply::{ApiError, ApiResult, marker_page, max_items, ok, parse_body};
use crate::shared::Shared;

/// Route 53's default and largest page of ListHealthChecks.
const DEFAULT_CHECK_ITEMS: usize = 100;
/// Route 53's largest page of ListHealthChecks.
const MAX_CHECK_ITEMS: usize = 1000;

/// `POST /2013-04-01/healthcheck`: 201 with `Location`, also when the caller reference and
/// settings name an existing check (Route 53 then returns that check).
pub(crate) async fn create(shared: &Shared, body: &Bytes) -> ApiResult {
    let req = parse_body(body, xml::parse_create_health_check).await?;
    let (check, created) = shared
        .mutate(|store, _| store.create_health_check(&req.caller_reference, req.config.clone()))
        .await?;
    if created {
        tracing::info!(id = %check.id, kind = check.config.check_type.as_str(), "health check created");
    }
    let mut resp = ok(
        StatusCode::CREATED,
        "CreateHealthCheckResponse",
        &xml::health_check(&check),
    );
    if let Ok(v) = format!("/2013-04-01/healthcheck/{}", check.id).parse() {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

/// `GET /2013-04-01/healthcheck/{id}`.
pub(crate) async fn get(shared: &Shared, id: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let check = store.health_check(id)?;
    Ok(ok(
        StatusCode::OK,
        "GetHealthCheckResponse",
        &xml::health_check(check),
    ))
}

/// `GET /2013-04-01/healthcheck`: in id order, `marker` and `maxitems` (at most 1 000).
pub(crate) async fn list(shared: &Shared, query: &HashMap<String, String>) -> ApiResult {
    let max = max_items(query, DEFAULT_CHECK_ITEMS, MAX_CHECK_ITEMS)?;
    let store = shared.store.lock().await;
    let marker = query.get("marker").map(String::as_str);
    let (page, tail) = marker_page(store.health_checks(), |c| c.id.as_str(), marker, max);
    let checks: String = page.iter().map(|c| xml::health_check(c)).collect();
    // Route 53 always sends Marker in this response.
    let marker_element = if marker.is_none() {
        "<Marker></Marker>"
    } else {
        ""
    };
    let inner = format!("<HealthChecks>{checks}</HealthChecks>{marker_element}{tail}");
    Ok(ok(StatusCode::OK, "ListHealthChecksResponse", &inner))
}

/// `GET /2013-04-01/healthcheckcount`.
pub(crate) async fn count(shared: &Shared) -> ApiResult {
    let n = shared.store.lock().await.health_checks().count();
    Ok(ok(
        StatusCode::OK,
        "GetHealthCheckCountResponse",
        &format!("<HealthCheckCount>{n}</HealthCheckCount>"),
    ))
}

/// `POST /2013-04-01/healthcheck/{id}`.
pub(crate) async fn update(shared: &Shared, id: &str, body: &Bytes) -> ApiResult {
    let req = parse_body(body, xml::parse_update_health_check).await?;
    let check = shared
        .mutate(|store, _| store.update_health_check(id, req.version, req.config.clone()))
        .await?;
    Ok(ok(
        StatusCode::OK,
        "UpdateHealthCheckResponse",
        &xml::health_check(&check),
    ))
}

/// `DELETE /2013-04-01/healthcheck/{id}`.
pub(crate) async fn delete(shared: &Shared, id: &str) -> ApiResult {
    shared
        .mutate(|store, _| store.delete_health_check(id))
        .await?;
    Ok(ok(StatusCode::OK, "DeleteHealthCheckResponse", ""))
}

/// `GET /2013-04-01/healthcheck/{id}/status`: the last result of each checker Region.
pub(crate) async fn status(shared: &Shared, id: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let check = store.health_check(id)?;
    if check.config.check_type == CheckType::Calculated {
        return Err(ApiError::input(format!(
            "The health check {id} is CALCULATED: it has no checkers of its own; get the status \
             of its children"
        )));
    }
    let observations = store.check_state(id).map_or(&[][..], |s| s.observations());
    Ok(ok(
        StatusCode::OK,
        "GetHealthCheckStatusResponse",
        &xml::observations(check, observations),
    ))
}
