//! An IMDSv2 emulator on loopback: it requires a session token (401 without), serves the paths
//! the agent reads, and lets tests flip the Spot notice and the Auto Scaling lifecycle state, or
//! make the service slow or down.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One interface the emulator describes.
#[derive(Debug, Clone)]
pub struct Interface {
    /// MAC address.
    pub mac: String,
    /// The ENI id (`interface-id`; none: the path answers 404).
    pub interface_id: Option<String>,
    /// Device number.
    pub device: u32,
    /// Private IPv4 addresses.
    pub private: Vec<String>,
    /// Public IPv4 addresses (empty: the path answers 404, as on a host without one).
    pub public: Vec<String>,
}

#[derive(Debug)]
struct Inner {
    instance_id: String,
    region: String,
    az: String,
    interfaces: Vec<Interface>,
    spot: Option<String>,
    lifecycle: String,
    down: bool,
    delay: Duration,
    tokens_issued: u32,
    unauthorized: u32,
    lifecycle_reads: u32,
}

/// The running emulator.
#[derive(Clone)]
pub struct Imds {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Imds {
    /// Starts an emulator for `instance_id` in `az` (region derived from it) with one interface.
    pub async fn start(instance_id: &str, az: &str, interfaces: Vec<Interface>) -> Self {
        let region = az.split('-').take(3).collect::<Vec<_>>().join("-");
        let inner = Arc::new(Mutex::new(Inner {
            instance_id: instance_id.into(),
            region,
            az: az.into(),
            interfaces,
            spot: None,
            lifecycle: "InService".into(),
            down: false,
            delay: Duration::ZERO,
            tokens_issued: 0,
            unauthorized: 0,
            lifecycle_reads: 0,
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

    /// Replaces the public addresses of the interface `mac` (a re-associated Carrier IP).
    pub fn set_public(&self, mac: &str, public: Vec<String>) {
        let mut g = self.lock();
        if let Some(i) = g.interfaces.iter_mut().find(|i| i.mac == mac) {
            i.public = public;
        }
    }

    /// Posts a Spot interruption notice.
    pub fn interrupt_spot(&self) {
        self.lock().spot =
            Some(r#"{"action": "terminate", "time": "2026-11-27T12:00:00Z"}"#.into());
    }

    /// Sets `autoscaling/target-lifecycle-state`.
    pub fn set_lifecycle(&self, state: &str) {
        self.lock().lifecycle = state.into();
    }

    /// Makes every request fail with 503 (`true`) or work again.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Delays every answer.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.lock().tokens_issued
    }

    /// Reads of `autoscaling/target-lifecycle-state` so far.
    pub fn lifecycle_reads(&self) -> u32 {
        self.lock().lifecycle_reads
    }

    /// Requests refused for lack of a valid token.
    pub fn unauthorized(&self) -> u32 {
        self.lock().unauthorized
    }
}

const TOKEN: &str = "wavelb-test-token";

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let delay = inner.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut g = inner.lock().unwrap();
    if g.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let path = uri.path();
    if method == Method::PUT && path == "/latest/api/token" {
        if !headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds") {
            return (StatusCode::BAD_REQUEST, "missing ttl").into_response();
        }
        g.tokens_issued += 1;
        return TOKEN.into_response();
    }
    if headers
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        g.unauthorized += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(rest) = path.strip_prefix("/latest/meta-data/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let found: Option<String> = match rest {
        "instance-id" => Some(g.instance_id.clone()),
        "placement/region" => Some(g.region.clone()),
        "placement/availability-zone" => Some(g.az.clone()),
        "spot/instance-action" => g.spot.clone(),
        "autoscaling/target-lifecycle-state" => {
            g.lifecycle_reads += 1;
            Some(g.lifecycle.clone())
        }
        "network/interfaces/macs/" => Some(
            g.interfaces
                .iter()
                .map(|i| format!("{}/", i.mac))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        other => other
            .strip_prefix("network/interfaces/macs/")
            .and_then(|tail| {
                let (mac, key) = tail.split_once('/')?;
                let i = g.interfaces.iter().find(|i| i.mac == mac)?;
                match key {
                    "device-number" => Some(i.device.to_string()),
                    "interface-id" => i.interface_id.clone(),
                    "local-ipv4s" => Some(i.private.join("\n")),
                    "public-ipv4s" if !i.public.is_empty() => Some(i.public.join("\n")),
                    _ => None,
                }
            }),
    };
    match found {
        Some(body) => body.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
