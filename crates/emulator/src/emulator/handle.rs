//! [`EmulatorHandle`]: the library API of a running emulator (functions, invocations, sandboxes,
//! faults, logs, shutdown).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::code;
use crate::config::EmulatorConfig;
use crate::error::EmulatorError;
use crate::model::{
    FunctionConfiguration, FunctionSpec, InvocationRecord, InvocationType, InvokeOutput,
    SandboxInfo, StsStats,
};
use crate::scheduler;
use crate::state::Inner;
use crate::store::NewFunction;

/// A running emulator. Dropping it kills all sandboxes and stops the server (prefer
/// [`EmulatorHandle::shutdown`], which also waits for them).
pub struct EmulatorHandle {
    pub(super) inner: Arc<Inner>,
    pub(super) addr: SocketAddr,
    pub(super) server: Option<JoinHandle<()>>,
    pub(super) stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("endpoint", &self.inner.endpoint)
            .finish()
    }
}

impl EmulatorHandle {
    /// Base URL, e.g. `http://127.0.0.1:9001`: use it as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        self.inner.endpoint.clone()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The long-term credentials the emulator accepts (configured, or generated for this run):
    /// sign AWS requests with them, and give them to the Temporal server.
    pub fn credentials(&self) -> &crate::Credentials {
        &self.inner.config.credentials
    }

    /// The bearer token the `/_emulator` HTTP API requires (`Authorization: Bearer <token>`);
    /// also in `<data dir>/api-token` (0600).
    pub fn api_token(&self) -> &str {
        self.inner.api_token.value()
    }

    /// The configuration the emulator runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }

    /// Unqualified ARN of a function name: `arn:aws:lambda:<region>:<account>:function:<name>`.
    pub fn function_arn(&self, name: &str) -> String {
        self.inner.function_arn(name)
    }

    /// Registers (or replaces) a role STS may assume; `external_id` is then required and must match.
    /// Persisted.
    pub fn register_role(
        &self,
        role_arn: &str,
        external_id: Option<&str>,
    ) -> Result<(), EmulatorError> {
        self.inner
            .store
            .lock()
            .expect("store lock")
            .register_role(role_arn, external_id)
    }

    /// Creates a function from a local `bootstrap` executable (copied) or a directory containing
    /// one (used in place). Returns its `$LATEST` configuration.
    pub async fn create_function_from_path(
        &self,
        spec: FunctionSpec,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        let data_dir = self.inner.config.data_dir.clone();
        let (name, path, files) = (
            spec.name.clone(),
            spec.code_path.clone(),
            spec.files.clone(),
        );
        let prepared =
            tokio::task::spawn_blocking(move || code::from_path(&data_dir, &name, &path, &files))
                .await
                .map_err(|e| {
                    EmulatorError::InvalidParameter(format!("code preparation panicked: {e}"))
                })??;
        self.create_prepared(spec, prepared)
    }

    /// Creates a function from zip bytes (which must contain `bootstrap` at the root).
    pub async fn create_function_from_zip(
        &self,
        spec: FunctionSpec,
        zip: Vec<u8>,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        let data_dir = self.inner.config.data_dir.clone();
        let name = spec.name.clone();
        let prepared = tokio::task::spawn_blocking(move || code::from_zip(&data_dir, &name, &zip))
            .await
            .map_err(|e| {
                EmulatorError::InvalidParameter(format!("code preparation panicked: {e}"))
            })??;
        self.create_prepared(spec, prepared)
    }

    fn create_prepared(
        &self,
        spec: FunctionSpec,
        prepared: code::PreparedCode,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        let timeout = u32::try_from(spec.timeout.as_millis().div_ceil(1000)).unwrap_or(u32::MAX);
        let nf = NewFunction {
            name: spec.name.clone(),
            runtime: Some(spec.runtime),
            role: spec.role,
            handler: Some(spec.handler),
            description: Some(spec.description),
            timeout: Some(timeout),
            memory_size: Some(spec.memory_mb),
            env: Some(spec.env),
            architectures: Some(vec![spec.arch.lambda_name().to_string()]),
            capacity_provider: spec.managed_instances,
        };
        crate::service::create_function(&self.inner, nf, prepared, false, spec.concurrency)
    }

