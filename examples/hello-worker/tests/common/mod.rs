//! Helpers shared by the rig tests of versioned rollouts.

use std::time::Duration;

use hello_worker::HelloWorkflow;
use temporal_lambda_cli::local;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

/// The deployment version a workflow is on (`None` before its first workflow task completes),
/// from `temporal workflow describe`.
pub fn version_of(server: &temporal_dev_server::DevServer, workflow_id: &str) -> Option<String> {
    let out = std::process::Command::new(server.binary())
        .args([
            "workflow",
            "describe",
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
        ])
        .args(["--address", &server.address(), "--namespace", "default"])
        .output()
        .expect("temporal CLI runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "describe {workflow_id}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["workflowExecutionInfo"]["versioningInfo"]["deploymentVersion"]["buildId"]
        .as_str()
        .map(str::to_string)
}

/// The build a workflow ran on (its last completed workflow task's).
#[allow(dead_code)]
pub fn build_of(server: &temporal_dev_server::DevServer, workflow_id: &str) -> String {
    version_of(server, workflow_id)
        .unwrap_or_else(|| panic!("{workflow_id} has no deployment version"))
}

/// Starts `n` `HelloWorkflow`s (`<prefix><i>`) at once, waits for each, and returns the build
/// each ran on.
pub async fn run_workflows(
    rig: &local::Rig,
    task_queue: &str,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    let client = rig.server.client().await.unwrap();
    for i in 0..n {
        client
            .start_workflow(
                HelloWorkflow::run,
                format!("{prefix}{i}"),
                WorkflowStartOptions::new(task_queue, format!("{prefix}{i}")).build(),
            )
            .await
            .unwrap();
    }
    let mut builds = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}{i}");
        let h = client.get_workflow_handle::<HelloWorkflow>(id.clone());
        let r = tokio::time::timeout(
            Duration::from_secs(180),
            h.get_result(WorkflowGetResultOptions::default()),
        )
        .await
        .unwrap_or_else(|_| panic!("{id} did not complete"))
        .unwrap();
        assert_eq!(r, format!("Hello, {prefix}{i}!"));
        builds.push(build_of(&rig.server, &id));
    }
    builds
}
