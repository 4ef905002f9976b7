//! A local AWS for the deployment tests (shared by `crates/cli/tests` and
//! `examples/hello-worker/tests`, which includes it by path): `moto` in server mode (IAM + CloudFormation; PyPI
//! `moto[server]`, installed into `.venv` by scripts/test.sh), the project's Lambda + STS +
//! CloudWatch Logs emulator (whose STS reads role trust policies from moto), and the real
//! Temporal dev server invoking functions through the emulator.
//!
//! Only AWS itself is replaced (it cannot run here); every AWS call goes through the real AWS
//! SDK for Rust to these local endpoints on 127.0.0.1.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use temporal_dev_server::{DevServer, DevServerOptions};
use temporal_lambda_cli::aws::{Aws, Endpoints};
use temporal_lambda_cli::connect::ConnectArgs;
use temporal_lambda_emulator::{Emulator, EmulatorConfig, EmulatorHandle};

/// Held by each test that compiles a crate (`ship`'s `cargo zigbuild`, a new project's `cargo
/// build` and `cargo test`) for as long as it runs: the tests of this binary share one libtest
/// thread pool, and two compiles at once on a small machine only slow each other down and starve
/// the tests around them (which wait on deadlines).
pub(crate) static COMPILING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Static credentials the tests use (not secrets: local endpoints only).
pub(crate) const ACCESS_KEY: &str = "AKIATESTLOCAL0000000";
/// Secret key.
pub(crate) const SECRET_KEY: &str = "test-secret-key-local-only";
/// The principal the emulator reports for static credentials (what a self-hosted server is).
pub(crate) const SERVER_PRINCIPAL: &str = "arn:aws:iam::123456789012:user/emulator-user";
/// The execution role functions are created with.
pub(crate) const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/lambda-execution";

/// `moto_server` on a free port, killed (by PID) on drop.
pub(crate) struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn repo_root() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("Cargo.lock").exists() {
        d = d
            .parent()
            .expect("workspace root above the package")
            .to_path_buf();
    }
    d
}

pub(crate) fn venv_bin() -> PathBuf {
    repo_root().join(".venv/bin")
}

impl Moto {
    pub(crate) fn start(log: &Path) -> Moto {
        let bin = venv_bin().join("moto_server");
        assert!(
            bin.exists(),
            "{} missing: run scripts/test.sh (it installs moto[server] into .venv)",
            bin.display()
        );
        let port = temporal_dev_server::free_port().unwrap();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Ready when it accepts connections (it binds only after importing everything).
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start: see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }
}

