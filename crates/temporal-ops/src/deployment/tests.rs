//! The register and set-current decisions over facts built here: no server.

use super::*;
use temporalio_common::protos::temporal::api::deployment::v1::{
    RoutingConfig, WorkerDeploymentInfo, WorkerDeploymentVersionInfo,
};

fn target(function: &str) -> LambdaTarget {
    LambdaTarget {
        function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}")
            .parse()
            .unwrap(),
        role_arn: "arn:aws:iam::123456789012:role/invoker".parse().unwrap(),
        external_id: "external-id-1".parse().unwrap(),
    }
}

#[test]
fn a_missing_version_is_created() {
    let t = target("hello:1");
    assert_eq!(
        register_action("d.b", None, &t, false).unwrap(),
        RegisterAction::Create
    );
}

#[test]
fn the_same_compute_config_is_left_alone() {
    let t = target("hello:1");
    for update in [false, true] {
        assert_eq!(
            register_action("d.b", Some(&t.compute_config()), &t, update).unwrap(),
            RegisterAction::Unchanged
        );
    }
}

#[test]
fn a_different_compute_config_is_refused_without_update_showing_the_stored_one() {
    let stored = target("hello:1").compute_config();
    let e = register_action("d.b", Some(&stored), &target("hello:2"), false).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DeploymentError::DifferentComputeConfig { .. }));
    assert!(
        msg.contains("d.b") && msg.contains("hello:1") && msg.contains("--update"),
        "{msg}"
    );
    // A version without a compute config (a polling worker's) stores the empty one.
    let e = register_action(
        "d.b",
        Some(&ComputeConfig::default()),
        &target("hello:2"),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not an aws-lambda config"), "{e}");
}

#[test]
fn update_replaces_the_config_and_removes_other_scaling_groups() {
    let mut stored = target("hello:1").compute_config();
    assert_eq!(
        register_action("d.b", Some(&stored), &target("hello:2"), true).unwrap(),
        RegisterAction::Update {
            remove_scaling_groups: vec![]
        }
    );
    let group = stored.scaling_groups[compute::DEFAULT_SCALING_GROUP].clone();
    stored.scaling_groups.insert("extra".into(), group);
    assert_eq!(
        register_action("d.b", Some(&stored), &target("hello:1"), true).unwrap(),
        RegisterAction::Update {
            remove_scaling_groups: vec!["extra".into()]
        }
    );
}

#[test]
fn an_unpublished_function_arn_gets_a_warning() {
    let opts = |function: &str| RegisterOptions {
        namespace: "default".into(),
        deployment_name: "d".into(),
        build_id: "b".into(),
        target: target(function),
        update: false,
        set_current: false,
    };
    assert_eq!(unpublished_warning(&opts("hello:3")), None);
    for unpublished in ["hello", "hello:live", "hello:$LATEST"] {
        let w = unpublished_warning(&opts(unpublished)).expect(unpublished);
        assert!(
            w.contains("not a published version") && w.contains("build ID b"),
            "{w}"
        );
    }
}

fn deployment(current: Option<&str>) -> DescribeWorkerDeploymentResponse {
    DescribeWorkerDeploymentResponse {
        conflict_token: vec![7],
        worker_deployment_info: Some(WorkerDeploymentInfo {
            routing_config: Some(RoutingConfig {
                current_deployment_version: current.map(|b| version_ref("d", b)),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

#[test]
fn the_current_build_is_read_from_the_routing_config() {
    assert_eq!(current_routing(None), (vec![], None));
    assert_eq!(current_routing(Some(&deployment(None))), (vec![7], None));
    assert_eq!(
        current_routing(Some(&deployment(Some("")))),
        (vec![7], None)
    );
    assert_eq!(
        current_routing(Some(&deployment(Some("b1")))),
        (vec![7], Some("b1".into()))
    );
}

#[test]
fn a_version_is_serverless_when_it_has_a_compute_config() {
    let mut d = DescribeWorkerDeploymentVersionResponse::default();
    assert!(!is_serverless(&d));
    d.worker_deployment_version_info = Some(WorkerDeploymentVersionInfo {
        compute_config: Some(target("hello:1").compute_config()),
        ..Default::default()
    });
    assert!(is_serverless(&d) && serverless_never_polled(&d));
    d.version_task_queues = vec![Default::default()];
    assert!(is_serverless(&d) && !serverless_never_polled(&d));
}

const NO_POLLERS: &str = "version has no pollers";
const MISSING: &str = "task queue tq is missing from the new version";

fn reject(msg: &str) -> Status {
    Status::new(Code::FailedPrecondition, msg)
}

#[test]
fn a_serverless_version_is_allowed_no_pollers_once() {
    let none = Bypasses::default();
    let next = after_rejection(&reject(NO_POLLERS), "d.b", true, true, none).unwrap();
    assert_eq!(
        next,
        Bypasses {
            allow_no_pollers: true,
            ignore_missing_task_queues: false
        }
    );
    // Already allowed, or not serverless: the refusal stands, with the flag as the fix.
    for (serverless, tried) in [(true, next), (false, none)] {
        let e = after_rejection(&reject(NO_POLLERS), "d.b", serverless, true, tried)
            .unwrap_err()
            .to_string();
        assert!(e.contains("d.b") && e.contains("--allow-no-pollers"), "{e}");
    }
}

#[test]
fn a_never_invoked_serverless_version_need_not_poll_the_current_ones_task_queues() {
    let none = Bypasses::default();
    let next = after_rejection(&reject(MISSING), "d.b", true, true, none).unwrap();
    assert!(next.ignore_missing_task_queues && !next.allow_no_pollers);
    for (serverless, never_polled, tried) in
        [(true, true, next), (true, false, none), (false, true, none)]
    {
        let e = after_rejection(&reject(MISSING), "d.b", serverless, never_polled, tried)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ignore-missing-task-queues"), "{e}");
    }
}

#[test]
fn other_refusals_are_errors() {
    let none = Bypasses::default();
    for code in [Code::FailedPrecondition, Code::Aborted] {
        let e = after_rejection(&Status::new(code, "conflict"), "d.b", true, true, none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("retry"), "{e}");
    }
    let e = after_rejection(
        &Status::new(Code::Internal, "boom"),
        "d.b",
        true,
        true,
        none,
    )
    .unwrap_err();
    assert!(matches!(
        e,
        DeploymentError::Rpc {
            code: Code::Internal,
            ..
        }
    ));
}

#[test]
fn a_rotation_re_registers_only_versions_using_the_role_with_the_old_id() {
    let role = "arn:aws:iam::123456789012:role/invoker";
    let details = |role: Option<&str>, ext: Option<&str>| compute::LambdaProviderDetails {
        arn: "arn:aws:lambda:us-east-1:123456789012:function:hello:3".into(),
        role: role.map(str::to_string),
        role_external_id: ext.map(str::to_string),
    };
    let (function, parsed_role) =
        rotation_target(&details(Some(role), Some("old-id-1")), role, "old-id-1").unwrap();
    assert_eq!(function.name, "hello");
    assert_eq!(parsed_role.as_str(), role);
    for other in [
        details(Some(role), Some("other-id")),
        details(
            Some("arn:aws:iam::123456789012:role/other"),
            Some("old-id-1"),
        ),
        details(None, None),
    ] {
        assert!(
            rotation_target(&other, role, "old-id-1").is_none(),
            "{other:?}"
        );
    }
    let mut unparsable = details(Some(role), Some("old-id-1"));
    unparsable.arn = "hello".into();
    assert!(rotation_target(&unparsable, role, "old-id-1").is_none());
}
