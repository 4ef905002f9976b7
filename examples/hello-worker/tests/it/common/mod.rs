//! Helpers shared by the tests: the rig tests of versioned rollouts, and the lock of the tests
//! that must not overlap.

use std::time::{Duration, Instant};

use hello_worker::{HelloWorkflow, TimerHello, TimerHelloWorkflow};
use temporal_lambda_cli::local_rig::{self, FunctionOptions, RigFunction};
use temporal_lambda_cli::retire;
use temporalio_client::{
    Client, Connection, VersioningOverride, WorkflowGetResultOptions, WorkflowStartOptions,
};

/// Held for their whole run by the tests that load the machine most or need their timers not
/// to run late: retire and rollout (pinned workflows on a 12 s timer must still be open after a
/// deploy) and the two big fault-injection tests (sandbox kills, a server restart, hundreds of
/// invocations checked against their deadlines). Each ran alone in its own test binary before
/// the tests shared one; now at most one of them runs at a time, next to the lighter tests.
pub(crate) static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Milliseconds since the Unix epoch (the clock of the emulator's invocation records).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The rig of the versioned-rollout tests (retire, rollout): the sample as build 1 of
/// `deployment_name` on `task_queue`, 4 concurrent invocations, and builds that drain within
/// seconds ([`local_rig::FAST_DRAINAGE`]).
pub(crate) fn rollout_rig_options(
    state_dir: &std::path::Path,
    task_queue: &str,
    deployment_name: &str,
) -> local_rig::RigOptions {
    local_rig::RigOptions {
        task_queue: task_queue.into(),
        deployment_name: deployment_name.into(),
        concurrency: 4,
        dynamic_config: local_rig::FAST_DRAINAGE
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..local_rig::RigOptions::for_crate(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            state_dir,
            hello_worker::FUNCTION_NAME,
        )
    }
}

/// Deploys build `build_id` of the sample as its own Lambda function `function_name` (through
/// `HELLO_BUILD_ID`), polling the rig's task queue in the rig's deployment: the rig publishes
/// Lambda version 1 of it, registers the deployment version and makes it current.
pub(crate) async fn deploy_build(
    rig: &mut local_rig::Rig,
    function_name: &str,
    build_id: &str,
) -> RigFunction {
    let first = rig.function().clone();
    let bootstrap = std::path::Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    let f = rig
        .deploy(
            &FunctionOptions {
                function_name: function_name.into(),
                task_queue: Some(first.task_queue.clone()),
                env: vec![
                    (
                        "HELLO_DEPLOYMENT_NAME".into(),
                        first.deployment_name.clone(),
                    ),
                    ("HELLO_BUILD_ID".into(), build_id.into()),
                ],
                timeout: Duration::from_secs(30),
                concurrency: 4,
            },
            bootstrap,
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("{build_id} deployed as {function_name}: {e}"))
        .clone();
    assert_eq!(f.build_id, build_id, "{f:?}");
    f
}

/// `temporal workflow <command> --workflow-id <id> --output json` on `server`, as JSON.
fn workflow_json(
    server: &temporal_dev_server::DevServer,
    command: &str,
    workflow_id: &str,
) -> serde_json::Value {
    let out = std::process::Command::new(server.binary())
        .args([
            "workflow",
            command,
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
        ])
        .args(["--address", &server.address(), "--namespace", "default"])
        .output()
        .expect("temporal CLI runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{command} {workflow_id}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `temporal workflow describe` of a workflow, as JSON.
fn describe(server: &temporal_dev_server::DevServer, workflow_id: &str) -> serde_json::Value {
    workflow_json(server, "describe", workflow_id)
}

/// The deployment version a workflow is on (`None` before its first workflow task completes),
/// from `temporal workflow describe`.
pub(crate) fn version_of(
    server: &temporal_dev_server::DevServer,
    workflow_id: &str,
) -> Option<String> {
    describe(server, workflow_id)["workflowExecutionInfo"]["versioningInfo"]["deploymentVersion"]
        ["buildId"]
        .as_str()
        .map(str::to_string)
}

/// The workflow's history, from `temporal workflow show --output json`.
pub(crate) fn history(
    server: &temporal_dev_server::DevServer,
    workflow_id: &str,
) -> serde_json::Value {
    workflow_json(server, "show", workflow_id)
}

/// Whether the workflow is still running (from the server's mutable state, not visibility).
#[allow(dead_code)]
pub(crate) fn is_running(server: &temporal_dev_server::DevServer, workflow_id: &str) -> bool {
    describe(server, workflow_id)["workflowExecutionInfo"]["status"].as_str()
        == Some("WORKFLOW_EXECUTION_STATUS_RUNNING")
}

/// The build a workflow ran on (its last completed workflow task's).
pub(crate) fn build_of(server: &temporal_dev_server::DevServer, workflow_id: &str) -> String {
    version_of(server, workflow_id)
        .unwrap_or_else(|| panic!("{workflow_id} has no deployment version"))
}

/// Waits until the workflow's first workflow task completed (it then has a version), and
/// returns that version's build.
pub(crate) async fn wait_for_version(server: &temporal_dev_server::DevServer, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(b) = version_of(server, id) {
            return b;
        }
        assert!(Instant::now() < deadline, "{id} never ran a workflow task");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until visibility counts `n` open pinned workflows on `build_id`. `retire` (like the
/// server's drainage check) counts them there, and visibility records a workflow's version a
/// moment after its first task.
pub(crate) async fn wait_for_open_pinned(
    conn: &Connection,
    deployment: &str,
    build_id: &str,
    n: u64,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (open, _) = retire::open_pinned(conn, "default", deployment, build_id, 0)
            .await
            .unwrap();
        if open == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "visibility shows {open} of {n} pinned workflows on {build_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a `TimerHelloWorkflow` (`id`, a durable timer of `delay` between its two
/// activities): pinned to the build that runs its first task (the sample's default), or
/// auto-upgrade.
pub(crate) async fn start_timer_hello(
    client: &Client,
    task_queue: &str,
    id: &str,
    delay: Duration,
    auto_upgrade: bool,
) {
    let mut o = WorkflowStartOptions::new(task_queue, id).build();
    if auto_upgrade {
        o.versioning_override = Some(VersioningOverride::AutoUpgrade);
    }
    client
        .start_workflow(
            TimerHelloWorkflow::run,
            TimerHello {
                name: id.into(),
                delay_ms: delay.as_millis() as u64,
            },
            o,
        )
        .await
        .unwrap();
}

/// Waits (up to 120 s) for a `TimerHelloWorkflow` started by [`start_timer_hello`] to complete
/// with its two greetings.
pub(crate) async fn timer_hello_result(client: &Client, id: &str) {
    let r = tokio::time::timeout(
        Duration::from_secs(120),
        client
            .get_workflow_handle::<TimerHelloWorkflow>(id.to_string())
            .get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .unwrap_or_else(|_| panic!("{id} did not complete"))
    .unwrap();
    assert_eq!(r, format!("Hello, {id}! / Hello, {id}!"));
}

/// Starts `n` `HelloWorkflow`s (`<prefix><i>`) at once, waits for each, and returns the build
/// each ran on.
pub(crate) async fn run_workflows(
    rig: &local_rig::Rig,
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

/// How many of `builds` ran on each of `expected`, in that order; panics if any ran elsewhere.
pub(crate) fn split(builds: &[String], expected: &[&str]) -> Vec<usize> {
    let counts: Vec<usize> = expected
        .iter()
        .map(|e| builds.iter().filter(|b| b == e).count())
        .collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        builds.len(),
        "workflows ran outside {expected:?}: {builds:?}"
    );
    counts
}
