//! Unit tests of every check, over facts built here: no server, no AWS. [`healthy`] is a setup
//! where every check passes; each test breaks one fact.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::compute::LambdaProviderDetails;
use crate::iam::{RoleFacts, Trust};
use crate::logs::LogActivity;
use temporal_lambda_env::protocol::{ConnectionCheck, Describe};

use super::facts::{
    AwsIdentity, DeploymentFacts, Facts, FunctionFacts, Inputs, VersionFacts, VersionUse,
};
use super::{report, CheckId, Status, Verdict, CHECKS};

mod deployment;
mod function;
mod role;
mod version;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hello:3";
const ROLE: &str = "arn:aws:iam::123456789012:role/invoker";
const EXEC: &str = "arn:aws:iam::123456789012:role/exec";
const EXT: &str = "ext-12345";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:temporal/key-AbCdEf";
const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/server";

/// The invocation role `iam create` makes: trusts [`PRINCIPAL`] with [`EXT`], may invoke
/// and read `hello` and its versions.
fn invocation_role() -> RoleFacts {
    RoleFacts {
        role_arn: ROLE.into(),
        trusted_principals: vec![PRINCIPAL.into()],
        external_ids: vec![EXT.into()],
        unguarded_principals: vec![],
        policies: vec![json!({"Statement": [{
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction", "lambda:GetFunction"],
            "Resource": [
                "arn:aws:lambda:us-east-1:123456789012:function:hello",
                "arn:aws:lambda:us-east-1:123456789012:function:hello:*"
            ]
        }]})],
    }
}

/// A role whose identity policies are `statements`.
fn role_with(statements: serde_json::Value) -> RoleFacts {
    RoleFacts {
        role_arn: EXEC.into(),
        policies: vec![json!({ "Statement": statements })],
        ..Default::default()
    }
}

/// The execution role, allowed to read [`SECRET`].
fn execution_role() -> RoleFacts {
    role_with(
        json!([{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET}]),
    )
}

fn describe(deployment_name: &str, build_id: &str) -> Describe {
    serde_json::from_value(json!({
        "library": "temporal-lambda-worker", "library_version": "0.1.0",
        "deployment_name": deployment_name, "build_id": build_id, "task_queue": "hello-tq",
    }))
    .unwrap()
}

fn connection(ok: bool, error: Option<&str>) -> ConnectionCheck {
    serde_json::from_value(json!({
        "ok": ok, "address": "127.0.0.1:7233", "api_key": "secret", "connect_ms": 12,
        "error": error,
    }))
    .unwrap()
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every check passes.
fn healthy() -> Facts {
    Facts {
        inputs: Inputs {
            deployment_name: "hello".into(),
            build_id: "b1".into(),
            namespace: "default".into(),
            address: "127.0.0.1:7233".into(),
            function: None,
            trust: Some(Trust::SelfHosted {
                principal: PRINCIPAL.into(),
            }),
            min_timeout: Duration::from_secs(8),
            log_window: Duration::from_secs(3600),
        },
        temporal: Some(Ok(())),
        version: Some(Ok(VersionFacts {
            version: "hello.b1".into(),
            status: "CURRENT".into(),
            lambda: Some(LambdaProviderDetails {
                arn: ARN.into(),
                role: Some(ROLE.into()),
                role_external_id: Some(EXT.into()),
            }),
        })),
        aws: Some(Ok(AwsIdentity {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        })),
        deployment: Some(Ok(Some(DeploymentFacts {
            current: Some("b1".into()),
            versions: vec![VersionUse {
                build_id: "b1".into(),
                ..Default::default()
            }],
            ..Default::default()
        }))),
        function: Some(Ok(FunctionFacts {
            state: Some("Active".into()),
            state_reason: None,
            memory_mb: Some(256),
            architecture: Some("arm64".into()),
            timeout_s: Some(600),
            env: env(&[
                ("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
                ("TEMPORAL_NAMESPACE", "default"),
                ("TEMPORAL_API_KEY_SECRET_ARN", SECRET),
                ("OTHER", "x"),
            ]),
            execution_role: Some(EXEC.into()),
        })),
        role: Some(Ok(Some(invocation_role()))),
        code: Some(Ok(describe("hello", "b1"))),
        execution_role: Some(Ok(Some(execution_role()))),
        connection: Some(Ok(connection(true, None))),
        logs: Some(Ok(Some(LogActivity {
            invocations: 5,
            ..Default::default()
        }))),
    }
}

/// The function facts of `f`, to change one.
fn function_mut(f: &mut Facts) -> &mut FunctionFacts {
    f.function.as_mut().unwrap().as_mut().unwrap()
}

/// The compute config of `f`, to change one field.
fn target_mut(f: &mut Facts) -> &mut LambdaProviderDetails {
    f.version
        .as_mut()
        .unwrap()
        .as_mut()
        .unwrap()
        .lambda
        .as_mut()
        .unwrap()
}

/// The check `id` over `f` (it must apply).
fn check(f: &Facts, id: CheckId) -> Verdict {
    id.evaluate(f)
        .unwrap_or_else(|| panic!("{} does not apply", id.as_str()))
}

/// Asserts `id`'s status and that its detail contains `detail` and its fix `fix` (`""`: any,
/// including none).
#[track_caller]
fn assert_check(f: &Facts, id: CheckId, status: Status, detail: &str, fix: &str) -> Verdict {
    let v = check(f, id);
    assert_eq!(v.status, status, "{}: {v:?}", id.as_str());
    assert!(v.detail.contains(detail), "{}: {v:?}", id.as_str());
    if !fix.is_empty() {
        let got = v.fix.as_deref().unwrap_or_default();
        assert!(got.contains(fix), "{}: {v:?}", id.as_str());
    }
    match status {
        Status::Warn | Status::Fail => assert!(v.fix.is_some(), "{v:?}"),
        Status::Ok | Status::Skip => assert!(v.fix.is_none(), "{v:?}"),
    }
    v
}

#[track_caller]
fn assert_skipped(f: &Facts, ids: &[CheckId], why: &str) {
    for &id in ids {
        let v = check(f, id);
        assert_eq!(
            (v.status, v.detail.as_str()),
            (Status::Skip, why),
            "{}",
            id.as_str()
        );
    }
}

#[test]
fn a_healthy_setup_passes_every_check_in_the_documented_order() {
    let r = report(&healthy());
    let ids: Vec<&str> = r.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CHECKS);
    let not_ok: Vec<_> = r.checks.iter().filter(|c| c.status != Status::Ok).collect();
    assert!(not_ok.is_empty(), "{}", r.text());
    assert_eq!((r.failures, r.warnings), (0, 0));
    assert_eq!(r.version, "hello:b1");
}

#[test]
fn check_ids_are_the_documented_strings() {
    assert_eq!(CHECKS.len(), 21);
    assert_eq!(CheckId::ALL.len(), 22);
    let mut seen = std::collections::HashSet::new();
    for id in CheckId::ALL {
        assert!(seen.insert(id.as_str()), "{} twice", id.as_str());
    }
    // `function-expected` follows `function-qualified`, and is the only one not always listed.
    let all: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
    let at = all.iter().position(|c| *c == "function-expected").unwrap();
    assert_eq!(all[at - 1], "function-qualified");
    let mut without = all.clone();
    without.remove(at);
    assert_eq!(without, CHECKS);
    assert_eq!(CheckId::RoleExternalId.as_str(), "role-external-id");
}

#[test]
fn function_expected_is_listed_after_function_qualified_when_asked_for() {
    let mut f = healthy();
    f.inputs.function = Some("hello".into());
    let r = report(&f);
    let ids: Vec<&str> = r.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids[4..6], ["function-qualified", "function-expected"]);
    assert_eq!(ids.len(), CHECKS.len() + 1);
    assert_eq!(
        r.check(CheckId::FunctionExpected).unwrap().status,
        Status::Ok
    );
}