pub(crate) struct TempDir(pub PathBuf);
impl TempDir {
    /// A fresh directory under the system temp dir, removed on drop.
    pub(crate) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything a deployment test needs. Field order is drop order: server, emulator, moto.
pub(crate) struct AwsRig {
    pub server: DevServer,
    pub emu: EmulatorHandle,
    pub moto: Moto,
    pub aws: Aws,
    pub endpoints: Endpoints,
    pub dir: TempDir,
}

impl AwsRig {
    pub(crate) async fn start(name: &str) -> AwsRig {
        let t = Instant::now();
        let dir = std::env::temp_dir().join(format!("tl-aws-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let moto = Moto::start(&dir.join("moto.log"));
        // The emulator verifies signatures: it accepts the key pair the tests sign with
        // (moto accepts any).
        let mut cfg = EmulatorConfig::new(dir.join("emu"))
            .with_compressed_async_retries()
            .with_credentials(temporal_lambda_emulator::Credentials::new(
                ACCESS_KEY, SECRET_KEY,
            ));
        cfg.iam_endpoint = Some(moto.url.clone());
        let emu = Emulator::start(cfg).await.unwrap();
        let server = DevServer::start(DevServerOptions {
            aws_endpoint: Some(emu.endpoint()),
            aws_credentials: Some(temporal_dev_server::AwsCredentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
            }),
            log_dir: Some(dir.join("server")),
            ..Default::default()
        })
        .await
        .unwrap();
        let endpoints = Endpoints {
            lambda: emu.endpoint(),
            iam: moto.url.clone(),
            cloudformation: moto.url.clone(),
            sts: emu.endpoint(),
            logs: emu.endpoint(),
        };
        eprintln!("[{:?}] rig up", t.elapsed());
        let aws = Aws::with_endpoints("us-east-1", ACCESS_KEY, SECRET_KEY, &endpoints).await;
        AwsRig {
            server,
            emu,
            moto,
            aws,
            endpoints,
            dir: TempDir(dir),
        }
    }

    pub(crate) fn conn(&self) -> ConnectArgs {
        ConnectArgs::local(self.server.address(), "default")
    }

    /// Runs a `temporal-lambda` binary with only this rig's environment.
    pub(crate) fn cli(&self, exe: &str, args: &[&str]) -> std::process::Output {
        Command::new(exe)
            .args(args)
            .env_clear()
            .envs(self.cli_env())
            .current_dir(&self.dir.0)
            .output()
            .unwrap()
    }

    /// Env for running the `temporal-lambda` binary against this rig through the standard AWS
    /// config chain (`AWS_ENDPOINT_URL_<SERVICE>`).
    pub(crate) fn cli_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            (
                "AWS_ENDPOINT_URL_LAMBDA".into(),
                self.endpoints.lambda.clone(),
            ),
            ("AWS_ENDPOINT_URL_STS".into(), self.endpoints.sts.clone()),
            ("AWS_ENDPOINT_URL_IAM".into(), self.endpoints.iam.clone()),
            (
                "AWS_ENDPOINT_URL_CLOUDFORMATION".into(),
                self.endpoints.cloudformation.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS".into(),
                self.endpoints.logs.clone(),
            ),
            ("TEMPORAL_ADDRESS".into(), self.server.address()),
            ("TEMPORAL_NAMESPACE".into(), "default".into()),
            ("HOME".into(), self.dir.0.display().to_string()),
            // cargo/rustup still need their own homes (derived from the real HOME by default).
            ("RUSTUP_HOME".into(), rust_home("RUSTUP_HOME", ".rustup")),
            ("CARGO_HOME".into(), rust_home("CARGO_HOME", ".cargo")),
            (
                "PATH".into(),
                format!(
                    "{}:{}",
                    venv_bin().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            ),
        ]
    }
}

fn rust_home(var: &str, dir: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        format!(
            "{}/{dir}",
            std::env::var("HOME").unwrap_or_else(|_| "/root".into())
        )
    })
}

/// A worker binary (e.g. hello-worker's `bootstrap`, stripped when `strip` is available) zipped
/// as a Lambda package. Zipped once per test binary; read-only.
pub(crate) fn sample_zip(bin: &Path) -> PathBuf {
    static ZIP: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ZIP.get_or_init(|| {
        let bin = bin.to_path_buf();
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sample-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stripped = dir.join("bootstrap");
        let ok = Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(&bin)
            .status()
            .is_ok_and(|s| s.success());
        let src = if ok { stripped } else { bin };
        let out = dir.join("function.zip");
        temporal_lambda_package::zip_bootstrap(&src, &[], &out).unwrap();
        out
    })
    .clone()
}

/// Copies the `bootstrap` entry of a Lambda zip to `out`.
pub(crate) fn extract_bootstrap(zip: &Path, out: &Path) {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut f = z.by_name("bootstrap").unwrap();
    std::io::copy(&mut f, &mut std::fs::File::create(out).unwrap()).unwrap();
}

pub(crate) fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The workflow results of a `local demo -o json` report (or one of its functions'), in order.
pub(crate) fn demo_results(report: &serde_json::Value) -> Vec<String> {
    report["workflows"]
        .as_array()
        .unwrap_or_else(|| panic!("no workflows in {report:#}"))
        .iter()
        .map(|w| w["result"].as_str().unwrap_or_default().to_string())
        .collect()
}
