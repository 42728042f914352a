//! The DNS server's Prometheus metrics: queries, weighted answers, drops, time to answer, and
//! the connection caps' counts (of DNS over TCP, and of any other listener built on
//! [`crate::conn`], such as the Route 53 emulator's API).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Labels of `wavelb_dns_queries_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QueryLabels {
    /// The question type (`A`, `AAAA`, …, or `none`).
    pub qtype: Cow<'static, str>,
    /// The response code (`NOERROR`, `NXDOMAIN`, …).
    pub rcode: Cow<'static, str>,
}

/// Labels of `wavelb_dns_answers_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AnswerLabels {
    /// The weighted name (the pool), with its trailing dot.
    pub pool: String,
    /// The set identifier answered (one per instance for wavelb's pools).
    pub set_id: String,
}

/// At most this many weighted sets get a series of their own in `wavelb_dns_answers_total`; the
/// answers of any further set count into one series, [`AnswerLabels::overflow`]. With the
/// resolver's other families (each bounded by the code: question types × rcodes, API operations
/// × error codes, fixed reasons and buckets, about 1 000 series together) one scrape stays far
/// below 10 000 series whatever the API was asked to hold (it accepts millions of sets).
pub const MAX_ANSWER_SERIES: usize = 2_000;

impl AnswerLabels {
    /// The series the sets past [`MAX_ANSWER_SERIES`] count into: `pool="_overflow",
    /// set_id="_overflow"`.
    pub fn overflow() -> Self {
        Self {
            pool: "_overflow".to_owned(),
            set_id: "_overflow".to_owned(),
        }
    }
}

/// `wavelb_dns_answers_total`: one series per weighted set that a served snapshot holds, for at
/// most [`MAX_ANSWER_SERIES`] sets, and one overflow series for the rest. A snapshot resolves
/// its sets' series once ([`AnswerCounters::series`]), in a stable order (zones in order, then
/// names and set identifiers: the store's order), so the first sets in that order keep their
/// own series; when a snapshot is built without a set, [`AnswerCounters::retain`] removes that
/// set's series and frees its place, so the series of deleted set identifiers do not stay in the
/// exposition forever. The overflow series, once created, stays. Cloning shares the series.
#[derive(Debug, Clone)]
pub struct AnswerCounters {
    family: Family<AnswerLabels, Counter>,
    /// Every label set that has a series of its own in `family` (the family cannot be listed).
    live: Arc<Mutex<HashSet<AnswerLabels>>>,
    /// How many sets may have a series of their own.
    cap: usize,
}

impl Default for AnswerCounters {
    fn default() -> Self {
        Self::with_cap(MAX_ANSWER_SERIES)
    }
}

impl AnswerCounters {
    /// Counters giving at most `cap` sets a series of their own (tests use a small one).
    pub fn with_cap(cap: usize) -> Self {
        Self {
            family: Family::default(),
            live: Arc::default(),
            cap,
        }
    }

    /// The series of `labels`, created at 0 when it does not exist; the overflow series when
    /// [`MAX_ANSWER_SERIES`] other sets have one already.
    pub fn series(&self, labels: &AnswerLabels) -> Counter {
        let mut live = self.live_sets();
        if live.contains(labels) || live.len() < self.cap {
            live.insert(labels.clone());
            return self.family.get_or_create(labels).clone();
        }
        self.family.get_or_create(&AnswerLabels::overflow()).clone()
    }

    /// Removes every series whose labels are not in `keep` (never the overflow series). Answers
    /// still counted on a removed series (by the snapshot being replaced) are lost with it; the
    /// set is gone anyway.
    pub fn retain(&self, keep: &HashSet<AnswerLabels>) {
        let mut live = self.live_sets();
        live.retain(|labels| {
            let kept = keep.contains(labels);
            if !kept {
                self.family.remove(labels);
            }
            kept
        });
    }

    /// Removes the series of `labels` (a set a snapshot no longer holds).
    pub fn forget(&self, labels: &AnswerLabels) {
        if self.live_sets().remove(labels) {
            self.family.remove(labels);
        }
    }

    /// The family, to register or read it.
    pub fn family(&self) -> &Family<AnswerLabels, Counter> {
        &self.family
    }

