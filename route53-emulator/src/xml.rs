//! The Route 53 REST API's XML: the helpers every feature's XML shares (the shape check before
//! parsing, element access, escaping, the response and error documents). Each feature's own XML
//! is in its folder: `zones/xml.rs`, `record_sets/xml.rs`, `changes/xml.rs`,
//! `health_checks/xml.rs`, `tags/xml.rs`.

use std::time::{Duration, UNIX_EPOCH};

use roxmltree::{Document, Node};

/// Route 53's XML namespace.
pub const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// A request body that is not the XML the operation expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(pub String);

/// The child elements of `node` named `name`, in order.
pub(crate) fn elements<'a>(
    node: Node<'a, 'a>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'a>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

pub(crate) fn child<'a>(node: Node<'a, 'a>, name: &'a str) -> Option<Node<'a, 'a>> {
    elements(node, name).next()
}

pub(crate) fn text(node: Node<'_, '_>, name: &str) -> Option<String> {
    child(node, name).map(|c| c.text().unwrap_or("").trim().to_owned())
}

/// The text of `name` as sent, spaces kept: for values where they matter (a health check's
/// `SearchString`, a tag's `Value`).
pub(crate) fn raw_text(node: Node<'_, '_>, name: &str) -> Option<String> {
    child(node, name).map(|c| c.text().unwrap_or("").to_owned())
}

/// The deepest element nesting a request body may have. Route 53's request documents are at most 8
/// elements deep (`ChangeResourceRecordSetsRequest/ChangeBatch/Changes/Change/ResourceRecordSet/
/// ResourceRecords/ResourceRecord/Value`); roxmltree recurses once per level, so the depth is
/// checked before it sees the body.
pub const MAX_DEPTH: usize = 16;
/// The most attributes (namespace declarations included) one element may carry. Route 53's
/// documents carry one (`xmlns` on the root); roxmltree's duplicate check is quadratic in this.
pub const MAX_ATTRIBUTES: usize = 8;
/// The most elements a request body may hold. A 1 000-change batch needs about 1 000 × 12 elements
/// plus 2 per value (Route 53 allows 1 000 `ResourceRecord` elements per request): ~14 000.
pub const MAX_ELEMENTS: usize = 65_536;

/// Checks, in one linear pass and without recursion, that `body` stays within [`MAX_DEPTH`],
/// [`MAX_ATTRIBUTES`] and [`MAX_ELEMENTS`], and carries no DTD, so that handing it to roxmltree
/// afterwards costs time and stack proportional to its length.
///
/// The scan follows XML's lexical rules as far as nesting is concerned: comments, CDATA sections
/// and processing instructions are skipped up to their first terminator (as an XML parser does);
/// attribute values are quoted strings after `=`, and may not contain `<` (as XML requires), so no
/// tag can hide from the count. A body that is not well-formed may pass; the parser then refuses
/// it at its first error, never deeper than the scan counted.
///
/// # Errors
///
/// An [`XmlError`] naming the limit that was exceeded, or the DTD.
pub fn check_shape(body: &str) -> Result<(), XmlError> {
    let bytes = body.as_bytes();
    let (mut depth, mut elements, mut i) = (0usize, 0usize, 0usize);
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let rest = &bytes[i + offset..];
        let skip_past = |terminator: &[u8], opener: usize| {
            rest[opener..]
                .windows(terminator.len())
                .position(|w| w == terminator)
                .map_or(bytes.len(), |p| i + offset + opener + p + terminator.len())
        };
        i = if rest.starts_with(b"<!--") {
            skip_past(b"-->", 4)
        } else if rest.starts_with(b"<![CDATA[") {
            skip_past(b"]]>", 9)
        } else if rest.starts_with(b"<?") {
            skip_past(b"?>", 2)
        } else if rest.starts_with(b"<!") {
            return Err(XmlError(
                "the request body carries a DTD or declaration (<!…>); Route 53 request \
                 documents have none"
                    .into(),
            ));
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_past(b">", 2)
        } else {
            let tag = start_tag(&rest[1..])?;
            elements += 1;
            if elements > MAX_ELEMENTS {
                return Err(XmlError(format!(
                    "the request body has more than {MAX_ELEMENTS} elements"
                )));
            }
            if !tag.self_closing {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(XmlError(format!(
                        "the request body nests elements more than {MAX_DEPTH} levels deep"
                    )));
                }
            }
            i + offset + 1 + tag.len
        };
    }
    Ok(())
}

/// A start tag as [`check_shape`] sees it.
struct StartTag {
    /// Bytes up to and including its `>` (or to the end of the body), after the `<`.
    len: usize,
    /// True for `<name …/>`.
    self_closing: bool,
}

/// Scans the start tag that `tag` (the bytes after its `<`) begins, counting attributes.
fn start_tag(tag: &[u8]) -> Result<StartTag, XmlError> {
    let (mut attributes, mut quote, mut after_eq) = (0usize, None, false);
    for (at, &b) in tag.iter().enumerate() {
        match (quote, b) {
            (Some(_), b'<') => {
                return Err(XmlError(
                    "an attribute value in the request body contains '<'".into(),
                ));
            }
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'=') => {
                attributes += 1;
                if attributes > MAX_ATTRIBUTES {
                    return Err(XmlError(format!(
                        "an element of the request body has more than {MAX_ATTRIBUTES} attributes"
                    )));
                }
                after_eq = true;
            }
            (None, b'"' | b'\'') if after_eq => {
                quote = Some(b);
                after_eq = false;
            }
            (None, b'>') => {
                return Ok(StartTag {
                    len: at + 1,
                    self_closing: at > 0 && tag[at - 1] == b'/',
                });
            }
            (None, b'<') => {
                return Err(XmlError("a tag in the request body contains '<'".into()));
            }
            (None, _) if b.is_ascii_whitespace() => {}
            (None, _) => after_eq = false,
        }
    }
    Ok(StartTag {
        len: tag.len(),
        self_closing: false,
    })
}

