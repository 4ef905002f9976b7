//! A real TLS-terminating gRPC front for a local Temporal server, so TLS, API keys and mTLS are
//! exercised as on Temporal Cloud: Debian's `nginx` (`listen ADDR ssl http2;` + `grpc_pass`),
//! with a CA, a server certificate and client certificates generated per run (`rcgen`).
//!
//! Modes: TLS + API key (a request without `authorization: Bearer <key>` is answered with
//! `grpc-status: 16`, UNAUTHENTICATED), mTLS (`ssl_verify_client on` against the run's CA), both,
//! or plain TLS; the server certificate can carry an extra name (to test a server-name override),
//! be expired or not yet valid. nginx runs in the foreground on a free 127.0.0.1 port and is
//! killed, by PID, when the [`TlsFront`] is dropped (also when a test panics).
//!
//! nginx is found through `TEMPORAL_LAMBDA_NGINX`, then `nginx` on `PATH`, then `/usr/sbin/nginx`
//! (Debian: `apt-get install nginx-light`; `scripts/test.sh` unpacks Debian's package into
//! `.venv/nginx` without installing it).
//!
//! ```no_run
//! use temporal_lambda_tls_front::{TlsFront, TlsFrontOptions};
//!
//! let front = TlsFront::start(TlsFrontOptions {
//!     api_key: Some("local-api-key".into()),
//!     ..TlsFrontOptions::new("127.0.0.1:7233", "/tmp/tls-front")
//! })
//! .unwrap();
//! // Connect to front.address() with TLS, trusting front.pki().ca_cert_path, and the API key.
//! println!("{} (CA {})", front.address(), front.pki().ca_cert_path.display());
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The name the server certificate is always valid for (besides `127.0.0.1`).
pub const DEFAULT_SERVER_NAME: &str = "localhost";

/// Errors starting the front.
#[derive(Debug, thiserror::Error)]
pub enum TlsFrontError {
    /// No nginx binary.
    #[error(
        "nginx not found (looked at TEMPORAL_LAMBDA_NGINX, PATH, /usr/sbin/nginx and .venv/nginx): \
         install it (`apt-get install nginx-light`, or scripts/install-nginx.sh in this repository) \
         or set TEMPORAL_LAMBDA_NGINX=/path/to/nginx"
    )]
    NginxMissing,
    /// Certificate generation failed.
    #[error("generating the {what} certificate: {source}")]
    Cert {
        /// Which certificate.
        what: &'static str,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The API key has a character nginx would interpret or that is not valid in a header.
    #[error(
        "the TLS front's API key may contain only {API_KEY_CHARSET_RULE}: nginx would read `$` \
         as a variable in its config, and the key must be a plain header value; {reason} (the \
         key is not shown). Use a key of those characters, e.g. base64url or hex"
    )]
    InvalidApiKey {
        /// Which character class was found, never the key.
        reason: &'static str,
    },
    /// The upstream is not `host:port`.
    #[error(
        "the TLS front's upstream `{upstream}` is not host:port ({reason}): use e.g. \
         127.0.0.1:7233 (a host name, IPv4 address or [IPv6] address, and a port 1-65535)"
    )]
    InvalidUpstream {
        /// The value given (an address, not a secret).
        upstream: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The front's directory holds characters nginx would interpret in its config.
    #[error(
        "the TLS front's directory {dir} contains `$`, `{{`, `}}`, `;` or a control character, \
         which nginx would interpret in its config: use another directory"
    )]
    InvalidDir {
        /// The directory.
        dir: PathBuf,
    },
    /// The front's directory is a shared one (sticky bit, like `/tmp`).
    #[error(
        "the TLS front's directory {dir} is shared (sticky, like /tmp): the front keeps its keys \
         and config in a directory of its own, made 0700; use e.g. {dir}/tls-front"
    )]
    SharedDir {
        /// The directory.
        dir: PathBuf,
    },
    /// nginx exited or did not listen in time.
    #[error("nginx did not start ({reason}); its error log {log}:\n{tail}")]
    NotStarted {
        /// Why.
        reason: String,
        /// Error log path.
        log: PathBuf,
        /// Last lines of the log.
        tail: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> TlsFrontError {
    let what = what.into();
    move |source| TlsFrontError::Io { what, source }
}

/// When the server certificate is valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerCertValidity {
    /// Valid now (1975 to 4096, rcgen's defaults).
    #[default]
    Valid,
    /// Expired in 2021.
    Expired,
    /// Valid only from 2090.
    NotYetValid,
}

