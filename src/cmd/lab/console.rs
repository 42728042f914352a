//! The lab's live table and stdin commands.

use std::io::IsTerminal;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use registry::model::RecordSet;
use registry::ops::{Operation, operator_plan};
use registry::pool::{PoolView, classify};
use registry::reconcile::{Decision, decide_with, reconcile};
use registry::writer::Writer;
use resolver::metrics::AnswerLabels;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::targets::EchoTarget;
use super::zones::{self, LabZone};
use super::{CONFLICT_ATTEMPTS, set_id};
use registry::clock::unix_now;
use registry::escape::Escaped;

/// What the console drives.
pub struct Console {
    /// The registry writer (same as the agent's).
    pub writer: Writer,
    /// The lab's zones and their pools (one for the default lab).
    pub zones: Vec<LabZone>,
    /// The zone (index into `zones`) of each target.
    pub zone_of: Vec<usize>,
    /// The last table printed without its answer counts (to print on change when not a TTY).
    pub last: String,
    /// The demo targets, 1-based in commands.
    pub targets: Vec<EchoTarget>,
    /// Weighted answers served, from the resolver's metrics.
    pub answers: Family<AnswerLabels, Counter>,
}

/// The console's commands; `zones`: the multi-zone lab's as well.
pub fn help(zones: bool) -> &'static str {
    if zones {
        "kill N | revive N | kill-zone K | revive-zone K | quarantine N | restore N | weight N W | help | quit"
    } else {
        "kill N | revive N | quarantine N | restore N | weight N W | help | quit"
    }
}