/// Parses `body` after [`check_shape`], without DTDs and with at most [`MAX_ELEMENTS`] nodes of
/// each kind (text, comments and instructions included, twice over).
pub(crate) fn parse_doc(body: &str) -> Result<Document<'_>, XmlError> {
    check_shape(body)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        // 65 536 × 4 fits in u32; the pre-scan already bounds elements, this bounds the rest.
        nodes_limit: u32::try_from(MAX_ELEMENTS * 4).unwrap_or(u32::MAX),
    };
    Document::parse_with_options(body, options)
        .map_err(|e| XmlError(format!("the request body is not well-formed XML: {e}")))
}

/// The root element of `doc`, when it is `name`.
pub(crate) fn expect_root<'a>(doc: &'a Document<'a>, name: &str) -> Result<Node<'a, 'a>, XmlError> {
    let root = doc.root_element();
    if root.tag_name().name() != name {
        return Err(XmlError(format!(
            "expected a {name} document, got <{}>",
            root.tag_name().name()
        )));
    }
    Ok(root)
}

/// Escapes text for XML content.
pub fn esc(s: &str) -> String {
    // A carriage return as a character reference: a parser turns a literal one into '\n'.
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\r', "&#13;")
}

pub(crate) fn timestamp(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A whole response document: `<{root} xmlns=…>{inner}</{root}>`.
pub fn document(root: &str, inner: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{NS}\">{inner}</{root}>")
}

/// Route 53's error document.
pub fn error(code: &str, message: &str, request_id: &str, sender: bool) -> String {
    document(
        "ErrorResponse",
        &format!(
            "<Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId>",
            if sender { "Sender" } else { "Receiver" },
            esc(code),
            esc(message),
            esc(request_id)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "<a>".repeat(levels), "</a>".repeat(levels))
    }

    fn with_attributes(n: usize) -> String {
        let attributes: String = (0..n).map(|i| format!(" a{i}='x>/'")).collect();
        format!("<a{attributes}><b/></a>")
    }

    #[test]
    fn depth_is_bounded_before_parsing() {
        assert_eq!(check_shape(&nested(MAX_DEPTH)), Ok(()));
        let err = check_shape(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.0.contains("more than 16 levels"), "{err}");
        // Self-closing elements and closed siblings do not add depth.
        let wide = format!("<r>{}</r>", "<a><b/></a>".repeat(1000));
        assert_eq!(check_shape(&wide), Ok(()));
        // Thousands of levels are refused by the scan; the parser never sees them.
        let deep = format!("<ChangeResourceRecordSetsRequest>{}", nested(5000));
        assert!(parse_doc(&deep).unwrap_err().0.contains("levels"));
    }

    #[test]
    fn attributes_per_element_are_bounded() {
        assert_eq!(check_shape(&with_attributes(MAX_ATTRIBUTES)), Ok(()));
        let err = check_shape(&with_attributes(MAX_ATTRIBUTES + 1)).unwrap_err();
        assert!(err.0.contains("more than 8 attributes"), "{err}");
        // '=' inside a quoted value is not an attribute.
        let quoted = format!("<a b=\"{}\"/>", "=".repeat(100));
        assert_eq!(check_shape(&quoted), Ok(()));
        let spread: String = (0..MAX_ATTRIBUTES + 1)
            .map(|i| format!(" a{i} = \"\""))
            .collect();
        assert!(check_shape(&format!("<a{spread}/>")).is_err());
    }

    #[test]
    fn elements_are_bounded() {
        let at = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS - 1));
        assert_eq!(check_shape(&at), Ok(()));
        let past = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
        assert!(check_shape(&past).unwrap_err().0.contains("65536 elements"));
    }

    #[test]
    fn comments_cdata_and_instructions_do_not_confuse_the_scan() {
        // Tags inside comments, CDATA and processing instructions are not elements (so these
        // pass although they "contain" deep nesting)...
        let hidden = nested(MAX_DEPTH + 1);
        for wrapped in [
            format!("<r><!--{hidden}--></r>"),
            format!("<r><![CDATA[{hidden}]]></r>"),
            format!("<?pi {hidden}?><r/>"),
            "<r a='>'><!-- -- > --></r>".to_owned(),
        ] {
            assert_eq!(check_shape(&wrapped), Ok(()), "{wrapped}");
        }
        // ...but they end at their first terminator, as in the parser, so nothing after it hides.
        for escaped in [
            format!("<r><!-- --> {hidden}</r>"),
            format!("<r><![CDATA[ ]]> {hidden}</r>"),
            format!("<?pi ?>{hidden}"),
        ] {
            assert!(check_shape(&escaped).is_err(), "{escaped}");
        }
        // A quote that does not open an attribute value hides nothing, and '<' inside a value
        // (which XML forbids) is refused.
        assert!(check_shape(&format!("<r \"x>{hidden}\"")).is_err());
        assert!(check_shape("<r a='<b>'/>").is_err());
        // Unterminated constructs end the scan; the parser then refuses the body.
        assert_eq!(check_shape("<r><!-- <a><a><a>"), Ok(()));
        assert!(parse_doc("<r><!-- <a><a><a>").is_err());
        // DTDs are refused outright (entities could otherwise build elements).
        let dtd = "<!DOCTYPE r [<!ENTITY e '<a>'>]><r>&e;</r>";
        assert!(check_shape(dtd).unwrap_err().0.contains("DTD"));
    }

    #[test]
    fn escapes_text() {
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
