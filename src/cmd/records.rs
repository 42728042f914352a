//! `wavelb records`: list a pool and change one target by hand, through the same planner and
//! writer every other part uses.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use aws::metrics::WriterMetrics;
use aws::writer::{Submitted, Writer};
use health::global::GlobalConfig;
use registry::clock::unix_now;
use registry::config::{Placeholders, ZoneRef};
use registry::escape::{Escaped, escape, json_safe};
use registry::model::{PoolSpec, RecordSet, SetId};
use registry::ops::{Operation, operator_plan};
use registry::plan::{Plan, retarget_ttl};
use registry::pool::{PoolView, classify};
use registry::reconcile::{CONFLICT_ATTEMPTS, Decision, ReconcileError, decide_with, reconcile};
use registry::tier::{TierSpec, TierView};
use serde::Serialize;

use crate::cli::{RecordsAction, RecordsArgs};
use crate::config::Config;
use crate::exit::UsageError;

/// Runs `wavelb records`.
pub(crate) async fn run(cfg: Option<&Config>, args: RecordsArgs) -> anyhow::Result<()> {
    let cfg = cfg.ok_or_else(|| {
        UsageError("`wavelb records` needs a configuration file: pass --config PATH".into())
    })?;
    if let (Some(RecordsAction::List { json }), Some(global), false) =
        (&args.action, &cfg.global, args.check_config)
    {
        return list_tier(cfg, global, *json).await;
    }
    let pool_cfg = cfg.require_pool("records")?;
    let pool = pool_cfg
        .spec(&Placeholders::default())
        .map_err(|e| UsageError(e.to_string()))?;
    if args.check_config {
        println!(
            "configuration is valid: pool {} ({})",
            pool.name, pool.record_type
        );
        return Ok(());
    }
    let Some(action) = args.action else {
        return Err(UsageError(
            "`wavelb records` needs an action: list, set-weight, set-ttl, quarantine, restore or \
             remove"
                .into(),
        )
        .into());
    };
    let zone = pool_cfg.zone_ref().map_err(|e| UsageError(e.to_string()))?;
    let writer = Writer::connect(&cfg.route53, &zone, WriterMetrics::default())
        .await
        .context("cannot open the pool's hosted zone")?;
    let (set_id, op, force) = match action {
        RecordsAction::List { json } => {
            let view = read(&writer, &pool).await?;
            if view.owned.is_empty() && view.foreign.is_empty() {
                return Err(EmptyPool::new(&pool, &zone, writer.zone_id()).into());
            }
            let mismatch = print_list(&pool, &view, json)?;
            print_ttl_fix(mismatch.then_some(&pool));
            return Ok(());
        }
        RecordsAction::SetWeight {
            set_id,
            weight,
            force,
        } => (set_id, Operation::SetWeight(weight), force),
        RecordsAction::Quarantine { set_id, force } => (set_id, Operation::Quarantine, force),
        RecordsAction::Restore { set_id, force } => (set_id, Operation::Restore, force),
        RecordsAction::Remove { set_id, force } => (set_id, Operation::Remove, force),
        RecordsAction::SetTtl { ttl } => return set_ttl(&writer, &pool, ttl).await,
    };
    let empty = EmptyPool::new(&pool, &zone, writer.zone_id());
    change(&writer, &pool, &set_id, op, force, &empty).await
}

/// A pool name that matches nothing in its hosted zone: most likely a wrong `[pool] name` or
/// zone (exit code 1; an emptied pool looks the same).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "pool {name}: no record in hosted zone {zone} ({zone_id}) has this name; check [pool] name \
     and zone (or every target of the pool is gone)"
)]
struct EmptyPool {
    name: String,
    zone: String,
    zone_id: String,
}

impl EmptyPool {
    fn new(pool: &PoolSpec, zone: &ZoneRef, zone_id: &str) -> Self {
        Self {
            name: pool.name.without_dot().to_owned(),
            zone: match zone {
                ZoneRef::Name(n) => n.without_dot().to_owned(),
                ZoneRef::Id(id) => id.clone(),
            },
            zone_id: zone_id.to_owned(),
        }
    }
}

/// Names the fix of a TTL mismatch, once per run however many pools were listed: `pool` is one
/// with a mismatch, `None` when none has.
fn print_ttl_fix(pool: Option<&PoolSpec>) {
    if let Some(pool) = pool {
        println!(
            "to make them agree: set pool.ttl to Route 53's TTL, or `wavelb records set-ttl {}` \
             to change the records",
            pool.ttl
        );
    }
}

