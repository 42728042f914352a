//! A scripted Route 53 REST endpoint on loopback. Each operation answers from a queue of faults
//! first, then succeeds. ListResourceRecordSets pages through a fixed list of record sets with
//! Route 53's NextRecordName/Type/Identifier, so pagination resumes inside weighted groups.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// The operations the endpoint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// POST …/rrset/
    Change,
    /// GET …/rrset
    List,
    /// GET /change/{id}
    GetChange,
    /// GET /hostedzonesbyname
    ZonesByName,
}

/// One scripted misbehaviour.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 400 `Throttling` ("Rate exceeded").
    Throttling,
    /// 400 `PriorRequestNotComplete`.
    PriorRequestNotComplete,
    /// 400 `InvalidChangeBatch` with these messages.
    InvalidChangeBatch(Vec<String>),
    /// 500 `InternalFailure`.
    ServerError,
    /// 403 `AccessDenied`.
    AccessDenied,
    /// Wait this long, then answer normally.
    Slow(Duration),
}

/// A record set served by ListResourceRecordSets, in listing order.
#[derive(Debug, Clone)]
pub struct Rrset {
    /// Name with trailing dot.
    pub name: String,
    /// Type code.
    pub rtype: String,
    /// SetIdentifier.
    pub set_id: Option<String>,
    /// Weight.
    pub weight: Option<i64>,
    /// TTL.
    pub ttl: u32,
    /// Values.
    pub values: Vec<String>,
}

#[derive(Default)]
struct Inner {
    faults: HashMap<Op, VecDeque<Fault>>,
    counts: HashMap<Op, usize>,
    change_bodies: Vec<String>,
    records: Vec<Rrset>,
    pending_polls: usize,
    zone_name: String,
}

