//! Public data types: the AWS-shaped function configuration and the emulator's own records.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// `Environment` as Lambda returns it: `{"Variables": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    /// User environment variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// `TracingConfig` (always `PassThrough` here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    /// `PassThrough` or `Active`.
    pub mode: String,
}

/// `EphemeralStorage` (size in MB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    /// Size in MB (512 by default).
    pub size: u32,
}

/// `LoggingConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// `Text` or `JSON`.
    pub log_format: String,
    /// `/aws/lambda/<name>`.
    pub log_group: String,
}

/// A function version's configuration, with the exact field names of the Lambda API's `FunctionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    /// Plain function name.
    pub function_name: String,
    /// ARN; qualified (`…:function:name:3`) for published versions, unqualified for `$LATEST`.
    pub function_arn: String,
    /// Runtime identifier, e.g. `provided.al2023`.
    pub runtime: String,
    /// Execution role ARN.
    pub role: String,
    /// Handler (`_HANDLER`).
    pub handler: String,
    /// Size of the deployment package in bytes.
    pub code_size: u64,
    /// Description.
    pub description: String,
    /// Timeout in seconds.
    pub timeout: u32,
    /// Memory in MB.
    pub memory_size: u32,
    /// `2024-01-01T00:00:00.000+0000`.
    pub last_modified: String,
    /// base64(SHA-256) of the package.
    pub code_sha256: String,
    /// `$LATEST` or a version number.
    pub version: String,
    /// User environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentResponse>,
    /// Tracing mode.
    pub tracing_config: TracingConfig,
    /// Changes on every update.
    pub revision_id: String,
    /// Always `Active`.
    pub state: String,
    /// Always `Successful`.
    pub last_update_status: String,
    /// Always `Zip`.
    pub package_type: String,
    /// `["x86_64"]` or `["arm64"]`.
    pub architectures: Vec<String>,
    /// /tmp size.
    pub ephemeral_storage: EphemeralStorage,
    /// Log group and format.
    pub logging_config: LoggingConfig,
    /// Set for a function on Lambda Managed Instances (attached to a capacity provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_config: Option<CapacityProviderConfig>,
}

/// `CapacityProviderConfig`: attaches a function to a capacity provider (Lambda Managed Instances).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CapacityProviderConfig {
    /// The Lambda Managed Instances settings.
    pub lambda_managed_instances_capacity_provider_config:
        LambdaManagedInstancesCapacityProviderConfig,
}

/// `LambdaManagedInstancesCapacityProviderConfig`, as CreateFunction, UpdateFunctionConfiguration
/// and GetFunctionConfiguration carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LambdaManagedInstancesCapacityProviderConfig {
    /// `arn:aws:lambda:<region>:<account>:capacity-provider:<name>`.
    pub capacity_provider_arn: String,
    /// Invocations one execution environment runs at once (1-1600); `None`: Lambda's default
    /// (8 per vCPU, the Rust runtime's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_execution_environment_max_concurrency: Option<u32>,
    /// Memory (GiB) per vCPU of an execution environment (2.0-8.0); `None`: the default.
    #[serde(
        rename = "ExecutionEnvironmentMemoryGiBPerVCpu",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_environment_memory_gib_per_vcpu: Option<GibPerVcpu>,
}

impl LambdaManagedInstancesCapacityProviderConfig {
    /// Settings for capacity provider `arn` with Lambda's defaults.
    pub fn new(capacity_provider_arn: impl Into<String>) -> Self {
        Self {
            capacity_provider_arn: capacity_provider_arn.into(),
            per_execution_environment_max_concurrency: None,
            execution_environment_memory_gib_per_vcpu: None,
        }
    }
    /// Sets `PerExecutionEnvironmentMaxConcurrency`.
    pub fn max_concurrency(mut self, n: u32) -> Self {
        self.per_execution_environment_max_concurrency = Some(n);
        self
    }
}

/// `ExecutionEnvironmentMemoryGiBPerVCpu` (a JSON number); compared by value bits so that the
/// configuration types stay `Eq`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GibPerVcpu(pub f64);

impl PartialEq for GibPerVcpu {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for GibPerVcpu {}

impl FunctionConfiguration {
    /// Timeout as a [`Duration`].
    pub fn timeout_duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout))
    }

    /// User environment variables (empty map if none).
    pub fn env_vars(&self) -> BTreeMap<String, String> {
        self.environment
            .as_ref()
            .map(|e| e.variables.clone())
            .unwrap_or_default()
    }

    /// The function's instruction set architecture (`Architectures`, default `x86_64`).
    pub fn arch(&self) -> temporal_lambda_env::arch::Arch {
        self.architectures
            .first()
            .and_then(|a| temporal_lambda_env::arch::Arch::parse(a))
            .unwrap_or(temporal_lambda_env::arch::Arch::X86_64)
    }

    /// The Lambda Managed Instances settings, if the function runs there.
    pub fn managed_instances(&self) -> Option<&LambdaManagedInstancesCapacityProviderConfig> {
        self.capacity_provider_config
            .as_ref()
            .map(|c| &c.lambda_managed_instances_capacity_provider_config)
    }
}

