//! The one module that talks to Route 53. It owns rate limiting, retries, batching, listing with
//! pagination, and waiting for INSYNC; and the account's CIDR collections (find, create,
//! change at a version), through the same rate limit and retries.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{ChangeBatch, ChangeStatus, RrType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use ipnet::IpNet;

use crate::metrics::{Operation, RequestLabels, RequestOutcome, RetryLabels, WriterMetrics};
use crate::sdk;
use registry::cidr::{CidrCollectionState, LocationChange};
use registry::config::{Route53Config, ZoneRef};
use registry::limiter::TokenBucket;
use registry::listing::{ListFrom, Span, Walk};
use registry::model::{PoolSpec, RecordSet};
use registry::name::Fqdn;
use registry::plan::{BatchLimits, Plan};
use registry::retry::{Backoff, Disposition, Failure, RetryReason, disposition};
pub use registry::store::{PoolStore, Submitted, WriteError};

/// Tunables of the writer, from `[route53]`.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Client-side rate limit, requests per second.
    pub requests_per_second: f64,
    /// Attempts per request, including the first.
    pub max_attempts: u32,
    /// First retry delay.
    pub backoff_base: Duration,
    /// Largest retry delay.
    pub backoff_cap: Duration,
    /// Largest delay between retries of a throttled request. Kept short: Route 53's limit is a
    /// per-second rate shared by every caller in the account, so a long wait only leaves tokens
    /// unused when the contention ends (benches: registration storm).
    pub throttle_max_delay: Duration,
    /// How long a throttled request keeps being retried. Throttling does not count against
    /// `max_attempts`: under a fleet-wide start it is expected, not a fault.
    pub throttle_patience: Duration,
    /// Wait for INSYNC after each batch.
    pub wait_for_insync: bool,
    /// Give up waiting for INSYNC after this long.
    pub insync_timeout: Duration,
    /// GetChange polling period.
    pub insync_poll: Duration,
    /// Batch limits.
    pub limits: BatchLimits,
    /// MaxItems of each ListResourceRecordSets page (Route 53 allows up to 300).
    pub page_size: i32,
}

impl WriterSettings {
    /// Settings from the `[route53]` section.
    pub fn from_config(cfg: &Route53Config) -> Self {
        Self {
            requests_per_second: cfg.max_requests_per_second,
            max_attempts: cfg.max_attempts,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(20),
            throttle_max_delay: cfg.throttle_max_delay,
            throttle_patience: Duration::from_secs(120),
            wait_for_insync: cfg.wait_for_insync,
            insync_timeout: cfg.insync_timeout,
            insync_poll: Duration::from_secs(2),
            limits: BatchLimits::default(),
            page_size: 300,
        }
    }
}

/// The Route 53 writer for one hosted zone.
#[derive(Debug)]
pub struct Writer {
    client: aws_sdk_route53::Client,
    zone_id: String,
    settings: WriterSettings,
    bucket: Arc<tokio::sync::Mutex<TokenBucket>>,
    metrics: WriterMetrics,
    throttled: Arc<AtomicU64>,
}

impl Writer {
    /// Builds a client from `cfg` and finds the hosted zone.
    pub async fn connect(
        cfg: &Route53Config,
        zone: &ZoneRef,
        metrics: WriterMetrics,
    ) -> Result<Self, WriteError> {
        let client = sdk::client(cfg).await;
        Self::with_client(client, WriterSettings::from_config(cfg), zone, metrics).await
    }

    /// Builds a writer around an existing client and settings, and finds the hosted zone.
    pub async fn with_client(
        client: aws_sdk_route53::Client,
        settings: WriterSettings,
        zone: &ZoneRef,
        metrics: WriterMetrics,
    ) -> Result<Self, WriteError> {
        let bucket = TokenBucket::new(
            settings.requests_per_second,
            settings.requests_per_second.max(1.0),
            Instant::now(),
        );
        let writer = Self {
            client,
            zone_id: String::new(),
            settings,
            bucket: Arc::new(tokio::sync::Mutex::new(bucket)),
            metrics,
            throttled: Arc::new(AtomicU64::new(0)),
        };
        writer.open(zone).await
    }

    /// A writer for another hosted zone that shares this one's client, rate limit, metrics and
    /// throttle count: one process stays within one request budget however many zones it
    /// writes to.
    pub async fn sibling(&self, zone: &ZoneRef) -> Result<Self, WriteError> {
        let writer = Self {
            client: self.client.clone(),
            zone_id: String::new(),
            settings: self.settings.clone(),
            bucket: self.bucket.clone(),
            metrics: self.metrics.clone(),
            throttled: self.throttled.clone(),
        };
        writer.open(zone).await
    }

