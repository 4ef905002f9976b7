//! `function-region`, `function-exists`, `function-timeout`, `function-env`,
//! `function-identity`, `secret-grant`, `function-connection`, `recent-errors`.

use super::*;
use crate::doctor::facts::FunctionLookupError;
use crate::doctor::function_checks::secret_grant_verdict;

/// Every check that needs the function's configuration.
const NEED_CONFIG: &[CheckId] = &[
    CheckId::FunctionTimeout,
    CheckId::FunctionEnv,
    CheckId::RoleNotExecution,
    CheckId::RoleExists,
    CheckId::RoleTrust,
    CheckId::RoleExternalId,
    CheckId::RolePermissions,
    CheckId::FunctionIdentity,
    CheckId::SecretGrant,
    CheckId::FunctionConnection,
    CheckId::RecentErrors,
];

#[test]
fn function_region() {
    let mut f = healthy();
    assert_check(&f, CheckId::FunctionRegion, Status::Ok, "us-east-1", "");
    f.aws.as_mut().unwrap().as_mut().unwrap().region = "eu-west-1".into();
    assert_check(
        &f,
        CheckId::FunctionRegion,
        Status::Fail,
        "function is in us-east-1 but the AWS region in use is eu-west-1",
        "pass --region us-east-1",
    );
    assert_skipped(
        &f,
        &[CheckId::FunctionExists],
        "function is in another region",
    );
    assert_skipped(&f, NEED_CONFIG, "function is in another region");
}

#[test]
fn the_function_is_the_compute_configs_else_the_function_option() {
    let mut f = healthy();
    f.version = None;
    assert_skipped(
        &f,
        &[CheckId::FunctionRegion],
        "needs AWS credentials and the function ARN",
    );
    f.inputs.function = Some("hello".into());
    assert_skipped(
        &f,
        &[CheckId::FunctionRegion],
        "needs AWS credentials and the function ARN",
    );
    f.inputs.function = Some(ARN.replace("us-east-1", "eu-west-1"));
    assert_check(
        &f,
        CheckId::FunctionRegion,
        Status::Fail,
        "function is in eu-west-1",
        "",
    );
    // Without a compute config, the role checks have nothing to check.
    f.inputs.function = Some(ARN.into());
    assert_check(&f, CheckId::FunctionExists, Status::Ok, "is Active", "");
    assert_skipped(
        &f,
        &[CheckId::RoleNotExecution, CheckId::RolePermissions],
        "no compute config",
    );
}

#[test]
fn function_exists() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::FunctionExists,
        Status::Ok,
        &format!("{ARN} is Active (256 MB, arm64)"),
        "",
    );
    let cfg = function_mut(&mut f);
    (cfg.state, cfg.architecture, cfg.memory_mb) = (None, None, None);
    assert_check(
        &f,
        CheckId::FunctionExists,
        Status::Ok,
        "is Active (0 MB, x86_64)",
        "",
    );
    let cfg = function_mut(&mut f);
    cfg.state = Some("Failed".into());
    cfg.state_reason = Some("the image is gone".into());
    assert_check(
        &f,
        CheckId::FunctionExists,
        Status::Fail,
        &format!("{ARN} is Failed: the image is gone"),
        "redeploy",
    );
    // A function that is not Active is still checked further.
    assert_check(&f, CheckId::FunctionTimeout, Status::Ok, "600 s", "");
}

#[test]
fn function_exists_when_lambda_has_no_such_function() {
    let mut f = healthy();
    f.function = Some(Err(FunctionLookupError::NotFound(
        "ResourceNotFoundException".into(),
    )));
    assert_check(
        &f,
        CheckId::FunctionExists,
        Status::Fail,
        &format!("{ARN} does not exist (ResourceNotFoundException)"),
        "temporal-lambda deploy (or ship)",
    );
    assert_skipped(&f, NEED_CONFIG, "no function");
    f.function = Some(Err(FunctionLookupError::Other("AccessDenied".into())));
    assert_check(
        &f,
        CheckId::FunctionExists,
        Status::Fail,
        "AccessDenied",
        "lambda:GetFunctionConfiguration",
    );
    assert_skipped(&f, NEED_CONFIG, "no function");
}

