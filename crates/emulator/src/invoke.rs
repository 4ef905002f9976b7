//! The Invoke API: `POST /2015-03-31/functions/{name}/invocations`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::arn::FunctionRef;
use crate::control::function_ref;
use crate::emulator::Inner;
use crate::error::{ApiError, EmulatorError};
use crate::model::InvocationType;
use crate::scheduler;

const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// The ARN the runtime sees as `Lambda-Runtime-Invoked-Function-Arn` (qualified if the caller qualified it).
pub(crate) fn invoked_arn(inner: &Inner, r: &FunctionRef) -> String {
    match &r.qualifier {
        Some(q) => format!("{}:{q}", inner.function_arn(&r.name)),
        None => inner.function_arn(&r.name),
    }
}

/// An empty payload becomes `{}` (as Lambda delivers it); anything else must be JSON.
pub(crate) fn normalize_payload(body: &[u8]) -> Result<Bytes, EmulatorError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| {
        EmulatorError::InvalidParameter(format!("Could not parse request body into json: {e}"))
    })?;
    Ok(Bytes::copy_from_slice(body))
}

fn header(h: &mut HeaderMap, k: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(k, v);
    }
}

/// One Invoke call as the Lambda service takes it, with no HTTP types: the fault knob, the
/// payload limits (6 MB synchronous, 1 MB `Event`), the JSON check, then the queue. `kind`
/// `None` is a `DryRun` (checks only; answers the version that would run). The HTTP handler
/// and [`crate::EmulatorHandle::invoke`] both come through here.
pub(crate) fn accept(
    inner: &Arc<Inner>,
    r: FunctionRef,
    kind: Option<InvocationType>,
    body: &[u8],
) -> Result<Accepted, ApiError> {
    if inner.faults.lock().expect("faults lock").reject_invoke() {
        tracing::warn!(function = %r.name, "fault injected: Invoke refused with ServiceException");
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "The AWS Lambda service encountered an internal error (injected by the emulator's fault settings)",
        ));
    }
    let limit = if kind == Some(InvocationType::Event) {
        MAX_ASYNC_PAYLOAD
    } else {
        MAX_SYNC_PAYLOAD
    };
    if body.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            format!("Request must be smaller than {limit} bytes for the Invoke operation"),
        ));
    }
    let payload = normalize_payload(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            e.to_string(),
        )
    })?;
    let arn = invoked_arn(inner, &r);
    let Some(kind) = kind else {
        let version = inner
            .store
            .lock()
            .expect("store lock")
            .resolve(&r)?
            .config
            .version
            .clone();
        return Ok(Accepted::DryRun { version });
    };
    scheduler::submit(inner, r, arn, payload, kind).map(Accepted::Queued)
}

/// What [`accept`] did.
pub(crate) enum Accepted {
    /// Queued; a synchronous call has a reply channel.
    Queued(scheduler::Submitted),
    /// A `DryRun`: nothing queued.
    DryRun {
        /// The version that would run.
        version: String,
    },
}

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
    let sub = match accept(&inner, r, kind, &body)? {
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