    fn live_sets(&self) -> std::sync::MutexGuard<'_, HashSet<AnswerLabels>> {
        // The set is only inserted into and filtered, so a panic elsewhere cannot leave it
        // half-changed: a poisoned lock is still consistent.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

registry::label_values! {
    /// A TCP listener with connection caps (`listener` of the connection series; logs name it
    /// too).
    pub enum Listener {
        /// DNS over TCP.
        DnsTcp => "dns-tcp",
        /// The emulator's Route 53 API.
        Api => "api",
    }
}

registry::label_values! {
    /// Why a query got no answer (`wavelb_dns_dropped_total`).
    pub enum DropReason {
        /// A datagram or TCP message with no DNS header, or a response.
        NotAQuery => "not_a_query",
        /// The kernel refused to send a UDP answer.
        SendFailed => "send_failed",
    }
}

/// Labels of `wavelb_connections_refused_total` and `wavelb_connections_ended_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// The listener.
    pub listener: Listener,
    /// Which cap refused it, or how it ended.
    pub reason: &'static str,
}

/// Labels of `wavelb_dns_dropped_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DropLabels {
    /// Why no answer went out.
    pub reason: DropReason,
}

/// Series of `wavelb_dns_dropped_total`, one per reason, created at 0 so that a rate over them
/// exists before the first drop.
#[derive(Debug, Clone)]
pub struct DroppedSeries {
    /// `{reason="not_a_query"}`: a datagram or TCP message with no DNS header, or a response.
    pub not_a_query: Counter,
    /// `{reason="send_failed"}`: the kernel refused to send a UDP answer.
    pub send_failed: Counter,
}

impl DroppedSeries {
    fn of(family: &Family<DropLabels, Counter>) -> Self {
        let series = |reason| family.get_or_create(&DropLabels { reason }).clone();
        Self {
            not_a_query: series(DropReason::NotAQuery),
            send_failed: series(DropReason::SendFailed),
        }
    }
}

/// The DNS server's metrics. Cloning shares the series.
#[derive(Debug, Clone)]
pub struct DnsMetrics {
    /// DNS queries by type and rcode.
    pub queries: Family<QueryLabels, Counter>,
    /// The series of `queries` for A and AAAA answered NOERROR, resolved once for the fast path.
    pub noerror: NoErrorSeries,
    /// Weighted answers by pool and set id.
    pub answers: AnswerCounters,
    /// Queries given no answer, by reason.
    pub dropped: Family<DropLabels, Counter>,
    /// The series of `dropped`, resolved once.
    pub dropped_series: DroppedSeries,
    /// Time to answer a query.
    pub query_duration: Histogram,
    /// Connections closed at once because a cap was reached, by listener and cap.
    pub connections_refused: Family<ConnectionLabels, Counter>,
    /// Admitted connections that ended, by listener and how.
    pub connections_ended: Family<ConnectionLabels, Counter>,
}

/// Series of `wavelb_dns_queries_total` the fast path increments without hashing labels.
#[derive(Debug, Clone)]
pub struct NoErrorSeries {
    /// `{qtype="A", rcode="NOERROR"}`.
    pub a: Counter,
    /// `{qtype="AAAA", rcode="NOERROR"}`.
    pub aaaa: Counter,
}

impl NoErrorSeries {
    fn of(queries: &Family<QueryLabels, Counter>) -> Self {
        let series = |qtype: &'static str| {
            queries
                .get_or_create(&QueryLabels {
                    qtype: qtype.into(),
                    rcode: "NOERROR".into(),
                })
                .clone()
        };
        Self {
            a: series("A"),
            aaaa: series("AAAA"),
        }
    }
}

impl Default for DnsMetrics {
    fn default() -> Self {
        let queries = Family::default();
        let dropped = Family::default();
        Self {
            noerror: NoErrorSeries::of(&queries),
            queries,
            dropped_series: DroppedSeries::of(&dropped),
            dropped,
            answers: AnswerCounters::default(),
            query_duration: Histogram::new(exponential_buckets(0.000_005, 2.0, 16)),
            connections_refused: Family::default(),
            connections_ended: Family::default(),
        }
    }
}