async fn read(writer: &Writer, pool: &PoolSpec) -> anyhow::Result<PoolView> {
    let sets = writer
        .list_pool(pool)
        .await
        .with_context(|| format!("cannot list the records of pool {}", pool.name))?;
    Ok(classify(pool, &sets))
}

/// Reads the pool, plans with `decide` and writes the plan through the one reconcile loop,
/// reading again when another writer changed the records first (up to [`CONFLICT_ATTEMPTS`]
/// times). `None`: nothing to change.
async fn read_plan_write(
    writer: &Writer,
    pool: &PoolSpec,
    what: &str,
    decide: impl Fn(&PoolView) -> anyhow::Result<Plan> + Sync,
) -> anyhow::Result<Option<(Plan, Vec<Submitted>)>> {
    let mut decider = decide_with(|view: &PoolView, _: &[RecordSet]| {
        Ok::<_, anyhow::Error>(Decision {
            plan: decide(view)?,
            outcome: (),
        })
    });
    match reconcile(writer, pool, CONFLICT_ATTEMPTS, &mut decider).await {
        Ok(done) if done.plan.is_empty() => Ok(None),
        Ok(done) => Ok(Some((done.plan, done.submitted))),
        Err(ReconcileError::Decide(e)) => Err(e),
        Err(ReconcileError::Write(e)) => Err(e).with_context(|| format!("cannot {what}")),
    }
}