/// What the front checks and presents.
#[derive(Clone)]
pub struct TlsFrontOptions {
    /// The plaintext gRPC server behind the front (`host:port`).
    pub upstream: String,
    /// Where certificates, config and logs go: the front's own directory, created or tightened
    /// to 0700; every file in it is 0600.
    pub dir: PathBuf,
    /// Require `authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Require a client certificate signed by the run's CA.
    pub mtls: bool,
    /// An extra DNS name in the server certificate (clients then override the server name);
    /// the certificate is always valid for [`DEFAULT_SERVER_NAME`] and `127.0.0.1` unless
    /// `only_server_name` is set.
    pub server_name: Option<String>,
    /// Issue the server certificate for `server_name` only (not `localhost`/`127.0.0.1`), so a
    /// client that does not override the server name fails verification.
    pub only_server_name: bool,
    /// The server certificate's validity window.
    pub validity: ServerCertValidity,
    /// A fixed port (default: a free one).
    pub port: Option<u16>,
}

impl fmt::Debug for TlsFrontOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFrontOptions")
            .field("upstream", &self.upstream)
            .field("dir", &self.dir)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("mtls", &self.mtls)
            .field("server_name", &self.server_name)
            .field("only_server_name", &self.only_server_name)
            .field("validity", &self.validity)
            .field("port", &self.port)
            .finish()
    }
}

impl TlsFrontOptions {
    /// Plain TLS in front of `upstream`, files under `dir`.
    pub fn new(upstream: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        TlsFrontOptions {
            upstream: upstream.into(),
            dir: dir.into(),
            api_key: None,
            mtls: false,
            server_name: None,
            only_server_name: false,
            validity: ServerCertValidity::Valid,
            port: None,
        }
    }
}

/// The run's certificates (PEM files).
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA that signed the server and client certificates.
    pub ca_cert_path: PathBuf,
    /// The server certificate nginx presents.
    pub server_cert_path: PathBuf,
    /// Its key.
    pub server_key_path: PathBuf,
    /// A client certificate the front trusts (mTLS).
    pub client_cert_path: PathBuf,
    /// Its key.
    pub client_key_path: PathBuf,
    /// A client certificate from another CA, which the front rejects.
    pub untrusted_client_cert_path: PathBuf,
    /// Its key.
    pub untrusted_client_key_path: PathBuf,
    /// A CA that signed nothing the front presents (a "wrong CA" for clients).
    pub other_ca_cert_path: PathBuf,
}

/// Writes every file of the front through the project's one private-file writer
/// ([`temporal_lambda_env::private_file::write_private`]): 0600, a fresh file created with
/// `O_EXCL` (never through a planted symlink, never keeping an older file's mode), renamed into
/// place. Certificates are not secret but gain nothing from being readable by others.
fn write_file(path: &Path, contents: &str) -> Result<(), TlsFrontError> {
    temporal_lambda_env::private_file::write_private(path, contents.as_bytes())
        .map_err(io_err(format!("writing {}", path.display())))
}

/// The characters an API key of the front may contain, as the error states them.
pub const API_KEY_CHARSET_RULE: &str = "[A-Za-z0-9._~+/=-] (letters, digits and . _ ~ + / = -)";

/// Checks the API key against [`API_KEY_CHARSET_RULE`]: nginx interpolates `$name` inside
/// strings (a key `k$http_x_k` would accept any `Bearer k…` plus a matching `X-K` header), and
/// quotes, backslashes, spaces or control characters do not belong in a header value. The
/// error names the rule, never the key.
pub fn check_api_key(key: &str) -> Result<(), TlsFrontError> {
    let reason = if key.is_empty() {
        "it is empty"
    } else if key.contains('$') {
        "it contains `$`"
    } else if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains whitespace or a control character"
    } else if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b))
    {
        "it contains another character"
    } else {
        return Ok(());
    };
    Err(TlsFrontError::InvalidApiKey { reason })
}