#[test]
fn function_timeout() {
    let mut f = healthy();
    for (timeout, status, detail, fix) in [
        (Some(600), Status::Ok, "600 s", ""),
        (Some(60), Status::Ok, "60 s", ""),
        (
            Some(59),
            Status::Warn,
            "timeout 59 s: most of each invocation",
            "--timeout 600s",
        ),
        (Some(9), Status::Warn, "timeout 9 s", "--timeout 600s"),
        (
            Some(8),
            Status::Fail,
            "timeout 8 s leaves no time for work: the worker stops polling 7 s before the deadline",
            "at least 60 s",
        ),
        (
            None,
            Status::Fail,
            "timeout 3 s leaves no time",
            "--timeout 600s",
        ),
        (
            Some(-5),
            Status::Fail,
            "timeout 0 s leaves no time",
            "--timeout 600s",
        ),
    ] {
        function_mut(&mut f).timeout_s = timeout;
        assert_check(&f, CheckId::FunctionTimeout, status, detail, fix);
    }
}

#[test]
fn function_env() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::FunctionEnv,
        Status::Ok,
        &format!("TEMPORAL_ADDRESS=127.0.0.1:7233 TEMPORAL_API_KEY_SECRET_ARN={SECRET} TEMPORAL_NAMESPACE=default"),
        "",
    );
    let set = |f: &mut Facts, pairs: &[(&str, &str)]| function_mut(f).env = env(pairs);
    set(&mut f, &[("TEMPORAL_NAMESPACE", "default")]);
    assert_check(
        &f,
        CheckId::FunctionEnv,
        Status::Fail,
        "TEMPORAL_ADDRESS is not set",
        "temporal-lambda deploy --address",
    );
    // A config file or profile may carry the address, namespace and credentials.
    for file in ["TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE"] {
        set(&mut f, &[(file, "x")]);
        assert_check(
            &f,
            CheckId::FunctionEnv,
            Status::Ok,
            &format!("{file}=x"),
            "",
        );
    }
    set(
        &mut f,
        &[
            ("TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233"),
            ("TEMPORAL_NAMESPACE", "ns.acct"),
        ],
    );
    assert_check(
        &f,
        CheckId::FunctionEnv,
        Status::Fail,
        "TEMPORAL_ADDRESS=ns.acct.tmprl.cloud:7233 is Temporal Cloud but no TEMPORAL_API_KEY",
        "--api-key",
    );
    for (auth, value) in [
        ("TEMPORAL_API_KEY", "tmprl_SECRETVALUE"),
        ("TEMPORAL_API_KEY_SECRET_ARN", SECRET),
        ("TEMPORAL_TLS_CLIENT_CERT_PATH", "/var/task/client.pem"),
        (
            "TEMPORAL_TLS_CLIENT_CERT_DATA",
            "-----BEGIN CERTIFICATE----- SECRETVALUE",
        ),
    ] {
        set(
            &mut f,
            &[
                ("TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233"),
                ("TEMPORAL_NAMESPACE", "ns.acct"),
                (auth, value),
            ],
        );
        let v = assert_check(&f, CheckId::FunctionEnv, Status::Ok, auth, "");
        assert!(!v.detail.contains("SECRETVALUE"), "{v:?}");
    }
    set(&mut f, &[("TEMPORAL_ADDRESS", "127.0.0.1:7233")]);
    assert_check(
        &f,
        CheckId::FunctionEnv,
        Status::Warn,
        "TEMPORAL_NAMESPACE is not set: the worker uses `default` (TEMPORAL_ADDRESS=127.0.0.1:7233)",
        "--namespace",
    );
}