fn change_ids(done: &[Submitted]) -> String {
    done.iter()
        .map(|d| d.change_id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn change(
    writer: &Writer,
    pool: &PoolSpec,
    set_id: &str,
    op: Operation,
    force: bool,
    empty: &EmptyPool,
) -> anyhow::Result<()> {
    let what = format!("change target {set_id}");
    let written = read_plan_write(writer, pool, &what, |view| {
        if view.owned.is_empty() && view.foreign.is_empty() {
            return Err(empty.clone().into());
        }
        operator_plan(pool, view, set_id, op, unix_now(), force)
            .map_err(|e| UsageError(e.to_string()).into())
    })
    .await?;
    match written {
        None => println!("{}: nothing to change", Escaped(set_id)),
        Some((_, done)) => println!(
            "{}: {} (change {})",
            Escaped(set_id),
            describe(op),
            change_ids(&done)
        ),
    }
    Ok(())
}

async fn set_ttl(writer: &Writer, pool: &PoolSpec, ttl: u32) -> anyhow::Result<()> {
    let name = pool.name.without_dot();
    let what = format!("set the TTL of pool {name}");
    match read_plan_write(writer, pool, &what, |view| {
        Ok(retarget_ttl(pool, view, ttl))
    })
    .await?
    {
        None => println!("{name}: the TTL is {ttl} already"),
        Some((plan, done)) => println!(
            "{name}: TTL set to {ttl} on {} targets (change {}); set pool.ttl = {ttl} in every \
             agent and controller of the pool",
            plan.groups.len(),
            change_ids(&done)
        ),
    }
    Ok(())
}

fn describe(op: Operation) -> String {
    match op {
        Operation::SetWeight(w) => format!("wanted weight set to {w}"),
        Operation::Quarantine => "quarantined".into(),
        Operation::Restore => "restored".into(),
        Operation::Remove => "removed".into(),
    }
}

/// One row of `records list`.
#[derive(Debug, Serialize)]
struct Row {
    set_id: String,
    addresses: Vec<String>,
    weight: Option<i64>,
    wanted_weight: Option<u8>,
    state: Option<String>,
    owner: Option<String>,
    since: Option<u64>,
    foreign: bool,
    /// Why it is foreign (`None` for a target this owner controls).
    foreign_reason: Option<String>,
    note: Option<String>,
}

impl Row {
    /// The STATE column: the target's state, or `foreign (<why>)` for a record this owner must
    /// not change (whatever state its ownership record claims).
    fn state_cell(&self) -> String {
        match &self.foreign_reason {
            Some(reason) => format!("foreign ({reason})"),
            None => self.state.clone().unwrap_or_else(|| "-".to_owned()),
        }
    }
}

fn rows(view: &PoolView) -> Vec<Row> {
    let mut rows: Vec<Row> = view
        .owned
        .values()
        .map(|o| Row {
            set_id: o.target.id.to_string(),
            addresses: o.target.addresses.iter().map(ToString::to_string).collect(),
            weight: o.address_set.as_ref().and_then(|s| s.weight),
            wanted_weight: Some(o.target.wanted_weight),
            state: Some(o.target.state.to_string()),
            owner: None,
            since: Some(o.target.since),
            foreign: false,
            foreign_reason: None,
            note: o
                .address_set
                .is_none()
                .then(|| "address record missing".to_owned()),
        })
        .collect();
    rows.extend(view.foreign.iter().map(|f| {
        let decoded = f
            .ownership_set
            .as_ref()
            .and_then(|s| s.values.first())
            .and_then(|v| registry::txt::decode(v).ok());
        Row {
            set_id: f.id.clone().unwrap_or_else(|| "(simple)".into()),
            addresses: f
                .address_set
                .as_ref()
                .map(|s| s.values.clone())
                .unwrap_or_default(),
            weight: f.address_set.as_ref().and_then(|s| s.weight),
            wanted_weight: decoded.as_ref().map(|d| d.wanted_weight),
            state: decoded.as_ref().map(|d| d.state.to_string()),
            owner: decoded.as_ref().map(|d| d.owner.clone()),
            since: decoded.as_ref().map(|d| d.since),
            foreign: true,
            foreign_reason: Some(f.reason.to_string()),
            // What its ownership record says, for what it is worth: it decides nothing.
            note: decoded
                .as_ref()
                .map(|d| format!("its ownership record claims state={}", d.state)),
        }
    }));
    rows.sort_by(|a, b| a.set_id.cmp(&b.set_id));
    rows
}

/// Prints the pool's rows and its TTL; true when the TTL disagrees with `pool.ttl`.
fn print_list(pool: &PoolSpec, view: &PoolView, json: bool) -> anyhow::Result<bool> {
    let mut rows = rows(view);
    if json {
        println!("{}", json_safe(&serde_json::to_string_pretty(&rows)?));
        return Ok(false);
    }
    let dash = || "-".to_owned();
    let table: Vec<Vec<String>> = rows
        .iter_mut()
        .map(|r| {
            [
                r.set_id.clone(),
                if r.addresses.is_empty() {
                    dash()
                } else {
                    r.addresses.join(",")
                },
                r.weight.map_or_else(dash, |w| w.to_string()),
                r.wanted_weight.map_or_else(dash, |w| w.to_string()),
                r.state_cell(),
                r.owner.clone().unwrap_or_else(|| {
                    if r.foreign {
                        dash()
                    } else {
                        "(this owner)".into()
                    }
                }),
                r.since.map_or_else(dash, timestamp),
                r.note.clone().unwrap_or_default(),
            ]
            .into()
        })
        .collect();
    let header = [
        "SET ID",
        "ADDRESSES",
        "WEIGHT",
        "WANTED",
        "STATE",
        "OWNER",
        "SINCE",
        "NOTE",
    ];
    print_table(&header, &table, "(no targets)");
    // The fix is named once per run, after every list ([`print_ttl_fix`]).
    match view.ttl_mismatch(pool) {
        Some(existing) => println!(
            "TTL {existing} in Route 53, but pool.ttl is {}: writes keep {existing}",
            pool.ttl
        ),
        None => println!("TTL {}", pool.ttl),
    }
    Ok(view.ttl_mismatch(pool).is_some())
}

fn timestamp(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// Prints `rows` under `header` in aligned columns, or `empty` when there are none. Every cell
/// is escaped: set identifiers, owners and notes come from records anyone with zone access
/// writes.
fn print_table(header: &[&str], rows: &[Vec<String>], empty: &str) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| escape(c).into_owned()).collect())
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
    if rows.is_empty() {
        println!("{empty}");
    }
}

/// One zone (or the fallback) of the tier, as `records list` shows it.
#[derive(Serialize)]
struct TierRow {
    zone: String,
    in_tier: bool,
    coordinates: Option<(String, String)>,
    bias: i64,
    target: String,
    since: Option<u64>,
    why: String,
    foreign: bool,
    /// Why it is foreign (`None` for a member this owner controls).
    foreign_reason: Option<String>,
}

