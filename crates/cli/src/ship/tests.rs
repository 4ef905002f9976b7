//! `ship`'s pure parts over facts built here: the plan, the role ARNs, the rotation, the state.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

fn options(role: RoleSource, ramp_percent: Option<f32>) -> ShipOptions {
    ShipOptions {
        build: None,
        zip: "function.zip".into(),
        deploy: DeployOptions {
            function_name: "hello".into(),
            zip: "function.zip".into(),
            execution_role: None,
            timeout: Duration::from_secs(60),
            memory_mb: 256,
            arch: temporal_lambda_package::Arch::X86_64,
            env: BTreeMap::new(),
            build_id: None,
            files: Vec::new(),
        },
        role,
        conn: ConnectArgs::local("127.0.0.1:7233", "default"),
        verify: None,
        state_file: "ship-state.json".into(),
        include: Vec::new(),
        rotate_external_id: false,
        ramp_percent,
    }
}

fn existing() -> RoleSource {
    RoleSource::Existing {
        role_arn: "arn:aws:iam::123456789012:role/invoker".parse().unwrap(),
        external_id: "external-id-1".parse().unwrap(),
    }
}

#[test]
fn the_plan_names_each_step_and_ends_with_set_current_or_the_ramp() {
    let plan = plan(&options(existing(), None));
    assert!(
        plan[0].starts_with("aws: lambda:GetFunction hello"),
        "{plan:?}"
    );
    assert!(plan
        .iter()
        .any(|c| c.contains("use existing arn:aws:iam::123456789012:role/invoker")));
    assert!(plan
        .iter()
        .any(|c| c.contains("127.0.0.1:7233, namespace default")));
    assert!(plan
        .last()
        .unwrap()
        .contains("SetWorkerDeploymentCurrentVersion"));
    let ramped = super::plan(&options(existing(), Some(20.0)));
    assert!(ramped
        .last()
        .unwrap()
        .contains("SetWorkerDeploymentRampingVersion <deployment>:<build ID> 20 %"));
}

#[test]
fn the_plan_with_a_role_stack_lets_the_role_invoke_every_version_of_the_function() {
    let stack = RoleSource::Stack {
        stack_name: "hello-temporal-invoker".into(),
        trust: Trust::Cloud,
        external_id: None,
    };
    let plan = plan(&options(stack, None)).join("\n");
    assert!(plan.contains("hello-temporal-invoker"), "{plan}");
    assert!(plan.contains(":function:hello"), "{plan}");
    assert!(!plan.contains("use existing"), "{plan}");
}

#[test]
fn the_role_allows_the_unqualified_function() {
    let fa: FunctionArn = "arn:aws:lambda:eu-west-1:123456789012:function:hello:7"
        .parse()
        .unwrap();
    assert_eq!(
        unqualified_function_arn(&fa),
        "arn:aws:lambda:eu-west-1:123456789012:function:hello"
    );
}

#[test]
fn a_rotation_is_a_different_external_id_on_an_existing_stack() {
    let id = |s: &str| -> ExternalId { s.parse().unwrap() };
    assert_eq!(rotated_from(None, &id("external-id-2")), None);
    assert_eq!(
        rotated_from(Some(id("external-id-2")), &id("external-id-2")),
        None
    );
    assert_eq!(
        rotated_from(Some(id("external-id-1")), &id("external-id-2")).map(|e| e.to_string()),
        Some("external-id-1".to_string())
    );
}

#[test]
fn the_state_file_records_finished_steps_and_a_missing_one_is_empty() {
    let dir = std::env::temp_dir().join(format!("ship-state-{}", std::process::id()));
    let path = dir.join("ship-state.json");
    let mut state = ShipState::load(&path);
    assert!(state.completed.is_empty() && state.external_id.is_none());
    state.external_id = Some("external-id-1".into());
    state.done("deploy", &path).unwrap();
    let again = ShipState::load(&path);
    assert_eq!(again.completed, ["deploy"]);
    assert_eq!(again.external_id.as_deref(), Some("external-id-1"));
    std::fs::remove_dir_all(&dir).ok();
}
