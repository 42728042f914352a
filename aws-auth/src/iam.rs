//! IAM identity-based policies for the lab API: a pure parser and evaluator of the part of the IAM
//! policy language that Route 53's permissions use, so the lab can hold an access key to the
//! policy a real role would carry (`--api-credentials`, `policy = "PATH"`,
//! the Route 53 emulator's `config::load_credentials`) and answer `AccessDenied` where Route 53 would.
//!
//! # What is evaluated (as the IAM User Guide documents it)
//!
//! - **Decision** ("Policy evaluation logic"): default deny; an applicable `Deny` statement beats
//!   every `Allow`; otherwise an applicable `Allow` allows ([`Decision`]).
//! - **Elements**: `Version` (`2012-10-17` or `2008-10-17`), `Id`, `Statement` as one object or an
//!   array; per statement `Sid`, `Effect`, exactly one of `Action`/`NotAction`, exactly one of
//!   `Resource`/`NotResource`, and `Condition`. Each of `Action`, `Resource` and a condition's
//!   values is a string or an array of strings. `Principal` (resource-based policies only) and
//!   anything else is refused.
//! - **Wildcards** `*` (any run of characters) and `?` (any one): action names are compared
//!   without regard to case, resources and condition values with it. In a resource ARN a wildcard
//!   stays inside its colon-separated segment, except a `*` that ends a segment, which may run
//!   past colons ("IAM JSON policy elements: Resource").
//! - **Conditions**: `StringEquals`, `StringNotEquals`, `StringLike`, `StringNotLike`, each with
//!   the set operator `ForAllValues:` or `ForAnyValue:`, on Route 53's three keys of
//!   `ChangeResourceRecordSets` ([`Key`]), computed from the change batch ([`ChangeContext`]).
//!   Operators in a block are ANDed, keys in one operator ANDed, values of one key ORed (NORed
//!   for a negated operator) ("Conditions with multiple context keys or values"). `ForAllValues`
//!   holds when every request value matches, so also when the key is absent or empty;
//!   `ForAnyValue` needs at least one value that matches, so never holds for an absent key
//!   ("Single-valued vs. multivalued context keys", "Multivalued context key examples").
//!   Condition key names are compared without regard to case (as IAM does); operator names and
//!   element names exactly.
//!
//! # What is refused at load time (never allowed silently)
//!
//! Any other operator (`…IfExists`, `Null`, `Bool`, `Arn…`, `IpAddress`, …), any other
//! condition key (`aws:SourceIp`, `aws:PrincipalTag/…`, …), a plain (non-set) string operator on
//! one of the three keys (they are multivalued: IAM's documentation says such keys *require*
//! `ForAllValues` or `ForAnyValue` and does not say what a plain operator does with several
//! values), policy variables (`${…}` in a `2012-10-17` policy), duplicate JSON keys, empty lists,
//! and anything past the bounds below.
//!
//! # Bounds
//!
//! A policy file is at most [`MAX_POLICY_BYTES`]; a policy holds at most [`MAX_STATEMENTS`]
//! statements and [`MAX_STRINGS`] strings (actions, resources and condition values together),
//! each at most [`MAX_STRING_CHARS`] characters. Matching a wildcard pattern against a value is
//! one pass over the value with a bit-parallel automaton of the pattern (shift-and: at most
//! ⌈`MAX_STRING_CHARS`/64⌉ words a character), so no pattern backtracks: the work of a request
//! grows linearly with its values for a given policy. Condition values without wildcards are
//! looked up in a hash set.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use registry::model::{Action as ChangeAction, Change};
use registry::name::Fqdn;

/// The largest policy file read, in bytes. AWS's own limits on one policy are far smaller; this
/// leaves room for formatting.
pub const MAX_POLICY_BYTES: u64 = 64 * 1024;
/// The most statements a policy may hold.
pub const MAX_STATEMENTS: usize = 100;
/// The most strings (actions, resources, condition values together) a policy may hold.
pub const MAX_STRINGS: usize = 1_000;
/// The longest string (an action, a resource, a condition value), in characters.
pub const MAX_STRING_CHARS: usize = 1_024;

/// The lab's stand-in AWS account, in the principal ARNs of `AccessDenied` messages.
pub const LAB_ACCOUNT: &str = "000000000000";

