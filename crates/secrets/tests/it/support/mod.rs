//! A real `moto_server` for the integration tests: started on a free 127.0.0.1 port, killed by
//! PID on drop (also when the test panics), plus SigV4-signed AWS JSON calls for fixtures made
//! with `aws-sigv4` + hyper, the way the library signs (no AWS SDK).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

pub(crate) const ACCESS_KEY: &str = "AKIATESTLOCAL0000000";
pub(crate) const SECRET_KEY: &str = "test-secret-key-local-only";
pub(crate) const SESSION_TOKEN: &str = "test-session-token-local-only";
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const ACCOUNT: &str = "123456789012"; // moto's default account

/// `moto_server` on a free 127.0.0.1 port, killed (by PID) on drop.
pub(crate) struct Moto {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl Moto {
    /// `moto_server` over plain HTTP.
    pub(crate) fn start() -> Self {
        Self::start_with(&[], "http")
    }

    /// `moto_server` with extra arguments (e.g. `-c cert.pem -k key.pem`), reached as
    /// `scheme://127.0.0.1:PORT`.
    pub(crate) fn start_with(extra_args: &[&str], scheme: &str) -> Self {
        let bin = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server")
            });
        assert!(
            bin.exists(),
            "{} missing: run scripts/test.sh (it installs moto[server] into .venv) or set \
             MOTO_SERVER",
            bin.display()
        );
        let port = {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            listener.local_addr().unwrap().port()
        };
        let log = std::env::temp_dir().join(format!(
            "temporal-lambda-secrets-moto-{}-{port}.log",
            std::process::id()
        ));
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        let mut moto = Self {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
            log,
        };
        // Ready when it accepts connections (it binds only after importing everything). Poll,
        // bounded; stop early if it exited.
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = moto.child.try_wait().unwrap() {
                panic!("moto_server exited ({status}): see {}", moto.log.display());
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not accept connections within 60 s: see {}",
                moto.log.display()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        moto
    }

    pub(crate) fn env(&self) -> HashMap<String, String> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// A signed AWS JSON 1.1 call (fixture setup); panics on a non-2xx answer.
    pub(crate) async fn call(&self, service: &str, target: &str, body: Value) -> Value {
        let body = body.to_string().into_bytes();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("{}/", self.url))
            .header("host", self.url.trim_start_matches("http://"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(body)
            .unwrap();
        let identity: Identity = Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            Some(SESSION_TOKEN.into()),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            "POST",
            uri,
            request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
            SignableBody::Bytes(request.body()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut request);

        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .request(request.map(|b| Full::new(Bytes::from(b))))
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            status.is_success(),
            "{target} failed: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap()
    }

    /// CreateSecret; returns the secret's full ARN (with moto's random suffix).
    pub(crate) async fn create_secret(&self, name: &str, value: Value) -> String {
        let mut body = json!({ "Name": name });
        body.as_object_mut()
            .unwrap()
            .extend(value.as_object().unwrap().clone());
        let created = self
            .call("secretsmanager", "secretsmanager.CreateSecret", body)
            .await;
        created["ARN"].as_str().unwrap().to_string()
    }

    /// PutParameter; returns the parameter's ARN.
    pub(crate) async fn put_parameter(&self, name: &str, kind: &str, value: &str) -> String {
        self.call(
            "ssm",
            "AmazonSSM.PutParameter",
            json!({ "Name": name, "Value": value, "Type": kind }),
        )
        .await;
        format!(
            "arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{}",
            name.trim_start_matches('/')
        )
    }
}