    /// Replaces `$LATEST`'s code with a local path (see [`Self::create_function_from_path`]).
    pub async fn update_function_code_from_path(
        &self,
        name: &str,
        path: impl Into<std::path::PathBuf>,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        let data_dir = self.inner.config.data_dir.clone();
        let (n, p) = (name.to_string(), path.into());
        let prepared = tokio::task::spawn_blocking(move || code::from_path(&data_dir, &n, &p, &[]))
            .await
            .map_err(|e| {
                EmulatorError::InvalidParameter(format!("code preparation panicked: {e}"))
            })??;
        crate::service::update_code(&self.inner, name, prepared, false)
    }

    /// Sets (adds or replaces) environment variables of `$LATEST`, as
    /// `UpdateFunctionConfiguration` with the merged `Environment` would; the next publish
    /// snapshots them.
    pub fn set_function_env(
        &self,
        name: &str,
        vars: &[(String, String)],
    ) -> Result<FunctionConfiguration, EmulatorError> {
        crate::service::merge_environment(&self.inner, name, vars)
    }

    /// Publishes `$LATEST` as a new immutable version (or returns the last version if nothing changed).
    pub fn publish_version(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<FunctionConfiguration, EmulatorError> {
        crate::service::publish_version(&self.inner, name, description.map(str::to_string), None)
    }

    /// Configuration of a function given by name, `name:qualifier` or (qualified) ARN.
    pub fn get_function(&self, name_or_arn: &str) -> Result<FunctionConfiguration, EmulatorError> {
        let r = crate::service::resolve(&self.inner, name_or_arn, None)?;
        Ok(self
            .inner
            .store
            .lock()
            .expect("store lock")
            .resolve(&r)?
            .config
            .clone())
    }

    /// Sets (`Some`) or removes (`None`) `ReservedConcurrentExecutions`.
    pub fn set_concurrency(&self, name: &str, limit: Option<u32>) -> Result<(), EmulatorError> {
        crate::service::set_concurrency(&self.inner, name, limit)
    }

    /// Deletes a function with all its versions; its sandboxes stop once idle.
    pub fn delete_function(&self, name: &str) -> Result<(), EmulatorError> {
        let r = crate::service::resolve(&self.inner, name, None)?;
        crate::service::delete(&self.inner, &r)
    }

    /// Invokes synchronously (`RequestResponse`) and waits for the result. Goes through the
    /// same checks as the Invoke API: the fault settings, the 6 MB payload limit, JSON.
    pub async fn invoke(
        &self,
        name_or_arn: &str,
        payload: &[u8],
    ) -> Result<InvokeOutput, EmulatorError> {
        let sub = self.submit(name_or_arn, InvocationType::RequestResponse, payload)?;
        let rx = sub.reply.expect("sync invocation has a reply channel");
        let res = rx.await.map_err(|_| EmulatorError::ShutDown)?;
        Ok(InvokeOutput {
            request_id: sub.request_id,
            executed_version: sub.executed_version,
            function_error: res.function_error,
            payload: res.payload,
        })
    }

    /// Invokes asynchronously (`Event`); returns the request id at once. Same checks as the
    /// Invoke API (fault settings, 1 MB payload limit, JSON).
    pub fn invoke_async(&self, name_or_arn: &str, payload: &[u8]) -> Result<String, EmulatorError> {
        Ok(self
            .submit(name_or_arn, InvocationType::Event, payload)?
            .request_id)
    }

    fn submit(
        &self,
        name_or_arn: &str,
        kind: InvocationType,
        payload: &[u8],
    ) -> Result<scheduler::Submitted, EmulatorError> {
        let (fref, _) = self.resolve_ref(name_or_arn)?;
        match crate::service::invoke(&self.inner, fref, Some(kind), payload)? {
            crate::service::Accepted::Queued(sub) => Ok(sub),
            crate::service::Accepted::DryRun { .. } => {
                unreachable!("only a DryRun is answered without queueing")
            }
        }
    }

    fn resolve_ref(
        &self,
        name_or_arn: &str,
    ) -> Result<(crate::arn::FunctionRef, String), EmulatorError> {
        let r = crate::service::resolve(&self.inner, name_or_arn, None)?;
        let arn = crate::service::invoked_arn(&self.inner, &r);
        Ok((r, arn))
    }

    /// The Lambda fidelity actually enforced: the configured [`crate::Fidelity`] minus what the
    /// host's cgroups do not allow (freezing falls back to signals).
    pub fn fidelity(&self) -> crate::Fidelity {
        self.inner.cgroups.effective
    }

    /// All invocation attempts so far, oldest first.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.inner.records.snapshot()
    }

