//! One pass over a hosted zone's listing for several names at once ([`Span`], pure): the health
//! controller reads all its pools, their ownership, lease and health names, and its zone tier
//! with one `ListResourceRecordSets` walk per round, not one per pool.
//!
//! Route 53 lists record sets by name with labels reversed (`com.example.www.`), compared as
//! ASCII ([`reversed`]), then by type and set identifier, so all the sets of one name are one
//! contiguous run. The walk starts at the first wanted name in that order and follows the pages
//! while the next page starts at a wanted name; where it would start in a gap of other names, it
//! jumps to the next wanted name with a new request instead of paging through the gap (never
//! more requests than following). Names adjacent in the zone's order (a pool's address,
//! ownership, lease and health names) cost the pages they fill and nothing more. Only exact
//! names are read, never what lies below them, so a tier at the zone's apex does not read the
//! whole zone. A name counts as read once a contiguous run of pages passed where it sorts; that
//! needs the order to be Route 53's, which [`reversed`] is for the names wavelb writes (letters,
//! digits, `-`, `_`; Route 53 sorts escaped octal codes differently).

use std::collections::HashSet;

use crate::model::{RecordKey, RecordSet};
use crate::name::Fqdn;

/// `www.example.com.` → `com.example.www.`: the key Route 53 sorts names by in
/// ListResourceRecordSets and ListHostedZonesByName (the API reference pages of both): labels
/// reversed, *with* the trailing dot, compared as ASCII. The dot matters when one reversed name
/// is a prefix of another: `a-b.example.com.` (`com.example.a-b.`) lists before
/// `a.example.com.` (`com.example.a.`) because `-` (45) sorts before `.` (46). It also keeps a
/// name's subtree contiguous (every name below `www.example.com.` starts with
/// `com.example.www.`).
pub fn reversed(name: &str) -> String {
    let trimmed = name.trim_end_matches('.');
    let mut key = trimmed.rsplit('.').collect::<Vec<_>>().join(".");
    key.push('.');
    key
}

/// Where a `ListResourceRecordSets` request starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFrom {
    /// `StartRecordName`.
    pub name: String,
    /// `StartRecordType`, as Route 53 gave it (passed back verbatim).
    pub rtype: Option<String>,
    /// `StartRecordIdentifier`.
    pub identifier: Option<String>,
}

impl ListFrom {
    fn at(name: &Fqdn) -> Self {
        Self {
            name: name.as_str().to_owned(),
            rtype: None,
            identifier: None,
        }
    }
}

/// Why a walk stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    /// A truncated page without a next record to start from.
    #[error("the response is truncated but has no NextRecordName")]
    NoNextName,
    /// A page that held nothing not seen before (an endpoint that ignores the start identifier
    /// inside a weighted group would loop for ever).
    #[error(
        "pagination made no progress at {0} (the endpoint returned no NextRecordIdentifier inside \
         a weighted group)"
    )]
    NoProgress(String),
    /// More pages than any zone within the record-set quota needs.
    #[error("the listing went on for more than {0} pages")]
    TooManyPages(usize),
}

#[derive(Debug)]
struct Wanted {
    name: Fqdn,
    key: String,
    done: bool,
}

/// A walk over the listing for a set of names: feed it the pages it asks for ([`Span::start`],
/// then [`Span::page`] until it returns `None`), then take the record sets ([`Span::finish`]).
#[derive(Debug)]
pub struct Span {
    names: Vec<Wanted>,
    /// The reversed key where the current contiguous run of pages began.
    run_from: String,
    out: Vec<RecordSet>,
    seen: HashSet<RecordKey>,
    pages: usize,
    /// Whether the walk jumps over gaps ([`Walk::Jump`]).
    jumps: bool,
}

/// How a walk crosses the names between the wanted ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Page by page from the first wanted name until past the last: what any endpoint with
    /// Route 53's pagination answers right, moto (and so LocalStack) included, whose
    /// `StartRecordName` must name an existing record and whose order puts `a` before `a-b`.
    /// One pool's names (the agent, `wavelb records`) are adjacent, so this costs nothing.
    Follow,
    /// Jumps over a gap of other names at a page boundary with a new request at the next wanted
    /// name, as Route 53 answers a `StartRecordName` that names nothing (the lab resolver too):
    /// the health controller's walk over every pool and the tier.
    Jump,
}

/// The most pages one walk reads: 10 000 record sets (Route 53's default quota per hosted
/// zone) at the smallest useful page size, with room for a raised quota.
pub const MAX_PAGES: usize = 100_000;

