//! The XML of the health check operations: CreateHealthCheck and UpdateHealthCheck requests,
//! and the `<HealthCheck>` element every response carries.

use roxmltree::Node;

use super::{ConfigInput, HealthCheck, HealthCheckConfig, Observation};
use crate::xml::{
    XmlError, child, elements, esc, expect_root, parse_doc, raw_text, text, timestamp,
};

/// A parsed CreateHealthCheck request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateHealthCheck {
    /// The idempotency token.
    pub caller_reference: String,
    /// The settings as written.
    pub config: ConfigInput,
}

/// A parsed UpdateHealthCheck request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateHealthCheck {
    /// `HealthCheckVersion`, when given.
    pub version: Option<u64>,
    /// The fields to change, as written.
    pub config: ConfigInput,
}

/// The texts of the `item` children of `list` under `node`, when `list` is present.
fn items<'a>(node: Node<'a, 'a>, list: &'a str, item: &'a str) -> Option<Vec<String>> {
    child(node, list).map(|l| {
        elements(l, item)
            .map(|c| c.text().unwrap_or("").trim().to_owned())
            .collect()
    })
}

/// The fields CreateHealthCheck's `HealthCheckConfig` and UpdateHealthCheckRequest share.
fn config_input(node: Node<'_, '_>) -> ConfigInput {
    ConfigInput {
        check_type: text(node, "Type"),
        ip_address: text(node, "IPAddress"),
        port: text(node, "Port"),
        resource_path: text(node, "ResourcePath"),
        fqdn: text(node, "FullyQualifiedDomainName"),
        search_string: raw_text(node, "SearchString"),
        request_interval: text(node, "RequestInterval"),
        failure_threshold: text(node, "FailureThreshold"),
        measure_latency: text(node, "MeasureLatency"),
        inverted: text(node, "Inverted"),
        disabled: text(node, "Disabled"),
        health_threshold: text(node, "HealthThreshold"),
        children: items(node, "ChildHealthChecks", "ChildHealthCheck"),
        enable_sni: text(node, "EnableSNI"),
        regions: items(node, "Regions", "Region"),
        reset: items(node, "ResetElements", "ResettableElementName").unwrap_or_default(),
    }
}

/// Parses `CreateHealthCheckRequest`.
pub fn parse_create_health_check(body: &str) -> Result<CreateHealthCheck, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "CreateHealthCheckRequest")?;
    let caller_reference = text(root, "CallerReference")
        .ok_or_else(|| XmlError("CreateHealthCheckRequest lacks CallerReference".into()))?;
    let config = child(root, "HealthCheckConfig")
        .ok_or_else(|| XmlError("CreateHealthCheckRequest lacks HealthCheckConfig".into()))?;
    let mut config = config_input(config);
    // ResetElements belongs to UpdateHealthCheck only.
    config.reset.clear();
    Ok(CreateHealthCheck {
        caller_reference,
        config,
    })
}

/// Parses `UpdateHealthCheckRequest`.
pub fn parse_update_health_check(body: &str) -> Result<UpdateHealthCheck, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "UpdateHealthCheckRequest")?;
    let version = text(root, "HealthCheckVersion")
        .map(|v| {
            v.parse::<u64>().ok().filter(|v| *v >= 1).ok_or_else(|| {
                XmlError(format!(
                    "HealthCheckVersion {v:?} is not a positive integer"
                ))
            })
        })
        .transpose()?;
    Ok(UpdateHealthCheck {
        version,
        config: config_input(root),
    })
}

fn element(out: &mut String, name: &str, value: impl std::fmt::Display) {
    out.push_str(&format!("<{name}>{value}</{name}>"));
}

/// `<{outer}><{inner}>item</{inner}>…</{outer}>`.
fn list(out: &mut String, outer: &str, inner: &str, items: &[String]) {
    let inside: String = items
        .iter()
        .map(|i| format!("<{inner}>{}</{inner}>", esc(i)))
        .collect();
    element(out, outer, inside);
}

