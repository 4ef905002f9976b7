//! Versioned rollouts on the rig (real dev server, emulator, real `bootstrap` as builds 1 and 2
//! of the sample through `HELLO_BUILD_ID`): rollback to the previous build, a 50 % ramp split
//! over 100 new workflows, rollback of a ramp, promote, status, idempotence and dry runs.

mod common;

use std::time::Duration;

use common::run_workflows;

use temporal_lambda_cli::connect::ConnectArgs;
use temporal_lambda_cli::local::{self, FunctionOptions};
use temporal_lambda_cli::rollout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_promote_and_roll_back_between_two_builds() {
    let dir = tempfile::tempdir().unwrap();
    let opts = local::RigOptions {
        task_queue: "rollout-tq".into(),
        deployment_name: "rollout-app".into(),
        concurrency: 4,
        ..local::RigOptions::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), dir.path())
    };
    let bootstrap = std::path::Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    let mut rig = local::start_rig(&opts, bootstrap, &|_| {})
        .await
        .expect("rig up");
    // Build 2: its own Lambda function; the rig registers it and makes it current.
    rig.deploy(
        &FunctionOptions {
            function_name: "rollout-b2".into(),
            task_queue: Some("rollout-tq".into()),
            env: vec![
                ("HELLO_DEPLOYMENT_NAME".into(), "rollout-app".into()),
                ("HELLO_BUILD_ID".into(), "build-2".into()),
            ],
            timeout: Duration::from_secs(30),
            concurrency: 4,
        },
        bootstrap,
        &|_| {},
    )
    .await
    .expect("build 2 deployed");
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
    let on_2 = builds.iter().filter(|b| *b == "build-2").count();
    let on_1 = builds.iter().filter(|b| *b == "build-1").count();
    eprintln!("ROLLOUT ramp 50 %: {on_1} on build-1, {on_2} on build-2 of {n}");
    assert_eq!(on_1 + on_2, n);
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
    assert!(builds.iter().all(|b| b == "build-1"), "{builds:?}");

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
    assert!(builds.iter().all(|b| b == "build-2"), "{builds:?}");
    let e = rollout::promote(&conn, ns, dep, None, false)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no version of rollout-app is ramping"),
        "{e}"
    );
}
