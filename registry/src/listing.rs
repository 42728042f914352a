//! One pass over a hosted zone's listing for several names at once ([`Span`], pure): the health
//! controller reads all its pools, their ownership, lease and health names, and its zone tier
//! with one `ListResourceRecordSets` walk per round, not one per pool.
//!
//! Route 53 lists record sets by name with labels reversed (`com.example.www.`), compared as
//! ASCII ([`reversed`]), so every name's subtree is one contiguous run. The walk starts at the
//! first root in that order and follows the pages while they stay inside a root or reach the
//! next root; where a gap of other records begins at a page boundary, it jumps to the next root
//! with a new request instead of paging through the gap. Roots adjacent in the zone's order (a
//! tier and its pools under one parent, with nothing else between) cost the pages they fill and
//! nothing more. Correctness does not rest on the order being exactly Route 53's: a root is
//! complete only once a contiguous run of pages entered and left it, or passed where it would
//! be; any other root is listed from its own name.

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
    /// `StartRecordType`.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Inside,
    Done,
}

#[derive(Debug)]
struct Root {
    name: Fqdn,
    key: String,
    state: State,
}

/// A walk over the listing for a set of names and everything below them: feed it the pages it
/// asks for ([`Span::start`], then [`Span::page`] until it returns `None`), then take the
/// record sets ([`Span::finish`]).
#[derive(Debug)]
pub struct Span {
    roots: Vec<Root>,
    /// The reversed key where the current contiguous run of pages began.
    run_from: String,
    out: Vec<RecordSet>,
    seen: HashSet<RecordKey>,
    pages: usize,
}

/// The most pages one walk reads: 10 000 record sets (Route 53's default quota per hosted
/// zone) at the smallest useful page size, with room for a raised quota.
pub const MAX_PAGES: usize = 100_000;

impl Span {
    /// A walk over `roots` and their subtrees (a root inside another is covered by it).
    pub fn new(roots: &[Fqdn]) -> Self {
        let mut roots: Vec<Root> = roots
            .iter()
            .filter(|r| !roots.iter().any(|o| o != *r && r.is_within(o)))
            .map(|r| Root {
                name: r.clone(),
                key: reversed(r.as_str()),
                state: State::Waiting,
            })
            .collect();
        roots.sort_by(|a, b| a.key.cmp(&b.key));
        roots.dedup_by(|a, b| a.key == b.key);
        Self {
            roots,
            run_from: String::new(),
            out: Vec::new(),
            seen: HashSet::new(),
            pages: 0,
        }
    }

    /// The first request, or `None` when there is nothing to list.
    pub fn start(&mut self) -> Option<ListFrom> {
        self.jump(None)
    }

