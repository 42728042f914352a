//! The Route 53-compatible REST API (`/2013-04-01/…`): the subset aws-sdk-route53, the aws CLI,
//! boto3 and Terraform use, parsed once into an `Operation`, authenticated, authorised,
//! rate-limited and dispatched here to its feature's folder: hosted zones (`zones/api.rs`),
//! record sets (`record_sets/api.rs`), changes (`changes/api.rs`), health checks
//! (`health_checks/api.rs`), tags (`tags/api.rs`), CIDR collections (`cidr_collections/api.rs`)
//! and account and hosted zone limits (`limits/api.rs`). What they all share is `reply`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};

use aws_auth::iam;
use aws_auth::sigv4::{self, SignedRequest};

use crate::changes::api as changes;
use crate::changes::xml::{ChangeBatch, parse_change_batch};
use crate::cidr_collections::api as cidr;
use crate::config::ApiKeys;
use crate::health_checks::api as checks;
use crate::limits::api as limits;
use crate::record_sets::api as record_sets;
use crate::shared::Shared;
use crate::store::StoreError;
use crate::tags::api as tags;
use crate::xml;
use crate::zones::api as zones;

pub(crate) mod reply;

pub use reply::MAX_BODY;
use reply::{ApiError, ApiResult, parse_body, request_id};

/// The API's axum router: every request, whatever its path, goes to one handler that parses
/// the operation, authenticates, rate-limits and answers in Route 53's XML.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let id = request_id();
    let (operation, result) = match read_body(&headers, body).await {
        Ok(body) => dispatch(&shared, &method, &uri, &headers, &body).await,
        Err(e) => (UNKNOWN_OPERATION, Err(e)),
    };
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

/// Reads the whole body, refusing one declared or found to be over [`MAX_BODY`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && usize::try_from(n).map_or(true, |n| n > MAX_BODY)
    {
        return Err(ApiError::too_large(&format!("is {n} bytes")));
    }
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::too_large("is larger than the limit or was cut off"))
}

