//! The XML of changes: the ChangeResourceRecordSets request (each change's record set parsed by
//! `record_sets`' XML) and the `<ChangeInfo>` every operation that changes the store answers with.

use registry::model::{Action, Change};

use super::ChangeRecord;
use crate::record_sets::xml::parse_record_set;
use crate::xml::{XmlError, child, esc, expect_root, parse_doc, text, timestamp};

/// A parsed ChangeResourceRecordSets request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeBatch {
    /// The changes.
    pub changes: Vec<Change>,
    /// The batch comment.
    pub comment: Option<String>,
}

/// Parses `ChangeResourceRecordSetsRequest`.
pub fn parse_change_batch(body: &str) -> Result<ChangeBatch, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "ChangeResourceRecordSetsRequest")?;
    let batch = child(root, "ChangeBatch")
        .ok_or_else(|| XmlError("the request lacks ChangeBatch".into()))?;
    let comment = text(batch, "Comment").filter(|c| !c.is_empty());
    let list =
        child(batch, "Changes").ok_or_else(|| XmlError("ChangeBatch lacks Changes".into()))?;
    let mut changes = Vec::new();
    for (i, c) in list.children().filter(|c| c.is_element()).enumerate() {
        let at = |what: &str| XmlError(format!("change {} {what}", i + 1));
        let action = match text(c, "Action").as_deref() {
            Some("CREATE") => Action::Create,
            Some("DELETE") => Action::Delete,
            Some("UPSERT") => Action::Upsert,
            Some(other) => {
                return Err(at(&format!(
                    "has Action {other:?}; expected CREATE, DELETE or UPSERT"
                )));
            }
            None => return Err(at("lacks Action")),
        };
        let rrs = child(c, "ResourceRecordSet").ok_or_else(|| at("lacks ResourceRecordSet"))?;
        changes.push(Change {
            action,
            record_set: parse_record_set(rrs).map_err(|e| at(&e.to_string()))?,
        });
    }
    Ok(ChangeBatch { changes, comment })
}

/// `<ChangeInfo>` with the status as of now.
pub fn change_info(change: &ChangeRecord, insync: bool) -> String {
    let comment = change
        .comment
        .as_ref()
        .map(|c| format!("<Comment>{}</Comment>", esc(c)))
        .unwrap_or_default();
    format!(
        "<ChangeInfo><Id>/change/{}</Id><Status>{}</Status><SubmittedAt>{}</SubmittedAt>{comment}</ChangeInfo>",
        change.id,
        if insync { "INSYNC" } else { "PENDING" },
        timestamp(change.submitted_at_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_sets::xml::record_set;

    #[test]
    fn parses_a_change_batch_like_the_sdk_sends() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Comment>c</Comment><Changes><Change><Action>DELETE</Action><ResourceRecordSet><Name>www.lab.test.</Name><Type>A</Type><SetIdentifier>i-1</SetIdentifier><Weight>10</Weight><TTL>30</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change><Change><Action>CREATE</Action><ResourceRecordSet><Name>x.lab.test</Name><Type>A</Type><SetIdentifier>bos</SetIdentifier><AliasTarget><HostedZoneId>Z</HostedZoneId><DNSName>y.lab.test</DNSName><EvaluateTargetHealth>true</EvaluateTargetHealth></AliasTarget><GeoProximityLocation><Coordinates><Latitude>42.36</Latitude><Longitude>-71.06</Longitude></Coordinates><Bias>-5</Bias></GeoProximityLocation></ResourceRecordSet></Change><Change><Action>CREATE</Action><ResourceRecordSet><Name>z.lab.test</Name><Type>A</Type><Failover>PRIMARY</Failover></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#;
        let b = parse_change_batch(body).unwrap();
        assert_eq!(b.comment.as_deref(), Some("c"));
        assert_eq!(b.changes.len(), 3);
        let first = &b.changes[0];
        assert_eq!(first.action, Action::Delete);
        assert_eq!(first.record_set.weight, Some(10));
        assert_eq!(first.record_set.values, ["192.0.2.1"]);
        let geo = &b.changes[1].record_set;
        let alias = geo.alias.as_ref().unwrap();
        assert_eq!(
            (alias.hosted_zone_id.as_str(), alias.dns_name.as_str()),
            ("Z", "y.lab.test.")
        );
        assert!(alias.evaluate_target_health);
        let g = geo.geo.as_ref().unwrap();
        assert_eq!(
            g.coordinates,
            Some(("42.36".to_owned(), "-71.06".to_owned()))
        );
        assert_eq!((g.bias, g.aws_region.as_ref()), (Some(-5), None));
        assert_eq!(geo.opaque, None);
        // Written back as listed, it parses to the same set.
        let listed = format!(
            "<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action>{}</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
            record_set(geo)
        );
        assert_eq!(
            parse_change_batch(&listed).unwrap().changes[0].record_set,
            *geo
        );
        assert_eq!(
            b.changes[2].record_set.opaque.as_deref(),
            Some("failover routing")
        );
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        assert!(
            parse_change_batch("<nope")
                .unwrap_err()
                .0
                .contains("not well-formed")
        );
        assert!(
            parse_change_batch("<Other/>")
                .unwrap_err()
                .0
                .contains("expected a ChangeResourceRecordSetsRequest")
        );
        let no_action = "<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><ResourceRecordSet/></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>";
        assert_eq!(
            parse_change_batch(no_action).unwrap_err().0,
            "change 1 lacks Action"
        );
        let bad_ttl = "<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>a.b</Name><Type>A</Type><TTL>-1</TTL></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>";
        assert!(
            parse_change_batch(bad_ttl)
                .unwrap_err()
                .0
                .contains("TTL -1")
        );
        let bad_type = bad_ttl.replace("<Type>A</Type><TTL>-1", "<Type>a</Type><TTL>1");
        assert_eq!(
            parse_change_batch(&bad_type).unwrap_err().0,
            "change 1 has Type \"a\", not a Route 53 record type"
        );
    }

    #[test]
    fn the_sdk_request_shapes_pass_the_scan() {
        let batch = r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>a.lab.test</Name><Type>A</Type><TTL>30</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#;
        assert_eq!(parse_change_batch(batch).map(|b| b.changes.len()), Ok(1));
    }
}