impl DnsMetrics {
    /// Observes `count` queries answered in `took` each (a UDP batch is received and answered
    /// together, so its queries share one time: from receipt until the answers were sent).
    pub fn answered_in(&self, count: usize, took: std::time::Duration) {
        let seconds = took.as_secs_f64();
        for _ in 0..count {
            self.query_duration.observe(seconds);
        }
    }

    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "wavelb_dns_queries",
            "DNS queries answered, by question type and response code",
            m.queries.clone(),
        );
        registry.register(
            "wavelb_dns_answers",
            "Weighted answers served, by pool and set identifier (past 2000 sets, the others \
             in the series of pool _overflow)",
            m.answers.family().clone(),
        );
        registry.register(
            "wavelb_dns_dropped",
            "DNS queries that got no answer, by reason (not_a_query: no DNS header, or a \
             response; send_failed: the kernel refused the UDP answer)",
            m.dropped.clone(),
        );
        registry.register_with_unit(
            "wavelb_dns_query_duration",
            "Time to answer one DNS query, from receipt until the answer was sent",
            Unit::Seconds,
            m.query_duration.clone(),
        );
        registry.register(
            "wavelb_connections_refused",
            "DNS-over-TCP and API connections closed at once because a connection cap was reached, \
             by listener and cap (total, per_source: per /24 or /56)",
            m.connections_refused.clone(),
        );
        registry.register(
            "wavelb_connections_ended",
            "DNS-over-TCP and API connections that ended, by listener and reason (client, idle, \
             read_timeout, write_timeout, query_cap, header_timeout, lifetime, evicted, error)",
            m.connections_ended.clone(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Snapshot;
    use crate::testing::LabZones;
    use registry::model::RrType;
    use registry::model::{Change, RecordSet};
    use registry::name::Fqdn;

    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    /// The `(pool, set_id, value)` of every `wavelb_dns_answers_total` sample in `text`.
    fn answers(text: &str) -> Vec<(String, String, u64)> {
        text.lines()
            .filter_map(|l| l.strip_prefix("wavelb_dns_answers_total{pool=\""))
            .map(|l| {
                let (pool, rest) = l.split_once("\",set_id=\"").unwrap();
                let (id, value) = rest.split_once("\"} ").unwrap();
                (pool.to_owned(), id.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn answer_series_are_capped_with_one_overflow_series() {
        let mut registry = Registry::default();
        let m = DnsMetrics::register(&mut registry);
        let labels = |i: usize| AnswerLabels {
            pool: format!("p{}.lab.test", i / 100),
            set_id: format!("s{i}"),
        };
        let n = MAX_ANSWER_SERIES + 500;
        for i in 0..n {
            m.answers.series(&labels(i)).inc();
        }
        let text = exposition(&registry);
        let found = answers(&text);
        assert_eq!(
            found.len(),
            MAX_ANSWER_SERIES + 1,
            "the cap and one overflow"
        );
        let overflow = found.iter().find(|(pool, ..)| pool == "_overflow").unwrap();
        assert_eq!(overflow.2, 500, "the sets past the cap count into it");
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert!(samples <= 10_000, "{samples} series in one scrape");
        // Deleting sets frees their places for others; the overflow series stays.
        let keep: HashSet<AnswerLabels> = (0..1000).map(labels).collect();
        m.answers.retain(&keep);
        m.answers.series(&labels(n)).inc();
        let found = answers(&exposition(&registry));
        assert_eq!(found.len(), 1000 + 1 + 1);
        assert!(
            found
                .iter()
                .any(|(_, id, v)| *id == format!("s{n}") && *v == 1)
        );
    }

    /// A store with weighted sets `ids` at `www.lab.test`.
    fn store(ids: &[&str]) -> LabZones {
        let mut s = LabZones::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let changes: Vec<Change> = ids
            .iter()
            .map(|id| {
                Change::create(RecordSet {
                    name: Fqdn::parse("www.lab.test").unwrap(),
                    rtype: RrType::A,
                    set_identifier: Some((*id).into()),
                    weight: Some(1),
                    ttl: Some(30),
                    values: vec!["192.0.2.1".into()],
                    alias: None,
                    geo: None,
                    cidr: None,
                    multivalue: false,
                    opaque: None,
                    health_check_id: None,
                })
            })
            .collect();
        s.change(&zone.id, &changes, None, 1).unwrap();
        s
    }

    #[test]
    fn the_capped_series_go_to_the_first_sets_in_the_stores_order() {
        let counters = AnswerCounters::with_cap(2);
        let mut registry = Registry::default();
        registry.register("wavelb_dns_answers", "", counters.family().clone());
        let ids = |text: &str| -> Vec<String> {
            let mut ids: Vec<String> = answers(text).into_iter().map(|(_, id, _)| id).collect();
            ids.sort();
            ids
        };
        Snapshot::of_zones(&store(&["c", "a", "b"]), &counters);
        assert_eq!(ids(&exposition(&registry)), ["_overflow", "a", "b"]);
        // "a" deleted, "d" created in the same change: its place goes to the next in order.
        Snapshot::of_zones(&store(&["b", "c", "d"]), &counters);
        assert_eq!(ids(&exposition(&registry)), ["_overflow", "b", "c"]);
    }
}
