//! The harness against real parts: the sample worker's `bootstrap` (built with cargo), the real
//! Temporal dev server and the emulator's real sandbox processes.

use std::path::PathBuf;

use temporal_lambda_rig as local;
use temporal_lambda_testing::LocalRig;

fn sample_bootstrap() -> PathBuf {
    // `cargo test --workspace` has built the sample's bootstrap beside this test's deps dir
    // (hello-worker is the workspace's only `bootstrap`): reuse it rather than building the
    // sample again with a different feature set.
    if let Some(built) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("bootstrap")))
        .filter(|p| p.is_file())
    {
        return built;
    }
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hello-worker/Cargo.toml"
    );
    let w = local::resolve_worker(&local::WorkerSource {
        manifest_path: Some(manifest.into()),
        ..Default::default()
    })
    .expect("the sample is a worker crate");
    local::build_worker(&w).expect("the sample builds")
}

fn alive(pid: u32) -> bool {
    // Zombies count as gone: read the state from /proc.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_completes_through_a_server_invocation_and_a_panicking_test_leaves_no_process() {
    let bootstrap = sample_bootstrap();
    let rig = LocalRig::builder(&bootstrap)
        .function_name("harness")
        .start()
        .await
        .expect("rig up");
    assert_eq!(rig.deployment_version(), "hello-app:build-1");
    let out = rig
        .execute_workflow("HelloWorkflow", serde_json::json!("harness"))
        .await
        .expect("workflow completes");
    assert_eq!(out, serde_json::json!("Hello, harness!"));
    let inv = rig.invocations();
    assert!(inv.iter().any(|r| r.cold_start == Some(true)), "{inv:?}");
    assert!(rig.logs().contains("START RequestId"), "no function log");
    drop(rig);

    // A test that panics mid-way, with the dev server and a warm sandbox running.
    let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u32>>();
    let task = tokio::spawn(async move {
        let rig = LocalRig::builder(&bootstrap)
            .function_name("panics")
            .start()
            .await
            .expect("rig up");
        rig.execute_workflow("HelloWorkflow", serde_json::json!("x"))
            .await
            .expect("workflow completes");
        let pids = rig.pids();
        tx.send(pids).unwrap();
        panic!("the test fails mid-way");
    });
    let err = task.await.expect_err("the task panicked");
    assert!(err.is_panic());
    let pids = rx.await.expect("pids recorded before the panic");
    assert!(
        pids.len() >= 2,
        "dev server and at least one sandbox: {pids:?}"
    );
    for pid in pids {
        // Drop kills process groups synchronously; give the kernel a moment to reap.
        let gone = (0..50).any(|_| {
            if alive(pid) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                false
            } else {
                true
            }
        });
        assert!(gone, "process {pid} outlived the panicking test");
    }
}
