//! SigV4 request credentials: parsed (never verified cryptographically) and checked against the
//! temporary credentials issued by our STS.

use axum::http::{HeaderMap, StatusCode};

use crate::error::ApiError;

/// Who signed a request, as read from the SigV4 `Authorization` header or presigned query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub access_key_id: String,
    pub session_token: Option<String>,
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No `Authorization` header / `X-Amz-Credential` query parameter.
    Missing,
    /// Present but not a SigV4 authorization.
    Malformed(String),
    /// Temporary (`ASIA…`) key we never issued, or session token mismatch.
    UnknownToken,
    /// Temporary key past its expiration.
    Expired,
}

impl AuthFailure {
    /// The Lambda (REST-JSON) form of the error.
    pub(crate) fn to_lambda_error(&self) -> ApiError {
        match self {
            AuthFailure::Missing => ApiError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token: sign the request with AWS SigV4 (any access key works with the \
                 emulator; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            ),
            AuthFailure::Malformed(m) => ApiError::new(StatusCode::BAD_REQUEST, "IncompleteSignatureException", m.clone()),
            AuthFailure::UnknownToken => ApiError::new(
                StatusCode::FORBIDDEN,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            AuthFailure::Expired => ApiError::new(
                StatusCode::FORBIDDEN,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
        }
    }

    /// `(status, code, message)` for the STS (XML) form of the error.
    pub(crate) fn to_sts_error(&self) -> (StatusCode, &'static str, String) {
        match self {
            AuthFailure::Missing => (
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token".to_string(),
            ),
            AuthFailure::Malformed(m) => {
                (StatusCode::BAD_REQUEST, "IncompleteSignature", m.clone())
            }
            AuthFailure::UnknownToken => (
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.".to_string(),
            ),
            AuthFailure::Expired => (
                StatusCode::FORBIDDEN,
                "ExpiredToken",
                "The security token included in the request is expired".to_string(),
            ),
        }
    }
}

/// Reads the access key id from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`
/// or from a presigned URL's `X-Amz-Credential` query parameter.
pub(crate) fn parse_caller(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Caller, AuthFailure> {
    let header_token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        let auth = auth
            .to_str()
            .map_err(|_| AuthFailure::Malformed("Authorization header is not ASCII".into()))?;
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
            AuthFailure::Malformed(format!(
                "Authorization header requires the AWS4-HMAC-SHA256 algorithm (got '{}')",
                auth.split_whitespace().next().unwrap_or("")
            ))
        })?;
        let mut credential = None;
        let mut has_signature = false;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(c) = part.strip_prefix("Credential=") {
                credential = Some(c);
            } else if part.starts_with("Signature=") {
                has_signature = true;
            }
        }
        let credential = credential.ok_or_else(|| {
            AuthFailure::Malformed(
                "Authorization header requires 'Credential' parameter.".to_string(),
            )
        })?;
        if !has_signature {
            return Err(AuthFailure::Malformed(
                "Authorization header requires 'Signature' parameter.".to_string(),
            ));
        }
        return parse_credential_scope(credential).map(|akid| Caller {
            access_key_id: akid,
            session_token: header_token,
        });
    }
    if let Some(q) = query {
        let mut cred = None;
        let mut token = None;
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                "X-Amz-Credential" => cred = Some(v.into_owned()),
                "X-Amz-Security-Token" => token = Some(v.into_owned()),
                _ => {}
            }
        }
        if let Some(c) = cred {
            return parse_credential_scope(&c).map(|akid| Caller {
                access_key_id: akid,
                session_token: token,
            });
        }
    }
    Err(AuthFailure::Missing)
}

fn parse_credential_scope(credential: &str) -> Result<String, AuthFailure> {
    let fields: Vec<&str> = credential.split('/').collect();
    match fields.as_slice() {
        [akid, _date, _region, _service, "aws4_request"] if !akid.is_empty() => {
            Ok(akid.to_string())
        }
        _ => Err(AuthFailure::Malformed(format!(
            "Credential should be scoped to a valid region / service: expected \
             'AKID/yyyymmdd/region/service/aws4_request', got '{credential}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("authorization", v.parse().unwrap());
        m
    }

    #[test]
    fn parses_sigv4() {
        let c = parse_caller(
            &h("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd"),
            None,
        )
        .unwrap();
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            parse_caller(&HeaderMap::new(), None),
            Err(AuthFailure::Missing)
        );
        assert!(matches!(
            parse_caller(&h("Basic Zm9v"), None),
            Err(AuthFailure::Malformed(_))
        ));
        assert!(matches!(
            parse_caller(&h("AWS4-HMAC-SHA256 Credential=AK/x, Signature=1"), None),
            Err(AuthFailure::Malformed(_))
        ));
        let q = "X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Signature=1";
        assert_eq!(
            parse_caller(&HeaderMap::new(), Some(q))
                .unwrap()
                .access_key_id,
            "AKID"
        );
    }
}
