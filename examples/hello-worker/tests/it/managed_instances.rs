//! Lambda Managed Instances end to end: the REAL dev server invokes the sample's REAL
//! `bootstrap` on the emulator's LMI mode — two execution environments, each taking up to 8
//! invocations at once through concurrent `/next`:
//! - 100 workflows (activities and durable timers) complete, each environment holding ONE
//!   Temporal connection (one shared worker, its invocations leases on it) and serving several
//!   invocations at once, none answering after its deadline;
//! - with the `stay` residency, every workflow task after a workflow's first is dispatched to
//!   the sticky queue of the worker that ran the one before (no full-history replay);
//! - with an environment SIGKILLed mid-run, every workflow still completes, exactly once.

use std::time::Duration;

use crate::common::{history, start_timer_hello, timer_hello_result};
use hello_worker::HelloWorkflow;
use temporal_lambda_cli::local_rig::{self, ManagedInstances, Rig};
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};

/// What the worker logs once per connection it makes (crates/lambda-worker/src/shared.rs).
const CONNECTED: &str = "connected to Temporal: one connection for this execution environment";

/// A rig on LMI: 2 environments of up to 8 concurrent invocations, the worker's `residency`.
async fn lmi_rig(dir: &std::path::Path, name: &str, residency: &str) -> Rig {
    let opts = local_rig::RigOptions {
        task_queue: format!("{name}-tq"),
        deployment_name: format!("{name}-app"),
        function_timeout: Duration::from_secs(30),
        managed_instances: Some(ManagedInstances {
            max_concurrency: 8,
            environments: 2,
        }),
        env: vec![(
            temporal_lambda_env::connection::RESIDENCY.into(),
            residency.into(),
        )],
        ..local_rig::RigOptions::for_crate(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), dir, name)
    };
    let rig = local_rig::start_rig(&opts, env!("CARGO_BIN_EXE_bootstrap").as_ref(), &|_| {})
        .await
        .expect("rig up on Lambda Managed Instances");
    assert!(
        rig.function().function_arn.ends_with(&format!(":{name}:1")),
        "a published version: {}",
        rig.function().function_arn
    );
    rig
}

/// Starts `hello` `HelloWorkflow`s (one activity) and `timers` `TimerHelloWorkflow`s (a durable
/// timer of `delay` between two activities) at once; returns their IDs.
async fn start_all(
    client: &Client,
    tq: &str,
    prefix: &str,
    hello: usize,
    timers: usize,
    delay: Duration,
) -> (Vec<String>, Vec<String>) {
    let mut hello_ids = Vec::new();
    for i in 0..hello {
        let id = format!("{prefix}-hello-{i}");
        client
            .start_workflow(
                HelloWorkflow::run,
                id.clone(),
                WorkflowStartOptions::new(tq, id.clone()).build(),
            )
            .await
            .unwrap();
        hello_ids.push(id);
    }
    let mut timer_ids = Vec::new();
    for i in 0..timers {
        let id = format!("{prefix}-timer-{i}");
        start_timer_hello(client, tq, &id, delay, false).await;
        timer_ids.push(id);
    }
    (hello_ids, timer_ids)
}

/// Waits for every workflow [`start_all`] started and checks its result.
async fn wait_all(client: &Client, hello_ids: &[String], timer_ids: &[String]) {
    for id in hello_ids {
        let r = tokio::time::timeout(
            Duration::from_secs(180),
            client
                .get_workflow_handle::<HelloWorkflow>(id.clone())
                .get_result(WorkflowGetResultOptions::default()),
        )
        .await
        .unwrap_or_else(|_| panic!("{id} did not complete"))
        .unwrap();
        assert_eq!(r, format!("Hello, {id}!"));
    }
    for id in timer_ids {
        timer_hello_result(client, id).await;
    }
}

/// Where a history's workflow tasks after its first were dispatched: to the sticky queue of the
/// worker that ran the task before (served from its cache), or to the normal queue (the whole
/// history replayed) — by a worker with the same identity as the one before (same environment),
/// or another.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TaskSources {
    sticky: usize,
    replayed_same_identity: usize,
    replayed_other_identity: usize,
}

impl std::ops::AddAssign for TaskSources {
    fn add_assign(&mut self, o: Self) {
        self.sticky += o.sticky;
        self.replayed_same_identity += o.replayed_same_identity;
        self.replayed_other_identity += o.replayed_other_identity;
    }
}

