//! Capacity providers over HTTP (`/2025-11-30/capacity-providers`, the Lambda API version that
//! added them): CreateCapacityProvider, GetCapacityProvider, ListCapacityProviders,
//! DeleteCapacityProvider. Answers `{"CapacityProvider": {...}}` / `{"CapacityProviders": [...]}`
//! with status 200 (AWS's docs do not give the status codes of these operations).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::http_error::ApiError;
use crate::state::Inner;

/// `POST /2025-11-30/capacity-providers`.
pub(crate) async fn create(
    State(inner): State<Arc<Inner>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("Could not parse request body into json: {e}"),
            )
        })?;
    let provider = inner
        .store
        .lock()
        .expect("store lock")
        .create_capacity_provider(body)?;
    Ok(Json(json!({ "CapacityProvider": provider })).into_response())
}

/// `GET /2025-11-30/capacity-providers`.
pub(crate) async fn list(State(inner): State<Arc<Inner>>) -> Response {
    let all = inner
        .store
        .lock()
        .expect("store lock")
        .list_capacity_providers();
    Json(json!({ "CapacityProviders": all })).into_response()
}

/// `GET /2025-11-30/capacity-providers/{name}`.
pub(crate) async fn get(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let provider = inner
        .store
        .lock()
        .expect("store lock")
        .capacity_provider(&name)?;
    Ok(Json(json!({ "CapacityProvider": provider })).into_response())
}

/// `DELETE /2025-11-30/capacity-providers/{name}`.
pub(crate) async fn delete(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let provider = inner
        .store
        .lock()
        .expect("store lock")
        .delete_capacity_provider(&name)?;
    Ok(Json(json!({ "CapacityProvider": provider })).into_response())
}
