//! Connect time of a fresh worker (`LambdaWorker::new` + the `check_connection` request: config
//! load, TLS setup, TCP + TLS handshake, `GetSystemInfo`, and the secret fetch when the key is in
//! Secrets Manager) — what each cold start pays before its first poll. Plaintext, TLS + API key,
//! mTLS and TLS + the API key read from Secrets Manager (moto), through a real nginx TLS front
//! before the real dev server, all on 127.0.0.1, interleaved so machine noise hits every row.
//!
//! `cargo run --release -p connect-latency -- [samples]` (default 25) prints a table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use hello_worker::{Greetings, HelloWorkflow};
use temporal_dev_server::{DevServer, DevServerOptions};
use temporal_lambda_tls_front::{TlsFront, TlsFrontOptions};
use temporal_lambda_worker::{
    invocation::InvocationInfo, LambdaWorker, LambdaWorkerConfig, VersioningBehavior,
    WorkerDeploymentVersion,
};

const KEY: &str = "bench-api-key";

struct Moto(Child, String);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn moto(dir: &Path) -> anyhow::Result<Moto> {
    let port = temporal_dev_server::free_port()?;
    let child = Command::new(repo_root().join(".venv/bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("moto.log"))?)
        .spawn()?;
    let m = Moto(child, format!("http://127.0.0.1:{port}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(m)
}

fn create_secret(moto: &Moto) -> anyhow::Result<String> {
    let out = Command::new(repo_root().join(".venv/bin/python"))
        .args(["-c", &format!(
            "import boto3; c = boto3.client('secretsmanager', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='AKIATEST', aws_secret_access_key='x'); print(c.create_secret(Name='bench', SecretString='{KEY}')['ARN'])",
            moto.1
        )])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

async fn sample(env: &HashMap<String, String>) -> anyhow::Result<u64> {
    let mut cfg = LambdaWorkerConfig::from_env(WorkerDeploymentVersion::new("bench", "b1"), env)?;
    cfg.task_queue = "bench".into();
    cfg.default_versioning_behavior = Some(VersioningBehavior::Pinned);
    cfg.register_workflow::<HelloWorkflow>()?;
    cfg.register_activities(Greetings);
    let started = std::time::Instant::now();
    let w = LambdaWorker::new(cfg)?;
    let r = w
        .check_connection(&InvocationInfo {
            request_id: "bench".into(),
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:bench:1".into(),
            deadline: SystemTime::now() + Duration::from_secs(30),
        })
        .await;
    anyhow::ensure!(r.ok, "{:?}", r.error);
    Ok(started.elapsed().as_micros() as u64)
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(25);
    let dir = tempfile::tempdir()?;
    let server = DevServer::start(DevServerOptions {
        log_dir: Some(dir.path().join("server")),
        ..Default::default()
    })
    .await?;
    let key_front = TlsFront::start(TlsFrontOptions {
        api_key: Some(KEY.into()),
        ..TlsFrontOptions::new(server.address(), dir.path().join("key"))
    })?;
    let mtls_front = TlsFront::start(TlsFrontOptions {
        mtls: true,
        ..TlsFrontOptions::new(server.address(), dir.path().join("mtls"))
    })?;
    let moto = moto(dir.path())?;
    let arn = create_secret(&moto)?;

    let base = |addr: String| {
        let mut e = HashMap::new();
        e.insert("TEMPORAL_ADDRESS".to_string(), addr);
        e
    };
    let plain = base(server.address());
    let mut key = base(key_front.address());
    key.insert("TEMPORAL_API_KEY".into(), KEY.into());
    key.insert(
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH".into(),
        key_front.pki().ca_cert_path.display().to_string(),
    );
    let mut mtls = base(mtls_front.address());
    let p = mtls_front.pki();
    for (k, v) in [
        ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", &p.ca_cert_path),
        ("TEMPORAL_TLS_CLIENT_CERT_PATH", &p.client_cert_path),
        ("TEMPORAL_TLS_CLIENT_KEY_PATH", &p.client_key_path),
    ] {
        mtls.insert(k.into(), v.display().to_string());
    }
    let mut secret = key.clone();
    secret.remove("TEMPORAL_API_KEY");
    for (k, v) in [
        ("TEMPORAL_API_KEY_SECRET_ARN", arn.as_str()),
        ("AWS_ENDPOINT_URL", moto.1.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "ASIABENCH"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
        ("AWS_SESSION_TOKEN", "t"),
    ] {
        secret.insert(k.into(), v.into());
    }
    let rows = [
        ("plaintext", plain),
        ("TLS + API key (env)", key),
        ("mTLS", mtls),
        ("TLS + API key (Secrets Manager)", secret),
    ];
    // One warm-up each (first-use costs of the process: not a cold start's).
    for (_, env) in &rows {
        sample(env).await?;
    }
    let mut times: Vec<Vec<u64>> = vec![Vec::new(); rows.len()];
    for _ in 0..n {
        for (i, (_, env)) in rows.iter().enumerate() {
            times[i].push(sample(env).await?);
        }
    }
    let plain_p50 = pct(&mut times[0].clone(), 0.5);
    println!("Fresh worker → connected (LambdaWorker::new + check_connection), {n} samples each, interleaved");
    println!("| connection | p50 ms | p90 ms | p50 / plaintext |");
    println!("|---|---:|---:|---:|");
    for (i, (name, _)) in rows.iter().enumerate() {
        let p50 = pct(&mut times[i], 0.5);
        let p90 = pct(&mut times[i], 0.9);
        println!("| {name} | {p50:.2} | {p90:.2} | {:.2}× |", p50 / plain_p50);
    }
    Ok(())
}
