//! `deploy`, `iam create`, `register` and `doctor` against local AWS endpoints (moto for IAM and
//! CloudFormation, the project's emulator for Lambda, STS and CloudWatch Logs) and the real
//! Temporal dev server, with the real sample worker as the function.
//!
//! Each `doctor_*` test builds a healthy setup, breaks exactly one thing, and asserts the exact
//! finding and fix.

use crate::support;

use std::time::Duration;

use support::*;
use temporal_lambda_cli::{
    compute::LambdaTarget,
    deployment::{self, RegisterOptions},
    doctor::{self, DoctorOptions, DoctorReport, Status},
    iam::{self, StackOptions, Trust},
    lambda_deploy::{self as deploy, DeployError, DeployOptions, DeployReport},
};

const EXTERNAL_ID: &str = "doctor-test-external-id";

fn deploy_opts(rig: &AwsRig, name: &str, zip: std::path::PathBuf) -> DeployOptions {
    DeployOptions {
        function_name: name.to_string(),
        zip,
        execution_role: Some(EXECUTION_ROLE.to_string()),
        timeout: Duration::from_secs(60),
        memory_mb: 256,
        arch: temporal_lambda_package::Arch::X86_64,
        env: deploy::temporal_env(&rig.conn(), None, &[]),
        build_id: None,
        files: vec![],
    }
}

struct Healthy {
    deploy: DeployReport,
    role_arn: String,
}

/// deploy → iam create (self-hosted trust) → register (+ set current).
async fn healthy(rig: &AwsRig, name: &str, set_current: bool) -> Healthy {
    let t = std::time::Instant::now();
    let zip = sample_zip(env!("CARGO_BIN_EXE_bootstrap").as_ref());
    eprintln!("[{:?}] zip", t.elapsed());
    let d = deploy::deploy(&rig.aws, &deploy_opts(rig, name, zip), &|_| {})
        .await
        .unwrap();
    assert!(
        d.function_arn.ends_with(&format!(":{name}:1")),
        "{}",
        d.function_arn
    );
    let base = d.function_arn.rsplit_once(':').unwrap().0.to_string();
    eprintln!("[{:?}] deployed", t.elapsed());
    let stack = iam::create_stack(
        &rig.aws,
        &StackOptions {
            stack_name: format!("{name}-role"),
            trust: Trust::SelfHosted {
                principal: SERVER_PRINCIPAL.into(),
            },
            external_id: EXTERNAL_ID.parse().unwrap(),
            function_arns: vec![base.clone(), format!("{base}:*")],
            role_name: None,
        },
        &|_| {},
    )
    .await
    .unwrap();
    eprintln!("[{:?}] stack", t.elapsed());
    let conn = rig.conn().connect().await.unwrap();
    register_version(
        &conn,
        &d.deployment_name,
        &d.build_id,
        &d.function_arn,
        &stack.role_arn,
        set_current,
    )
    .await
    .unwrap();
    eprintln!("[{:?}] registered", t.elapsed());
    Healthy {
        deploy: d,
        role_arn: stack.role_arn,
    }
}

/// Registers `<deployment>:<build>` invoking `function_arn` through `role_arn` (replacing any
/// compute config), optionally making it current.
async fn register_version(
    conn: &temporalio_client::Connection,
    deployment_name: &str,
    build_id: &str,
    function_arn: &str,
    role_arn: &str,
    set_current: bool,
) -> Result<deployment::RegisterReport, deployment::DeploymentError> {
    deployment::register(
        conn,
        &RegisterOptions {
            namespace: "default".into(),
            deployment_name: deployment_name.into(),
            build_id: build_id.into(),
            target: LambdaTarget {
                function_arn: function_arn.parse().unwrap(),
                role_arn: role_arn.parse().unwrap(),
                external_id: EXTERNAL_ID.parse().unwrap(),
            },
            update: true,
            set_current,
        },
    )
    .await
}