    /// Sets the zone id, looking the name up when the zone is given by name.
    async fn open(mut self, zone: &ZoneRef) -> Result<Self, WriteError> {
        self.zone_id = match zone {
            ZoneRef::Id(id) => id.clone(),
            ZoneRef::Name(name) => self.find_zone(name).await?,
        };
        Ok(self)
    }

    /// How many requests Route 53 has throttled so far. Callers that poll on their own schedule
    /// compare it before and after a round to space their rounds out under contention.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The hosted zone id this writer changes.
    pub fn zone_id(&self) -> &str {
        &self.zone_id
    }

    async fn find_zone(&self, name: &Fqdn) -> Result<String, WriteError> {
        let out = self
            .call(Operation::ListHostedZonesByName, || {
                self.client
                    .list_hosted_zones_by_name()
                    .dns_name(name.as_str())
                    .max_items(10)
                    .send()
            })
            .await?;
        let ids: Vec<String> = out
            .hosted_zones()
            .iter()
            .filter(|z| Fqdn::from_api(z.name()) == *name)
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
            .collect();
        match ids.as_slice() {
            [] => Err(WriteError::ZoneNotFound { name: name.clone() }),
            [id] => Ok(id.clone()),
            _ => Err(WriteError::ZoneAmbiguous {
                name: name.clone(),
                ids: ids.join(", "),
            }),
        }
    }

    /// Lists the record sets at the pool's address, ownership and leader-lease names, following
    /// pagination to the end of the pool's part of the zone.
    pub async fn list_pool(&self, pool: &PoolSpec) -> Result<Vec<RecordSet>, WriteError> {
        PoolStore::list_pool(self, pool).await
    }

    /// Lists every record set at exactly `names` in one walk over the zone's listing ([`Span`]:
    /// adjacent names share pages, a gap at a page boundary costs one request at the next name).
    pub async fn list_names(
        &self,
        names: &[Fqdn],
        walk: Walk,
    ) -> Result<Vec<RecordSet>, WriteError> {
        let mut span = Span::new(names, walk);
        let mut from = span.start();
        while let Some(start) = from {
            let page = self
                .call(Operation::ListResourceRecordSets, || {
                    self.client
                        .list_resource_record_sets()
                        .hosted_zone_id(&self.zone_id)
                        .start_record_name(&start.name)
                        .set_start_record_type(start.rtype.as_deref().map(RrType::from))
                        .set_start_record_identifier(start.identifier.clone())
                        .max_items(self.settings.page_size)
                        .send()
                })
                .await?;
            let sets = page
                .resource_record_sets()
                .iter()
                .filter_map(sdk::from_sdk)
                .collect();
            let next = page.next_record_name().map(|name| ListFrom {
                name: name.to_owned(),
                rtype: page.next_record_type().map(|t| t.as_str().to_owned()),
                identifier: page.next_record_identifier().map(str::to_owned),
            });
            from = span.page(sets, next, page.is_truncated())?;
        }
        Ok(span.finish())
    }

