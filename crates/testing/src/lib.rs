//! Test harness for Temporal Serverless Workers on AWS Lambda: [`LocalRig`] runs a worker
//! crate's own `bootstrap` on the real Temporal dev server and the local Lambda + STS emulator,
//! deployed and registered as the server's current Worker Deployment Version, so workflows you
//! start complete because the server invoked the function — as on AWS.
//!
//! Everything the rig starts (dev server process, emulator, sandbox processes, state directory)
//! stops when the [`LocalRig`] is dropped, also when the test panics.
//!
//! The rig's emulator retries failed asynchronous invocations after 100 ms and 200 ms: Lambda's
//! schedule (about 1 minute, then 2) compressed so tests stay fast.
//!
//! ```no_run
//! # async fn t() -> Result<(), temporal_lambda_testing::Error> {
//! use temporal_lambda_testing::LocalRig;
//! // In an integration test of the worker crate: cargo builds its `bootstrap` bin first.
//! let rig = LocalRig::builder(env!("CARGO_MANIFEST_DIR")) // any path to a bootstrap executable
//!     .function_timeout(std::time::Duration::from_secs(30))
//!     .env("MY_SETTING", "1")
//!     .start()
//!     .await?;
//! let out = rig.execute_workflow("GreetingWorkflow", serde_json::json!("Lambda")).await?;
//! println!("{out} after {} invocation(s)", rig.invocations().len());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use temporal_dev_server::DevServer;
pub use temporal_lambda_emulator::{EmulatorHandle, InvocationRecord, Outcome};
use temporal_lambda_rig::{self as local, Rig, RigOptions};
use temporal_lambda_temporal::verify::{self, VerifyOptions};

/// What went wrong, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rig did not come up (the step and its fix are in the message).
    #[error("local rig: {0}")]
    Rig(String),
    /// A workflow failed, timed out or could not be started.
    #[error("workflow {workflow_type}: {message}")]
    Workflow {
        /// Workflow type.
        workflow_type: String,
        /// Why.
        message: String,
    },
    /// Creating the state directory failed.
    #[error("creating the rig's state directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Settings of a [`LocalRig`]; [`LocalRigBuilder::start`] brings it up.
#[derive(Debug, Clone)]
pub struct LocalRigBuilder {
    bootstrap: PathBuf,
    function_name: String,
    function_timeout: Duration,
    concurrency: u32,
    env: Vec<(String, String)>,
    idle_sandbox_ttl: Option<Duration>,
    tls: bool,
    fidelity: Option<temporal_lambda_emulator::Fidelity>,
    memory_mb: Option<u32>,
}

impl LocalRigBuilder {
    /// Lambda function name (default `worker`).
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        self
    }
    /// Function timeout: each invocation's deadline (default 30 s).
    pub fn function_timeout(mut self, t: Duration) -> Self {
        self.function_timeout = t;
        self
    }
    /// Concurrency limit of the function (default 3).
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = n;
        self
    }
    /// An environment variable of the function.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// How long an idle sandbox stays warm (default: the emulator's 10 min).
    pub fn idle_sandbox_ttl(mut self, t: Duration) -> Self {
        self.idle_sandbox_ttl = Some(t);
        self
    }

    /// Reach the dev server only through a TLS front requiring an API key (nginx with a CA
    /// generated for the rig), as Temporal Cloud is reached (default off).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Lambda fidelity of the sandboxes (default: `TEMPORAL_LAMBDA_FIDELITY`, else CPU share,
    /// memory limit and freezing on, where the host's cgroups allow).
    pub fn fidelity(mut self, f: temporal_lambda_emulator::Fidelity) -> Self {
        self.fidelity = Some(f);
        self
    }

    /// The function's memory size in MB (default 256; with fidelity on, the CPU share follows).
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.memory_mb = Some(mb);
        self
    }

    /// Starts the dev server and the emulator on free ports, deploys the bootstrap, asks it
    /// for its deployment version, registers that as current with an aws-lambda compute config.
    pub async fn start(self) -> Result<LocalRig, Error> {
        let state = StateDir::create()?;
        let base = RigOptions::for_crate(local::tool_root(), &state.0, self.function_name);
        let opts = RigOptions {
            fidelity: self.fidelity.unwrap_or(base.fidelity),
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            function_timeout: self.function_timeout,
            concurrency: self.concurrency,
            env: self.env,
            idle_sandbox_ttl: self.idle_sandbox_ttl,
            tls: self.tls,
            ..base
        };
        let rig = local::start_rig(&opts, &self.bootstrap, &|_| {})
            .await
            .map_err(|e| Error::Rig(e.to_string()))?;
        Ok(LocalRig { rig, _state: state })
    }
}

/// A running local serverless rig for one function. Dropping it stops everything.
pub struct LocalRig {
    rig: Rig,
    _state: StateDir,
}

/// The rig's state directory: owner-only, new (never an existing path or link), removed when
/// the rig is dropped. Not `tempfile`: in a user's crate it would turn on `rustix` features that
/// the worker's own build does not use, and `cargo test` would then compile the Temporal SDK a
/// second time (cargo unifies features per build).
struct StateDir(PathBuf);

