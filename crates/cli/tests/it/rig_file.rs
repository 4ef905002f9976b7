//! Several functions on one rig (`local demo --rig-file`): two builds of the sample as two
//! functions with their own deployment versions and task queues, each completing workflows the
//! server ran by invoking it; and the bad inputs: two functions claiming one deployment
//! version, a port already in use.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{repo_root, stderr, stdout, venv_bin, TempDir};

const EXE: &str = env!("CARGO_BIN_EXE_temporal-lambda");

/// The CLI in `dir` with the pinned Temporal CLI on `PATH`.
fn cli_command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(EXE);
    c.current_dir(dir)
        .args(args)
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv_bin().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env_remove("RUST_LOG");
    c
}

fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    cli_command(dir, args).output().unwrap()
}

fn sample_manifest() -> String {
    repo_root()
        .join("examples/hello-worker/Cargo.toml")
        .display()
        .to_string()
}

/// `local demo --rig-file` with `rig_toml` written in `dir`, its state in `dir`, plus `extra`.
fn demo_with_rig_file(dir: &Path, rig_toml: &str, extra: &[&str]) -> std::process::Output {
    let rig_file = dir.join("rig.toml");
    std::fs::write(&rig_file, rig_toml).unwrap();
    let state = dir.join("state");
    let mut args = vec![
        "local",
        "demo",
        "--rig-file",
        rig_file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cli(dir, &args)
}

#[test]
fn two_functions_on_one_rig_each_invoked_by_the_server() {
    let dir = TempDir::new("rig-file");
    let o = demo_with_rig_file(
        &dir.0,
        &format!(
            r#"
[[function]]
manifest_path = "{m}"
name = "orders"
task_queue = "orders-q"
env = {{ TEMPORAL_DEPLOYMENT_NAME = "orders", TEMPORAL_BUILD_ID = "o-1" }}

[[function]]
manifest_path = "{m}"
name = "billing"
task_queue = "billing-q"
env = {{ TEMPORAL_DEPLOYMENT_NAME = "billing", TEMPORAL_BUILD_ID = "b-7" }}
"#,
            m = sample_manifest()
        ),
        &[
            "--workflows",
            "2",
            "--workflow-type",
            "HelloWorkflow",
            "-o",
            "json",
        ],
    );
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let functions = report["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2, "{report:#}");
    for (f, name) in functions.iter().zip(["orders", "billing"]) {
        assert!(
            f["function_arn"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":function:{name}:1")),
            "{f:#}"
        );
        let results = support::demo_results(f);
        assert_eq!(
            results,
            ["\"Hello, Lambda #0!\"", "\"Hello, Lambda #1!\""],
            "{f:#}"
        );
        // Counted per function: each was invoked by the server for its own task queue.
        assert!(f["invocations"].as_u64().unwrap() >= 1, "{f:#}");
        assert_eq!(f["deadline_overruns"], 0, "{f:#}");
    }
    let err = stderr(&o);
    for v in ["orders:o-1 (current)", "billing:b-7 (current)"] {
        assert!(err.contains(v), "summary lacks {v}:\n{err}");
    }
}

#[test]
fn two_functions_claiming_one_version_are_refused() {
    let dir = TempDir::new("rig-file-clash");
    let o = demo_with_rig_file(
        &dir.0,
        &format!(
            "[[function]]\nmanifest_path = \"{m}\"\nname = \"one\"\n\n[[function]]\nmanifest_path = \"{m}\"\nname = \"two\"\n",
            m = sample_manifest()
        ),
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("`two` and `one` both report Worker Deployment Version hello-app:build-1")
            && err.contains("TEMPORAL_BUILD_ID"),
        "{err}"
    );
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let dir = TempDir::new("rig-port");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    for flag in ["--emulator-port", "--temporal-port"] {
        let o = cli(
            &repo_root(),
            &[
                "local",
                "demo",
                flag,
                &port,
                "--state-dir",
                dir.0.join("state").to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("127.0.0.1:{port} is in use")) && err.contains(flag),
            "{flag}: {err}"
        );
    }
    drop(held);
}

/// The emulator cgroups and sandbox run dirs of the process `pid` (`temporal-lambda-emulator.<pid>.<n>`).
fn leftovers_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("temporal-lambda-emulator.{pid}.");
    let mut out = Vec::new();
    for root in [
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .chain([std::env::temp_dir()])
    {
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                out.push(e.path());
            }
        }
    }
    out
}

