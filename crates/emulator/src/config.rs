//! [`EmulatorConfig`]: how to start an emulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::fidelity::Fidelity;

/// Configuration of an emulator instance. Build it with [`EmulatorConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address of the single HTTP endpoint (Lambda control plane + Invoke + STS + `/_emulator`).
    /// Port 0 picks a free port; read it back with [`crate::EmulatorHandle::endpoint`].
    pub bind: SocketAddr,
    /// Where functions, versions, roles, code and logs are persisted. Created if missing.
    pub data_dir: PathBuf,
    /// Region used in ARNs and given to functions as `AWS_REGION`.
    pub region: String,
    /// 12-digit account id used in ARNs.
    pub account_id: String,
    /// Concurrency limit of a function without `ReservedConcurrentExecutions`.
    pub default_concurrency: u32,
    /// Delays before the retries of a failed asynchronous (`Event`) invocation: entry `i` is
    /// the wait before retry `i + 1` (the last entry is reused for later retries; an empty list
    /// retries at once). How many retries run is the function's `MaximumRetryAttempts`
    /// (`PutFunctionEventInvokeConfig`, default 2). Default `[60 s, 120 s]`, Lambda's documented
    /// schedule (about 1 minute, then about 2 minutes); tests and the local rig compress it, e.g.
    /// with [`EmulatorConfig::with_compressed_async_retries`].
    pub async_retry_delays: Vec<Duration>,
    /// Length of one "second" of `MaximumEventAgeInSeconds` when the scheduler checks an event's
    /// age. Default 1 s (real time). The API keeps AWS's range (60..=21600) and returns the value
    /// as given; compressing this unit (e.g. 1 ms: the minimum of 60 s becomes an age limit of
    /// 60 ms, the default 6 hours 21.6 s) lets tests exercise the age limit together with
    /// compressed `async_retry_delays`.
    pub event_age_unit: Duration,
    /// An idle sandbox (warm process) is stopped after this long without work.
    pub idle_sandbox_ttl: Duration,
    /// Longest time a new sandbox may take from process start to its first `next` request.
    pub init_timeout: Duration,
    /// Roles known to STS from the start: `(role ARN, required external id)`.
    pub roles: Vec<(String, Option<String>)>,
    /// An IAM query-API endpoint (e.g. `moto` in server mode) consulted by `AssumeRole` for roles
    /// not registered here: the role must exist there, and if its trust policy requires
    /// `sts:ExternalId` (`StringEquals`), the caller must pass one of those values.
    pub iam_endpoint: Option<String>,
    /// Which Lambda behaviours each sandbox gets: CPU share by memory size, memory limit,
    /// freezing between invocations (see [`Fidelity`]). Default [`Fidelity::OFF`].
    pub fidelity: Fidelity,
    /// Shutdown phase: when a sandbox is reclaimed (idle TTL, code update, emulator stop) its
    /// runtime gets `SIGTERM`, then `SIGKILL` after this long if it has not exited. Default 500 ms
    /// (Lambda gives 500 ms with an internal extension, up to 2 s with external ones).
    pub shutdown_grace: Duration,
    /// The one long-term key pair whose SigV4 signatures the Lambda, STS and Logs APIs accept
    /// (besides the session credentials its STS issues). [`EmulatorConfig::new`] generates a
    /// fresh pair; give it to your AWS clients (and to the Temporal server) from
    /// [`crate::EmulatorHandle::credentials`].
    pub credentials: Credentials,
    /// Who sandboxes run as when the emulator runs as root: `(uid, gid)`. `None` (default):
    /// `SUDO_UID`/`SUDO_GID` when set, else `nobody` (65534/65534). Ignored when not root
    /// (sandboxes then run as the emulator's own user). Never root.
    pub sandbox_user: Option<(u32, u32)>,
    /// Lambda Managed Instances: how many execution environments each published version of an
    /// LMI function gets at most (the "instances"; started at its first invocations). Default 3,
    /// as many as Lambda starts for AZ resiliency.
    pub managed_instances_environments: u32,
    /// qemu user-mode emulation for arm64 functions on an x86_64 host (their `bootstrap` runs
    /// under it, with the same Runtime API, limits, freezing and records; timings are then
    /// emulated, not Graviton's). Default [`QemuUser::from_env`]; `None`: an arm64 function's
    /// invocations fail with an error saying what to install.
    pub qemu_aarch64: Option<QemuUser>,
}

