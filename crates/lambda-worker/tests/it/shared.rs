//! Concurrent invocations (Lambda Managed Instances) against the REAL Temporal dev server:
//! leases taken from several Tokio tasks at once on one [`SharedWorker`], as `lambda_runtime`'s
//! concurrent mode takes them, with real epoch deadlines. (Not through a Runtime API: these
//! drive `SharedWorker::lease` directly.)

use std::{
    path::PathBuf,
    process::Command,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime},
};

use temporal_dev_server::{find_temporal_binary, DevServer, DevServerOptions};
use temporal_lambda_worker::{
    invocation::{InvocationInfo, InvocationReport, StopReason},
    shared::SharedWorker,
    LambdaWorker, LambdaWorkerConfig, VersioningBehavior, WorkerDeploymentVersion,
};
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::{
    activities::{ActivityContext, ActivityError},
    ActivityOptions, WorkflowContext, WorkflowResult,
};

use crate::common::env;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:lmi:1";

#[workflow]
#[derive(Default)]
pub struct LeaseWorkflow;

#[workflow_methods]
impl LeaseWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let greeting = ctx
            .execute_activity(
                LeaseActivities::greet,
                name,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(greeting)
    }
}

pub struct LeaseActivities;

#[activities]
impl LeaseActivities {
    #[activity]
    pub async fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }
}

