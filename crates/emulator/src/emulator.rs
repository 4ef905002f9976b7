//! [`Emulator::start`] and the [`EmulatorHandle`] library API; the shared state behind the HTTP routes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::arn::function_arn;
use crate::auth::Caller;
use crate::config::EmulatorConfig;
use crate::credentials::ApiToken;
use crate::error::EmulatorError;
use crate::http_error::ApiError;
use crate::model::StsStats;
use crate::records::Records;
use crate::scheduler::Scheduler;
use crate::store::Store;
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
    pub(crate) fn new(
        config: EmulatorConfig,
        store: Store,
        endpoint: String,
        launcher: Launcher,
    ) -> Self {
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
    pub(crate) fn launch(
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

    pub(crate) fn new_sandbox_id(&self) -> String {
        let n = self.sandbox_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("sb-{n}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    }

    /// Spawns a tracked task (joined or aborted at shutdown).
    pub(crate) fn spawn_task<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        let mut t = self.tasks.lock().expect("tasks lock");
        while t.try_join_next().is_some() {}
        t.spawn(fut);
    }

    pub(crate) fn function_arn(&self, name: &str) -> String {
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

mod handle;

pub use handle::EmulatorHandle;
