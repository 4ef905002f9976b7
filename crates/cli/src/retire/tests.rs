//! `retire`'s decisions over facts built here: no server, no AWS.

use super::*;
use temporalio_common::protos::temporal::api::{
    deployment::v1::WorkerDeploymentVersion, enums::v1::VersionDrainageStatus,
};

#[test]
fn splits_function_arns() {
    assert_eq!(
        split_function_arn("arn:aws:lambda:us-east-1:1:function:f:3"),
        Some(("f", Some("3")))
    );
    assert_eq!(
        split_function_arn("arn:aws:lambda:us-east-1:1:function:f"),
        Some(("f", None))
    );
    assert_eq!(split_function_arn("nope"), None);
}

/// `retire` deletes a Lambda version only when Lambda confirms it is this build's: a
/// compute config that names a version of an unrelated function (anyone who may write
/// the namespace can register one) keeps it.
#[test]
fn a_version_is_deleted_only_when_lambda_confirms_it_is_this_builds() {
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:hello:3";
    let ours = LambdaVersionFacts {
        function_arn: arn.into(),
        function_name: "hello".into(),
        version: "3".into(),
        description: crate::lambda_deploy::version_description("b1", "app"),
    };
    assert_eq!(lambda_delete_refusal(arn, "app", "b1", &ours), None);
    let refused = |f: LambdaVersionFacts, arn: &str| {
        lambda_delete_refusal(arn, "app", "b1", &f).expect("must be kept")
    };
    // An unrelated function's version (no description, or another build's).
    let why = refused(
        LambdaVersionFacts {
            description: String::new(),
            ..ours.clone()
        },
        arn,
    );
    assert!(why.contains("description"), "{why}");
    refused(
        LambdaVersionFacts {
            description: crate::lambda_deploy::version_description("b2", "app"),
            ..ours.clone()
        },
        arn,
    );
    refused(
        LambdaVersionFacts {
            description: crate::lambda_deploy::version_description("b1", "other-app"),
            ..ours.clone()
        },
        arn,
    );
    // The rig's old bare build-ID description is not the toolkit's.
    refused(
        LambdaVersionFacts {
            description: "b1".into(),
            ..ours.clone()
        },
        arn,
    );
    // Lambda answered for another function or version.
    refused(
        LambdaVersionFacts {
            function_name: "payroll".into(),
            ..ours.clone()
        },
        arn,
    );
    refused(
        LambdaVersionFacts {
            version: "4".into(),
            ..ours.clone()
        },
        arn,
    );
    // The ARN is in another account: the delete would hit the same-named function here.
    let why = refused(
        ours.clone(),
        "arn:aws:lambda:us-east-1:999999999999:function:hello:3",
    );
    assert!(why.contains("account and region"), "{why}");
    refused(ours, "arn:aws:lambda:us-east-1:123456789012:function:hello");
}

#[test]
fn the_query_is_the_servers_drainage_query() {
    assert_eq!(
        open_pinned_query("app", "b1"),
        "TemporalWorkerDeploymentVersion = 'app:b1' AND TemporalWorkflowVersioningBehavior = \
         'Pinned' AND ExecutionStatus = 'Running'"
    );
}

use temporalio_common::protos::temporal::api::deployment::v1::{
    worker_deployment_info::WorkerDeploymentVersionSummary, RoutingConfig, WorkerDeploymentInfo,
};

fn version(build_id: &str) -> Option<WorkerDeploymentVersion> {
    Some(WorkerDeploymentVersion {
        deployment_name: "app".into(),
        build_id: build_id.into(),
    })
}

fn summary(build_id: &str, drainage: VersionDrainageStatus) -> WorkerDeploymentVersionSummary {
    WorkerDeploymentVersionSummary {
        deployment_version: version(build_id),
        drainage_status: drainage as i32,
        ..Default::default()
    }
}

#[test]
fn all_drained_means_drained_and_unrouted() {
    let info = WorkerDeploymentInfo {
        routing_config: Some(RoutingConfig {
            current_deployment_version: version("b3"),
            ramping_deployment_version: version("b1"),
            ..Default::default()
        }),
        version_summaries: vec![
            summary("b0", VersionDrainageStatus::Drained),
            summary("b1", VersionDrainageStatus::Drained),
            summary("b2", VersionDrainageStatus::Draining),
            summary("b3", VersionDrainageStatus::Unspecified),
            summary("b4", VersionDrainageStatus::Drained),
        ],
        ..Default::default()
    };
    assert_eq!(drained_unrouted(&info), ["b0", "b4"]);
    assert_eq!(
        routed_builds(&info.routing_config),
        [("b3".to_string(), "current"), ("b1".to_string(), "ramping")]
    );
    // An empty build ID is unversioned, not a build.
    let unversioned = Some(RoutingConfig {
        current_deployment_version: version(""),
        ..Default::default()
    });
    assert!(routed_builds(&unversioned).is_empty());
    assert!(routed_builds(&None).is_empty());
}

fn drained() -> RetirableFacts {
    RetirableFacts {
        exists: true,
        ..Default::default()
    }
}

#[test]
fn a_drained_unrouted_build_is_retirable() {
    assert!(retirable("default", "app", "b1", &drained(), 100).is_ok());
}

