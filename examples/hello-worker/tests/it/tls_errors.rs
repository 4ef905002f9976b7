//! Each bad TLS / authentication setting gives one clear error, naming the setting and the fix,
//! within the work window — from the CLI's connection (`register`, `verify`, `doctor` use it)
//! and from the worker library's invocation (its settings read from `TEMPORAL_*` variables, as
//! `deploy` sets them). Every case runs against a real TLS terminator (nginx) in front of the
//! real dev server, with certificates generated for the run. No secret appears in any message.

use crate::support;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use hello_worker::{Greetings, HelloWorkflow};
use temporal_dev_server::{DevServer, DevServerOptions};
use temporal_lambda_cli::connect::ConnectArgs;
use temporal_lambda_tls_front::{ServerCertValidity, TlsFront, TlsFrontOptions};
use temporal_lambda_worker::{
    invocation::InvocationInfo, LambdaWorker, LambdaWorkerConfig, VersioningBehavior,
    WorkerDeploymentVersion,
};

const KEY: &str = "tl-right-key-5d1e0c";
const WRONG_KEY: &str = "tl-wrong-key-77aa31";

/// What the client is configured with, as `TEMPORAL_*` variables.
struct Client<'a> {
    address: String,
    api_key: Option<&'a str>,
    tls: Option<bool>,
    ca: Option<&'a Path>,
    server_name: Option<&'a str>,
    cert: Option<&'a Path>,
    key: Option<&'a Path>,
}

impl<'a> Client<'a> {
    fn new(address: String) -> Self {
        Client {
            address,
            api_key: None,
            tls: None,
            ca: None,
            server_name: None,
            cert: None,
            key: None,
        }
    }

    fn env(&self) -> HashMap<String, String> {
        let mut env = HashMap::new();
        env.insert("TEMPORAL_ADDRESS".into(), self.address.clone());
        env.insert("TEMPORAL_NAMESPACE".into(), "default".into());
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                env.insert(k.into(), v);
            }
        };
        put("TEMPORAL_API_KEY", self.api_key.map(str::to_string));
        put("TEMPORAL_TLS", self.tls.map(|t| t.to_string()));
        let path = |p: Option<&Path>| p.map(|p| p.display().to_string());
        put("TEMPORAL_TLS_SERVER_CA_CERT_PATH", path(self.ca));
        put(
            "TEMPORAL_TLS_SERVER_NAME",
            self.server_name.map(str::to_string),
        );
        put("TEMPORAL_TLS_CLIENT_CERT_PATH", path(self.cert));
        put("TEMPORAL_TLS_CLIENT_KEY_PATH", path(self.key));
        env
    }

    fn cli(&self) -> ConnectArgs {
        let mut c = ConnectArgs::local(self.address.clone(), "default");
        c.api_key = self.api_key.map(Into::into);
        c.tls = self.tls;
        c.tls_ca_path = self.ca.map(Path::to_path_buf);
        c.tls_server_name = self.server_name.map(str::to_string);
        c.tls_cert_path = self.cert.map(Path::to_path_buf);
        c.tls_key_path = self.key.map(Path::to_path_buf);
        c
    }
}

/// The error of one invocation of a worker configured from `env` (it must fail).
async fn worker_error(case: &str, env: &HashMap<String, String>) -> String {
    let mut cfg =
        LambdaWorkerConfig::from_env(WorkerDeploymentVersion::new("tls-errors", "b1"), env)
            .unwrap_or_else(|e| panic!("{case}: config: {e}"));
    cfg.task_queue = "tls-errors".into();
    cfg.default_versioning_behavior = Some(VersioningBehavior::Pinned);
    cfg.register_workflow::<HelloWorkflow>().unwrap();
    cfg.register_activities(Greetings);
    let w = LambdaWorker::new(cfg).unwrap();
    let info = InvocationInfo {
        request_id: format!("req-{case}"),
        invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f:1".into(),
        deadline: SystemTime::now() + Duration::from_secs(30),
    };
    match w.invoke(&info).await {
        Ok(r) => panic!("{case}: the worker connected: {r:?}"),
        Err(e) => e.to_string(),
    }
}

