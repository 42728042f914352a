//! The XML of hosted zones: the CreateHostedZone request, and the `<HostedZone>` and
//! `<DelegationSet>` elements the zone operations answer with.

use super::HostedZone;
use crate::xml::{XmlError, child, esc, expect_root, parse_doc, text};

/// A parsed CreateHostedZone request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateZone {
    /// The zone name.
    pub name: String,
    /// The idempotency token.
    pub caller_reference: String,
    /// The comment.
    pub comment: Option<String>,
    /// True when a private zone (with a VPC) was asked for.
    pub private: bool,
}

/// Parses `CreateHostedZoneRequest`.
pub fn parse_create_zone(body: &str) -> Result<CreateZone, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "CreateHostedZoneRequest")?;
    let name =
        text(root, "Name").ok_or_else(|| XmlError("CreateHostedZoneRequest lacks Name".into()))?;
    let caller_reference = text(root, "CallerReference")
        .ok_or_else(|| XmlError("CreateHostedZoneRequest lacks CallerReference".into()))?;
    let config = child(root, "HostedZoneConfig");
    let comment = config
        .and_then(|c| text(c, "Comment"))
        .filter(|c| !c.is_empty());
    let private = config.and_then(|c| text(c, "PrivateZone")).as_deref() == Some("true")
        || child(root, "VPC").is_some();
    Ok(CreateZone {
        name,
        caller_reference,
        comment,
        private,
    })
}

/// `<HostedZone>`.
pub fn hosted_zone(zone: &HostedZone) -> String {
    let comment = zone
        .comment
        .as_ref()
        .map(|c| format!("<Comment>{}</Comment>", esc(c)))
        .unwrap_or_default();
    format!(
        "<HostedZone><Id>/hostedzone/{}</Id><Name>{}</Name><CallerReference>{}</CallerReference><Config>{comment}<PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>{}</ResourceRecordSetCount></HostedZone>",
        zone.id,
        esc(zone.name.as_str()),
        esc(&zone.caller_reference),
        zone.records.len()
    )
}

/// `<DelegationSet>`.
pub fn delegation_set(zone: &HostedZone) -> String {
    let servers: String = zone
        .name_servers()
        .iter()
        .map(|n| format!("<NameServer>{}</NameServer>", esc(n)))
        .collect();
    format!("<DelegationSet><NameServers>{servers}</NameServers></DelegationSet>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_create_request_passes_the_scan() {
        let zone = r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>z.test</Name><CallerReference>r</CallerReference><HostedZoneConfig><Comment>c</Comment></HostedZoneConfig></CreateHostedZoneRequest>"#;
        assert_eq!(
            parse_create_zone(zone).map(|z| z.comment),
            Ok(Some("c".into()))
        );
    }
}
