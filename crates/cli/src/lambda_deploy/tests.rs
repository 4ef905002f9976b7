//! `deploy`'s decisions over facts built here: no AWS.

use super::*;

fn opts(secret: &str) -> DeployOptions {
    DeployOptions {
        function_name: "f".into(),
        zip: "function.zip".into(),
        execution_role: None,
        timeout: Duration::from_secs(60),
        memory_mb: 256,
        arch: temporal_lambda_package::Arch::X86_64,
        env: BTreeMap::from([(
            temporal_lambda_env::connection::API_KEY_SECRET_ARN.to_string(),
            secret.to_string(),
        )]),
        build_id: None,
        files: Vec::new(),
    }
}

const SHA: &str = "c2hhLW9mLXRoZS1wYWNrYWdl";
const ROLE: &str = "arn:aws:iam::123456789012:role/exec";

/// Options with a plain environment and an execution role.
fn wanted() -> DeployOptions {
    DeployOptions {
        execution_role: Some(ROLE.into()),
        env: BTreeMap::from([("TEMPORAL_ADDRESS".to_string(), "h:7233".to_string())]),
        ..opts("")
    }
}

/// What Lambda reports for a function deployed with [`wanted`] and code [`SHA`].
fn deployed() -> FunctionFacts {
    let o = wanted();
    FunctionFacts {
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f:3".into(),
        code_sha256: Some(SHA.into()),
        architecture: Some("x86_64".into()),
        timeout_secs: Some(60),
        memory_mb: Some(256),
        env: o.env.clone(),
        handler: Some("bootstrap".into()),
        role: o.execution_role.clone(),
    }
}

fn describe(build_id: &str) -> Describe {
    serde_json::from_value(serde_json::json!({"deployment_name": "app", "build_id": build_id}))
        .unwrap()
}

/// A key in `TEMPORAL_API_KEY_SECRET_ARN` (e.g. through `--env`) is refused before any
/// call, and neither that error nor the `--dry-run` plan repeats it.
#[test]
fn a_pasted_key_is_refused_before_any_write_and_not_shown() {
    let o = opts("tmprl_PASTEDKEY.abc");
    let e = secret_arn(&o.env).unwrap_err();
    assert!(!e.to_string().contains("PASTEDKEY"), "{e}");
    assert!(e.to_string().contains("--api-key-secret-arn"), "{e}");
    let plan = plan(&o).join("\n");
    assert!(!plan.contains("PASTEDKEY"), "{plan}");
    assert!(plan.contains("<redacted: not an ARN>"), "{plan}");
    let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/temporal/key";
    let parsed = secret_arn(&opts(arn).env).unwrap().unwrap();
    assert!(plan_contains(&opts(arn), arn));
    let policy = secret_read_policy(&parsed).to_string();
    assert!(policy.contains("ssm:GetParameter") && policy.contains("ssm.eu-west-1.amazonaws.com"));
}

fn plan_contains(o: &DeployOptions, s: &str) -> bool {
    plan(o).iter().any(|c| c.contains(s))
}

#[test]
fn a_missing_function_is_created_with_the_execution_role() {
    assert_eq!(
        function_change(None, &wanted(), SHA).unwrap(),
        FunctionChange::Create {
            execution_role: ROLE.into()
        }
    );
}

#[test]
fn a_missing_function_without_an_execution_role_is_refused_with_the_fix() {
    let o = DeployOptions {
        execution_role: None,
        ..wanted()
    };
    let e = function_change(None, &o, SHA).unwrap_err();
    assert!(matches!(e, DeployError::ExecutionRoleRequired(ref f) if f == "f"));
    assert!(e.to_string().contains("--execution-role"), "{e}");
}

#[test]
fn an_unchanged_function_is_left_alone() {
    let change = function_change(Some(&deployed()), &wanted(), SHA).unwrap();
    assert_eq!(
        change,
        FunctionChange::Update {
            code: false,
            configuration: false
        }
    );
    // Without --execution-role, the function's role is whatever it is.
    let o = DeployOptions {
        execution_role: None,
        ..wanted()
    };
    assert_eq!(function_change(Some(&deployed()), &o, SHA).unwrap(), change);
}