/// The running endpoint. Dropping it leaves the task running until the test's runtime ends.
#[derive(Clone)]
pub struct FaultyRoute53 {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FaultyRoute53 {
    /// Starts the endpoint on a free loopback port, serving one zone `Z1` named `zone_name`.
    pub async fn start(zone_name: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            zone_name: zone_name.trim_end_matches('.').to_owned() + ".",
            ..Inner::default()
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Queues `fault` for the next request of `op`.
    pub fn push(&self, op: Op, fault: Fault) {
        self.lock().faults.entry(op).or_default().push_back(fault);
    }

    /// Requests of `op` received so far (faulted ones included).
    pub fn count(&self, op: Op) -> usize {
        self.lock().counts.get(&op).copied().unwrap_or(0)
    }

    /// The XML bodies of the ChangeResourceRecordSets requests received.
    pub fn change_bodies(&self) -> Vec<String> {
        self.lock().change_bodies.clone()
    }

    /// Sets the record sets that ListResourceRecordSets serves (already in listing order).
    pub fn set_records(&self, records: Vec<Rrset>) {
        self.lock().records = records;
    }

    /// GetChange answers PENDING this many times before INSYNC.
    pub fn set_pending_polls(&self, n: usize) {
        self.lock().pending_polls = n;
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let op = if path.ends_with("/rrset") && method == Method::POST {
        Op::Change
    } else if path.ends_with("/rrset") {
        Op::List
    } else if path.contains("/change/") {
        Op::GetChange
    } else if path.ends_with("/hostedzonesbyname") {
        Op::ZonesByName
    } else {
        return (StatusCode::NOT_FOUND, "unknown path").into_response();
    };
    let fault = {
        let mut g = inner.lock().unwrap();
        *g.counts.entry(op).or_default() += 1;
        if op == Op::Change {
            g.change_bodies
                .push(String::from_utf8_lossy(&body).into_owned());
        }
        g.faults.get_mut(&op).and_then(VecDeque::pop_front)
    };
    match fault {
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Throttling) => return error(400, "Throttling", "Rate exceeded"),
        Some(Fault::PriorRequestNotComplete) => {
            return error(
                400,
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            );
        }
        Some(Fault::ServerError) => return error(500, "InternalFailure", "internal error"),
        Some(Fault::AccessDenied) => {
            return error(
                403,
                "AccessDenied",
                "User is not authorized to perform route53 actions",
            );
        }
        Some(Fault::InvalidChangeBatch(messages)) => {
            let msgs: String = messages
                .iter()
                .map(|m| format!("<Message>{}</Message>", escape(m)))
                .collect();
            return xml(
                400,
                format!(
                    "<InvalidChangeBatch xmlns=\"{NS}\"><Messages>{msgs}</Messages><RequestId>r-1</RequestId></InvalidChangeBatch>"
                ),
            );
        }
        None => {}
    }
    let mut g = inner.lock().unwrap();
    match op {
        Op::Change => xml(
            200,
            format!(
                "<ChangeResourceRecordSetsResponse xmlns=\"{NS}\"><ChangeInfo><Id>/change/C{n}</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00.000Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>",
                n = g.change_bodies.len()
            ),
        ),
        Op::GetChange => {
            let status = if g.pending_polls > 0 {
                g.pending_polls -= 1;
                "PENDING"
            } else {
                "INSYNC"
            };
            xml(
                200,
                format!(
                    "<GetChangeResponse xmlns=\"{NS}\"><ChangeInfo><Id>/change/C1</Id><Status>{status}</Status><SubmittedAt>2026-01-01T00:00:00.000Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
                ),
            )
        }
        Op::ZonesByName => xml(
            200,
            format!(
                "<ListHostedZonesByNameResponse xmlns=\"{NS}\"><HostedZones><HostedZone><Id>/hostedzone/Z1</Id><Name>{}</Name><CallerReference>c</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone></HostedZones><IsTruncated>false</IsTruncated><MaxItems>10</MaxItems></ListHostedZonesByNameResponse>",
                g.zone_name
            ),
        ),
        Op::List => list_page(&g.records, &query),
    }
}

fn list_page(records: &[Rrset], q: &HashMap<String, String>) -> Response {
    let max: usize = q
        .get("maxitems")
        .and_then(|m| m.parse().ok())
        .unwrap_or(300);
    let start = match q.get("name") {
        None => 0,
        Some(name) => records
            .iter()
            .position(|r| {
                r.name == *name
                    && q.get("type").is_none_or(|t| r.rtype == *t)
                    && q.get("identifier")
                        .is_none_or(|i| r.set_id.as_ref() == Some(i))
            })
            .unwrap_or(records.len()),
    };
    let page = &records[start..records.len().min(start + max)];
    let next = records.get(start + max);
    let mut body = format!("<ListResourceRecordSetsResponse xmlns=\"{NS}\"><ResourceRecordSets>");
    for r in page {
        body.push_str(&format!(
            "<ResourceRecordSet><Name>{}</Name><Type>{}</Type>",
            r.name, r.rtype
        ));
        if let Some(id) = &r.set_id {
            body.push_str(&format!("<SetIdentifier>{}</SetIdentifier>", escape(id)));
        }
        if let Some(w) = r.weight {
            body.push_str(&format!("<Weight>{w}</Weight>"));
        }
        body.push_str(&format!("<TTL>{}</TTL><ResourceRecords>", r.ttl));
        for v in &r.values {
            body.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                escape(v)
            ));
        }
        body.push_str("</ResourceRecords></ResourceRecordSet>");
    }
    body.push_str(&format!(
        "</ResourceRecordSets><IsTruncated>{}</IsTruncated>",
        next.is_some()
    ));
    if let Some(n) = next {
        body.push_str(&format!(
            "<NextRecordName>{}</NextRecordName><NextRecordType>{}</NextRecordType>",
            n.name, n.rtype
        ));
        if let Some(id) = &n.set_id {
            body.push_str(&format!(
                "<NextRecordIdentifier>{}</NextRecordIdentifier>",
                escape(id)
            ));
        }
    }
    body.push_str(&format!(
        "<MaxItems>{max}</MaxItems></ListResourceRecordSetsResponse>"
    ));
    xml(200, body)
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
            escape(message)
        ),
    )
}

fn xml(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "text/xml"), ("x-amzn-requestid", "r-1")],
        body,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
