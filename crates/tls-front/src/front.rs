//! A running nginx TLS front: start, API key rotation, readiness, stop.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::io_err;
use crate::files::{check_dir, own_dir, write_file};
use crate::nginx::find_nginx;
use crate::{check_api_key, check_upstream, Pki, TlsFrontError, TlsFrontOptions};

/// A running nginx TLS front; killed on drop.
pub struct TlsFront {
    child: Option<Child>,
    port: u16,
    pki: Pki,
    opts: TlsFrontOptions,
    error_log: PathBuf,
}

impl fmt::Debug for TlsFront {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFront")
            .field("address", &self.address())
            .field("opts", &self.opts)
            .finish()
    }
}

impl TlsFront {
    /// Generates the certificates and starts nginx; returns once it accepts connections.
    /// Refuses an API key outside [`API_KEY_CHARSET_RULE`](crate::API_KEY_CHARSET_RULE) and an upstream that is not
    /// `host:port` before writing anything. `dir` is the front's own: created or tightened to
    /// 0700 (a shared sticky directory such as `/tmp` itself is refused), as are `pki/`, `tmp/`
    /// and `logs/` in it; every file the front writes is 0600.
    pub fn start(opts: TlsFrontOptions) -> Result<TlsFront, TlsFrontError> {
        Self::check(&opts)?;
        let nginx = find_nginx()?;
        let dir = &opts.dir;
        own_dir(dir)?;
        let pki = Pki::generate(&dir.join("pki"), &opts)?;
        for sub in ["tmp", "logs"] {
            temporal_lambda_env::private_file::ensure_private_dir(&dir.join(sub)).map_err(
                io_err(format!("creating {} (0700)", dir.join(sub).display())),
            )?;
        }
        let port = match opts.port {
            Some(p) => p,
            None => free_port().map_err(io_err("picking a free port"))?,
        };
        let error_log = dir.join("logs/error.log");
        let mut front = TlsFront {
            child: None,
            port,
            pki,
            opts,
            error_log,
        };
        front.launch(&nginx)?;
        Ok(front)
    }

    /// Requires another API key from now on (a key rotation): nginx is restarted on the same
    /// port with the same certificates; connections made before are closed.
    pub fn set_api_key(
        &mut self,
        api_key: Option<temporal_lambda_env::Secret>,
    ) -> Result<(), TlsFrontError> {
        if let Some(k) = &api_key {
            check_api_key(k.expose())?;
        }
        let nginx = find_nginx()?;
        self.stop();
        self.opts.api_key = api_key;
        self.launch(&nginx)
    }

    /// What [`TlsFront::start`] refuses before writing anything.
    fn check(opts: &TlsFrontOptions) -> Result<(), TlsFrontError> {
        if let Some(k) = &opts.api_key {
            check_api_key(k.expose())?;
        }
        check_upstream(&opts.upstream)?;
        check_dir(&opts.dir)
    }

    fn launch(&mut self, nginx: &Path) -> Result<(), TlsFrontError> {
        let dir = self.opts.dir.clone();
        let dir = dir.as_path();
        let conf = crate::nginx::config(&self.opts, &self.pki, self.port, dir);
        let conf_path = dir.join("nginx.conf");
        let error_log = self.error_log.clone();
        // The config holds the API key: owner-only.
        write_file(&conf_path, &conf)?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(&error_log)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                temporal_lambda_env::private_file::create_private_file(
                    &dir.join("logs/stderr.log"),
                )
                .map_err(io_err("creating nginx's stderr log"))?,
            )
            .spawn()
            .map_err(io_err(format!("starting {}", nginx.display())))?;
        self.child = Some(child);
        self.wait_listening()
    }

    fn tail_log(&self) -> String {
        let s = std::fs::read_to_string(&self.error_log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn wait_listening(&mut self) -> Result<(), TlsFrontError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(TlsFrontError::NotStarted {
                        reason: format!("exited with {status}"),
                        log: self.error_log.clone(),
                        tail: self.tail_log(),
                    });
                }
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(TlsFrontError::NotStarted {
                    reason: format!("not listening on 127.0.0.1:{} after 20 s", self.port),
                    log: self.error_log.clone(),
                    tail: self.tail_log(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `127.0.0.1:<port>`: what clients connect to (with TLS).
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The run's certificates.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The options it was started with.
    pub fn options(&self) -> &TlsFrontOptions {
        &self.opts
    }

    /// nginx's error log (TLS handshake failures are logged here at `info`).
    pub fn error_log(&self) -> &Path {
        &self.error_log
    }

    /// Stops nginx (SIGTERM, then SIGKILL after 2 s). Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as libc::pid_t;
            // SAFETY: kill(2) on our own child's PID; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free TCP port on 127.0.0.1 for nginx to listen on (bind to port 0, read it back, release it).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
