//! What a fleet spends of Route 53's request budget in steady state: a pure model of requests
//! per second for P pools of T targets (one agent each), a zone tier over Z zones, and C health
//! controllers watching them, at their intervals. `wavelb health --check-config` prints it and
//! warns above a share of the account's [`ACCOUNT_REQUESTS_PER_SECOND`]; docs/configuration.md's
//! budget table and the `budget` benchmark suite (which measures the lab resolver's API
//! requests beside it) come from the same function.
//!
//! What it counts, per the code that spends it:
//! - each controller lists the hosted zone once per `poll_interval`: the pools' record sets (two
//!   per target and each pool's health record), the tier's (two per zone) and the lease, in
//!   pages of [`PAGE_SIZE`] (one walk: the names are assumed adjacent in the zone's order, as
//!   they are under one parent name with nothing else between);
//! - the leader renews its one lease per hosted zone: in the first round at or after half of
//!   it, else alone with a quarter left ([`renewal_every`]); a write of target changes renews it
//!   in the same batch, and the pools' health records ride along;
//! - each agent lists its pool once per `reconcile_interval` (its steady state writes nothing).
//!
//! Not counted: verdict changes (one listing and one write per round however many targets
//! change together), registrations and drains, retries, and `wavelb records`. Route 53's limit
//! is per account: every other user of the account spends from the same 5 requests/s.

use std::time::Duration;

/// Route 53's API request rate per AWS account (the Route 53 quotas page, "Limits on API
/// requests": five requests per second per account).
pub const ACCOUNT_REQUESTS_PER_SECOND: f64 = 5.0;

/// Record sets per `ListResourceRecordSets` page: Route 53's largest `maxitems`, which the
/// writer asks for.
pub const PAGE_SIZE: usize = 300;

/// A fleet as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Pools (`[[pool]]` sections), all in one hosted zone.
    pub pools: usize,
    /// Targets per pool (one agent each).
    pub targets_per_pool: usize,
    /// Members of the zone tier (its fallback counted), or 0 without a tier.
    pub tier_members: usize,
    /// Health controller processes watching the pools (one leads, the others follow).
    pub controllers: usize,
    /// `[health] poll_interval`.
    pub poll_interval: Duration,
    /// `[health] lease_ttl`.
    pub lease_ttl: Duration,
    /// `[agent] reconcile_interval`; `None` when no agents run (the lab).
    pub agent_reconcile: Option<Duration>,
}

/// One line of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What spends it.
    pub what: String,
    /// Requests per second.
    pub per_second: f64,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Each kind of spender.
    pub lines: Vec<Line>,
    /// Record sets one controller lists per round.
    pub listed_sets: usize,
    /// Pages of one round's listing.
    pub pages: usize,
    /// Seconds between lease renewals.
    pub renewal_every: f64,
}

impl Budget {
    /// Requests per second in all.
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.per_second).sum()
    }

    /// The health controllers' part.
    pub fn controllers(&self) -> f64 {
        self.lines
            .iter()
            .filter(|l| !l.what.starts_with("agents"))
            .map(|l| l.per_second)
            .sum()
    }

    /// A warning when the total exceeds `share` of the account's budget.
    pub fn warning(&self, share: f64, fleet: &Fleet) -> Option<String> {
        let allowed = share * ACCOUNT_REQUESTS_PER_SECOND;
        let total = self.total();
        if total <= allowed {
            return None;
        }
        let mut text = format!(
            "this fleet would spend {total:.2} Route 53 requests/s in steady state, more than \
             {:.0} % of the account's {ACCOUNT_REQUESTS_PER_SECOND}/s ({allowed:.2}/s; \
             [route53] budget_share)",
            share * 100.0
        );
        // The controllers' listings scale with 1 / poll_interval: what would fit.
        let listing = fleet.controllers as f64 * self.pages as f64;
        let others = total - listing / fleet.poll_interval.as_secs_f64().max(0.1);
        if others < allowed {
            let poll = (listing / (allowed - others)).ceil();
            text.push_str(&format!(
                "; poll_interval = \"{poll}s\" (with lease_ttl at least twice that) would fit"
            ));
        } else {
            text.push_str("; the agents alone exceed it: raise [agent] reconcile_interval");
        }
        Some(text)
    }
}

