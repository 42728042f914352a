//! The XML of record sets: the `<ResourceRecordSet>` element, parsed (each change of a
//! ChangeResourceRecordSets request) and written (ListResourceRecordSets).

use registry::model::{AliasTarget, CidrRouting, GeoProximity, RecordSet, RrType};
use registry::name::{Fqdn, NameError};
use roxmltree::Node;

use crate::xml::{child, esc, text};

/// Why a `ResourceRecordSet` element does not parse (after `Change N `, which the caller adds).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordSetError {
    /// A required element is missing.
    #[error("lacks {0}")]
    Lacks(&'static str),
    /// `Name` is not a domain name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A number that is not an integer (`TTL`, `Weight`, `Bias`).
    #[error("has {key} {value:?}, not an integer")]
    NotInteger { key: &'static str, value: String },
    /// `TTL` out of Route 53's range.
    #[error("has TTL {0}; allowed 0-2147483647")]
    Ttl(i64),
    /// `AliasTarget` without one of its elements.
    #[error("has an AliasTarget without {0}")]
    AliasLacks(&'static str),
    /// `EvaluateTargetHealth` that is not a boolean.
    #[error("has EvaluateTargetHealth {0:?}; expected true or false")]
    EvaluateTargetHealth(String),
    /// `AliasTarget`'s `DNSName` is not a domain name.
    #[error("has AliasTarget DNSName: {0}")]
    AliasName(NameError),
    /// `Coordinates` without one of its elements.
    #[error("has Coordinates without {0}")]
    CoordinatesLack(&'static str),
    /// `Type` that is not a Route 53 record type.
    #[error("has Type {0:?}, not a Route 53 record type")]
    Type(String),
    /// `MultiValueAnswer` that is not a boolean.
    #[error("has MultiValueAnswer {0:?}; expected true or false")]
    MultiValueAnswer(String),
    /// `CidrRoutingConfig` without one of its elements.
    #[error("has a CidrRoutingConfig without {0}")]
    CidrLacks(&'static str),
}

fn integer(key: &'static str, value: String) -> Result<i64, RecordSetError> {
    value
        .parse::<i64>()
        .map_err(|_| RecordSetError::NotInteger { key, value })
}

pub(crate) fn parse_record_set(rrs: Node<'_, '_>) -> Result<RecordSet, RecordSetError> {
    let name = text(rrs, "Name").ok_or(RecordSetError::Lacks("Name"))?;
    let name = Fqdn::parse(&name)?;
    let rtype = text(rrs, "Type").ok_or(RecordSetError::Lacks("Type"))?;
    let rtype: RrType = rtype.parse().map_err(|_| RecordSetError::Type(rtype))?;
    let number = |key: &'static str| text(rrs, key).map(|v| integer(key, v)).transpose();
    let ttl = number("TTL")?
        .map(|t| {
            u32::try_from(t)
                .ok()
                .filter(|t| *t <= 2_147_483_647)
                .ok_or(RecordSetError::Ttl(t))
        })
        .transpose()?;
    let values = child(rrs, "ResourceRecords")
        .map(|rr| {
            rr.children()
                .filter(|c| c.is_element())
                .filter_map(|c| text(c, "Value"))
                .collect()
        })
        .unwrap_or_default();
    let multivalue = match text(rrs, "MultiValueAnswer").as_deref() {
        None => false,
        Some("true") => true,
        // Present but false: a routing policy the lab does not model.
        Some("false") => false,
        Some(other) => return Err(RecordSetError::MultiValueAnswer(other.to_owned())),
    };
    let mut unsupported: Vec<&str> = [
        ("Region", "latency routing"),
        ("Failover", "failover routing"),
        ("GeoLocation", "geolocation routing"),
        ("TrafficPolicyInstanceId", "a traffic policy"),
    ]
    .iter()
    .filter(|(tag, _)| child(rrs, tag).is_some())
    .map(|(_, what)| *what)
    .collect();
    if !multivalue && child(rrs, "MultiValueAnswer").is_some() {
        unsupported.push("MultiValueAnswer false");
    }
    Ok(RecordSet {
        name,
        rtype,
        set_identifier: text(rrs, "SetIdentifier"),
        weight: number("Weight")?,
        ttl,
        values,
        alias: child(rrs, "AliasTarget").map(parse_alias).transpose()?,
        geo: child(rrs, "GeoProximityLocation")
            .map(parse_geo)
            .transpose()?,
        cidr: child(rrs, "CidrRoutingConfig")
            .map(parse_cidr_routing)
            .transpose()?,
        multivalue,
        opaque: (!unsupported.is_empty()).then(|| unsupported.join(", ")),
        health_check_id: text(rrs, "HealthCheckId"),
    })
}

fn parse_cidr_routing(c: Node<'_, '_>) -> Result<CidrRouting, RecordSetError> {
    Ok(CidrRouting {
        collection_id: text(c, "CollectionId").ok_or(RecordSetError::CidrLacks("CollectionId"))?,
        location_name: text(c, "LocationName").ok_or(RecordSetError::CidrLacks("LocationName"))?,
    })
}

fn parse_alias(a: Node<'_, '_>) -> Result<AliasTarget, RecordSetError> {
    let zone = text(a, "HostedZoneId").ok_or(RecordSetError::AliasLacks("HostedZoneId"))?;
    let name = text(a, "DNSName").ok_or(RecordSetError::AliasLacks("DNSName"))?;
    let evaluate = match text(a, "EvaluateTargetHealth").as_deref() {
        Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(RecordSetError::EvaluateTargetHealth(other.to_owned())),
        None => return Err(RecordSetError::AliasLacks("EvaluateTargetHealth")),
    };
    Ok(AliasTarget {
        hosted_zone_id: zone,
        dns_name: Fqdn::parse(&name).map_err(RecordSetError::AliasName)?,
        evaluate_target_health: evaluate,
    })
}

fn parse_geo(g: Node<'_, '_>) -> Result<GeoProximity, RecordSetError> {
    let coordinates = child(g, "Coordinates")
        .map(|c| {
            Ok::<_, RecordSetError>((
                text(c, "Latitude").ok_or(RecordSetError::CoordinatesLack("Latitude"))?,
                text(c, "Longitude").ok_or(RecordSetError::CoordinatesLack("Longitude"))?,
            ))
        })
        .transpose()?;
    let bias = text(g, "Bias").map(|b| integer("Bias", b)).transpose()?;
    Ok(GeoProximity {
        aws_region: text(g, "AWSRegion"),
        local_zone_group: text(g, "LocalZoneGroup"),
        coordinates,
        bias,
    })
}

/// `<ResourceRecordSet>`.
pub fn record_set(set: &RecordSet) -> String {
    let mut out = format!(
        "<ResourceRecordSet><Name>{}</Name><Type>{}</Type>",
        esc(set.name.as_str()),
        esc(set.rtype.as_str())
    );
    if let Some(id) = &set.set_identifier {
        out.push_str(&format!("<SetIdentifier>{}</SetIdentifier>", esc(id)));
    }
    if let Some(w) = set.weight {
        out.push_str(&format!("<Weight>{w}</Weight>"));
    }
    if let Some(ttl) = set.ttl {
        out.push_str(&format!("<TTL>{ttl}</TTL>"));
    }
    if !set.values.is_empty() || set.alias.is_none() {
        out.push_str("<ResourceRecords>");
        for v in &set.values {
            out.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                esc(v)
            ));
        }
        out.push_str("</ResourceRecords>");
    }
    if let Some(a) = &set.alias {
        out.push_str(&format!(
            "<AliasTarget><HostedZoneId>{}</HostedZoneId><DNSName>{}</DNSName><EvaluateTargetHealth>{}</EvaluateTargetHealth></AliasTarget>",
            esc(&a.hosted_zone_id),
            esc(a.dns_name.as_str()),
            a.evaluate_target_health
        ));
    }
    if set.multivalue {
        out.push_str("<MultiValueAnswer>true</MultiValueAnswer>");
    }
    if let Some(id) = &set.health_check_id {
        out.push_str(&format!("<HealthCheckId>{}</HealthCheckId>", esc(id)));
    }
    if let Some(c) = &set.cidr {
        out.push_str(&format!(
            "<CidrRoutingConfig><CollectionId>{}</CollectionId><LocationName>{}</LocationName></CidrRoutingConfig>",
            esc(&c.collection_id),
            esc(&c.location_name)
        ));
    }
    if let Some(g) = &set.geo {
        out.push_str("<GeoProximityLocation>");
        if let Some(r) = &g.aws_region {
            out.push_str(&format!("<AWSRegion>{}</AWSRegion>", esc(r)));
        }
        if let Some(z) = &g.local_zone_group {
            out.push_str(&format!("<LocalZoneGroup>{}</LocalZoneGroup>", esc(z)));
        }
        if let Some((lat, lon)) = &g.coordinates {
            out.push_str(&format!(
                "<Coordinates><Latitude>{}</Latitude><Longitude>{}</Longitude></Coordinates>",
                esc(lat),
                esc(lon)
            ));
        }
        if let Some(b) = g.bias {
            out.push_str(&format!("<Bias>{b}</Bias>"));
        }
        out.push_str("</GeoProximityLocation>");
    }
    out.push_str("</ResourceRecordSet>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_sets_escape_their_values() {
        assert!(
            record_set(&RecordSet {
                name: Fqdn::parse("t.lab.test").unwrap(),
                rtype: RrType::Txt,
                set_identifier: None,
                weight: None,
                ttl: Some(5),
                values: vec!["\"v=1\"".into()],
                alias: None,
                geo: None,
                cidr: None,
                multivalue: false,
                opaque: None,
                health_check_id: None,
            })
            .contains("<Value>&quot;v=1&quot;</Value>")
        );
    }
}
