//! IAM policy documents: the one evaluator of a role's identity policies
//! ([`RoleFacts::allows`]: an explicit `Deny` wins) and the reading of a trust policy
//! ([`trust_facts`]).

use serde::Serialize;
use serde_json::Value;

/// What a role's policies say, as far as the invocation path is concerned.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct RoleFacts {
    /// Role ARN.
    pub(crate) role_arn: String,
    /// Principals (AWS) allowed to `sts:AssumeRole`.
    pub(crate) trusted_principals: Vec<String>,
    /// External IDs required by `StringEquals sts:ExternalId` on those statements; empty means
    /// the trust policy does not enforce one.
    pub(crate) external_ids: Vec<String>,
    /// Principals of `Allow sts:AssumeRole` statements that carry no `sts:ExternalId`
    /// condition (`"*"` when the statement names none). Any entry means the external ID is not
    /// enforced: that statement alone lets its principals assume the role.
    pub(crate) unguarded_principals: Vec<String>,
    /// All identity policy documents (inline and attached), decoded.
    #[serde(skip)]
    pub(crate) policies: Vec<Value>,
}

impl RoleFacts {
    /// Whether the role's identity policies allow `action` on `resource`.
    pub(crate) fn allows(&self, action: &str, resource: &str) -> bool {
        let mut allowed = false;
        for doc in &self.policies {
            for st in statements(doc) {
                let matches = strings(st.get("Action"))
                    .iter()
                    .any(|a| wildcard(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                    && strings(st.get("Resource"))
                        .iter()
                        .any(|r| wildcard(r, resource));
                if matches {
                    match st.get("Effect").and_then(Value::as_str) {
                        Some("Deny") => return false,
                        Some("Allow") => allowed = true,
                        _ => {}
                    }
                }
            }
        }
        allowed
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => vec![],
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// IAM-style wildcard match (`*` any run, `?` one character).
pub(crate) fn wildcard(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}

pub(super) fn decode_policy(s: &str) -> Value {
    let decoded = urlencoding::decode(s)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| s.to_string());
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(s))
        .unwrap_or(Value::Null)
}

/// What a trust policy says about `sts:AssumeRole`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustFacts {
    /// Principals (AWS) of every `Allow sts:AssumeRole` statement.
    pub(crate) trusted_principals: Vec<String>,
    /// External IDs required by `StringEquals`/`StringLike sts:ExternalId` conditions.
    pub(crate) external_ids: Vec<String>,
    /// Principals of `Allow sts:AssumeRole` statements with no external-ID condition.
    pub(crate) unguarded_principals: Vec<String>,
}

/// Reads a trust policy statement by statement: an external ID is enforced only if *every*
/// statement that allows `sts:AssumeRole` carries the condition (IAM allows when any one
/// statement allows, so one unconditioned statement beside a guarded one defeats it).
pub(crate) fn trust_facts(trust: &Value) -> TrustFacts {
    let mut out = TrustFacts::default();
    for st in statements(trust) {
        let assumes = strings(st.get("Action"))
            .iter()
            .any(|a| wildcard(&a.to_ascii_lowercase(), "sts:assumerole"));
        if !assumes || st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let principals = match st.get("Principal") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(p) => strings(p.get("AWS")),
            None => vec![],
        };
        let mut ids = Vec::new();
        if let Some(cond) = st.get("Condition") {
            for op in ["StringEquals", "StringLike"] {
                ids.extend(strings(cond.get(op).and_then(|c| c.get("sts:ExternalId"))));
            }
        }
        if ids.is_empty() {
            if principals.is_empty() {
                out.unguarded_principals.push("*".into());
            } else {
                out.unguarded_principals.extend(principals.iter().cloned());
            }
        }
        out.trusted_principals.extend(principals);
        out.external_ids.extend(ids);
    }
    out
}