/// A qemu user-mode emulator for aarch64 binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuUser {
    /// The emulator, e.g. `/usr/bin/qemu-aarch64-static`.
    pub program: PathBuf,
    /// Where the aarch64 dynamic loader and libraries are (qemu's `-L`; a root with
    /// `/lib/ld-linux-aarch64.so.1` and glibc). `None`: qemu's own default.
    pub sysroot: Option<PathBuf>,
}

/// Environment variable naming the qemu aarch64 user-mode emulator the emulator runs arm64
/// functions under (default: `qemu-aarch64-static`, then `qemu-aarch64`, on `PATH`).
pub const QEMU_AARCH64_ENV: &str = "TEMPORAL_LAMBDA_QEMU_AARCH64";

/// qemu's own environment variable for the aarch64 library root (its `-L`), read for
/// [`QemuUser::sysroot`].
pub const QEMU_SYSROOT_ENV: &str = "QEMU_LD_PREFIX";

impl QemuUser {
    /// From [`QEMU_AARCH64_ENV`] (else `qemu-aarch64-static` or `qemu-aarch64` on `PATH`) and
    /// [`QEMU_SYSROOT_ENV`]; `None` if no emulator is found.
    pub fn from_env() -> Option<QemuUser> {
        let program = std::env::var_os(QEMU_AARCH64_ENV)
            .map(PathBuf::from)
            .or_else(|| {
                let path = std::env::var_os("PATH")?;
                ["qemu-aarch64-static", "qemu-aarch64"]
                    .iter()
                    .find_map(|name| {
                        std::env::split_paths(&path)
                            .map(|d| d.join(name))
                            .find(|p| p.is_file())
                    })
            })?;
        let sysroot = std::env::var_os(QEMU_SYSROOT_ENV)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        Some(QemuUser { program, sysroot })
    }
}

impl EmulatorConfig {
    /// Defaults: `127.0.0.1:0`, `us-east-1`, account `123456789012`, concurrency 10,
    /// async retry delays 60 s then 120 s (as Lambda), event-age unit 1 s, idle TTL 10 min,
    /// init timeout 10 s, 3 Lambda Managed Instances environments per version, fidelity off,
    /// shutdown grace 500 ms, freshly generated credentials, qemu from the environment.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
            default_concurrency: 10,
            async_retry_delays: DEFAULT_ASYNC_RETRY_DELAYS.to_vec(),
            event_age_unit: Duration::from_secs(1),
            idle_sandbox_ttl: Duration::from_secs(600),
            init_timeout: Duration::from_secs(10),
            roles: Vec::new(),
            iam_endpoint: None,
            fidelity: Fidelity::OFF,
            shutdown_grace: Duration::from_millis(500),
            credentials: Credentials::generate(),
            sandbox_user: None,
            managed_instances_environments: 3,
            qemu_aarch64: QemuUser::from_env(),
        }
    }

    /// Compresses the async retry schedule for tests and local rigs (builder style):
    /// [`COMPRESSED_ASYNC_RETRY_DELAYS`] (100 ms, 200 ms instead of about 1 min, 2 min).
    /// [`event_age_unit`](Self::event_age_unit) stays real time, so with the default
    /// `MaximumEventAgeInSeconds` (6 hours) events do not expire in a test run.
    pub fn with_compressed_async_retries(mut self) -> Self {
        self.async_retry_delays = COMPRESSED_ASYNC_RETRY_DELAYS.to_vec();
        self
    }

    /// Sets the credentials the emulator accepts (builder style).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Sets the bind address (builder style).
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }
}

/// Lambda's documented delays before the retries of a failed asynchronous invocation: about
/// 1 minute, then about 2 minutes. The default of [`EmulatorConfig::async_retry_delays`].
pub const DEFAULT_ASYNC_RETRY_DELAYS: [Duration; 2] =
    [Duration::from_secs(60), Duration::from_secs(120)];

/// The compressed retry schedule of [`EmulatorConfig::with_compressed_async_retries`]:
/// 100 ms, then 200 ms (Lambda's 1 min / 2 min, 600 times faster).
pub const COMPRESSED_ASYNC_RETRY_DELAYS: [Duration; 2] =
    [Duration::from_millis(100), Duration::from_millis(200)];