/// Why a policy document is refused. `at` names the place (`Statement[1] (Sid "Write")`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not a JSON document, or a JSON object with a key twice.
    #[error("not a valid JSON policy document: {0}")]
    Json(String),
    /// The document is not a JSON object.
    #[error("a policy document is a JSON object")]
    NotAnObject,
    /// More statements, strings or characters than the bounds allow.
    #[error("{what}: more than {limit} (the lab's bound on a policy)")]
    TooLarge {
        /// What is counted.
        what: &'static str,
        /// The bound.
        limit: usize,
    },
    /// `Version` is neither `2012-10-17` nor `2008-10-17`.
    #[error("Version {0:?}: expected \"2012-10-17\" (or \"2008-10-17\")")]
    BadVersion(String),
    /// An element the lab does not know at this place.
    #[error("{at}: unknown element {element:?}")]
    UnknownElement {
        /// Where.
        at: String,
        /// The element's name.
        element: String,
    },
    /// `Principal` or `NotPrincipal`: an identity-based policy has none.
    #[error(
        "{at}: {element} belongs to resource-based policies; a policy attached to an access key \
         (an identity-based policy) has none"
    )]
    Principal {
        /// Where.
        at: String,
        /// `Principal` or `NotPrincipal`.
        element: String,
    },
    /// A required element is missing.
    #[error("{at}: {element} is missing")]
    Missing {
        /// Where.
        at: String,
        /// What is missing.
        element: &'static str,
    },
    /// Two elements that exclude each other (`Action` and `NotAction`).
    #[error("{at}: {first} and {second} exclude each other")]
    Both {
        /// Where.
        at: String,
        /// One element.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// An element of the wrong JSON type.
    #[error("{at}: {element} must be {expected}")]
    WrongType {
        /// Where.
        at: String,
        /// The element.
        element: String,
        /// What it must be.
        expected: &'static str,
    },
    /// An empty list, which would match nothing.
    #[error("{at}: {element} is empty")]
    Empty {
        /// Where.
        at: String,
        /// The element.
        element: String,
    },
    /// `Effect` other than `Allow` or `Deny`.
    #[error("{at}: Effect {effect:?}: expected \"Allow\" or \"Deny\"")]
    BadEffect {
        /// Where.
        at: String,
        /// The effect given.
        effect: String,
    },
    /// An action that is neither `*` nor `service:name`.
    #[error("{at}: action {action:?}: expected \"*\" or \"service:name\" (route53:GetChange)")]
    BadAction {
        /// Where.
        at: String,
        /// The action given.
        action: String,
    },
    /// A resource that is neither `*` nor an ARN.
    #[error(
        "{at}: resource {resource:?}: expected \"*\" or an ARN (arn:aws:route53:::hostedzone/ID)"
    )]
    BadResource {
        /// Where.
        at: String,
        /// The resource given.
        resource: String,
    },
    /// A condition operator the lab does not evaluate.
    #[error(
        "{at}: condition operator {operator:?} is not evaluated by the lab: use ForAllValues: or \
         ForAnyValue: with StringEquals, StringNotEquals, StringLike or StringNotLike"
    )]
    UnknownOperator {
        /// Where.
        at: String,
        /// The operator given.
        operator: String,
    },
    /// A condition key the lab does not compute.
    #[error(
        "{at}: condition key {key:?} is not evaluated by the lab: it knows \
         route53:ChangeResourceRecordSetsNormalizedRecordNames, \
         route53:ChangeResourceRecordSetsRecordTypes and route53:ChangeResourceRecordSetsActions"
    )]
    UnknownKey {
        /// Where.
        at: String,
        /// The key given.
        key: String,
    },
    /// A plain (non-set) operator on a multivalued key.
    #[error(
        "{at}: {key} can hold several values, and IAM requires a set operator for such a key: \
         write ForAllValues:{operator} (every change must match) or ForAnyValue:{operator}"
    )]
    SetOperatorRequired {
        /// Where.
        at: String,
        /// The operator given.
        operator: String,
        /// The key.
        key: String,
    },
    /// A policy variable (`${…}`), which the lab does not substitute.
    #[error("{at}: {value:?} holds a policy variable (${{…}}), which the lab does not substitute")]
    Variable {
        /// Where.
        at: String,
        /// The string holding it.
        value: String,
    },
}

/// A parsed, checked policy document, ready to evaluate requests.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    deny: bool,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: patterns, and whether the statement applies
/// to what they match (`Action`) or to what they do not (`NotAction`).
#[derive(Debug, Clone)]
struct Patterns {
    not: bool,
    patterns: Vec<Glob>,
}

impl Patterns {
    fn applies_to(&self, value: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(value)) != self.not
    }
}

/// A condition context key of Route 53's `ChangeResourceRecordSets` (all three multivalued: one
/// value per distinct name, type or action of the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `route53:ChangeResourceRecordSetsNormalizedRecordNames`.
    NormalizedRecordNames,
    /// `route53:ChangeResourceRecordSetsRecordTypes`.
    RecordTypes,
    /// `route53:ChangeResourceRecordSetsActions`.
    Actions,
}

impl Key {
    /// The key's name as policies write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::NormalizedRecordNames => "route53:ChangeResourceRecordSetsNormalizedRecordNames",
            Self::RecordTypes => "route53:ChangeResourceRecordSetsRecordTypes",
            Self::Actions => "route53:ChangeResourceRecordSetsActions",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::NormalizedRecordNames,
            Self::RecordTypes,
            Self::Actions,
        ]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(text))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOperator {
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone)]
struct Condition {
    set: SetOperator,
    negated: bool,
    key: Key,
    /// Values compared whole (StringEquals, or a StringLike value without wildcards).
    exact: HashSet<String>,
    /// StringLike values with wildcards.
    globs: Vec<Glob>,
}

impl Condition {
    /// Whether one request value matches the policy values (OR), or matches none of them for a
    /// negated operator (NOR).
    fn matches_value(&self, value: &str) -> bool {
        let hit = self.exact.contains(value) || self.globs.iter().any(|g| g.matches(value));
        hit != self.negated
    }

    fn holds(&self, context: Option<&ChangeContext>) -> bool {
        let values = context.map(|c| c.values(self.key));
        let mut values = values.into_iter().flatten();
        match self.set {
            // Vacuously true for an absent or empty key, as IAM documents.
            SetOperator::ForAllValues => values.all(|v| self.matches_value(v)),
            SetOperator::ForAnyValue => values.any(|v| self.matches_value(v)),
        }
    }
}

/// The condition keys' values for one `ChangeResourceRecordSets` request, as Route 53 computes
/// them: each distinct normalised record name, record type and action of the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeContext {
    /// `route53:ChangeResourceRecordSetsNormalizedRecordNames` ([`normalized_name`]).
    pub names: BTreeSet<String>,
    /// `route53:ChangeResourceRecordSetsRecordTypes` (upper case: `A`, `TXT`).
    pub types: BTreeSet<String>,
    /// `route53:ChangeResourceRecordSetsActions` (`CREATE`, `UPSERT`, `DELETE`).
    pub actions: BTreeSet<String>,
}

impl ChangeContext {
    /// The context of a batch of `changes`.
    pub fn of(changes: &[Change]) -> Self {
        let mut context = Self::default();
        for change in changes {
            context
                .names
                .insert(normalized_name(&change.record_set.name));
            context.types.insert(change.record_set.rtype.to_string());
            context.actions.insert(
                match change.action {
                    ChangeAction::Create => "CREATE",
                    ChangeAction::Delete => "DELETE",
                    ChangeAction::Upsert => "UPSERT",
                }
                .to_owned(),
            );
        }
        context
    }

    fn values(&self, key: Key) -> &BTreeSet<String> {
        match key {
            Key::NormalizedRecordNames => &self.names,
            Key::RecordTypes => &self.types,
            Key::Actions => &self.actions,
        }
    }
}

/// A record name as Route 53 normalises it for the condition key: lower case, no trailing dot,
/// and every byte other than `a-z`, `0-9`, `-`, `_` and `.` written as a backslash and three octal
/// digits (`*.lab.test.` → `\052.lab.test`), as the Route 53 Developer Guide says ("Normalizing
/// the Route 53 condition key values").
pub fn normalized_name(name: &Fqdn) -> String {
    let text = name.as_str();
    let text = text.strip_suffix('.').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        let b = b.to_ascii_lowercase();
        if b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out
}

