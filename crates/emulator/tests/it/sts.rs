//! STS AssumeRole / GetCallerIdentity and the use of issued credentials on the Lambda API.

use crate::common;

use common::*;
use serde_json::json;
use temporal_lambda_emulator::FunctionSpec;

fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

async fn sts(ep: &str, params: &[(&str, &str)]) -> Resp {
    let auth = sigv4_for("AKIAEMULATORTEST", "sts");
    http(
        "POST",
        &format!("{ep}/"),
        &[
            ("authorization", &auth),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ],
        form(params),
    )
    .await
}

#[tokio::test]
async fn assume_role_enforces_external_id_and_creds_work_for_invoke() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    emu.register_role(ROLE, Some(EXTERNAL_ID)).unwrap();
    emu.create_function_from_path(FunctionSpec::new("target", test_function()))
        .await
        .unwrap();
    let base = [
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE),
        ("RoleSessionName", "managed-workers-aws"),
    ];

    // Right external id → credentials.
    let mut ok = base.to_vec();
    ok.push(("ExternalId", EXTERNAL_ID));
    let r = sts(&ep, &ok).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    assert!(xml.starts_with("<AssumeRoleResponse"), "{xml}");
    let akid = xml_field(&xml, "AccessKeyId").unwrap();
    let token = xml_field(&xml, "SessionToken").unwrap();
    assert!(akid.starts_with("ASIA") && akid.len() == 20, "{akid}");
    let secret = xml_field(&xml, "SecretAccessKey").unwrap();
    remember_secret(&akid, &secret);
    assert!(xml_field(&xml, "Expiration").unwrap().ends_with('Z'));
    assert_eq!(
        xml_field(&xml, "Arn").unwrap(),
        "arn:aws:sts::123456789012:assumed-role/temporal-invoker/managed-workers-aws"
    );

    // Missing external id → 403 AccessDenied (the server checks this to validate the trust policy).
    let r = sts(&ep, &base).await;
    assert_eq!(r.status, 403);
    let xml = r.text();
    assert_eq!(xml_field(&xml, "Code").as_deref(), Some("AccessDenied"));
    assert_eq!(xml_field(&xml, "Type").as_deref(), Some("Sender"));
    assert!(xml_field(&xml, "Message").unwrap().contains(&format!(
        "is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
    )));
    assert!(xml_field(&xml, "RequestId").is_some());
    // Wrong external id, unknown role → 403 too.
    let mut wrong = base.to_vec();
    wrong.push(("ExternalId", "not-the-one"));
    assert_eq!(sts(&ep, &wrong).await.status, 403);
    let other = [
        ("Action", "AssumeRole"),
        ("RoleArn", "arn:aws:iam::123456789012:role/other"),
        ("RoleSessionName", "s"),
        ("ExternalId", EXTERNAL_ID),
    ];
    assert_eq!(sts(&ep, &other).await.status, 403);
    // Unsigned → 403 MissingAuthenticationToken.
    let r = http("POST", &format!("{ep}/"), &[], form(&ok)).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        xml_field(&r.text(), "Code").as_deref(),
        Some("MissingAuthenticationToken")
    );

    // The temporary credentials are accepted by Invoke (with their session token) ...
    let auth = sigv4(&akid);
    let r = http(
        "POST",
        &format!("{ep}/2015-03-31/functions/target/invocations"),
        &[
            ("authorization", &auth),
            ("x-amz-security-token", &token),
            ("x-amz-invocation-type", "Event"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    emu.wait_for_invocations(TIMEOUT, |r| r.len() == 1 && r[0].is_finished())
        .await
        .unwrap();
    // ... but not with a wrong session token.
    let r = http(
        "POST",
        &format!("{ep}/2015-03-31/functions/target/invocations"),
        &[
            ("authorization", &auth),
            ("x-amz-security-token", "forged"),
            ("x-amz-invocation-type", "Event"),
        ],
        "",
    )
    .await;
    assert_eq!(r.status, 403);

    // GetCallerIdentity with the assumed-role credentials.
    let r = http(
        "POST",
        &format!("{ep}/"),
        &[("authorization", &auth), ("x-amz-security-token", &token)],
        form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(xml_field(&r.text(), "Arn")
        .unwrap()
        .contains("assumed-role/temporal-invoker"));

    let stats = emu.sts_stats();
    assert_eq!(stats.assume_role_calls, 4);
    assert_eq!(stats.assume_role_granted, 1);
    assert_eq!(stats.assume_role_denied, 3);
    assert_eq!(stats.get_caller_identity_calls, 1);
    assert_eq!(stats.calls[1].external_id, None);
    let http_stats = http("GET", &format!("{ep}/_emulator/sts"), &[], "")
        .await
        .json();
    assert_eq!(http_stats["assume_role_calls"], 4);
    emu.shutdown().await;

    // Issued credentials survive a restart.
    let emu = start(dir.path()).await;
    let r = http(
        "POST",
        &format!("{}/2015-03-31/functions/target/invocations", emu.endpoint()),
        &[("authorization", &auth), ("x-amz-security-token", &token)],
        json!({"action": "echo"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    emu.shutdown().await;
}

#[tokio::test]
async fn roles_can_be_registered_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let r = http(
        "POST",
        &format!("{ep}/_emulator/roles"),
        &[],
        json!({"RoleArn": ROLE, "ExternalId": "abcde"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = sts(
        &ep,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "s"),
            ("ExternalId", "abcde"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = http(
        "POST",
        &format!("{ep}/_emulator/roles"),
        &[],
        json!({"RoleArn": "not-an-arn"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    emu.shutdown().await;
}

/// GetCallerIdentity signed with session credentials `(akid, secret, token)`.
async fn whoami(ep: &str, akid: &str, secret: &str, token: &str) -> Resp {
    remember_secret(akid, secret);
    let auth = sigv4_for(akid, "sts");
    http(
        "POST",
        &format!("{ep}/"),
        &[
            ("authorization", &auth),
            ("x-amz-security-token", token),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await
}

/// Review item 7: a sandbox gets execution-role credentials only for a role Lambda could assume
/// (here: one of the emulator's account), and they stop working when the sandbox ends.
#[tokio::test]
async fn sandbox_credentials_only_for_assumable_roles_and_only_while_it_lives() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let mut own = FunctionSpec::new("own-role", test_function());
    own.role = Some("arn:aws:iam::123456789012:role/exec".into());
    let mut foreign = FunctionSpec::new("foreign-role", test_function());
    foreign.role = Some("arn:aws:iam::999999999999:role/someone-elses".into());
    emu.create_function_from_path(own).await.unwrap();
    emu.create_function_from_path(foreign).await.unwrap();

    let env = invoke(
        &ep,
        "foreign-role",
        "RequestResponse",
        json!({"action": "env"}),
    )
    .await
    .json();
    assert!(env["env"].get("AWS_ACCESS_KEY_ID").is_none(), "{env}");
    let logs = emu.logs("foreign-role").unwrap();
    assert!(logs.contains("not the emulator's 123456789012"), "{logs}");

    let env = invoke(&ep, "own-role", "RequestResponse", json!({"action": "env"}))
        .await
        .json();
    let v = |k: &str| env["env"][k].as_str().unwrap().to_string();
    let (akid, secret, token) = (
        v("AWS_ACCESS_KEY_ID"),
        v("AWS_SECRET_ACCESS_KEY"),
        v("AWS_SESSION_TOKEN"),
    );
    let r = whoami(&ep, &akid, &secret, &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("assumed-role/exec/own-role"),
        "{}",
        r.text()
    );
    // The sandbox goes (function deleted): its credentials are revoked.
    emu.delete_function("own-role").unwrap();
    emu.wait_for_sandboxes(TIMEOUT, |s| s.iter().all(|s| s.function_name != "own-role"))
        .await
        .unwrap();
    let r = whoami(&ep, &akid, &secret, &token).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        xml_field(&r.text(), "Code").as_deref(),
        Some("InvalidClientTokenId")
    );
    emu.shutdown().await;
}

/// Review item 7: Lambda's reserved variables cannot be set, on any path.
#[tokio::test]
async fn reserved_environment_variables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
    ] {
        let err = emu
            .create_function_from_path(FunctionSpec::new("r", test_function()).env(key, "x"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
    emu.create_function_from_path(FunctionSpec::new("r", test_function()))
        .await
        .unwrap();
    let err = emu
        .set_function_env("r", &[("AWS_SECRET_ACCESS_KEY".into(), "x".into())])
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    let r = lambda(
        "PUT",
        &format!("{ep}/2015-03-31/functions/r/configuration"),
        json!({"Environment": {"Variables": {"AWS_LAMBDA_FUNCTION_NAME": "other"}}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidParameterValueException")
    );
    emu.shutdown().await;
}
