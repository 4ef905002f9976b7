//! Tests of the templates, the policy evaluator and the trust-policy reading.

use super::policy::{trust_facts, wildcard, TrustFacts};
use super::stack::normalize_list;
use super::*;

/// Every statement that allows `sts:AssumeRole` requires an external ID.
fn enforces_external_id(t: &TrustFacts) -> bool {
    !t.external_ids.is_empty() && t.unguarded_principals.is_empty()
}

#[test]
fn an_unconditioned_allow_beside_a_guarded_one_does_not_enforce_the_external_id() {
    let guarded = serde_json::json!({
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::902542641901:role/wci-lambda-invoke"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "ext-12345"}}
    });
    let open = serde_json::json!({
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]
    });
    let only_guarded = trust_facts(&serde_json::json!({"Statement": [guarded.clone()]}));
    assert!(enforces_external_id(&only_guarded));
    let both = trust_facts(&serde_json::json!({"Statement": [guarded, open]}));
    assert_eq!(both.external_ids, vec!["ext-12345"]);
    assert_eq!(
        both.unguarded_principals,
        vec!["arn:aws:iam::111111111111:root"]
    );
    assert!(!enforces_external_id(&both));
    // A Deny without the condition does not grant anything.
    let deny = trust_facts(&serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "a"}, "Action": "sts:*",
         "Condition": {"StringEquals": {"sts:ExternalId": "x1234"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}
    ]}));
    assert!(enforces_external_id(&deny));
    // "Principal": "*" without a condition.
    let star = trust_facts(
        &serde_json::json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}),
    );
    assert_eq!(star.unguarded_principals, vec!["*"]);
}

#[test]
fn generated_external_ids_are_valid_and_distinct() {
    let a = generate_external_id();
    let b = generate_external_id();
    assert_eq!(a.as_str().len(), 32);
    assert_ne!(a, b);
}

#[test]
fn list_parameters_compare_in_either_form() {
    assert_eq!(normalize_list("['a:1', 'b:*']"), "a:1,b:*");
    assert_eq!(normalize_list("a:1,b:*"), "a:1,b:*");
}

#[test]
fn wildcards() {
    assert!(wildcard("lambda:*", "lambda:invokefunction"));
    assert!(wildcard(
        "arn:aws:lambda:us-east-1:1:function:hello:*",
        "arn:aws:lambda:us-east-1:1:function:hello:3"
    ));
    assert!(!wildcard(
        "arn:aws:lambda:us-east-1:1:function:hello",
        "arn:aws:lambda:us-east-1:1:function:hello:3"
    ));
    assert!(wildcard("*", "anything"));
    assert!(wildcard("a?c", "abc"));
}

#[test]
fn policy_evaluation_with_deny() {
    let f = RoleFacts {
        policies: vec![serde_json::json!({
            "Statement": [
                {"Effect": "Allow", "Action": ["lambda:InvokeFunction", "lambda:GetFunction"], "Resource": "arn:x:function:f:*"},
                {"Effect": "Deny", "Action": "lambda:GetFunction", "Resource": "arn:x:function:f:2"}
            ]
        })],
        ..Default::default()
    };
    assert!(f.allows("lambda:InvokeFunction", "arn:x:function:f:2"));
    assert!(f.allows("lambda:GetFunction", "arn:x:function:f:3"));
    assert!(!f.allows("lambda:GetFunction", "arn:x:function:f:2"));
    assert!(!f.allows("lambda:InvokeFunction", "arn:x:function:g:1"));
}

#[test]
fn templates_carry_the_guides_parameters() {
    for t in [CLOUD_TEMPLATE, SELF_HOSTED_TEMPLATE] {
        for p in [
            "AssumeRoleExternalId",
            "LambdaFunctionARNs",
            "RoleName",
            "lambda:InvokeFunction",
            "lambda:GetFunction",
            "sts:ExternalId",
            "RoleARN",
        ] {
            assert!(t.contains(p), "{p}");
        }
    }
    for p in TEMPORAL_CLOUD_PRINCIPALS {
        assert!(CLOUD_TEMPLATE.contains(p));
    }
    assert!(SELF_HOSTED_TEMPLATE.contains("TrustedPrincipalArn"));
}