    /// Submits every batch of `plan`, in order, waiting for INSYNC after each when configured.
    /// Stops at the first failure; the batches before it stay applied.
    pub async fn execute(&self, plan: &Plan) -> Result<Vec<Submitted>, WriteError> {
        let mut done = Vec::new();
        for batch in plan.batches(self.settings.limits)? {
            let changes = batch
                .changes
                .iter()
                .map(sdk::to_sdk)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| WriteError::Build(e.to_string()))?;
            let change_batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .comment(batch.comment())
                .build()
                .map_err(|e| WriteError::Build(e.to_string()))?;
            let submitted_at = tokio::time::Instant::now();
            let out = self
                .call(Operation::ChangeResourceRecordSets, || {
                    self.client
                        .change_resource_record_sets()
                        .hosted_zone_id(&self.zone_id)
                        .change_batch(change_batch.clone())
                        .send()
                })
                .await?;
            let info = out.change_info();
            let change_id = info
                .map(|i| i.id().trim_start_matches("/change/").to_owned())
                .unwrap_or_default();
            let mut insync = info.is_some_and(|i| *i.status() == ChangeStatus::Insync);
            tracing::debug!(
                change_id,
                targets = %batch.target_ids.join(","),
                changes = batch.changes.len(),
                "change batch accepted"
            );
            if self.settings.wait_for_insync && !insync && !change_id.is_empty() {
                self.wait_insync(&change_id, submitted_at).await?;
                insync = true;
            }
            if insync {
                self.metrics
                    .insync_seconds
                    .observe(submitted_at.elapsed().as_secs_f64());
            }
            done.push(Submitted {
                change_id,
                target_ids: batch.target_ids,
                insync,
            });
        }
        Ok(done)
    }

    /// Polls GetChange until the change is INSYNC or `insync_timeout` has passed since
    /// `submitted_at`.
    pub async fn wait_insync(
        &self,
        change_id: &str,
        submitted_at: tokio::time::Instant,
    ) -> Result<(), WriteError> {
        loop {
            let out = self
                .call(Operation::GetChange, || {
                    self.client.get_change().id(change_id).send()
                })
                .await?;
            if out
                .change_info()
                .is_some_and(|i| *i.status() == ChangeStatus::Insync)
            {
                return Ok(());
            }
            let waited = submitted_at.elapsed();
            if waited >= self.settings.insync_timeout {
                return Err(WriteError::InsyncTimeout {
                    change_id: change_id.to_owned(),
                    waited,
                });
            }
            tokio::time::sleep(self.settings.insync_poll).await;
        }
    }

    /// Finds the CIDR collection named `name` and lists its blocks: ListCidrCollections page by
    /// page until the name is seen, then every page of ListCidrBlocks (all locations). The
    /// version is the one the collection listing gave: a change between the two listings makes
    /// the blocks newer than it, and a change planned from them a conflict, which re-reads.
    pub async fn find_cidr_collection(
        &self,
        name: &str,
    ) -> Result<Option<CidrCollectionState>, WriteError> {
        let operation = Operation::ListCidrCollections;
        let mut token: Option<String> = None;
        let found = loop {
            let page = self
                .call(operation, || {
                    self.client
                        .list_cidr_collections()
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            if let Some(c) = page
                .cidr_collections()
                .iter()
                .find(|c| c.name() == Some(name))
            {
                break Some(collection_identity(operation, c.id(), c.version())?);
            }
            match next_token(operation, token.as_deref(), page.next_token())? {
                Some(next) => token = Some(next),
                None => break None,
            }
        };
        let Some((id, version)) = found else {
            return Ok(None);
        };
        let blocks = self.list_cidr_blocks(&id).await?;
        Ok(Some(CidrCollectionState {
            id,
            version,
            blocks,
        }))
    }

    /// Every block of collection `id` with its location: ListCidrBlocks, page by page.
    async fn list_cidr_blocks(&self, id: &str) -> Result<BTreeMap<IpNet, String>, WriteError> {
        let operation = Operation::ListCidrBlocks;
        let mut blocks = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(operation, || {
                    self.client
                        .list_cidr_blocks()
                        .collection_id(id)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for summary in page.cidr_blocks() {
                let (block, location) = sdk::cidr_block_from_sdk(summary)
                    .map_err(|e| bad_answer(operation, &e.to_string()))?;
                if let Some(other) = blocks.insert(block, location.clone())
                    && other != location
                {
                    return Err(bad_answer(
                        operation,
                        &format!("{block} is listed in locations {other} and {location}"),
                    ));
                }
            }
            match next_token(operation, token.as_deref(), page.next_token())? {
                Some(next) => token = Some(next),
                None => return Ok(blocks),
            }
        }
    }

    /// Creates the empty CIDR collection `name`; see [`PoolStore::create_cidr_collection`]. A
    /// retry Route 53 answers with a collection changed since (version past 1) has its blocks
    /// listed.
    pub async fn create_cidr_collection(
        &self,
        name: &str,
        caller_reference: &str,
    ) -> Result<CidrCollectionState, WriteError> {
        let operation = Operation::CreateCidrCollection;
        let out = self
            .call(operation, || {
                self.client
                    .create_cidr_collection()
                    .name(name)
                    .caller_reference(caller_reference)
                    .send()
            })
            .await?;
        let collection = out
            .collection()
            .ok_or_else(|| bad_answer(operation, "the answer holds no Collection"))?;
        let (id, version) = collection_identity(operation, collection.id(), collection.version())?;
        tracing::info!(%id, name, version, "CIDR collection created");
        let blocks = if version == 1 {
            BTreeMap::new()
        } else {
            self.list_cidr_blocks(&id).await?
        };
        Ok(CidrCollectionState {
            id,
            version,
            blocks,
        })
    }

    /// Sends one ChangeCidrCollection at `version`; see [`PoolStore::change_cidr_collection`].
    pub async fn change_cidr_collection(
        &self,
        id: &str,
        version: i64,
        changes: &[LocationChange],
    ) -> Result<i64, WriteError> {
        let sdk_changes = changes
            .iter()
            .map(sdk::cidr_change_to_sdk)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WriteError::Build(e.to_string()))?;
        let out = self
            .call(Operation::ChangeCidrCollection, || {
                self.client
                    .change_cidr_collection()
                    .id(id)
                    .collection_version(version)
                    .set_changes(Some(sdk_changes.clone()))
                    .send()
            })
            .await?;
        tracing::debug!(
            collection = id,
            version,
            change_id = out.id(),
            changes = changes.len(),
            blocks = changes.iter().map(|c| c.blocks.len()).sum::<usize>(),
            "CIDR collection change accepted"
        );
        Ok(version.saturating_add(1))
    }

    /// Runs one API operation under the rate limit, retrying what is retryable.
    async fn call<T, E, Fut>(
        &self,
        operation: Operation,
        mut send: impl FnMut() -> Fut,
    ) -> Result<T, WriteError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let settings = &self.settings;
        let mut backoff = Backoff::new(settings.backoff_base, settings.backoff_cap);
        let mut throttle_backoff = Backoff::new(
            settings.backoff_base.min(settings.throttle_max_delay),
            settings.throttle_max_delay,
        );
        let started = Instant::now();
        // Attempts that count against `max_attempts`: every one but the throttled ones.
        let mut counted = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let wait = self.bucket.lock().await.reserve(Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let err = match send().await {
                Ok(v) => {
                    self.count(operation, RequestOutcome::Succeeded);
                    return Ok(v);
                }
                Err(err) => err,
            };
            let (failure, code) = describe(&err);
            // Route 53's text is outside text: escaped once here, for every log line and error.
            let message =
                registry::escape::escape(&DisplayErrorContext(&err).to_string()).into_owned();
            let disposition = disposition(failure);
            let throttled = disposition == Disposition::Retry(RetryReason::Throttling);
            if throttled {
                self.throttled.fetch_add(1, Ordering::Relaxed);
            } else {
                counted += 1;
            }
            match disposition {
                Disposition::Retry(reason)
                    if (throttled && started.elapsed() < settings.throttle_patience)
                        || (!throttled && counted < settings.max_attempts) =>
                {
                    self.count(operation, RequestOutcome::Retry);
                    self.metrics
                        .retries
                        .get_or_create(&RetryLabels { reason })
                        .inc();
                    let delay = if throttled {
                        throttle_backoff.next_delay(&mut rand::rng())
                    } else {
                        backoff.next_delay(&mut rand::rng())
                    };
                    // Throttling is routine during a fleet-wide start: one line per request
                    // would flood the journal of every instance.
                    if throttled {
                        tracing::debug!(%operation, attempt, ?delay, "throttled; retrying");
                    } else {
                        tracing::warn!(%operation, attempt, %reason, ?delay, error = %message, "retrying Route 53 request");
                    }
                    tokio::time::sleep(delay).await;
                }
                Disposition::Retry(_) => {
                    self.count(operation, RequestOutcome::Error);
                    return Err(WriteError::RetriesExhausted {
                        operation: operation.as_str(),
                        attempts: attempt,
                        last: message,
                    });
                }
                Disposition::Conflict => {
                    let mut messages = raw_body(&err).map(xml_messages).unwrap_or_default();
                    if messages.is_empty() {
                        messages.push(
                            err.as_service_error()
                                .and_then(|e| e.message())
                                .map_or(message, str::to_owned),
                        );
                    }
                    if !registry::retry::is_cas_conflict(&messages) {
                        self.count(operation, RequestOutcome::Rejected);
                        return Err(WriteError::Rejected { messages });
                    }
                    self.count(operation, RequestOutcome::Conflict);
                    return Err(WriteError::Conflict { messages });
                }
                Disposition::VersionMismatch => {
                    self.count(operation, RequestOutcome::Conflict);
                    let text = err
                        .as_service_error()
                        .and_then(|e| e.message())
                        .map_or(message, |m| registry::escape::escape(m).into_owned());
                    return Err(WriteError::Conflict {
                        messages: vec![text],
                    });
                }
                Disposition::Fail => {
                    self.count(operation, RequestOutcome::Error);
                    return Err(WriteError::Api {
                        operation: operation.as_str(),
                        code: code.map(str::to_owned),
                        message,
                    });
                }
            }
        }
    }

    fn count(&self, operation: Operation, outcome: RequestOutcome) {
        self.metrics
            .requests
            .get_or_create(&RequestLabels { operation, outcome })
            .inc();
    }
}

