//! The targets table in pure code: its rows from the pools as listed and what the lab knows of
//! its targets, the plain text of a row, and each target's share of the recent answers.

use std::collections::VecDeque;
use std::net::SocketAddr;

use registry::model::SetId;
use registry::pool::PoolView;

/// What the lab itself knows of target N (index N-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facts {
    /// Its set identifier.
    pub id: SetId,
    /// Where its echo server listens.
    pub addr: SocketAddr,
    /// Its zone (index into the views).
    pub zone: usize,
    /// True while its echo server runs.
    pub up: bool,
    /// Weighted answers the resolver has served for it so far.
    pub answers: u64,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    /// The target's number in commands (1-based).
    pub n: usize,
    /// Its zone (1-based) in a multi-zone lab.
    pub zone: Option<usize>,
    /// Its set identifier.
    pub id: SetId,
    /// Its echo server's address.
    pub addr: SocketAddr,
    /// The published weight, the wanted weight and the state; `None` when its records are missing.
    pub record: Option<(u8, u8, String)>,
    /// True while its echo server runs.
    pub up: bool,
    /// Weighted answers served so far.
    pub answers: u64,
}

/// The rows: one per target, read from its zone's pool view (`views[facts.zone]`).
pub(super) fn rows(facts: &[Facts], views: &[PoolView]) -> Vec<Row> {
    let multi = views.len() > 1;
    (1..)
        .zip(facts)
        .map(|(n, f)| Row {
            n,
            zone: multi.then_some(f.zone + 1),
            id: f.id.clone(),
            addr: f.addr,
            record: views.get(f.zone).and_then(|v| v.owned.get(&f.id)).map(|o| {
                (
                    o.target.weight,
                    o.target.wanted_weight,
                    o.target.state.to_string(),
                )
            }),
            up: f.up,
            answers: f.answers,
        })
        .collect()
}

/// The header of the plain table (`multi`: with the ZONE column).
pub(super) fn plain_header(multi: bool) -> String {
    format!(
        "{:<3} {}{:<8} {:<18} {:>6} {:>6}  {:<12} {:<6} {:>8}",
        "#",
        if multi { "ZONE " } else { "" },
        "SET ID",
        "ADDRESS",
        "WEIGHT",
        "WANTED",
        "STATE",
        "PROC",
        "ANSWERS"
    )
}

/// A row of the plain table without its answer count (what changes the table's shape).
pub(super) fn plain_row(row: &Row) -> String {
    let zone = row.zone.map_or(String::new(), |k| format!("{k:<5}"));
    let (weight, wanted, state) = row
        .record
        .as_ref()
        .map_or(("-".to_owned(), "-".to_owned(), "missing"), |(w, ww, s)| {
            (w.to_string(), ww.to_string(), s.as_str())
        });
    format!(
        "{:<3} {zone}{:<8} {:<18} {:>6} {:>6}  {:<12} {:<6}",
        row.n,
        row.id,
        row.addr.to_string(),
        weight,
        wanted,
        state,
        if row.up { "up" } else { "down" },
    )
}

/// The answer counts of the last few refreshes, for each target's share of the recent answers
/// (the counters only grow: a share is the growth over the window).
#[derive(Debug, Clone)]
pub(super) struct AnswerWindow {
    samples: VecDeque<Vec<u64>>,
    keep: usize,
}

impl AnswerWindow {
    /// A window over the last `refreshes` refreshes (at least 1).
    pub(super) fn new(refreshes: usize) -> Self {
        Self {
            samples: VecDeque::new(),
            keep: refreshes.max(1) + 1,
        }
    }

    /// Adds one refresh's counts (one per target, in target order).
    pub(super) fn push(&mut self, counts: Vec<u64>) {
        if self.samples.back().is_some_and(|s| s.len() != counts.len()) {
            self.samples.clear();
        }
        self.samples.push_back(counts);
        while self.samples.len() > self.keep {
            self.samples.pop_front();
        }
    }

