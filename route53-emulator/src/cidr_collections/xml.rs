//! The XML of the CIDR collection operations: CreateCidrCollection and ChangeCidrCollection
//! requests, and the responses' elements.
//!
//! Lists: in Route 53's Smithy model the members of `CidrCollectionChanges`,
//! `CollectionSummaries`, `LocationSummaries` and `CidrBlockSummaries` have no `xmlName`, so the
//! SDKs (aws-sdk-route53, boto3, Go v2, JS v3) write and read each item as `<member>`; only
//! `CidrList`'s items are `<Cidr>`. The API reference's "Request Syntax" names a change
//! `<CidrCollectionChange>` (a shape name): both spellings are read, and responses write
//! `<member>`, as AWS's own response examples do.

use super::{CidrCollection, RawChange};
use crate::xml::{XmlError, child, elements, esc, expect_root, parse_doc, text};

/// A parsed CreateCidrCollection request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// `Name`.
    pub name: String,
    /// `CallerReference`.
    pub caller_reference: String,
}

/// A parsed ChangeCidrCollection request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    /// `CollectionVersion`, when given.
    pub version: Option<u64>,
    /// `Changes`, in order.
    pub changes: Vec<RawChange>,
}

/// The element names a change may be written as inside `Changes`.
const CHANGE_ELEMENTS: [&str; 2] = ["member", "CidrCollectionChange"];

/// Parses `CreateCidrCollectionRequest`.
///
/// # Errors
///
/// A body that is not that document, or lacks `Name` or `CallerReference`.
pub fn parse_create(body: &str) -> Result<CreateRequest, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "CreateCidrCollectionRequest")?;
    let field = |name: &str| {
        text(root, name)
            .ok_or_else(|| XmlError(format!("CreateCidrCollectionRequest lacks {name}")))
    };
    Ok(CreateRequest {
        name: field("Name")?,
        caller_reference: field("CallerReference")?,
    })
}

/// Parses `ChangeCidrCollectionRequest`: `Changes` (each item `<member>` or
/// `<CidrCollectionChange>`, holding `LocationName`, `Action` and `CidrList` of `<Cidr>`) and
/// the optional `CollectionVersion`.
///
/// # Errors
///
/// A body that is not that document, lacks `Changes` or a change's element, holds another
/// element among the changes, or a `CollectionVersion` that is not a positive integer.
pub fn parse_change(body: &str) -> Result<ChangeRequest, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "ChangeCidrCollectionRequest")?;
    let version = text(root, "CollectionVersion")
        .map(|v| {
            v.parse::<u64>().ok().filter(|v| *v >= 1).ok_or_else(|| {
                XmlError(format!("CollectionVersion {v:?} is not a positive integer"))
            })
        })
        .transpose()?;
    let list = child(root, "Changes")
        .ok_or_else(|| XmlError("ChangeCidrCollectionRequest lacks Changes".into()))?;
    let mut changes = Vec::new();
    for item in list.children().filter(roxmltree::Node::is_element) {
        let name = item.tag_name().name();
        if !CHANGE_ELEMENTS.contains(&name) {
            return Err(XmlError(format!(
                "Changes holds <{name}>; each change is a <member> (or <CidrCollectionChange>)"
            )));
        }
        let field = |field: &str| {
            text(item, field).ok_or_else(|| XmlError(format!("a change lacks {field}")))
        };
        let cidrs =
            child(item, "CidrList").ok_or_else(|| XmlError("a change lacks CidrList".into()))?;
        changes.push(RawChange {
            location: field("LocationName")?,
            action: field("Action")?,
            cidrs: elements(cidrs, "Cidr")
                .map(|c| c.text().unwrap_or("").trim().to_owned())
                .collect(),
        });
    }
    Ok(ChangeRequest { version, changes })
}

/// A collection's `Arn`, `Id`, `Name` and `Version` (the content of `<Collection>` and of a
/// listing's `<member>`).
pub fn collection_fields(c: &CidrCollection) -> String {
    format!(
        "<Arn>{}</Arn><Id>{}</Id><Name>{}</Name><Version>{}</Version>",
        esc(&c.arn()),
        esc(&c.id),
        esc(&c.name),
        c.version
    )
}

/// `<Collection>…</Collection>` (CreateCidrCollection).
pub fn collection(c: &CidrCollection) -> String {
    format!("<Collection>{}</Collection>", collection_fields(c))
}

/// `<{list}><member>…</member>…</{list}>`, then `<NextToken>` when there is a next page.
pub fn listing(list: &str, members: impl Iterator<Item = String>, next: Option<&str>) -> String {
    let members: String = members.map(|m| format!("<member>{m}</member>")).collect();
    let next = next
        .map(|t| format!("<NextToken>{}</NextToken>", esc(t)))
        .unwrap_or_default();
    format!("<{list}>{members}</{list}>{next}")
}

