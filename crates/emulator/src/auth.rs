//! SigV4 request credentials: parsed here, verified cryptographically by [`crate::sigv4`] against
//! the emulator's own key pair or the temporary credentials its STS issued.

use axum::http::{HeaderMap, StatusCode};

use crate::http_error::ApiError;

/// Who signed a request, as read from the SigV4 `Authorization` header or presigned query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub access_key_id: String,
    pub session_token: Option<String>,
    /// What the signature covers, for [`crate::sigv4::verify`].
    pub signed: Signed,
}

/// The parts of a SigV4 authorization a verifier needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Signed {
    /// `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    /// `host;x-amz-date;…` as the client listed them.
    pub signed_headers: String,
    /// The hex HMAC the client sent.
    pub signature: String,
    /// Presigned URL: `(X-Amz-Date, X-Amz-Expires)`; `None` for the `Authorization` header form.
    pub presigned: Option<(String, Option<u64>)>,
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
    /// The HMAC does not match the request (wrong secret, or the request changed after signing).
    BadSignature,
    /// The signature's date is too far from now (15 minutes), or a presigned URL has expired.
    SignatureExpired(String),
}

impl AuthFailure {
    /// The Lambda (REST-JSON) form of the error.
    pub(crate) fn to_lambda_error(&self) -> ApiError {
        match self {
            AuthFailure::Missing => ApiError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token: sign the request with AWS SigV4 using the emulator's credentials \
                 (the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY it printed at start, or its --credentials-file)",
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
            AuthFailure::BadSignature => ApiError::new(
                StatusCode::FORBIDDEN,
                "InvalidSignatureException",
                BAD_SIGNATURE_MESSAGE,
            ),
            AuthFailure::SignatureExpired(m) => {
                ApiError::new(StatusCode::FORBIDDEN, "InvalidSignatureException", m.clone())
            }
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
            AuthFailure::BadSignature => (
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                BAD_SIGNATURE_MESSAGE.to_string(),
            ),
            AuthFailure::SignatureExpired(m) => {
                (StatusCode::FORBIDDEN, "SignatureDoesNotMatch", m.clone())
            }
        }
    }
}

/// AWS's words for a signature that does not match, plus where the emulator's credentials are.
const BAD_SIGNATURE_MESSAGE: &str = "The request signature we calculated does not match the signature you \
     provided. Check your AWS Secret Access Key and signing method: the emulator accepts only its own \
     credentials (printed at start, or its --credentials-file) and the session credentials its STS issued.";

fn is_hex64(s: &str, lowercase_only: bool) -> bool {
    s.len() == 64
        && s.bytes().all(|b| {
            b.is_ascii_digit()
                || (b'a'..=b'f').contains(&b)
                || (!lowercase_only && (b'A'..=b'F').contains(&b))
        })
}

/// Reads the access key id from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
/// SignedHeaders=…, Signature=<64 hex>` or from a presigned URL's query (`X-Amz-Algorithm=AWS4-HMAC-SHA256`,
/// `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-SignedHeaders`, `X-Amz-Signature`). Only the shape is
/// checked here; [`crate::sigv4::verify`] checks the HMAC.
pub(crate) fn parse_caller(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Caller, AuthFailure> {
    let header_token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        return caller_from_authorization(auth, header_token);
    }
    if let Some(q) = query {
        if let Some(caller) = caller_from_presigned_query(q)? {
            return Ok(caller);
        }
    }
    Err(AuthFailure::Missing)
}

