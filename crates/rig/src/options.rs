//! The rig's settings: [`RigOptions`] for the rig and its first function, [`FunctionOptions`]
//! for each function deployed on it.

use std::{path::PathBuf, time::Duration};

use temporal_lambda_emulator::Fidelity;

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
    /// Task queue the worker polls (`TEMPORAL_TASK_QUEUE` of the function; empty: the code's).
    pub task_queue: String,
    /// Worker Deployment name overriding the code's (`TEMPORAL_DEPLOYMENT_NAME` of the
    /// function; empty: the code's).
    pub deployment_name: String,
    /// Build ID overriding the code's (`TEMPORAL_BUILD_ID` of the function; empty: the code's).
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
    /// Run the functions on Lambda Managed Instances (many invocations at once per execution
    /// environment) instead of on-demand Lambda; `None`: on-demand.
    pub managed_instances: Option<ManagedInstances>,
    /// The functions' `Architectures` (their `bootstrap` must be built for it; arm64 runs under
    /// qemu on an x86_64 host, see [`temporal_lambda_emulator::EmulatorConfig::qemu_aarch64`]).
    pub arch: temporal_lambda_env::arch::Arch,
}

/// The rig's Lambda Managed Instances settings: a capacity provider of `environments` execution
/// environments per published version, each serving up to `max_concurrency` invocations at once
/// (`PerExecutionEnvironmentMaxConcurrency`), with at least the 2 GB LMI needs
/// ([`temporal_lambda_emulator::MANAGED_INSTANCES_MIN_MEMORY_MB`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedInstances {
    /// `PerExecutionEnvironmentMaxConcurrency`.
    pub max_concurrency: u32,
    /// Execution environments per published version (the capacity provider's instances).
    pub environments: u32,
}

impl ManagedInstances {
    /// The capacity provider the rig's functions name (the emulator does not require it to
    /// exist).
    pub const CAPACITY_PROVIDER_ARN: &'static str =
        "arn:aws:lambda:us-east-1:123456789012:capacity-provider:temporal-lambda-rig";

    /// An environment's memory for `requested` MB: at least LMI's minimum
    /// ([`temporal_lambda_emulator::MANAGED_INSTANCES_MIN_MEMORY_MB`]).
    pub fn memory_mb(requested: u32) -> u32 {
        requested.max(temporal_lambda_emulator::MANAGED_INSTANCES_MIN_MEMORY_MB)
    }

    /// An environment's vCPUs for `requested` MB (memory / LMI's default 2 GiB per vCPU).
    pub fn vcpus(requested: u32) -> u32 {
        temporal_lambda_emulator::managed_instances_vcpus(
            Self::memory_mb(requested),
            temporal_lambda_emulator::MANAGED_INSTANCES_DEFAULT_GIB_PER_VCPU,
        )
    }
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
pub(crate) fn default_fidelity() -> Fidelity {
    match std::env::var("TEMPORAL_LAMBDA_FIDELITY") {
        Ok(v) => v.parse().unwrap_or_else(|e| {
            tracing::warn!("TEMPORAL_LAMBDA_FIDELITY={v}: {e}; using `{RIG_DEFAULT_FIDELITY}`");
            RIG_DEFAULT_FIDELITY
        }),
        Err(_) => RIG_DEFAULT_FIDELITY,
    }
}

impl RigOptions {
    /// The first function's settings: `env`, then `deployment_name` / `build_id` (when set) as
    /// `TEMPORAL_DEPLOYMENT_NAME` / `TEMPORAL_BUILD_ID`, which override the code's.
    pub(crate) fn function_options(&self) -> FunctionOptions {
        let mut env = self.env.clone();
        for (key, value) in [
            (
                temporal_lambda_env::connection::DEPLOYMENT_NAME,
                &self.deployment_name,
            ),
            (temporal_lambda_env::connection::BUILD_ID, &self.build_id),
        ] {
            if !value.is_empty() {
                env.push((key.into(), value.clone()));
            }
        }
        FunctionOptions {
            function_name: self.function_name.clone(),
            task_queue: Some(self.task_queue.clone()).filter(|t| !t.is_empty()),
            env,
            timeout: self.function_timeout,
            concurrency: self.concurrency,
        }
    }

    /// Settings for a worker crate's `bootstrap` deployed as `function_name`: the task queue,
    /// deployment name and build ID are the code's own (from its describe answer); 30 s
    /// timeout, concurrency 3, 256 MB, any free ports. `tool_root` holds (or receives)
    /// `.venv/bin/temporal`.
    pub fn for_crate(
        tool_root: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
        function_name: impl Into<String>,
    ) -> Self {
        Self {
            repo_root: tool_root.into(),
            state_dir: state_dir.into(),
            emulator_port: 0,
            temporal_port: None,
            function_name: function_name.into(),
            task_queue: String::new(),
            deployment_name: String::new(),
            build_id: String::new(),
            function_timeout: Duration::from_secs(30),
            concurrency: 3,
            idle_sandbox_ttl: None,
            env: Vec::new(),
            temporal_db_file: None,
            iam_endpoint: None,
            ui: false,
            tls: false,
            fidelity: default_fidelity(),
            memory_mb: 256,
            dynamic_config: Vec::new(),
            managed_instances: None,
            arch: temporal_lambda_env::arch::Arch::X86_64,
        }
    }
}

/// A function to deploy on a running rig with [`Rig::deploy`](crate::Rig::deploy).
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
