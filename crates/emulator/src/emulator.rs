//! [`Emulator::start`] and the [`EmulatorHandle`] library API; the shared state behind the HTTP routes.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::arn::function_arn;
use crate::auth::Caller;
use crate::code;
use crate::config::EmulatorConfig;
use crate::credentials::ApiToken;
use crate::error::EmulatorError;
use crate::http_error::ApiError;
use crate::model::{
    FunctionConfiguration, FunctionSpec, InvocationRecord, InvocationType, InvokeOutput,
    SandboxInfo, StsStats,
};
use crate::records::Records;
use crate::scheduler::{self, Scheduler};
use crate::store::{NewFunction, Store};
use crate::{control, emulator_api, invoke, sts};

/// State shared by the HTTP handlers, sandboxes and the handle.
pub(crate) struct Inner {
    pub config: EmulatorConfig,
    pub endpoint: String,
    pub store: Mutex<Store>,
    pub sched: Mutex<Scheduler>,
    pub records: Records,
    pub sts: Mutex<StsStats>,
    pub shutdown: watch::Sender<bool>,
    pub tasks: Mutex<JoinSet<()>>,
    /// Process group ids of sandboxes whose `bootstrap` is not reaped yet (see
    /// `sandbox::ProcessGroup`): only those may be signalled.
    pub pgids: Mutex<HashMap<String, i32>>,
    pub faults: Mutex<crate::faults::FaultState>,
    /// Per-sandbox CPU/memory limits and freezing (what the host allows of `config.fidelity`).
    pub cgroups: crate::fidelity::CgroupHost,
    /// Who sandboxes run as and what they see (privilege drop when the emulator is root).
    pub isolation: crate::isolation::Isolation,
    /// The bearer token `/_emulator` requires.
    pub api_token: ApiToken,
    /// Sandbox credentials revoked since their sandbox went (see `scheduler::credentials_issued`).
    pub revoked: crate::credentials::Revoked,
    launcher: Launcher,
    sandbox_counter: AtomicU64,
}

/// How the scheduler starts a sandbox.
pub(crate) enum Launcher {
    /// A real `bootstrap` process ([`crate::sandbox::run`]).
    Processes,
    /// Tests of the scheduler without processes: the new sandbox's id, first invocation and
    /// command channel are handed over to the test, which plays the sandbox.
    #[cfg(test)]
    Record(std::sync::mpsc::Sender<crate::scheduler::Launched>),
}

impl Inner {
    pub fn new(config: EmulatorConfig, store: Store, endpoint: String, launcher: Launcher) -> Self {
        let cgroups = crate::fidelity::CgroupHost::setup(config.fidelity);
        let isolation = crate::isolation::Isolation::setup(config.sandbox_user);
        Inner {
            cgroups,
            isolation,
            endpoint,
            config,
            store: Mutex::new(store),
            sched: Mutex::new(Scheduler::default()),
            records: Records::new(),
            sts: Mutex::new(StsStats::default()),
            shutdown: watch::Sender::new(false),
            tasks: Mutex::new(JoinSet::new()),
            pgids: Mutex::new(HashMap::new()),
            faults: Mutex::new(Default::default()),
            api_token: ApiToken::generate(),
            revoked: Default::default(),
            launcher,
            sandbox_counter: AtomicU64::new(0),
        }
    }

    /// Starts a sandbox for `first` (the scheduler has put its slot in the map already).
    pub fn launch(
        self: &Arc<Self>,
        id: String,
        first: crate::scheduler::Invocation,
        cmd_rx: tokio::sync::mpsc::UnboundedReceiver<crate::scheduler::SandboxCmd>,
    ) {
        match &self.launcher {
            Launcher::Processes => {
                self.spawn_task(crate::sandbox::run(self.clone(), id, first, cmd_rx));
            }
            #[cfg(test)]
            Launcher::Record(tx) => {
                let _ = tx.send(crate::scheduler::Launched { id, first, cmd_rx });
            }
        }
    }