fn describe<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> (Failure<'_>, Option<&str>) {
    match err {
        SdkError::ServiceError(se) => {
            // Route 53 now sends InvalidChangeBatch in the standard error document, with every
            // message in one `[m1, m2]`; it used to send its own document
            // (`<InvalidChangeBatch><Messages>…`), which the SDK cannot parse into a code.
            let code = se.err().code().or_else(|| {
                raw_body(err)
                    .filter(|b| b.contains("<InvalidChangeBatch"))
                    .map(|_| "InvalidChangeBatch")
            });
            (
                Failure::Service {
                    code,
                    status: Some(se.raw().status().as_u16()),
                },
                code,
            )
        }
        SdkError::TimeoutError(_) => (Failure::Timeout, None),
        SdkError::DispatchFailure(df) if df.is_timeout() => (Failure::Timeout, None),
        SdkError::DispatchFailure(df) if df.is_io() => (Failure::Transport, None),
        SdkError::ResponseError(re) => (
            Failure::BadResponse {
                status: Some(re.raw().status().as_u16()),
            },
            None,
        ),
        _ => (Failure::BadResponse { status: None }, None),
    }
}

/// A CIDR collection's id and version as an answer gives them, checked: the id goes into
/// request paths.
fn collection_identity(
    operation: Operation,
    id: Option<&str>,
    version: Option<i64>,
) -> Result<(String, i64), WriteError> {
    let id = id.ok_or_else(|| bad_answer(operation, "a collection lacks its Id"))?;
    if !registry::cidr::is_collection_id(id) {
        return Err(bad_answer(
            operation,
            &format!(
                "the collection id {:?} is not a lower-case UUID",
                registry::escape::escape(id)
            ),
        ));
    }
    let version = version
        .filter(|v| *v >= 1)
        .ok_or_else(|| bad_answer(operation, "a collection lacks its Version (1 or more)"))?;
    Ok((id.to_owned(), version))
}