/// A Route 53 operation the lab resolver implements, with the id its path names; parsed once
/// from the method and path ([`Operation::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation<'p> {
    /// `POST /2013-04-01/hostedzone`.
    CreateHostedZone,
    /// `GET /2013-04-01/hostedzone`.
    ListHostedZones,
    /// `GET /2013-04-01/hostedzonesbyname`.
    ListHostedZonesByName,
    /// `GET /2013-04-01/hostedzonecount`.
    GetHostedZoneCount,
    /// `GET /2013-04-01/hostedzone/{zone}`.
    GetHostedZone {
        /// The hosted zone id, as the path names it.
        zone: &'p str,
    },
    /// `DELETE /2013-04-01/hostedzone/{zone}`.
    DeleteHostedZone {
        /// The hosted zone id, as the path names it.
        zone: &'p str,
    },
    /// `POST /2013-04-01/hostedzone/{zone}/rrset`.
    ChangeResourceRecordSets {
        /// The hosted zone id, as the path names it.
        zone: &'p str,
    },
    /// `GET /2013-04-01/hostedzone/{zone}/rrset`.
    ListResourceRecordSets {
        /// The hosted zone id, as the path names it.
        zone: &'p str,
    },
    /// `GET /2013-04-01/change/{change}`.
    GetChange {
        /// The change id, as the path names it.
        change: &'p str,
    },
    /// `POST /2013-04-01/healthcheck`.
    CreateHealthCheck,
    /// `GET /2013-04-01/healthcheck`.
    ListHealthChecks,
    /// `GET /2013-04-01/healthcheckcount`.
    GetHealthCheckCount,
    /// `GET /2013-04-01/healthcheck/{check}`.
    GetHealthCheck {
        /// The health check id, as the path names it.
        check: &'p str,
    },
    /// `POST /2013-04-01/healthcheck/{check}`.
    UpdateHealthCheck {
        /// The health check id, as the path names it.
        check: &'p str,
    },
    /// `DELETE /2013-04-01/healthcheck/{check}`.
    DeleteHealthCheck {
        /// The health check id, as the path names it.
        check: &'p str,
    },
    /// `GET /2013-04-01/healthcheck/{check}/status`.
    GetHealthCheckStatus {
        /// The health check id, as the path names it.
        check: &'p str,
    },
    /// `POST /2013-04-01/tags/{kind}/{id}`.
    ChangeTagsForResource {
        /// `hostedzone` or `healthcheck`, as the path names it.
        kind: &'p str,
        /// The resource id.
        id: &'p str,
    },
    /// `GET /2013-04-01/tags/{kind}/{id}`.
    ListTagsForResource {
        /// `hostedzone` or `healthcheck`, as the path names it.
        kind: &'p str,
        /// The resource id.
        id: &'p str,
    },
    /// `POST /2013-04-01/tags/{kind}`.
    ListTagsForResources {
        /// `hostedzone` or `healthcheck`, as the path names it.
        kind: &'p str,
    },
    /// `GET /2013-04-01/hostedzonelimit/{zone}/{limit}`.
    GetHostedZoneLimit {
        /// The hosted zone id, as the path names it.
        zone: &'p str,
        /// The limit's type (`MAX_RRSETS_BY_ZONE`, …).
        limit: &'p str,
    },
    /// `GET /2013-04-01/accountlimit/{limit}`.
    GetAccountLimit {
        /// The limit's type (`MAX_HOSTED_ZONES_BY_OWNER`, …).
        limit: &'p str,
    },
    /// `POST /2013-04-01/cidrcollection`.
    CreateCidrCollection,
    /// `GET /2013-04-01/cidrcollection`.
    ListCidrCollections,
    /// `POST /2013-04-01/cidrcollection/{collection}`.
    ChangeCidrCollection {
        /// The collection id, as the path names it.
        collection: &'p str,
    },
    /// `GET /2013-04-01/cidrcollection/{collection}`.
    ListCidrLocations {
        /// The collection id, as the path names it.
        collection: &'p str,
    },
    /// `GET /2013-04-01/cidrcollection/{collection}/cidrblocks`.
    ListCidrBlocks {
        /// The collection id, as the path names it.
        collection: &'p str,
    },
    /// `DELETE /2013-04-01/cidrcollection/{collection}`.
    DeleteCidrCollection {
        /// The collection id, as the path names it.
        collection: &'p str,
    },
}

