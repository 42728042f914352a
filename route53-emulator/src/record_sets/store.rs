//! The store's record sets as ListResourceRecordSets reads them: a page of a zone in Route 53's
//! listing order, from where the last page stopped.

use registry::model::RecordSet;
use registry::name::Fqdn;

use super::{ListFrom, ListingKey, NextRecord, Page, listing_key, reversed};
use crate::zones::HostedZone;

/// Lists from `from` (the start of the zone when `None`) in Route 53's order, at most
/// `max_items`. Linear in the zone's size (one key per set, then a selection of the page):
/// health controllers list their pools every few seconds, and a lab zone can hold thousands of
/// pools.
pub fn list_page<'a>(
    zone: &'a HostedZone,
    from: Option<ListFrom<'_>>,
    max_items: usize,
) -> Page<'a> {
    let start = from.map(|from| ListingKey {
        reversed_name: reversed(&Fqdn::from_api(from.name).to_string()),
        rtype: from.rtype.unwrap_or("").to_owned(),
        set_identifier: from.identifier.unwrap_or("").to_owned(),
    });
    let mut rest: Vec<(ListingKey, &RecordSet)> = zone
        .records
        .sets()
        .map(|s| (listing_key(s), s))
        .filter(|(k, _)| start.as_ref().is_none_or(|st| k >= st))
        .collect();
    // The page and the first set after it, without sorting the whole zone.
    let want = max_items + 1;
    if rest.len() > want {
        rest.select_nth_unstable_by(want - 1, |a, b| a.0.cmp(&b.0));
        rest.truncate(want);
    }
    rest.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let next = rest.get(max_items).map(|(_, n)| NextRecord {
        name: n.name.to_string(),
        rtype: n.rtype.to_string(),
        identifier: n.set_identifier.clone(),
    });
    let sets: Vec<&RecordSet> = rest.iter().take(max_items).map(|(_, s)| *s).collect();
    Page { sets, next }
}

#[cfg(test)]
mod tests {
    use registry::model::Change;

    use super::*;
    use crate::store::Store;
    use crate::store::tests::a;

    #[test]
    fn listing_order_and_pages_resume_inside_weighted_groups() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "r", None, 0).unwrap();
        let mut changes: Vec<Change> = (0..5)
            .map(|i| Change::create(a("www.lab.test", &format!("s{i}"), 1)))
            .collect();
        changes.push(Change::create(a("a.www.lab.test", "q", 1)));
        changes.push(Change::create(a("b.lab.test", "q", 1)));
        s.change(&zone.id, &changes, None, 1).unwrap();
        let zone = s.zone(&zone.id).unwrap();
        let names = |p: &Page<'_>| {
            p.sets
                .iter()
                .map(|s| {
                    format!(
                        "{} {}",
                        s.name,
                        s.set_identifier.clone().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
        };
        let all = list_page(zone, None, 100);
        assert_eq!(
            names(&all),
            [
                "lab.test. ",
                "lab.test. ",
                "b.lab.test. q",
                "www.lab.test. s0",
                "www.lab.test. s1",
                "www.lab.test. s2",
                "www.lab.test. s3",
                "www.lab.test. s4",
                "a.www.lab.test. q"
            ]
        );
        let p1 = list_page(
            zone,
            Some(ListFrom {
                name: "www.lab.test",
                rtype: None,
                identifier: None,
            }),
            2,
        );
        assert_eq!(names(&p1), ["www.lab.test. s0", "www.lab.test. s1"]);
        let next = p1.next.clone().unwrap();
        assert_eq!(
            next.start(),
            ListFrom {
                name: "www.lab.test.",
                rtype: Some("A"),
                identifier: Some("s2")
            }
        );
        let p2 = list_page(zone, Some(next.start()), 2);
        assert_eq!(names(&p2), ["www.lab.test. s2", "www.lab.test. s3"]);
    }

    #[test]
    fn names_sort_as_route53_does_reversed_with_the_trailing_dot_in_ascii() {
        assert_eq!(reversed("www.example.com."), "com.example.www.");
        assert_eq!(reversed("www.example.com"), "com.example.www.");
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "ref-1", None, 0).unwrap();
        // Inserted out of order; '-' (45) < '.' (46) < '0' (48) < '_' (95) < 'a' (97).
        let names = [
            "a0.lab.test",
            "b.a.lab.test",
            "_x.a.lab.test",
            "a.lab.test",
            "a-b.lab.test",
            "www-2.lab.test",
            "_wavelb.www.lab.test",
            "www.lab.test",
        ];
        let changes: Vec<Change> = names.iter().map(|n| Change::create(a(n, "s", 1))).collect();
        s.change(&zone.id, &changes, None, 1).unwrap();
        let zone = s.zone(&zone.id).unwrap();
        let listed: Vec<String> = list_page(
            zone,
            Some(ListFrom {
                name: "a-b.lab.test",
                rtype: None,
                identifier: None,
            }),
            100,
        )
        .sets
        .iter()
        .map(|s| s.name.to_string())
        .collect();
        assert_eq!(
            listed,
            [
                "a-b.lab.test.",
                "a.lab.test.",
                "_x.a.lab.test.",
                "b.a.lab.test.",
                "a0.lab.test.",
                "www-2.lab.test.",
                "www.lab.test.",
                "_wavelb.www.lab.test.",
            ]
        );
        // A name's subtree follows it without a gap, so a listing from the pool name stops at
        // the first name outside it.
        let from_www: Vec<String> = list_page(
            zone,
            Some(ListFrom {
                name: "www.lab.test",
                rtype: None,
                identifier: None,
            }),
            2,
        )
        .sets
        .iter()
        .map(|s| s.name.to_string())
        .collect();
        assert_eq!(from_www, ["www.lab.test.", "_wavelb.www.lab.test."]);
    }

    #[test]
    fn paging_through_a_large_zone_visits_every_set_once_in_order() {
        let mut s = Store::default();
        let (zone, _) = s.create_zone("lab.test", "ref-1", None, 0).unwrap();
        // Names, types and identifiers whose insertion order is not the listing order.
        let changes: Vec<Change> = (0..600)
            .map(|i| {
                let name = format!("p{}.lab.test", (i * 37) % 13);
                Change::create(a(&name, &format!("t{:03}", (i * 101) % 600), 1))
            })
            .collect();
        s.change(&zone.id, &changes, None, 1).unwrap();
        let zone = s.zone(&zone.id).unwrap();
        let mut expected: Vec<&RecordSet> = zone.records.sets().collect();
        expected.sort_by_key(|s| listing_key(s));
        let mut got = Vec::new();
        let mut at: Option<NextRecord> = None;
        loop {
            let page = list_page(zone, at.as_ref().map(NextRecord::start), 7);
            assert!(page.sets.len() <= 7);
            got.extend(page.sets);
            match page.next {
                Some(next) => at = Some(next),
                None => break,
            }
        }
        assert_eq!(got.len(), expected.len());
        assert!(got.iter().zip(&expected).all(|(a, b)| std::ptr::eq(*a, *b)));
    }
}