/// A function to create from a local path with [`crate::EmulatorHandle::create_function_from_path`].
///
/// ```
/// # use temporal_lambda_emulator::FunctionSpec;
/// # use std::time::Duration;
/// let spec = FunctionSpec::new("hello", "/path/to/bootstrap")
///     .timeout(Duration::from_secs(30))
///     .env("TEMPORAL_ADDRESS", "127.0.0.1:7233")
///     .concurrency(2);
/// ```
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Function name (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// A `bootstrap` executable (copied) or a directory containing one (used in place).
    pub code_path: PathBuf,
    /// Timeout (whole seconds, 1..=900 s). Default 3 s, as Lambda.
    pub timeout: Duration,
    /// Memory in MB (128..=10240). Default 128.
    pub memory_mb: u32,
    /// User environment variables.
    pub env: BTreeMap<String, String>,
    /// `ReservedConcurrentExecutions`; `None` = the emulator's default concurrency.
    pub concurrency: Option<u32>,
    /// Description.
    pub description: String,
    /// Runtime identifier. Default `provided.al2023`.
    pub runtime: String,
    /// Handler. Default `bootstrap`.
    pub handler: String,
    /// Execution role ARN. Default `arn:aws:iam::<account>:role/lambda-emulator-execution`.
    pub role: Option<String>,
    /// Extra files put next to a copied `bootstrap` (path relative to the code root, contents),
    /// as a zip would carry them: e.g. a CA certificate the function reads through
    /// `LAMBDA_TASK_ROOT`. Only with a `bootstrap` file as `code_path`, not a directory.
    pub files: Vec<(String, Vec<u8>)>,
    /// Runs the function on Lambda Managed Instances (`CapacityProviderConfig`); `None`: on demand.
    pub managed_instances: Option<LambdaManagedInstancesCapacityProviderConfig>,
    /// `Architectures`. Default `x86_64`; an `arm64` function runs under qemu on an x86_64 host
    /// ([`crate::EmulatorConfig::qemu_aarch64`]).
    pub arch: temporal_lambda_env::arch::Arch,
}

impl FunctionSpec {
    /// A spec with Lambda's defaults (3 s timeout, 128 MB, `provided.al2023`).
    pub fn new(name: impl Into<String>, code_path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            code_path: code_path.into(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            env: BTreeMap::new(),
            concurrency: None,
            description: String::new(),
            runtime: "provided.al2023".to_string(),
            handler: "bootstrap".to_string(),
            role: None,
            files: Vec::new(),
            managed_instances: None,
            arch: temporal_lambda_env::arch::Arch::X86_64,
        }
    }
    /// Sets `Architectures` (see [`FunctionSpec::arch`]).
    pub fn arch(mut self, arch: temporal_lambda_env::arch::Arch) -> Self {
        self.arch = arch;
        self
    }
    /// Runs the function on Lambda Managed Instances with these settings (memory at least
    /// 2048 MB; only published versions can then be invoked).
    pub fn managed_instances(
        mut self,
        config: LambdaManagedInstancesCapacityProviderConfig,
    ) -> Self {
        self.managed_instances = Some(config);
        self
    }
    /// Adds a file to the code (path relative to the code root; see [`FunctionSpec::files`]).
    pub fn file(mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.into(), contents.into()));
        self
    }
    /// Sets the timeout (rounded up to whole seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets the memory size in MB.
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.memory_mb = mb;
        self
    }
    /// Adds a user environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }
    /// Sets `ReservedConcurrentExecutions`.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = Some(n);
        self
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
}

/// How an invocation was requested (`X-Amz-Invocation-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvocationType {
    /// Synchronous: the caller waits for the result.
    RequestResponse,
    /// Asynchronous: queued, answered 202, retried on error.
    Event,
}

/// How an invocation attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The function posted a response.
    Success,
    /// The function posted an error, its process exited (`Runtime.ExitError`), init failed, ...
    Error {
        /// e.g. `Runtime.ExitError` or the function's own `errorType`.
        error_type: String,
        /// The error message.
        error_message: String,
    },
    /// Killed at its deadline (`Sandbox.Timedout`).
    Timeout,
}