/// The next page's token, or `None` after the last page. A token answered again for itself
/// would page forever: an error instead.
fn next_token(
    operation: Operation,
    sent: Option<&str>,
    next: Option<&str>,
) -> Result<Option<String>, WriteError> {
    match next {
        Some(next) if Some(next) == sent => Err(bad_answer(
            operation,
            "the answer's NextToken is the one the request sent",
        )),
        Some(next) => Ok(Some(next.to_owned())),
        None => Ok(None),
    }
}

/// An answer the writer cannot use.
fn bad_answer(operation: Operation, why: &str) -> WriteError {
    WriteError::Api {
        operation: operation.as_str(),
        code: None,
        message: format!("unusable answer: {why}"),
    }
}

fn raw_body<E>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.raw_response()
        .and_then(|r| r.body().bytes())
        .and_then(|b| std::str::from_utf8(b).ok())
}

/// The `<Message>` texts of a Route 53 error document, unescaped.
fn xml_messages(body: &str) -> Vec<String> {
    body.split("<Message>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Message>").map(|(m, _)| m))
        .map(|m| {
            m.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

impl PoolStore for Writer {
    async fn list_names(&self, names: &[Fqdn], walk: Walk) -> Result<Vec<RecordSet>, WriteError> {
        Writer::list_names(self, names, walk).await
    }

    async fn execute(&self, plan: &Plan) -> Result<Vec<Submitted>, WriteError> {
        Writer::execute(self, plan).await
    }

    async fn wait_insync(
        &self,
        change_id: &str,
        submitted_at: tokio::time::Instant,
    ) -> Result<(), WriteError> {
        Writer::wait_insync(self, change_id, submitted_at).await
    }

    fn throttled(&self) -> u64 {
        Writer::throttled(self)
    }

    async fn find_cidr_collection(
        &self,
        name: &str,
    ) -> Result<Option<CidrCollectionState>, WriteError> {
        Writer::find_cidr_collection(self, name).await
    }

    async fn create_cidr_collection(
        &self,
        name: &str,
        caller_reference: &str,
    ) -> Result<CidrCollectionState, WriteError> {
        Writer::create_cidr_collection(self, name, caller_reference).await
    }

    async fn change_cidr_collection(
        &self,
        id: &str,
        version: i64,
        changes: &[LocationChange],
    ) -> Result<i64, WriteError> {
        Writer::change_cidr_collection(self, id, version, changes).await
    }
}
