//! Retiring a build on the rig (real dev server with drainage checks shortened, emulator, real
//! `bootstrap` as builds 1 and 2 of the sample): pinned workflows started on build 1 finish on
//! build 1's Lambda version after build 2 became current, auto-upgrade ones move to build 2,
//! `retire` refuses while pinned workflows are open and succeeds once they finished, and then
//! the server never invokes build 1's function again.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    build_of, deploy_build, now_ms, run_workflows, split, start_timer_hello, timer_hello_result,
    wait_for_open_pinned, wait_for_version,
};
use temporal_lambda_cli::local_rig;
use temporal_lambda_cli::retire::{self, RetireError, RetireOptions, RetireTarget};
use temporal_lambda_cli::rollout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_workflows_finish_on_build_1_and_retire_waits_for_them() {
    let _heavy = crate::common::HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = crate::common::rollout_rig_options(dir.path(), "retire-tq", "retire-app");
    let bootstrap = std::path::Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    let mut rig = local_rig::start_rig(&opts, bootstrap, &|_| {})
        .await
        .expect("rig up");
    let client = rig.server.client().await.unwrap();
    let (ns, dep) = ("default", "retire-app");

    // On build 1: three pinned workflows (the sample's default behavior) and two auto-upgrade
    // ones, each waiting on a 12 s timer between its two activities.
    let delay = Duration::from_secs(12);
    let pinned: Vec<String> = (0..3).map(|i| format!("pinned-{i}")).collect();
    let auto: Vec<String> = (0..2).map(|i| format!("auto-{i}")).collect();
    for id in &pinned {
        start_timer_hello(&client, "retire-tq", id, delay, false).await;
    }
    for id in &auto {
        start_timer_hello(&client, "retire-tq", id, delay, true).await;
    }
    for id in pinned.iter().chain(&auto) {
        assert_eq!(wait_for_version(&rig.server, id).await, "build-1", "{id}");
    }
    wait_for_open_pinned(&rig.conn().connect().await.unwrap(), dep, "build-1", 3).await;

    // Build 2 becomes current (its own function).
    deploy_build(&mut rig, "retire-b2", "build-2").await;
    let build_2_current_at = now_ms();
    let conn = rig.conn().connect().await.unwrap();
    let aws = local_rig::aws(&rig).await;
    let retire_opts = |wait: Option<Duration>| RetireOptions {
        namespace: ns.into(),
        deployment_name: dep.into(),
        target: RetireTarget::Build("build-1".into()),
        keep_lambda_version: false,
        iam_stack: None,
        wait,
        dry_run: false,
    };

    // Retiring build 2 (current) or build 1 (open pinned workflows) is refused.
    let e = retire::retire(
        &conn,
        Some(&aws),
        &RetireOptions {
            target: RetireTarget::Build("build-2".into()),
            ..retire_opts(None)
        },
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            RetireError::Routed {
                role: "current",
                ..
            }
        ),
        "{e}"
    );
    let t = Instant::now();
    let e = retire::retire(&conn, Some(&aws), &retire_opts(None), &|_| {})
        .await
        .unwrap_err();
    eprintln!("RETIRE refused in {:?}: {e}", t.elapsed());
    match &e {
        RetireError::OpenPinned { open, sample, .. } => {
            assert_eq!(*open, 3, "{e}");
            assert!(sample.iter().all(|s| pinned.contains(s)), "{e}");
            assert!(e.to_string().contains("retire --wait"), "{e}");
        }
        other => panic!("expected OpenPinned, got {other}"),
    }
    let st = rollout::status_with_logs(&conn, Some(&aws), ns, dep, rollout::STATUS_LOG_WINDOW)
        .await
        .unwrap();
    eprintln!("{}", rollout::status_text(&st));
    let row = st
        .versions
        .iter()
        .find(|v| v.build_id == "build-1")
        .unwrap();
    assert_eq!(row.open_pinned, 3);
    assert_eq!(row.state, "draining");
    // Build 1's function ran the five workflows' first tasks: its log shows the invocations.
    let logs = row.logs.as_ref().expect("the rig's logs are readable");
    assert!(
        logs.invocations >= 1 && logs.last_invocation_ms.is_some(),
        "{logs:?}"
    );
    assert_eq!(logs.errors, 0, "{logs:?}");

    // New work goes to build 2 meanwhile.
    let builds = run_workflows(&rig, "retire-tq", "new-", 5).await;
    split(&builds, &["build-2"]);

    // Pinned workflows finish on build 1, auto-upgrade ones on build 2.
    for id in pinned.iter().chain(&auto) {
        timer_hello_result(&client, id).await;
    }
    for id in &pinned {
        assert_eq!(build_of(&rig.server, id), "build-1", "{id}");
    }
    for id in &auto {
        assert_eq!(build_of(&rig.server, id), "build-2", "{id}");
    }
    // The pinned workflows' tasks after their timers were served by build 1's function.
    let late_build_1 = rig
        .emulator
        .invocations()
        .iter()
        .filter(|r| r.function_name == "hello-worker" && r.received_at_ms > build_2_current_at)
        .count();
    assert!(
        late_build_1 >= 1,
        "build 1's function was not invoked after build 2 became current"
    );

    // Now retire succeeds (waiting for the server to see build 1 drained).
    let t = Instant::now();
    let r = retire::retire(
        &conn,
        Some(&aws),
        &retire_opts(Some(Duration::from_secs(90))),
        &|m| eprintln!("  retire: {m}"),
    )
    .await
    .expect("retire after the pinned workflows finished");
    eprintln!(
        "RETIRE succeeded in {:?}:\n{}",
        t.elapsed(),
        retire::retire_text(&r)
    );
    let v = &r.retired[0];
    assert!(v.version_deleted && v.lambda_version_deleted, "{v:?}");
    assert!(
        v.lambda_function
            .as_deref()
            .is_some_and(|a| a.ends_with(":function:hello-worker:1")),
        "{v:?}"
    );
    assert!(rig.emulator.get_function("hello-worker:1").is_err());
    let retired_at = now_ms();
    let st = rollout::status(&conn, ns, dep).await.unwrap();
    assert!(
        st.versions.iter().all(|v| v.build_id != "build-1"),
        "{}",
        rollout::status_text(&st)
    );
    // Retiring it again: it no longer exists.
    let e = retire::retire(&conn, Some(&aws), &retire_opts(None), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, RetireError::NoVersion { .. }), "{e}");

    // Afterwards the server never invokes build 1's function, and nothing is stuck.
    let builds = run_workflows(&rig, "retire-tq", "after-", 10).await;
    split(&builds, &["build-2"]);
    let after: Vec<_> = rig
        .emulator
        .invocations()
        .into_iter()
        .filter(|r| r.function_name == "hello-worker" && r.received_at_ms >= retired_at)
        .collect();
    assert!(after.is_empty(), "build 1 invoked after retire: {after:?}");
    let running = conn
        .workflow_service()
        .count_workflow_executions(temporalio_client::tonic::Request::new(
            temporalio_common::protos::temporal::api::workflowservice::v1::CountWorkflowExecutionsRequest {
                namespace: ns.into(),
                query: "ExecutionStatus = 'Running'".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .count;
    assert_eq!(running, 0, "workflows left open");
}