/// Starts `local up` (Lambda fidelity) and returns it once it says it is running.
fn local_up(dir: &Path) -> std::process::Child {
    use std::io::BufRead;
    let state = dir.join("state");
    let manifest = sample_manifest();
    let mut child = cli_command(
        dir,
        &["local", "up", "--manifest-path", &manifest, "--state-dir"],
    )
    .arg(&state)
    .env("TEMPORAL_LAMBDA_FIDELITY", "lambda")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("running;") => break,
            Some(Ok(l)) => seen.push(l),
            _ => panic!("local up ended before it was running:\n{}", seen.join("\n")),
        }
    }
    // Keep draining stderr so the rig never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// Security review item 1: the host is left as found. `local up` stopped by SIGTERM removes its
/// cgroups and sandbox run dir; one killed by SIGKILL leaves them, and the next emulator start
/// removes them; cgroup v2's root subtree_control is as before.
#[tokio::test]
async fn local_up_leaves_the_host_as_found() {
    let root_v1 = Path::new("/sys/fs/cgroup/cpu/cgroup.procs");
    let root_v2 = Path::new("/sys/fs/cgroup/cgroup.subtree_control");
    let writable = std::fs::OpenOptions::new()
        .write(true)
        .open(root_v1)
        .is_ok()
        || std::fs::OpenOptions::new()
            .write(true)
            .open(root_v2)
            .is_ok();
    if !writable {
        assert!(
            std::env::var("TEMPORAL_LAMBDA_REQUIRE_CGROUPS").as_deref() != Ok("1"),
            "TEMPORAL_LAMBDA_REQUIRE_CGROUPS=1 but the cgroups are not writable"
        );
        eprintln!("skipped: needs writable cgroups (root)");
        return;
    }
    let subtree_before = std::fs::read_to_string(root_v2).ok();
    let dir = TempDir::new("local-up-cleanup");

    let up = local_up(&dir.0);
    let pid = up.id();
    assert!(
        !leftovers_of(pid).is_empty(),
        "a running rig has its cgroups"
    );
    let term = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = wait_child(up);
    assert!(status.success(), "{status:?}");
    assert_eq!(
        leftovers_of(pid),
        Vec::<std::path::PathBuf>::new(),
        "left behind after SIGTERM"
    );
    assert_eq!(std::fs::read_to_string(root_v2).ok(), subtree_before);

    let mut up = local_up(&dir.0);
    let pid = up.id();
    up.kill().unwrap();
    up.wait().unwrap();
    assert!(!leftovers_of(pid).is_empty(), "SIGKILL cannot clean up");
    // The next start (any emulator with fidelity on, as root) removes the killed run's.
    let mut cfg = temporal_lambda_emulator::EmulatorConfig::new(dir.0.join("next"));
    cfg.fidelity = temporal_lambda_emulator::Fidelity::LAMBDA;
    let next = temporal_lambda_emulator::Emulator::start(cfg)
        .await
        .unwrap();
    assert_eq!(
        leftovers_of(pid),
        Vec::<std::path::PathBuf>::new(),
        "not removed by the next start"
    );
    next.shutdown().await;
    assert_eq!(std::fs::read_to_string(root_v2).ok(), subtree_before);
}

/// Waits for `c` to exit (at most 60 s).
fn wait_child(mut c: std::process::Child) -> std::process::ExitStatus {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(c.wait().unwrap()));
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("local up did not stop within 60 s of SIGTERM")
}
