//! IAM trust policies, as far as the emulator's STS reads them: which external IDs a role
//! requires, and whether Lambda may assume a function's execution role.

use serde_json::Value;

/// Parses a trust policy as IAM returns it (XML-escaped, possibly URL-encoded JSON); `Null` if
/// it is not JSON.
pub(crate) fn parse_policy(doc: &str) -> Value {
    let unescaped = doc
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&unescaped)
        .or_else(|_| {
            let decoded: String =
                form_urlencoded::parse(format!("d={}", unescaped.replace('+', "%2B")).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
            serde_json::from_str(&decoded)
        })
        .unwrap_or(Value::Null)
}

fn statements(policy: &Value) -> Vec<Value> {
    match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o) => vec![o.clone()],
        None => vec![],
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// External IDs required (`StringEquals` / `sts:ExternalId`) by a trust policy.
pub(crate) fn external_ids_of(policy: &Value) -> Vec<String> {
    statements(policy)
        .iter()
        .flat_map(|st| strings(st.pointer("/Condition/StringEquals/sts:ExternalId")))
        .collect()
}

/// Whether the policy lets `service` (e.g. `lambda.amazonaws.com`) assume the role: an `Allow`
/// statement with that service principal and `sts:AssumeRole` (or a wildcard).
pub(crate) fn trusts_service(policy: &Value, service: &str) -> bool {
    statements(policy).iter().any(|st| {
        let allow = st.get("Effect").and_then(Value::as_str) == Some("Allow");
        let principal = strings(st.pointer("/Principal/Service"))
            .iter()
            .any(|s| s == service)
            || st.get("Principal").and_then(Value::as_str) == Some("*");
        let action = strings(st.get("Action")).iter().any(|a| {
            matches!(
                a.to_ascii_lowercase().as_str(),
                "sts:assumerole" | "sts:*" | "*"
            )
        });
        allow && principal && action
    })
}

/// Why Lambda could not assume `role_arn` as a function's execution role, or `None` if it can:
/// the role must be an IAM role ARN of the emulator's `account`, and, when an IAM endpoint was
/// consulted (`iam`: `Some(None)` = the role does not exist there), exist and trust
/// `lambda.amazonaws.com`.
pub(crate) fn sandbox_role_refusal(
    role_arn: &str,
    account: &str,
    iam: Option<&Option<Value>>,
) -> Option<String> {
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let (role_account, resource) = match parts.as_slice() {
        ["arn", _, "iam", "", acct, res] => (*acct, *res),
        _ => {
            return Some(format!(
                "the execution role '{role_arn}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
            ))
        }
    };
    if !resource.starts_with("role/") {
        return Some(format!("the execution role '{role_arn}' is not a role"));
    }
    if role_account != account {
        return Some(format!(
            "the execution role {role_arn} is in account {role_account}, not the emulator's {account}"
        ));
    }
    match iam {
        None => None,
        Some(None) => Some(format!(
            "the execution role {role_arn} does not exist at the IAM endpoint: create it (with a trust \
             policy for lambda.amazonaws.com) or use another role"
        )),
        Some(Some(policy)) if !trusts_service(policy, "lambda.amazonaws.com") => Some(format!(
            "the execution role {role_arn} does not trust lambda.amazonaws.com: add a statement \
             {{\"Effect\":\"Allow\",\"Principal\":{{\"Service\":\"lambda.amazonaws.com\"}},\"Action\":\"sts:AssumeRole\"}}"
        )),
        Some(Some(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policy_external_ids() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":["abc+12"]}}}]}"#;
        assert_eq!(external_ids_of(&parse_policy(doc)), vec!["abc+12"]);
        let encoded: String = form_urlencoded::byte_serialize(doc.as_bytes()).collect();
        assert_eq!(external_ids_of(&parse_policy(&encoded)), vec!["abc+12"]);
        let escaped = doc.replace('"', "&quot;");
        assert_eq!(external_ids_of(&parse_policy(&escaped)), vec!["abc+12"]);
        assert!(external_ids_of(&parse_policy(
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#
        ))
        .is_empty());
    }

    #[test]
    fn lambda_may_assume_only_its_accounts_trusting_roles() {
        let lambda = parse_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#,
        );
        let other = parse_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        let denied = parse_policy(
            r#"{"Statement":[{"Effect":"Deny","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        let role = "arn:aws:iam::123456789012:role/exec";
        assert_eq!(sandbox_role_refusal(role, "123456789012", None), None);
        assert_eq!(
            sandbox_role_refusal(role, "123456789012", Some(&Some(lambda))),
            None
        );
        for refused in [
            sandbox_role_refusal(role, "123456789012", Some(&Some(other))),
            sandbox_role_refusal(role, "123456789012", Some(&Some(denied))),
            sandbox_role_refusal(role, "123456789012", Some(&None)),
            sandbox_role_refusal("arn:aws:iam::999999999999:role/x", "123456789012", None),
            sandbox_role_refusal("anything at all", "123456789012", None),
            sandbox_role_refusal("arn:aws:iam::123456789012:user/u", "123456789012", None),
        ] {
            assert!(refused.is_some());
        }
    }
}
