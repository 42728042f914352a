//! An access key's IAM policy (`aws_auth::iam`, `--api-credentials` `policy = "PATH"`), and its
//! evaluation against requests.
//!
//! Input: a policy document, then a line `---`, then requests, one a line: `ACTION RESOURCE`
//! followed by changes `CREATE|UPSERT|DELETE:NAME:TYPE` separated by spaces (a line with
//! changes is a ChangeResourceRecordSets batch; one without has no condition keys).
//!
//! Asserts:
//! - `Policy::parse` never panics, however hostile the document, and `evaluate` never panics;
//! - the same request gets the same decision twice;
//! - an explicit deny is final: the policy with a statement allowing everything added keeps
//!   every explicit deny, and allows every other request (default deny, `Deny` beats `Allow`).
#![no_main]

use aws_auth::iam::{ChangeContext, Decision, Policy, PolicyError, Request, denied_message};
use libfuzzer_sys::fuzz_target;
use registry::model::{Action, Change, RecordSet};
use registry::name::Fqdn;

fn change(spec: &str) -> Option<Change> {
    let mut parts = spec.splitn(3, ':');
    let action = match parts.next()? {
        "CREATE" => Action::Create,
        "UPSERT" => Action::Upsert,
        "DELETE" => Action::Delete,
        _ => return None,
    };
    let name = Fqdn::parse(parts.next()?).ok()?;
    let rtype = parts.next()?.parse().ok()?;
    Some(Change {
        action,
        record_set: RecordSet {
            name,
            rtype,
            set_identifier: None,
            weight: None,
            ttl: Some(60),
            values: vec!["192.0.2.1".into()],
            alias: None,
            geo: None,
            cidr: None,
            multivalue: false,
            opaque: None,
            health_check_id: None,
        },
    })
}

/// `doc` with a statement allowing every action on every resource appended, if it is a JSON
/// object with a `Statement`.
fn with_allow_all(doc: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(doc).ok()?;
    let allow = serde_json::json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
    let statements = value.get_mut("Statement")?;
    match statements {
        serde_json::Value::Array(items) => items.push(allow),
        one => *one = serde_json::json!([one.clone(), allow]),
    }
    Some(value.to_string())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (doc, requests) = text.split_once("\n---\n").unwrap_or((text, ""));
    let Ok(policy) = Policy::parse(doc) else {
        return;
    };
    let wider = with_allow_all(doc).map(|d| Policy::parse(&d));
    for line in requests.lines().take(16) {
        let mut words = line.split(' ');
        let (Some(action), Some(resource)) = (words.next(), words.next()) else {
            continue;
        };
        let changes: Vec<Change> = words.filter_map(change).collect();
        let context = ChangeContext::of(&changes);
        let request = Request {
            action,
            resource,
            changes: (!changes.is_empty()).then_some(&context),
        };
        let decision = policy.evaluate(&request);
        assert_eq!(decision, policy.evaluate(&request));
        assert!(denied_message("AKID", &request, decision).contains(action));
        match &wider {
            Some(Ok(wider)) => {
                let want = if decision == Decision::ExplicitDeny {
                    Decision::ExplicitDeny
                } else {
                    Decision::Allow
                };
                assert_eq!(wider.evaluate(&request), want, "{line}");
            }
            // One more statement and two more strings may pass a bound the policy was within.
            Some(Err(e)) => assert!(matches!(e, PolicyError::TooLarge { .. }), "{e}"),
            None => {}
        }
    }
});
