//! Lambda Managed Instances end to end: the REAL dev server invokes the sample's REAL
//! `bootstrap` on the emulator's LMI mode — two execution environments, each taking up to 8
//! invocations at once through concurrent `/next` — and every workflow (activities and durable
//! timers) completes, each environment holding ONE Temporal connection (one shared worker, its
//! invocations leases on it) and serving several invocations at once, none answering after its
//! deadline.

use std::time::Duration;

use crate::common::{start_timer_hello, timer_hello_result};
use hello_worker::HelloWorkflow;
use temporal_lambda_cli::local_rig::{self, ManagedInstances};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

/// What the worker logs once per connection it makes (crates/lambda-worker/src/shared.rs).
const CONNECTED: &str = "connected to Temporal: one connection for this execution environment";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_environments_serve_concurrent_invocations_over_one_connection_each() {
    let _heavy = crate::common::HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = local_rig::RigOptions {
        task_queue: "lmi-tq".into(),
        deployment_name: "lmi-app".into(),
        function_timeout: Duration::from_secs(30),
        managed_instances: Some(ManagedInstances {
            max_concurrency: 8,
            environments: 2,
        }),
        ..local_rig::RigOptions::for_crate(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            dir.path(),
            "lmi",
        )
    };
    let rig = local_rig::start_rig(&opts, env!("CARGO_BIN_EXE_bootstrap").as_ref(), &|_| {})
        .await
        .expect("rig up on Lambda Managed Instances");
    let function = rig.function().clone();
    assert!(
        function.function_arn.ends_with(":lmi:1"),
        "a published version: {}",
        function.function_arn
    );
    let client = rig.server.client().await.unwrap();
    let tq = function.task_queue.clone();

    // 40 workflows at once: 30 with one activity, 10 with a durable timer between two.
    const HELLO: usize = 30;
    const TIMERS: usize = 10;
    for i in 0..HELLO {
        let id = format!("lmi-hello-{i}");
        client
            .start_workflow(
                HelloWorkflow::run,
                id.clone(),
                WorkflowStartOptions::new(&tq, id).build(),
            )
            .await
            .unwrap();
    }
    for i in 0..TIMERS {
        let id = format!("lmi-timer-{i}");
        start_timer_hello(&client, &tq, &id, Duration::from_secs(2), false).await;
    }
    for i in 0..HELLO {
        let id = format!("lmi-hello-{i}");
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
    for i in 0..TIMERS {
        timer_hello_result(&client, &format!("lmi-timer-{i}")).await;
    }

    let records: Vec<_> = rig
        .emulator
        .invocations()
        .into_iter()
        // The published version's (the rig asked the code what it is on `$LATEST` first, on-demand).
        .filter(|r| {
            r.function_name == "lmi" && r.version == function.lambda_version && !r.duplicate
        })
        .collect();
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
    let logs = rig.emulator.logs("lmi").unwrap();
    let connections = logs.matches(CONNECTED).count();
    eprintln!(
        "LMI: {} workflows, {} invocations in {} environment(s), at most {most_at_once} at once in one, {connections} connection(s), {late} past their deadline",
        HELLO + TIMERS,
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
        connections,
        environments.len(),
        "one Temporal connection per execution environment, whatever its invocations:\n{logs}"
    );
}