fn doctor_opts(rig: &AwsRig, h: &Healthy) -> DoctorOptions {
    DoctorOptions {
        conn: rig.conn(),
        aws: Default::default(),
        deployment_name: h.deploy.deployment_name.clone(),
        build_id: h.deploy.build_id.clone(),
        function: None,
        trust: Some(Trust::SelfHosted {
            principal: SERVER_PRINCIPAL.into(),
        }),
        min_timeout: Duration::from_secs(8),
        log_window: Duration::from_secs(3600),
    }
}

async fn doctor(rig: &AwsRig, o: &DoctorOptions) -> DoctorReport {
    let t = std::time::Instant::now();
    let r = doctor::run_with(o, Ok(rig.aws.clone())).await;
    eprintln!("doctor took {:?}", t.elapsed());
    r
}

/// Asserts check `id` has `status`, its detail contains `detail` and its fix contains `fix`.
fn assert_finding(r: &DoctorReport, id: &str, status: Status, detail: &str, fix: &str) {
    let c = r
        .get(id)
        .unwrap_or_else(|| panic!("no check {id}:\n{}", r.text()));
    assert_eq!(c.status, status, "{id}:\n{}", r.text());
    assert!(
        c.detail.contains(detail),
        "{id} detail {:?} lacks {detail:?}",
        c.detail
    );
    if !fix.is_empty() {
        let f = c.fix.as_deref().unwrap_or("");
        assert!(f.contains(fix), "{id} fix {f:?} lacks {fix:?}");
    }
}