/// Nothing reachable: every check is still listed, in order, each with why it was skipped.
#[test]
fn with_nothing_reachable_every_check_is_listed_in_order() {
    let f = Facts {
        inputs: healthy().inputs,
        temporal: Some(Err("connection refused".into())),
        aws: Some(Err(super::facts::AwsFailure::Config("no region".into()))),
        ..Default::default()
    };
    let r = report(&f);
    let ids: Vec<&str> = r.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CHECKS);
    assert_eq!(r.failures, 2, "{}", r.text());
    assert_eq!(r.get("temporal-connection").unwrap().status, Status::Fail);
    assert_eq!(r.get("aws-credentials").unwrap().status, Status::Fail);
    for c in r.checks.iter().filter(|c| c.status != Status::Fail) {
        assert_eq!(c.status, Status::Skip, "{}", r.text());
    }
}

/// The old code skipped `role-exists` before `role-not-execution` (against the documented
/// order) when there was no compute config; now the role checks keep their order.
#[test]
fn skipped_role_checks_keep_the_documented_order() {
    let mut f = healthy();
    f.version = Some(Ok(VersionFacts {
        version: "hello.b1".into(),
        status: "CURRENT".into(),
        lambda: None,
    }));
    f.inputs.function = Some(ARN.into());
    let r = report(&f);
    let ids: Vec<&str> = r.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CHECKS);
    assert_eq!(r.get("role-exists").unwrap().detail, "no compute config");
}

#[test]
fn text_and_json_show_the_id_status_detail_and_fix() {
    let mut f = healthy();
    function_mut(&mut f).timeout_s = Some(30);
    let r = report(&f);
    let text = r.text();
    assert!(text.starts_with("doctor: hello:b1\n[ok  ] temporal-connection    connected to"));
    assert!(
        text.contains("[WARN] function-timeout       timeout 30 s"),
        "{text}"
    );
    assert!(
        text.contains(
            "\n       {:<22} fix: temporal-lambda deploy --timeout 600s\n"
                .replace("{:<22}", &" ".repeat(22))
                .as_str()
        ),
        "{text}"
    );
    assert!(text.ends_with("0 failure(s), 1 warning(s)"), "{text}");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["checks"][0]["id"], "temporal-connection");
    assert_eq!(v["checks"][0]["status"], "ok");
    assert!(v["checks"][0].get("fix").is_none());
    assert_eq!(v["warnings"], 1);
}
