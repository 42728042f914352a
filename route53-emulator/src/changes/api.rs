//! The change operations: ChangeResourceRecordSets and GetChange.

use axum::body::Bytes;
use axum::http::StatusCode;

use super::xml::{self, ChangeBatch};
use crate::api::reply::{ApiResult, ok, parse_body};
use crate::shared::Shared;

/// `POST /2013-04-01/hostedzone/{zone}/rrset`; `parsed` is the body already parsed for the key's
/// IAM policy.
pub(crate) async fn change(
    shared: &Shared,
    zone_id: &str,
    body: &Bytes,
    parsed: Option<ChangeBatch>,
) -> ApiResult {
    let batch = match parsed {
        Some(batch) => batch,
        None => parse_body(body, xml::parse_change_batch).await?,
    };
    let change = shared
        .mutate(|store, now| store.change(zone_id, &batch.changes, batch.comment.clone(), now))
        .await?;
    shared.metrics.zone_changes.inc();
    Ok(ok(
        StatusCode::OK,
        "ChangeResourceRecordSetsResponse",
        &xml::change_info(&change, shared.insync(&change)),
    ))
}

/// `GET /2013-04-01/change/{id}`: INSYNC once its propagation delay has passed.
pub(crate) async fn get(shared: &Shared, id: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let change = store.get_change(id)?;
    Ok(ok(
        StatusCode::OK,
        "GetChangeResponse",
        &xml::change_info(&change, shared.insync(&change)),
    ))
}