impl Outcome {
    /// True for [`Outcome::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }
    /// The error type (`Sandbox.Timedout` for a timeout), `None` on success.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Outcome::Success => None,
            Outcome::Error { error_type, .. } => Some(error_type),
            Outcome::Timeout => Some("Sandbox.Timedout"),
        }
    }
}

/// One attempt of one invocation, as observed by the emulator. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationRecord {
    /// Request id (the same for all attempts of an async invocation, as in Lambda).
    pub request_id: String,
    /// Function name.
    pub function_name: String,
    /// Executed version (`$LATEST` or a number).
    pub version: String,
    /// `Event` or `RequestResponse`.
    pub invocation_type: InvocationType,
    /// 1 for the first attempt, 2 and 3 for async retries.
    pub attempt: u32,
    /// When the Invoke request (or the retry) was queued.
    pub received_at_ms: u64,
    /// When the runtime received it from `next`.
    pub started_at_ms: Option<u64>,
    /// The `Lambda-Runtime-Deadline-Ms` given to the runtime.
    pub deadline_ms: Option<u64>,
    /// When it ended.
    pub ended_at_ms: Option<u64>,
    /// `None` while queued or running.
    pub outcome: Option<Outcome>,
    /// Sandbox that ran it.
    pub sandbox_id: Option<String>,
    /// Process id of the sandbox's `bootstrap`.
    pub pid: Option<u32>,
    /// True if this attempt started a new sandbox.
    pub cold_start: Option<bool>,
    /// True if it ended before its deadline.
    pub ended_before_deadline: Option<bool>,
    /// True for an extra delivery of an asynchronous invocation (same request id) injected by
    /// [`crate::Faults::duplicate_event`], and for that delivery's retries.
    #[serde(default)]
    pub duplicate: bool,
    /// The Lambda limits its sandbox ran under ([`crate::Fidelity`]); `None` with fidelity off.
    #[serde(default)]
    pub limits: Option<SandboxLimits>,
    /// Lambda Managed Instances only: the most invocations its execution environment
    /// (`sandbox_id`) ran at once while this one ran, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_concurrency: Option<u32>,
}

/// The Lambda limits a sandbox enforced for one invocation (see [`crate::Fidelity`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxLimits {
    /// CPU share in thousandths of a vCPU (`MemorySize / 1769`), if the CPU was limited.
    pub cpu_millis: Option<u32>,
    /// Memory limit in MB (no swap), if memory was limited.
    pub memory_limit_mb: Option<u32>,
    /// How long the sandbox was frozen between its previous invocation and this one.
    pub frozen_ms: u64,
    /// How the sandbox is frozen between invocations: `cgroup`, `signal`, or `none`.
    pub freezer: String,
}

impl InvocationRecord {
    /// True once the attempt has an outcome.
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }
}

/// The result of a synchronous invoke through [`crate::EmulatorHandle::invoke`].
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    /// Request id.
    pub request_id: String,
    /// Executed version.
    pub executed_version: String,
    /// `Some("Unhandled")` when the function failed (the payload is then the error JSON).
    pub function_error: Option<String>,
    /// Response (or error) payload.
    pub payload: Bytes,
}

/// A live sandbox (execution environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxInfo {
    /// Sandbox id.
    pub id: String,
    /// Function name.
    pub function_name: String,
    /// Version it runs.
    pub version: String,
    /// Process id of `bootstrap`.
    pub pid: Option<u32>,
    /// True while running an invocation.
    pub busy: bool,
    /// Invocations it is running now (at most 1 on demand; up to
    /// `PerExecutionEnvironmentMaxConcurrency` on Lambda Managed Instances).
    #[serde(default)]
    pub in_flight: u32,
    /// Log stream name.
    pub log_stream: String,
}

/// One STS `AssumeRole` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssumeRoleCall {
    /// Requested role.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// `ExternalId`, if sent.
    pub external_id: Option<String>,
    /// Whether credentials were issued.
    pub granted: bool,
    /// When (epoch ms).
    pub at_ms: u64,
}

/// How many `AssumeRole` calls [`StsStats::calls`] keeps (the most recent ones).
pub const MAX_STS_CALLS: usize = 1000;

/// STS counters and call log. The counters count every call since the emulator started; the
/// call log keeps only the last [`MAX_STS_CALLS`] (1000) calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsStats {
    /// All `AssumeRole` calls.
    pub assume_role_calls: u64,
    /// Those that issued credentials.
    pub assume_role_granted: u64,
    /// Those refused with `AccessDenied`.
    pub assume_role_denied: u64,
    /// `GetCallerIdentity` calls.
    pub get_caller_identity_calls: u64,
    /// The last [`MAX_STS_CALLS`] (1000) `AssumeRole` calls, oldest first; older ones are
    /// dropped (the counters above stay exact).
    pub calls: Vec<AssumeRoleCall>,
}