/// Checks that `upstream` is `host:port`: a host name or IPv4 address (letters, digits, `.`,
/// `-`) or a bracketed IPv6 address, and a port 1-65535; nothing nginx could read as more
/// config.
pub fn check_upstream(upstream: &str) -> Result<(), TlsFrontError> {
    let bad = |reason| {
        Err(TlsFrontError::InvalidUpstream {
            upstream: upstream.to_string(),
            reason,
        })
    };
    let Some((host, port)) = upstream.rsplit_once(':') else {
        return bad("no `:port`");
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
        _ => return bad("the port is not a number 1-65535"),
    }
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && !host.starts_with(['-', '.'])
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
    };
    if !host_ok {
        return bad("the host is not a host name, IPv4 address or [IPv6] address");
    }
    Ok(())
}

/// Makes `dir` the front's own: created or tightened to 0700; a shared sticky directory such as
/// `/tmp` is refused rather than tightened.
fn own_dir(dir: &Path) -> Result<(), TlsFrontError> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(dir) {
        if m.permissions().mode() & 0o1000 != 0 {
            return Err(TlsFrontError::SharedDir {
                dir: dir.to_path_buf(),
            });
        }
    }
    temporal_lambda_env::private_file::ensure_private_dir(dir)
        .map_err(io_err(format!("creating {} (0700)", dir.display())))
}