#[test]
fn new_code_or_another_architecture_is_uploaded() {
    let code_only = FunctionChange::Update {
        code: true,
        configuration: false,
    };
    assert_eq!(
        function_change(Some(&deployed()), &wanted(), "other-sha").unwrap(),
        code_only
    );
    let arm = FunctionFacts {
        architecture: Some("arm64".into()),
        ..deployed()
    };
    assert_eq!(
        function_change(Some(&arm), &wanted(), SHA).unwrap(),
        code_only
    );
    let unknown = FunctionFacts {
        code_sha256: None,
        ..deployed()
    };
    assert_eq!(
        function_change(Some(&unknown), &wanted(), SHA).unwrap(),
        code_only
    );
}

#[test]
fn each_changed_setting_updates_the_configuration() {
    let d = deployed();
    let changed = [
        FunctionFacts {
            timeout_secs: Some(30),
            ..d.clone()
        },
        FunctionFacts {
            memory_mb: Some(128),
            ..d.clone()
        },
        FunctionFacts {
            env: BTreeMap::new(),
            ..d.clone()
        },
        FunctionFacts {
            handler: Some("main".into()),
            ..d.clone()
        },
        FunctionFacts {
            role: Some("arn:aws:iam::123456789012:role/other".into()),
            ..d.clone()
        },
    ];
    for facts in changed {
        assert_eq!(
            function_change(Some(&facts), &wanted(), SHA).unwrap(),
            FunctionChange::Update {
                code: false,
                configuration: true
            },
            "{facts:?}"
        );
    }
}

#[test]
fn the_build_id_flag_must_match_the_code() {
    assert!(check_build_id(None, &describe("b1")).is_ok());
    assert!(check_build_id(Some("b1"), &describe("b1")).is_ok());
    let e = check_build_id(Some("b2"), &describe("b1")).unwrap_err();
    assert!(
        matches!(&e, DeployError::BuildIdMismatch { given, actual } if given == "b2" && actual == "b1")
    );
    assert!(e.to_string().contains("drop the flag"), "{e}");
}

#[test]
fn a_build_id_is_published_once_per_code() {
    assert_eq!(same_code_version("f", "b1", None, SHA).unwrap(), None);
    let same = PublishedBuild {
        version: "3".into(),
        code_sha256: SHA.into(),
    };
    assert_eq!(
        same_code_version("f", "b1", Some(same), SHA).unwrap(),
        Some("3".into())
    );
    let other = PublishedBuild {
        version: "3".into(),
        code_sha256: "old-sha".into(),
    };
    let e = same_code_version("f", "b1", Some(other), SHA).unwrap_err();
    let DeployError::BuildIdReused {
        build_id,
        version,
        function,
        old_sha,
        new_sha,
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(
        (build_id.as_str(), version.as_str(), function.as_str()),
        ("b1", "3", "f")
    );
    assert_eq!((old_sha.as_str(), new_sha.as_str()), ("old-sha", SHA));
    assert!(e.to_string().contains("bump the build ID"), "{e}");
}

#[test]
fn the_same_code_is_republished_only_when_its_settings_changed() {
    assert!(reuse_published(&deployed(), &wanted()));
    // Handler and role are not part of a published version's identity here.
    assert!(reuse_published(
        &FunctionFacts {
            handler: None,
            role: None,
            ..deployed()
        },
        &wanted()
    ));
    for facts in [
        FunctionFacts {
            timeout_secs: Some(61),
            ..deployed()
        },
        FunctionFacts {
            memory_mb: None,
            ..deployed()
        },
        FunctionFacts {
            env: BTreeMap::from([("X".to_string(), "1".to_string())]),
            ..deployed()
        },
    ] {
        assert!(!reuse_published(&facts, &wanted()), "{facts:?}");
    }
}

#[test]
fn readiness_follows_state_and_last_update() {
    for (state, update, want) in [
        ("Active", "Successful", Readiness::Ready),
        ("", "Successful", Readiness::Ready),
        ("Failed", "Successful", Readiness::Failed),
        ("Active", "Failed", Readiness::Failed),
        ("Pending", "Successful", Readiness::Pending),
        ("Active", "InProgress", Readiness::Pending),
    ] {
        assert_eq!(readiness(state, update), want, "{state}/{update}");
    }
}

#[test]
fn an_out_of_range_timeout_saturates() {
    assert_eq!(lambda_timeout_secs(Duration::from_secs(900)), 900);
    assert_eq!(lambda_timeout_secs(Duration::from_secs(u64::MAX)), i32::MAX);
}