/// The tier's rows; `sets` as listed, so a foreign member shows what Route 53 answers for it.
fn tier_rows(spec: &TierSpec, view: &TierView, sets: &[RecordSet]) -> Vec<TierRow> {
    let target = |s: &RecordSet| match &s.alias {
        Some(a) => a.dns_name.without_dot().to_owned(),
        None => s.values.join(","),
    };
    let mut rows: Vec<TierRow> = Vec::new();
    let mut ids: Vec<SetId> = spec.members.iter().map(|m| m.id.clone()).collect();
    ids.extend(
        view.owned
            .keys()
            .filter(|id| !ids.contains(id))
            .cloned()
            .collect::<Vec<_>>(),
    );
    for id in ids {
        // The record as published, else the one this configuration would publish.
        let published = view.owned.get(&id).and_then(|e| e.record_set.clone());
        let shown = published.clone().or_else(|| spec.record(&id));
        let geo = shown
            .as_ref()
            .and_then(|s| s.geo.clone())
            .unwrap_or_default();
        let entry = view.owned.get(&id);
        if entry.is_none() && view.is_foreign(&id) {
            continue;
        }
        rows.push(TierRow {
            zone: id.to_string(),
            in_tier: published.is_some(),
            coordinates: geo.coordinates,
            bias: geo.bias.unwrap_or(0),
            target: shown.as_ref().map(target).unwrap_or_default(),
            since: entry.map(|e| e.standing.since),
            why: match entry {
                Some(e) if spec.record(&id).is_none() => {
                    format!("{} (no longer configured)", e.standing.why_text())
                }
                Some(e) => e.standing.why_text().to_owned(),
                None => "not written yet (the health controller writes it)".into(),
            },
            foreign: false,
            foreign_reason: None,
        });
    }
    // A foreign member is never changed by wavelb, but its record (when there is one) is
    // answered like any other: show it as published, where it is and what it points at.
    let published = health::tier::published(spec, sets);
    rows.extend(view.foreign.iter().map(|f| {
        let record = f.id.as_deref().and_then(|id| published.get(id).copied());
        let geo = record.and_then(|s| s.geo.clone()).unwrap_or_default();
        TierRow {
            zone: f.id.clone().unwrap_or_else(|| "(simple)".into()),
            in_tier: record.is_some(),
            coordinates: geo.coordinates,
            bias: geo.bias.unwrap_or(0),
            target: record.map(target).unwrap_or_default(),
            since: None,
            why: format!("foreign ({})", f.reason),
            foreign: true,
            foreign_reason: Some(f.reason.clone()),
        }
    }));
    rows
}