impl<'p> Operation<'p> {
    /// The operation `method` on `path` asks for (a trailing `/` and repeated leading or trailing
    /// slashes are ignored), or `None` when the resolver does not implement it.
    fn parse(method: &Method, path: &'p str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        Some(match (method.as_str(), segments.as_slice()) {
            ("POST", ["2013-04-01", "hostedzone"]) => Self::CreateHostedZone,
            ("GET", ["2013-04-01", "hostedzone"]) => Self::ListHostedZones,
            ("GET", ["2013-04-01", "hostedzonesbyname"]) => Self::ListHostedZonesByName,
            ("GET", ["2013-04-01", "hostedzonecount"]) => Self::GetHostedZoneCount,
            ("GET", ["2013-04-01", "hostedzone", zone]) => Self::GetHostedZone { zone },
            ("DELETE", ["2013-04-01", "hostedzone", zone]) => Self::DeleteHostedZone { zone },
            ("POST", ["2013-04-01", "hostedzone", zone, "rrset"]) => {
                Self::ChangeResourceRecordSets { zone }
            }
            ("GET", ["2013-04-01", "hostedzone", zone, "rrset"]) => {
                Self::ListResourceRecordSets { zone }
            }
            ("GET", ["2013-04-01", "change", change]) => Self::GetChange { change },
            ("POST", ["2013-04-01", "healthcheck"]) => Self::CreateHealthCheck,
            ("GET", ["2013-04-01", "healthcheck"]) => Self::ListHealthChecks,
            ("GET", ["2013-04-01", "healthcheckcount"]) => Self::GetHealthCheckCount,
            ("GET", ["2013-04-01", "healthcheck", check]) => Self::GetHealthCheck { check },
            ("POST", ["2013-04-01", "healthcheck", check]) => Self::UpdateHealthCheck { check },
            ("DELETE", ["2013-04-01", "healthcheck", check]) => Self::DeleteHealthCheck { check },
            ("GET", ["2013-04-01", "healthcheck", check, "status"]) => {
                Self::GetHealthCheckStatus { check }
            }
            ("POST", ["2013-04-01", "tags", kind, id]) => Self::ChangeTagsForResource { kind, id },
            ("GET", ["2013-04-01", "tags", kind, id]) => Self::ListTagsForResource { kind, id },
            ("POST", ["2013-04-01", "tags", kind]) => Self::ListTagsForResources { kind },
            ("GET", ["2013-04-01", "hostedzonelimit", zone, limit]) => {
                Self::GetHostedZoneLimit { zone, limit }
            }
            ("GET", ["2013-04-01", "accountlimit", limit]) => Self::GetAccountLimit { limit },
            ("POST", ["2013-04-01", "cidrcollection"]) => Self::CreateCidrCollection,
            ("GET", ["2013-04-01", "cidrcollection"]) => Self::ListCidrCollections,
            ("POST", ["2013-04-01", "cidrcollection", collection]) => {
                Self::ChangeCidrCollection { collection }
            }
            ("GET", ["2013-04-01", "cidrcollection", collection]) => {
                Self::ListCidrLocations { collection }
            }
            ("GET", ["2013-04-01", "cidrcollection", collection, "cidrblocks"]) => {
                Self::ListCidrBlocks { collection }
            }
            ("DELETE", ["2013-04-01", "cidrcollection", collection]) => {
                Self::DeleteCidrCollection { collection }
            }
            _ => return None,
        })
    }

    /// The operation's name, as Route 53 calls it (the `operation` label of
    /// `wavelb_api_requests_total`).
    fn name(self) -> &'static str {
        match self {
            Self::CreateHostedZone => "CreateHostedZone",
            Self::ListHostedZones => "ListHostedZones",
            Self::ListHostedZonesByName => "ListHostedZonesByName",
            Self::GetHostedZoneCount => "GetHostedZoneCount",
            Self::GetHostedZone { .. } => "GetHostedZone",
            Self::DeleteHostedZone { .. } => "DeleteHostedZone",
            Self::ChangeResourceRecordSets { .. } => "ChangeResourceRecordSets",
            Self::ListResourceRecordSets { .. } => "ListResourceRecordSets",
            Self::GetChange { .. } => "GetChange",
            Self::CreateHealthCheck => "CreateHealthCheck",
            Self::ListHealthChecks => "ListHealthChecks",
            Self::GetHealthCheckCount => "GetHealthCheckCount",
            Self::GetHealthCheck { .. } => "GetHealthCheck",
            Self::UpdateHealthCheck { .. } => "UpdateHealthCheck",
            Self::DeleteHealthCheck { .. } => "DeleteHealthCheck",
            Self::GetHealthCheckStatus { .. } => "GetHealthCheckStatus",
            Self::ChangeTagsForResource { .. } => "ChangeTagsForResource",
            Self::ListTagsForResource { .. } => "ListTagsForResource",
            Self::ListTagsForResources { .. } => "ListTagsForResources",
            Self::GetHostedZoneLimit { .. } => "GetHostedZoneLimit",
            Self::GetAccountLimit { .. } => "GetAccountLimit",
            Self::CreateCidrCollection => "CreateCidrCollection",
            Self::ListCidrCollections => "ListCidrCollections",
            Self::ChangeCidrCollection { .. } => "ChangeCidrCollection",
            Self::ListCidrLocations { .. } => "ListCidrLocations",
            Self::ListCidrBlocks { .. } => "ListCidrBlocks",
            Self::DeleteCidrCollection { .. } => "DeleteCidrCollection",
        }
    }

    /// The resource an IAM policy is evaluated on, as the Service Authorization Reference lists
    /// it for the action ("Actions, resources, and condition keys for Amazon Route 53"): the
    /// hosted zone, change, health check or CIDR collection ARN the path names, or `*` for an
    /// action without resource-level permissions (CreateCidrCollection's collection does not
    /// exist yet: `*`, as CreateHealthCheck's). `ListTagsForResources` names its resources in
    /// the body: it is evaluated on each of them ([`dispatch`]), `*` here.
    fn resource(self) -> String {
        let arn = |kind: &str, id: &str| format!("arn:aws:route53:::{kind}/{id}");
        match self {
            Self::GetHostedZone { zone }
            | Self::DeleteHostedZone { zone }
            | Self::ChangeResourceRecordSets { zone }
            | Self::ListResourceRecordSets { zone }
            | Self::GetHostedZoneLimit { zone, .. } => arn("hostedzone", zone),
            Self::GetChange { change } => arn("change", change),
            Self::GetHealthCheck { check }
            | Self::UpdateHealthCheck { check }
            | Self::DeleteHealthCheck { check }
            | Self::GetHealthCheckStatus { check } => arn("healthcheck", check),
            Self::ChangeTagsForResource { kind, id } | Self::ListTagsForResource { kind, id } => {
                arn(kind, id)
            }
            Self::ChangeCidrCollection { collection }
            | Self::ListCidrLocations { collection }
            | Self::ListCidrBlocks { collection }
            | Self::DeleteCidrCollection { collection } => arn("cidrcollection", collection),
            Self::CreateHostedZone
            | Self::ListHostedZones
            | Self::ListHostedZonesByName
            | Self::GetHostedZoneCount
            | Self::CreateHealthCheck
            | Self::ListHealthChecks
            | Self::GetHealthCheckCount
            | Self::ListTagsForResources { .. }
            | Self::GetAccountLimit { .. }
            | Self::CreateCidrCollection
            | Self::ListCidrCollections => "*".to_owned(),
        }
    }
}