/// Refuses a directory nginx would read as more than a path inside a quoted string.
fn check_dir(dir: &Path) -> Result<(), TlsFrontError> {
    let s = dir.to_string_lossy();
    if s.chars()
        .any(|c| matches!(c, '$' | '{' | '}' | ';') || c.is_control())
    {
        return Err(TlsFrontError::InvalidDir {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

fn cert_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> TlsFrontError {
    move |source| TlsFrontError::Cert { what, source }
}

fn ca(name: &str) -> Result<(rcgen::Certificate, KeyPair), TlsFrontError> {
    let key = KeyPair::generate().map_err(cert_err("CA"))?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(cert_err("CA"))?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).map_err(cert_err("CA"))?;
    Ok((cert, key))
}

fn leaf(
    what: &'static str,
    names: Vec<String>,
    ip: bool,
    purpose: ExtendedKeyUsagePurpose,
    validity: ServerCertValidity,
    issuer: &rcgen::Certificate,
    issuer_key: &KeyPair,
) -> Result<(String, String), TlsFrontError> {
    let key = KeyPair::generate().map_err(cert_err(what))?;
    let mut p = CertificateParams::new(names).map_err(cert_err(what))?;
    if ip {
        p.subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    }
    p.distinguished_name
        .push(DnType::CommonName, format!("temporal-lambda test {what}"));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![purpose];
    match validity {
        ServerCertValidity::Valid => {}
        ServerCertValidity::Expired => {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        ServerCertValidity::NotYetValid => {
            p.not_before = rcgen::date_time_ymd(2090, 1, 1);
            p.not_after = rcgen::date_time_ymd(2091, 1, 1);
        }
    }
    let cert = p
        .signed_by(&key, issuer, issuer_key)
        .map_err(cert_err(what))?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Generates a CA, a server certificate and client certificates into `dir` (made 0700;
    /// every file 0600, keys included).
    pub fn generate(dir: &Path, opts: &TlsFrontOptions) -> Result<Pki, TlsFrontError> {
        temporal_lambda_env::private_file::ensure_private_dir(dir)
            .map_err(io_err(format!("creating {} (0700)", dir.display())))?;
        let (ca_cert, ca_key) = ca("temporal-lambda test CA")?;
        let (other_cert, other_key) = ca("temporal-lambda untrusted CA")?;
        let mut names = Vec::new();
        if !opts.only_server_name {
            names.push(DEFAULT_SERVER_NAME.to_string());
        }
        names.extend(opts.server_name.iter().cloned());
        let (server_cert, server_key) = leaf(
            "server",
            names,
            !opts.only_server_name,
            ExtendedKeyUsagePurpose::ServerAuth,
            opts.validity,
            &ca_cert,
            &ca_key,
        )?;
        let (client_cert, client_key) = leaf(
            "client",
            vec!["temporal-lambda-worker".into()],
            false,
            ExtendedKeyUsagePurpose::ClientAuth,
            ServerCertValidity::Valid,
            &ca_cert,
            &ca_key,
        )?;
        let (bad_cert, bad_key) = leaf(
            "untrusted client",
            vec!["temporal-lambda-worker".into()],
            false,
            ExtendedKeyUsagePurpose::ClientAuth,
            ServerCertValidity::Valid,
            &other_cert,
            &other_key,
        )?;
        let pki = Pki {
            ca_cert_path: dir.join("ca.pem"),
            server_cert_path: dir.join("server.pem"),
            server_key_path: dir.join("server.key"),
            client_cert_path: dir.join("client.pem"),
            client_key_path: dir.join("client.key"),
            untrusted_client_cert_path: dir.join("untrusted-client.pem"),
            untrusted_client_key_path: dir.join("untrusted-client.key"),
            other_ca_cert_path: dir.join("other-ca.pem"),
        };
        write_file(&pki.ca_cert_path, &ca_cert.pem())?;
        write_file(&pki.other_ca_cert_path, &other_cert.pem())?;
        write_file(&pki.server_cert_path, &server_cert)?;
        write_file(&pki.server_key_path, &server_key)?;
        write_file(&pki.client_cert_path, &client_cert)?;
        write_file(&pki.client_key_path, &client_key)?;
        write_file(&pki.untrusted_client_cert_path, &bad_cert)?;
        write_file(&pki.untrusted_client_key_path, &bad_key)?;
        Ok(pki)
    }
}

/// The nginx binary: `TEMPORAL_LAMBDA_NGINX`, `nginx` on `PATH`, `/usr/sbin/nginx`, or
/// `.venv/nginx/usr/sbin/nginx` in the current directory or one above it.
pub fn find_nginx() -> Result<PathBuf, TlsFrontError> {
    if let Some(p) = std::env::var_os("TEMPORAL_LAMBDA_NGINX").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("nginx"))
        .chain([PathBuf::from("/usr/sbin/nginx")])
        // `scripts/install-nginx.sh` unpacks it into the project's `.venv`.
        .chain(std::env::current_dir().ok().into_iter().flat_map(|d| {
            d.ancestors()
                .map(|a| a.join(".venv/nginx/usr/sbin/nginx"))
                .collect::<Vec<_>>()
        }))
        .find(|p| p.is_file());
    on_path.ok_or(TlsFrontError::NginxMissing)
}

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

/// An nginx string literal: the value in double quotes, `"` and `\` escaped. nginx still
/// interpolates `$name` inside it, so values are checked first ([`check_api_key`], the
/// directory).
fn nginx_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl TlsFront {
    /// Generates the certificates and starts nginx; returns once it accepts connections.
    /// Refuses an API key outside [`API_KEY_CHARSET_RULE`] and an upstream that is not
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
            None => temporal_dev_server::free_port().map_err(io_err("picking a free port"))?,
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
    pub fn set_api_key(&mut self, api_key: Option<String>) -> Result<(), TlsFrontError> {
        if let Some(k) = &api_key {
            check_api_key(k)?;
        }
        let nginx = find_nginx()?;
        self.stop();
        self.opts.api_key = api_key;
        self.launch(&nginx)
    }

    /// What [`TlsFront::start`] refuses before writing anything.
    fn check(opts: &TlsFrontOptions) -> Result<(), TlsFrontError> {
        if let Some(k) = &opts.api_key {
            check_api_key(k)?;
        }
        check_upstream(&opts.upstream)?;
        check_dir(&opts.dir)
    }

    fn launch(&mut self, nginx: &Path) -> Result<(), TlsFrontError> {
        let dir = self.opts.dir.clone();
        let dir = dir.as_path();
        let conf = Self::config(&self.opts, &self.pki, self.port, dir);
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

    fn config(opts: &TlsFrontOptions, pki: &Pki, port: u16, dir: &Path) -> String {
        let q = |p: &Path| nginx_quote(&p.display().to_string());
        let tmp = |sub: &str| q(&dir.join("tmp").join(sub));
        let mut auth = String::new();
        if let Some(key) = &opts.api_key {
            auth = format!(
                "            if ($http_authorization != {}) {{ return 418; }}\n",
                nginx_quote(&format!("Bearer {key}"))
            );
        }
        let mtls = if opts.mtls {
            format!(
                "        ssl_client_certificate {};\n        ssl_verify_client on;\n",
                q(&pki.ca_cert_path)
            )
        } else {
            String::new()
        };
        format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {pid};
events {{ worker_connections 1024; }}
http {{
    access_log {access};
    client_body_temp_path {body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    http2_max_requests 1000000;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
{mtls}        error_page 418 = @unauthenticated;
        error_page 495 496 = @client_cert_rejected;
        location / {{
{auth}            grpc_pass grpc://{upstream};
            grpc_read_timeout 600s;
            grpc_send_timeout 600s;
        }}
        location @unauthenticated {{
            default_type application/grpc;
            add_header grpc-status 16 always;
            add_header grpc-message "invalid or missing API key" always;
            return 200 "";
        }}
        location @client_cert_rejected {{
            default_type application/grpc;
            add_header grpc-status 16 always;
            add_header grpc-message "client certificate missing or not trusted" always;
            return 200 "";
        }}
    }}
}}
"#,
            pid = q(&dir.join("nginx.pid")),
            access = q(&dir.join("logs/access.log")),
            body = tmp("body"),
            proxy = tmp("proxy"),
            fastcgi = tmp("fastcgi"),
            uwsgi = tmp("uwsgi"),
            scgi = tmp("scgi"),
            cert = q(&pki.server_cert_path),
            key = q(&pki.server_key_path),
            upstream = opts.upstream,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// nginx interpolates `$` in the config's strings: such a key is refused, by a message that
    /// names the rule and not the key, before anything is written.
    #[test]
    fn api_keys_outside_the_rule_are_refused_without_being_shown() {
        for bad in [
            "k$http_x_k",
            "a b",
            "q\"uote",
            "back\\slash",
            "semi;colon",
            "{x}",
            "",
        ] {
            let e = check_api_key(bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(API_KEY_CHARSET_RULE), "{msg}");
            if bad.len() > 3 {
                assert!(!msg.contains(bad), "{msg}");
            }
        }
        for good in [
            "rig-0123456789abcdef0123456789abcdef",
            "tmprl_AbC.dEf~1+2/3==",
            "local-api-key",
        ] {
            check_api_key(good).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("tl-front-refused-{}", std::process::id()));
        let e = TlsFront::start(TlsFrontOptions {
            api_key: Some("k$http_x_k".into()),
            ..TlsFrontOptions::new("127.0.0.1:7233", &dir)
        })
        .unwrap_err();
        assert!(matches!(e, TlsFrontError::InvalidApiKey { .. }), "{e}");
        assert!(!dir.exists(), "nothing is written before the checks pass");
    }

    #[test]
    fn the_upstream_must_be_host_port() {
        for good in [
            "127.0.0.1:7233",
            "localhost:1",
            "[::1]:7233",
            "temporal-frontend.ns:7233",
        ] {
            check_upstream(good).unwrap();
        }
        for bad in [
            "127.0.0.1",
            "h:0",
            "h:70000",
            "h:x",
            ":7233",
            "h:7233; return 200",
            "h;x:7233",
            "$host:7233",
            "[nope]:7233",
            "unix:/x",
        ] {
            let e = check_upstream(bad).unwrap_err();
            assert!(e.to_string().contains("host:port"), "{bad}: {e}");
        }
    }

    /// Keys and certificates go through the private-file writer (0600, never through a planted
    /// symlink, an older file's mode not kept), in 0700 directories.
    #[test]
    fn keys_are_written_privately_in_private_directories() {
        let dir = std::env::temp_dir().join(format!("tl-front-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pki_dir = dir.join("pki");
        std::fs::create_dir_all(&pki_dir).unwrap();
        std::fs::set_permissions(&pki_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, pki_dir.join("server.key")).unwrap();
        std::fs::write(pki_dir.join("client.key"), "old").unwrap();
        std::fs::set_permissions(
            pki_dir.join("client.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let pki = Pki::generate(&pki_dir, &TlsFrontOptions::new("127.0.0.1:1", &dir)).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(mode(&pki_dir), 0o700);
        for p in [
            &pki.server_key_path,
            &pki.client_key_path,
            &pki.untrusted_client_key_path,
            &pki.ca_cert_path,
        ] {
            assert_eq!(mode(p), 0o600, "{}", p.display());
            assert!(std::fs::symlink_metadata(p).unwrap().is_file());
        }
        assert!(std::fs::read_to_string(&pki.server_key_path)
            .unwrap()
            .contains("PRIVATE KEY"));
        // The front's own directory is made private; a shared sticky one is refused.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        own_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let sticky = dir.join("sticky");
        std::fs::create_dir(&sticky).unwrap();
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(matches!(
            own_dir(&sticky),
            Err(TlsFrontError::SharedDir { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