/// Both the CLI and the worker fail, quickly, with `expect` in the message and no secret.
async fn assert_fails(case: &str, client: &Client<'_>, expect: &[&str]) {
    let started = Instant::now();
    let cli = match client.cli().connect().await {
        Ok(_) => panic!("{case}: the CLI connected"),
        Err(e) => e.to_string(),
    };
    let worker = worker_error(case, &client.env()).await;
    let elapsed = started.elapsed();
    for (who, msg) in [("CLI", &cli), ("worker", &worker)] {
        for e in expect {
            assert!(msg.contains(e), "{case}: {who} error lacks {e:?}:\n{msg}");
        }
        for secret in [KEY, WRONG_KEY, "PRIVATE KEY"] {
            assert!(
                !msg.contains(secret),
                "{case}: {who} error shows a secret:\n{msg}"
            );
        }
    }
    assert!(
        elapsed < Duration::from_secs(20),
        "{case}: took {elapsed:?}, past the work window"
    );
    eprintln!("{case}: ok in {elapsed:?}\n  CLI:    {cli}\n  worker: {worker}");
}

fn front(
    server: &DevServer,
    dir: &Path,
    name: &str,
    f: impl FnOnce(&mut TlsFrontOptions),
) -> TlsFront {
    let mut o = TlsFrontOptions::new(server.address(), dir.join(name));
    f(&mut o);
    TlsFront::start(o).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_bad_tls_or_auth_setting_names_the_setting_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(DevServerOptions {
        log_dir: Some(dir.path().join("server")),
        ..Default::default()
    })
    .await
    .unwrap();

    // Wrong CA: the server's certificate is not issued by the CA the client trusts.
    let f = front(&server, dir.path(), "plain", |_| {});
    let pki = f.pki().clone();
    let mut c = Client::new(f.address());
    c.ca = Some(&pki.other_ca_cert_path);
    assert_fails("wrong CA", &c, &["TEMPORAL_TLS_SERVER_CA_CERT_PATH"]).await;

    // TLS client against the plaintext dev server.
    let mut c = Client::new(server.address());
    c.tls = Some(true);
    c.ca = Some(&pki.ca_cert_path);
    assert_fails(
        "TLS against plaintext",
        &c,
        &["does not speak TLS", "TEMPORAL_TLS=false"],
    )
    .await;

    // Plaintext client against the TLS front.
    let c = Client::new(f.address());
    assert_fails("plaintext against TLS", &c, &["TEMPORAL_TLS=true"]).await;

    // Server name mismatch: the certificate is only for temporal.rig.test.
    let f = front(&server, dir.path(), "name", |o| {
        o.server_name = Some("temporal.rig.test".into());
        o.only_server_name = true;
    });
    let name_pki = f.pki().clone();
    let mut c = Client::new(f.address());
    c.ca = Some(&name_pki.ca_cert_path);
    assert_fails("server-name mismatch", &c, &["TEMPORAL_TLS_SERVER_NAME"]).await;
    // ... and the override fixes it.
    c.server_name = Some("temporal.rig.test");
    c.cli()
        .connect()
        .await
        .expect("the server-name override connects");

    // Expired and not-yet-valid server certificates.
    for (case, validity, expect) in [
        (
            "expired server certificate",
            ServerCertValidity::Expired,
            "expired",
        ),
        (
            "not-yet-valid server certificate",
            ServerCertValidity::NotYetValid,
            "not valid yet",
        ),
    ] {
        let f = front(&server, dir.path(), case, |o| o.validity = validity);
        let p = f.pki().clone();
        let mut c = Client::new(f.address());
        c.ca = Some(&p.ca_cert_path);
        assert_fails(case, &c, &[expect]).await;
    }

    // mTLS: a client certificate from another CA; a key that is not the certificate's.
    let f = front(&server, dir.path(), "mtls", |o| o.mtls = true);
    let m = f.pki().clone();
    let mut c = Client::new(f.address());
    c.ca = Some(&m.ca_cert_path);
    c.cert = Some(&m.untrusted_client_cert_path);
    c.key = Some(&m.untrusted_client_key_path);
    assert_fails(
        "client certificate not trusted",
        &c,
        &["TEMPORAL_TLS_CLIENT_CERT_PATH"],
    )
    .await;
    c.cert = Some(&m.client_cert_path);
    c.key = Some(&m.untrusted_client_key_path);
    assert_fails(
        "key not matching the certificate",
        &c,
        &["TEMPORAL_TLS_CLIENT_KEY_PATH"],
    )
    .await;
    c.key = Some(&m.client_key_path);
    c.cli()
        .connect()
        .await
        .expect("the right client certificate connects");

    // Wrong API key.
    let f = front(&server, dir.path(), "key", |o| o.api_key = Some(KEY.into()));
    let k = f.pki().clone();
    let mut c = Client::new(f.address());
    c.ca = Some(&k.ca_cert_path);
    c.api_key = Some(WRONG_KEY);
    assert_fails("wrong API key", &c, &["TEMPORAL_API_KEY"]).await;
    c.api_key = Some(KEY);
    c.cli().connect().await.expect("the right API key connects");
}

