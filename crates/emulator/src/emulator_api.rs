//! The emulator's own HTTP API for tests and the CLI (`/_emulator/…`, no authentication; like
//! every route it is behind the Host/Origin guard of [`crate::guard`]). No route returns function
//! environments or issued secrets.
//!
//! | route | returns |
//! |---|---|
//! | `GET /_emulator/health` | `{"status":"ok"}` |
//! | `GET /_emulator/invocations[?function=NAME]` | `[InvocationRecord…]` |
//! | `GET /_emulator/sandboxes` | `[SandboxInfo…]` |
//! | `GET /_emulator/logs/{function}[?stream=NAME]` | text: all streams (oldest first, each after a `==> file <==` line) or one |
//! | `GET /_emulator/logs/{function}/streams` | `["<stream file>.log", …]` |
//! | `GET /_emulator/roles`, `POST /_emulator/roles` `{"RoleArn": …, "ExternalId": …}` | registered roles (409 if the POST would drop a role's required external ID) |
//! | `GET /_emulator/sts` | `StsStats` (AssumeRole counters and the last 1000 calls) |
//! | `GET /_emulator/faults`, `PUT /_emulator/faults` `{"reject_invoke": 0.1, "fail_invocation": 0.1, "duplicate_event": 0.1}` | `{"faults": Faults, "stats": FaultStats}` |

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::http_error::ApiError;
use crate::scheduler::sandboxes;
use crate::state::Inner;

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route(
            "/_emulator/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/_emulator/invocations", get(invocations))
        .route(
            "/_emulator/sandboxes",
            get(|State(inner): State<Arc<Inner>>| async move { Json(sandboxes(&inner)) }),
        )
        .route("/_emulator/logs/{function}", get(logs))
        .route("/_emulator/logs/{function}/streams", get(streams))
        .route("/_emulator/roles", get(roles).post(register_role))
        .route("/_emulator/faults", get(faults).put(set_faults))
        .route(
            "/_emulator/sts",
            get(|State(inner): State<Arc<Inner>>| async move {
                Json(inner.sts.lock().expect("sts lock").clone())
            }),
        )
}

async fn invocations(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut recs = inner.records.snapshot();
    if let Some(f) = q.get("function") {
        recs.retain(|r| &r.function_name == f);
    }
    Json(recs).into_response()
}

async fn logs(
    State(inner): State<Arc<Inner>>,
    Path(function): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let stream = q.get("stream").map(String::as_str);
    match crate::logs::read_logs(&inner.config.data_dir, &function, stream) {
        Ok(text) => {
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(resp)
        }
        // Refused name (path traversal, not a Lambda name): 400, never a file outside logs/.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            Err(ApiError::validation(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(format!(
            "No logs for function {function} (or that stream): it has not been invoked on this data dir"
        ))),
        Err(e) => Err(ApiError::internal(format!(
            "reading logs of {function}: {e}"
        ))),
    }
}

async fn streams(
    State(inner): State<Arc<Inner>>,
    Path(function): Path<String>,
) -> Result<Response, ApiError> {
    match crate::logs::list_streams(&inner.config.data_dir, &function) {
        Ok(s) => Ok(Json(s).into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            Err(ApiError::validation(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Json(Vec::<String>::new()).into_response())
        }
        Err(e) => Err(ApiError::internal(format!(
            "listing logs of {function}: {e}"
        ))),
    }
}

async fn roles(State(inner): State<Arc<Inner>>) -> Response {
    let store = inner.store.lock().expect("store lock");
    let roles: Vec<_> = store
        .state
        .roles
        .iter()
        .map(|(arn, r)| json!({"RoleArn": arn, "ExternalIdRequired": r.external_id.is_some()}))
        .collect();
    Json(roles).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleRequest {
    role_arn: String,
    external_id: Option<String>,
}

async fn register_role(State(inner): State<Arc<Inner>>, body: Bytes) -> Result<Response, ApiError> {
    let req: RoleRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "expected JSON {{\"RoleArn\": \"arn:aws:iam::…:role/…\", \"ExternalId\": \"…\"}}: {e}"
        ))
    })?;
    let mut store = inner.store.lock().expect("store lock");
    // Anyone on 127.0.0.1 can call this route: it may add roles or change an external ID, but
    // never drop the external-ID requirement of a role that has one.
    let requires_id = store
        .state
        .roles
        .get(&req.role_arn)
        .is_some_and(|r| r.external_id.is_some());
    if requires_id && req.external_id.is_none() {
        return Err(ApiError::conflict(format!(
            "Role {} is registered with a required external ID; re-registering it without one would let any \
             caller assume it. Pass \"ExternalId\" to replace the ID; to drop the requirement, restart the \
             emulator with --role {} (no =EXTERNAL_ID) or a fresh --data-dir",
            req.role_arn, req.role_arn
        )));
    }
    store.register_role(&req.role_arn, req.external_id.as_deref())?;
    drop(store);
    tracing::info!(role_arn = %req.role_arn, "role registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({"RoleArn": req.role_arn, "ExternalIdRequired": req.external_id.is_some()})),
    )
        .into_response())
}

async fn faults(State(inner): State<Arc<Inner>>) -> Response {
    let f = inner.faults.lock().expect("faults lock");
    Json(json!({"faults": f.faults, "stats": f.stats})).into_response()
}

async fn set_faults(State(inner): State<Arc<Inner>>, body: Bytes) -> Result<Response, ApiError> {
    let faults: crate::Faults = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "expected JSON {{\"reject_invoke\": 0.0-1.0, \"fail_invocation\": 0.0-1.0, \"duplicate_event\": 0.0-1.0}} \
             (each optional, default 0): {e}"
        ))
    })?;
    let faults = faults.clamped();
    let mut f = inner.faults.lock().expect("faults lock");
    f.faults = faults;
    tracing::info!(?faults, "fault injection set");
    Ok(Json(json!({"faults": f.faults, "stats": f.stats})).into_response())
}