/// The `operation` label of a request that names no operation the resolver implements.
const UNKNOWN_OPERATION: &str = "Unknown";

/// Authenticates, authorises (the access key's IAM policy, if it has one), rate-limits and runs
/// one request; returns the operation's name (for the metrics) and the response.
async fn dispatch(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (&'static str, ApiResult) {
    let path = uri.path();
    let query_text = uri.query().unwrap_or("");
    let Some(operation) = Operation::parse(method, path) else {
        return (
            UNKNOWN_OPERATION,
            Err(ApiError::new(
                404,
                "UnknownOperationException",
                format!(
                    "the lab resolver does not implement {method} {path}; see docs/route53-compatibility.md"
                ),
            )),
        );
    };
    let principal = match &shared.credentials {
        Some(keys) => authenticate(shared, keys, method, path, query_text, headers, body).map(Some),
        None => local_only(headers, uri, shared.api_insecure).map(|()| None),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(e) => return (operation.name(), Err(e)),
    };
    // The key's IAM policy, before the rate limit: a ChangeResourceRecordSets body is parsed
    // here (its condition keys), and handed on so it is parsed once.
    let mut batch = None;
    if let Some(key) = &principal
        && let Some(policy) = shared.credentials.as_ref().and_then(|k| k.policy(key))
    {
        if let Operation::ChangeResourceRecordSets { .. } = operation {
            match parse_body(body, parse_change_batch).await {
                // Within Route 53's batch limits first (1 000 changes and records, 32 000
                // characters), so a policy's evaluation is bounded by them.
                Ok(b) => match registry::zone::validate_input(&b.changes) {
                    Ok(()) => batch = Some(b),
                    Err(e) => return (operation.name(), Err(StoreError::Change(e).into())),
                },
                Err(e) => return (operation.name(), Err(e)),
            }
        }
        // ListTagsForResources is allowed only when every resource its body names is (at most
        // the operation's 10: a longer list is refused by the operation, reading nothing).
        let resources = match operation {
            Operation::ListTagsForResources { kind } => {
                match parse_body(body, crate::tags::xml::parse_resource_ids).await {
                    Ok(ids) => ids
                        .iter()
                        .take(10)
                        .map(|id| format!("arn:aws:route53:::{kind}/{id}"))
                        .collect(),
                    Err(e) => return (operation.name(), Err(e)),
                }
            }
            _ => vec![operation.resource()],
        };
        for resource in &resources {
            if let Err(e) = authorize(shared, policy, key, operation, resource, batch.as_ref()) {
                return (operation.name(), Err(e));
            }
        }
    }
    if let Some(limiter) = &shared.rate_limit {
        let allowed = limiter
            .lock()
            .map(|mut b| b.try_take(Instant::now()))
            .unwrap_or(true);
        if !allowed {
            shared.metrics.api_throttled.inc();
            return (
                operation.name(),
                Err(ApiError::new(400, "Throttling", "Rate exceeded")),
            );
        }
    }
    let query = url_query(query_text);
    let result = match operation {
        Operation::CreateHostedZone => zones::create(shared, body).await,
        Operation::ListHostedZones => zones::list(shared, &query).await,
        Operation::ListHostedZonesByName => zones::list_by_name(shared, &query).await,
        Operation::GetHostedZoneCount => zones::count(shared).await,
        Operation::GetHostedZone { zone } => zones::get(shared, zone).await,
        Operation::DeleteHostedZone { zone } => zones::delete(shared, zone).await,
        Operation::ChangeResourceRecordSets { zone } => {
            changes::change(shared, zone, body, batch).await
        }
        Operation::ListResourceRecordSets { zone } => record_sets::list(shared, zone, &query).await,
        Operation::GetChange { change } => changes::get(shared, change).await,
        Operation::CreateHealthCheck => checks::create(shared, body).await,
        Operation::ListHealthChecks => checks::list(shared, &query).await,
        Operation::GetHealthCheckCount => checks::count(shared).await,
        Operation::GetHealthCheck { check } => checks::get(shared, check).await,
        Operation::UpdateHealthCheck { check } => checks::update(shared, check, body).await,
        Operation::DeleteHealthCheck { check } => checks::delete(shared, check).await,
        Operation::GetHealthCheckStatus { check } => checks::status(shared, check).await,
        Operation::ChangeTagsForResource { kind, id } => tags::change(shared, kind, id, body).await,
        Operation::ListTagsForResource { kind, id } => tags::list_one(shared, kind, id).await,
        Operation::ListTagsForResources { kind } => tags::list_many(shared, kind, body).await,
        Operation::GetHostedZoneLimit { zone, limit } => {
            limits::hosted_zone(shared, zone, limit).await
        }
        Operation::GetAccountLimit { limit } => limits::account(shared, limit).await,
        Operation::CreateCidrCollection => cidr::create(shared, body).await,
        Operation::ListCidrCollections => cidr::list(shared, &query).await,
        Operation::ChangeCidrCollection { collection } => {
            cidr::change(shared, collection, body).await
        }
        Operation::ListCidrLocations { collection } => {
            cidr::list_locations(shared, collection, &query).await
        }
        Operation::ListCidrBlocks { collection } => {
            cidr::list_blocks(shared, collection, &query).await
        }
        Operation::DeleteCidrCollection { collection } => cidr::delete(shared, collection).await,
    };
    (operation.name(), result)
}

/// Evaluates `policy` for `operation` by access key `key` (with `batch`, the parsed body of a
/// ChangeResourceRecordSets). A denied request is counted, logged and answered 403
/// `AccessDenied` in AWS's words ([`iam::denied_message`]).
fn authorize(
    shared: &Shared,
    policy: &iam::Policy,
    key: &str,
    operation: Operation<'_>,
    resource: &str,
    batch: Option<&ChangeBatch>,
) -> Result<(), ApiError> {
    let action = format!("route53:{}", operation.name());
    let changes = batch.map(|b| iam::ChangeContext::of(&b.changes));
    let request = iam::Request {
        action: &action,
        resource,
        changes: changes.as_ref(),
    };
    let decision = policy.evaluate(&request);
    if decision == iam::Decision::Allow {
        return Ok(());
    }
    shared.metrics.api_denied.inc();
    tracing::info!(
        access_key = key,
        action = %action,
        resource = %resource,
        explicit = decision == iam::Decision::ExplicitDeny,
        names = ?changes.as_ref().map(|c| &c.names),
        "API request denied by the access key's IAM policy"
    );
    Err(ApiError::new(
        403,
        "AccessDenied",
        iam::denied_message(key, &request, decision),
    ))
}

/// Verifies the request's SigV4 signature against `keys`; returns the access key id that signed
/// it.
fn authenticate(
    shared: &Shared,
    keys: &ApiKeys,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, ApiError> {
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
    sigv4::verify(
        &request,
        &keys.credentials,
        SystemTime::now(),
        "route53",
        shared.unsigned_payload,
    )
    .map_err(|e| ApiError::new(403, e.code(), e.to_string()))
}

/// The guard of an unauthenticated API: only local programs may use it, never a web page.
///
/// A request carrying `Origin` comes from a browser page (any site the local user visits) and is
/// refused. So is one whose `Host` (or HTTP/2 authority) is not `localhost` or a loopback address
/// (127.0.0.0/8, `[::1]`), with or without a port: a page whose DNS name was re-pointed at
/// 127.0.0.1 (DNS rebinding) still sends its own name. With `--api-insecure` (the operator
/// exposed the API to a network) any IP-literal `Host` is accepted too; names never are.
fn local_only(headers: &HeaderMap, uri: &Uri, insecure: bool) -> Result<(), ApiError> {
    if headers.contains_key(header::ORIGIN) {
        return Err(ApiError::new(
            403,
            "AccessDenied",
            "the API is unauthenticated and refuses requests from web pages (this one carries an \
             Origin header); configure --api-credentials to serve browsers",
        ));
    }
    let host = match headers.get(header::HOST) {
        Some(v) => v.to_str().ok(),
        None => uri.authority().map(axum::http::uri::Authority::as_str),
    };
    match host.map(host_address) {
        Some(HostName::Localhost) => Ok(()),
        Some(HostName::Ip(ip)) if ip.is_loopback() || insecure => Ok(()),
        _ => Err(ApiError::new(
            403,
            "AccessDenied",
            format!(
                "the API is unauthenticated and only answers requests addressed to localhost or a \
                 loopback address; this one is for Host {:?}: use http://127.0.0.1:PORT, or \
                 configure --api-credentials",
                host.unwrap_or("<none>")
            ),
        )),
    }
}

/// What a `Host` header names, its port (if any) removed.
#[derive(Debug, PartialEq, Eq)]
enum HostName {
    /// `localhost` (any case, with or without the root dot).
    Localhost,
    /// An IP literal (IPv6 in brackets); IPv4-mapped IPv6 counts as the IPv4 address.
    Ip(IpAddr),
    /// Anything else: a DNS name or garbage.
    Other,
}

fn host_address(host: &str) -> HostName {
    let port_ok = |p: &str| p.is_empty() || p.parse::<u16>().is_ok();
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(port_ok) => {
                ip.parse::<std::net::Ipv6Addr>()
                    .map_or(HostName::Other, |ip| {
                        HostName::Ip(IpAddr::V6(ip).to_canonical())
                    })
            }
            _ => HostName::Other,
        };
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port_ok(port) => name,
        Some(_) => return HostName::Other,
        None => host,
    };
    if name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.") {
        HostName::Localhost
    } else {
        name.parse::<std::net::Ipv4Addr>()
            .map_or(HostName::Other, |ip| HostName::Ip(IpAddr::V4(ip)))
    }
}

