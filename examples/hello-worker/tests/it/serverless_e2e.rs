//! The whole Serverless Workers flow on one machine: the REAL Temporal dev server (worker
//! controller on) invokes the REAL `bootstrap` binary of this sample through the local Lambda +
//! STS emulator. Nothing is mocked.

use std::time::Duration;

use hello_worker::{HelloWorkflow, SlowHello, SlowHelloWorkflow};
use temporal_lambda_emulator::{InvocationRecord, InvocationType, Outcome};
use temporal_lambda_testing::LocalRig;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

/// Emulator + dev server + the sample deployed as a published function version, registered as
/// the current Worker Deployment Version with its aws-lambda compute config, through the users'
/// harness (`temporal-lambda-testing`), with this test's function name, timeout and concurrency.
async fn rig(name: &str, timeout: Duration, concurrency: u32) -> LocalRig {
    LocalRig::builder(env!("CARGO_BIN_EXE_bootstrap"))
        .function_name(name)
        .function_timeout(timeout)
        .concurrency(concurrency)
        .start()
        .await
        .expect("local rig up, version registered and current")
}

fn assert_deadlines_kept(records: &[InvocationRecord]) {
    for r in records.iter().filter(|r| r.is_finished()) {
        assert_eq!(
            r.ended_before_deadline,
            Some(true),
            "invocation ended after its deadline: {r:?}"
        );
        assert!(!matches!(r.outcome, Some(Outcome::Timeout)), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_started_with_zero_workers_completes_because_the_server_invoked_the_function() {
    let rig = rig("zero", Duration::from_secs(10), 2).await;
    let client = rig.server().client().await.unwrap();
    let handle = client
        .start_workflow(
            HelloWorkflow::run,
            "Serverless".to_string(),
            WorkflowStartOptions::new(rig.task_queue(), "wf-zero").build(),
        )
        .await
        .unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .expect("workflow finished in time")
    .unwrap();
    assert_eq!(result, "Hello, Serverless!");
    let records = rig
        .emulator()
        .wait_for_invocations(Duration::from_secs(30), |rs| {
            !rs.is_empty() && rs.iter().all(|r| r.is_finished())
        })
        .await
        .unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.invocation_type == InvocationType::Event),
        "the server must have invoked the function asynchronously: {records:?}"
    );
    assert!(rig.emulator().sts_stats().assume_role_granted > 0);
    assert_deadlines_kept(&records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_workflows_at_once_complete_with_a_concurrency_limit_of_three() {
    let rig = rig("fifty", Duration::from_secs(10), 3).await;
    let client = rig.server().client().await.unwrap();
    let mut handles = Vec::new();
    for i in 0..50 {
        handles.push(
            client
                .start_workflow(
                    HelloWorkflow::run,
                    format!("n{i}"),
                    WorkflowStartOptions::new(rig.task_queue(), format!("wf-fifty-{i}")).build(),
                )
                .await
                .unwrap(),
        );
    }
    for (i, h) in handles.into_iter().enumerate() {
        let r = tokio::time::timeout(
            Duration::from_secs(120),
            h.get_result(WorkflowGetResultOptions::default()),
        )
        .await
        .expect("all workflows finish in time")
        .unwrap();
        assert_eq!(r, format!("Hello, n{i}!"));
    }
    assert!(rig.emulator().peak_concurrency("fifty") <= 3);
    let records = rig
        .emulator()
        .wait_for_invocations(Duration::from_secs(30), |rs| {
            rs.iter().all(|r| r.is_finished())
        })
        .await
        .unwrap();
    assert_deadlines_kept(&records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_cut_off_by_the_invocation_window_is_retried_in_a_new_invocation() {
    // 10 s timeout: 3 s of polling, then the drain; the first attempt needs 20 s, so it is
    // interrupted, and the retry runs in a later invocation that the server triggers.
    let rig = rig("cutoff", Duration::from_secs(10), 2).await;
    let client = rig.server().client().await.unwrap();
    let handle = client
        .start_workflow(
            SlowHelloWorkflow::run,
            SlowHello {
                name: "retry".into(),
                work_ms: 20_000,
                // 60 s: the retry must come from the worker reporting the interrupted attempt,
                // not from the server timing it out.
                start_to_close_ms: 0,
            },
            WorkflowStartOptions::new(rig.task_queue(), "wf-cutoff").build(),
        )
        .await
        .unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await;
    let Ok(result) = result else {
        panic!(
            "workflow did not finish; invocations: {:#?}\nlogs:\n{}",
            rig.emulator().invocations(),
            rig.emulator().logs("cutoff").unwrap_or_default()
        );
    };
    assert_eq!(result.unwrap(), "Hello, retry!");
    let records = rig
        .emulator()
        .wait_for_invocations(Duration::from_secs(30), |rs| {
            rs.iter().all(|r| r.is_finished())
        })
        .await
        .unwrap();
    assert!(records.len() >= 2, "needs a second invocation: {records:?}");
    assert_deadlines_kept(&records);
}

/// Anonymous memory (heap, arenas, stacks) of a process, from `/proc/<pid>/status`, in kB.
fn rss_anon_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no RssAnon in /proc/{pid}/status"))
}

/// A warm sandbox serves invocation after invocation (Lambda reuses it for hours): each one's
/// connection, channels and buffers must be freed when it ends. The SDK leaves a finished worker
/// registered on its connection, a cycle that kept ≈ 84 kB per invocation alive (30 invocations
/// grew the heap by ≈ 2.5 MB) until the worker unregistered it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_sandbox_frees_each_invocations_connection() {
    let rig = rig("warm-mem", Duration::from_secs(10), 1).await;
    let arn = rig.function_arn().to_string();
    let all_finished = |rs: &[InvocationRecord]| rs.iter().all(|r| r.is_finished());
    // (sandbox pid, its RssAnon after the invocation) per invocation.
    let mut samples: Vec<(u32, u64)> = Vec::new();
    while samples.len() < 30 {
        // The server may invoke too (e.g. after the registration): run ours one at a time.
        rig.emulator()
            .wait_for_invocations(Duration::from_secs(30), all_finished)
            .await
            .unwrap();
        // No task is waiting: the invocation connects, polls, and idles out.
        let out = match rig.emulator().invoke(&arn, b"{}").await {
            Err(temporal_lambda_emulator::EmulatorError::Throttled(_)) => continue,
            r => r.unwrap(),
        };
        assert_eq!(out.function_error, None, "{out:?}");
        let pid = rig
            .emulator()
            .invocations()
            .iter()
            .find(|r| r.request_id == out.request_id)
            .and_then(|r| r.pid)
            .unwrap();
        samples.push((pid, rss_anon_kb(pid)));
    }
    eprintln!("(pid, RssAnon kB) per invocation: {samples:?}");
    // Warm reuse: one sandbox served (nearly) all of them. Its first invocations warm up lazily
    // allocated state; compare the rest.
    let pid = samples.last().unwrap().0;
    let mine: Vec<u64> = samples
        .iter()
        .filter(|(p, _)| *p == pid)
        .map(|s| s.1)
        .collect();
    assert!(mine.len() >= 25, "warm reuse expected: {samples:?}");
    let (early, late) = (mine[5], *mine.last().unwrap());
    assert!(
        late.saturating_sub(early) < 1024,
        "anonymous memory grew by {} kB over {} warm invocations ({early} → {late} kB): \
         something outlives its invocation; all samples: {samples:?}",
        late.saturating_sub(early),
        mine.len() - 6
    );
}