/// One request to authorise: the IAM action, the resource's ARN (`*` for an action without
/// resource-level permissions), and for `ChangeResourceRecordSets` its batch's condition values.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The IAM action: `route53:ChangeResourceRecordSets`.
    pub action: &'a str,
    /// `arn:aws:route53:::hostedzone/Z…`, `arn:aws:route53:::change/C…`, or `*`.
    pub resource: &'a str,
    /// The condition keys' values; `None` for every other action (the keys are absent).
    pub changes: Option<&'a ChangeContext>,
}

/// The outcome of evaluating a policy for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement applies and no `Deny` does.
    Allow,
    /// No statement applies: denied by default.
    ImplicitDeny,
    /// A `Deny` statement applies.
    ExplicitDeny,
}

impl Policy {
    /// Parses and checks a policy document.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the place of the first problem.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let doc: Json = serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        let Json::Object(top) = doc else {
            return Err(PolicyError::NotAnObject);
        };
        let mut version = None;
        let mut statements = None;
        for (name, value) in &top {
            match name.as_str() {
                "Version" => version = Some(string(value, "the document", "Version")?),
                "Id" => {
                    string(value, "the document", "Id")?;
                }
                "Statement" => statements = Some(value),
                other => {
                    return Err(PolicyError::UnknownElement {
                        at: "the document".into(),
                        element: other.to_owned(),
                    });
                }
            }
        }
        let variables = match version {
            None | Some("2008-10-17") => false,
            Some("2012-10-17") => true,
            Some(other) => return Err(PolicyError::BadVersion(other.to_owned())),
        };
        let statements = match statements {
            None => {
                return Err(PolicyError::Missing {
                    at: "the document".into(),
                    element: "Statement",
                });
            }
            Some(Json::Array(items)) => items.iter().collect::<Vec<_>>(),
            Some(one) => vec![one],
        };
        if statements.is_empty() {
            return Err(PolicyError::Empty {
                at: "the document".into(),
                element: "Statement".into(),
            });
        }
        if statements.len() > MAX_STATEMENTS {
            return Err(PolicyError::TooLarge {
                what: "statements",
                limit: MAX_STATEMENTS,
            });
        }
        let mut budget = Budget {
            strings: 0,
            variables,
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| Statement::parse(i, s, &mut budget))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { statements })
    }

    /// Evaluates `request`: an applicable `Deny` beats any `Allow`; no applicable statement
    /// denies.
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let action = request.action.to_lowercase();
        let mut allowed = false;
        for s in &self.statements {
            let applies = s.actions.applies_to(&action)
                && s.resources.applies_to(request.resource)
                && s.conditions.iter().all(|c| c.holds(request.changes));
            if applies {
                if s.deny {
                    return Decision::ExplicitDeny;
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// What a denied request is told, in AWS's words: `User: ARN is not authorized to perform:
/// ACTION on resource: RESOURCE because no identity-based policy allows the ACTION action` (or
/// `with an explicit deny in an identity-based policy`). The user is named after the access key
/// (`arn:aws:iam::000000000000:user/AKID…`); an action on `*` names no resource.
pub fn denied_message(access_key_id: &str, request: &Request<'_>, decision: Decision) -> String {
    let mut message = format!(
        "User: arn:aws:iam::{LAB_ACCOUNT}:user/{access_key_id} is not authorized to perform: {}",
        request.action
    );
    if request.resource != "*" {
        message.push_str(&format!(" on resource: {}", request.resource));
    }
    match decision {
        Decision::ExplicitDeny => {
            message.push_str(" with an explicit deny in an identity-based policy")
        }
        Decision::ImplicitDeny | Decision::Allow => message.push_str(&format!(
            " because no identity-based policy allows the {} action",
            request.action
        )),
    }
    message
}

/// The count of strings across the policy, and whether `${` means a policy variable.
struct Budget {
    strings: usize,
    variables: bool,
}

impl Budget {
    /// Counts `value` against the bounds and refuses a policy variable.
    fn take(&mut self, at: &str, value: &str) -> Result<(), PolicyError> {
        self.strings += 1;
        if self.strings > MAX_STRINGS {
            return Err(PolicyError::TooLarge {
                what: "strings (actions, resources and condition values)",
                limit: MAX_STRINGS,
            });
        }
        if value.chars().count() > MAX_STRING_CHARS {
            return Err(PolicyError::TooLarge {
                what: "characters in one string",
                limit: MAX_STRING_CHARS,
            });
        }
        if self.variables && value.contains("${") {
            return Err(PolicyError::Variable {
                at: at.to_owned(),
                value: value.to_owned(),
            });
        }
        Ok(())
    }
}

impl Statement {
    fn parse(index: usize, value: &Json, budget: &mut Budget) -> Result<Self, PolicyError> {
        let mut at = format!("Statement[{index}]");
        let Json::Object(fields) = value else {
            return Err(PolicyError::WrongType {
                at,
                element: "a statement".into(),
                expected: "a JSON object",
            });
        };
        if let Some((_, sid)) = fields.iter().find(|(k, _)| k == "Sid") {
            let sid = string(sid, &at, "Sid")?;
            at = format!("{at} (Sid {sid:?})");
        }
        let mut effect = None;
        let mut actions: Option<(bool, &Json)> = None;
        let mut resources: Option<(bool, &Json)> = None;
        let mut condition = None;
        for (name, value) in fields {
            match name.as_str() {
                "Sid" => {}
                "Effect" => effect = Some(string(value, &at, "Effect")?),
                "Action" | "NotAction" => {
                    if actions.is_some() {
                        return Err(both(&at, "Action", "NotAction"));
                    }
                    actions = Some((name == "NotAction", value));
                }
                "Resource" | "NotResource" => {
                    if resources.is_some() {
                        return Err(both(&at, "Resource", "NotResource"));
                    }
                    resources = Some((name == "NotResource", value));
                }
                "Condition" => condition = Some(value),
                "Principal" | "NotPrincipal" => {
                    return Err(PolicyError::Principal {
                        at,
                        element: name.clone(),
                    });
                }
                other => {
                    return Err(PolicyError::UnknownElement {
                        at,
                        element: other.to_owned(),
                    });
                }
            }
        }
        let deny = match effect {
            Some("Allow") => false,
            Some("Deny") => true,
            Some(other) => {
                return Err(PolicyError::BadEffect {
                    at,
                    effect: other.to_owned(),
                });
            }
            None => {
                return Err(PolicyError::Missing {
                    at,
                    element: "Effect",
                });
            }
        };
        let (not_action, action_list) = actions.ok_or_else(|| PolicyError::Missing {
            at: at.clone(),
            element: "Action (or NotAction)",
        })?;
        let action_name = if not_action { "NotAction" } else { "Action" };
        let mut action_patterns = Vec::new();
        for action in strings(action_list, &at, action_name)? {
            budget.take(&at, action)?;
            let valid = action == "*"
                || action
                    .split_once(':')
                    .is_some_and(|(service, name)| !service.is_empty() && !name.is_empty());
            if !valid {
                return Err(PolicyError::BadAction {
                    at,
                    action: action.to_owned(),
                });
            }
            action_patterns.push(Glob::new(&action.to_lowercase(), Flavor::Plain));
        }
        let (not_resource, resource_list) = resources.ok_or_else(|| PolicyError::Missing {
            at: at.clone(),
            element: "Resource (or NotResource)",
        })?;
        let resource_name = if not_resource {
            "NotResource"
        } else {
            "Resource"
        };
        let mut resource_patterns = Vec::new();
        for resource in strings(resource_list, &at, resource_name)? {
            budget.take(&at, resource)?;
            if resource != "*" && !resource.starts_with("arn:") {
                return Err(PolicyError::BadResource {
                    at,
                    resource: resource.to_owned(),
                });
            }
            resource_patterns.push(Glob::new(resource, Flavor::Arn));
        }
        let conditions = match condition {
            None => Vec::new(),
            Some(block) => Condition::parse_block(&at, block, budget)?,
        };
        Ok(Self {
            deny,
            actions: Patterns {
                not: not_action,
                patterns: action_patterns,
            },
            resources: Patterns {
                not: not_resource,
                patterns: resource_patterns,
            },
            conditions,
        })
    }
}

impl Condition {
    fn parse_block(at: &str, block: &Json, budget: &mut Budget) -> Result<Vec<Self>, PolicyError> {
        let Json::Object(operators) = block else {
            return Err(PolicyError::WrongType {
                at: at.to_owned(),
                element: "Condition".into(),
                expected: "a JSON object of operators",
            });
        };
        let mut conditions = Vec::new();
        for (operator, keys) in operators {
            let here = format!("{at} Condition {operator:?}");
            let (set, base) = match operator.split_once(':') {
                Some(("ForAllValues", base)) => (Some(SetOperator::ForAllValues), base),
                Some(("ForAnyValue", base)) => (Some(SetOperator::ForAnyValue), base),
                Some(_) => (None, ""),
                None => (None, operator.as_str()),
            };
            let (negated, like) = match base {
                "StringEquals" => (false, false),
                "StringNotEquals" => (true, false),
                "StringLike" => (false, true),
                "StringNotLike" => (true, true),
                _ => {
                    return Err(PolicyError::UnknownOperator {
                        at: at.to_owned(),
                        operator: operator.clone(),
                    });
                }
            };
            let Json::Object(keys) = keys else {
                return Err(PolicyError::WrongType {
                    at: here,
                    element: "the operator's block".into(),
                    expected: "a JSON object of condition keys",
                });
            };
            if keys.is_empty() {
                return Err(PolicyError::Empty {
                    at: here,
                    element: "the operator's block".into(),
                });
            }
            for (key_name, values) in keys {
                let key = Key::parse(key_name).ok_or_else(|| PolicyError::UnknownKey {
                    at: here.clone(),
                    key: key_name.clone(),
                })?;
                let Some(set) = set else {
                    return Err(PolicyError::SetOperatorRequired {
                        at: here,
                        operator: operator.clone(),
                        key: key.name().to_owned(),
                    });
                };
                let mut exact = HashSet::new();
                let mut globs = Vec::new();
                for value in strings(values, &here, key_name)? {
                    budget.take(&here, value)?;
                    if like && (value.contains('*') || value.contains('?')) {
                        globs.push(Glob::new(value, Flavor::Plain));
                    } else {
                        exact.insert(value.to_owned());
                    }
                }
                conditions.push(Self {
                    set,
                    negated,
                    key,
                    exact,
                    globs,
                });
            }
        }
        Ok(conditions)
    }
}

fn both(at: &str, first: &'static str, second: &'static str) -> PolicyError {
    PolicyError::Both {
        at: at.to_owned(),
        first,
        second,
    }
}

fn string<'j>(value: &'j Json, at: &str, element: &str) -> Result<&'j str, PolicyError> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err(PolicyError::WrongType {
            at: at.to_owned(),
            element: element.to_owned(),
            expected: "a string",
        }),
    }
}