/// Only `id` fails (plus the checks it makes impossible, listed in `also`).
fn only_failure(r: &DoctorReport, id: &str, also: &[&str]) {
    let failing: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.id)
        .filter(|c| *c != id && !also.contains(c))
        .collect();
    assert!(
        failing.is_empty(),
        "unexpected failures {failing:?}:\n{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthy_setup_passes_every_check_and_deploy_is_one_version_per_build_id() {
    let rig = AwsRig::start("healthy").await;
    let h = healthy(&rig, "hello", true).await;
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_eq!(r.failures, 0, "{}", r.text());
    assert_eq!(r.warnings, 0, "{}", r.text());
    let ids: Vec<&str> = r.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, doctor::CHECKS, "every check reported, in order");
    // Every check passes; the secret grant is skipped (the key is not read from a secret).
    assert!(
        r.checks
            .iter()
            .all(|c| c.status == Status::Ok || (c.id == "secret-grant" && c.status == Status::Skip)),
        "{}",
        r.text()
    );
    assert_finding(
        &r,
        "function-identity",
        Status::Ok,
        "hello-app:build-1 polling hello-lambda",
        "",
    );

    // Same code again: the build ID's version is reused, nothing published.
    let zip = sample_zip(env!("CARGO_BIN_EXE_bootstrap").as_ref());
    let again = deploy::deploy(&rig.aws, &deploy_opts(&rig, "hello", zip.clone()), &|_| {})
        .await
        .unwrap();
    assert!(!again.published && !again.code_updated && !again.created);
    assert_eq!(again.function_arn, h.deploy.function_arn);

    // Different code under the same build ID: refused, and nothing published.
    let other = rig.dir.0.join("other.zip");
    let extra = rig.dir.0.join("temporal.toml");
    std::fs::write(&extra, "# changes the package\n").unwrap();
    let bin = rig.dir.0.join("unzipped-bootstrap");
    extract_bootstrap(&zip, &bin);
    temporal_lambda_package::zip_bootstrap(&bin, &[extra], &other).unwrap();
    let err = deploy::deploy(&rig.aws, &deploy_opts(&rig, "hello", other), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::BuildIdReused { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("build ID build-1 is already published as Lambda version 1"),
        "{msg}"
    );
    assert!(msg.contains("bump the build ID"), "{msg}");
    let versions: Vec<String> = rig
        .aws
        .lambda
        .list_versions_by_function()
        .function_name("hello")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .filter_map(|v| v.version().map(str::to_string))
        .collect();
    assert_eq!(versions, vec!["$LATEST", "1"]);

    // A --build-id that disagrees with the code is refused.
    let mut o = deploy_opts(&rig, "hello", zip);
    o.build_id = Some("build-9".into());
    let err = deploy::deploy(&rig.aws, &o, &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "--build-id build-9 does not match the build ID compiled into the code (build-1)"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_version_not_current() {
    let rig = AwsRig::start("notcurrent").await;
    let h = healthy(&rig, "hello", false).await;
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "version-current",
        Status::Fail,
        "no task is routed to it",
        "temporal-lambda set-current --deployment-name hello-app --build-id build-1",
    );
    only_failure(&r, "version-current", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_version_missing_and_temporal_unreachable() {
    let rig = AwsRig::start("noversion").await;
    let h = healthy(&rig, "hello", true).await;
    let mut o = doctor_opts(&rig, &h);
    o.build_id = "build-404".into();
    let r = doctor(&rig, &o).await;
    assert_finding(
        &r,
        "version-exists",
        Status::Fail,
        "no Worker Deployment Version hello-app:build-404",
        "temporal-lambda ship",
    );
    assert_eq!(r.get("version-compute").unwrap().status, Status::Skip);

    // The version invokes another function than the one named with --function.
    let mut o = doctor_opts(&rig, &h);
    o.function = Some("hello-next".into());
    let r = doctor(&rig, &o).await;
    assert_finding(
        &r,
        "function-expected",
        Status::Fail,
        "compute config invokes function hello but you expected hello-next",
        "register --update --function-arn",
    );
    o.function = Some(h.deploy.function_arn.clone());
    let r = doctor(&rig, &o).await;
    assert_finding(&r, "function-expected", Status::Ok, "as expected", "");

    let mut o = doctor_opts(&rig, &h);
    let port = temporal_dev_server::free_port().unwrap();
    o.conn =
        temporal_lambda_cli::connect::ConnectArgs::local(format!("127.0.0.1:{port}"), "default");
    let r = doctor(&rig, &o).await;
    assert_finding(
        &r,
        "temporal-connection",
        Status::Fail,
        "cannot connect to Temporal",
        "TEMPORAL_ADDRESS",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_unqualified_function_arn() {
    let rig = AwsRig::start("unqualified").await;
    let h = healthy(&rig, "hello", true).await;
    let unqualified = h
        .deploy
        .function_arn
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string();
    let conn = rig.conn().connect().await.unwrap();
    register_version(
        &conn,
        "hello-app",
        "build-1",
        &unqualified,
        &h.role_arn,
        false,
    )
    .await
    .unwrap();
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "function-qualified",
        Status::Fail,
        "not a published version",
        "register --update --function-arn",
    );
    only_failure(&r, "function-qualified", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_function_timeout_too_short_and_missing_env_and_recent_errors() {
    let rig = AwsRig::start("fnconfig").await;
    let h = healthy(&rig, "hello", true).await;
    // Break the published version's config: republish with a 5 s timeout and no address, and
    // point the deployment version at it (what a hand-edited console change + publish does).
    rig.aws
        .lambda
        .update_function_configuration()
        .function_name("hello")
        .timeout(5)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("TEMPORAL_NAMESPACE", "default")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v2 = rig
        .aws
        .lambda
        .publish_version()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    let arn2 = v2.function_arn().unwrap().to_string();
    let conn = rig.conn().connect().await.unwrap();
    // The registration's validation invoke runs the broken function: expected to be refused
    // or accepted depending on the server; either way the compute config is what we set.
    let _ = register_version(&conn, "hello-app", "build-1", &arn2, &h.role_arn, false).await;
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(&r, "version-compute", Status::Ok, ":hello:2", "");
    assert_finding(
        &r,
        "function-timeout",
        Status::Fail,
        "timeout 5 s leaves no time for work",
        "--timeout 600s",
    );
    assert_finding(
        &r,
        "function-env",
        Status::Fail,
        "TEMPORAL_ADDRESS is not set",
        "temporal-lambda deploy --address",
    );
    // Without TEMPORAL_ADDRESS the function cannot connect either: its own check says so.
    only_failure(
        &r,
        "function-timeout",
        &["function-env", "function-connection"],
    );

    // Recent errors: an invocation that cannot reach Temporal logs an ERROR line.
    let closed = temporal_dev_server::free_port().unwrap();
    rig.aws
        .lambda
        .update_function_configuration()
        .function_name("hello")
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("TEMPORAL_ADDRESS", format!("127.0.0.1:{closed}"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = rig
        .aws
        .lambda
        .invoke()
        .function_name("hello")
        .payload(aws_sdk_lambda::primitives::Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert!(
        out.function_error().is_some(),
        "the invocation cannot connect"
    );
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "recent-errors",
        Status::Warn,
        "error line(s) in /aws/lambda/hello",
        "aws logs tail /aws/lambda/hello",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_role_problems() {
    let rig = AwsRig::start("role").await;
    let h = healthy(&rig, "hello", true).await;
    let role_name = h.role_arn.rsplit('/').next().unwrap().to_string();
    let trust = |cond: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["{SERVER_PRINCIPAL}"]}},"Action":"sts:AssumeRole"{cond}}}]}}"#
        )
    };

    // 1. Trust policy without the external ID condition.
    rig.aws
        .iam
        .update_assume_role_policy()
        .role_name(&role_name)
        .policy_document(trust(""))
        .send()
        .await
        .unwrap();
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "role-external-id",
        Status::Fail,
        "does not require sts:ExternalId",
        "Condition StringEquals sts:ExternalId",
    );
    only_failure(&r, "role-external-id", &[]);

    // 2. A different external ID than the registered one.
    rig.aws
        .iam
        .update_assume_role_policy()
        .role_name(&role_name)
        .policy_document(trust(
            r#","Condition":{"StringEquals":{"sts:ExternalId":["someone-elses-id"]}}"#,
        ))
        .send()
        .await
        .unwrap();
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "role-external-id",
        Status::Fail,
        "not the one the role's trust policy requires",
        "register --update",
    );
    only_failure(&r, "role-external-id", &[]);

    // 3. Trusting the wrong principal.
    let mut o = doctor_opts(&rig, &h);
    o.trust = Some(Trust::SelfHosted {
        principal: "arn:aws:iam::123456789012:role/the-real-server".into(),
    });
    let r = doctor(&rig, &o).await;
    assert_finding(
        &r,
        "role-trust",
        Status::Fail,
        "does not trust arn:aws:iam::123456789012:role/the-real-server",
        "temporal-lambda iam create",
    );

    // 4. No permission to invoke.
    let policies = rig
        .aws
        .iam
        .list_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .unwrap();
    for p in policies.policy_names() {
        rig.aws
            .iam
            .delete_role_policy()
            .role_name(&role_name)
            .policy_name(p)
            .send()
            .await
            .unwrap();
    }
    rig.aws
        .iam
        .update_assume_role_policy()
        .role_name(&role_name)
        .policy_document(trust(&format!(
            r#","Condition":{{"StringEquals":{{"sts:ExternalId":["{EXTERNAL_ID}"]}}}}"#
        )))
        .send()
        .await
        .unwrap();
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(&r, "role-permissions", Status::Fail, "do not allow lambda:InvokeFunction and lambda:GetFunction", "temporal-lambda iam create --function-arn arn:aws:lambda:us-east-1:123456789012:function:hello");
    only_failure(&r, "role-permissions", &[]);

    // 5. The role is gone.
    rig.aws
        .iam
        .delete_role()
        .role_name(&role_name)
        .send()
        .await
        .unwrap();
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "role-exists",
        Status::Fail,
        "does not exist",
        "temporal-lambda iam create",
    );
    only_failure(&r, "role-exists", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_execution_role_used_as_invocation_role() {
    let rig = AwsRig::start("execrole").await;
    let h = healthy(&rig, "hello", true).await;
    // The guide's trap: the function runs with the role Temporal assumes.
    rig.aws
        .lambda
        .update_function_configuration()
        .function_name("hello")
        .role(&h.role_arn)
        .send()
        .await
        .unwrap();
    let v2 = rig
        .aws
        .lambda
        .publish_version()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    let conn = rig.conn().connect().await.unwrap();
    register_version(
        &conn,
        "hello-app",
        "build-1",
        v2.function_arn().unwrap(),
        &h.role_arn,
        false,
    )
    .await
    .unwrap();
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "role-not-execution",
        Status::Fail,
        "is the function's execution role",
        "not the role Lambda runs the function with",
    );
    only_failure(&r, "role-not-execution", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_code_is_another_build_and_function_missing_and_wrong_region() {
    let rig = AwsRig::start("identity").await;
    let h = healthy(&rig, "hello", true).await;
    // Version build-2 registered with the ARN of code built as build-1 (build ID ↔ Lambda
    // version drift).
    let conn = rig.conn().connect().await.unwrap();
    register_version(
        &conn,
        "hello-app",
        "build-2",
        &h.deploy.function_arn,
        &h.role_arn,
        true,
    )
    .await
    .unwrap();
    let mut o = doctor_opts(&rig, &h);
    o.build_id = "build-2".into();
    let r = doctor(&rig, &o).await;
    assert_finding(
        &r,
        "function-identity",
        Status::Fail,
        "runs code built as hello-app:build-1, but the server invokes it for hello-app:build-2",
        "deploy the code built as hello-app:build-2",
    );
    only_failure(&r, "function-identity", &[]);

    // Wrong region.
    let west = temporal_lambda_cli::aws::Aws::with_endpoints(
        "us-west-2",
        ACCESS_KEY,
        SECRET_KEY,
        &rig.endpoints,
    )
    .await;
    let r = doctor::run_with(&doctor_opts(&rig, &h), Ok(west)).await;
    assert_finding(
        &r,
        "function-region",
        Status::Fail,
        "function is in us-east-1 but the AWS region in use is us-west-2",
        "--region us-east-1",
    );

    // Function deleted.
    rig.aws
        .lambda
        .delete_function()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    let r = doctor(&rig, &doctor_opts(&rig, &h)).await;
    assert_finding(
        &r,
        "function-exists",
        Status::Fail,
        "does not exist",
        "temporal-lambda deploy",
    );
    only_failure(
        &r,
        "function-exists",
        &["version-current", "versions-invocable"],
    );
}

/// `retire` takes a retired Lambda version out of the invocation role's stack when the stack
/// lists it by version (moto's CloudFormation and IAM), and leaves the last one listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retire_takes_a_listed_version_out_of_the_role_stack() {
    let rig = AwsRig::start("retire-role").await;
    let base = "arn:aws:lambda:us-east-1:123456789012:function:hello";
    let (v1, v2) = (format!("{base}:1"), format!("{base}:2"));
    iam::create_stack(
        &rig.aws,
        &StackOptions {
            stack_name: "retire-role".into(),
            trust: Trust::SelfHosted {
                principal: SERVER_PRINCIPAL.into(),
            },
            external_id: EXTERNAL_ID.parse().unwrap(),
            function_arns: vec![v1.clone(), v2.clone()],
            role_name: None,
        },
        &|_| {},
    )
    .await
    .unwrap();
    let listed = || async {
        let s = rig
            .aws
            .cloudformation
            .describe_stacks()
            .stack_name("retire-role")
            .send()
            .await
            .unwrap();
        let p = s.stacks()[0]
            .parameters()
            .iter()
            .map(|p| {
                (
                    p.parameter_key().unwrap().to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>();
        p
    };
    let before = listed().await;
    assert!(
        iam::remove_function_arn(&rig.aws, "retire-role", &v1, &|_| {})
            .await
            .unwrap()
    );
    let after = listed().await;
    assert_eq!(
        after["LambdaFunctionARNs"].replace(['[', ']', '\'', ' '], ""),
        v2
    );
    // Every other parameter kept its value.
    for (k, v) in &before {
        if k != "LambdaFunctionARNs" {
            assert_eq!(&after[k], v, "{k} changed");
        }
    }
    // Not listed (any more): nothing to do. The last one stays: the role must invoke something.
    assert!(
        !iam::remove_function_arn(&rig.aws, "retire-role", &v1, &|_| {})
            .await
            .unwrap()
    );
    assert!(
        !iam::remove_function_arn(&rig.aws, "retire-role", &v2, &|_| {})
            .await
            .unwrap()
    );
    assert_eq!(
        listed().await["LambdaFunctionARNs"].replace(['[', ']', '\'', ' '], ""),
        v2
    );
}
