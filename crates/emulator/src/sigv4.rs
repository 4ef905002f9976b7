//! Verifies AWS Signature Version 4 the way AWS does: rebuilds the canonical request from what
//! the client said it signed (`SignedHeaders`), derives the signing key from the secret the
//! emulator knows for that access key (`aws_sigv4::sign::v4`), and compares the HMACs.
//!
//! `aws_sigv4`'s request signer decides itself which headers to sign, so it cannot check a
//! signature made over another client's choice of headers (the Go SDK in the Temporal server
//! signs `content-length`, the Rust SDK does not); the canonical form is therefore built here,
//! per AWS's specification, and only the key derivation and HMAC come from `aws_sigv4`.

use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::auth::{AuthFailure, Signed};
use crate::credentials::constant_time_eq;

/// How far a signature's date may be from now (AWS: 15 minutes).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The parts of an HTTP request a signature covers.
pub(crate) struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as sent on the wire (still percent-encoded).
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// Checks `signed` (parsed from `req` by [`crate::auth::parse_caller`]) against `secret`.
pub(crate) fn verify(
    req: &Request<'_>,
    signed: &Signed,
    secret: &str,
    now: SystemTime,
) -> Result<(), AuthFailure> {
    let amz_date = match &signed.presigned {
        Some((date, _)) => date.clone(),
        None => header(req.headers, "x-amz-date")
            .or_else(|| header(req.headers, "date").and_then(|d| http_date_to_amz(&d)))
            .ok_or(AuthFailure::Malformed(
                "the request is signed but has no X-Amz-Date (or Date) header".into(),
            ))?,
    };
    let signed_at = parse_amz_date(&amz_date).ok_or_else(|| {
        AuthFailure::Malformed(format!(
            "X-Amz-Date must be yyyyMMddTHHmmssZ (got '{amz_date}')"
        ))
    })?;
    check_time(signed, &amz_date, signed_at, now)?;
    let mut scope = signed.scope.splitn(4, '/');
    let (date, region, service) = (
        scope.next().unwrap_or(""),
        scope.next().unwrap_or(""),
        scope.next().unwrap_or(""),
    );
    if !amz_date.starts_with(date) {
        return Err(AuthFailure::BadSignature);
    }
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, signed_at, region, service);
    let mut candidates = vec![payload_hash(req)];
    if signed.presigned.is_some() {
        candidates.push("UNSIGNED-PAYLOAD".to_string());
    }
    for payload in candidates {
        let canonical = canonical_request(req, signed, &payload);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
            signed.scope,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let expected =
            aws_sigv4::sign::v4::calculate_signature(key.as_ref(), string_to_sign.as_bytes());
        if constant_time_eq(expected.as_bytes(), signed.signature.as_bytes()) {
            return Ok(());
        }
    }
    Err(AuthFailure::BadSignature)
}