/// The parameters of a raw query string, form-decoded ([`sigv4::form_decode`]; bytes that are
/// not UTF-8 become U+FFFD); of a repeated name, the last value.
fn url_query(q: &str) -> HashMap<String, String> {
    let decode = |text: &str| String::from_utf8_lossy(&sigv4::form_decode(text)).into_owned();
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal's message, or `None` when the request may pass.
    fn guard(pairs: &[(&'static str, &str)], uri: &str, insecure: bool) -> Option<String> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        local_only(&headers, &uri.parse().unwrap(), insecure)
            .err()
            .map(|e| e.message)
    }

    #[test]
    fn operations_are_parsed_from_method_and_path() {
        let parse = |request: &'static str| {
            let (method, path) = request.split_once(' ').unwrap();
            Operation::parse(&Method::from_bytes(method.as_bytes()).unwrap(), path)
        };
        let zone = "Z1";
        let requests = [
            "POST /2013-04-01/hostedzone",
            "GET /2013-04-01/hostedzone/",
            "GET /2013-04-01/hostedzonesbyname",
            "GET /2013-04-01/hostedzonecount",
            "GET /2013-04-01/hostedzone/Z1",
            "DELETE /2013-04-01/hostedzone/Z1",
            "POST /2013-04-01/hostedzone/Z1/rrset/",
            "GET /2013-04-01/hostedzone/Z1/rrset",
            "GET /2013-04-01/change/C42",
            "POST /2013-04-01/healthcheck",
            "GET /2013-04-01/healthcheck",
            "GET /2013-04-01/healthcheckcount",
            "GET /2013-04-01/healthcheck/abc",
            "POST /2013-04-01/healthcheck/abc",
            "DELETE /2013-04-01/healthcheck/abc",
            "GET /2013-04-01/healthcheck/abc/status",
            "POST /2013-04-01/tags/hostedzone/Z1",
            "GET /2013-04-01/tags/healthcheck/abc",
            "POST /2013-04-01/tags/hostedzone",
            "GET /2013-04-01/hostedzonelimit/Z1/MAX_RRSETS_BY_ZONE",
            "GET /2013-04-01/accountlimit/MAX_HOSTED_ZONES_BY_OWNER",
            "POST /2013-04-01/cidrcollection",
            "GET /2013-04-01/cidrcollection/",
            "POST /2013-04-01/cidrcollection/c1",
            "GET /2013-04-01/cidrcollection/c1",
            "GET /2013-04-01/cidrcollection/c1/cidrblocks",
            "DELETE /2013-04-01/cidrcollection/c1",
        ];
        let operations = [
            Operation::CreateHostedZone,
            Operation::ListHostedZones,
            Operation::ListHostedZonesByName,
            Operation::GetHostedZoneCount,
            Operation::GetHostedZone { zone },
            Operation::DeleteHostedZone { zone },
            Operation::ChangeResourceRecordSets { zone },
            Operation::ListResourceRecordSets { zone },
            Operation::GetChange { change: "C42" },
            Operation::CreateHealthCheck,
            Operation::ListHealthChecks,
            Operation::GetHealthCheckCount,
            Operation::GetHealthCheck { check: "abc" },
            Operation::UpdateHealthCheck { check: "abc" },
            Operation::DeleteHealthCheck { check: "abc" },
            Operation::GetHealthCheckStatus { check: "abc" },
            Operation::ChangeTagsForResource {
                kind: "hostedzone",
                id: zone,
            },
            Operation::ListTagsForResource {
                kind: "healthcheck",
                id: "abc",
            },
            Operation::ListTagsForResources { kind: "hostedzone" },
            Operation::GetHostedZoneLimit {
                zone,
                limit: "MAX_RRSETS_BY_ZONE",
            },
            Operation::GetAccountLimit {
                limit: "MAX_HOSTED_ZONES_BY_OWNER",
            },
            Operation::CreateCidrCollection,
            Operation::ListCidrCollections,
            Operation::ChangeCidrCollection { collection: "c1" },
            Operation::ListCidrLocations { collection: "c1" },
            Operation::ListCidrBlocks { collection: "c1" },
            Operation::DeleteCidrCollection { collection: "c1" },
        ];
        for (request, operation) in requests.into_iter().zip(operations) {
            assert_eq!(parse(request), Some(operation), "{request}");
            // The metrics label is the variant's name, which is Route 53's.
            assert!(
                format!("{operation:?}").starts_with(operation.name()),
                "{request}"
            );
        }
        for request in [
            "PUT /2013-04-01/hostedzone",
            "GET /2013-04-01/healthcheck/abc/lastfailurereason",
            "GET /2013-04-01/hostedzone/Z1/rrset/extra",
            "GET /2013-04-01//hostedzone",
            "GET /2012-12-12/hostedzone",
            "DELETE /2013-04-01/change/C42",
            "PUT /2013-04-01/cidrcollection/c1",
            "POST /2013-04-01/cidrcollection/c1/cidrblocks",
            "DELETE /2013-04-01/cidrcollection",
            "GET /",
        ] {
            assert_eq!(parse(request), None, "{request}");
        }
    }

    #[test]
    fn each_operation_is_authorised_on_the_resource_the_service_reference_names() {
        let zone = "arn:aws:route53:::hostedzone/Z1";
        for (operation, resource) in [
            (Operation::ChangeResourceRecordSets { zone: "Z1" }, zone),
            (Operation::ListResourceRecordSets { zone: "Z1" }, zone),
            (
                Operation::GetHostedZoneLimit {
                    zone: "Z1",
                    limit: "MAX_RRSETS_BY_ZONE",
                },
                zone,
            ),
            (
                Operation::GetChange { change: "C42" },
                "arn:aws:route53:::change/C42",
            ),
            (
                Operation::GetHealthCheckStatus { check: "abc" },
                "arn:aws:route53:::healthcheck/abc",
            ),
            (
                Operation::ChangeTagsForResource {
                    kind: "healthcheck",
                    id: "abc",
                },
                "arn:aws:route53:::healthcheck/abc",
            ),
            (Operation::ListHostedZonesByName, "*"),
            (Operation::CreateHostedZone, "*"),
            (Operation::ListHealthChecks, "*"),
            (Operation::GetAccountLimit { limit: "X" }, "*"),
            (
                Operation::ChangeCidrCollection { collection: "c1" },
                "arn:aws:route53:::cidrcollection/c1",
            ),
            (
                Operation::ListCidrBlocks { collection: "c1" },
                "arn:aws:route53:::cidrcollection/c1",
            ),
            (Operation::CreateCidrCollection, "*"),
            (Operation::ListCidrCollections, "*"),
        ] {
            assert_eq!(operation.resource(), resource, "{operation:?}");
        }
    }

    #[test]
    fn hosts_are_read_with_or_without_a_port() {
        let v4 = |a: [u8; 4]| HostName::Ip(IpAddr::from(a));
        assert_eq!(host_address("localhost"), HostName::Localhost);
        assert_eq!(host_address("LocalHost.:8053"), HostName::Localhost);
        assert_eq!(host_address("127.0.0.1:8053"), v4([127, 0, 0, 1]));
        assert_eq!(host_address("127.9.9.9"), v4([127, 9, 9, 9]));
        assert_eq!(
            host_address("[::1]:8053"),
            HostName::Ip("::1".parse().unwrap())
        );
        assert_eq!(host_address("[::ffff:127.0.0.1]"), v4([127, 0, 0, 1]));
        for other in [
            "evil.example",
            "localhost.evil.example:8053",
            "127.0.0.1.nip.io",
            "127.0.0.1:99999",
            "[::1]x",
            "[::1",
            "::1",
            "",
        ] {
            assert_eq!(host_address(other), HostName::Other, "{other}");
        }
    }

    #[test]
    fn an_unauthenticated_api_answers_local_programs_only() {
        assert_eq!(guard(&[("host", "127.0.0.1:8053")], "/", false), None);
        assert_eq!(guard(&[("host", "localhost")], "/", false), None);
        // HTTP/2 carries the authority in the URI.
        assert_eq!(guard(&[], "http://[::1]:8053/", false), None);
        let page = guard(
            &[
                ("host", "127.0.0.1:8053"),
                ("origin", "http://evil.example"),
            ],
            "/",
            true,
        );
        assert!(page.expect("refused").contains("Origin"));
        let rebound = guard(&[("host", "evil.example:8053")], "/", true).expect("refused");
        assert!(rebound.contains("\"evil.example:8053\""), "{rebound}");
        assert!(guard(&[("host", "192.0.2.1:8053")], "/", false).is_some());
        assert_eq!(guard(&[("host", "192.0.2.1:8053")], "/", true), None);
        assert!(guard(&[], "/", false).expect("refused").contains("<none>"));
    }
}
