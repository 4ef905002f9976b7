//! What a new user does, outside this workspace: `temporal-lambda new` in a temp dir (toolkit
//! crates from this checkout), `local demo --manifest-path` on it — the generated workflow
//! completes because the server invoked the function — then `cargo test` in the generated
//! project (its harness test), then `local watch`: an edited activity reaches the next workflow,
//! a broken build keeps the previous code serving. Plus the bad inputs: a non-empty target, a crate without a
//! `bootstrap` bin, a crate that does not use temporal-lambda-worker.
//!
//! The generated crate shares this workspace's compiled dependencies (`CARGO_BUILD_BUILD_DIR`)
//! but has its own target dir, so its `bootstrap` never replaces the sample's.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{repo_root, stderr, stdout, venv_bin, TempDir};

const EXE: &str = env!("CARGO_BIN_EXE_temporal-lambda");

pub(crate) fn workspace_build_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// A command as a user runs it in `project`: the workspace's compiled dependencies shared, the
/// pinned `temporal` on PATH.
fn user_cmd(program: &str, project: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(project)
        .env("CARGO_BUILD_BUILD_DIR", workspace_build_dir())
        .env("CARGO_TARGET_DIR", project.join("target"))
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

fn run(c: &mut Command) -> std::process::Output {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    o
}

#[test]
fn new_then_local_demo_then_cargo_test_outside_the_workspace() {
    let _compiling = support::COMPILING.blocking_lock();
    let dir = TempDir::new("new-user");
    let project = dir.0.join("my-worker");
    let t0 = Instant::now();
    let o = run(user_cmd(EXE, &dir.0).args([
        "new",
        project.to_str().unwrap(),
        "--toolkit-path",
        repo_root().to_str().unwrap(),
        "--task-queue",
        "my-worker-q",
    ]));
    assert!(
        stdout(&o).contains("temporal-lambda local demo"),
        "{}",
        stdout(&o)
    );
    for f in [
        "Cargo.toml",
        "src/main.rs",
        "src/lib.rs",
        "tests/local_rig.rs",
        "README.md",
        "temporal.toml.example",
    ] {
        assert!(project.join(f).is_file(), "{f} not generated");
    }
    // `new` never overwrites.
    let again = user_cmd(EXE, &dir.0)
        .args(["new", project.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));

    // local demo from the project's directory, as the README says (the crate in the current
    // directory), JSON report.
    let t1 = Instant::now();
    let o = run(user_cmd(EXE, &project).args(["local", "demo", "--workflows", "2", "-o", "json"]));
    let demo_secs = t1.elapsed().as_secs_f64();
    let report: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    let results = support::demo_results(&report);
    assert_eq!(
        results,
        ["\"Hello, Lambda #0!\"", "\"Hello, Lambda #1!\""],
        "{report:#}"
    );
    assert!(report["invocations"].as_u64().unwrap() >= 1, "{report:#}");
    assert_eq!(report["deadline_overruns"], 0);
    assert!(
        report["function_arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:my-worker:1"),
        "{report:#}"
    );
    // Its state went under the project's target dir, not this repository.
    assert!(project
        .join("target/temporal-lambda/rig/emulator/state.json")
        .is_file());
    // The rig's summary names what other tools need.
    let err = stderr(&o);
    assert!(err.contains("TEMPORAL_ADDRESS=127.0.0.1:"), "{err}");
    assert!(
        err.contains("--task-queue my-worker-q --type GreetingWorkflow"),
        "{err}"
    );

    // The generated project's own test passes — and its build reuses what `local demo` built:
    // the test harness turns on no feature of a crate below the worker (cargo unifies features
    // per build; one more feature on serde or chrono recompiles the whole Temporal SDK).
    let t2 = Instant::now();
    let built = run(user_cmd("cargo", &project).args([
        "test",
        "--no-run",
        "--message-format",
        "json-render-diagnostics",
    ]));
    let recompiled = recompiled_below_the_worker(&built.stdout);
    assert!(
        recompiled.is_empty(),
        "`cargo test` compiled again what `local demo` had built (a dev-dependency turns on \
         more features of them): {recompiled:?}"
    );
    run(user_cmd("cargo", &project).args(["test", "--quiet"]));
    let test_secs = t2.elapsed().as_secs_f64();

    // `local watch`: a change to the activity reaches the next workflow; a broken build keeps
    // the previous code serving; nothing fails or overruns its deadline.
    let t3 = Instant::now();
    let mut watch = Watch::start(user_cmd(EXE, &project).args(["-o", "json", "local", "watch"]));
    let ready = watch.next("ready", Duration::from_secs(600));
    let address = ready["env"]["TEMPORAL_ADDRESS"]
        .as_str()
        .unwrap()
        .to_string();
    let greet = |name: &str| -> String {
        let o = run(user_cmd(EXE, &project).args([
            "-o",
            "json",
            "verify",
            "--address",
            &address,
            "--task-queue",
            "my-worker-q",
            "--workflow-type",
            "GreetingWorkflow",
            "--input",
            &format!("\"{name}\""),
            "--timeout",
            "90s",
        ]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["result"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(greet("watch"), "Hello, watch!");
    let lib = project.join("src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    assert!(code.contains("Hello, {name}!"), "{code}");
    std::fs::write(&lib, code.replace("Hello, {name}!", "Howdy, {name}!")).unwrap();
    let deployed = watch.next("deployed", Duration::from_secs(600));
    assert_eq!(deployed["lambda_version"], "2", "{deployed}");
    assert_eq!(deployed["version"], "my-worker:build-1", "{deployed}");
    assert_eq!(greet("watch"), "Howdy, watch!");
    let rebuild_secs = t3.elapsed().as_secs_f64();
    // A build that fails: cargo's errors on stderr, the previous code keeps serving.
    std::fs::write(
        &lib,
        format!(
            "{}\nfn broken( {{\n",
            code.replace("Hello, {name}!", "Howdy, {name}!")
        ),
    )
    .unwrap();
    watch.next("build_failed", Duration::from_secs(300));
    assert_eq!(greet("again"), "Howdy, again!");
    let stopped = watch.stop();
    assert_eq!(stopped["failed"], 0, "{stopped}");
    assert_eq!(stopped["past_deadline"], 0, "{stopped}");
    for v in ["1", "2"] {
        assert!(
            stopped["by_version"][v].as_u64().unwrap_or(0) >= 1,
            "no invocation of Lambda version {v}: {stopped}"
        );
    }
    assert!(
        watch.stderr().contains("error"),
        "cargo's errors were not shown:\n{}",
        watch.stderr()
    );
    eprintln!(
        "new → first demo workflow: {demo_secs:.1} s (build included); cargo test: {test_secs:.1} s; watch up + one redeploy: {rebuild_secs:.1} s; total {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// The crates below the worker library (its registry dependencies that the Temporal SDK and
/// serde build on) that a `cargo build --message-format json` output says were compiled, not
/// fresh.
fn recompiled_below_the_worker(cargo_json: &[u8]) -> Vec<String> {
    const BELOW: &[&str] = &[
        "serde_core",
        "serde",
        "serde_json",
        "chrono",
        "uuid",
        "rustix",
        "tokio",
        "prost",
        "tonic",
        "temporalio-protos",
        "temporalio-common",
        "temporalio-client",
        "temporalio-sdk-core",
        "temporalio-sdk",
    ];
    String::from_utf8_lossy(cargo_json)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["fresh"] == false)
        .filter_map(|m| {
            let id = m["package_id"].as_str()?.to_string();
            // `registry+…#name@version`: the name between '#' and '@'.
            let name = id.rsplit('#').next()?.split('@').next()?.to_string();
            BELOW.contains(&name.as_str()).then_some(id)
        })
        .collect()
}

/// A running `local watch -o json`: its JSON events, its stderr; stopped with SIGINT.
struct Watch {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<serde_json::Value>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Watch {
    fn start(cmd: &mut Command) -> Watch {
        use std::io::BufRead as _;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, events) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Watch {
            child,
            events,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next event named `name`; a failure event or the process ending first fails the test.
    fn next(&mut self, name: &str, timeout: Duration) -> serde_json::Value {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let ev = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no `{name}` event ({e}); stderr:\n{}", self.stderr()));
            let kind = ev["event"].as_str().unwrap_or_default().to_string();
            if kind == name {
                return ev;
            }
            assert!(
                !kind.ends_with("_failed"),
                "{ev} while waiting for `{name}`; stderr:\n{}",
                self.stderr()
            );
        }
    }

    /// SIGINT, then the `stopped` event and a clean exit.
    fn stop(&mut self) -> serde_json::Value {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let stopped = self.next("stopped", Duration::from_secs(60));
        let status = self.child.wait().unwrap();
        assert!(status.success(), "watch exited {status}");
        stopped
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGINT lets it stop the dev server and the sandboxes; SIGKILL if it hangs.
            let _ = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status();
            for _ in 0..200 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `local demo` in `dir` must fail with exit code 1 and a message containing every `expected`.
fn demo_refuses(dir: &Path, expected: &[&str]) {
    let o = user_cmd(EXE, dir).args(["local", "demo"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    for e in expected {
        assert!(stderr(&o).contains(e), "expected {e:?} in:\n{}", stderr(&o));
    }
}

#[test]
fn crates_that_cannot_be_a_worker_get_one_clear_error() {
    let dir = TempDir::new("not-a-worker");
    let plain = dir.0.join("plain");
    std::fs::create_dir_all(plain.join("src")).unwrap();
    std::fs::write(plain.join("src/main.rs"), "fn main() {}\n").unwrap();
    let manifest = |bins: &str| {
        let head = "[package]\nname = \"plain\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
        std::fs::write(
            plain.join("Cargo.toml"),
            format!("{head}{bins}[workspace]\n"),
        )
        .unwrap();
    };
    // A plain binary crate: no `bootstrap` bin.
    manifest("");
    demo_refuses(&plain, &["has no `bootstrap` binary", "[[bin]]"]);
    // A `bootstrap` bin that does not use temporal-lambda-worker.
    manifest("[[bin]]\nname = \"bootstrap\"\npath = \"src/main.rs\"\n");
    demo_refuses(&plain, &["does not depend on temporal-lambda-worker"]);
    // No Cargo.toml at all.
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    demo_refuses(&empty, &["temporal-lambda new"]);
}