#[test]
fn function_identity() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::FunctionIdentity,
        Status::Ok,
        "the code is hello:b1 polling hello-tq (temporal-lambda-worker 0.1.0)",
        "",
    );
    for (dep, build) in [("hello", "b2"), ("other", "b1")] {
        f.code = Some(Ok(describe(dep, build)));
        assert_check(
            &f,
            CheckId::FunctionIdentity,
            Status::Fail,
            &format!("{ARN} runs code built as {dep}:{build}, but the server invokes it for hello:b1"),
            &format!("register the version the code declares (--deployment-name {dep} --build-id {build})"),
        );
    }
    f.code = Some(Err("Runtime.ExitError".into()));
    assert_check(
        &f,
        CheckId::FunctionIdentity,
        Status::Fail,
        "Runtime.ExitError",
        "redeploy with temporal-lambda deploy",
    );
    // The healthy function is arm64; its bootstrap an x86_64 executable: Lambda cannot exec it.
    f.code = Some(Err(
        "Unhandled error: Runtime.InvalidEntrypoint: RequestId: r1 Error: fork/exec \
         /var/task/bootstrap: exec format error"
            .into(),
    ));
    assert_check(
        &f,
        CheckId::FunctionIdentity,
        Status::Fail,
        &format!("{ARN} cannot start its bootstrap: it was built for another architecture than the function's Architectures [\"arm64\"]"),
        "temporal-lambda package --arch arm64",
    );
}

#[test]
fn secret_grant() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::SecretGrant,
        Status::Ok,
        &format!("execution role {EXEC} may secretsmanager:GetSecretValue {SECRET}"),
        "",
    );
    f.execution_role = Some(Err("AccessDenied: iam:GetRole".into()));
    assert_check(
        &f,
        CheckId::SecretGrant,
        Status::Warn,
        &format!("cannot read execution role {EXEC}: AccessDenied"),
        "iam:GetRole",
    );
    f.execution_role = Some(Ok(None));
    assert_check(
        &f,
        CheckId::SecretGrant,
        Status::Fail,
        &format!("execution role {EXEC} does not exist"),
        "--execution-role",
    );
    function_mut(&mut f)
        .env
        .remove("TEMPORAL_API_KEY_SECRET_ARN");
    assert_check(
        &f,
        CheckId::SecretGrant,
        Status::Skip,
        "the API key is not read from a secret",
        "",
    );
}

/// An explicit Deny beats the Allow `deploy` puts on the role (the old evaluator here
/// ignored Deny and passed).
#[test]
fn secret_grant_fails_when_a_deny_applies() {
    let allow =
        json!({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET});
    let deny = json!({"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"});
    let v = secret_grant_verdict(EXEC, SECRET, Some(&role_with(json!([allow.clone()]))));
    assert_eq!(v.status, Status::Ok);
    let v = secret_grant_verdict(EXEC, SECRET, Some(&role_with(json!([allow, deny]))));
    assert_eq!(v.status, Status::Fail, "{v:?}");
    assert!(
        v.detail
            .contains("is not allowed secretsmanager:GetSecretValue"),
        "{v:?}"
    );
    assert!(v.fix.unwrap().contains("Deny"));
    // Wildcards in the middle and any case of the action, as IAM matches them.
    let mid = json!({"Effect": "Allow", "Action": "SecretsManager:Get*Value",
        "Resource": "arn:aws:secretsmanager:*:123456789012:secret:temporal/*"});
    let v = secret_grant_verdict(EXEC, SECRET, Some(&role_with(json!([mid]))));
    assert_eq!(v.status, Status::Ok, "{v:?}");
    // No policy at all.
    let v = secret_grant_verdict(EXEC, SECRET, Some(&RoleFacts::default()));
    assert_eq!(v.status, Status::Fail, "{v:?}");
}

