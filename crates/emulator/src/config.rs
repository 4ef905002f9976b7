//! [`EmulatorConfig`]: how to start an emulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Delays before the retries of a failed asynchronous (`Event`) invocation; the number of
    /// entries is the number of retries (real Lambda: 2 retries, i.e. 3 attempts).
    pub async_retry_delays: Vec<Duration>,
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
}

impl EmulatorConfig {
    /// Defaults: `127.0.0.1:0`, `us-east-1`, account `123456789012`, concurrency 10,
    /// retry delays 100 ms then 200 ms, idle TTL 10 min, init timeout 10 s, fidelity off,
    /// shutdown grace 500 ms.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
            default_concurrency: 10,
            async_retry_delays: vec![Duration::from_millis(100), Duration::from_millis(200)],
            idle_sandbox_ttl: Duration::from_secs(600),
            init_timeout: Duration::from_secs(10),
            roles: Vec::new(),
            iam_endpoint: None,
            fidelity: Fidelity::OFF,
            shutdown_grace: Duration::from_millis(500),
        }
    }

    /// Sets the bind address (builder style).
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }
}