#[test]
fn each_reason_to_keep_a_build_is_a_refusal_naming_the_fix() {
    let refuse = |f: RetirableFacts| retirable("default", "app", "b1", &f, 100).unwrap_err();
    let e = refuse(RetirableFacts {
        routed_as: Some("current"),
        ..drained()
    });
    assert!(matches!(
        e,
        RetireError::Routed {
            role: "current",
            ..
        }
    ));
    assert!(e.to_string().contains("`promote`"), "{e}");
    let e = refuse(RetirableFacts {
        exists: false,
        ..drained()
    });
    assert!(matches!(e, RetireError::NoVersion { .. }));
    assert!(
        e.to_string().contains("status --deployment-name app"),
        "{e}"
    );
    let e = refuse(RetirableFacts {
        open_pinned: 3,
        open_pinned_sample: vec!["wf-1".into()],
        ..drained()
    });
    assert!(matches!(e, RetireError::OpenPinned { open: 3, .. }));
    assert!(
        e.to_string().contains("wf-1") && e.to_string().contains("--wait"),
        "{e}"
    );
    let e = refuse(RetirableFacts {
        draining: true,
        drainage_checked_at: Some(40),
        ..drained()
    });
    assert!(e.to_string().contains("last check: 60 s ago"), "{e}");
    let e = refuse(RetirableFacts {
        draining: true,
        ..drained()
    });
    assert!(e.to_string().contains("last check: never"), "{e}");
    // Routing is the first reason given.
    let e = refuse(RetirableFacts {
        routed_as: Some("ramping"),
        open_pinned: 2,
        ..drained()
    });
    assert!(matches!(
        e,
        RetireError::Routed {
            role: "ramping",
            ..
        }
    ));
}

#[test]
fn only_transient_refusals_are_waited_out_and_only_until_the_limit() {
    let pinned = || RetireError::OpenPinned {
        version: "app.b1".into(),
        open: 1,
        sample: vec![],
    };
    let (s10, s60) = (Duration::from_secs(10), Duration::from_secs(60));
    assert!(wait_or_give_up(pinned(), Some(s60), s10).is_ok());
    assert!(matches!(
        wait_or_give_up(pinned(), Some(s10), s60),
        Err(RetireError::WaitExpired { .. })
    ));
    assert!(matches!(
        wait_or_give_up(pinned(), None, s10),
        Err(RetireError::OpenPinned { .. })
    ));
    let routed = RetireError::Routed {
        version: "app.b1".into(),
        role: "current",
    };
    assert!(matches!(
        wait_or_give_up(routed, Some(s60), s10),
        Err(RetireError::Routed { .. })
    ));
}

#[test]
fn the_servers_delete_refusals_read_as_what_they_mean() {
    use temporalio_client::tonic::Code;
    assert!(delete_refusal("app.b1", Code::NotFound, "gone").is_ok());
    let e = |code, msg| delete_refusal("app.b1", code, msg).unwrap_err();
    assert!(matches!(
        e(Code::FailedPrecondition, "version has active pollers"),
        RetireError::RecentPollers { .. }
    ));
    assert!(matches!(
        e(Code::FailedPrecondition, "version is draining"),
        RetireError::ServerDraining { .. }
    ));
    assert!(matches!(
        e(Code::FailedPrecondition, "version is current or ramping"),
        RetireError::Routed { .. }
    ));
    assert!(matches!(
        e(Code::ResourceExhausted, "too many requests"),
        RetireError::RecentPollers { .. }
    ));
    assert!(matches!(
        e(Code::Internal, "boom"),
        RetireError::Deployment(DeploymentError::Rpc {
            code: Code::Internal,
            ..
        })
    ));
}

#[test]
fn a_lambda_version_is_kept_when_flagged_unpublished_or_still_invoked() {
    let arn = "arn:aws:lambda:us-east-1:1:function:f:3";
    assert_eq!(lambda_version_keep_reason(false, arn), None);
    assert_eq!(
        lambda_version_keep_reason(true, arn).as_deref(),
        Some("--keep-lambda-version")
    );
    let why = lambda_version_keep_reason(false, "arn:aws:lambda:us-east-1:1:function:f:live");
    assert!(why.unwrap().contains("alias or $LATEST"));
    let why = lambda_version_keep_reason(false, "arn:aws:lambda:us-east-1:1:function:f");
    assert!(why.unwrap().contains("unqualified"));
    let builds = [
        ("b0".to_string(), None),
        (
            "b2".to_string(),
            Some("arn:aws:lambda:us-east-1:1:function:f:4".to_string()),
        ),
    ];
    assert_eq!(invoked_by_another_build(arn, "b1", &builds), None);
    let builds = [
        ("b1".to_string(), Some(arn.to_string())),
        ("b2".to_string(), Some(arn.to_string())),
    ];
    assert_eq!(
        invoked_by_another_build(arn, "b1", &builds).as_deref(),
        Some("build b2 still invokes it")
    );
    // The retired build, still listed shortly after its delete, does not keep its own version.
    assert_eq!(invoked_by_another_build(arn, "b1", &builds[..1]), None);
}
