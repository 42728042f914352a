//! What the agent and the health controller saw of a pool (foreign records, a TTL mismatch),
//! registered in the Prometheus registry the binary owns.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Declares an enum of metric label values, each written exactly as its text (dashboards and
/// alert rules name them), with `ALL` (every value, in declaration order, for families whose
/// every series is created at 0), `as_str`, `Display` and `EncodeLabelValue`. The calling crate
/// depends on `prometheus_client`.
#[macro_export]
macro_rules! label_values {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant,)+];

            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::prometheus_client::encoding::EncodeLabelValue for $name {
            fn encode(
                &self,
                encoder: &mut ::prometheus_client::encoding::LabelValueEncoder<'_>,
            ) -> ::std::fmt::Result {
                ::std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

/// Labels naming a pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PoolLabels {
    /// The pool name.
    pub pool: String,
}

/// What a process saw of its pool on the last read.
#[derive(Debug, Clone, Default)]
pub struct PoolMetrics {
    /// Foreign record sets (set identifiers) at the pool's names.
    pub foreign: Family<PoolLabels, Gauge>,
    /// 1 while the pool's TTL in Route 53 differs from the configured `pool.ttl`.
    pub ttl_mismatch: Family<PoolLabels, Gauge>,
}

impl PoolMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "wavelb_pool_foreign_records",
            "Record sets at the pool's names that this owner must not change",
            m.foreign.clone(),
        );
        registry.register(
            "wavelb_pool_ttl_mismatch",
            "1 while the TTL of the pool's weighted records in Route 53 differs from this \
             process's pool.ttl (writes keep the existing TTL)",
            m.ttl_mismatch.clone(),
        );
        m
    }

    /// Records what `view` holds, and warns when the pool's TTL starts (or stops) disagreeing
    /// with the configured one.
    pub fn observe(&self, pool: &crate::model::PoolSpec, view: &crate::pool::PoolView) {
        let labels = PoolLabels {
            pool: pool.name.without_dot().to_owned(),
        };
        let count = i64::try_from(view.foreign.len()).unwrap_or(i64::MAX);
        self.foreign.get_or_create(&labels).set(count);
        let mismatch = view.ttl_mismatch(pool);
        let was = self
            .ttl_mismatch
            .get_or_create(&labels)
            .set(i64::from(mismatch.is_some()));
        match mismatch {
            Some(existing) if was == 0 => tracing::warn!(
                pool = %labels.pool,
                configured = pool.ttl,
                existing,
                "the pool's records in Route 53 have TTL {existing}, not the configured {}: \
                 writes keep {existing} so the group does not flap; set the same pool.ttl in \
                 every agent and controller of the pool, or change it on purpose with \
                 `wavelb records set-ttl`",
                pool.ttl
            ),
            None if was == 1 => tracing::info!(
                pool = %labels.pool,
                ttl = pool.ttl,
                "the pool's TTL agrees with the configuration again"
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PoolSpec, RecordType, Target};
    use crate::name::Fqdn;
    use crate::testing::sid;

    #[test]
    fn foreign_records_and_a_ttl_mismatch_are_reported() {
        let mut registry = Registry::default();
        let m = PoolMetrics::register(&mut registry);
        let pool = PoolSpec {
            name: Fqdn::parse("edge.example.com").unwrap(),
            record_type: RecordType::A,
            ttl: 30,
            owner_id: "me".into(),
            ownership_key: None,
        };
        let bare = Target::active(sid("x"), vec!["192.0.2.1".parse().unwrap()], 1, 1);
        m.observe(
            &pool,
            &crate::pool::classify(&pool, &[bare.address_record(&pool)]),
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("wavelb_pool_foreign_records{pool=\"edge.example.com\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("wavelb_pool_ttl_mismatch{pool=\"edge.example.com\"} 0"),
            "{text}"
        );
        let other = PoolSpec {
            ttl: 60,
            ..pool.clone()
        };
        m.observe(
            &pool,
            &crate::pool::classify(&pool, &bare.record_sets(&other)),
        );
        text.clear();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("wavelb_pool_ttl_mismatch{pool=\"edge.example.com\"} 1"),
            "{text}"
        );
    }
}