fn task_sources(history: &serde_json::Value) -> TaskSources {
    let mut s = TaskSources::default();
    let (mut kind, mut last_identity) = (None::<String>, None::<String>);
    for e in history["events"].as_array().expect("history events") {
        match e["eventType"].as_str().unwrap_or_default() {
            "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED" => {
                kind = e["workflowTaskScheduledEventAttributes"]["taskQueue"]["kind"]
                    .as_str()
                    .map(str::to_string);
            }
            "EVENT_TYPE_WORKFLOW_TASK_STARTED" => {
                let identity = e["workflowTaskStartedEventAttributes"]["identity"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                match (&last_identity, kind.as_deref()) {
                    (None, _) => {}
                    (Some(_), Some("TASK_QUEUE_KIND_STICKY")) => s.sticky += 1,
                    (Some(last), _) if *last == identity => s.replayed_same_identity += 1,
                    (Some(_), _) => s.replayed_other_identity += 1,
                }
                last_identity = Some(identity);
            }
            _ => {}
        }
    }
    s
}

/// [`task_sources`] summed over `ids`' histories.
fn sources_of(rig: &Rig, ids: &[String]) -> TaskSources {
    let mut total = TaskSources::default();
    for id in ids {
        total += task_sources(&history(&rig.server, id));
    }
    total
}

/// The published version's invocations (not the on-demand describe on `$LATEST`), finished or
/// still running (the server keeps invoking while it sees work).
fn lmi_records(rig: &Rig, name: &str) -> Vec<temporal_lambda_emulator::InvocationRecord> {
    let version = rig.function().lambda_version.clone();
    rig.emulator
        .invocations()
        .into_iter()
        .filter(|r| r.function_name == name && r.version == version && !r.duplicate)
        .collect()
}

/// Temporal connections per execution environment (log stream) of function `name`.
fn connections_per_environment(rig: &Rig, name: &str) -> Vec<usize> {
    let dir = rig.emulator.log_dir(name).unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .filter(|t| !t.contains("Version: $LATEST"))
        .map(|t| t.matches(CONNECTED).count())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_workflows_on_two_environments_one_connection_each() {
    let _heavy = crate::common::HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let rig = lmi_rig(dir.path(), "lmi", "stop").await;
    let client = rig.server.client().await.unwrap();
    let tq = rig.function().task_queue.clone();

    // 100 workflows at once: 70 with one activity, 30 with a durable timer between two.
    let (hello, timers) = start_all(&client, &tq, "lmi", 70, 30, Duration::from_secs(2)).await;
    wait_all(&client, &hello, &timers).await;

    let records = lmi_records(&rig, "lmi");
    let environments: std::collections::BTreeSet<_> = records
        .iter()
        .filter_map(|r| r.sandbox_id.clone())
        .collect();
    let most_at_once = records
        .iter()
        .filter_map(|r| r.environment_concurrency)
        .max()
        .unwrap_or(0);
    let late = records
        .iter()
        .filter(|r| r.ended_before_deadline == Some(false))
        .count();
    let per_environment = connections_per_environment(&rig, "lmi");
    let connections: usize = per_environment.iter().sum();
    let all: Vec<String> = hello.iter().chain(&timers).cloned().collect();
    let sources = sources_of(&rig, &all);
    eprintln!(
        "LMI (residency stop): {} workflows, {} invocations in {} environment(s), at most \
         {most_at_once} at once in one, {connections} connection(s), {late} past their deadline; \
         workflow tasks after the first: {sources:?}",
        all.len(),
        records.len(),
        environments.len()
    );
    assert!((1..=2).contains(&environments.len()), "{environments:?}");
    assert!(
        most_at_once > 1,
        "no environment served two invocations at once: {records:#?}"
    );
    assert_eq!(late, 0, "invocations answered after their deadline");
    assert_eq!(
        (connections, per_environment.iter().max().copied()),
        (environments.len(), Some(1)),
        "one Temporal connection per execution environment, whatever its invocations: \
         {per_environment:?}"
    );
    assert!(sources.sticky > 0, "{sources:?}");
}

/// With `TEMPORAL_LAMBDA_RESIDENCY=stay` the environment's worker keeps polling after its last
/// invocation, so its sticky queue stays served: no workflow task after a workflow's first is
/// replayed from the whole history by the environment that ran the task before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_workers_serve_every_later_workflow_task_from_their_sticky_cache() {
    let _heavy = crate::common::HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let rig = lmi_rig(dir.path(), "lmi-stay", "stay").await;
    let client = rig.server.client().await.unwrap();
    let tq = rig.function().task_queue.clone();
    let (hello, timers) = start_all(&client, &tq, "stay", 50, 50, Duration::from_secs(2)).await;
    wait_all(&client, &hello, &timers).await;
    let all: Vec<String> = hello.iter().chain(&timers).cloned().collect();
    let sources = sources_of(&rig, &all);
    let records = lmi_records(&rig, "lmi-stay");
    let late = records
        .iter()
        .filter(|r| r.ended_before_deadline == Some(false))
        .count();
    eprintln!(
        "LMI (residency stay): {} workflows, {} invocations, {late} past their deadline; \
         workflow tasks after the first: {sources:?}",
        all.len(),
        records.len()
    );
    // After the first: 1 for each HelloWorkflow (its activity's result), 3 for each
    // TimerHelloWorkflow (first activity's result, timer fired, second activity's result).
    assert_eq!(
        sources.sticky + sources.replayed_same_identity + sources.replayed_other_identity,
        200,
        "{sources:?}"
    );
    assert_eq!(
        sources.replayed_same_identity, 0,
        "an environment replayed a workflow it had cached: {sources:?}"
    );
    assert_eq!(late, 0, "invocations answered after their deadline");
}

/// One environment SIGKILLed while it runs workflows: its invocations fail, the server hands
/// their tasks out again after their timeouts, and every workflow completes exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_killed_mid_run_loses_no_workflow() {
    let _heavy = crate::common::HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let rig = lmi_rig(dir.path(), "lmi-kill", "stay").await;
    let client = rig.server.client().await.unwrap();
    let tq = rig.function().task_queue.clone();
    let (hello, timers) = start_all(&client, &tq, "kill", 20, 20, Duration::from_secs(3)).await;
    // Wait until an environment runs invocations of the published version, then kill it.
    let version = rig.function().lambda_version.clone();
    let victim =
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Some(s) = rig.emulator.sandboxes().into_iter().find(|s| {
                    s.function_name == "lmi-kill" && s.version == version && s.in_flight > 0
                }) {
                    break s;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("an LMI environment ran invocations");
    let pid = victim.pid.expect("a running environment has a pid");
    let kill = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success(), "kill -KILL {pid}");
    wait_all(&client, &hello, &timers).await;

    let records = lmi_records(&rig, "lmi-kill");
    let killed = records
        .iter()
        .filter(|r| r.sandbox_id.as_deref() == Some(victim.id.as_str()))
        .filter(|r| {
            matches!(&r.outcome, Some(temporal_lambda_emulator::Outcome::Error { error_type, .. })
                if error_type == "Runtime.ExitError")
        })
        .count();
    let mut completions = 0;
    for id in hello.iter().chain(&timers) {
        let h = history(&rig.server, id);
        let events = h["events"].as_array().unwrap();
        let done = events
            .iter()
            .filter(|e| e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED")
            .count();
        assert_eq!(done, 1, "{id} completed {done} times");
        completions += done;
    }
    eprintln!(
        "LMI kill: environment {} (pid {pid}) SIGKILLed with {} invocation(s) in flight; {killed} \
         of its invocations failed (Runtime.ExitError); {completions} workflows completed once each, \
         over {} invocations",
        victim.id,
        victim.in_flight,
        records.len()
    );
    assert!(killed > 0, "the kill hit no invocation: {records:#?}");
    assert_eq!(completions, hello.len() + timers.len());
}

#[test]
fn task_sources_tells_sticky_dispatch_from_replays() {
    let ev = |t: &str, kind: Option<&str>, identity: Option<&str>| {
        let mut e = serde_json::json!({ "eventType": t });
        if let Some(k) = kind {
            e["workflowTaskScheduledEventAttributes"] =
                serde_json::json!({"taskQueue": {"kind": k}});
        }
        if let Some(i) = identity {
            e["workflowTaskStartedEventAttributes"] = serde_json::json!({ "identity": i });
        }
        e
    };
    let (sched, started) = (
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        "EVENT_TYPE_WORKFLOW_TASK_STARTED",
    );
    let h = serde_json::json!({ "events": [
        ev(sched, Some("TASK_QUEUE_KIND_NORMAL"), None), ev(started, None, Some("a")),
        ev(sched, Some("TASK_QUEUE_KIND_STICKY"), None), ev(started, None, Some("a")),
        ev(sched, Some("TASK_QUEUE_KIND_NORMAL"), None), ev(started, None, Some("a")),
        ev(sched, Some("TASK_QUEUE_KIND_NORMAL"), None), ev(started, None, Some("b")),
    ]});
    assert_eq!(
        task_sources(&h),
        TaskSources {
            sticky: 1,
            replayed_same_identity: 1,
            replayed_other_identity: 1
        }
    );
}
