//! `temporal-connection`, `version-*`, `function-qualified`, `function-expected`,
//! `aws-credentials`.

use super::*;
use crate::doctor::facts::{AwsFailure, VersionLookupError};

#[test]
fn temporal_connection() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::TemporalConnection,
        Status::Ok,
        "connected to 127.0.0.1:7233 (namespace default)",
        "",
    );
    f.temporal = Some(Err("connection refused".into()));
    f.version = None;
    assert_check(
        &f,
        CheckId::TemporalConnection,
        Status::Fail,
        "connection refused",
        "TEMPORAL_ADDRESS",
    );
    assert_skipped(
        &f,
        &[
            CheckId::VersionExists,
            CheckId::VersionCompute,
            CheckId::VersionCurrent,
        ],
        "Temporal not reachable",
    );
    f.temporal = None;
    assert_check(
        &f,
        CheckId::TemporalConnection,
        Status::Skip,
        "not checked",
        "",
    );
}

#[test]
fn version_exists() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::VersionExists,
        Status::Ok,
        "hello.b1 exists (status CURRENT)",
        "",
    );
    f.version = Some(Err(VersionLookupError::NotFound));
    assert_check(
        &f,
        CheckId::VersionExists,
        Status::Fail,
        "no Worker Deployment Version hello:b1 in namespace default",
        "register --deployment-name hello --build-id b1",
    );
    assert_skipped(
        &f,
        &[CheckId::VersionCompute, CheckId::VersionCurrent],
        "no version",
    );
    f.version = Some(Err(VersionLookupError::Other("permission denied".into())));
    assert_check(
        &f,
        CheckId::VersionExists,
        Status::Fail,
        "permission denied",
        "check the namespace and your permissions",
    );
    assert_skipped(&f, &[CheckId::VersionCompute], "no version");
}

#[test]
fn version_compute() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::VersionCompute,
        Status::Ok,
        &format!("invokes {ARN} as {ROLE}"),
        "",
    );
    target_mut(&mut f).role = None;
    assert_check(&f, CheckId::VersionCompute, Status::Ok, "as (no role)", "");
    f.version.as_mut().unwrap().as_mut().unwrap().lambda = None;
    assert_check(
        &f,
        CheckId::VersionCompute,
        Status::Fail,
        "no aws-lambda compute config",
        "temporal-lambda ship",
    );
}

#[test]
fn version_current() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::VersionCurrent,
        Status::Ok,
        "version is current",
        "",
    );
    let set =
        |f: &mut Facts, s: &str| f.version.as_mut().unwrap().as_mut().unwrap().status = s.into();
    set(&mut f, "RAMPING");
    assert_check(
        &f,
        CheckId::VersionCurrent,
        Status::Ok,
        "version is ramping",
        "",
    );
    for s in ["INACTIVE", "DRAINING", "DRAINED"] {
        set(&mut f, s);
        assert_check(
            &f,
            CheckId::VersionCurrent,
            Status::Fail,
            &format!("version is {s}: no task is routed to it"),
            "temporal-lambda set-current --deployment-name hello --build-id b1",
        );
    }
}

#[test]
fn function_qualified() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::FunctionQualified,
        Status::Ok,
        &format!("{ARN} is a published version"),
        "",
    );
    for unpublished in [
        "arn:aws:lambda:us-east-1:123456789012:function:hello",
        "arn:aws:lambda:us-east-1:123456789012:function:hello:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:hello:live",
    ] {
        target_mut(&mut f).arn = unpublished.into();
        assert_check(
            &f,
            CheckId::FunctionQualified,
            Status::Fail,
            "not a published version: the code behind build ID b1 can change",
            &format!("--function-arn {unpublished}:<version>"),
        );
    }
    target_mut(&mut f).arn = "hello".into();
    assert_check(
        &f,
        CheckId::FunctionQualified,
        Status::Fail,
        "invalid function ARN \"hello\"",
        "temporal-lambda ship",
    );
    // No compute config: nothing to qualify, even with --function.
    f.version.as_mut().unwrap().as_mut().unwrap().lambda = None;
    f.inputs.function = Some(ARN.into());
    assert_check(
        &f,
        CheckId::FunctionQualified,
        Status::Skip,
        "no compute config",
        "",
    );
}

#[test]
fn function_expected() {
    let mut f = healthy();
    assert_eq!(
        CheckId::FunctionExpected.evaluate(&f),
        None,
        "not asked for"
    );
    for expected in [
        "hello",
        "hello:3",
        "hello:live",
        "arn:aws:lambda:us-east-1:123456789012:function:hello",
        "arn:aws:lambda:us-east-1:123456789012:function:hello:2",
    ] {
        f.inputs.function = Some(expected.into());
        assert_check(
            &f,
            CheckId::FunctionExpected,
            Status::Ok,
            "compute config invokes hello, as expected",
            "",
        );
    }
    for (expected, name) in [
        ("other", "other"),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:other:1",
            "other",
        ),
    ] {
        f.inputs.function = Some(expected.into());
        assert_check(
            &f,
            CheckId::FunctionExpected,
            Status::Fail,
            &format!("compute config invokes function hello but you expected {name}"),
            "register --update --function-arn",
        );
    }
    // Not reported without a compute config, or with an invalid ARN in it.
    target_mut(&mut f).arn = "bad".into();
    assert_eq!(CheckId::FunctionExpected.evaluate(&f), None);
    f.version = None;
    assert_eq!(CheckId::FunctionExpected.evaluate(&f), None);
}

#[test]
fn aws_credentials() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::AwsCredentials,
        Status::Ok,
        "account 123456789012, region us-east-1",
        "",
    );
    f.aws = Some(Err(AwsFailure::Config("no region configured".into())));
    assert_check(
        &f,
        CheckId::AwsCredentials,
        Status::Fail,
        "no region configured",
        "configure credentials and a region",
    );
    f.aws = Some(Err(AwsFailure::Identity("ExpiredToken".into())));
    assert_check(
        &f,
        CheckId::AwsCredentials,
        Status::Fail,
        "ExpiredToken",
        "refresh your AWS credentials",
    );
    // Everything on the function needs the credentials.
    assert_skipped(
        &f,
        &[
            CheckId::FunctionRegion,
            CheckId::FunctionExists,
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
        ],
        "needs AWS credentials and the function ARN",
    );
    f.aws = None;
    assert_check(&f, CheckId::AwsCredentials, Status::Skip, "not checked", "");
}
