//! The HTTP side of errors: [`ApiError`], an AWS-shaped answer (status, `x-amzn-ErrorType`,
//! `{"Type":"User","message":…}`). Only the HTTP adapters use it; the service core returns
//! [`EmulatorError`], mapped here in one place.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::EmulatorError;

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
            EmulatorError::NoPublishedVersion(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "NoPublishedVersionException", msg)
            }
            EmulatorError::RequestTooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                msg,
            ),
            EmulatorError::InvalidRequestContent(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
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