/// A string or a non-empty array of strings.
fn strings<'j>(value: &'j Json, at: &str, element: &str) -> Result<Vec<&'j str>, PolicyError> {
    let wrong = || PolicyError::WrongType {
        at: at.to_owned(),
        element: element.to_owned(),
        expected: "a string or an array of strings",
    };
    match value {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) if items.is_empty() => Err(PolicyError::Empty {
            at: at.to_owned(),
            element: element.to_owned(),
        }),
        Json::Array(items) => items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(s.as_str()),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

/// A JSON value whose objects keep their keys in order and refuse a key given twice (which
/// `serde_json::Value` would silently collapse to its last value).
#[derive(Debug)]
enum Json {
    Null,
    Bool,
    Number,
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields: Vec<(String, Json)> = Vec::new();
        let mut seen = HashSet::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            fields.push((key, value));
        }
        Ok(Json::Object(fields))
    }
}

/// How a pattern's wildcards treat `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Actions and condition values: `*` and `?` match any character.
    Plain,
    /// Resource ARNs: `?` and a `*` inside a segment do not match `:`; a `*` that ends a segment
    /// (followed by `:` or the end of the pattern) matches anything.
    Arn,
}

/// A compiled wildcard pattern: a shift-and automaton over its `k` non-`*` characters (states
/// `0..=k`, state `i` = the first `i` matched; a `*` is a self-loop on the state before it), run
/// in one pass over a value with bit sets of ⌈(k+1)/64⌉ words.
#[derive(Debug, Clone)]
struct Glob {
    /// A pattern without wildcards, compared whole.
    exact: Option<String>,
    words: usize,
    /// Per literal character: the states entered by reading it (bit `j + 1` for token `j`).
    literals: HashMap<char, Vec<u64>>,
    /// The states entered by reading any character (`?` tokens).
    any: Vec<u64>,
    /// The states entered by reading any character but `:` (`?` in an ARN).
    any_but_colon: Vec<u64>,
    /// States with a self-loop on every character.
    star: Vec<u64>,
    /// States with a self-loop on every character but `:`.
    star_but_colon: Vec<u64>,
    /// The accepting state `k`.
    accept: usize,
}