/// The caller of a request signed in its `Authorization` header (`AWS4-HMAC-SHA256
/// Credential=…, SignedHeaders=…, Signature=…`).
fn caller_from_authorization(
    auth: &axum::http::HeaderValue,
    header_token: Option<String>,
) -> Result<Caller, AuthFailure> {
    let auth = auth
        .to_str()
        .map_err(|_| AuthFailure::Malformed("Authorization header is not ASCII".into()))?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256")
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            AuthFailure::Malformed(format!(
                "Authorization header requires the AWS4-HMAC-SHA256 algorithm (got '{}'): sign the \
                 request with AWS SigV4",
                auth.split_whitespace().next().unwrap_or("")
            ))
        })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(c) = part.strip_prefix("Credential=") {
            credential = Some(c);
        } else if let Some(h) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(h);
        } else if let Some(sig) = part.strip_prefix("Signature=") {
            signature = Some(sig);
        }
    }
    let credential = credential
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing_param("Credential"))?;
    let signed_headers = signed_headers
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing_param("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing_param("Signature"))?;
    if !is_hex64(signature, true) {
        return Err(bad_signature(
            "Signature",
            signature,
            "64 lowercase hex characters",
        ));
    }
    parse_credential_scope(credential).map(|(akid, scope)| Caller {
        access_key_id: akid,
        session_token: header_token,
        signed: Signed {
            scope,
            signed_headers: signed_headers.to_string(),
            signature: signature.to_string(),
            presigned: None,
        },
    })
}

/// The caller of a presigned URL (`X-Amz-*` query parameters); `None` when the query has none
/// of them.
fn caller_from_presigned_query(q: &str) -> Result<Option<Caller>, AuthFailure> {
    const PARAMS: [&str; 5] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ];
    let mut found: [Option<String>; 5] = Default::default();
    let (mut token, mut expires) = (None, None);
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        if let Some(i) = PARAMS.iter().position(|p| *p == k) {
            found[i] = Some(v.into_owned());
        } else if k == "X-Amz-Security-Token" {
            token = Some(v.into_owned());
        } else if k == "X-Amz-Expires" {
            expires = v.parse::<u64>().ok();
        }
    }
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    for (name, v) in PARAMS.iter().zip(&found) {
        if v.as_deref().is_none_or(str::is_empty) {
            return Err(AuthFailure::Malformed(format!(
                "AWS query-string parameters must include '{name}'. Re-examine the query-string \
                 parameters: a presigned URL needs X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, \
                 X-Amz-SignedHeaders and X-Amz-Signature"
            )));
        }
    }
    let [algorithm, credential, date, signed_headers, signature] =
        found.map(Option::unwrap_or_default);
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(AuthFailure::Malformed(format!(
            "X-Amz-Algorithm must be AWS4-HMAC-SHA256 (got '{algorithm}')"
        )));
    }
    if !is_hex64(&signature, false) {
        return Err(bad_signature(
            "X-Amz-Signature",
            &signature,
            "64 hex characters",
        ));
    }
    parse_credential_scope(&credential).map(|(akid, scope)| {
        Some(Caller {
            access_key_id: akid,
            session_token: token,
            signed: Signed {
                scope,
                signed_headers,
                signature: signature.to_ascii_lowercase(),
                presigned: Some((date, expires)),
            },
        })
    })
}

fn missing_param(name: &str) -> AuthFailure {
    AuthFailure::Malformed(format!(
        "Authorization header requires '{name}' parameter: sign the request with AWS SigV4 (an AWS SDK, \
         or aws --endpoint-url)"
    ))
}

fn bad_signature(param: &str, value: &str, expected: &str) -> AuthFailure {
    AuthFailure::Malformed(format!(
        "{param} must be {expected} (a SigV4 HMAC-SHA256), got {} characters: sign the request with AWS \
         SigV4 (an AWS SDK, or aws --endpoint-url)",
        value.chars().count()
    ))
}