    pub fn new_sandbox_id(&self) -> String {
        let n = self.sandbox_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("sb-{n}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    }

    /// Spawns a tracked task (joined or aborted at shutdown).
    pub fn spawn_task<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        let mut t = self.tasks.lock().expect("tasks lock");
        while t.try_join_next().is_some() {}
        t.spawn(fut);
    }

    pub fn function_arn(&self, name: &str) -> String {
        function_arn(&self.config.region, &self.config.account_id, name)
    }
}

/// Entry point: `Emulator::start(config)`.
pub struct Emulator;

impl Emulator {
    /// Loads the persisted state from `config.data_dir`, binds `config.bind` and starts serving
    /// the Lambda, STS and `/_emulator` APIs.
    ///
    /// Fails with [`EmulatorError::PortInUse`] if the port is taken.
    pub async fn start(mut config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        prepare_data_dir(&config.data_dir)?;
        // Sandboxes run with the code dir as cwd: every stored path must be absolute.
        config.data_dir = std::fs::canonicalize(&config.data_dir)
            .map_err(|e| EmulatorError::io("resolving data dir", &config.data_dir, e))?;
        for sub in ["functions", "logs", "sandboxes"] {
            let dir = config.data_dir.join(sub);
            crate::store::ensure_private_dir(&dir).map_err(|e| {
                EmulatorError::io("creating private (0700) directory in the data dir", &dir, e)
            })?;
        }
        let mut store = Store::load(&config.data_dir, &config.region, &config.account_id)?;
        for (arn, ext) in &config.roles {
            store.register_role(arn, ext.as_deref())?;
        }
        // Leftover scratch dirs of a previous run (the `sandboxes/` dir itself stays, 0700).
        if let Ok(entries) = std::fs::read_dir(config.data_dir.join("sandboxes")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    EmulatorError::PortInUse {
                        addr: config.bind,
                        port: config.bind.port(),
                    }
                } else {
                    EmulatorError::Bind {
                        addr: config.bind,
                        source: e,
                    }
                }
            })?;
        let addr = listener.local_addr().map_err(|e| EmulatorError::Bind {
            addr: config.bind,
            source: e,
        })?;
        let inner = Arc::new(Inner::new(
            config,
            store,
            format!("http://{addr}"),
            Launcher::Processes,
        ));
        inner.api_token.write_file(&inner.config.data_dir)?;
        let app = router(inner.clone(), addr.port());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let res = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!("emulator HTTP server failed: {e}");
            }
        });
        tracing::info!(endpoint = %inner.endpoint, data_dir = %inner.config.data_dir.display(),
            region = %inner.config.region, "lambda emulator listening");
        Ok(EmulatorHandle {
            inner,
            addr,
            server: Some(server),
            stop: Some(stop_tx),
        })
    }
}

/// Creates the data dir 0700. An existing one is tightened to 0700 if it is an emulator data
/// dir (has `state.json`) or empty; any other existing directory (say `--data-dir .`) is left
/// alone with a warning: the credentials in it are still protected by `state.json` being 0600
/// and `functions/`, `logs/`, `sandboxes/` being 0700.
fn prepare_data_dir(dir: &std::path::Path) -> Result<(), EmulatorError> {
    use std::os::unix::fs::PermissionsExt;
    let existed = dir.exists();
    crate::store::create_private_dir(dir)
        .map_err(|e| EmulatorError::io("creating data dir", dir, e))?;
    if !existed {
        return Ok(());
    }
    let mode = std::fs::metadata(dir)
        .map_err(|e| EmulatorError::io("reading data dir", dir, e))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let ours = dir.join("state.json").exists()
        || std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    if ours {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| EmulatorError::io("making the data dir private (chmod 700)", dir, e))?;
    } else {
        tracing::warn!(data_dir = %dir.display(), mode = format!("{:o}", mode & 0o777),
            "the data dir is readable by other users and not an emulator data dir, so it is left as is; \
             use a dedicated --data-dir");
    }
    Ok(())
}

/// `POST /`: CloudWatch Logs (JSON, `X-Amz-Target: Logs_20140328.*`) or STS (query protocol).
async fn root_post(
    State(inner): State<Arc<Inner>>,
    caller: Option<axum::Extension<Caller>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if crate::cwlogs::is_logs_call(&headers) {
        crate::cwlogs::handle(&inner, &headers, &body)
    } else {
        sts::handle(State(inner), caller, uri, body).await
    }
}

fn router(inner: Arc<Inner>, port: u16) -> Router {
    let lambda = Router::new()
        .route(
            "/2015-03-31/functions",
            post(control::create_function).get(control::list_functions),
        )
        .route(
            "/2015-03-31/functions/",
            post(control::create_function).get(control::list_functions),
        )
        .route(
            "/2015-03-31/functions/{name}",
            get(control::get_function).delete(control::delete_function),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            put(control::update_code),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(control::get_configuration).put(control::update_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/versions",
            get(control::list_versions).post(control::publish_version),
        )
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(control::put_concurrency).delete(control::delete_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(control::get_concurrency),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(control::get_event_invoke_config)
                .put(control::put_event_invoke_config)
                .post(control::update_event_invoke_config)
                .delete(control::delete_event_invoke_config),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(control::list_event_invoke_configs),
        )
        .route("/", post(root_post).get(sts::handle))
        .route_layer(middleware::from_fn_with_state(
            inner.clone(),
            crate::request_auth::aws_auth,
        ));
    let emulator_api = emulator_api::routes().route_layer(middleware::from_fn_with_state(
        inner.clone(),
        crate::request_auth::bearer_auth,
    ));
    Router::new()
        .merge(lambda)
        .merge(emulator_api)
        .fallback(|req: Request| async move {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "Unknown operation: {} {} (not served by the Lambda/STS emulator)",
                    req.method(),
                    req.uri().path()
                ),
            )
        })
        .layer(DefaultBodyLimit::max(crate::request_auth::MAX_BODY))
        // Every route, the fallback included: no browser-shaped or foreign-Host request gets in.
        .layer(middleware::from_fn_with_state(
            crate::guard::Guard::api(port),
            crate::guard::layer,
        ))
        .layer(middleware::from_fn(trace_requests))
        .with_state(inner)
}

async fn trace_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

/// A running emulator. Dropping it kills all sandboxes and stops the server (prefer
/// [`EmulatorHandle::shutdown`], which also waits for them).
pub struct EmulatorHandle {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
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
            architectures: None,
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
