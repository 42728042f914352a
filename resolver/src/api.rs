//! The Route 53-compatible REST API (`/2013-04-01/…`): the subset aws-sdk-route53, the aws CLI,
//! boto3 and Terraform use for hosted zones, record sets and changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::service::Shared;
use crate::sigv4::{self, SignedRequest};
use crate::store::{Store, StoreError, list_page, reversed};
use crate::xml;

/// Route 53's largest page of record sets.
const MAX_RRSET_ITEMS: usize = 300;
/// Route 53's largest page of hosted zones.
const MAX_ZONE_ITEMS: usize = 100;
/// The largest request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The API router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// An API failure, rendered as Route 53's error document.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
        }
    }

    fn input(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidInput", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NoSuchHostedZone(_) => Self::new(404, "NoSuchHostedZone", message),
            StoreError::NoSuchChange(_) => Self::new(404, "NoSuchChange", message),
            StoreError::HostedZoneAlreadyExists(_) => {
                Self::new(409, "HostedZoneAlreadyExists", message)
            }
            StoreError::HostedZoneNotEmpty => Self::new(400, "HostedZoneNotEmpty", message),
            StoreError::InvalidDomainName(_) => Self::new(400, "InvalidDomainName", message),
            StoreError::TooManyHostedZones => Self::new(400, "TooManyHostedZones", message),
            StoreError::Change(registry::zone::ChangeError::InvalidInput(_)) => {
                Self::input(message)
            }
            StoreError::Change(registry::zone::ChangeError::InvalidChangeBatch(_)) => {
                Self::new(400, "InvalidChangeBatch", message)
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn request_id() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

fn ok(status: StatusCode, root: &str, inner: &str) -> Response {
    (
        status,
        [("content-type", "text/xml")],
        xml::document(root, inner),
    )
        .into_response()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id();
    let path = uri.path().to_owned();
    let query_text = uri.query().unwrap_or("").to_owned();
    let (operation, result) = dispatch(&shared, &method, &path, &query_text, &headers, &body).await;
    let code = match &result {
        Ok(_) => "OK".to_owned(),
        Err(e) => e.code.to_owned(),
    };
    shared
        .metrics
        .api_requests
        .get_or_create(&crate::metrics::ApiLabels { operation, code })
        .inc();
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(operation, code = e.code, message = %e.message, "API request refused");
            let sender = e.status.as_u16() < 500;
            (
                e.status,
                [("content-type", "text/xml")],
                xml::error(e.code, &e.message, &id, sender),
            )
                .into_response()
        }
    };
    if let Ok(v) = id.parse() {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

async fn dispatch(
    shared: &Shared,
    method: &Method,
    path: &str,
    query_text: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> (&'static str, ApiResult) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let operation = match (method.as_str(), segments.as_slice()) {
        ("POST", ["2013-04-01", "hostedzone"]) => "CreateHostedZone",
        ("GET", ["2013-04-01", "hostedzone"]) => "ListHostedZones",
        ("GET", ["2013-04-01", "hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["2013-04-01", "hostedzonecount"]) => "GetHostedZoneCount",
        ("GET", ["2013-04-01", "hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["2013-04-01", "hostedzone", _]) => "DeleteHostedZone",
        ("POST", ["2013-04-01", "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["2013-04-01", "hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("GET", ["2013-04-01", "change", _]) => "GetChange",
        _ => {
            return (
                "Unknown",
                Err(ApiError::new(
                    404,
                    "UnknownOperationException",
                    format!(
                        "the lab resolver does not implement {method} {path}; see docs/route53-compatibility.md"
                    ),
                )),
            );
        }
    };
    if let Err(e) = authenticate(shared, method, path, query_text, headers, body) {
        return (operation, Err(e));
    }
    if let Some(limiter) = &shared.rate_limit {
        let allowed = limiter
            .lock()
            .map(|mut b| b.try_take(Instant::now()))
            .unwrap_or(true);
        if !allowed {
            shared.metrics.api_throttled.inc();
            return (
                operation,
                Err(ApiError::new(400, "Throttling", "Rate exceeded")),
            );
        }
    }
    let query: HashMap<String, String> = url_query(query_text);
    let arg = |i: usize| segments.get(i).copied().unwrap_or("");
    let text =
        || std::str::from_utf8(body).map_err(|_| ApiError::input("the request body is not UTF-8"));
    let result = match operation {
        "CreateHostedZone" => match text() {
            Ok(t) => create_zone(shared, t).await,
            Err(e) => Err(e),
        },
        "ListHostedZones" => list_zones(shared, &query).await,
        "ListHostedZonesByName" => zones_by_name(shared, &query).await,
        "GetHostedZoneCount" => {
            let n = shared.store.lock().await.zones().count();
            Ok(ok(
                StatusCode::OK,
                "GetHostedZoneCountResponse",
                &format!("<HostedZoneCount>{n}</HostedZoneCount>"),
            ))
        }
        "GetHostedZone" => get_zone(shared, arg(2)).await,
        "DeleteHostedZone" => delete_zone(shared, arg(2)).await,
        "ChangeResourceRecordSets" => match text() {
            Ok(t) => change(shared, arg(2), t).await,
            Err(e) => Err(e),
        },
        "ListResourceRecordSets" => list_rrsets(shared, arg(2), &query).await,
        _ => get_change(shared, arg(2)).await,
    };
    (operation, result)
}

fn authenticate(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(keys) = &shared.credentials else {
        return Ok(());
    };
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let request = SignedRequest {
        method: method.as_str(),
        path,
        query,
        headers: &header_list,
        body,
    };
    sigv4::verify(&request, keys, SystemTime::now(), "route53")
        .map(|_| ())
        .map_err(|e| ApiError::new(403, e.code(), e.to_string()))
}

fn url_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (decoded, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn max_items(
    query: &HashMap<String, String>,
    default: usize,
    cap: usize,
) -> Result<usize, ApiError> {
    match query.get("maxitems") {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .map(|n| n.min(cap))
            .ok_or_else(|| ApiError::input(format!("maxitems {v:?} is not a positive integer"))),
    }
}

async fn create_zone(shared: &Shared, body: &str) -> ApiResult {
    let req = xml::parse_create_zone(body).map_err(|e| ApiError::input(e.0))?;
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
        xml::change_info(&change, shared.insync(&change)),
        xml::delegation_set(&zone)
    );
    let mut resp = ok(StatusCode::CREATED, "CreateHostedZoneResponse", &inner);
    if let Ok(v) = format!("/2013-04-01/hostedzone/{}", zone.id).parse() {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

async fn get_zone(shared: &Shared, id: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let zone = store.zone(id)?;
    let inner = format!("{}{}", xml::hosted_zone(zone), xml::delegation_set(zone));
    Ok(ok(StatusCode::OK, "GetHostedZoneResponse", &inner))
}

async fn delete_zone(shared: &Shared, id: &str) -> ApiResult {
    let change = shared
        .mutate(|store, now| store.delete_zone(id, now))
        .await?;
    Ok(ok(
        StatusCode::OK,
        "DeleteHostedZoneResponse",
        &xml::change_info(&change, shared.insync(&change)),
    ))
}

async fn list_zones(shared: &Shared, query: &HashMap<String, String>) -> ApiResult {
    let max = max_items(query, MAX_ZONE_ITEMS, MAX_ZONE_ITEMS)?;
    let store = shared.store.lock().await;
    let marker = query.get("marker").cloned();
    let zones: Vec<_> = store
        .zones()
        .filter(|z| marker.as_deref().is_none_or(|m| z.id.as_str() >= m))
        .collect();
    let page: String = zones
        .iter()
        .take(max)
        .map(|z| xml::hosted_zone(z))
        .collect();
    let next = zones.get(max);
    let mut inner = format!("<HostedZones>{page}</HostedZones>");
    if let Some(m) = &marker {
        inner.push_str(&format!("<Marker>{}</Marker>", xml::esc(m)));
    }
    inner.push_str(&format!("<IsTruncated>{}</IsTruncated>", next.is_some()));
    if let Some(n) = next {
        inner.push_str(&format!("<NextMarker>{}</NextMarker>", n.id));
    }
    inner.push_str(&format!("<MaxItems>{max}</MaxItems>"));
    Ok(ok(StatusCode::OK, "ListHostedZonesResponse", &inner))
}

async fn zones_by_name(shared: &Shared, query: &HashMap<String, String>) -> ApiResult {
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
        inner.push_str(&format!("<DNSName>{}</DNSName>", xml::esc(n)));
    }
    if let Some(z) = zone_id {
        inner.push_str(&format!("<HostedZoneId>{}</HostedZoneId>", xml::esc(z)));
    }
    let next = rest.get(max);
    inner.push_str(&format!("<IsTruncated>{}</IsTruncated>", next.is_some()));
    if let Some(n) = next {
        inner.push_str(&format!(
            "<NextDNSName>{}</NextDNSName><NextHostedZoneId>{}</NextHostedZoneId>",
            xml::esc(n.name.as_str()),
            n.id
        ));
    }
    inner.push_str(&format!("<MaxItems>{max}</MaxItems>"));
    Ok(ok(StatusCode::OK, "ListHostedZonesByNameResponse", &inner))
}

async fn change(shared: &Shared, zone_id: &str, body: &str) -> ApiResult {
    let batch = xml::parse_change_batch(body).map_err(|e| ApiError::input(e.0))?;
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

async fn list_rrsets(shared: &Shared, zone_id: &str, query: &HashMap<String, String>) -> ApiResult {
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
    let page = list_page(zone, name, rtype, identifier, max);
    let sets: String = page.sets.iter().map(|s| xml::record_set(s)).collect();
    let mut inner = format!(
        "<ResourceRecordSets>{sets}</ResourceRecordSets><IsTruncated>{}</IsTruncated>",
        page.next.is_some()
    );
    if let Some((n, t, i)) = &page.next {
        inner.push_str(&format!(
            "<NextRecordName>{}</NextRecordName><NextRecordType>{}</NextRecordType>",
            xml::esc(n),
            xml::esc(t)
        ));
        if let Some(i) = i {
            inner.push_str(&format!(
                "<NextRecordIdentifier>{}</NextRecordIdentifier>",
                xml::esc(i)
            ));
        }
    }
    inner.push_str(&format!("<MaxItems>{max}</MaxItems>"));
    Ok(ok(StatusCode::OK, "ListResourceRecordSetsResponse", &inner))
}

async fn get_change(shared: &Shared, id: &str) -> ApiResult {
    let store = shared.store.lock().await;
    let change = store.get_change(id)?;
    Ok(ok(
        StatusCode::OK,
        "GetChangeResponse",
        &xml::change_info(&change, shared.insync(&change)),
    ))
}

impl Shared {
    /// True once the change's propagation delay has passed.
    pub fn insync(&self, change: &crate::store::ChangeRecord) -> bool {
        let delay = u64::try_from(self.propagation_delay.as_millis()).unwrap_or(u64::MAX);
        now_ms() >= change.submitted_at_ms.saturating_add(delay)
    }

    /// Applies `op` to a copy of the store, makes the copy durable, then publishes it (store
    /// and DNS snapshot). Nothing is published, and the client gets an error, if the write to
    /// disk fails.
    async fn mutate<T>(
        &self,
        op: impl FnOnce(&mut Store, u64) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        let mut store = self.store.lock().await;
        let mut next = store.clone();
        let out = op(&mut next, now_ms())?;
        if let Some(file) = &self.state_file {
            let file = file.clone();
            let copy = next.clone();
            tokio::task::spawn_blocking(move || file.save(&copy))
                .await
                .map_err(|e| {
                    ApiError::new(
                        500,
                        "InternalFailure",
                        format!("the state writer failed: {e}"),
                    )
                })?
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot persist a change; it was not applied");
                    ApiError::new(
                        500,
                        "InternalFailure",
                        format!("the change was not applied: {e}"),
                    )
                })?;
        }
        *store = next;
        self.publish(&store);
        Ok(out)
    }
}
