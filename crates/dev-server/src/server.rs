//! A running `temporal server start-dev` process: start (with port retries), readiness, the
//! addresses it serves, its log, stop and restart.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, RetryOptions, Url};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;

use crate::binary::{default_workspace_root, find_temporal_binary};
use crate::options::{PLACEHOLDER_ACCESS_KEY_ID, PLACEHOLDER_SECRET};
use crate::ports::{free_port, free_port_except};
use crate::process::{spawn_on_spawner_thread, terminate_group};
use crate::{DevServerError, DevServerOptions, WORKER_CONTROLLER_DYNAMIC_CONFIG};

/// Number of log lines included in start-up error messages.
const LOG_TAIL_LINES: usize = 40;

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
                Err(DevServerError::Exited { tail, log, .. })
                    if auto_ports && port_was_taken(&log, &tail) =>
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
                        .map_or(PLACEHOLDER_SECRET, |c| c.secret_access_key.expose()),
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

/// Whether a server that exited at start-up lost one of its ports to another process: the
/// listener's "address already in use" line is near the top of its log, and the Go panic that
/// follows it is longer than the tail an error keeps, so the whole log is read.
fn port_was_taken(log: &Path, tail: &str) -> bool {
    const BIND_FAILED: &str = "address already in use";
    tail.contains(BIND_FAILED)
        || fs::read_to_string(log).is_ok_and(|text| text.contains(BIND_FAILED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_lost_before_bind_is_seen_in_the_whole_log_not_only_its_tail() {
        let dir = std::env::temp_dir().join(format!("tds-port-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("server.log");
        let mut text = String::from(
            "level=ERROR msg=\"Failed to start gRPC listener\" error=\"listen tcp 127.0.0.1:45389: bind: address already in use\"\npanic: runtime error: invalid memory address\n",
        );
        for i in 0..200 {
            text.push_str(&format!("go.uber.org/dig.frame{i}()\n"));
        }
        fs::write(&log, &text).unwrap();
        let tail = read_tail(&log, 20);
        assert!(!tail.contains("address already in use"));
        assert!(port_was_taken(&log, &tail));
        fs::write(&log, "panic: something else\n").unwrap();
        assert!(!port_was_taken(&log, "panic: something else"));
        fs::remove_dir_all(&dir).ok();
    }

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
}