impl Console {
    /// Shows the table every `refresh` and executes commands until quit or a signal.
    pub async fn run(&mut self, refresh: Duration) {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut stdin_open = true;
        let mut tick = tokio::time::interval(refresh);
        // Created once, so a signal that arrives while a command runs is not lost.
        let shutdown = crate::systemd::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => self.table().await,
                line = lines.next_line(), if stdin_open => match line {
                    Ok(Some(line)) => {
                        if self.command(line.trim()).await {
                            return;
                        }
                        self.table().await;
                    }
                    // Stdin closed (e.g. run from a script): keep serving until a signal.
                    Ok(None) | Err(_) => stdin_open = false,
                },
            }
        }
    }

    /// Executes one command; true means quit.
    async fn command(&mut self, line: &str) -> bool {
        let words: Vec<&str> = line.split_whitespace().collect();
        let index = |w: Option<&&str>| {
            w.and_then(|s| s.parse::<usize>().ok())
                .filter(|n| (1..=self.targets.len()).contains(n))
        };
        let outcome: Result<String, String> = match words.as_slice() {
            [] => return false,
            ["quit" | "exit"] => return true,
            ["help"] => Ok(format!("commands: {}", help(self.zones.len() > 1))),
            ["kill-zone" | "revive-zone", ..] if self.zones.len() > 1 => {
                let zone = words
                    .get(1)
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|k| (1..=self.zones.len()).contains(k));
                match zone {
                    Some(k) => self.zone(k, words[0] == "kill-zone").await,
                    None => Err(format!("usage: {} K (1-{})", words[0], self.zones.len())),
                }
            }
            ["kill", ..] => match index(words.get(1)) {
                Some(n) => {
                    self.targets[n - 1].kill();
                    Ok(format!("target {n} killed (its socket is closed)"))
                }
                None => Err(format!("usage: kill N (1-{})", self.targets.len())),
            },
            ["revive", ..] => match index(words.get(1)) {
                Some(n) => self.targets[n - 1]
                    .revive()
                    .await
                    .map(|()| format!("target {n} revived"))
                    .map_err(|e| format!("cannot revive target {n}: {e}")),
                None => Err(format!("usage: revive N (1-{})", self.targets.len())),
            },
            ["quarantine", ..] | ["restore", ..] | ["weight", ..] => {
                let op = match (words[0], words.get(2).and_then(|w| w.parse::<u8>().ok())) {
                    ("quarantine", _) => Some(Operation::Quarantine),
                    ("restore", _) => Some(Operation::Restore),
                    ("weight", Some(w)) => Some(Operation::SetWeight(w)),
                    _ => None,
                };
                match (index(words.get(1)), op) {
                    (Some(n), Some(op)) => self.change(n, op).await,
                    _ => Err(format!(
                        "usage: quarantine N | restore N | weight N W (1-{}, W 0-255)",
                        self.targets.len()
                    )),
                }
            }
            _ => Err(format!(
                "unknown command {line:?}; commands: {}",
                help(self.zones.len() > 1)
            )),
        };
        match outcome {
            // Messages may quote the resolver's answers (records anyone can write): escaped.
            Ok(msg) => println!("> {}", Escaped(&msg)),
            Err(msg) => println!("! {}", Escaped(&msg)),
        }
        false
    }

    /// Kills or revives every target of zone `k` (1-based).
    async fn zone(&mut self, k: usize, kill: bool) -> Result<String, String> {
        for (t, zone) in self.targets.iter_mut().zip(&self.zone_of) {
            if *zone + 1 != k {
                continue;
            }
            if kill {
                t.kill();
            } else {
                t.revive()
                    .await
                    .map_err(|e| format!("cannot revive {}: {e}", t.addr))?;
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

    async fn change(&self, n: usize, op: Operation) -> Result<String, String> {
        let id = set_id(n);
        let pool = &self.zones[self.zone_of[n - 1]].pool;
        let mut decider = decide_with(|view: &PoolView, _: &[RecordSet]| {
            let plan =
                operator_plan(pool, view, &id, op, unix_now(), false).map_err(|e| e.to_string())?;
            Ok::<_, String>(Decision { plan, outcome: () })
        });
        reconcile(&self.writer, pool, CONFLICT_ATTEMPTS, &mut decider)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("{id}: done"))
    }

    /// Prints the table: redrawn in place on a terminal, printed on change otherwise.
    async fn table(&mut self) {
        let mut views = Vec::with_capacity(self.zones.len());
        for z in &self.zones {
            match self.writer.list_pool(&z.pool).await {
                Ok(sets) => views.push(classify(&z.pool, &sets)),
                Err(e) => {
                    println!(
                        "! {}",
                        Escaped(&format!("cannot read pool {}: {e}", z.pool.name))
                    );
                    return;
                }
            }
        }
        let multi = self.zones.len() > 1;
        let mut rows = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            let id = set_id(i + 1);
            let k = self.zone_of[i];
            let pool = &self.zones[k].pool;
            let served = self
                .answers
                .get(&AnswerLabels {
                    pool: pool.name.without_dot().to_owned(),
                    set_id: id.clone(),
                })
                .map_or(0, |c| c.get());
            let (weight, wanted, state) =
                views[k]
                    .owned
                    .get(&id)
                    .map_or(("-".into(), "-".into(), "missing".into()), |o| {
                        (
                            o.target.weight.to_string(),
                            o.target.wanted_weight.to_string(),
                            o.target.state.to_string(),
                        )
                    });
            let zone = if multi {
                format!("{:<5}", k + 1)
            } else {
                String::new()
            };
            let row = format!(
                "{:<3} {zone}{:<8} {:<18} {:>6} {:>6}  {:<12} {:<6}",
                i + 1,
                id,
                t.addr,
                weight,
                wanted,
                state,
                if t.alive() { "up" } else { "down" },
            );
            rows.push((row, served));
        }
        let tier = if multi {
            self.tier_line().await
        } else {
            String::new()
        };
        let mut shape: String = rows
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        shape.push_str(&tier);
        let terminal = std::io::stdout().is_terminal();
        if !terminal && shape == self.last {
            return;
        }
        self.last = shape;
        if terminal {
            println!("\x1b[H\x1b[2Jcommands: {}", help(multi));
        }
        println!(
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
        );
        for (row, served) in rows {
            println!("{row} {served:>8}");
        }
        if multi {
            println!("{}", Escaped(&tier));
        }
    }

    /// One line on the zone tier: each zone in or out, and why.
    async fn tier_line(&self) -> String {
        let spec = zones::tier(&self.zones, self.writer.zone_id());
        let view = match self.writer.list_pool(&spec.pool_spec()).await {
            Ok(sets) => registry::tier::classify(&spec, &sets),
            Err(e) => return format!("tier {}: cannot read it: {e}", spec.name),
        };
        let parts: Vec<String> = (1..)
            .zip(&self.zones)
            .map(|(k, z)| match view.owned.get(z.id) {
                Some(e) if e.record_set.is_some() => format!("{k} in"),
                Some(e) => format!("{k} out ({})", e.standing.why),
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