impl StateDir {
    fn create() -> std::io::Result<StateDir> {
        use std::os::unix::fs::DirBuilderExt as _;
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir();
        loop {
            let dir = base.join(format!(
                "temporal-lambda-rig-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            // `create`, not `create_dir_all`: fails on anything already there (a leftover of
            // an earlier process with this PID, or a planted link), and we take the next name.
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(StateDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::fmt::Debug for LocalRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRig")
            .field("temporal_address", &self.rig.server.address())
            .field("emulator", &self.rig.emulator.endpoint())
            .field("function_arn", &self.rig.function().function_arn)
            .finish()
    }
}

impl LocalRig {
    /// Settings for a rig running `bootstrap` (in an integration test of the worker crate:
    /// `env!("CARGO_BIN_EXE_bootstrap")`).
    pub fn builder(bootstrap: impl Into<PathBuf>) -> LocalRigBuilder {
        LocalRigBuilder {
            bootstrap: bootstrap.into(),
            function_name: "worker".into(),
            function_timeout: Duration::from_secs(30),
            concurrency: 3,
            env: Vec::new(),
            idle_sandbox_ttl: None,
            tls: false,
            fidelity: None,
            memory_mb: None,
        }
    }

    /// A rig with the default settings.
    pub async fn start(bootstrap: impl Into<PathBuf>) -> Result<LocalRig, Error> {
        Self::builder(bootstrap).start().await
    }

    /// Starts a workflow of `workflow_type` with one argument on the function's task queue
    /// (no worker runs: the server invokes the function) and waits up to 2 min for its result.
    pub async fn execute_workflow(
        &self,
        workflow_type: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        self.execute_workflow_with_timeout(workflow_type, vec![input], Duration::from_secs(120))
            .await
    }

    /// [`Self::execute_workflow`] with several arguments and a timeout.
    pub async fn execute_workflow_with_timeout(
        &self,
        workflow_type: &str,
        input: Vec<serde_json::Value>,
        timeout: Duration,
    ) -> Result<serde_json::Value, Error> {
        let wf = |message: String| Error::Workflow {
            workflow_type: workflow_type.to_string(),
            message,
        };
        let conn = self
            .rig
            .conn()
            .connect()
            .await
            .map_err(|e| wf(e.to_string()))?;
        let r = verify::verify(
            &conn,
            &VerifyOptions {
                namespace: "default".into(),
                task_queue: self.rig.function().task_queue.clone(),
                workflow_type: workflow_type.to_string(),
                workflow_id: None,
                input,
                timeout,
            },
        )
        .await
        .map_err(|e| wf(e.to_string()))?;
        Ok(r.result.unwrap_or(serde_json::Value::Null))
    }

    /// Every invocation attempt the emulator has seen, oldest first.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.rig.emulator.invocations()
    }

    /// The function's logs (every stream, oldest first), as CloudWatch would hold them.
    pub fn logs(&self) -> String {
        self.rig
            .emulator
            .logs(&self.rig.function().function_name)
            .unwrap_or_default()
    }

    /// `host:port` clients use (`TEMPORAL_ADDRESS`): the dev server's, or its TLS front's with
    /// [`LocalRigBuilder::tls`].
    pub fn temporal_address(&self) -> String {
        self.rig.temporal_address()
    }

    /// Emulator endpoint (`AWS_ENDPOINT_URL`).
    pub fn emulator_endpoint(&self) -> String {
        self.rig.emulator.endpoint()
    }

    /// Qualified ARN of the deployed function version.
    pub fn function_arn(&self) -> &str {
        &self.rig.function().function_arn
    }

    /// Task queue the function polls (as the code reports it).
    pub fn task_queue(&self) -> &str {
        &self.rig.function().task_queue
    }

    /// `deployment:build` the code reports and the rig registered.
    pub fn deployment_version(&self) -> String {
        format!(
            "{}:{}",
            self.rig.function().deployment_name,
            self.rig.function().build_id
        )
    }

    /// Process ids the rig started and still runs: the dev server and every sandbox.
    pub fn pids(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self.rig.server.pid().into_iter().collect();
        p.extend(self.rig.emulator.sandboxes().iter().filter_map(|s| s.pid));
        p
    }

    /// The emulator (Lambda + STS) the function runs on: its invocations, logs, sandboxes,
    /// faults, for what the methods above do not cover.
    pub fn emulator(&self) -> &EmulatorHandle {
        &self.rig.emulator
    }

    /// The Temporal dev server (`client()`, `address()`, `pid()`).
    pub fn server(&self) -> &DevServer {
        &self.rig.server
    }

    /// The deployed function's name.
    pub fn function_name(&self) -> &str {
        &self.rig.function().function_name
    }

    /// The environment other tools need to reach this rig, as `NAME=value` pairs
    /// (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `AWS_ENDPOINT_URL`, the emulator's credentials;
    /// with [`LocalRigBuilder::tls`] the CA path; never the API key).
    pub fn tool_env(&self) -> Vec<(String, String)> {
        self.rig.tool_env()
    }

    /// With [`LocalRigBuilder::tls`]: the CA certificate (PEM) the TLS front's certificate is
    /// issued by.
    pub fn tls_ca_cert_path(&self) -> Option<PathBuf> {
        self.rig
            .tls
            .as_ref()
            .map(|t| t.front.pki().ca_cert_path.clone())
    }

    /// With [`LocalRigBuilder::tls`]: the file (owner-only) holding the API key the front
    /// requires.
    pub fn api_key_file(&self) -> Option<&Path> {
        self.rig.tls.as_ref().map(|t| t.api_key_file.as_path())
    }
}
