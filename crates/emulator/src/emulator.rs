//! [`Emulator::start`] and the [`EmulatorHandle`] library API; the HTTP router on top of the
//! service core ([`crate::state::Inner`]).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::sync::oneshot;

use crate::auth::Caller;
use crate::config::EmulatorConfig;
use crate::error::EmulatorError;
use crate::http_error::ApiError;
use crate::state::{Inner, Launcher};
use crate::store::Store;
use crate::{capacity_providers, control, emulator_api, invoke, sts};

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
            Launcher::Processes(run_sandbox),
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

/// Starts a sandbox's `bootstrap` process and serves it ([`crate::sandbox::run`]).
fn run_sandbox(
    inner: Arc<Inner>,
    id: String,
    first: crate::scheduler::Invocation,
    cmd_rx: tokio::sync::mpsc::UnboundedReceiver<crate::scheduler::SandboxCmd>,
) -> crate::state::SandboxTask {
    Box::pin(crate::sandbox::run(inner, id, first, cmd_rx))
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
        .route(
            "/2025-11-30/capacity-providers",
            post(capacity_providers::create).get(capacity_providers::list),
        )
        .route(
            "/2025-11-30/capacity-providers/{name}",
            get(capacity_providers::get).delete(capacity_providers::delete),
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
