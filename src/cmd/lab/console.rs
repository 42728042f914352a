//! The lab's console: what it reads (the pools through the API, the targets, the resolver's
//! answer counters) and what its commands do. Two faces show it, chosen by the lab (`show`): the
//! terminal UI (`tui`) on a terminal, and plain lines (`lines`) on a pipe or a file, with
//! `--plain`, or `--headless`.

use std::io::IsTerminal;
use std::sync::Arc;

use aws::writer::Writer;
use dns::metrics::AnswerLabels;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use registry::clock::unix_now;
use registry::model::RecordSet;
use registry::ops::{Operation, operator_plan};
use registry::pool::{PoolView, classify};
use registry::reconcile::{CONFLICT_ATTEMPTS, Decision, decide_with, reconcile};

use super::command::Command;
pub(super) use super::command::help;
use super::guard::{self, Note};
use super::set_id;
use super::table::{self, Facts, Row};
use super::targets::EchoTarget;
use super::zones::{self, LabZone};

/// How the console shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The terminal UI: stdin and stdout are a terminal, and neither `--plain` nor
    /// `--headless` was given.
    Tui,
    /// Plain lines; commands from stdin, whose end stops the lab.
    Lines,
    /// Plain lines; stdin is not read: the lab serves until a signal.
    Headless,
}

impl Mode {
    /// The mode for the flags and what stdin and stdout are.
    pub(super) fn choose(plain: bool, headless: bool, stdin_tty: bool, stdout_tty: bool) -> Self {
        match (headless, plain || !stdin_tty || !stdout_tty) {
            (true, _) => Self::Headless,
            (false, true) => Self::Lines,
            (false, false) => Self::Tui,
        }
    }

    /// The mode for the flags in this process.
    pub(super) fn detect(plain: bool, headless: bool) -> Self {
        Self::choose(
            plain,
            headless,
            std::io::stdin().is_terminal(),
            std::io::stdout().is_terminal(),
        )
    }
}

/// What the console drives.
pub(super) struct Console {
    /// The registry writer (same as the agent's), for commands.
    pub writer: Writer,
    /// The in-process resolver's state, which the table is read from: looking costs the API
    /// nothing, so the lab's request budget is its controllers' alone (as in production,
    /// where no console reads Route 53 every two seconds).
    pub resolver: Arc<route53_emulator::shared::Shared>,
    /// The lab's zones and their pools (one for the default lab).
    pub zones: Vec<LabZone>,
    /// The zone (index into `zones`) of each target.
    pub zone_of: Vec<usize>,
    /// The demo targets, 1-based in commands.
    pub targets: Vec<EchoTarget>,
    /// Weighted answers served, from the resolver's metrics.
    pub answers: Family<AnswerLabels, Counter>,
    /// The health controllers' `max_quarantined_fraction`; `None` without health controllers.
    pub guard: Option<f64>,
    /// One line on where the lab listens (the terminal UI's title).
    pub title: String,
}

/// What one look at the lab found.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Observed {
    /// The targets table.
    pub rows: Vec<Row>,
    /// The zone tier's line (a multi-zone lab), escaped.
    pub tier: Option<String>,
    /// Pools whose dead targets stay in the answers, and why.
    pub notes: Vec<Note>,
}

impl Console {
    /// True with several zones.
    pub(super) fn multi(&self) -> bool {
        self.zones.len() > 1
    }

    /// Parses and runs one typed line: `None` to quit, else the outcome (`Ok`) or the error
    /// (`Err`) to show, unescaped (callers escape: messages may quote the typed line and the
    /// resolver's answers).
    pub(super) async fn line(&mut self, line: &str) -> Option<anyhow::Result<String>> {
        let command = match super::command::parse(line, self.targets.len(), self.zones.len()) {
            Ok(Some(c)) => c,
            Ok(None) => return Some(Ok(String::new())),
            Err(e) => return Some(Err(e.into())),
        };
        Some(match command {
            Command::Quit => return None,
            Command::Help => Ok(format!("commands: {}", help(self.multi()))),
            Command::KillZone(k) => self.zone(k, true).await,
            Command::ReviveZone(k) => self.zone(k, false).await,
            Command::Kill(n) => {
                self.targets[n - 1].kill();
                Ok(format!("target {n} killed (its socket is closed)"))
            }
            Command::Revive(n) => self.targets[n - 1]
                .revive()
                .await
                .map(|()| format!("target {n} revived"))
                .map_err(|e| anyhow::anyhow!("cannot revive target {n}: {e}")),
            Command::Change(n, op) => self.change(n, op).await,
        })
    }

