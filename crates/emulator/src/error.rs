//! Error types: [`EmulatorError`] for the library API and [`ApiError`] for AWS-shaped HTTP errors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Errors returned by the library API ([`crate::Emulator`], [`crate::EmulatorHandle`]).
///
/// Every message names the resource involved and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The configured listen port is taken by another process.
    #[error(
        "port {port} is already in use ({addr}): stop the process listening on it, or choose another port \
         (--port <PORT>, or --port 0 to pick a free one)"
    )]
    PortInUse {
        /// Address we tried to bind.
        addr: SocketAddr,
        /// The port that is taken.
        port: u16,
    },
    /// Binding the listen address failed for another reason.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address we tried to bind.
        addr: SocketAddr,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file-system operation on the data dir or a code path failed.
    #[error("{context} ({path}): {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The path involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The persisted state file could not be parsed.
    #[error("state file {path} is corrupt: {message}; move it away (or use another --data-dir) to start fresh")]
    CorruptState {
        /// Path of the state file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// No such function (or version).
    #[error("{0}")]
    NotFound(String),
    /// The resource already exists or is in a conflicting state.
    #[error("{0}")]
    Conflict(String),
    /// A parameter was invalid (bad name, missing bootstrap, out-of-range timeout ...).
    #[error("{0}")]
    InvalidParameter(String),
    /// The function name or ARN is malformed.
    #[error("{0}")]
    Validation(String),
    /// The concurrency limit of the function is reached (synchronous invocations only).
    #[error("{0}")]
    Throttled(String),
    /// The service failed the call (`ServiceException`, e.g. injected by the fault settings):
    /// retry it.
    #[error("{0}")]
    Service(String),
    /// `wait_for_invocations` gave up.
    #[error(
        "timed out after {timeout:?} waiting for the emulator's invocations/sandboxes to match the predicate \
         ({records} invocation records so far; see EmulatorHandle::invocations() and the function logs)"
    )]
    WaitTimeout {
        /// How long we waited.
        timeout: Duration,
        /// Number of records when we gave up.
        records: usize,
    },
    /// The emulator has been shut down.
    #[error("the emulator is shut down; start a new one with Emulator::start")]
    ShutDown,
}

impl EmulatorError {
    pub(crate) fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}

/// An AWS-shaped HTTP error: status, `x-amzn-ErrorType` header and a JSON body
/// `{"Type":"User","message":"..."}` as the real Lambda service sends them.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// AWS error code, e.g. `ResourceNotFoundException`.
    pub error_type: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, error_type: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type: error_type.to_string(),
            message: message.into(),
        }
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ResourceConflictException", message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            message,
        )
    }
}

impl From<EmulatorError> for ApiError {
    fn from(e: EmulatorError) -> Self {
        let msg = e.to_string();
        match e {
            EmulatorError::NotFound(_) => ApiError::not_found(msg),
            EmulatorError::Conflict(_) => ApiError::conflict(msg),
            EmulatorError::InvalidParameter(_) => ApiError::invalid(msg),
            EmulatorError::Validation(_) => ApiError::validation(msg),
            EmulatorError::Throttled(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                msg,
            ),
            _ => ApiError::internal(msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "Type": "User", "message": self.message });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.error_type) {
            resp.headers_mut().insert("x-amzn-ErrorType", v);
        }
        resp
    }
}
