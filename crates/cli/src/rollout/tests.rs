//! The routing decisions over facts built here: no server.

use super::*;
use temporalio_common::protos::temporal::api::{
    deployment::v1::WorkerDeploymentVersion,
    enums::v1::{VersionDrainageStatus, WorkerDeploymentVersionStatus},
};

fn routing(current: Option<&str>, ramping: Option<(&str, f32)>) -> Routing {
    Routing {
        current: current.map(str::to_string),
        ramping: ramping.map(|(b, _)| b.to_string()),
        ramping_percent: ramping.map_or(0.0, |(_, p)| p),
    }
}

#[test]
fn a_share_must_be_between_0_and_100() {
    for ok in [0.0, 50.0, 100.0] {
        assert!(check_percent(ok).is_ok());
    }
    for bad in [-1.0, 100.5, f32::NAN] {
        let e = check_percent(bad).unwrap_err();
        assert!(e.to_string().contains("between 0 and 100"), "{e}");
    }
}

#[test]
fn ramping_keeps_the_current_build_and_sets_the_ramp() {
    let before = routing(Some("b1"), None);
    assert_eq!(
        ramp_routing(&before, "app", "b2", 25.0).unwrap(),
        routing(Some("b1"), Some(("b2", 25.0)))
    );
    // Without a current build, only a full ramp is allowed.
    assert_eq!(
        ramp_routing(&routing(None, None), "app", "b2", 100.0).unwrap(),
        routing(None, Some(("b2", 100.0)))
    );
}

#[test]
fn ramping_the_current_build_or_from_no_current_build_is_refused() {
    let e = ramp_routing(&routing(Some("b1"), None), "app", "b1", 10.0).unwrap_err();
    assert!(matches!(&e, RolloutError::RampCurrent { version } if version == "app.b1"));
    assert!(e.to_string().contains("rollback"), "{e}");
    let e = ramp_routing(&routing(None, None), "app", "b2", 30.0).unwrap_err();
    assert!(matches!(e, RolloutError::NoCurrent { rest, .. } if rest == 70.0));
    assert!(e.to_string().contains("promote --build-id"), "{e}");
}

#[test]
fn promote_makes_the_named_or_the_ramping_build_current() {
    let ramping = routing(Some("b1"), Some(("b2", 10.0)));
    assert_eq!(promote_target(&ramping, "app", None).unwrap(), "b2");
    assert_eq!(promote_target(&ramping, "app", Some("b3")).unwrap(), "b3");
    let e = promote_target(&routing(Some("b1"), None), "app", None).unwrap_err();
    assert!(matches!(e, RolloutError::NothingToPromote { .. }));
}

fn summary(
    build_id: &str,
    last_current: Option<i64>,
    activated: Option<i64>,
) -> WorkerDeploymentVersionSummary {
    let mut v = WorkerDeploymentVersionSummary {
        deployment_version: Some(WorkerDeploymentVersion {
            deployment_name: "app".into(),
            build_id: build_id.into(),
        }),
        ..Default::default()
    };
    if let Some(seconds) = last_current {
        v.last_current_time
            .get_or_insert_with(Default::default)
            .seconds = seconds;
    }
    if let Some(seconds) = activated {
        v.first_activation_time
            .get_or_insert_with(Default::default)
            .seconds = seconds;
    }
    v
}

#[test]
fn rollback_goes_to_the_named_build_or_clears_the_ramp_or_to_the_previous_current() {
    let versions = [
        summary("b1", Some(100), Some(10)),
        summary("b2", Some(200), Some(20)),
        summary("b3", Some(300), Some(30)),
        summary("never", None, None),
    ];
    let ramping = routing(Some("b3"), Some(("b4", 10.0)));
    assert_eq!(
        rollback_target(&ramping, &versions, "app", None).unwrap(),
        "b3"
    );
    assert_eq!(
        rollback_target(&ramping, &versions, "app", Some("b1")).unwrap(),
        "b1"
    );
    let current = routing(Some("b3"), None);
    assert_eq!(
        rollback_target(&current, &versions, "app", None).unwrap(),
        "b2"
    );
    // A server that does not fill last_current_time: the activation time decides.
    let older = [
        summary("b1", None, Some(10)),
        summary("b2", None, Some(20)),
        summary("b3", None, Some(30)),
    ];
    assert_eq!(
        rollback_target(&current, &older, "app", None).unwrap(),
        "b2"
    );
    let e = rollback_target(&current, &[summary("b3", Some(1), None)], "app", None).unwrap_err();
    assert!(matches!(e, RolloutError::NothingToRollBackTo { .. }));
    assert!(e.to_string().contains("rollback --to"), "{e}");
}

#[test]
fn making_a_build_current_clears_the_ramp_and_is_a_no_op_when_already_so() {
    let c = current_change(&routing(Some("b1"), Some(("b2", 10.0))), "b2");
    assert_eq!(c.after, routing(Some("b2"), None));
    assert!(c.changed && c.set_current);
    // Already current, with another build ramping: only the ramp is cleared.
    let c = current_change(&routing(Some("b1"), Some(("b2", 10.0))), "b1");
    assert!(c.changed && !c.set_current);
    let c = current_change(&routing(Some("b1"), None), "b1");
    assert!(!c.changed && !c.set_current);
}

#[test]
fn status_shows_each_builds_share_state_and_drainage() {
    let r = routing(Some("b1"), Some(("b2", 25.0)));
    assert_eq!(share_of_new_workflows(&r, "b1"), 75.0);
    assert_eq!(share_of_new_workflows(&r, "b2"), 25.0);
    assert_eq!(share_of_new_workflows(&r, "b0"), 0.0);
    assert_eq!(
        status::version_state(WorkerDeploymentVersionStatus::Draining as i32),
        "draining"
    );
    assert_eq!(status::version_state(999), "999");
    assert_eq!(
        status::drainage_name(VersionDrainageStatus::Drained as i32),
        "drained"
    );
    assert_eq!(
        status::drainage_name(VersionDrainageStatus::Unspecified as i32),
        ""
    );
}

#[test]
fn routing_is_read_from_the_servers_routing_config() {
    use temporalio_common::protos::temporal::api::deployment::v1::RoutingConfig;
    let v = |b: &str| {
        Some(WorkerDeploymentVersion {
            deployment_name: "app".into(),
            build_id: b.into(),
        })
    };
    assert_eq!(Routing::of(None), Routing::default());
    let rc = RoutingConfig {
        current_deployment_version: v("b1"),
        ramping_deployment_version: v("b2"),
        ramping_version_percentage: 20.0,
        ..Default::default()
    };
    assert_eq!(
        Routing::of(Some(&rc)),
        routing(Some("b1"), Some(("b2", 20.0)))
    );
    // An empty build ID is unversioned; a percentage without a ramping build is no ramp.
    let rc = RoutingConfig {
        current_deployment_version: v(""),
        ramping_version_percentage: 20.0,
        ..Default::default()
    };
    assert_eq!(Routing::of(Some(&rc)), routing(None, None));
}