/// A location's member content.
pub fn location(name: &str) -> String {
    format!("<LocationName>{}</LocationName>", esc(name))
}

/// A block's member content.
pub fn block(location: &str, block: &ipnet::IpNet) -> String {
    format!(
        "<CidrBlock>{}</CidrBlock><LocationName>{}</LocationName>",
        esc(&block.to_string()),
        esc(location)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::NS;

    fn change_body(item: &str, version: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeCidrCollectionRequest xmlns="{NS}">{version}<Changes><{item}><LocationName>edge</LocationName><Action>PUT</Action><CidrList><Cidr>192.0.2.0/24</Cidr><Cidr> 2001:db8::/32 </Cidr></CidrList></{item}><{item}><LocationName>core</LocationName><Action>DELETE_IF_EXISTS</Action><CidrList><Cidr>10.0.0.0/8</Cidr></CidrList></{item}></Changes></ChangeCidrCollectionRequest>"#
        )
    }

    #[test]
    fn changes_parse_as_the_sdks_and_the_api_reference_write_them() {
        let expected = vec![
            RawChange {
                location: "edge".into(),
                action: "PUT".into(),
                cidrs: vec!["192.0.2.0/24".into(), "2001:db8::/32".into()],
            },
            RawChange {
                location: "core".into(),
                action: "DELETE_IF_EXISTS".into(),
                cidrs: vec!["10.0.0.0/8".into()],
            },
        ];
        for item in CHANGE_ELEMENTS {
            let req = parse_change(&change_body(item, "")).unwrap();
            assert_eq!(req.version, None, "{item}");
            assert_eq!(req.changes, expected, "{item}");
            let req = parse_change(&change_body(
                item,
                "<CollectionVersion>3</CollectionVersion>",
            ))
            .unwrap();
            assert_eq!(req.version, Some(3));
        }
        for bad in [
            change_body("Change", ""),
            change_body("member", "<CollectionVersion>0</CollectionVersion>"),
            change_body("member", "<CollectionVersion>x</CollectionVersion>"),
            change_body("member", "").replace("<Action>PUT</Action>", ""),
            change_body("member", "").replace("<LocationName>core</LocationName>", ""),
            change_body("member", "").replace("<CidrList><Cidr>10.0.0.0/8</Cidr></CidrList>", ""),
            "<ChangeCidrCollectionRequest/>".to_owned(),
            "<CreateCidrCollectionRequest/>".to_owned(),
            "<ChangeCidrCollectionRequest><Changes>".to_owned(),
        ] {
            assert!(parse_change(&bad).is_err(), "{bad}");
        }
        // An empty list parses; the rule on its length is the model's (InvalidInput there).
        let empty =
            parse_change("<ChangeCidrCollectionRequest><Changes/></ChangeCidrCollectionRequest>");
        assert_eq!(empty.unwrap().changes, []);
    }

    #[test]
    fn create_requests_parse() {
        let body = format!(
            r#"<CreateCidrCollectionRequest xmlns="{NS}"><Name>lab</Name><CallerReference>r-1</CallerReference></CreateCidrCollectionRequest>"#
        );
        assert_eq!(
            parse_create(&body).unwrap(),
            CreateRequest {
                name: "lab".into(),
                caller_reference: "r-1".into()
            }
        );
        assert!(parse_create(&body.replace("<Name>lab</Name>", "")).is_err());
        assert!(parse_create(&body.replace("<CallerReference>r-1</CallerReference>", "")).is_err());
    }

    #[test]
    fn responses_list_items_as_member() {
        let c = CidrCollection::new(
            "0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            "lab".into(),
            "r".into(),
        );
        assert_eq!(
            collection(&c),
            "<Collection><Arn>arn:aws:route53:::cidrcollection/0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</Arn>\
             <Id>0b6e1f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b</Id><Name>lab</Name><Version>1</Version></Collection>"
        );
        let list = listing(
            "CidrCollections",
            [collection_fields(&c)].into_iter(),
            Some("c00"),
        );
        assert!(list.starts_with("<CidrCollections><member><Arn>"), "{list}");
        assert!(
            list.ends_with("</member></CidrCollections><NextToken>c00</NextToken>"),
            "{list}"
        );
        let blocks = listing(
            "CidrBlocks",
            [block("edge", &"2001:db8::/32".parse().unwrap())].into_iter(),
            None,
        );
        assert_eq!(
            blocks,
            "<CidrBlocks><member><CidrBlock>2001:db8::/32</CidrBlock><LocationName>edge</LocationName></member></CidrBlocks>"
        );
        assert_eq!(
            listing("CidrLocations", [location("a")].into_iter(), None),
            "<CidrLocations><member><LocationName>a</LocationName></member></CidrLocations>"
        );
        assert_eq!(
            listing("CidrLocations", std::iter::empty(), None),
            "<CidrLocations></CidrLocations>"
        );
    }
}