fn check_time(
    signed: &Signed,
    amz_date: &str,
    at: SystemTime,
    now: SystemTime,
) -> Result<(), AuthFailure> {
    match &signed.presigned {
        Some((_, expires)) => {
            let expires = Duration::from_secs(expires.unwrap_or(900));
            if now > at + expires {
                return Err(AuthFailure::SignatureExpired(format!(
                    "Request has expired: the presigned URL was signed at {amz_date} and was valid for {} s",
                    expires.as_secs()
                )));
            }
        }
        None => {
            let skew = now
                .duration_since(at)
                .or_else(|_| at.duration_since(now))
                .unwrap_or_default();
            if skew > MAX_SKEW {
                return Err(AuthFailure::SignatureExpired(format!(
                    "Signature expired: {amz_date} is more than 15 minutes from the emulator's clock; \
                     check the system clock"
                )));
            }
        }
    }
    Ok(())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok()?;
    let secs = u64::try_from(t.and_utc().timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn http_date_to_amz(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc2822(s).ok()?;
    Some(t.naive_utc().format("%Y%m%dT%H%M%SZ").to_string())
}

fn payload_hash(req: &Request<'_>) -> String {
    header(req.headers, "x-amz-content-sha256")
        .unwrap_or_else(|| hex::encode(Sha256::digest(req.body)))
}

/// AWS's URI encoding: everything but `A-Za-z0-9-_.~` (and `/` when `keep_slash`) as `%XX`.
fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The canonical request of SigV4 (for every service but S3: the path is encoded again).
fn canonical_request(req: &Request<'_>, signed: &Signed, payload_hash: &str) -> String {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let mut query: Vec<(String, String)> = req
        .query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .filter(|(k, _)| signed.presigned.is_none() || k != "X-Amz-Signature")
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers = String::new();
    for name in signed.signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload_hash}",
        req.method,
        uri_encode(path.as_bytes(), true),
        query.join("&"),
        signed.signed_headers
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::parse_caller;

    /// Signs like an AWS SDK (aws-sigv4's own signer) and returns the signed headers.
    fn sdk_sign(
        method: &str,
        uri: &str,
        body: &[u8],
        secret: &str,
        token: Option<&str>,
        time: SystemTime,
    ) -> HeaderMap {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let identity = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            secret,
            token.map(str::to_string),
            None,
            "test",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:9001")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .unwrap();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let signable =
            SignableRequest::new(method, uri, headers.into_iter(), SignableBody::Bytes(body))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut request);
        request.headers().clone()
    }

    fn check(
        method: &str,
        uri: &str,
        headers: &HeaderMap,
        body: &[u8],
        secret: &str,
        now: SystemTime,
    ) -> Result<(), AuthFailure> {
        let (path, query) = uri
            .split_once('?')
            .map_or((uri, None), |(p, q)| (p, Some(q)));
        let caller = parse_caller(headers, query)?;
        let req = Request {
            method,
            path,
            query,
            headers,
            body,
        };
        verify(&req, &caller.signed, secret, now)
    }

    #[test]
    fn accepts_what_the_sdk_signs_and_nothing_else() {
        let now = SystemTime::now();
        let uri = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ahello%3A3/invocations?Qualifier=a%20b&x=1";
        let body = br#"{"k":"v"}"#;
        let h = sdk_sign("POST", uri, body, "secret-1", Some("tok"), now);
        assert_eq!(check("POST", uri, &h, body, "secret-1", now), Ok(()));
        // Wrong secret, changed body, method or path: refused.
        assert_eq!(
            check("POST", uri, &h, body, "secret-2", now),
            Err(AuthFailure::BadSignature)
        );
        assert_eq!(
            check("POST", uri, &h, b"{}", "secret-1", now),
            Err(AuthFailure::BadSignature)
        );
        assert_eq!(
            check("PUT", uri, &h, body, "secret-1", now),
            Err(AuthFailure::BadSignature)
        );
        let other = uri.replace("hello", "other");
        assert_eq!(
            check("POST", &other, &h, body, "secret-1", now),
            Err(AuthFailure::BadSignature)
        );
        // A signed header changed after signing.
        let mut tampered = h.clone();
        tampered.insert("x-amz-security-token", "other".parse().unwrap());
        assert_eq!(
            check("POST", uri, &tampered, body, "secret-1", now),
            Err(AuthFailure::BadSignature)
        );
        // Replayed 20 minutes later: expired.
        assert!(matches!(
            check(
                "POST",
                uri,
                &h,
                body,
                "secret-1",
                now + Duration::from_secs(1200)
            ),
            Err(AuthFailure::SignatureExpired(_))
        ));
    }

    #[test]
    fn encodes_like_aws() {
        assert_eq!(uri_encode(b"/a b/%3A~", true), "/a%20b/%253A~");
        assert_eq!(uri_encode(b"a/b", false), "a%2Fb");
        assert_eq!(percent_decode("a%2Fb%zz%4"), b"a/b%zz%4".to_vec());
    }
}