fn set_bit(bits: &mut [u64], i: usize) {
    if let Some(word) = bits.get_mut(i / 64) {
        *word |= 1 << (i % 64);
    }
}

fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

impl Glob {
    fn new(pattern: &str, flavor: Flavor) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let k = chars.iter().filter(|c| **c != '*').count();
        let words = k / 64 + 1;
        let mut glob = Self {
            exact: (!pattern.contains(['*', '?'])).then(|| pattern.to_owned()),
            words,
            literals: HashMap::new(),
            any: vec![0; words],
            any_but_colon: vec![0; words],
            star: vec![0; words],
            star_but_colon: vec![0; words],
            accept: k,
        };
        let mut state = 0;
        for (i, c) in chars.iter().enumerate() {
            match c {
                '*' => {
                    let ends_segment = chars.get(i + 1).is_none_or(|n| *n == ':');
                    if flavor == Flavor::Arn && !ends_segment {
                        set_bit(&mut glob.star_but_colon, state);
                    } else {
                        set_bit(&mut glob.star, state);
                    }
                }
                '?' => {
                    state += 1;
                    match flavor {
                        Flavor::Plain => set_bit(&mut glob.any, state),
                        Flavor::Arn => set_bit(&mut glob.any_but_colon, state),
                    }
                }
                c => {
                    state += 1;
                    let entry = glob.literals.entry(*c).or_insert_with(|| vec![0; words]);
                    set_bit(entry, state);
                }
            }
        }
        glob
    }

    fn matches(&self, text: &str) -> bool {
        if let Some(exact) = &self.exact {
            return exact == text;
        }
        let mut active = vec![0u64; self.words];
        let mut next = vec![0u64; self.words];
        set_bit(&mut active, 0);
        for c in text.chars() {
            let colon = c == ':';
            let literal = self.literals.get(&c);
            let mut carry = 0u64;
            let mut alive = false;
            for w in 0..self.words {
                let shifted = (active[w] << 1) | carry;
                carry = active[w] >> 63;
                let mut enter = self.any[w] | literal.map_or(0, |l| l[w]);
                let mut stay = self.star[w];
                if !colon {
                    enter |= self.any_but_colon[w];
                    stay |= self.star_but_colon[w];
                }
                next[w] = (shifted & enter) | (active[w] & stay);
                alive |= next[w] != 0;
            }
            std::mem::swap(&mut active, &mut next);
            if !alive {
                return false;
            }
        }
        bit(&active, self.accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use registry::model::RecordSet;

    fn glob(p: &str, t: &str) -> bool {
        Glob::new(p, Flavor::Plain).matches(t)
    }

    fn arn(p: &str, t: &str) -> bool {
        Glob::new(p, Flavor::Arn).matches(t)
    }

    /// The reference: IAM's wildcards by plain recursion (exponential, for short strings only).
    fn reference(p: &[char], t: &[char], flavor: Flavor, whole: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => {
                let at = whole.len() - p.len();
                let ends = whole.get(at + 1).is_none_or(|n| *n == ':');
                let crosses = flavor == Flavor::Plain || ends;
                (0..=t.len())
                    .take_while(|&n| crosses || !t[..n].contains(&':'))
                    .any(|n| reference(rest, &t[n..], flavor, whole))
            }
            Some(('?', rest)) => t.split_first().is_some_and(|(c, tail)| {
                (flavor == Flavor::Plain || *c != ':') && reference(rest, tail, flavor, whole)
            }),
            Some((c, rest)) => t
                .split_first()
                .is_some_and(|(d, tail)| c == d && reference(rest, tail, flavor, whole)),
        }
    }

    #[test]
    fn wildcards_match_as_iam_documents() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("a*", "a"));
        assert!(glob("*-workstation.example", "x-workstation.example"));
        assert!(!glob("*-workstation.example", "workstation.example"));
        assert!(glob("_wavelb.???.lab.test", "_wavelb.www.lab.test"));
        assert!(!glob("_wavelb.???.lab.test", "_wavelb.ww.lab.test"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXbY"));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
        assert!(!glob("A", "a"), "condition values are case-sensitive");
        // A pattern of more than 64 characters spans words of the bit set.
        let long = "x".repeat(100);
        assert!(glob(&format!("{long}*"), &format!("{long}yz")));
        assert!(glob(&format!("*{long}"), &format!("ab{long}")));
        assert!(!glob(&long, &"x".repeat(99)));
        // ARNs: a wildcard stays in its segment unless a `*` ends the segment.
        assert!(arn(
            "arn:aws:route53:::hostedzone/*",
            "arn:aws:route53:::hostedzone/Z1"
        ));
        assert!(arn("arn:aws:route53:::*", "arn:aws:route53:::change/C1"));
        assert!(arn(
            "arn:*:route53:::change/*",
            "arn:aws:route53:::change/C1"
        ));
        assert!(arn("arn:aws:*", "arn:aws:route53:::change/C1"));
        assert!(!arn(
            "arn:aws:r*3:::change/C1",
            "arn:aws:r:x:53:::change/C1"
        ));
        assert!(arn(
            "arn:aws:r*3:::change/C1",
            "arn:aws:route53:::change/C1"
        ));
        assert!(!arn(
            "arn:aws:route53?::change/C1",
            "arn:aws:route53:::change/C1"
        ));
    }

    proptest! {
        #[test]
        fn the_automaton_agrees_with_plain_recursion(
            p in "[ab:*?]{0,8}",
            t in "[ab:]{0,10}",
        ) {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            for flavor in [Flavor::Plain, Flavor::Arn] {
                prop_assert_eq!(
                    Glob::new(&p, flavor).matches(&t),
                    reference(&pc, &tc, flavor, &pc),
                    "{:?} {:?} {:?}", flavor, p, t
                );
            }
        }
    }

    #[test]
    fn a_hostile_pattern_and_value_stay_linear() {
        // The classic backtracking killer: a*a*…a*b against aaaa…; one pass, no blow-up.
        let pattern = "a*".repeat(500) + "b";
        let value = "a".repeat(100_000);
        let start = std::time::Instant::now();
        assert!(!glob(&pattern, &value));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    fn set(name: &str, rtype: &str) -> RecordSet {
        RecordSet {
            name: Fqdn::parse(name).unwrap(),
            rtype: rtype.parse().unwrap(),
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
        }
    }

    fn batch(changes: &[(ChangeAction, &str, &str)]) -> ChangeContext {
        let changes: Vec<Change> = changes
            .iter()
            .map(|(action, name, rtype)| Change {
                action: *action,
                record_set: set(name, rtype),
            })
            .collect();
        ChangeContext::of(&changes)
    }

    const ZONE: &str = "arn:aws:route53:::hostedzone/Z1";

    fn crrs(changes: &ChangeContext) -> Request<'_> {
        Request {
            action: "route53:ChangeResourceRecordSets",
            resource: ZONE,
            changes: Some(changes),
        }
    }

    fn other(action: &'static str, resource: &'static str) -> Request<'static> {
        Request {
            action,
            resource,
            changes: None,
        }
    }

    const AGENT: &str = include_str!("../../deploy/iam/agent-policy.json");

    fn agent_policy() -> Policy {
        Policy::parse(
            &AGENT
                .replace("ZONEID", "Z1")
                .replace("edge.example.com", "edge.lab.test"),
        )
        .unwrap()
    }

    #[test]
    fn the_shipped_agent_policy_allows_exactly_the_agents_changes() {
        use ChangeAction::{Create, Delete, Upsert};
        let p = agent_policy();
        let ok = batch(&[
            (Delete, "edge.lab.test", "A"),
            (Create, "edge.lab.test", "A"),
            (Create, "_wavelb.edge.lab.test", "TXT"),
        ]);
        assert_eq!(p.evaluate(&crrs(&ok)), Decision::Allow);
        // One change outside the pool denies the whole batch (ForAllValues).
        for bad in [
            batch(&[
                (Create, "edge.lab.test", "A"),
                (Create, "api.lab.test", "A"),
            ]),
            batch(&[(Create, "_wavelb-leader.edge.lab.test", "TXT")]),
            batch(&[(Upsert, "edge.lab.test", "A")]),
            batch(&[(Create, "edge.lab.test", "CNAME")]),
            batch(&[(Create, "*.edge.lab.test", "A")]),
        ] {
            assert_eq!(p.evaluate(&crrs(&bad)), Decision::ImplicitDeny, "{bad:?}");
        }
        // Another hosted zone.
        let elsewhere = Request {
            resource: "arn:aws:route53:::hostedzone/Z2",
            ..crrs(&ok)
        };
        assert_eq!(p.evaluate(&elsewhere), Decision::ImplicitDeny);
        // The read actions, on their resources; action names without regard to case.
        for allowed in [
            other("route53:ListResourceRecordSets", ZONE),
            other("route53:listresourcerecordsets", ZONE),
            other("route53:GetChange", "arn:aws:route53:::change/C1"),
            other("route53:ListHostedZonesByName", "*"),
        ] {
            assert_eq!(p.evaluate(&allowed), Decision::Allow, "{allowed:?}");
        }
        for denied in [
            other(
                "route53:ListResourceRecordSets",
                "arn:aws:route53:::hostedzone/Z2",
            ),
            other("route53:ListHostedZones", "*"),
            other("route53:DeleteHostedZone", ZONE),
            other("route53:CreateHostedZone", "*"),
            other("route53:GetHostedZone", ZONE),
        ] {
            assert_eq!(p.evaluate(&denied), Decision::ImplicitDeny, "{denied:?}");
        }
    }

    fn policy(statements: &str) -> Policy {
        Policy::parse(&format!(
            r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#
        ))
        .unwrap()
    }

    fn refused(statements: &str) -> PolicyError {
        Policy::parse(&format!(
            r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#
        ))
        .unwrap_err()
    }

    #[test]
    fn an_explicit_deny_beats_every_allow_and_silence_denies() {
        let p = policy(
            r#"[
            {"Effect": "Allow", "Action": "route53:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "route53:ChangeResourceRecordSets", "Resource": "*",
             "Condition": {"ForAnyValue:StringLike": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": "*.prod.example"}}}
        ]"#,
        );
        let prod = batch(&[(ChangeAction::Create, "a.prod.example", "A")]);
        let dev = batch(&[(ChangeAction::Create, "a.dev.example", "A")]);
        assert_eq!(p.evaluate(&crrs(&prod)), Decision::ExplicitDeny);
        assert_eq!(p.evaluate(&crrs(&dev)), Decision::Allow);
        // ForAnyValue on an absent key never holds: the Deny does not apply to other actions.
        assert_eq!(
            p.evaluate(&other("route53:ListHostedZones", "*")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&other("ec2:DescribeInstances", "*")),
            Decision::ImplicitDeny
        );
        // A single statement, not in an array; NotAction and NotResource.
        let p = policy(
            r#"{"Effect": "Allow", "NotAction": "route53:Delete*",
                "NotResource": "arn:aws:route53:::hostedzone/Zsecret"}"#,
        );
        assert_eq!(
            p.evaluate(&other("route53:GetHostedZone", ZONE)),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate(&other("route53:DeleteHostedZone", ZONE)),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(&other(
                "route53:GetHostedZone",
                "arn:aws:route53:::hostedzone/Zsecret"
            )),
            Decision::ImplicitDeny
        );
        // Resources are case-sensitive.
        let p = policy(
            r#"{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:route53:::hostedzone/z1"}"#,
        );
        assert_eq!(
            p.evaluate(&other("route53:GetHostedZone", ZONE)),
            Decision::ImplicitDeny
        );
    }

    /// The set operators over the three keys, as the IAM User Guide's tables show them
    /// ("Multivalued context key examples"): each row is an operator, policy values, the
    /// request's values, and whether the condition holds.
    #[test]
    fn set_operators_follow_the_iam_tables() {
        let key = "route53:ChangeResourceRecordSetsRecordTypes";
        let rows: &[(&str, &[&str], &[&str], bool)] = &[
            ("ForAllValues:StringEquals", &["A", "TXT"], &["A"], true),
            (
                "ForAllValues:StringEquals",
                &["A", "TXT"],
                &["A", "TXT"],
                true,
            ),
            (
                "ForAllValues:StringEquals",
                &["A", "TXT"],
                &["A", "MX"],
                false,
            ),
            ("ForAllValues:StringEquals", &["A"], &[], true),
            (
                "ForAnyValue:StringEquals",
                &["A", "TXT"],
                &["MX", "TXT"],
                true,
            ),
            ("ForAnyValue:StringEquals", &["A"], &["MX"], false),
            ("ForAnyValue:StringEquals", &["A"], &[], false),
            // Negated: every value (ForAll) / some value (ForAny) matches none of the policy's.
            ("ForAllValues:StringNotEquals", &["MX"], &["A", "TXT"], true),
            ("ForAllValues:StringNotEquals", &["MX"], &["A", "MX"], false),
            ("ForAllValues:StringNotEquals", &["MX"], &[], true),
            (
                "ForAnyValue:StringNotEquals",
                &["A", "TXT"],
                &["A", "MX"],
                true,
            ),
            (
                "ForAnyValue:StringNotEquals",
                &["A", "TXT"],
                &["A", "TXT"],
                false,
            ),
            ("ForAnyValue:StringNotEquals", &["A"], &[], false),
            ("ForAllValues:StringLike", &["A*"], &["A", "AAAA"], true),
            ("ForAllValues:StringLike", &["A*"], &["A", "TXT"], false),
            ("ForAnyValue:StringLike", &["T?T"], &["A", "TXT"], true),
            ("ForAllValues:StringNotLike", &["A*"], &["TXT", "MX"], true),
            (
                "ForAllValues:StringNotLike",
                &["A*"],
                &["TXT", "AAAA"],
                false,
            ),
            ("ForAnyValue:StringNotLike", &["A*"], &["AAAA", "TXT"], true),
            ("ForAnyValue:StringNotLike", &["A*"], &["AAAA", "A"], false),
            // StringEquals takes `*` literally.
            ("ForAllValues:StringEquals", &["*"], &["A"], false),
        ];
        for (operator, values, request, holds) in rows {
            let p = policy(&format!(
                r#"{{"Effect": "Allow", "Action": "*", "Resource": "*",
                     "Condition": {{"{operator}": {{"{key}": {}}}}}}}"#,
                serde_json::to_string(values).unwrap()
            ));
            let context = ChangeContext {
                types: request.iter().map(|s| (*s).to_owned()).collect(),
                ..ChangeContext::default()
            };
            let want = if *holds {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            assert_eq!(
                p.evaluate(&crrs(&context)),
                want,
                "{operator} {values:?} against {request:?}"
            );
        }
    }

    #[test]
    fn operators_keys_and_values_combine_as_iam_documents() {
        // Two keys in one operator: AND. Two operators: AND. Values: OR.
        let p = policy(
            r#"{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*",
                "Condition": {
                  "ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsRecordTypes": ["A", "TXT"],
                    "ROUTE53:changeresourcerecordsetsactions": "CREATE"
                  },
                  "ForAllValues:StringLike": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["*.lab.test"]
                  }
                }}"#,
        );
        use ChangeAction::{Create, Delete};
        assert_eq!(
            p.evaluate(&crrs(&batch(&[
                (Create, "a.lab.test", "A"),
                (Create, "b.lab.test", "TXT")
            ]))),
            Decision::Allow
        );
        for bad in [
            batch(&[(Delete, "a.lab.test", "A")]),
            batch(&[(Create, "a.lab.test", "AAAA")]),
            batch(&[(Create, "lab.test", "A")]),
        ] {
            assert_eq!(p.evaluate(&crrs(&bad)), Decision::ImplicitDeny, "{bad:?}");
        }
        // ForAllValues holds for absent keys: the statement applies to any action it names.
        let p = policy(
            r#"{"Effect": "Allow", "Action": "route53:*", "Resource": "*",
                "Condition": {"ForAllValues:StringEquals": {
                  "route53:ChangeResourceRecordSetsActions": "CREATE"}}}"#,
        );
        assert_eq!(
            p.evaluate(&other("route53:DeleteHostedZone", ZONE)),
            Decision::Allow
        );
    }

    #[test]
    fn names_are_normalised_as_route53_does() {
        let name = |n: &str| normalized_name(&Fqdn::parse(n).unwrap());
        assert_eq!(name("WWW.Lab.Test."), "www.lab.test");
        assert_eq!(
            name("_wavelb-leader.edge.lab.test"),
            "_wavelb-leader.edge.lab.test"
        );
        assert_eq!(name("*.lab.test"), "\\052.lab.test");
        let context = batch(&[
            (ChangeAction::Create, "A.lab.test", "A"),
            (ChangeAction::Upsert, "a.lab.test.", "A"),
        ]);
        assert_eq!(context.names, BTreeSet::from(["a.lab.test".to_owned()]));
        assert_eq!(context.types, BTreeSet::from(["A".to_owned()]));
        assert_eq!(
            context.actions,
            BTreeSet::from(["CREATE".to_owned(), "UPSERT".to_owned()])
        );
    }

    #[test]
    fn the_denied_message_reads_as_aws_writes_it() {
        let context = ChangeContext::default();
        let m = denied_message("AKIDAGENT", &crrs(&context), Decision::ImplicitDeny);
        assert_eq!(
            m,
            "User: arn:aws:iam::000000000000:user/AKIDAGENT is not authorized to perform: \
             route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/Z1 \
             because no identity-based policy allows the route53:ChangeResourceRecordSets action"
        );
        let m = denied_message(
            "K",
            &other("route53:ListHostedZones", "*"),
            Decision::ExplicitDeny,
        );
        assert_eq!(
            m,
            "User: arn:aws:iam::000000000000:user/K is not authorized to perform: \
             route53:ListHostedZones with an explicit deny in an identity-based policy"
        );
    }

    #[test]
    fn anything_the_lab_cannot_evaluate_is_refused_at_load_time() {
        let allow = |condition: &str| {
            refused(&format!(
                r#"{{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {condition}}}"#
            ))
        };
        let names = "route53:ChangeResourceRecordSetsNormalizedRecordNames";
        assert!(matches!(
            allow(&format!(
                r#"{{"StringEqualsIfExists": {{"{names}": "a"}}}}"#
            )),
            PolicyError::UnknownOperator { .. }
        ));
        assert!(matches!(
            allow(&format!(
                r#"{{"ForAllValues:Null": {{"{names}": "true"}}}}"#
            )),
            PolicyError::UnknownOperator { .. }
        ));
        assert!(matches!(
            allow(r#"{"StringEquals": {"aws:SourceIp": "10.0.0.1"}}"#),
            PolicyError::UnknownKey { .. }
        ));
        assert!(matches!(
            allow(r#"{"ForAnyValue:StringEquals": {"route53:VPCs": "x"}}"#),
            PolicyError::UnknownKey { .. }
        ));
        let plain = allow(&format!(r#"{{"StringLike": {{"{names}": "*.lab.test"}}}}"#));
        assert!(
            matches!(plain, PolicyError::SetOperatorRequired { .. }),
            "{plain}"
        );
        assert!(
            plain.to_string().contains("ForAllValues:StringLike"),
            "{plain}"
        );
        assert!(matches!(
            allow(&format!(
                r#"{{"ForAllValues:StringEquals": {{"{names}": 5}}}}"#
            )),
            PolicyError::WrongType { .. }
        ));
        assert!(matches!(
            allow(&format!(
                r#"{{"ForAllValues:StringEquals": {{"{names}": []}}}}"#
            )),
            PolicyError::Empty { .. }
        ));
        assert!(matches!(
            allow(&format!(
                r#"{{"ForAllValues:StringEquals": {{"{names}": "${{aws:username}}.lab.test"}}}}"#
            )),
            PolicyError::Variable { .. }
        ));
        for (statement, what) in [
            (r#"{"Effect": "Allow", "Action": "*"}"#, "Missing"),
            (r#"{"Effect": "Allow", "Resource": "*"}"#, "Missing"),
            (r#"{"Action": "*", "Resource": "*"}"#, "Missing"),
            (
                r#"{"Effect": "allow", "Action": "*", "Resource": "*"}"#,
                "BadEffect",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "NotAction": "x:y", "Resource": "*"}"#,
                "Both",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}"#,
                "Principal",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "Resource": "*", "Effects": "Deny"}"#,
                "UnknownElement",
            ),
            (
                r#"{"Effect": "Allow", "Action": "GetChange", "Resource": "*"}"#,
                "BadAction",
            ),
            (
                r#"{"Effect": "Allow", "Action": "*", "Resource": "hostedzone/Z1"}"#,
                "BadResource",
            ),
            (
                r#"{"Effect": "Allow", "Action": [], "Resource": "*"}"#,
                "Empty",
            ),
            (
                r#"{"Effect": "Allow", "Effect": "Deny", "Action": "*", "Resource": "*"}"#,
                "Json",
            ),
            (r#"[]"#, "Empty"),
        ] {
            let e = refused(statement);
            assert!(format!("{e:?}").starts_with(what), "{statement}: {e:?}");
        }
        assert!(matches!(
            Policy::parse(r#"{"Version": "2012-10-18", "Statement": []}"#).unwrap_err(),
            PolicyError::BadVersion(_)
        ));
        assert!(matches!(
            Policy::parse("[]").unwrap_err(),
            PolicyError::NotAnObject
        ));
        assert!(matches!(
            Policy::parse("{").unwrap_err(),
            PolicyError::Json(_)
        ));
        // An older policy language has no variables: `${` is a literal there.
        Policy::parse(
            r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "*",
                "Resource": "arn:aws:route53:::hostedzone/${x}"}}"#,
        )
        .unwrap();
    }

    #[test]
    fn policies_are_bounded() {
        let one = r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#;
        let many = format!("[{}]", vec![one; MAX_STATEMENTS + 1].join(","));
        assert!(matches!(refused(&many), PolicyError::TooLarge { .. }));
        policy(&format!("[{}]", vec![one; MAX_STATEMENTS].join(",")));
        let actions: Vec<String> = (0..=MAX_STRINGS).map(|i| format!("\"s:a{i}\"")).collect();
        let wide = format!(
            r#"{{"Effect": "Allow", "Action": [{}], "Resource": "*"}}"#,
            actions.join(",")
        );
        assert!(matches!(refused(&wide), PolicyError::TooLarge { .. }));
        let long = format!(
            r#"{{"Effect": "Allow", "Action": "s:{}", "Resource": "*"}}"#,
            "a".repeat(MAX_STRING_CHARS)
        );
        assert!(matches!(refused(&long), PolicyError::TooLarge { .. }));
        // serde_json's own depth limit bounds nesting.
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            Policy::parse(&deep).unwrap_err(),
            PolicyError::Json(_)
        ));
    }

    proptest! {
        /// However a batch is made, the shipped agent policy allows it exactly when every change
        /// is a CREATE or DELETE of an A, AAAA or TXT record at the pool's two names.
        #[test]
        fn the_agent_policy_allows_exactly_its_pool(
            changes in proptest::collection::vec(
                (0usize..3, 0usize..4, 0usize..4), 1..12),
        ) {
            let names = ["edge.lab.test", "_wavelb.edge.lab.test", "api.lab.test", "_wavelb-leader.edge.lab.test"];
            let types = ["A", "AAAA", "TXT", "CNAME"];
            let actions = [ChangeAction::Create, ChangeAction::Delete, ChangeAction::Upsert];
            let batch_changes: Vec<(ChangeAction, &str, &str)> = changes
                .iter()
                .map(|(a, n, t)| (actions[*a], names[*n], types[*t]))
                .collect();
            let want = changes.iter().all(|(a, n, t)| *a < 2 && *n < 2 && *t < 3);
            let context = batch(&batch_changes);
            let got = agent_policy().evaluate(&crrs(&context)) == Decision::Allow;
            prop_assert_eq!(got, want);
        }

        /// No input makes the parser panic.
        #[test]
        fn the_parser_never_panics(text in ".{0,200}") {
            let _ = Policy::parse(&text);
        }
    }
}
