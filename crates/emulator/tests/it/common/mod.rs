//! Helpers for the integration tests: start an emulator, talk HTTP to it, build zips.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use temporal_lambda_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/temporal-invoker";
pub(crate) const EXTERNAL_ID: &str = "ext-id-12345";

/// The test function binary (a real lambda_runtime function).
pub(crate) fn test_function() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_emulator-test-function"))
}

/// The key pair the test emulators accept (set in [`config`]).
pub(crate) const ACCESS_KEY: &str = "AKIAEMULATORTEST";
pub(crate) const SECRET_KEY: &str = "emulator-test-secret-key";

pub(crate) fn config(dir: &Path) -> EmulatorConfig {
    let mut c = EmulatorConfig::new(dir).with_credentials(
        temporal_lambda_emulator::Credentials::new(ACCESS_KEY, SECRET_KEY),
    );
    c.async_retry_delays = vec![Duration::from_millis(50), Duration::from_millis(100)];
    c
}

pub(crate) async fn start(dir: &Path) -> EmulatorHandle {
    started(Emulator::start(config(dir)).await.expect("emulator starts"))
}

/// `/_emulator` bearer tokens by endpoint, so [`http`] can authenticate those calls.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Registers a started emulator's `/_emulator` token with [`http`]; returns the handle.
pub(crate) fn started(emu: EmulatorHandle) -> EmulatorHandle {
    TOKENS
        .lock()
        .unwrap()
        .push((emu.endpoint(), emu.api_token().to_string()));
    emu
}

fn token_for(url: &str) -> Option<String> {
    TOKENS
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(ep, _)| url.starts_with(ep.as_str()))
        .map(|(_, t)| t.clone())
}

/// Secrets of access keys other than [`ACCESS_KEY`] (session credentials a test got from
/// AssumeRole), so [`http`] can sign with them.
static SECRETS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Lets [`http`] sign requests of `akid` with `secret`.
pub(crate) fn remember_secret(akid: &str, secret: &str) {
    SECRETS
        .lock()
        .unwrap()
        .push((akid.to_string(), secret.to_string()));
}

fn secret_of(akid: &str) -> String {
    if akid == ACCESS_KEY {
        return SECRET_KEY.to_string();
    }
    SECRETS
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(a, _)| a == akid)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| "not-a-known-secret".to_string())
}

/// An `Authorization` value that [`http`] replaces with a real SigV4 signature of the request
/// for the Lambda service by `akid` (its secret: [`SECRET_KEY`] or [`remember_secret`]).
pub(crate) fn sigv4(akid: &str) -> String {
    sigv4_for(akid, "lambda")
}

/// [`sigv4`] for another service's credential scope (`sts`, `logs`).
pub(crate) fn sigv4_for(akid: &str, service: &str) -> String {
    format!("SIGN {service} {akid}")
}

/// A SigV4 header that is well-formed but not a valid signature (for tests of refusals).
pub(crate) fn forged_sigv4(akid: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={akid}/20250101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
}

/// Signs `req` in place with aws-sigv4 (as an AWS SDK does): all of its headers and its body.
fn sign(req: &mut hyper::Request<Full<Bytes>>, body: &[u8], service: &str, akid: &str) {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let token = req
        .headers()
        .get("x-amz-security-token")
        .map(|v| v.to_str().unwrap().to_string());
    req.headers_mut().remove("x-amz-security-token");
    let identity =
        aws_credential_types::Credentials::new(akid, secret_of(akid), token, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    for (name, value) in instructions.headers() {
        req.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
}

pub(crate) struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

/// One HTTP request. An `authorization` header made by [`sigv4`] / [`sigv4_for`] is replaced by
/// a real signature of the request.
pub(crate) async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    let mut signer = None;
    // `/_emulator` calls carry the emulator's bearer token unless the test sets its own
    // `authorization` (or `NOAUTH` to send none).
    let own_auth = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    if url.contains("/_emulator/") && !own_auth {
        if let Some(t) = token_for(url) {
            req = req.header("authorization", format!("Bearer {t}"));
        }
    }
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("authorization") && *v == "NOAUTH" {
            continue;
        }
        match v.strip_prefix("SIGN ") {
            Some(rest) if k.eq_ignore_ascii_case("authorization") => {
                let (service, akid) = rest.split_once(' ').unwrap();
                signer = Some((service.to_string(), akid.to_string()));
            }
            _ => req = req.header(*k, *v),
        }
    }
    let body: Bytes = body.into();
    let mut req = req.body(Full::new(body.clone())).unwrap();
    if let Some((service, akid)) = signer {
        sign(&mut req, &body, &service, &akid);
    }
    let resp = tokio::time::timeout(TIMEOUT, client.request(req))
        .await
        .expect("HTTP timeout")
        .expect("HTTP request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

/// A Lambda API call signed with the test emulators' key pair.
pub(crate) async fn lambda(method: &str, url: &str, body: impl Into<Bytes>) -> Resp {
    let auth = sigv4(ACCESS_KEY);
    http(method, url, &[("authorization", &auth)], body).await
}

pub(crate) async fn invoke(
    endpoint: &str,
    function: &str,
    kind: &str,
    payload: serde_json::Value,
) -> Resp {
    let auth = sigv4(ACCESS_KEY);
    http(
        "POST",
        &format!("{endpoint}/2015-03-31/functions/{function}/invocations"),
        &[("authorization", &auth), ("x-amz-invocation-type", kind)],
        payload.to_string(),
    )
    .await
}

/// A zip with the given (name, contents, unix mode) entries, stored uncompressed.
pub(crate) fn zip(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in entries {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A small shell `bootstrap` that execs the test function (keeps zips tiny).
pub(crate) fn bootstrap_script() -> Vec<u8> {
    format!("#!/bin/sh\nexec '{}' \"$@\"\n", test_function().display()).into_bytes()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// True if the process exists and is not a zombie.
pub(crate) fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A temporary directory any user may write to (mode 1777, like `/tmp`): for files a sandbox
/// writes, as sandboxes of an emulator running as root run as an unprivileged user.
pub(crate) fn shared_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o1777))
        .tempdir()
        .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

/// An `application/x-www-form-urlencoded` body (the query APIs: STS, IAM).
pub(crate) fn form(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}