/// `AKID/yyyymmdd/region/service/aws4_request` → (AKID, the scope after it).
fn parse_credential_scope(credential: &str) -> Result<(String, String), AuthFailure> {
    let fields: Vec<&str> = credential.split('/').collect();
    match fields.as_slice() {
        [akid, date, region, service, "aws4_request"] if !akid.is_empty() => Ok((
            akid.to_string(),
            format!("{date}/{region}/{service}/aws4_request"),
        )),
        _ => Err(AuthFailure::Malformed(format!(
            "Credential should be scoped to a valid region / service: expected \
             'AKID/yyyymmdd/region/service/aws4_request', got '{credential}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("authorization", v.parse().unwrap());
        m
    }

    fn malformed(r: Result<Caller, AuthFailure>, needle: &str) {
        match r {
            Err(AuthFailure::Malformed(m)) => {
                assert!(m.contains(needle), "{needle:?} not in {m:?}")
            }
            other => panic!("expected Malformed({needle}), got {other:?}"),
        }
    }

    #[test]
    fn parses_sigv4_header() {
        let c = parse_caller(
            &h(&format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature={SIG}")),
            None,
        )
        .unwrap();
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            parse_caller(&HeaderMap::new(), None),
            Err(AuthFailure::Missing)
        );
        malformed(parse_caller(&h("Basic Zm9v"), None), "AWS4-HMAC-SHA256");
        malformed(
            parse_caller(&h("AWS4-HMAC-SHA256X Credential=a"), None),
            "AWS4-HMAC-SHA256",
        );
        malformed(
            parse_caller(
                &h(&format!(
                    "AWS4-HMAC-SHA256 Credential=AK/x, SignedHeaders=host, Signature={SIG}"
                )),
                None,
            ),
            "Credential should be scoped",
        );
        let cred = "Credential=AK/20240101/us-east-1/lambda/aws4_request";
        malformed(
            parse_caller(
                &h(&format!(
                    "AWS4-HMAC-SHA256 SignedHeaders=host, Signature={SIG}"
                )),
                None,
            ),
            "'Credential'",
        );
        malformed(
            parse_caller(
                &h(&format!("AWS4-HMAC-SHA256 {cred}, Signature={SIG}")),
                None,
            ),
            "'SignedHeaders'",
        );
        malformed(
            parse_caller(
                &h(&format!(
                    "AWS4-HMAC-SHA256 {cred}, SignedHeaders=, Signature={SIG}"
                )),
                None,
            ),
            "'SignedHeaders'",
        );
        malformed(
            parse_caller(
                &h(&format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host")),
                None,
            ),
            "'Signature'",
        );
        for bad in [
            "",
            "ab",
            "0123456789abcdef",
            &SIG.to_uppercase(),
            &format!("{SIG}0"),
            &SIG.replace('a', "g"),
        ] {
            malformed(
                parse_caller(
                    &h(&format!(
                        "AWS4-HMAC-SHA256 {cred}, SignedHeaders=host, Signature={bad}"
                    )),
                    None,
                ),
                "64 lowercase hex",
            );
        }
    }

    #[test]
    fn parses_presigned_query() {
        let full = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Flambda%2Faws4_request\
             &X-Amz-Date=20240101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}&X-Amz-Security-Token=tok"
        );
        let c = parse_caller(&HeaderMap::new(), Some(&full)).unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        // Upper-case hex is accepted in the query form.
        assert!(parse_caller(
            &HeaderMap::new(),
            Some(&full.replace(SIG, &SIG.to_uppercase()))
        )
        .is_ok());
        // No auth parameters at all: missing, not malformed.
        assert_eq!(
            parse_caller(&HeaderMap::new(), Some("Action=GetCallerIdentity")),
            Err(AuthFailure::Missing)
        );
        for p in [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature",
        ] {
            let q: String = full
                .split('&')
                .filter(|kv| !kv.starts_with(&format!("{p}=")))
                .collect::<Vec<_>>()
                .join("&");
            malformed(parse_caller(&HeaderMap::new(), Some(&q)), p);
        }
        malformed(
            parse_caller(
                &HeaderMap::new(),
                Some(&full.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")),
            ),
            "X-Amz-Algorithm must be",
        );
        malformed(
            parse_caller(&HeaderMap::new(), Some(&full.replace(SIG, "1"))),
            "64 hex",
        );
        // The old, signature-less form is refused.
        malformed(
            parse_caller(
                &HeaderMap::new(),
                Some("X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Signature=1"),
            ),
            "X-Amz-Algorithm",
        );
    }
}