/// `records list` with a `[global]` section: the tier, then every pool.
async fn list_tier(cfg: &Config, global: &GlobalConfig, json: bool) -> anyhow::Result<()> {
    let pools = cfg.pool_specs("records")?;
    let specs: Vec<PoolSpec> = pools.iter().map(|(p, _)| p.clone()).collect();
    let first = global
        .zones
        .first()
        .and_then(|z| {
            pools
                .iter()
                .find(|(p, _)| p.name.without_dot() == z.pool.trim_end_matches('.'))
        })
        .ok_or_else(|| {
            UsageError(format!(
                "[global] {}: its first zone's pool is not a [[pool]] of this file",
                global.name
            ))
        })?;
    let writer = Writer::connect(&cfg.route53, &first.1, WriterMetrics::default())
        .await
        .context("cannot open the tier's hosted zone")?;
    let spec = global
        .spec(&specs, writer.zone_id())
        .map_err(|e| UsageError(e.to_string()))?;
    let sets = writer
        .list_pool(&spec.pool_spec())
        .await
        .with_context(|| format!("cannot list the records of the tier {}", spec.name))?;
    let zones = tier_rows(&spec, &registry::tier::classify(&spec, &sets), &sets);
    let mut pool_views = Vec::new();
    for (pool, zone) in &pools {
        let w = writer
            .sibling(zone)
            .await
            .with_context(|| format!("cannot open the hosted zone of pool {}", pool.name))?;
        pool_views.push((pool, read(&w, pool).await?));
    }
    if json {
        let pools: serde_json::Map<String, serde_json::Value> = pool_views
            .iter()
            .map(|(p, v)| {
                Ok((
                    p.name.without_dot().to_owned(),
                    serde_json::to_value(rows(v))?,
                ))
            })
            .collect::<Result<_, serde_json::Error>>()?;
        let text = serde_json::to_string_pretty(
            &serde_json::json!({ "tier": spec.name.without_dot(), "zones": zones, "pools": pools }),
        )?;
        println!("{}", json_safe(&text));
        return Ok(());
    }
    println!("tier {} ({} zones)", spec.name, spec.members.len());
    let table: Vec<Vec<String>> = zones
        .iter()
        .map(|r| {
            vec![
                r.zone.clone(),
                if r.in_tier { "in" } else { "out" }.to_owned(),
                r.coordinates
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |(lat, lon)| format!("{lat},{lon}")),
                r.bias.to_string(),
                r.target.clone(),
                r.since.map_or_else(|| "-".to_owned(), timestamp),
                r.why.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "ZONE",
            "TIER",
            "COORDINATES",
            "BIAS",
            "TARGET",
            "SINCE",
            "WHY",
        ],
        &table,
        "(no zones)",
    );
    let mut mismatched = None;
    for (pool, view) in &pool_views {
        println!("\npool {}", pool.name);
        if print_list(pool, view, false)? {
            mismatched = mismatched.or(Some(*pool));
        }
    }
    print_ttl_fix(mismatched);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::mac::OwnershipKey;
    use registry::model::{RecordType, Target, TargetState};
    use registry::name::Fqdn;
    use registry::testing::sid;

    fn pool(key: bool) -> PoolSpec {
        PoolSpec {
            name: Fqdn::parse("edge.example.com").unwrap(),
            record_type: RecordType::A,
            ttl: 30,
            owner_id: "wavelb".into(),
            ownership_key: key
                .then(|| OwnershipKey::from_bytes(b"a shared key of 32 bytes, really").unwrap()),
        }
    }

    /// A target whose ownership record was replaced by one without a MAC (a pool with a key)
    /// shows as foreign, with the reason, whatever state the record claims.
    #[test]
    fn a_spoofed_member_is_listed_as_foreign_with_its_reason() {
        let keyed = pool(true);
        let signed = Target::active(sid("i-1"), vec!["192.0.2.1".parse().unwrap()], 10, 5);
        let spoofed = Target::active(sid("i-2"), vec!["192.0.2.2".parse().unwrap()], 10, 5)
            .with_state(TargetState::Quarantined, 6);
        let mut sets = signed.record_sets(&keyed);
        sets.extend(spoofed.record_sets(&pool(false)));
        let rows = rows(&classify(&keyed, &sets));
        assert_eq!(rows[0].state_cell(), "active");
        assert_eq!(rows[0].foreign_reason, None);
        let cell = rows[1].state_cell();
        assert!(
            cell.starts_with("foreign (unauthenticated: no mac="),
            "{cell}"
        );
        assert_eq!(
            rows[1].note.as_deref(),
            Some("its ownership record claims state=quarantined")
        );
    }

    /// A foreign tier member is shown as Route 53 answers it: published, where, and to what.
    #[test]
    fn a_foreign_tier_member_shows_as_published() {
        let pools = [
            PoolSpec {
                name: Fqdn::parse("bos.example.com").unwrap(),
                ..pool(false)
            },
            PoolSpec {
                name: Fqdn::parse("nyc.example.com").unwrap(),
                ..pool(false)
            },
        ];
        let global: GlobalConfig = toml::from_str(
            "name = \"edge.example.com\"\n\
             [[zone]]\npool = \"bos.example.com\"\nwavelength_zone = \"bos\"\ncoordinates = [42.36, -71.06]\n\
             [[zone]]\npool = \"nyc.example.com\"\nwavelength_zone = \"nyc\"\ncoordinates = [40.71, -74.01]\n",
        )
        .unwrap();
        let spec = global.spec(&pools, "Z1").unwrap();
        let standing = registry::tier::Standing {
            in_tier: true,
            since: 5,
            why: Some(registry::model::Why::Healthy),
        };
        let mut theirs = spec.ownership_record("nyc", &standing);
        theirs.values =
            vec![r#""v=1" "owner=someone-else" "weight=0" "state=active" "since=1""#.into()];
        let sets = vec![
            spec.record("bos").unwrap(),
            spec.ownership_record("bos", &standing),
            spec.record("nyc").unwrap(),
            theirs,
        ];
        let rows = tier_rows(&spec, &registry::tier::classify(&spec, &sets), &sets);
        let zones: Vec<(&str, bool, &str)> = rows
            .iter()
            .map(|r| (r.zone.as_str(), r.in_tier, r.why.as_str()))
            .collect();
        assert_eq!(
            zones,
            [
                ("bos", true, "healthy"),
                ("nyc", true, "foreign (owned by someone-else)")
            ]
        );
        assert_eq!(rows[1].target, "nyc.example.com");
        assert!(rows[1].coordinates.is_some());
        assert_eq!(
            rows[1].foreign_reason.as_deref(),
            Some("owned by someone-else")
        );
    }
}