/// Pages of a listing of `sets` record sets (at least one request).
pub fn pages(sets: usize) -> usize {
    sets.div_ceil(PAGE_SIZE).max(1)
}

/// Seconds between lease renewals for `poll` and `ttl` (whole seconds, as the lease is
/// written): the first round at or after half the lease renews it (a round renews once fewer
/// than `ttl / 2 + 1` seconds are left), unless the safety net, a quarter before expiry, comes
/// first.
pub fn renewal_every(poll: Duration, ttl: Duration) -> f64 {
    let ttl = ttl.as_secs().max(1) as f64;
    let poll = poll.as_secs_f64().max(0.1);
    let half = ttl - (ttl / 2.0).floor();
    let by_round = (half / poll).ceil() * poll;
    by_round.min(ttl - (ttl / 4.0).floor())
}

/// The model.
pub fn model(f: &Fleet) -> Budget {
    let per_pool = 2 * f.targets_per_pool + 1;
    let tier = if f.tier_members > 0 {
        2 * f.tier_members
    } else {
        0
    };
    let listed_sets = f.pools * per_pool + tier + 1;
    let pages = pages(listed_sets);
    let poll = f.poll_interval.as_secs_f64().max(0.1);
    let renewal_every = renewal_every(f.poll_interval, f.lease_ttl);
    let mut lines = vec![
        Line {
            what: format!(
                "health listings: {} controller{} × {pages} page{} ({listed_sets} record sets) per {poll} s",
                f.controllers,
                if f.controllers == 1 { "" } else { "s" },
                if pages == 1 { "" } else { "s" },
            ),
            per_second: f.controllers as f64 * pages as f64 / poll,
        },
        Line {
            what: format!("lease renewals: the leader, every {renewal_every} s"),
            per_second: if f.controllers > 0 {
                1.0 / renewal_every
            } else {
                0.0
            },
        },
    ];
    if let Some(every) = f.agent_reconcile {
        let agents = f.pools * f.targets_per_pool;
        let pool_pages = self::pages(2 * f.targets_per_pool + 2);
        lines.push(Line {
            what: format!(
                "agents: {agents} × {pool_pages} page{} per {} s",
                if pool_pages == 1 { "" } else { "s" },
                every.as_secs_f64()
            ),
            per_second: (agents * pool_pages) as f64 / every.as_secs_f64().max(1.0),
        });
    }
    Budget {
        lines,
        listed_sets,
        pages,
        renewal_every,
    }
}

/// The fleets of docs/configuration.md's budget table.
pub fn examples() -> Vec<(&'static str, Fleet)> {
    let s = Duration::from_secs;
    let fleet = |pools, targets, tier, controllers, poll, ttl, agents: Option<u64>| Fleet {
        pools,
        targets_per_pool: targets,
        tier_members: tier,
        controllers,
        poll_interval: s(poll),
        lease_ttl: s(ttl),
        agent_reconcile: agents.map(s),
    };
    vec![
        (
            "`wavelb lab --zones 8` (8 pools of 2, a tier of 8; 1 controller, its 5 s rounds and 15 s lease)",
            fleet(8, 2, 8, 1, 5, 15, None),
        ),
        (
            "1 pool of 100, 2 controllers, the defaults",
            fleet(1, 100, 0, 2, 5, 15, Some(300)),
        ),
        (
            "8 zones of 50 with a tier, 2 controllers, the defaults",
            fleet(8, 50, 8, 2, 5, 15, Some(300)),
        ),
        (
            "13 zones of 100 with a tier, 2 controllers, the defaults",
            fleet(13, 100, 13, 2, 5, 15, Some(300)),
        ),
        (
            "13 zones of 100 with a tier, 2 controllers, `poll_interval = \"15s\"`, `lease_ttl = \"30s\"`",
            fleet(13, 100, 13, 2, 15, 30, Some(300)),
        ),
        (
            "the same, agents at `reconcile_interval = \"1200s\"`",
            fleet(13, 100, 13, 2, 15, 30, Some(1200)),
        ),
    ]
}