impl Span {
    /// A walk over the record sets at exactly `names` (in any order, repeats ignored).
    pub fn new(names: &[Fqdn], walk: Walk) -> Self {
        let mut names: Vec<Wanted> = names
            .iter()
            .map(|n| Wanted {
                name: n.clone(),
                key: reversed(n.as_str()),
                done: false,
            })
            .collect();
        names.sort_by(|a, b| a.key.cmp(&b.key));
        names.dedup_by(|a, b| a.key == b.key);
        Self {
            names,
            run_from: String::new(),
            out: Vec::new(),
            seen: HashSet::new(),
            pages: 0,
            jumps: walk == Walk::Jump,
        }
    }

    /// The first request, or `None` when there is nothing to list.
    pub fn start(&mut self) -> Option<ListFrom> {
        self.jump(None)
    }

    /// Takes one page (`sets` in listing order; `next`: where the following page starts;
    /// `truncated`: whether there is one) and returns the next request, or `None` when every
    /// name is read.
    pub fn page(
        &mut self,
        sets: Vec<RecordSet>,
        next: Option<ListFrom>,
        truncated: bool,
    ) -> Result<Option<ListFrom>, ListingError> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(ListingError::TooManyPages(MAX_PAGES));
        }
        let mut fresh = 0usize;
        for set in sets {
            if !self.seen.insert(set.key()) {
                continue;
            }
            fresh += 1;
            self.pass(&reversed(set.name.as_str()));
            // Kept whatever the order said: an emulator may sort names its own way.
            if self.names.iter().any(|n| n.name == set.name) {
                self.out.push(set);
            }
        }
        if !self.jumps && fresh == 0 && !truncated {
            // Nothing at or after the run's first name: Route 53 says the zone ends, an emulator
            // that starts only at exact names says that name is empty. Take the second: that
            // name is read, the next is asked for (one request per absent name at most).
            let from = self.run_from.clone();
            if let Some(n) = self.names.iter_mut().find(|n| n.key == from) {
                n.done = true;
            }
            return Ok(self.jump(None));
        }
        if !truncated {
            // The zone ends here: every name at or after this run's start is read.
            let from = self.run_from.clone();
            for n in self.names.iter_mut().filter(|n| n.key >= from) {
                n.done = true;
            }
            return Ok(self.jump(None));
        }
        let next = next.ok_or(ListingError::NoNextName)?;
        if fresh == 0 {
            return Err(ListingError::NoProgress(next.name));
        }
        let next_key = reversed(&next.name);
        self.pass(&next_key);
        if self.names.iter().all(|n| n.done) {
            return Ok(None);
        }
        // The next page starts at a wanted name (the rest of one, or the next one), or this walk
        // does not jump: follow it. Otherwise it starts in a gap: jump over it.
        if !self.jumps || self.names.iter().any(|n| !n.done && n.key == next_key) {
            return Ok(Some(next));
        }
        Ok(self.jump(Some(&next_key)))
    }

    /// The record sets read at the names, in listing order.
    pub fn finish(self) -> Vec<RecordSet> {
        self.out
    }

    /// Marks the names the run has passed at `key`: one that sorts before `key` and at or after
    /// the run's start is read (its sets, if any, came before).
    fn pass(&mut self, key: &str) {
        for n in &mut self.names {
            if !n.done && n.key.as_str() >= self.run_from.as_str() && n.key.as_str() < key {
                n.done = true;
            }
        }
    }

    /// Starts a new run at the first unread name after `after` (else the first unread one).
    fn jump(&mut self, after: Option<&str>) -> Option<ListFrom> {
        let unread = |n: &&Wanted| !n.done;
        let name = after
            .and_then(|a| {
                self.names
                    .iter()
                    .filter(unread)
                    .find(|n| n.key.as_str() > a)
            })
            .or_else(|| self.names.iter().find(unread))?;
        self.run_from = name.key.clone();
        Some(ListFrom::at(&name.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RrType;

    fn set(name: &str) -> RecordSet {
        RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: RrType::Txt,
            set_identifier: None,
            weight: None,
            ttl: Some(60),
            values: vec!["\"x\"".into()],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        }
    }

    /// A zone's listing served `page` sets at a time; returns what the walk read and how many
    /// requests it made.
    fn walk(zone: &[&str], roots: &[&str], page: usize) -> (Vec<String>, usize) {
        let mut sets: Vec<RecordSet> = zone.iter().map(|n| set(n)).collect();
        sets.sort_by_key(|s| reversed(s.name.as_str()));
        let roots: Vec<Fqdn> = roots.iter().map(|r| Fqdn::parse(r).unwrap()).collect();
        let mut span = Span::new(&roots, Walk::Jump);
        let mut requests = 0;
        let mut from = span.start();
        while let Some(f) = from {
            requests += 1;
            let start = sets
                .iter()
                .position(|s| reversed(s.name.as_str()) >= reversed(&f.name))
                .unwrap_or(sets.len());
            let end = (start + page).min(sets.len());
            let next = sets.get(end).map(|s| ListFrom::at(&s.name));
            from = span
                .page(sets[start..end].to_vec(), next, end < sets.len())
                .unwrap();
            assert!(requests < 100, "the walk does not end");
        }
        let read = span
            .finish()
            .iter()
            .map(|s| s.name.without_dot().to_owned())
            .collect();
        (read, requests)
    }

    const ZONE: &[&str] = &[
        "lab.test",
        "a.lab.test",
        "edge.lab.test",
        "_wavelb.edge.lab.test",
        "_wavelb-leader.edge.lab.test",
        "b.lab.test",
        "c.lab.test",
        "d.lab.test",
        "e.lab.test",
        "f.lab.test",
        "edge.bos.lab.test",
        "_wavelb.edge.bos.lab.test",
        "x.edge.bos.lab.test",
        "edge.nyc.lab.test",
        "_wavelb.edge.nyc.lab.test",
        "_wavelb-health.edge.nyc.lab.test",
        "zzz.lab.test",
    ];

    /// A pool's names (address, ownership, lease, health) and the tier's.
    fn names(pools: &[&str]) -> Vec<String> {
        pools
            .iter()
            .flat_map(|p| {
                ["", "_wavelb.", "_wavelb-leader.", "_wavelb-health."].map(|l| format!("{l}{p}"))
            })
            .collect()
    }

    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    #[test]
    fn only_the_wanted_names_are_read_and_one_page_is_one_request() {
        let wanted = names(&["edge.lab.test", "edge.nyc.lab.test"]);
        let (read, requests) = walk(ZONE, &refs(&wanted), 300);
        assert_eq!(
            read,
            [
                "edge.lab.test",
                "_wavelb-leader.edge.lab.test",
                "_wavelb.edge.lab.test",
                "edge.nyc.lab.test",
                "_wavelb-health.edge.nyc.lab.test",
                "_wavelb.edge.nyc.lab.test",
            ]
        );
        assert_eq!(requests, 1);
        // A name's subtree is not read: the apex alone is its SOA and NS, not the zone.
        let (read, _) = walk(ZONE, &["lab.test"], 300);
        assert_eq!(read, ["lab.test"]);
    }

    #[test]
    fn a_gap_at_a_page_boundary_is_jumped_over() {
        // Pages of two: where a page ends before a gap of other names (c … f.lab.test between
        // the tier's names and nyc's), the walk jumps to the next wanted name instead of paging
        // through the gap.
        let wanted = names(&["edge.lab.test", "edge.bos.lab.test", "edge.nyc.lab.test"]);
        let (read, requests) = walk(ZONE, &refs(&wanted), 2);
        assert_eq!(read.len(), 8, "{read:?}");
        assert!(!read.iter().any(|n| n.starts_with("x.")), "{read:?}");
        // Following every page would take ten requests from edge.lab.test to the end.
        assert!(requests <= 6, "{requests} requests");
    }

    #[test]
    fn every_name_is_read_whole_whatever_the_page_size_and_order() {
        let mut wanted = names(&[
            "edge.nyc.lab.test",
            "a.lab.test",
            "edge.lab.test",
            "nope.lab.test",
        ]);
        let (full, _) = walk(ZONE, &refs(&wanted), 1000);
        assert_eq!(full.len(), 7, "{full:?}");
        wanted.reverse();
        for page in 1..=12 {
            let (read, requests) = walk(ZONE, &refs(&wanted), page);
            assert_eq!(read, full, "page size {page}");
            assert!(requests <= ZONE.len() + wanted.len(), "page size {page}");
            // Never more than following every page from the first name.
            let first = ZONE
                .iter()
                .filter(|n| reversed(n) >= reversed("a.lab.test"))
                .count();
            assert!(
                requests <= first.div_ceil(page) + 1,
                "page size {page}: {requests}"
            );
        }
        // Names with nothing at them end the walk too.
        assert_eq!(walk(ZONE, &["nope.lab.test"], 3).0.len(), 0);
    }

    #[test]
    fn a_weighted_group_over_several_pages_is_read_whole() {
        // One name, a hundred sets (a pool's A group), pages of seven.
        let mut sets: Vec<RecordSet> = (0..100)
            .map(|i| RecordSet {
                set_identifier: Some(format!("i-{i:03}")),
                ..set("www.lab.test")
            })
            .collect();
        sets.push(set("a.lab.test"));
        sets.push(set("zz.lab.test"));
        sets.sort_by_key(|s| (reversed(s.name.as_str()), s.set_identifier.clone()));
        let mut span = Span::new(&[Fqdn::parse("www.lab.test").unwrap()], Walk::Jump);
        let mut from = span.start();
        let mut requests = 0;
        while let Some(f) = from {
            requests += 1;
            let key = |s: &RecordSet| {
                (
                    reversed(s.name.as_str()),
                    s.set_identifier.clone().unwrap_or_default(),
                )
            };
            let at = sets.partition_point(|s| {
                key(s) < (reversed(&f.name), f.identifier.clone().unwrap_or_default())
            });
            let end = (at + 7).min(sets.len());
            let next = sets.get(end).map(|s| ListFrom {
                name: s.name.as_str().to_owned(),
                rtype: Some(s.rtype.to_string()),
                identifier: s.set_identifier.clone(),
            });
            from = span
                .page(sets[at..end].to_vec(), next, end < sets.len())
                .unwrap();
        }
        assert_eq!(span.finish().len(), 100);
        assert_eq!(requests, 15);
    }

    #[test]
    fn a_page_with_nothing_new_is_an_error_not_a_loop() {
        let mut span = Span::new(&[Fqdn::parse("lab.test").unwrap()], Walk::Follow);
        let from = span.start().unwrap();
        let page = vec![set("a.lab.test")];
        assert!(span.page(page.clone(), Some(from.clone()), true).is_ok());
        assert_eq!(
            span.page(page, Some(from), true),
            Err(ListingError::NoProgress("lab.test.".into()))
        );
    }

    /// moto (and so LocalStack) answers a start name that does not exist with an empty page
    /// and sorts `_wavelb` before `_wavelb-leader`: a following walk from the first name reads
    /// every wanted set in whatever order it comes.
    #[test]
    fn a_following_walk_reads_an_emulators_order() {
        let zone = [
            "lab.test",
            "www.lab.test",
            "0c1.www.lab.test",
            "0c2.www.lab.test",
            "0c3.www.lab.test",
            "_wavelb.www.lab.test",
            "_wavelb-leader.www.lab.test",
            "zz.lab.test",
        ];
        let sets: Vec<RecordSet> = zone.iter().map(|n| set(n)).collect();
        let wanted: Vec<Fqdn> = [
            "www.lab.test",
            "_wavelb.www.lab.test",
            "_wavelb-leader.www.lab.test",
        ]
        .iter()
        .map(|n| Fqdn::parse(n).unwrap())
        .collect();
        for page in 1..=4 {
            let mut span = Span::new(&wanted, Walk::Follow);
            let mut from = span.start();
            let mut requests = 0;
            while let Some(f) = from {
                requests += 1;
                assert!(requests < 20);
                // Starts only at an exact name, in moto's order.
                let at = sets.iter().position(|s| s.name.as_str() == f.name).unwrap();
                let end = (at + page).min(sets.len());
                let next = sets.get(end).map(|s| ListFrom::at(&s.name));
                from = span
                    .page(sets[at..end].to_vec(), next, end < sets.len())
                    .unwrap();
            }
            let read: Vec<String> = span
                .finish()
                .iter()
                .map(|s| s.name.without_dot().to_owned())
                .collect();
            assert_eq!(
                read,
                [
                    "www.lab.test",
                    "_wavelb.www.lab.test",
                    "_wavelb-leader.www.lab.test"
                ],
                "pages of {page}"
            );
        }
    }

    /// Review finding: a pool whose address name holds nothing (its last target collected) but
    /// whose ownership records remain; moto answers the walk's first request, at that name,
    /// with an empty page. The walk asks for the next name instead of stopping.
    #[test]
    fn an_emulators_empty_answer_at_an_empty_name_moves_to_the_next() {
        let sets: Vec<RecordSet> = ["lab.test", "_wavelb.www.lab.test", "zz.lab.test"]
            .iter()
            .map(|n| set(n))
            .collect();
        let wanted: Vec<Fqdn> = ["www.lab.test", "_wavelb.www.lab.test"]
            .iter()
            .map(|n| Fqdn::parse(n).unwrap())
            .collect();
        let mut span = Span::new(&wanted, Walk::Follow);
        let mut from = span.start();
        let mut requests = 0;
        while let Some(f) = from {
            requests += 1;
            assert!(requests < 10);
            let page = match sets.iter().position(|s| s.name.as_str() == f.name) {
                Some(at) => sets[at..].to_vec(),
                None => Vec::new(),
            };
            from = span.page(page, None, false).unwrap();
        }
        let read: Vec<String> = span
            .finish()
            .iter()
            .map(|s| s.name.without_dot().to_owned())
            .collect();
        assert_eq!(read, ["_wavelb.www.lab.test"]);
        assert_eq!(requests, 2);
    }
}
