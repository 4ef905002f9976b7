//! `versions-invocable` and `ramping-healthy`.

use super::*;

const RAMP_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hello:4";

fn deployment_mut(f: &mut Facts) -> &mut DeploymentFacts {
    f.deployment
        .as_mut()
        .unwrap()
        .as_mut()
        .unwrap()
        .as_mut()
        .unwrap()
}

fn version(build_id: &str) -> VersionUse {
    VersionUse {
        build_id: build_id.into(),
        ..Default::default()
    }
}

/// `b1` current, `b2` ramping at 25 % on [`RAMP_ARN`] with `logs`.
fn ramping(logs: Result<Option<LogActivity>, String>) -> Facts {
    let mut f = healthy();
    let d = deployment_mut(&mut f);
    d.ramping = Some("b2".into());
    d.ramping_percentage = 25.0;
    d.versions.push(version("b2"));
    d.ramping_function = Some(RAMP_ARN.into());
    d.ramping_logs = Some(logs);
    f
}

#[test]
fn versions_invocable_counts_the_versions_that_still_get_tasks() {
    let mut f = healthy();
    let d = deployment_mut(&mut f);
    // An inactive version whose function is gone does not matter.
    d.versions.push(VersionUse {
        missing_function: Some("arn:aws:lambda:us-east-1:123456789012:function:hello:1".into()),
        ..version("b0")
    });
    d.versions.push(VersionUse {
        draining: true,
        ..version("b-draining")
    });
    d.versions.push(VersionUse {
        open_pinned: 2,
        pinned_sample: vec!["wf-1".into(), "wf-2".into()],
        ..version("b-pinned")
    });
    assert_check(
        &f,
        CheckId::VersionsInvocable,
        Status::Ok,
        "the 3 version(s) of hello that still get tasks have their Lambda versions",
        "",
    );
}

#[test]
fn versions_invocable_fails_for_each_used_version_whose_function_is_gone() {
    let gone = |n: u8| format!("arn:aws:lambda:us-east-1:123456789012:function:hello:{n}");
    let mut f = ramping(Ok(None));
    let d = deployment_mut(&mut f);
    d.versions[0].missing_function = Some(gone(1));
    d.versions[1].missing_function = Some(gone(2));
    d.versions.push(VersionUse {
        draining: true,
        missing_function: Some(gone(3)),
        ..version("b3")
    });
    d.versions.push(VersionUse {
        open_pinned: 1,
        pinned_sample: vec!["wf-9".into()],
        missing_function: Some(gone(4)),
        ..version("b4")
    });
    let v = assert_check(
        &f,
        CheckId::VersionsInvocable,
        Status::Fail,
        "",
        "`register --update` the build with the new ARN",
    );
    assert_eq!(
        v.detail,
        format!(
            "hello:b1 invokes {}, which no longer exists, and it is current; \
             hello:b2 invokes {}, which no longer exists, and it is ramping (25 % of new workflows); \
             hello:b3 invokes {}, which no longer exists, and it is draining; \
             hello:b4 invokes {}, which no longer exists, and 1 pinned workflow(s) on it are open (e.g. wf-9)",
            gone(1),
            gone(2),
            gone(3),
            gone(4)
        )
    );
}

#[test]
fn versions_invocable_without_the_deployment() {
    let mut f = healthy();
    f.deployment = Some(Ok(None));
    assert_skipped(
        &f,
        &[CheckId::VersionsInvocable, CheckId::RampingHealthy],
        "no deployment",
    );
    f.deployment = Some(Err("PermissionDenied".into()));
    assert_check(
        &f,
        CheckId::VersionsInvocable,
        Status::Warn,
        "PermissionDenied",
        "check your permissions",
    );
    assert_skipped(&f, &[CheckId::RampingHealthy], "cannot read the deployment");
    f.deployment = None;
    assert_skipped(
        &f,
        &[CheckId::VersionsInvocable, CheckId::RampingHealthy],
        "needs Temporal and AWS credentials",
    );
}

#[test]
fn ramping_healthy() {
    assert_check(
        &healthy(),
        CheckId::RampingHealthy,
        Status::Ok,
        "no version of hello is ramping",
        "",
    );
    let quiet = LogActivity {
        invocations: 7,
        ..Default::default()
    };
    assert_check(
        &ramping(Ok(Some(quiet))),
        CheckId::RampingHealthy,
        Status::Ok,
        &format!("hello:b2 is ramping (25 %); {RAMP_ARN} logged no errors in 7 invocation(s) in the last 60 min"),
        "",
    );
    assert_check(
        &ramping(Ok(None)),
        CheckId::RampingHealthy,
        Status::Ok,
        "no errors in 0 invocation(s)",
        "",
    );
}

#[test]
fn ramping_healthy_fails_when_the_ramping_function_logs_errors() {
    let noisy = LogActivity {
        invocations: 4,
        errors: 2,
        latest_errors: vec!["older".into(), "newest".into()],
        ..Default::default()
    };
    let mut f = ramping(Ok(Some(noisy)));
    assert_check(
        &f,
        CheckId::RampingHealthy,
        Status::Fail,
        &format!("hello:b2 gets 25 % of new workflows, and {RAMP_ARN} logged 2 error line(s) in 4 invocation(s) in the last 60 min; latest: newest | older"),
        "temporal-lambda rollback --deployment-name hello (new workflows go back to b1)",
    );
    deployment_mut(&mut f).current = None;
    assert_check(
        &f,
        CheckId::RampingHealthy,
        Status::Fail,
        "",
        "go back to the current build",
    );
}

#[test]
fn ramping_healthy_edge_cases() {
    let mut f = ramping(Err("AccessDenied: logs:FilterLogEvents".into()));
    assert_check(
        &f,
        CheckId::RampingHealthy,
        Status::Warn,
        "AccessDenied",
        "allow logs:FilterLogEvents",
    );
    deployment_mut(&mut f).ramping_function = Some("arn:aws:sqs:us-east-1:1:queue".into());
    assert_check(
        &f,
        CheckId::RampingHealthy,
        Status::Skip,
        "arn:aws:sqs:us-east-1:1:queue is not a Lambda function ARN",
        "",
    );
    deployment_mut(&mut f).ramping_function = None;
    assert_check(
        &f,
        CheckId::RampingHealthy,
        Status::Skip,
        "hello:b2 has no Lambda function",
        "",
    );
}