    /// Waits, event-driven, until `predicate(records)` is true; returns the records then.
    /// Fails with [`EmulatorError::WaitTimeout`] after `timeout`.
    pub async fn wait_for_invocations<F>(
        &self,
        timeout: Duration,
        predicate: F,
    ) -> Result<Vec<InvocationRecord>, EmulatorError>
    where
        F: FnMut(&[InvocationRecord]) -> bool,
    {
        self.inner.records.wait(timeout, predicate).await
    }

    /// Live sandboxes.
    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        scheduler::sandboxes(&self.inner)
    }

    /// Waits, event-driven (sandbox start/stop and invocation changes), until
    /// `predicate(sandboxes)` is true. Fails with [`EmulatorError::WaitTimeout`] after `timeout`.
    pub async fn wait_for_sandboxes<F>(
        &self,
        timeout: Duration,
        mut predicate: F,
    ) -> Result<Vec<SandboxInfo>, EmulatorError>
    where
        F: FnMut(&[SandboxInfo]) -> bool,
    {
        self.inner
            .records
            .wait_until(timeout, || {
                let s = scheduler::sandboxes(&self.inner);
                predicate(&s).then_some(s)
            })
            .await
    }

    /// The highest number of simultaneously busy sandboxes a function has had.
    pub fn peak_concurrency(&self, function: &str) -> usize {
        scheduler::peak_concurrency(&self.inner, function)
    }

    /// Inject faults from now on (see [`crate::Faults`]); `Faults::default()` turns them off.
    pub fn set_faults(&self, faults: crate::Faults) {
        self.inner.faults.lock().expect("faults lock").faults = faults.clamped();
    }

    /// What the injected faults have done so far.
    pub fn fault_stats(&self) -> crate::FaultStats {
        self.inner.faults.lock().expect("faults lock").stats
    }

    /// STS call counters and log.
    pub fn sts_stats(&self) -> StsStats {
        self.inner.sts.lock().expect("sts lock").clone()
    }

    /// A function's logs (all streams, oldest first), as `GET /_emulator/logs/{function}` returns them.
    /// Fails with [`EmulatorError::Validation`] if `function` is not a valid function name.
    pub fn logs(&self, function: &str) -> Result<String, EmulatorError> {
        let dir = self.log_dir(function)?;
        crate::logs::read_logs(&self.inner.config.data_dir, function, None).map_err(|e| {
            EmulatorError::io(
                format!("reading logs of function {function} (has it been invoked?)"),
                dir,
                e,
            )
        })
    }

    /// Directory of a function's log stream files. Fails with [`EmulatorError::Validation`] if
    /// `function` is not a valid function name (1-64 letters, digits, `-`, `_`).
    pub fn log_dir(&self, function: &str) -> Result<std::path::PathBuf, EmulatorError> {
        crate::logs::function_log_dir(&self.inner.config.data_dir, function)
            .map_err(|e| EmulatorError::Validation(e.to_string()))
    }

    /// Stops accepting work, fails queued invocations, kills every sandbox (process groups) and
    /// waits for them, then stops the HTTP server.
    pub async fn shutdown(mut self) {
        self.shutdown_inner().await;
    }

    async fn shutdown_inner(&mut self) {
        scheduler::shut_down(&self.inner);
        self.inner.shutdown.send_replace(true);
        let mut tasks = std::mem::take(&mut *self.inner.tasks.lock().expect("tasks lock"));
        let joined = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if joined.is_err() {
            tasks.abort_all();
        }
        self.kill_all();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                tracing::warn!("HTTP server did not stop within 5 s");
            }
        }
        tracing::info!("lambda emulator stopped");
    }

    /// SIGKILLs every sandbox's process group. Safe against pgid reuse: a sandbox removes its
    /// pgid from `pgids` (under this lock) *before* it reaps its process, and a process group
    /// id cannot be reused while its leader is unreaped (running or zombie).
    fn kill_all(&self) {
        for pgid in self.inner.pgids.lock().expect("pgids lock").values() {
            crate::sandbox::kill_group(*pgid);
            // A process stopped by the signal fallback of freezing dies only once continued.
            crate::sandbox::continue_group(*pgid);
        }
        // A frozen (cgroup v1) process dies of the SIGKILL only once thawed.
        self.inner.cgroups.thaw_all();
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if self.stop.is_some() {
            scheduler::stop_accepting(&self.inner);
            self.inner.shutdown.send_replace(true);
            self.kill_all();
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
        }
    }
}