/// The worker's error for an API key secret that cannot be used, through a real moto
/// (Secrets Manager, SSM): missing, of the wrong type. Access denied cannot be produced by
/// moto (it does not enforce IAM); `temporal-lambda-secrets` tests that mapping on AWS's own
/// error body, and `doctor`'s `secret-grant` check catches a missing grant before it happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_api_key_secret_names_the_setting_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let moto = support::Moto::start(&dir.path().join("moto.log"));
    let py = |script: &str| {
        let program = format!(
            "import json, boto3\nkw = dict(endpoint_url='{}', region_name='us-east-1', aws_access_key_id='AKIATESTLOCAL0000000', aws_secret_access_key='x')\nsm = boto3.client('secretsmanager', **kw)\nssm = boto3.client('ssm', **kw)\n{script}\n",
            moto.url
        );
        let out = std::process::Command::new(support::venv_bin().join("python"))
            .args(["-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let binary = py("print(sm.create_secret(Name='bin', SecretBinary=b'\\x00\\x01')['ARN'])");
    let list = py("ssm.put_parameter(Name='/tl/list', Value='a,b', Type='StringList'); print('arn:aws:ssm:us-east-1:123456789012:parameter/tl/list')");
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf".to_string();
    for (case, arn, expect) in [
        ("secret missing", missing, "not found"),
        ("binary secret", binary, "binary"),
        ("StringList parameter", list, "StringList"),
        (
            "not a secret ARN",
            "temporal/api-key".to_string(),
            "TEMPORAL_API_KEY_SECRET_ARN",
        ),
    ] {
        let mut env = HashMap::new();
        for (k, v) in [
            ("TEMPORAL_ADDRESS", "127.0.0.1:1"),
            ("TEMPORAL_API_KEY_SECRET_ARN", arn.as_str()),
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIATESTLOCAL0000000"),
            ("AWS_SECRET_ACCESS_KEY", "sandbox-secret-key-value"),
            ("AWS_SESSION_TOKEN", "sandbox-session-token-value"),
        ] {
            env.insert(k.to_string(), v.to_string());
        }
        let started = Instant::now();
        let e = worker_error(case, &env).await;
        assert!(started.elapsed() < Duration::from_secs(12), "{case}: slow");
        assert!(e.contains("TEMPORAL_API_KEY_SECRET_ARN"), "{case}: {e}");
        assert!(e.contains(expect), "{case}: lacks {expect:?}: {e}");
        for secret in ["sandbox-secret-key-value", "sandbox-session-token-value"] {
            assert!(!e.contains(secret), "{case}: {e}");
        }
        eprintln!("{case}: {e}");
    }
}