/// docs/configuration.md's budget table: [`examples`] through [`model`].
pub fn table() -> String {
    let mut out = String::from(
        "| fleet | record sets listed per round | controllers req/s | agents req/s | total req/s | of 5/s |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for (what, fleet) in examples() {
        let b = model(&fleet);
        let agents = b.total() - b.controllers();
        out.push_str(&format!(
            "| {what} | {} ({} page{}) | {:.2} | {:.2} | {:.2} | {:.0} % |\n",
            b.listed_sets,
            b.pages,
            if b.pages == 1 { "" } else { "s" },
            b.controllers(),
            agents,
            b.total(),
            100.0 * b.total() / ACCOUNT_REQUESTS_PER_SECOND
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(pools: usize, targets: usize, controllers: usize, poll: u64, ttl: u64) -> Fleet {
        Fleet {
            pools,
            targets_per_pool: targets,
            tier_members: pools,
            controllers,
            poll_interval: Duration::from_secs(poll),
            lease_ttl: Duration::from_secs(ttl),
            agent_reconcile: None,
        }
    }

    #[test]
    fn renewals_come_with_the_first_round_past_half_the_lease() {
        let s = Duration::from_secs;
        assert_eq!(renewal_every(s(5), s(15)), 10.0);
        assert_eq!(renewal_every(s(15), s(30)), 15.0);
        assert_eq!(renewal_every(s(1), s(15)), 8.0);
        // The first round past half comes late: the safety net a quarter before expiry.
        assert_eq!(renewal_every(s(10), s(21)), 16.0);
    }

    #[test]
    fn the_issues_goals_hold_in_the_model() {
        // wavelb lab --zones 8 (its 1 s probes: 5 s rounds, 15 s lease), one controller.
        let lab = model(&fleet(8, 2, 1, 5, 15));
        assert_eq!((lab.listed_sets, lab.pages), (8 * 5 + 16 + 1, 1));
        assert!((lab.total() - 0.3).abs() < 1e-9, "{lab:?}");
        // 13 zones of 100 targets, two controllers, 15 s rounds and a 30 s lease.
        let big = model(&fleet(13, 100, 2, 15, 30));
        assert_eq!(big.pages, 9);
        assert!(big.total() <= 1.5, "{}", big.total());
        // At the default 5 s rounds it would not fit, and the warning says what would.
        let default = fleet(13, 100, 2, 5, 15);
        let warn = model(&default).warning(0.3, &default).unwrap();
        assert!(warn.contains("poll_interval = \"13s\""), "{warn}");
    }

    #[test]
    fn agents_are_counted_with_their_pools_pages() {
        let mut f = fleet(13, 100, 2, 15, 30);
        f.agent_reconcile = Some(Duration::from_secs(300));
        let b = model(&f);
        let agents = b.lines.last().unwrap();
        assert!((agents.per_second - 1300.0 / 300.0).abs() < 1e-9);
        assert!((b.controllers() - model(&fleet(13, 100, 2, 15, 30)).total()).abs() < 1e-9);
        let w = b.warning(0.5, &f).unwrap();
        assert!(w.contains("the agents alone exceed it"), "{w}");
    }

    /// docs/configuration.md's table is the model's: regenerate it with
    /// `cargo test -p registry --lib budget -- --nocapture` and paste what this prints.
    #[test]
    fn the_docs_budget_table_is_the_models() {
        let docs = include_str!("../../docs/configuration.md");
        let table = table();
        println!("{table}");
        assert!(
            docs.contains(&table),
            "docs/configuration.md's budget table is out of date; it should read:\n{table}"
        );
    }
}
