//! The XML of the tag operations: ChangeTagsForResource and ListTagsForResources requests, and
//! the `<ResourceTagSet>` element both listings answer with.

use std::collections::BTreeMap;

use crate::xml::{XmlError, child, elements, esc, expect_root, parse_doc, raw_text, text};

/// A parsed ChangeTagsForResource request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChange {
    /// `AddTags`: key and value (a missing value is empty).
    pub add: Vec<(String, String)>,
    /// `RemoveTagKeys`.
    pub remove: Vec<String>,
}

/// Parses `ChangeTagsForResourceRequest`.
pub fn parse_change_tags(body: &str) -> Result<TagChange, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "ChangeTagsForResourceRequest")?;
    let mut change = TagChange::default();
    if let Some(add) = child(root, "AddTags") {
        for tag in elements(add, "Tag") {
            let key =
                text(tag, "Key").ok_or_else(|| XmlError("a Tag of AddTags lacks Key".into()))?;
            change
                .add
                .push((key, raw_text(tag, "Value").unwrap_or_default()));
        }
    }
    if let Some(remove) = child(root, "RemoveTagKeys") {
        change.remove = elements(remove, "Key")
            .map(|k| k.text().unwrap_or("").trim().to_owned())
            .collect();
    }
    Ok(change)
}

/// Parses `ListTagsForResourcesRequest`: its `ResourceIds`.
pub fn parse_resource_ids(body: &str) -> Result<Vec<String>, XmlError> {
    let doc = parse_doc(body)?;
    let root = expect_root(&doc, "ListTagsForResourcesRequest")?;
    let ids = child(root, "ResourceIds")
        .ok_or_else(|| XmlError("ListTagsForResourcesRequest lacks ResourceIds".into()))?;
    Ok(elements(ids, "ResourceId")
        .map(|k| k.text().unwrap_or("").trim().to_owned())
        .collect())
}

/// `<ResourceTagSet>`.
pub fn resource_tag_set(kind: &str, id: &str, tags: &BTreeMap<String, String>) -> String {
    let tags: String = tags
        .iter()
        .map(|(k, v)| format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", esc(k), esc(v)))
        .collect();
    format!(
        "<ResourceTagSet><ResourceType>{}</ResourceType><ResourceId>{}</ResourceId><Tags>{tags}</Tags></ResourceTagSet>",
        esc(kind),
        esc(id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_requests_parse() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><ChangeTagsForResourceRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><AddTags><Tag><Key>team</Key><Value>edge</Value></Tag><Tag><Key>empty</Key></Tag></AddTags><RemoveTagKeys><Key>old</Key></RemoveTagKeys></ChangeTagsForResourceRequest>"#;
        let c = parse_change_tags(body).unwrap();
        assert_eq!(
            c.add,
            [
                ("team".to_owned(), "edge".to_owned()),
                ("empty".to_owned(), String::new())
            ]
        );
        assert_eq!(c.remove, ["old"]);
        let ids = "<ListTagsForResourcesRequest><ResourceIds><ResourceId>Z1</ResourceId><ResourceId>Z2</ResourceId></ResourceIds></ListTagsForResourcesRequest>";
        assert_eq!(parse_resource_ids(ids).unwrap(), ["Z1", "Z2"]);
        assert!(parse_resource_ids("<ListTagsForResourcesRequest/>").is_err());
        let mut tags = BTreeMap::new();
        tags.insert("a<".to_owned(), "b".to_owned());
        assert!(resource_tag_set("hostedzone", "Z1", &tags).contains("<Key>a&lt;</Key>"));
    }
}
