//! The state every DNS listener shares: the snapshot queries are answered from (swapped whole
//! after every change), the DNS metrics and where clients are; and the read path of a query
//! (`Shared::answer_query`). It holds nothing of where the zones are kept or how they are
//! changed: their owner publishes each change ([`Shared::publish`], [`Shared::publish_changed`]).
//! The listeners (`udp`, [`crate::tcp`]) depend on this module; [`crate::listen`] starts them on
//! it.

use std::borrow::Cow;
use std::sync::Arc;

use arc_swap::ArcSwap;
use vocab::rcode::rcode_name;

use crate::answer::{self, Replied};
use crate::geotable::GeoTable;
use crate::metrics::{DnsMetrics, QueryLabels};
use crate::snapshot::{Changed, Snapshot, Zones};
use crate::transport::Transport;

/// State shared by the DNS listeners.
pub struct Shared {
    /// What DNS queries are answered from; swapped atomically after every change.
    pub snapshot: ArcSwap<Snapshot>,
    /// The DNS metrics, registered once at start.
    pub metrics: DnsMetrics,
    /// Where clients are (`--geo-table`), for geoproximity answers; every snapshot uses it.
    pub geo_table: Arc<GeoTable>,
}

impl Shared {
    /// State serving an empty snapshot until the first [`Shared::publish`].
    pub fn new(metrics: DnsMetrics, geo_table: Arc<GeoTable>) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            metrics,
            geo_table,
        }
    }

    /// Rebuilds the whole DNS snapshot from `zones` and swaps it in (at start, and when health
    /// statuses change).
    pub fn publish(&self, zones: &impl Zones) {
        let snapshot =
            Snapshot::of_zones(zones, &self.metrics.answers).with_geo_table(self.geo_table.clone());
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Swaps in a snapshot of `zones` that differs from the current one by what `changed`
    /// names: only those names are rebuilt ([`Snapshot::updated`]).
    pub fn publish_changed(&self, zones: &impl Zones, changed: &Changed) {
        let current = self.snapshot.load_full();
        let snapshot = current.updated(zones, changed, &self.metrics.answers);
        self.snapshot.store(Arc::new(snapshot));
    }

    /// Answers `packet`, from `source`, from `snapshot` into `out` ([`answer::reply`]: the fast
    /// path for the common query, the general path otherwise) and counts it. False when the packet must be
    /// ignored (no header, or itself a response). The caller observes the time to answer, once
    /// the answer is sent ([`DnsMetrics::answered_in`]).
    pub(crate) fn answer_query(
        &self,
        snapshot: &Snapshot,
        packet: &[u8],
        transport: Transport,
        source: std::net::IpAddr,
        random: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let metrics = &self.metrics;
        match answer::reply(snapshot, packet, transport, source, random, out) {
            None => {
                metrics.dropped_series.not_a_query.inc();
                return false;
            }
            Some(Replied::Fast(hit)) => {
                match hit.qtype {
                    1 => metrics.noerror.a.inc(),
                    _ => metrics.noerror.aaaa.inc(),
                };
                hit.set.served.inc();
            }
            Some(Replied::General {
                rcode,
                qtype,
                picked,
            }) => {
                metrics
                    .queries
                    .get_or_create(&QueryLabels {
                        qtype: qtype.map_or(Cow::Borrowed("none"), |t| Cow::Borrowed(t.into())),
                        rcode: rcode_name(u16::from(rcode)),
                    })
                    .inc();
                if let Some(set) = picked {
                    set.served.inc();
                }
            }
        }
        true
    }
}