    /// Takes one page (`sets` in listing order; `next`: where the following page starts, `None`
    /// at the zone's end) and returns the next request, or `None` when every root is read.
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
        let mut last_key = None;
        for set in sets {
            if !self.seen.insert(set.key()) {
                continue;
            }
            fresh += 1;
            let key = reversed(set.name.as_str());
            self.pass(&key);
            if let Some(root) = self
                .roots
                .iter_mut()
                .find(|r| r.state != State::Done && set.name.is_within(&r.name))
            {
                root.state = State::Inside;
                self.out.push(set);
            }
            last_key = Some(key);
        }
        if self.roots.iter().all(|r| r.state == State::Done) {
            return Ok(None);
        }
        if !truncated {
            // The zone ends here: every root at or after this run's start is complete.
            let from = self.run_from.clone();
            for r in self.roots.iter_mut().filter(|r| r.key >= from) {
                r.state = State::Done;
            }
            return Ok(self.jump(None));
        }
        let next = next.ok_or(ListingError::NoNextName)?;
        if fresh == 0 {
            return Err(ListingError::NoProgress(next.name));
        }
        let next_key = reversed(&next.name);
        // Inside a root, or the next page starts at or before the next root: follow the pages.
        let inside = self.roots.iter().any(|r| r.state == State::Inside);
        let ahead = self
            .roots
            .iter()
            .filter(|r| r.state == State::Waiting && Some(&r.key) >= last_key.as_ref())
            .map(|r| r.key.as_str())
            .min();
        if inside || ahead.is_some_and(|k| next_key.as_str() <= k || next_key.starts_with(k)) {
            return Ok(Some(next));
        }
        Ok(self.jump(last_key.as_deref()))
    }

    /// The record sets read inside the roots, in listing order.
    pub fn finish(self) -> Vec<RecordSet> {
        self.out
    }

    /// Marks the roots the run has passed at `key`: a root whose subtree lies wholly before
    /// `key` and at or after the run's start is complete (left, or empty).
    fn pass(&mut self, key: &str) {
        for r in &mut self.roots {
            if r.state != State::Done
                && r.key.as_str() >= self.run_from.as_str()
                && r.key.as_str() < key
                && !key.starts_with(r.key.as_str())
            {
                r.state = State::Done;
            }
        }
    }

    /// Starts a new run at the first waiting root after `after` (else the first waiting one).
    fn jump(&mut self, after: Option<&str>) -> Option<ListFrom> {
        let waiting = |r: &&Root| r.state == State::Waiting;
        let root = after
            .and_then(|a| {
                self.roots
                    .iter()
                    .filter(waiting)
                    .find(|r| r.key.as_str() > a)
            })
            .or_else(|| self.roots.iter().find(waiting))?;
        self.run_from = root.key.clone();
        Some(ListFrom::at(&root.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str) -> RecordSet {
        RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: "TXT".into(),
            set_identifier: None,
            weight: None,
            ttl: Some(60),
            values: vec!["\"x\"".into()],
            alias: None,
            geo: None,
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
        let mut span = Span::new(&roots);
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
        "edge.bos.lab.test",
        "_wavelb.edge.bos.lab.test",
        "edge.nyc.lab.test",
        "_wavelb.edge.nyc.lab.test",
        "_wavelb-health.edge.nyc.lab.test",
        "zzz.lab.test",
    ];

    #[test]
    fn roots_far_apart_in_the_order_cost_one_request_each_and_nothing_else_is_read() {
        let (read, requests) = walk(ZONE, &["edge.lab.test", "edge.nyc.lab.test"], 300);
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
        assert_eq!(read.len(), 6);
        assert!(
            !read
                .iter()
                .any(|n| n.contains("bos") || n == "zzz.lab.test")
        );
        // One page of 300 holds the whole zone: the walk reads it once.
        assert_eq!(requests, 1);
    }

    #[test]
    fn a_gap_at_a_page_boundary_is_jumped_over_and_adjacent_roots_share_pages() {
        // Pages of two: the walk follows edge.lab.test's run, then jumps over the gap to the
        // pools, which are adjacent and read as one run.
        let roots = ["edge.lab.test", "edge.bos.lab.test", "edge.nyc.lab.test"];
        let (read, requests) = walk(ZONE, &roots, 2);
        assert_eq!(read.len(), 8, "{read:?}");
        let per_root_walks: usize = roots.iter().map(|r| walk(ZONE, &[r], 2).1).sum();
        assert!(
            requests <= per_root_walks,
            "{requests} requests, {per_root_walks} one root at a time"
        );
    }

    #[test]
    fn every_root_is_read_whole_whatever_the_page_size() {
        let roots = [
            "edge.nyc.lab.test",
            "a.lab.test",
            "edge.lab.test",
            "nope.lab.test",
        ];
        let (full, _) = walk(ZONE, &roots, 1000);
        for page in 1..=12 {
            let (read, requests) = walk(ZONE, &roots, page);
            assert_eq!(read, full, "page size {page}");
            assert!(requests <= ZONE.len() + roots.len(), "page size {page}");
        }
        // A root with nothing below it ends the walk too.
        assert_eq!(walk(ZONE, &["nope.lab.test"], 3).0.len(), 0);
    }

    #[test]
    fn a_root_inside_another_is_read_once() {
        let (read, _) = walk(ZONE, &["lab.test", "edge.lab.test"], 4);
        assert_eq!(read.len(), ZONE.len());
    }

    #[test]
    fn a_page_with_nothing_new_is_an_error_not_a_loop() {
        let mut span = Span::new(&[Fqdn::parse("lab.test").unwrap()]);
        let from = span.start().unwrap();
        let page = vec![set("a.lab.test")];
        assert!(span.page(page.clone(), Some(from.clone()), true).is_ok());
        assert_eq!(
            span.page(page, Some(from), true),
            Err(ListingError::NoProgress("lab.test.".into()))
        );
    }
}