/// An SSM parameter needs ssm:GetParameter.
#[test]
fn secret_grant_for_an_ssm_parameter() {
    let param = "arn:aws:ssm:us-east-1:123456789012:parameter/temporal/key";
    let sm = secret_grant_verdict(EXEC, param, Some(&execution_role()));
    assert_eq!(sm.status, Status::Fail, "{sm:?}");
    assert!(sm.detail.contains("ssm:GetParameter"), "{sm:?}");
    let ssm = json!([{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": param}]);
    let v = secret_grant_verdict(EXEC, param, Some(&role_with(ssm)));
    assert_eq!(v.status, Status::Ok, "{v:?}");
}

/// A key pasted into the function's `TEMPORAL_API_KEY_SECRET_ARN` fails the check without
/// being printed, and `function-env` does not print it either.
#[test]
fn secret_grant_never_prints_a_pasted_key() {
    let v = secret_grant_verdict(EXEC, "tmprl_PASTEDKEY.abc", None);
    assert_eq!(v.status, Status::Fail);
    let fix = v.fix.unwrap();
    assert!(
        !v.detail.contains("PASTEDKEY") && !fix.contains("PASTEDKEY"),
        "{}",
        v.detail
    );
    assert!(
        v.detail.contains("TEMPORAL_API_KEY_SECRET_ARN"),
        "{}",
        v.detail
    );
    let mut f = healthy();
    f.inputs.address = "ns.acct.tmprl.cloud:7233".into();
    function_mut(&mut f).env = env(&[
        ("TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233"),
        ("TEMPORAL_NAMESPACE", "ns.acct"),
        ("TEMPORAL_API_KEY_SECRET_ARN", "tmprl_PASTEDKEY.abc"),
    ]);
    let shown = serde_json::to_string(&report(&f)).unwrap();
    assert!(!shown.contains("PASTEDKEY"), "{shown}");
    let v = assert_check(&f, CheckId::FunctionEnv, Status::Ok, "", "");
    assert!(
        v.detail
            .contains("TEMPORAL_API_KEY_SECRET_ARN=<redacted: not an ARN>"),
        "{v:?}"
    );
}

#[test]
fn function_connection() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::FunctionConnection,
        Status::Ok,
        "the function reached 127.0.0.1:7233 in 12 ms (plaintext, API key: secret)",
        "",
    );
    let mut tls = connection(true, None);
    (tls.tls, tls.server_ca_cert, tls.client_cert) = (true, true, true);
    tls.server_name = Some("temporal.internal".into());
    f.connection = Some(Ok(tls));
    assert_check(
        &f,
        CheckId::FunctionConnection,
        Status::Ok,
        "(TLS + own CA (server name temporal.internal) + client certificate, API key: secret)",
        "",
    );
    f.connection = Some(Ok(connection(
        false,
        Some("TEMPORAL_API_KEY_SECRET_ARN: AccessDenied"),
    )));
    assert_check(
        &f,
        CheckId::FunctionConnection,
        Status::Fail,
        "the function cannot reach Temporal with its own settings (plaintext, API key: secret): TEMPORAL_API_KEY_SECRET_ARN: AccessDenied",
        "fix the setting the error names",
    );
    f.connection = Some(Err("unexpected answer to the connection check".into()));
    assert_check(
        &f,
        CheckId::FunctionConnection,
        Status::Fail,
        "unexpected answer",
        "redeploy with temporal-lambda deploy",
    );
}

#[test]
fn recent_errors() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::RecentErrors,
        Status::Ok,
        "no errors in /aws/lambda/hello in the last 60 min",
        "",
    );
    f.logs = Some(Ok(None));
    assert_check(
        &f,
        CheckId::RecentErrors,
        Status::Ok,
        "/aws/lambda/hello has no logs yet (never invoked)",
        "",
    );
    f.inputs.log_window = Duration::from_secs(15 * 60);
    f.logs = Some(Ok(Some(LogActivity {
        invocations: 3,
        errors: 2,
        latest_errors: vec!["first".into(), "second".into()],
        ..Default::default()
    })));
    assert_check(
        &f,
        CheckId::RecentErrors,
        Status::Warn,
        "2 error line(s) in /aws/lambda/hello in the last 15 min; latest: second | first",
        "aws logs tail /aws/lambda/hello --since 15m",
    );
    f.logs = Some(Err("AccessDenied".into()));
    assert_check(
        &f,
        CheckId::RecentErrors,
        Status::Warn,
        "AccessDenied",
        "logs:FilterLogEvents",
    );
}
