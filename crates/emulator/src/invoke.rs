//! The Invoke API's HTTP adapter: `POST /2015-03-31/functions/{name}/invocations`. What the
//! service does with the call is [`service::invoke`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::control::function_ref;
use crate::http_error::ApiError;
use crate::model::InvocationType;
use crate::service::{self, Accepted};
use crate::state::Inner;

fn header(h: &mut HeaderMap, k: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(k, v);
    }
}

/// The HTTP adapter of Invoke: reads the invocation type header, calls [`service::invoke`],
/// and answers as Lambda does (202 for `Event`, 204 for `DryRun`, the payload for
/// `RequestResponse`).
pub(crate) async fn invoke(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = function_ref(&inner, &name, &q)?;
    let kind = match headers
        .get("x-amz-invocation-type")
        .map(|v| v.to_str().unwrap_or(""))
    {
        None | Some("RequestResponse") => Some(InvocationType::RequestResponse),
        Some("Event") => Some(InvocationType::Event),
        Some("DryRun") => None,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "X-Amz-Invocation-Type '{other}' is invalid: use RequestResponse, Event or DryRun"
            )))
        }
    };
    let sub = match service::invoke(&inner, r, kind, &body)? {
        Accepted::DryRun { version } => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            header(resp.headers_mut(), "x-amz-executed-version", &version);
            return Ok(resp);
        }
        Accepted::Queued(sub) => sub,
    };
    match sub.reply {
        None => {
            let mut resp = StatusCode::ACCEPTED.into_response();
            header(resp.headers_mut(), "x-amzn-requestid", &sub.request_id);
            Ok(resp)
        }
        Some(rx) => {
            let res = rx.await.map_err(|_| {
                ApiError::internal("the invocation was dropped (emulator shutting down)")
            })?;
            let mut resp = (StatusCode::OK, res.payload).into_response();
            let h = resp.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            header(h, "x-amzn-requestid", &sub.request_id);
            header(h, "x-amz-executed-version", &sub.executed_version);
            if let Some(fe) = res.function_error {
                header(h, "x-amz-function-error", &fe);
            }
            Ok(resp)
        }
    }
}
