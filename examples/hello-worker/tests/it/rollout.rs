//! Versioned rollouts on the rig (real dev server with drainage checks shortened, emulator, real
//! `bootstrap` as builds 1, 2 and 3 of the sample through `HELLO_BUILD_ID`, each its own Lambda
//! function): rollback to the previous build, a 50 % ramp split over 100 new workflows, rollback
//! of a ramp, promote, status, idempotence and dry runs; then, with build 2 current and pinned
//! workflows of build 1 still open, a 50 % ramp of build 3 over build 2 while those finish on
//! build 1's Lambda version, rollback of build 3's ramp, and retiring build 1 with builds 2 and
//! 3 live (the server never invokes build 1 again).

use crate::common;

use std::time::{Duration, Instant};

use common::{
    build_of, deploy_build, is_running, now_ms, run_workflows, split, start_timer_hello,
    timer_hello_result, wait_for_open_pinned, wait_for_version,
};

use temporal_lambda_cli::connect::ConnectArgs;
use temporal_lambda_cli::local_rig;
use temporal_lambda_cli::retire::{self, RetireOptions, RetireTarget};
use temporal_lambda_cli::rollout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_promote_roll_back_and_retire_across_three_builds() {
    let _heavy = crate::common::HEAVY.lock().await;
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("ROLLOUT [{:>6.1} s] {what}", t0.elapsed().as_secs_f64());
    // The CLI's warnings (e.g. a routing change still propagating after 30 s) go to the output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("temporal_lambda_cli=warn")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();

    let opts = crate::common::rollout_rig_options(dir.path(), "rollout-tq", "rollout-app");
    let bootstrap = std::path::Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    let mut rig = local_rig::start_rig(&opts, bootstrap, &|_| {})
        .await
        .expect("rig up");
    // Build 2: its own Lambda function; the rig registers it and makes it current.
    deploy_build(&mut rig, "rollout-b2", "build-2").await;
    phase("builds 1 and 2 deployed");
    let conn = ConnectArgs::local(rig.server.address(), "default")
        .connect()
        .await
        .unwrap();
    let (ns, dep) = ("default", "rollout-app");

    // Rollback: build 1 (current before build 2) is current again.
    let r = rollout::rollback(&conn, ns, dep, None, false)
        .await
        .unwrap();
    assert_eq!(r.before.current.as_deref(), Some("build-2"));
    assert_eq!(r.after.current.as_deref(), Some("build-1"));
    assert!(r.changed);
    let again = rollout::rollback(&conn, ns, dep, Some("build-1"), false)
        .await
        .unwrap();
    assert!(!again.changed, "idempotent: {again:?}");

    // Ramp build 2 to 50 %: dry run first (changes nothing), then for real.
    let dry = rollout::ramp(&conn, ns, dep, "build-2", 50.0, true)
        .await
        .unwrap();
    assert!(dry.changed && dry.dry_run);
    let st = rollout::status(&conn, ns, dep).await.unwrap();
    assert_eq!(st.routing.ramping, None, "a dry run changes nothing");
    let r = rollout::ramp(&conn, ns, dep, "build-2", 50.0, false)
        .await
        .unwrap();
    assert_eq!(r.after.ramping.as_deref(), Some("build-2"));
    assert!(
        !rollout::ramp(&conn, ns, dep, "build-2", 50.0, false)
            .await
            .unwrap()
            .changed
    );
    let e = rollout::ramp(&conn, ns, dep, "build-1", 10.0, false)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is the current version"), "{e}");
    let e = rollout::ramp(&conn, ns, dep, "build-9", 10.0, false)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");

    let n = 100;
    let builds = run_workflows(&rig, "rollout-tq", "ramp-", n).await;
    let [on_1, on_2] = split(&builds, &["build-1", "build-2"])[..] else {
        unreachable!()
    };
    eprintln!("ROLLOUT ramp 50 %: {on_1} on build-1, {on_2} on build-2 of {n}");
    phase("ramp of build 2 over build 1 done");
    // Binomial(100, 0.5): 99 % of outcomes lie in 37..=63.
    assert!(
        (37..=63).contains(&on_2),
        "ramp split {on_2}/{n} outside the 99 % range"
    );

    // Status shows both builds with their shares and Lambda functions.
    let st = rollout::status(&conn, ns, dep).await.unwrap();
    let text = rollout::status_text(&st);
    eprintln!("{text}");
    let row = |b: &str| {
        st.versions
            .iter()
            .find(|v| v.build_id == b)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (row("build-1").state.as_str(), row("build-1").percent),
        ("current", 50.0)
    );
    assert_eq!(
        (row("build-2").state.as_str(), row("build-2").percent),
        ("ramping", 50.0)
    );
    assert!(row("build-2")
        .lambda_function
        .as_deref()
        .is_some_and(|a| a.contains(":function:rollout-b2:")));

    // Rolling back a ramp: all new work goes to build 1 again.
    let r = rollout::rollback(&conn, ns, dep, None, false)
        .await
        .unwrap();
    assert_eq!(
        (r.after.current.as_deref(), r.after.ramping.as_deref()),
        (Some("build-1"), None)
    );
    let builds = run_workflows(&rig, "rollout-tq", "back-", 10).await;
    split(&builds, &["build-1"]);
    phase("ramp of build 2 rolled back");

    // Build 3: its own function. The rig makes a deployed build current, as `ship` without
    // --ramp does, so new work goes to it; then roll back from it (to build 1, current before
    // it). Running workflows first also keeps the rollback clear of the server's deployment
    // workflow continuing-as-new about a second after a registration: a routing change that
    // arrives while it closes is retried, and afterwards the server has reported every routing
    // change as still propagating (each command then waits its full 30 s).
    deploy_build(&mut rig, "rollout-b3", "build-3").await;
    let builds = run_workflows(&rig, "rollout-tq", "b3-", 10).await;
    split(&builds, &["build-3"]);
    let t = Instant::now();
    let r = rollout::rollback(&conn, ns, dep, None, false)
        .await
        .unwrap();
    eprintln!("ROLLOUT rollback build-3 -> build-1 in {:?}", t.elapsed());
    assert_eq!(
        (r.before.current.as_deref(), r.after.current.as_deref()),
        (Some("build-3"), Some("build-1"))
    );
    phase("build 3 deployed, rolled back to build 1");

    // Three long-running workflows start on build 1 and stay pinned to it (the sample's
    // default behavior) while builds 2 and 3 take over new work.
    let client = rig.server.client().await.unwrap();
    let pinned: Vec<String> = (0..3).map(|i| format!("pinned-{i}")).collect();
    let pinned_started = Instant::now();
    for id in &pinned {
        start_timer_hello(&client, "rollout-tq", id, PINNED_TIMER, false).await;
    }
    for id in &pinned {
        assert_eq!(wait_for_version(&rig.server, id).await, "build-1", "{id}");
    }
    wait_for_open_pinned(&conn, dep, "build-1", 3).await;
    phase("three pinned workflows open on build 1");

    // Promote: ramp 10 %, then make the ramping build current.
    rollout::ramp(&conn, ns, dep, "build-2", 10.0, false)
        .await
        .unwrap();
    let r = rollout::promote(&conn, ns, dep, None, false).await.unwrap();
    assert_eq!(
        (r.after.current.as_deref(), r.after.ramping.as_deref()),
        (Some("build-2"), None)
    );
    let st = rollout::status(&conn, ns, dep).await.unwrap();
    assert_eq!(st.routing.current.as_deref(), Some("build-2"));
    assert_eq!(st.routing.ramping, None);
    assert!(
        !rollout::promote(&conn, ns, dep, Some("build-2"), false)
            .await
            .unwrap()
            .changed
    );
    let builds = run_workflows(&rig, "rollout-tq", "after-", 10).await;
    split(&builds, &["build-2"]);
    let e = rollout::promote(&conn, ns, dep, None, false)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no version of rollout-app is ramping"),
        "{e}"
    );
    phase("build 2 promoted");

    // Ramp build 3 over build 2 while build 1 still drains.
    let t = Instant::now();
    let r = rollout::ramp(&conn, ns, dep, "build-3", 50.0, false)
        .await
        .unwrap();
    eprintln!("ROLLOUT ramp build-3 50 % in {:?}", t.elapsed());
    assert_eq!(
        (r.after.current.as_deref(), r.after.ramping.as_deref()),
        (Some("build-2"), Some("build-3"))
    );
    let ramp_3_at = now_ms();
    let window = pinned_started.elapsed();
    eprintln!("ROLLOUT build 3 ramping {window:?} after the pinned workflows started");
    // Build 1's pinned workflows are still open (their timer has not fired): they are what
    // keeps build 1 draining.
    for id in &pinned {
        assert!(
            is_running(&rig.server, id),
            "{id} finished within {window:?} of its start, before build 3 was ramping: \
             lengthen PINNED_TIMER"
        );
    }
    let st = rollout::status(&conn, ns, dep).await.unwrap();
    eprintln!("{}", rollout::status_text(&st));
    let row = |b: &str| {
        st.versions
            .iter()
            .find(|v| v.build_id == b)
            .unwrap_or_else(|| panic!("{b} in status"))
            .clone()
    };
    let (b1, b2, b3) = (row("build-1"), row("build-2"), row("build-3"));
    assert_eq!(
        (b1.state.as_str(), b1.open_pinned),
        ("draining", 3),
        "{b1:?}"
    );
    assert_eq!((b2.state.as_str(), b2.percent), ("current", 50.0), "{b2:?}");
    assert_eq!((b3.state.as_str(), b3.percent), ("ramping", 50.0), "{b3:?}");
    assert!(b3
        .lambda_function
        .as_deref()
        .is_some_and(|a| a.ends_with(":function:rollout-b3:1")));

    // New workflows split between builds 2 and 3 (each on its own function's version 1); none
    // goes to build 1.
    let n = 40;
    let builds = run_workflows(&rig, "rollout-tq", "ramp3-", n).await;
    let [on_2, on_3] = split(&builds, &["build-2", "build-3"])[..] else {
        unreachable!()
    };
    eprintln!("ROLLOUT ramp 50 % of build-3: {on_2} on build-2, {on_3} on build-3 of {n}");
    // Binomial(40, 0.5): 99 % of outcomes lie in 12..=28.
    assert!(
        (12..=28).contains(&on_3),
        "ramp split {on_3}/{n} outside the 99 % range"
    );
    // Invocations of a function received at or after `since`.
    let invoked = |function: &str, since: u64| {
        rig.emulator
            .invocations()
            .into_iter()
            .filter(|r| r.function_name == function && r.received_at_ms >= since)
            .collect::<Vec<_>>()
    };
    // Invocations of a function received, or still running, at or after `since` (a serverless
    // worker's invocation keeps taking tasks for a while, so build 2's from before the ramp may
    // serve the ramp's workflows).
    let active = |function: &str, since: u64| {
        rig.emulator
            .invocations()
            .into_iter()
            .filter(|r| {
                r.function_name == function
                    && (r.received_at_ms >= since || r.ended_at_ms.is_none_or(|e| e >= since))
            })
            .collect::<Vec<_>>()
    };
    for function in ["rollout-b2", "rollout-b3"] {
        let calls = active(function, ramp_3_at);
        assert!(!calls.is_empty(), "{function} did not run during the ramp");
        assert!(calls.iter().all(|r| r.version == "1"), "{calls:?}");
    }
    assert!(
        !invoked("rollout-b3", ramp_3_at).is_empty(),
        "build 3's function was never invoked"
    );
    phase("ramp of build 3 over build 2 done");

    // Build 1's pinned workflows finish on build 1, on its Lambda version, while 3 ramps.
    for id in &pinned {
        timer_hello_result(&client, id).await;
        assert_eq!(build_of(&rig.server, id), "build-1", "{id}");
    }
    let late = active("hello-worker", ramp_3_at);
    assert!(
        !late.is_empty(),
        "build 1's function did not run after build 3 started ramping"
    );
    assert!(late.iter().all(|r| r.version == "1"), "{late:?}");
    eprintln!(
        "ROLLOUT pinned workflows done {:?} after they started; build 1's version 1 ran {} \
         invocation(s) after the ramp of build 3 ({} received after it)",
        pinned_started.elapsed(),
        late.len(),
        invoked("hello-worker", ramp_3_at).len()
    );
    phase("build 1's pinned workflows done");

    // Roll back build 3's ramp: the ramp is cleared and new work goes to build 2 only.
    let t = Instant::now();
    let r = rollout::rollback(&conn, ns, dep, None, false)
        .await
        .unwrap();
    eprintln!("ROLLOUT rollback of build-3's ramp in {:?}", t.elapsed());
    assert_eq!(
        (
            r.before.ramping.as_deref(),
            r.after.current.as_deref(),
            r.after.ramping.as_deref()
        ),
        (Some("build-3"), Some("build-2"), None)
    );
    let st = rollout::status(&conn, ns, dep).await.unwrap();
    assert_eq!(
        (st.routing.current.as_deref(), st.routing.ramping.as_deref()),
        (Some("build-2"), None)
    );
    let back_at = now_ms();
    let builds = run_workflows(&rig, "rollout-tq", "back2-", 10).await;
    split(&builds, &["build-2"]);
    let b3_calls = invoked("rollout-b3", back_at);
    assert!(
        b3_calls.is_empty(),
        "build 3 invoked after its ramp was rolled back: {b3_calls:?}"
    );
    phase("build 3's ramp rolled back");

    // Retire build 1 (drained now) while builds 2 and 3 stay live.
    let aws = local_rig::aws(&rig).await;
    let t = Instant::now();
    let r = retire::retire(
        &conn,
        Some(&aws),
        &RetireOptions {
            namespace: ns.into(),
            deployment_name: dep.into(),
            target: RetireTarget::Build("build-1".into()),
            keep_lambda_version: false,
            iam_stack: None,
            wait: Some(Duration::from_secs(90)),
            dry_run: false,
        },
        &|m| eprintln!("  retire: {m}"),
    )
    .await
    .expect("retire build 1 after its pinned workflows finished");
    eprintln!(
        "ROLLOUT retire build-1 in {:?}:\n{}",
        t.elapsed(),
        retire::retire_text(&r)
    );
    let retired_at = now_ms();
    let v = &r.retired[0];
    assert!(v.version_deleted && v.lambda_version_deleted, "{v:?}");
    assert!(rig.emulator.get_function("hello-worker:1").is_err());
    let st = rollout::status(&conn, ns, dep).await.unwrap();
    let left: Vec<_> = st.versions.iter().map(|v| v.build_id.as_str()).collect();
    assert_eq!(
        left,
        ["build-3", "build-2"],
        "{}",
        rollout::status_text(&st)
    );
    phase("build 1 retired");

    // Both remaining builds take new work again (build 3 ramped back to 50 %); the server
    // never invokes build 1's function, and nothing is stuck.
    rollout::ramp(&conn, ns, dep, "build-3", 50.0, false)
        .await
        .unwrap();
    let builds = run_workflows(&rig, "rollout-tq", "retired-", 20).await;
    let [on_2, on_3] = split(&builds, &["build-2", "build-3"])[..] else {
        unreachable!()
    };
    eprintln!("ROLLOUT after retire: {on_2} on build-2, {on_3} on build-3 of 20");
    // P(all 20 on one build) = 2 × 2^-20.
    assert!(on_2 > 0 && on_3 > 0, "{builds:?}");
    let after = invoked("hello-worker", retired_at);
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
    phase("done");
}

/// Timer of build 1's pinned workflows: long enough that they are still open once build 2 is
/// promoted and build 3 ramping (the test checks), short enough not to stretch the test.
const PINNED_TIMER: Duration = Duration::from_secs(30);
