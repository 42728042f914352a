//! The record set operation: ListResourceRecordSets.

use std::collections::HashMap;

use axum::http::StatusCode;

use super::store::list_page;
use super::{ListFrom, xml};
use crate::api::reply::{ApiError, ApiResult, max_items, ok};
use crate::shared::Shared;
use crate::xml::esc;

/// Route 53's largest page of record sets.
const MAX_RRSET_ITEMS: usize = 300;

/// `GET /2013-04-01/hostedzone/{zone}/rrset`: in Route 53's listing order from `name`, `type`
/// and `identifier`, `maxitems` (at most 300).
pub(crate) async fn list(
    shared: &Shared,
    zone_id: &str,
    query: &HashMap<String, String>,
) -> ApiResult {
    let max = max_items(query, MAX_RRSET_ITEMS, MAX_RRSET_ITEMS)?;
    let name = query.get("name").map(String::as_str);
    let rtype = query.get("type").map(String::as_str);
    let identifier = query.get("identifier").map(String::as_str);
    if rtype.is_some() && name.is_none() {
        return Err(ApiError::input(
            "The input is not valid: type requires name",
        ));
    }
    if identifier.is_some() && rtype.is_none() {
        return Err(ApiError::input(
            "The input is not valid: identifier requires name and type",
        ));
    }
    let store = shared.store.lock().await;
    let zone = store.zone(zone_id)?;
    let from = name.map(|name| ListFrom {
        name,
        rtype,
        identifier,
    });
    let page = list_page(zone, from, max);
    let sets: String = page.sets.iter().map(|s| xml::record_set(s)).collect();
    let mut inner = format!(
        "<ResourceRecordSets>{sets}</ResourceRecordSets><IsTruncated>{}</IsTruncated>",
        page.next.is_some()
    );
    if let Some(next) = &page.next {
        inner.push_str(&format!(
            "<NextRecordName>{}</NextRecordName><NextRecordType>{}</NextRecordType>",
            esc(&next.name),
            esc(&next.rtype)
        ));
        if let Some(i) = &next.identifier {
            inner.push_str(&format!(
                "<NextRecordIdentifier>{}</NextRecordIdentifier>",
                esc(i)
            ));
        }
    }
    inner.push_str(&format!("<MaxItems>{max}</MaxItems>"));
    Ok(ok(StatusCode::OK, "ListResourceRecordSetsResponse", &inner))
}