    /// Answers per target served within the window.
    pub(super) fn recent(&self) -> Vec<u64> {
        match (self.samples.front(), self.samples.back()) {
            (Some(first), Some(last)) => last
                .iter()
                .zip(first)
                .map(|(l, f)| l.saturating_sub(*f))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Each target's share (0-1) of the answers within the window; `None` when there were none.
    pub(super) fn shares(&self) -> Option<Vec<f64>> {
        let recent = self.recent();
        let total: u64 = recent.iter().sum();
        (total > 0).then(|| recent.iter().map(|r| *r as f64 / total as f64).collect())
    }
}

/// A horizontal bar of `width` cells for `share` (0-1), in eighths of a cell.
pub(super) fn bar(share: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    // The product is within 0..=8*width: the cast cannot truncate a meaningful value.
    let eighths = (share.clamp(0.0, 1.0) * (width * 8) as f64).round() as usize;
    let mut out = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        out.push(EIGHTHS[eighths % 8]);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use registry::model::{PoolSpec, RecordType, Target, TargetState};
    use registry::name::Fqdn;
    use registry::pool::classify;
    use registry::testing::sid;

    pub(crate) fn pool(name: &str) -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse(name).unwrap(),
            record_type: RecordType::A,
            ttl: 5,
            owner_id: "wavelb-lab".into(),
            ownership_key: None,
        }
    }

    /// The view of `pool` holding `targets`, as the resolver would list it.
    pub(crate) fn view(pool: &PoolSpec, targets: &[Target]) -> PoolView {
        let sets: Vec<_> = targets
            .iter()
            .flat_map(|t| [t.address_record(pool), t.ownership_record(pool)])
            .collect();
        classify(pool, &sets)
    }

    fn facts(n: usize, zone: usize, up: bool, answers: u64) -> Facts {
        Facts {
            id: sid(&format!("demo-{n}")),
            addr: format!("127.0.0.{}:4000", 10 + n).parse().unwrap(),
            zone,
            up,
            answers,
        }
    }

    #[test]
    fn rows_read_each_target_from_its_pool() {
        let p = pool("www.lab.test");
        let t1 = Target::active(sid("demo-1"), vec!["127.0.0.11".parse().unwrap()], 10, 1);
        let t2 = Target::active(sid("demo-2"), vec!["127.0.0.12".parse().unwrap()], 20, 1)
            .with_state(TargetState::Quarantined, 2);
        let v = view(&p, &[t1, t2]);
        let rows = rows(
            &[
                facts(1, 0, true, 7),
                facts(2, 0, false, 0),
                facts(3, 0, true, 0),
            ],
            &[v],
        );
        assert_eq!(rows[0].record, Some((10, 10, "active".into())));
        assert_eq!(rows[1].record, Some((0, 20, "quarantined".into())));
        assert_eq!(rows[2].record, None);
        assert_eq!(rows[0].zone, None);
        assert_eq!(
            plain_row(&rows[0]),
            "1   demo-1   127.0.0.11:4000        10     10  active       up    "
        );
        assert_eq!(
            plain_row(&rows[1]),
            "2   demo-2   127.0.0.12:4000         0     20  quarantined  down  "
        );
        assert!(plain_row(&rows[2]).contains("     -      -  missing "));
        assert!(plain_header(false).starts_with("#   SET ID   ADDRESS"));
        assert!(plain_header(true).starts_with("#   ZONE SET ID"));
    }

    #[test]
    fn a_multi_zone_row_names_its_zone() {
        let a = pool("edge.a.lab.test");
        let b = pool("edge.b.lab.test");
        let t = Target::active(sid("demo-2"), vec!["127.0.2.11".parse().unwrap()], 10, 1);
        let rows = rows(
            &[facts(1, 0, true, 0), facts(2, 1, true, 0)],
            &[view(&a, &[]), view(&b, &[t])],
        );
        assert_eq!(rows[1].zone, Some(2));
        assert_eq!(rows[1].record, Some((10, 10, "active".into())));
        assert!(plain_row(&rows[1]).starts_with("2   2    demo-2 "));
    }

    #[test]
    fn shares_are_the_growth_over_the_window() {
        let mut w = AnswerWindow::new(2);
        assert_eq!(w.shares(), None);
        w.push(vec![100, 100]);
        assert_eq!(w.shares(), None, "one sample: nothing grew yet");
        w.push(vec![110, 130]);
        assert_eq!(w.recent(), vec![10, 30]);
        assert_eq!(w.shares(), Some(vec![0.25, 0.75]));
        w.push(vec![110, 130]);
        assert_eq!(w.recent(), vec![10, 30], "two refreshes back");
        w.push(vec![110, 130]);
        assert_eq!(w.shares(), None, "nothing answered within the window");
        // A new set of targets starts over.
        w.push(vec![1, 2, 3]);
        assert_eq!(w.recent(), vec![0, 0, 0]);
    }

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(0.0, 10), "");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██");
        assert_eq!(bar(0.5 / 4.0, 4), "▌");
        assert_eq!(bar(0.25, 2), "▌");
        assert_eq!(bar(7.0, 3), "███", "clamped");
        assert_eq!(bar(f64::NAN, 3), "", "NaN clamps to nothing");
    }
}
