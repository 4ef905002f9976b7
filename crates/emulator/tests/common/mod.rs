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

pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const ROLE: &str = "arn:aws:iam::123456789012:role/temporal-invoker";
pub const EXTERNAL_ID: &str = "ext-id-12345";

/// The test function binary (a real lambda_runtime function).
pub fn test_function() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_emulator-test-function"))
}

pub fn config(dir: &Path) -> EmulatorConfig {
    let mut c = EmulatorConfig::new(dir);
    c.async_retry_delays = vec![Duration::from_millis(50), Duration::from_millis(100)];
    c
}

pub async fn start(dir: &Path) -> EmulatorHandle {
    Emulator::start(config(dir)).await.expect("emulator starts")
}

/// A well-formed (never verified) SigV4 signature: 64 lowercase hex characters.
pub const SIGNATURE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A well-formed SigV4 `Authorization` header for the Lambda service (the emulator checks its
/// shape — Credential scope, SignedHeaders, a 64-hex Signature — never the HMAC).
pub fn sigv4(akid: &str) -> String {
    sigv4_for(akid, "lambda")
}

/// [`sigv4`] for another service's credential scope (`sts`, `logs`).
pub fn sigv4_for(akid: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={akid}/20250101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={SIGNATURE}"
    )
}

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

/// One HTTP request; `auth` = Some(access key) adds a SigV4-looking Authorization header.
pub async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
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

/// A signed Lambda API call with a long-term dummy key.
pub async fn lambda(method: &str, url: &str, body: impl Into<Bytes>) -> Resp {
    let auth = sigv4("AKIAEMULATORTEST");
    http(method, url, &[("authorization", &auth)], body).await
}

pub async fn invoke(
    endpoint: &str,
    function: &str,
    kind: &str,
    payload: serde_json::Value,
) -> Resp {
    let auth = sigv4("AKIAEMULATORTEST");
    http(
        "POST",
        &format!("{endpoint}/2015-03-31/functions/{function}/invocations"),
        &[("authorization", &auth), ("x-amz-invocation-type", kind)],
        payload.to_string(),
    )
    .await
}

/// A zip with the given (name, contents, unix mode) entries, stored uncompressed.
pub fn zip(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
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
pub fn bootstrap_script() -> Vec<u8> {
    format!("#!/bin/sh\nexec '{}' \"$@\"\n", test_function().display()).into_bytes()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// True if the process exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
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

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
