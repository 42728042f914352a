//! IP-based routing's vocabulary, pure: what a CIDR block, a collection id and a location name
//! are (Route 53's rules, shared by the lab's API and wavelb's own writers), an operator's list
//! of a carrier's prefixes (`[global] carriers`, issue 27), and the ChangeCidrCollection
//! requests that turn a collection as listed into the one wanted.
//!
//! Bounds: a source holds at most [`MAX_SOURCE_BYTES`] and [`MAX_BLOCKS`] blocks (Route 53's
//! requests carry at most [`MAX_BLOCKS_PER_REQUEST`]); a block is IPv4 /1–/24 or IPv6 /1–/48
//! ([`MAX_V4_PREFIX`], [`MAX_V6_PREFIX`]). A longer prefix could never match: resolvers send
//! EDNS Client Subnets of /24 and /56 at most, and a block matches only a subnet at least as long.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The longest IPv4 prefix of a block (Route 53 Developer Guide, "IP-based routing": /1 to /24).
pub const MAX_V4_PREFIX: u8 = 24;
/// The longest IPv6 prefix of a block (/1 to /48).
pub const MAX_V6_PREFIX: u8 = 48;
/// The longest `LocationName`.
pub const MAX_LOCATION_CHARS: usize = 16;
/// The most blocks one ChangeCidrCollection carries ("The max number of CIDR blocks included in
/// the request is 1000").
pub const MAX_BLOCKS_PER_REQUEST: usize = 1000;
/// The most blocks a collection holds (the lab's quota; AWS publishes none).
pub const MAX_BLOCKS: usize = 1000;
/// The largest source file of blocks read (1 MiB: far more than [`MAX_BLOCKS`] lines).
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;
/// How many bad lines an error message shows (all are kept).
const SHOWN_ERRORS: usize = 20;

/// Why a text is not a CIDR block Route 53 takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// No `/N`.
    #[error("it lacks a prefix length (/N)")]
    NoPrefix,
    /// Not an address.
    #[error("its address is not an IPv4 or IPv6 address")]
    Address,
    /// The prefix length is not a number (or not in its canonical spelling).
    #[error("its prefix length is not a number")]
    PrefixNumber,
    /// A prefix length out of Route 53's range.
    #[error(
        "an {family} block's prefix length must be /1 to /{max} (a /0 block is the default location \"*\" of a record set)"
    )]
    PrefixLength {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The longest allowed.
        max: u8,
    },
    /// Bits set past the prefix.
    #[error("it has host bits set; the block is {0}")]
    HostBits(IpNet),
}

/// `text` as a block: `ADDRESS/N`, the network address (no host bits), IPv4 /1–/24 or IPv6
/// /1–/48.
///
/// # Errors
///
/// [`BlockError`] says what is wrong.
pub fn parse_block(text: &str) -> Result<IpNet, BlockError> {
    let (address, prefix) = text.split_once('/').ok_or(BlockError::NoPrefix)?;
    let address: IpAddr = address.parse().map_err(|_| BlockError::Address)?;
    let len: u8 = prefix
        .parse()
        .ok()
        .filter(|n: &u8| n.to_string() == prefix)
        .ok_or(BlockError::PrefixNumber)?;
    let (family, max) = match address {
        IpAddr::V4(_) => ("IPv4", MAX_V4_PREFIX),
        IpAddr::V6(_) => ("IPv6", MAX_V6_PREFIX),
    };
    if !(1..=max).contains(&len) {
        return Err(BlockError::PrefixLength { family, max });
    }
    let net = IpNet::new(address, len).map_err(|_| BlockError::PrefixLength { family, max })?;
    if net.trunc() != net {
        return Err(BlockError::HostBits(net.trunc()));
    }
    Ok(net)
}

/// True for a CIDR collection id in Route 53's form: a lower-case UUID,
/// `[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}`.
pub fn is_collection_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// True for a collection's `LocationName`: 1 to 16 of `[0-9A-Za-z_-]` (`*` is a record set's,
/// not a collection's).
pub fn is_location_name(name: &str) -> bool {
    (1..=MAX_LOCATION_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One bad line of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// Why a source of blocks was refused: nothing of it is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the CIDR blocks of {} are refused; fix these lines (each is one block, ADDRESS/N):{}",
    crate::escape::escape(origin),
    show(origin, lines)
)]
pub struct SourceError {
    /// Where the blocks came from (a file's name, or the configuration key); escaped when shown.
    pub origin: String,
    /// Every bad line, in order.
    pub lines: Vec<LineError>,
}

