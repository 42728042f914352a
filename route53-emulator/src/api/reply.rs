//! What every operation of the API shares, whatever its feature: the error document
//! ([`ApiError`]), a successful response ([`ok`]), the request body parsed off the async workers
//! ([`parse_body`]) and the `marker`/`maxitems` paging.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::cidr_collections::CidrError;
use crate::shared::WriteError;
use crate::store::StoreError;
use crate::xml::{self, XmlError};

/// The largest request body accepted, in bytes; a larger one gets 413 `RequestEntityTooLarge`.
///
/// The largest body Route 53 itself accepts is a ChangeResourceRecordSets batch of 1 000 changes
/// (1 000 `ResourceRecord` elements) carrying 32 000 characters of values. As the SDKs write it, a
/// change with every field the resolver reads at its maximum is 264 bytes of markup
/// (`<Change><Action>UPSERT</Action>…<TTL>2147483647</TTL>…</Change>`) + a 255-byte name + a
/// 128-byte set identifier = 647 bytes; 1 000 of them are 647 000 bytes. The values add 32 000
/// bytes, or 192 000 if every character were written as a 6-byte entity (`&quot;`); the envelope
/// and a 256-character comment (escaped: 1 536) add under 2 000. That is at most ~841 000 bytes;
/// 1 MiB leaves 25 % margin.
pub const MAX_BODY: usize = 1024 * 1024;

/// An API failure, rendered as Route 53's error document.
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
        }
    }

    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidInput", message)
    }

    pub(crate) fn too_large(what: &str) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!(
                "the request body {what}; at most {MAX_BODY} bytes are accepted (split the change \
                 batch)"
            ),
        )
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
            // As Route 53 sends it now: the standard error document, every problem in one
            // `<Message>` as `[m1, m2]` (ChangeError's Display).
            StoreError::Change(registry::zone::ChangeError::InvalidChangeBatch(_)) => {
                Self::new(400, "InvalidChangeBatch", message)
            }
            StoreError::NoSuchHealthCheck(_) => Self::new(404, "NoSuchHealthCheck", message),
            StoreError::HealthCheckAlreadyExists(_) => {
                Self::new(409, "HealthCheckAlreadyExists", message)
            }
            StoreError::TooManyHealthChecks => Self::new(400, "TooManyHealthChecks", message),
            StoreError::HealthCheckVersionMismatch { .. } => {
                Self::new(409, "HealthCheckVersionMismatch", message)
            }
            StoreError::Cidr(e) => Self::cidr(&e, message),
        }
    }
}

impl ApiError {
    /// A CIDR collection operation's refusal with Route 53's code and status (the API
    /// reference's error lists; exceptions without an `httpError` in the model are 400).
    fn cidr(e: &CidrError, message: String) -> Self {
        let (status, code) = match e {
            CidrError::InvalidInput(_) => (400, "InvalidInput"),
            CidrError::NoSuchCollection(_) => (404, "NoSuchCidrCollectionException"),
            CidrError::NoSuchLocation(_) => (404, "NoSuchCidrLocationException"),
            CidrError::AlreadyExists(_) => (400, "CidrCollectionAlreadyExistsException"),
            CidrError::InUse(_) => (400, "CidrCollectionInUseException"),
            CidrError::VersionMismatch { .. } => (409, "CidrCollectionVersionMismatchException"),
            CidrError::BlockInUse(_) => (400, "CidrBlockInUseException"),
            CidrError::LimitsExceeded(_) => (400, "LimitsExceeded"),
        };
        Self::new(status, code, message)
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Refused(e) => e.into(),
            WriteError::NotDurable(_) | WriteError::Writer(_) => {
                Self::new(500, "InternalFailure", e.to_string())
            }
        }
    }
}

/// What an operation answers: its response, or the error document to send.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// A fresh `x-amzn-RequestId`.
pub(crate) fn request_id() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// A successful response: the document `root` holding `inner`.
pub(crate) fn ok(status: StatusCode, root: &str, inner: &str) -> Response {
    (
        status,
        [("content-type", "text/xml")],
        xml::document(root, inner),
    )
        .into_response()
}

/// Parses a request body with `parse` on the blocking pool, so a slow document never holds an
/// async worker (DNS over TCP and other API requests share them).
pub(crate) async fn parse_body<T: Send + 'static>(
    body: &Bytes,
    parse: fn(&str) -> Result<T, XmlError>,
) -> Result<T, ApiError> {
    let body = body.clone();
    tokio::task::spawn_blocking(move || {
        let text = std::str::from_utf8(&body)
            .map_err(|_| XmlError("the request body is not UTF-8".into()))?;
        parse(text)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            500,
            "InternalFailure",
            format!("the XML parser failed: {e}"),
        )
    })?
    .map_err(|e| ApiError::input(e.0))
}

/// The `maxitems` of a listing: `default` without it, at most `cap`.
pub(crate) fn max_items(
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

/// One page of a `marker`/`maxitems` listing of `items` (in id order): the items whose id is
/// `marker` or after, at most `max`, and the elements after the list (`Marker` when given,
/// `IsTruncated`, `NextMarker` when truncated, `MaxItems`).
pub(crate) fn marker_page<'a, T: 'a>(
    items: impl Iterator<Item = &'a T>,
    id: impl Fn(&T) -> &str,
    marker: Option<&str>,
    max: usize,
) -> (Vec<&'a T>, String) {
    let mut rest = items.filter(|item| marker.is_none_or(|m| id(item) >= m));
    let page: Vec<&T> = rest.by_ref().take(max).collect();
    let next = rest.next();
    let mut tail = String::new();
    if let Some(m) = marker {
        tail.push_str(&format!("<Marker>{}</Marker>", xml::esc(m)));
    }
    tail.push_str(&format!("<IsTruncated>{}</IsTruncated>", next.is_some()));
    if let Some(n) = next {
        tail.push_str(&format!("<NextMarker>{}</NextMarker>", xml::esc(id(n))));
    }
    tail.push_str(&format!("<MaxItems>{max}</MaxItems>"));
    (page, tail)
}
