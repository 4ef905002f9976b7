//! The sample under `cargo lambda watch --concurrency 4` — the Runtime API emulator Rust
//! developers already use, written by others (cargo-lambda 1.9.2 from PyPI, installed into
//! `.venv` by scripts/install-deploy-tools.sh): the REAL dev server holds the workflows,
//! `cargo lambda invoke` invokes the function four times at once, and the four processes
//! cargo-lambda runs complete every workflow, with no error from our code. cargo-lambda sends a
//! constant `Lambda-Runtime-Deadline-Ms: 600000`; the worker reads it as a budget from receipt.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use temporal_dev_server::{DevServer, DevServerOptions};

use crate::support::{self, repo_root, stderr, stdout, venv_bin, TempDir};

/// `cargo lambda watch`, its process group (cargo-lambda, cargo, the function's processes)
/// killed on drop.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Waits (at most `limit`) until `file` contains `text`; the file's text.
fn wait_for_text(file: &Path, text: &str, limit: Duration) -> String {
    let until = Instant::now() + limit;
    loop {
        let t = std::fs::read_to_string(file).unwrap_or_default();
        if t.contains(text) {
            return t;
        }
        assert!(Instant::now() < until, "no {text:?} within {limit:?}:\n{t}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cargo lambda invoke` of the sample's function; its JSON answer (the invocation report).
fn invoke(cargo_lambda: &Path, port: u16) -> serde_json::Value {
    let o = Command::new(cargo_lambda)
        .current_dir(repo_root().join("examples/hello-worker"))
        .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port.to_string()])
        .args(["--data-ascii", "{}", "bootstrap"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

fn temporal(server: &DevServer, args: &[&str]) -> String {
    let o = Command::new(server.binary())
        .args(args)
        .args(["--address", &server.address()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}\n{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_completes_workflows_under_cargo_lambda_watch_with_four_at_once() {
    // cargo-lambda builds the sample itself (`cargo run`): one compile at a time.
    let _compiling = support::COMPILING.lock().await;
    let cargo_lambda = venv_bin().join("cargo-lambda");
    assert!(
        cargo_lambda.is_file(),
        "{} is missing: run scripts/install-deploy-tools.sh",
        cargo_lambda.display()
    );
    let server = DevServer::start(DevServerOptions::default()).await.unwrap();
    let dir = TempDir::new("cargo-lambda");
    let log = dir.0.join("watch.log");
    let port = free_port();
    let task_queue = "cargo-lambda-q";
    let mut cmd = Command::new(&cargo_lambda);
    cmd.current_dir(repo_root().join("examples/hello-worker"))
        .args(["lambda", "watch", "--invoke-port", &port.to_string()])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--concurrency",
            "4",
            "--ignore-changes",
        ])
        .env(temporal_lambda_env::connection::ADDRESS, server.address())
        .env(temporal_lambda_env::connection::TASK_QUEUE, task_queue)
        // Each invocation ends 2 s after its last task (cargo-lambda's budget is 10 minutes).
        .env("TEMPORAL_LAMBDA_IDLE_EXIT", "2s")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    // Its log and the function's, in one file.
    let out = std::fs::File::create(&log).unwrap();
    cmd.stderr(out.try_clone().unwrap()).stdout(out);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let _watch = Watch(cmd.spawn().unwrap());
    wait_for_text(&log, "starting Runtime server", Duration::from_secs(60));

    // The first invocation builds and starts the function (cargo-lambda's `cargo run`); its
    // worker's first poll creates the version, which is then made current.
    let first = invoke(&cargo_lambda, port);
    assert_eq!(first["deployment_version"], "hello-app:build-1", "{first}");
    temporal(
        &server,
        &[
            "worker",
            "deployment",
            "set-current-version",
            "--deployment-name",
            "hello-app",
            "--build-id",
            "build-1",
            "--yes",
        ],
    );
    let before = std::fs::read_to_string(&log).unwrap_or_default().len();

    // 8 workflows held by the server, then 4 invocations at once.
    let ids: Vec<String> = (0..8).map(|i| format!("cargo-lambda-{i}")).collect();
    for id in &ids {
        temporal(
            &server,
            &[
                "workflow",
                "start",
                "--task-queue",
                task_queue,
                "--type",
                "HelloWorkflow",
                "--workflow-id",
                id,
                "--input",
                &format!("\"{id}\""),
            ],
        );
    }
    let reports: Vec<serde_json::Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| invoke(&cargo_lambda, port)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let completed: u64 = reports
        .iter()
        .map(|r| r["activities_completed"].as_u64().unwrap_or(0))
        .sum();
    for id in &ids {
        let r = temporal(&server, &["workflow", "result", "--workflow-id", id]);
        assert!(r.contains(&format!("Hello, {id}!")), "{id}: {r}");
    }
    let after = std::fs::read_to_string(&log).unwrap_or_default();
    let ours = &after[before.min(after.len())..];
    let identities: std::collections::BTreeSet<_> = reports
        .iter()
        .filter_map(|r| r["identity"].as_str())
        .collect();
    eprintln!(
        "cargo lambda watch --concurrency 4: 8 workflows, {completed} activities over 4 invocations \
         at once ({} distinct identities), stopped by {:?}",
        identities.len(),
        reports.iter().map(|r| r["stopped_by"].clone()).collect::<Vec<_>>()
    );
    assert_eq!(completed, 8, "{reports:#?}");
    assert!(reports.iter().all(|r| r["drained"] == true), "{reports:#?}");
    assert!(
        !ours.contains("ERROR") && !ours.contains("panicked"),
        "an error while serving the workflows:\n{ours}"
    );
}