/// A shared worker on `server` for task queue `queue`, as an LMI environment with 4 concurrent
/// invocations and 4 GiB (2 vCPUs at the default ratio) would build it; `hooks` counts the
/// shutdown hook's runs.
fn shared_worker(
    server: &DevServer,
    queue: &str,
    build_id: &str,
    residency: &str,
    idle_exit: &str,
    hooks: Arc<AtomicU32>,
) -> Arc<SharedWorker> {
    let mut cfg = LambdaWorkerConfig::from_env(
        WorkerDeploymentVersion::new("lmi-app", build_id),
        &env(&[
            ("TEMPORAL_TASK_QUEUE", queue),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096"),
            ("TEMPORAL_LAMBDA_RESIDENCY", residency),
            ("TEMPORAL_LAMBDA_IDLE_EXIT", idle_exit),
        ]),
    )
    .unwrap();
    assert!(cfg.concurrency.is_concurrent());
    assert_eq!(cfg.concurrency.vcpus(), 2);
    cfg.connection.address = server.address();
    cfg.default_versioning_behavior = Some(VersioningBehavior::Pinned);
    cfg.register_workflow::<LeaseWorkflow>().unwrap();
    cfg.register_activities(LeaseActivities);
    cfg.add_shutdown_hook("count", Duration::from_millis(200), move || {
        let hooks = hooks.clone();
        async move {
            hooks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    SharedWorker::new(Arc::new(LambdaWorker::new(cfg).unwrap()))
}

fn invocation(request_id: &str, timeout: Duration) -> InvocationInfo {
    InvocationInfo {
        request_id: request_id.to_owned(),
        invoked_function_arn: ARN.to_owned(),
        deadline: SystemTime::now() + timeout,
    }
}

/// Take a lease from its own Tokio task (the future must be `Send`, as in `run_concurrent`).
fn spawn_lease(
    shared: &Arc<SharedWorker>,
    request_id: &str,
    timeout: Duration,
) -> tokio::task::JoinHandle<(InvocationReport, Duration, Duration)> {
    let (shared, info) = (shared.clone(), invocation(request_id, timeout));
    tokio::spawn(async move {
        let started = Instant::now();
        let report = shared.lease(&info).await.expect("lease answers");
        (report, started.elapsed(), timeout)
    })
}

fn temporal(server: &DevServer, args: &[&str]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = find_temporal_binary(&root).expect("temporal CLI");
    let out = Command::new(bin)
        .args(args)
        .args(["--address", &server.address(), "--namespace", "default"])
        .output()
        .expect("run temporal CLI");
    assert!(
        out.status.success(),
        "temporal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A first lease registers the version with the server (its first poll); then make it current.
async fn register_current(server: &DevServer, shared: &Arc<SharedWorker>, build_id: &str) {
    let first = shared
        .lease(&invocation("req-register", Duration::from_millis(9_500)))
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
            "lmi-app",
            "--build-id",
            build_id,
            "--yes",
        ],
    );
}

async fn start(
    client: &Client,
    queue: &str,
    id: &str,
) -> impl std::future::Future<Output = String> {
    let handle = client
        .start_workflow(
            LeaseWorkflow::run,
            id.to_owned(),
            WorkflowStartOptions::new(queue, id).build(),
        )
        .await
        .unwrap();
    async move {
        tokio::time::timeout(
            Duration::from_secs(30),
            handle.get_result(WorkflowGetResultOptions::default()),
        )
        .await
        .expect("workflow completes in time")
        .expect("workflow result")
    }
}

fn answered_in_time((report, took, timeout): &(InvocationReport, Duration, Duration)) {
    assert!(took < timeout, "answered after its deadline: {report:?}");
    assert!(report.time_left_ms >= 100, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_leases_share_one_connection_and_one_worker_and_the_last_one_drains() {
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    let hooks = Arc::new(AtomicU32::new(0));
    let shared = shared_worker(&server, "lmi-q", "b1", "stop", "1s", hooks.clone());
    register_current(&server, &shared, "b1").await;
    assert_eq!(
        hooks.load(Ordering::SeqCst),
        1,
        "the registering lease was the last: it drained"
    );
    let client = server.client().await.unwrap();

    let mut results = Vec::new();
    for i in 0..6 {
        results.push(start(&client, "lmi-q", &format!("wf-lmi-{i}")).await);
    }
    let leases: Vec<_> = (0..3)
        .map(|i| {
            spawn_lease(
                &shared,
                &format!("req-{i}"),
                Duration::from_secs(12 + 4 * i),
            )
        })
        .collect();
    for (i, r) in futures::future::join_all(results).await.iter().enumerate() {
        assert_eq!(r, &format!("Hello, wf-lmi-{i}!"));
    }
    let mut reports = Vec::new();
    for l in leases {
        reports.push(l.await.unwrap());
    }
    reports.iter().for_each(answered_in_time);
    assert_eq!(
        shared.connections(),
        1,
        "one Temporal connection per environment"
    );
    let lease = |r: &InvocationReport| r.lease.clone().expect("a lease report");
    let generations: Vec<u64> = reports.iter().map(|r| lease(&r.0).generation).collect();
    assert_eq!(
        generations,
        vec![2, 2, 2],
        "one worker shared by the three: {reports:?}"
    );
    let drained: Vec<&InvocationReport> = reports
        .iter()
        .map(|r| &r.0)
        .filter(|r| lease(r).drained_shared_worker)
        .collect();
    assert_eq!(drained.len(), 1, "only the last lease drains: {reports:?}");
    assert!(drained[0].drained, "{reports:?}");
    assert_eq!(hooks.load(Ordering::SeqCst), 2, "hooks ran once per drain");
    let completed: u64 = reports.iter().map(|r| r.0.activities_completed).sum();
    assert!(completed >= 6, "{reports:?}");
    assert_eq!(shared.live_leases(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_answers_by_its_own_deadline_without_draining_the_worker_others_hold() {
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    let hooks = Arc::new(AtomicU32::new(0));
    // No idle exit: each lease holds the worker until its own window closes.
    let shared = shared_worker(&server, "lmi-short", "b2", "stop", "off", hooks.clone());
    register_current(&server, &shared, "b2").await;
    let client = server.client().await.unwrap();

    let short = spawn_lease(&shared, "req-short", Duration::from_millis(9_500));
    let long = spawn_lease(&shared, "req-long", Duration::from_secs(14));
    let short = short.await.unwrap();
    answered_in_time(&short);
    let short_lease = short.0.lease.clone().unwrap();
    assert_eq!(short.0.stopped_by, StopReason::Window);
    assert!(!short_lease.drained_shared_worker, "{short:?}");
    assert_eq!(short_lease.live_leases, 1);
    assert_eq!(hooks.load(Ordering::SeqCst), 1, "no drain yet");

    // The long lease still holds the worker: a workflow started now completes on it.
    let done = start(&client, "lmi-short", "wf-after-short").await.await;
    assert_eq!(done, "Hello, wf-after-short!");
    let long = long.await.unwrap();
    answered_in_time(&long);
    assert!(
        long.0.lease.clone().unwrap().drained_shared_worker,
        "{long:?}"
    );
    assert_eq!(hooks.load(Ordering::SeqCst), 2);
    assert_eq!(shared.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_stay_the_worker_polls_with_no_lease_until_the_environment_is_reclaimed() {
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    let hooks = Arc::new(AtomicU32::new(0));
    let shared = shared_worker(&server, "lmi-stay", "b3", "stay", "1s", hooks.clone());
    register_current(&server, &shared, "b3").await;
    assert_eq!(
        hooks.load(Ordering::SeqCst),
        0,
        "stay: the last lease does not drain"
    );
    assert_eq!(shared.live_leases(), 0);

    // No invocation holds a lease: the resident worker still runs the workflow.
    let client = server.client().await.unwrap();
    let done = start(&client, "lmi-stay", "wf-resident").await.await;
    assert_eq!(done, "Hello, wf-resident!");
    assert_eq!(shared.generations(), 1);

    // A new invocation shares the resident worker rather than starting one.
    let again = spawn_lease(&shared, "req-again", Duration::from_millis(9_500))
        .await
        .unwrap();
    answered_in_time(&again);
    assert_eq!(again.0.lease.clone().unwrap().generation, 1);

    // SIGTERM's path: the worker drains within the grace and the hooks run.
    let started = Instant::now();
    let report = shared.reclaim(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert!(!report.overran(), "{report:?}");
    assert_eq!(hooks.load(Ordering::SeqCst), 1);
    // After a reclaim a lease answers at once, without starting a worker.
    let refused = shared
        .lease(&invocation("req-late", Duration::from_millis(9_500)))
        .await
        .unwrap();
    assert_eq!(refused.stopped_by, StopReason::Reclaimed);
    assert_eq!(shared.generations(), 1);
    assert_eq!(shared.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_worker_that_fails_is_reported_and_replaced_by_the_next_lease() {
    let server = DevServer::start(DevServerOptions::default())
        .await
        .expect("dev server");
    let mut cfg = LambdaWorkerConfig::from_env(
        WorkerDeploymentVersion::new("lmi-app", "b4"),
        &env(&[
            ("TEMPORAL_TASK_QUEUE", "lmi-fail"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "2"),
        ]),
    )
    .unwrap();
    cfg.connection.address = server.address();
    // The worker connects, then its first call fails: the namespace does not exist.
    cfg.connection.namespace = "no-such-namespace".into();
    cfg.default_versioning_behavior = Some(VersioningBehavior::Pinned);
    cfg.register_workflow::<LeaseWorkflow>().unwrap();
    let shared = SharedWorker::new(Arc::new(LambdaWorker::new(cfg).unwrap()));
    for (i, request_id) in ["req-fail-1", "req-fail-2"].into_iter().enumerate() {
        let started = Instant::now();
        let err = shared
            .lease(&invocation(request_id, Duration::from_millis(9_500)))
            .await
            .expect_err("the worker's failure is the invocation's error");
        assert!(started.elapsed() < Duration::from_millis(9_500));
        assert_eq!(err.kind(), "WorkerRun", "{err}");
        assert!(err.to_string().contains("lmi-fail"), "{err}");
        assert_eq!(
            shared.generations(),
            i as u64 + 1,
            "a fresh worker per lease"
        );
    }
    assert_eq!(shared.connections(), 1);
    assert_eq!(shared.live_leases(), 0);
}