fn config(c: &HealthCheckConfig) -> String {
    let mut out = String::from("<HealthCheckConfig>");
    if let Some(ip) = c.ip_address {
        element(&mut out, "IPAddress", ip);
    }
    if let Some(port) = c.effective_port() {
        element(&mut out, "Port", port);
    }
    element(&mut out, "Type", c.check_type.as_str());
    if let Some(p) = &c.resource_path {
        element(&mut out, "ResourcePath", esc(p));
    }
    if let Some(n) = &c.fqdn {
        element(&mut out, "FullyQualifiedDomainName", esc(n));
    }
    if let Some(s) = &c.search_string {
        element(&mut out, "SearchString", esc(s));
    }
    if c.check_type.probes() {
        element(&mut out, "RequestInterval", c.request_interval);
        element(&mut out, "FailureThreshold", c.failure_threshold);
        element(&mut out, "MeasureLatency", c.measure_latency);
    }
    element(&mut out, "Inverted", c.inverted);
    element(&mut out, "Disabled", c.disabled);
    if let Some(t) = c.health_threshold {
        element(&mut out, "HealthThreshold", t);
    }
    if !c.check_type.probes() {
        list(
            &mut out,
            "ChildHealthChecks",
            "ChildHealthCheck",
            &c.children,
        );
    }
    if let Some(sni) = c.enable_sni {
        element(&mut out, "EnableSNI", sni);
    }
    if !c.regions.is_empty() {
        list(&mut out, "Regions", "Region", &c.regions);
    }
    out.push_str("</HealthCheckConfig>");
    out
}

/// `<HealthCheck>`.
pub fn health_check(check: &HealthCheck) -> String {
    format!(
        "<HealthCheck><Id>{}</Id><CallerReference>{}</CallerReference>{}<HealthCheckVersion>{}</HealthCheckVersion></HealthCheck>",
        esc(&check.id),
        esc(&check.caller_reference),
        config(&check.config),
        check.version
    )
}

/// `<HealthCheckObservations>` of GetHealthCheckStatus: the last result of each checker Region
/// the lab's one checker has named a probe after (newest first), none before the first probe.
pub fn observations(check: &HealthCheck, observations: &[Observation]) -> String {
    let mut out = String::from("<HealthCheckObservations>");
    for o in observations {
        out.push_str("<HealthCheckObservation>");
        element(&mut out, "Region", o.region);
        if let Some(ip) = check.config.ip_address {
            element(&mut out, "IPAddress", ip);
        }
        out.push_str(&format!(
            "<StatusReport><Status>{}</Status><CheckedTime>{}</CheckedTime></StatusReport></HealthCheckObservation>",
            esc(&o.report),
            timestamp(o.at_ms)
        ));
    }
    out.push_str("</HealthCheckObservations>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_request_as_boto3_sends_it_round_trips() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><CreateHealthCheckRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><CallerReference>r1</CallerReference><HealthCheckConfig><IPAddress>127.0.0.1</IPAddress><Port>8080</Port><Type>HTTP</Type><ResourcePath>/health</ResourcePath><RequestInterval>10</RequestInterval><FailureThreshold>2</FailureThreshold><Regions><Region>us-east-1</Region><Region>eu-west-1</Region><Region>sa-east-1</Region></Regions></HealthCheckConfig></CreateHealthCheckRequest>"#;
        let req = parse_create_health_check(body).unwrap();
        assert_eq!(req.caller_reference, "r1");
        assert_eq!(
            req.config.regions,
            Some(
                ["us-east-1", "eu-west-1", "sa-east-1"]
                    .map(String::from)
                    .to_vec()
            )
        );
        let created = req.config.clone().create().unwrap();
        let check = HealthCheck {
            id: "id-1".into(),
            caller_reference: req.caller_reference,
            config: created.clone(),
            version: 1,
        };
        let written = health_check(&check);
        assert!(
            written.contains("<Port>8080</Port><Type>HTTP</Type>")
                && written
                    .contains("<Regions><Region>us-east-1</Region><Region>eu-west-1</Region>"),
            "{written}"
        );
        // The written config, read back as a request, is the same configuration.
        let again = format!(
            "<CreateHealthCheckRequest><CallerReference>r1</CallerReference>{}</CreateHealthCheckRequest>",
            config(&created)
        );
        let reread = parse_create_health_check(&again).unwrap().config.create();
        assert_eq!(reread, Ok(created));
    }

    #[test]
    fn an_update_request_carries_its_version_and_resets() {
        let body = "<UpdateHealthCheckRequest><HealthCheckVersion>3</HealthCheckVersion><Port>81</Port><ResetElements><ResettableElementName>ResourcePath</ResettableElementName></ResetElements></UpdateHealthCheckRequest>";
        let u = parse_update_health_check(body).unwrap();
        assert_eq!(u.version, Some(3));
        assert_eq!(u.config.port.as_deref(), Some("81"));
        assert_eq!(u.config.reset, ["ResourcePath"]);
        let bad = "<UpdateHealthCheckRequest><HealthCheckVersion>x</HealthCheckVersion></UpdateHealthCheckRequest>";
        assert!(parse_update_health_check(bad).is_err());
        assert!(parse_update_health_check("<Other/>").is_err());
    }
}