fn show(origin: &str, lines: &[LineError]) -> String {
    let origin = crate::escape::escape(origin);
    let mut out = String::new();
    for e in lines.iter().take(SHOWN_ERRORS) {
        out.push_str(&format!(
            "\n  {origin}:{}: {}",
            e.line,
            crate::escape::escape(&e.why)
        ));
    }
    if lines.len() > SHOWN_ERRORS {
        out.push_str(&format!(
            "\n  … and {} more bad lines",
            lines.len() - SHOWN_ERRORS
        ));
    }
    out
}

/// The blocks of a source's text: one block a line, blank lines and `#` comments skipped. A
/// block given twice, a bad block, or more than `max` blocks refuse the whole source, with
/// every bad line.
///
/// # Errors
///
/// [`SourceError`] with every bad line.
pub fn parse_source(origin: &str, text: &str, max: usize) -> Result<BTreeSet<IpNet>, SourceError> {
    if text.len() as u64 > MAX_SOURCE_BYTES {
        return Err(SourceError {
            origin: origin.to_owned(),
            lines: vec![LineError {
                line: 1,
                why: format!("{} bytes; the limit is {MAX_SOURCE_BYTES}", text.len()),
            }],
        });
    }
    let mut blocks = BTreeSet::new();
    let mut first_line: BTreeMap<IpNet, usize> = BTreeMap::new();
    let mut lines = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split_once('#').map_or(raw, |(c, _)| c).trim();
        if content.is_empty() {
            continue;
        }
        match parse_block(content) {
            Ok(net) => {
                if let Some(first) = first_line.get(&net) {
                    lines.push(LineError {
                        line,
                        why: format!("{net} is already given on line {first}"),
                    });
                    continue;
                }
                if blocks.len() == max {
                    lines.push(LineError {
                        line,
                        why: format!("more than {max} blocks"),
                    });
                    break;
                }
                first_line.insert(net, line);
                blocks.insert(net);
            }
            Err(why) => lines.push(LineError {
                line,
                why: format!("{content:?}: {why}"),
            }),
        }
    }
    if lines.is_empty() {
        Ok(blocks)
    } else {
        Err(SourceError {
            origin: origin.to_owned(),
            lines,
        })
    }
}

/// What one `CidrCollectionChange` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// `DELETE_IF_EXISTS`.
    DeleteIfExists,
    /// `PUT`.
    Put,
}

/// One `CidrCollectionChange`: `action` of `blocks` in `location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationChange {
    /// The location.
    pub location: String,
    /// What happens to the blocks.
    pub action: Action,
    /// The blocks (at least one).
    pub blocks: Vec<IpNet>,
}

/// A CIDR collection as listed (ListCidrCollections, then ListCidrBlocks): what
/// [`collection_requests`] plans from and the version its ChangeCidrCollection requests name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrCollectionState {
    /// The collection id (a lower-case UUID, [`is_collection_id`]).
    pub id: String,
    /// `Version`: 1 at creation, one more with every change. A ChangeCidrCollection naming
    /// another is refused (`CidrCollectionVersionMismatchException`), so a change planned from
    /// this listing applies only to the collection as listed.
    pub version: i64,
    /// Every block and the location it is in.
    pub blocks: BTreeMap<IpNet, String>,
}

