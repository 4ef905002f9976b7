//! Who may call the emulator: the SigV4 check of the AWS APIs (Lambda, STS, CloudWatch Logs)
//! against the credentials it knows, and the bearer token of the `/_emulator` API, as router
//! layers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{parse_caller, AuthFailure, Caller};
use crate::http_error::ApiError;
use crate::state::Inner;
use crate::store::now_ms;
use crate::sts;

/// Largest request body any route reads (the router's limit, and the signature layer's).
pub(crate) const MAX_BODY: usize = 96 * 1024 * 1024;

impl Inner {
    /// Authenticates a request as AWS does: parses its SigV4 authorization, finds the secret of
    /// its access key (the emulator's own key pair, or session credentials our STS issued,
    /// unexpired and presented with their session token) and verifies the signature.
    pub(crate) fn authenticate(
        &self,
        req: &crate::sigv4::Request<'_>,
    ) -> Result<Caller, AuthFailure> {
        let caller = parse_caller(req.headers, req.query)?;
        let secret = self.secret_of(&caller)?;
        crate::sigv4::verify(req, &caller.signed, &secret, std::time::SystemTime::now())?;
        Ok(caller)
    }

    fn secret_of(&self, caller: &Caller) -> Result<String, AuthFailure> {
        let own = &self.config.credentials;
        if caller.access_key_id == own.access_key_id {
            return Ok(own.secret_access_key.expose().to_owned());
        }
        if self
            .revoked
            .lock()
            .expect("revoked lock")
            .contains(&caller.access_key_id)
        {
            return Err(AuthFailure::UnknownToken);
        }
        let store = self.store.lock().expect("store lock");
        let cred = store
            .state
            .credentials
            .get(&caller.access_key_id)
            .ok_or(AuthFailure::UnknownToken)?;
        if caller.session_token.as_deref() != Some(cred.session_token.as_str()) {
            return Err(AuthFailure::UnknownToken);
        }
        if cred.expiration_ms <= now_ms() {
            return Err(AuthFailure::Expired);
        }
        Ok(cred.secret_access_key.clone())
    }
}

/// Every AWS API route (Lambda, STS, CloudWatch Logs): the request must carry a valid SigV4
/// signature by credentials the emulator knows; the handler finds the [`Caller`] in the
/// request's extensions.
pub(crate) async fn aws_auth(
    State(inner): State<Arc<Inner>>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let sts_shaped = parts.uri.path() == "/" && !crate::cwlogs::is_logs_call(&parts.headers);
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                format!("could not read the request body: {e}"),
            )
            .into_response()
        }
    };
    let checked = inner.authenticate(&crate::sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    });
    match checked {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, axum::body::Body::from(body)))
                .await
        }
        Err(f) if sts_shaped => {
            let (status, code, msg) = f.to_sts_error();
            sts::error(status, code, &msg)
        }
        Err(f) => f.to_lambda_error().into_response(),
    }
}

/// `/_emulator/*`: `Authorization: Bearer <token>` with this run's token, else 401.
pub(crate) async fn bearer_auth(
    State(inner): State<Arc<Inner>>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.is_some_and(|t| inner.api_token.matches(t.trim())) {
        return next.run(req).await;
    }
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "UnauthorizedException",
        format!(
            "the /_emulator API requires `Authorization: Bearer <token>`: the token of this run is in {}",
            inner
                .config
                .data_dir
                .join(crate::credentials::API_TOKEN_FILE)
                .display()
        ),
    )
    .into_response()
}