    /// Kills or revives every target of zone `k` (1-based).
    async fn zone(&mut self, k: usize, kill: bool) -> anyhow::Result<String> {
        for (t, zone) in self.targets.iter_mut().zip(&self.zone_of) {
            if *zone + 1 != k {
                continue;
            }
            if kill {
                t.kill();
            } else {
                t.revive()
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot revive {}: {e}", t.addr))?;
            }
        }
        let z = &self.zones[k - 1];
        Ok(format!(
            "zone {k} ({}, {}): every target {}",
            z.id,
            z.city,
            if kill { "killed" } else { "revived" }
        ))
    }

    async fn change(&self, n: usize, op: Operation) -> anyhow::Result<String> {
        let id = set_id(n);
        let pool = &self.zones[self.zone_of[n - 1]].pool;
        let mut decider = decide_with(|view: &PoolView, _: &[RecordSet]| {
            let plan = operator_plan(pool, view, &id, op, unix_now(), false)?;
            Ok::<_, registry::ops::OpError>(Decision { plan, outcome: () })
        });
        reconcile(&self.writer, pool, CONFLICT_ATTEMPTS, &mut decider).await?;
        Ok(format!("{id}: done"))
    }

    /// Each target's answers served so far, in target order.
    pub(super) fn answer_counts(&self) -> Vec<u64> {
        (1..)
            .zip(&self.zone_of)
            .map(|(n, k)| {
                self.answers
                    .get(&AnswerLabels {
                        pool: self.zones[*k].pool.name.without_dot().to_owned(),
                        set_id: set_id(n).to_string(),
                    })
                    .map_or(0, |c| c.get())
            })
            .collect()
    }

    /// Reads every pool (and the tier) and puts the table together. `Err`: why a pool could
    /// not be read, unescaped.
    pub(super) async fn observe(&self) -> anyhow::Result<Observed> {
        let sets = self.sets().await?;
        let views: Vec<_> = self
            .zones
            .iter()
            .map(|z| classify(&z.pool, &sets))
            .collect();
        let counts = self.answer_counts();
        let facts: Vec<Facts> = (1..)
            .zip(&self.targets)
            .zip(self.zone_of.iter().zip(counts))
            .map(|((n, t), (zone, answers))| Facts {
                id: set_id(n),
                addr: t.addr,
                zone: *zone,
                up: t.alive(),
                answers,
            })
            .collect();
        let up = |id: &str| facts.iter().find(|f| f.id == id).map(|f| f.up);
        let notes = self
            .zones
            .iter()
            .zip(&views)
            .filter_map(|(z, v)| guard::note(z.pool.name.without_dot(), v, &up, self.guard))
            .collect();
        let tier = if self.multi() {
            Some(registry::escape::escape(&self.tier_line(&sets)).into_owned())
        } else {
            None
        };
        Ok(Observed {
            rows: table::rows(&facts, &views),
            tier,
            notes,
        })
    }

    /// Every record set of the lab's hosted zone, read from the resolver's state.
    async fn sets(&self) -> anyhow::Result<Vec<RecordSet>> {
        let store = self.resolver.store.lock().await;
        let zone = store
            .zone(self.writer.zone_id())
            .map_err(|e| anyhow::anyhow!("cannot read the hosted zone: {e}"))?;
        Ok(zone.records.sets().cloned().collect())
    }

    /// One line on the zone tier: each zone in or out, and why.
    fn tier_line(&self, sets: &[RecordSet]) -> String {
        let spec = zones::tier(&self.zones, self.writer.zone_id());
        let view = registry::tier::classify(&spec, sets);
        let parts: Vec<String> = (1..)
            .zip(&self.zones)
            .map(|(k, z)| match view.owned.get(z.id) {
                Some(e) if e.record_set.is_some() => format!("{k} in"),
                Some(e) => format!("{k} out ({})", e.standing.why_text()),
                None => format!("{k} not written yet"),
            })
            .collect();
        format!(
            "tier {}: zone {}",
            spec.name.without_dot(),
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_only_on_a_terminal_and_never_when_asked_not_to() {
        assert_eq!(Mode::choose(false, false, true, true), Mode::Tui);
        assert_eq!(Mode::choose(true, false, true, true), Mode::Lines);
        assert_eq!(Mode::choose(false, false, true, false), Mode::Lines);
        assert_eq!(Mode::choose(false, false, false, true), Mode::Lines);
        assert_eq!(Mode::choose(false, true, true, true), Mode::Headless);
        assert_eq!(Mode::choose(true, true, false, false), Mode::Headless);
    }
}