/// The ChangeCidrCollection requests, in order, that make a collection holding `current`
/// (block → location, as listed) hold exactly `wanted` (location → blocks). Empty when it does
/// already. One request when the whole change fits in [`MAX_BLOCKS_PER_REQUEST`] blocks. A
/// larger change is split, in an order that never empties a location still wanted (record sets
/// name it, and Route 53 would be asked to route them to nothing): first the blocks new to the
/// collection, then the blocks that move (each move's removal and addition in one request, so a
/// moving block is never in no location), then the blocks no longer wanted anywhere. Within a
/// request, removals come before additions.
pub fn collection_requests(
    current: &BTreeMap<IpNet, String>,
    wanted: &BTreeMap<String, BTreeSet<IpNet>>,
) -> Vec<Vec<LocationChange>> {
    // A unit is never split across requests: one step, or a move's two.
    let mut additions: Vec<Vec<(Action, &str, IpNet)>> = Vec::new();
    let mut moves: Vec<Vec<(Action, &str, IpNet)>> = Vec::new();
    let mut removals: Vec<Vec<(Action, &str, IpNet)>> = Vec::new();
    let mut wanted_at: BTreeMap<IpNet, &str> = BTreeMap::new();
    for (location, blocks) in wanted {
        for block in blocks {
            wanted_at.insert(*block, location);
        }
    }
    for (block, location) in &wanted_at {
        match current.get(block) {
            None => additions.push(vec![(Action::Put, location, *block)]),
            Some(now) if now == location => {}
            Some(now) => moves.push(vec![
                (Action::DeleteIfExists, now.as_str(), *block),
                (Action::Put, location, *block),
            ]),
        }
    }
    for (block, location) in current {
        if !wanted_at.contains_key(block) {
            removals.push(vec![(Action::DeleteIfExists, location.as_str(), *block)]);
        }
    }
    let mut requests: Vec<Vec<(Action, &str, IpNet)>> = Vec::new();
    for unit in additions.into_iter().chain(moves).chain(removals) {
        match requests.last_mut() {
            Some(r) if r.len() + unit.len() <= MAX_BLOCKS_PER_REQUEST => r.extend(unit),
            _ => requests.push(unit),
        }
    }
    requests
        .into_iter()
        .map(|mut steps| {
            steps.sort_unstable();
            let mut changes: Vec<LocationChange> = Vec::new();
            for (action, location, block) in steps {
                match changes.last_mut() {
                    Some(c) if c.action == action && c.location == location => c.blocks.push(block),
                    _ => changes.push(LocationChange {
                        location: location.to_owned(),
                        action,
                        blocks: vec![block],
                    }),
                }
            }
            changes
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_follow_route53s_rules() {
        assert_eq!(parse_block("198.51.100.0/24"), Ok(net("198.51.100.0/24")));
        assert_eq!(parse_block("2001:db8::/32"), Ok(net("2001:db8::/32")));
        assert_eq!(parse_block("198.51.100.0"), Err(BlockError::NoPrefix));
        assert_eq!(parse_block("example/24"), Err(BlockError::Address));
        assert_eq!(parse_block("10.0.0.0/08"), Err(BlockError::PrefixNumber));
        assert!(matches!(
            parse_block("10.0.0.0/25"),
            Err(BlockError::PrefixLength { max: 24, .. })
        ));
        assert!(matches!(
            parse_block("0.0.0.0/0"),
            Err(BlockError::PrefixLength { .. })
        ));
        assert!(matches!(
            parse_block("2001:db8::/56"),
            Err(BlockError::PrefixLength { max: 48, .. })
        ));
        assert_eq!(
            parse_block("10.1.2.3/8"),
            Err(BlockError::HostBits(net("10.0.0.0/8")))
        );
        assert!(is_collection_id("0b5c3a3e-5f3c-4c2e-9d2b-7a1e3c9f0a11"));
        assert!(!is_collection_id("0B5C3A3E-5f3c-4c2e-9d2b-7a1e3c9f0a11"));
        assert!(!is_collection_id("0b5c3a3e5f3c4c2e9d2b7a1e3c9f0a11"));
        assert!(is_location_name("vodafone-uk") && is_location_name("a_1"));
        assert!(
            !is_location_name("*") && !is_location_name("") && !is_location_name(&"x".repeat(17))
        );
    }

    #[test]
    fn a_source_is_taken_whole_or_refused_with_every_bad_line() {
        let text = "# Verizon's prefixes\n198.51.100.0/24\n\n2001:db8::/32 # v6\n";
        let blocks = parse_source("verizon.txt", text, 10).unwrap();
        assert_eq!(blocks.len(), 2);
        let bad = "10.0.0.0/8\n10.0.0.0/8\n10.0.0.1/24\nnope\n192.0.2.0/28\n";
        let err = parse_source("x.txt", bad, 10).unwrap_err();
        assert_eq!(
            err.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
        let shown = err.to_string();
        assert!(
            shown.contains("x.txt:2: 10.0.0.0/8 is already given on line 1"),
            "{shown}"
        );
        assert!(shown.contains("x.txt:5: \"192.0.2.0/28\""), "{shown}");
        // Past the bound: refused, not truncated.
        let many: String = (0..5).map(|i| format!("10.{i}.0.0/16\n")).collect();
        let err = parse_source("many", &many, 4).unwrap_err();
        assert_eq!(
            err.lines,
            [LineError {
                line: 5,
                why: "more than 4 blocks".into()
            }]
        );
        // Outside text in a bad line, and in the origin, is escaped when shown.
        let err = parse_source("e\u{1b}", "\u{1b}[31m/24\n", 4).unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        // Past the byte bound: refused before a line is read.
        let big = "#".repeat(usize::try_from(MAX_SOURCE_BYTES).unwrap() + 1);
        assert!(
            parse_source("big", &big, 4).unwrap_err().lines[0]
                .why
                .contains("the limit is")
        );
    }

    fn wanted(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<IpNet>> {
        pairs
            .iter()
            .map(|(l, blocks)| ((*l).to_owned(), blocks.iter().map(|b| net(b)).collect()))
            .collect()
    }

    /// Applies `requests` to `current` as Route 53 does (in order, each atomically).
    fn apply(current: &mut BTreeMap<IpNet, String>, requests: &[Vec<LocationChange>]) {
        for request in requests {
            assert!(
                request.iter().map(|c| c.blocks.len()).sum::<usize>() <= MAX_BLOCKS_PER_REQUEST
            );
            for change in request {
                for block in &change.blocks {
                    match change.action {
                        Action::DeleteIfExists => {
                            if current.get(block) == Some(&change.location) {
                                current.remove(block);
                            }
                        }
                        Action::Put => {
                            assert!(
                                current.get(block).is_none_or(|l| *l == change.location),
                                "{block} put while in another location"
                            );
                            current.insert(*block, change.location.clone());
                        }
                    }
                }
            }
        }
    }

    fn flat(w: &BTreeMap<String, BTreeSet<IpNet>>) -> BTreeMap<IpNet, String> {
        w.iter()
            .flat_map(|(l, bs)| bs.iter().map(move |b| (*b, l.clone())))
            .collect()
    }

    #[test]
    fn a_collection_is_changed_only_where_it_differs_and_a_move_is_one_request() {
        let w = wanted(&[
            ("verizon", &["198.51.100.0/24"]),
            ("kddi", &["203.0.113.0/24"]),
        ]);
        assert!(collection_requests(&flat(&w), &w).is_empty());
        let mut current = flat(&w);
        // 203.0.113.0/24 moves to verizon; kddi gets a new block.
        let next = wanted(&[
            ("verizon", &["198.51.100.0/24", "203.0.113.0/24"]),
            ("kddi", &["192.0.2.0/24"]),
        ]);
        let requests = collection_requests(&current, &next);
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0],
            [
                LocationChange {
                    location: "kddi".into(),
                    action: Action::DeleteIfExists,
                    blocks: vec![net("203.0.113.0/24")]
                },
                LocationChange {
                    location: "kddi".into(),
                    action: Action::Put,
                    blocks: vec![net("192.0.2.0/24")]
                },
                LocationChange {
                    location: "verizon".into(),
                    action: Action::Put,
                    blocks: vec![net("203.0.113.0/24")]
                },
            ]
        );
        apply(&mut current, &requests);
        assert_eq!(current, flat(&next));
    }

    fn as_refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    /// Removing 1 000 blocks first would empty `a` (its 100 old blocks and `b`'s 900 fill the
    /// first request) before its 100 new ones arrive: additions come first.
    #[test]
    fn a_location_renumbered_beside_a_large_removal_is_never_empty() {
        let a_old: Vec<String> = (0..100).map(|i| format!("10.0.{i}.0/24")).collect();
        let b_old: Vec<String> = (0..900)
            .map(|i| format!("10.{}.{}.0/24", 1 + i / 256, i % 256))
            .collect();
        let a_new: Vec<String> = (0..100).map(|i| format!("10.9.{i}.0/24")).collect();
        let mut current = flat(&wanted(&[("a", &as_refs(&a_old)), ("b", &as_refs(&b_old))]));
        let after = wanted(&[("a", &as_refs(&a_new))]);
        let requests = collection_requests(&current, &after);
        assert_eq!(requests.len(), 2);
        for request in &requests {
            apply(&mut current, std::slice::from_ref(request));
            assert!(current.values().any(|l| l == "a"), "a emptied");
        }
        assert_eq!(current, flat(&after));
    }

    #[test]
    fn a_change_past_one_request_never_empties_a_wanted_location() {
        // Location a renumbers all 900 blocks, and 300 of its old ones move to b.
        let old: Vec<String> = (0..900)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect();
        let new: Vec<String> = (0..900)
            .map(|i| format!("11.{}.{}.0/24", i / 256, i % 256))
            .collect();
        let before = wanted(&[("a", &as_refs(&old))]);
        let after = wanted(&[("a", &as_refs(&new)), ("b", &as_refs(&old[..300]))]);
        let mut current = flat(&before);
        let requests = collection_requests(&current, &after);
        // 900 additions, 300 moves (two steps each), 600 removals: at least three requests.
        assert!(requests.len() >= 3, "{}", requests.len());
        for request in &requests {
            let actions: Vec<Action> = request.iter().map(|c| c.action).collect();
            assert!(
                actions.is_sorted(),
                "removals before additions in a request"
            );
            apply(&mut current, std::slice::from_ref(request));
            for location in ["a", "b"] {
                let had = flat(&before).values().any(|l| l == location);
                if had {
                    assert!(
                        current.values().any(|l| l == location),
                        "{location} emptied"
                    );
                }
            }
        }
        apply(&mut current, &requests);
        assert_eq!(current, flat(&after));
    }
}
