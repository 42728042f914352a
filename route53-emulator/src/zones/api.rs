//! The hosted zone operations: CreateHostedZone, GetHostedZone, ListHostedZones,
//! ListHostedZonesByName, GetHostedZoneCount and DeleteHostedZone.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;

use super::xml;
use crate::api::reply::{ApiError, ApiResult, marker_page, max_items, ok, parse_body};
use crate::changes::xml::change_info;
use crate::record_sets::reversed;
use crate::shared::Shared;
use crate::xml::esc;

/// Route 53's largest page of hosted zones.
const MAX_ZONE_ITEMS: usize = 100;

/// `POST /2013-04-01/hostedzone`: 201 with `Location`; private zones are refused.
pub(crate) async fn create(shared: &Shared, body: &Bytes) -> ApiResult {
    let req = parse_body(body, xml::parse_create_zone).await?;
    if req.private {
        return Err(ApiError::input(
            "private hosted zones (VPC associations) are not supported by the lab resolver",
        ));
    }
    let (zone, change) = shared
        .mutate(|store, now| {
            store.create_zone(&req.name, &req.caller_reference, req.comment.clone(), now)
        })
        .await?;
    let inner = format!(
        "{}{}{}",
        xml::hosted_zone(&zone),
        change_info(&change, shared.insync(&change)),
        xml::delegation_set(&zone)
    );
    let mut resp = ok(StatusCode::CREATED, "CreateHostedZoneResponse", &inner);
    if let Ok(v) = format!("/2013-04-01/hostedzone/{}", zone.id).parse() {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

/// `GET /2013-04-01/hostedzone/{id}`.
pub(crate) async fn get(shared: &Shared, id: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let zone = store.zone(id)?;
    let inner = format!("{}{}", xml::hosted_zone(zone), xml::delegation_set(zone));
    Ok(ok(StatusCode::OK, "GetHostedZoneResponse", &inner))
}

/// `DELETE /2013-04-01/hostedzone/{id}`: only a zone holding just its apex SOA and NS.
pub(crate) async fn delete(shared: &Shared, id: &str) -> ApiResult {
    let change = shared
        .mutate(|store, now| store.delete_zone(id, now))
        .await?;
    Ok(ok(
        StatusCode::OK,
        "DeleteHostedZoneResponse",
        &change_info(&change, shared.insync(&change)),
    ))
}

/// `GET /2013-04-01/hostedzone`: in id order, `marker` and `maxitems` (at most 100).
pub(crate) async fn list(shared: &Shared, query: &HashMap<String, String>) -> ApiResult {
    let max = max_items(query, MAX_ZONE_ITEMS, MAX_ZONE_ITEMS)?;
    let store = shared.store.lock().await;
    let marker = query.get("marker").map(String::as_str);
    let (page, tail) = marker_page(store.zones(), |z| z.id.as_str(), marker, max);
    let zones: String = page.iter().map(|z| xml::hosted_zone(z)).collect();
    let inner = format!("<HostedZones>{zones}</HostedZones>{tail}");
    Ok(ok(StatusCode::OK, "ListHostedZonesResponse", &inner))
}

/// `GET /2013-04-01/hostedzonesbyname`: in Route 53's name order from `dnsname` and
/// `hostedzoneid`, `maxitems` (at most 100).
pub(crate) async fn list_by_name(shared: &Shared, query: &HashMap<String, String>) -> ApiResult {
    let max = max_items(query, MAX_ZONE_ITEMS, MAX_ZONE_ITEMS)?;
    let dns_name = query.get("dnsname").filter(|n| !n.is_empty());
    let zone_id = query.get("hostedzoneid").filter(|n| !n.is_empty());
    if zone_id.is_some() && dns_name.is_none() {
        return Err(ApiError::input("hostedzoneid requires dnsname"));
    }
    let store = shared.store.lock().await;
    let mut zones: Vec<_> = store.zones().collect();
    zones.sort_by_key(|z| (reversed(z.name.as_str()), z.id.clone()));
    let start = dns_name.map(|n| {
        (
            reversed(registry::name::Fqdn::from_api(n).as_str()),
            zone_id.cloned().unwrap_or_default(),
        )
    });
    let from = start.as_ref().map_or(0, |k| {
        zones.partition_point(|z| (reversed(z.name.as_str()), z.id.clone()) < *k)
    });
    let rest = &zones[from..];
    let page: String = rest.iter().take(max).map(|z| xml::hosted_zone(z)).collect();
    let mut inner = format!("<HostedZones>{page}</HostedZones>");
    if let Some(n) = dns_name {
        inner.push_str(&format!("<DNSName>{}</DNSName>", esc(n)));
    }
    if let Some(z) = zone_id {
        inner.push_str(&format!("<HostedZoneId>{}</HostedZoneId>", esc(z)));
    }
    let next = rest.get(max);
    inner.push_str(&format!("<IsTruncated>{}</IsTruncated>", next.is_some()));
    if let Some(n) = next {
        inner.push_str(&format!(
            "<NextDNSName>{}</NextDNSName><NextHostedZoneId>{}</NextHostedZoneId>",
            esc(n.name.as_str()),
            n.id
        ));
    }
    inner.push_str(&format!("<MaxItems>{max}</MaxItems>"));
    Ok(ok(StatusCode::OK, "ListHostedZonesByNameResponse", &inner))
}

/// `GET /2013-04-01/hostedzonecount`.
pub(crate) async fn count(shared: &Shared) -> ApiResult {
    let n = shared.store.lock().await.zones().count();
    Ok(ok(
        StatusCode::OK,
        "GetHostedZoneCountResponse",
        &format!("<HostedZoneCount>{n}</HostedZoneCount>"),
    ))
}
