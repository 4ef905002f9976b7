//! Connecting to the Temporal frontend (address, namespace, API key, TLS).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use temporalio_client::{ClientTlsOptions, Connection, ConnectionOptions, TlsOptions, Url};

/// Connection flags shared by every Temporal-side subcommand. Each falls back to the
/// `TEMPORAL_*` environment variable of the same meaning.
/// `Debug` shows no secret: the API key is a [`temporal_lambda_env::Secret`].
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ConnectArgs {
    /// Temporal frontend gRPC address (`host:port` or URL).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = temporal_lambda_env::connection::ADDRESS, default_value = "127.0.0.1:7233")
    )]
    pub address: String,
    /// Namespace.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            short = 'n',
            env = temporal_lambda_env::connection::NAMESPACE,
            default_value = "default"
        )
    )]
    pub namespace: String,
    /// API key (implies TLS unless `--tls=false`).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = temporal_lambda_env::connection::API_KEY, hide_env_values = true)
    )]
    pub api_key: Option<temporal_lambda_env::Secret>,
    /// Use TLS. Defaults to on when an API key or a client certificate is given.
    #[cfg_attr(feature = "clap", arg(long, env = temporal_lambda_env::connection::TLS, num_args = 0..=1, default_missing_value = "true"))]
    pub tls: Option<bool>,
    /// Client certificate (PEM) for mTLS.
    #[cfg_attr(feature = "clap", arg(long, env = temporal_lambda_env::connection::TLS_CLIENT_CERT_PATH))]
    pub tls_cert_path: Option<PathBuf>,
    /// Client private key (PEM) for mTLS.
    #[cfg_attr(feature = "clap", arg(long, env = temporal_lambda_env::connection::TLS_CLIENT_KEY_PATH))]
    pub tls_key_path: Option<PathBuf>,
    /// CA certificate (PEM) to verify the server with.
    #[cfg_attr(feature = "clap", arg(long, env = temporal_lambda_env::connection::TLS_SERVER_CA_CERT_PATH))]
    pub tls_ca_path: Option<PathBuf>,
    /// Server name to verify the server certificate against.
    #[cfg_attr(feature = "clap", arg(long, env = temporal_lambda_env::connection::TLS_SERVER_NAME))]
    pub tls_server_name: Option<String>,
    /// For the function (`deploy`, `ship`): read the API key from this Secrets Manager secret
    /// or SSM SecureString parameter ARN instead of storing it in the function's environment.
    /// The CLI's own calls still use `--api-key`. Must be such an ARN (checked before anything
    /// is written; a value that is not an ARN is never repeated).
    #[cfg_attr(feature = "clap", arg(
        long,
        env = temporal_lambda_env::connection::API_KEY_SECRET_ARN,
        hide_env_values = true,
        value_parser = crate::clap_args::quiet(crate::clap_args::parse_secret_arn)
    ))]
    pub api_key_secret_arn: Option<temporal_lambda_env::secret_arn::SecretArn>,
}

/// Errors while connecting.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not a valid `host:port`/URL.
    #[error("invalid Temporal address `{0}`: {1}")]
    Address(String, String),
    /// A TLS file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    File {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Only one of the client certificate / key was given.
    #[error("--tls-cert-path and --tls-key-path must be given together")]
    HalfMtls,
    /// The server could not be reached, or refused the TLS handshake or the credentials.
    #[error("cannot connect to Temporal at {address}: {message}{}", hint.map(|h| format!("\nFix: {h}")).unwrap_or_default())]
    Connect {
        /// The target URL.
        address: String,
        /// Underlying error.
        message: String,
        /// What it means and the fix, for TLS and authentication failures.
        hint: Option<&'static str>,
    },
}

impl ConnectArgs {
    /// Args for a plain-text local server.
    pub fn local(address: impl Into<String>, namespace: impl Into<String>) -> Self {
        ConnectArgs {
            address: address.into(),
            namespace: namespace.into(),
            api_key: None,
            tls: None,
            tls_cert_path: None,
            tls_key_path: None,
            tls_ca_path: None,
            tls_server_name: None,
            api_key_secret_arn: None,
        }
    }

    /// Whether the connection uses TLS (the shared rule,
    /// [`temporal_lambda_env::connection::tls_enabled`]).
    pub fn tls_enabled(&self) -> bool {
        temporal_lambda_env::connection::tls_enabled(
            self.tls,
            self.api_key.is_some() || self.api_key_secret_arn.is_some(),
            self.tls_cert_path.is_some()
                || self.tls_key_path.is_some()
                || self.tls_ca_path.is_some()
                || self.tls_server_name.is_some(),
        )
    }

    /// The target URL (`http(s)://host:port`).
    pub fn url(&self) -> Result<Url, ConnectError> {
        let raw = temporal_lambda_env::connection::server_url(&self.address, self.tls_enabled())
            .unwrap_or_default();
        Url::parse(&raw).map_err(|e| ConnectError::Address(self.address.clone(), e.to_string()))
    }

    fn tls_options(&self) -> Result<Option<TlsOptions>, ConnectError> {
        if !self.tls_enabled() {
            return Ok(None);
        }
        let read = |what: &'static str, path: &PathBuf| {
            std::fs::read(path).map_err(|source| ConnectError::File {
                what,
                path: path.clone(),
                source,
            })
        };
        let client_tls_options = match (&self.tls_cert_path, &self.tls_key_path) {
            (Some(c), Some(k)) => Some(
                ClientTlsOptions::builder()
                    .client_cert(read("client certificate", c)?)
                    .client_private_key(read("client key", k)?)
                    .build(),
            ),
            (None, None) => None,
            _ => return Err(ConnectError::HalfMtls),
        };
        let ca = self
            .tls_ca_path
            .as_ref()
            .map(|p| read("CA certificate", p))
            .transpose()?;
        Ok(Some(
            TlsOptions::builder()
                .maybe_server_root_ca_cert(ca)
                .maybe_domain(self.tls_server_name.clone())
                .maybe_client_tls_options(client_tls_options)
                .build(),
        ))
    }

    /// Connect to the frontend.
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let url = self.url()?;
        let opts = ConnectionOptions::new(url.clone())
            .identity(identity())
            .connect_timeout(Duration::from_secs(10))
            .maybe_tls_options(self.tls_options()?)
            .maybe_api_key(self.api_key.as_ref().map(|k| k.expose().to_owned()))
            .build();
        Connection::connect(opts).await.map_err(|e| {
            let message = temporal_lambda_env::connection::error_chain(&e);
            ConnectError::Connect {
                address: url.to_string(),
                hint: temporal_lambda_env::connection::connect_failure_hint(&message),
                message,
            }
        })
    }
}

/// Identity reported to the server: `temporal-lambda:<user>@<host>`.
pub fn identity() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("temporal-lambda:{user}@{host}")
}

/// Env for the function from Temporal connection settings (values may be secret: print keys only).
pub fn temporal_env(
    conn: &ConnectArgs,
    task_queue: Option<&str>,
    extra: &[(String, String)],
) -> BTreeMap<String, String> {
    use temporal_lambda_env::connection::{self as c, zip_paths};
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), "/tmp".to_string());
    env.insert(c::ADDRESS.to_string(), conn.address.clone());
    env.insert(c::NAMESPACE.to_string(), conn.namespace.clone());
    match &conn.api_key_secret_arn {
        Some(arn) => {
            env.insert(c::API_KEY_SECRET_ARN.to_string(), arn.as_str().to_string());
        }
        None => {
            if let Some(k) = &conn.api_key {
                env.insert(c::API_KEY.to_string(), k.expose().to_owned());
            }
        }
    }
    if conn.tls.is_some() || conn.tls_enabled() {
        env.insert(c::TLS.to_string(), conn.tls_enabled().to_string());
    }
    if let Some(n) = &conn.tls_server_name {
        env.insert(c::TLS_SERVER_NAME.to_string(), n.clone());
    }
    // The files themselves are packaged at these paths by `deploy` (see `connection_files`).
    if conn.tls_ca_path.is_some() {
        env.insert(
            c::TLS_SERVER_CA_CERT_PATH.to_string(),
            zip_paths::SERVER_CA_CERT.to_string(),
        );
    }
    if conn.tls_cert_path.is_some() {
        env.insert(
            c::TLS_CLIENT_CERT_PATH.to_string(),
            zip_paths::CLIENT_CERT.to_string(),
        );
    }
    if conn.tls_key_path.is_some() {
        env.insert(
            c::TLS_CLIENT_KEY_PATH.to_string(),
            zip_paths::CLIENT_KEY.to_string(),
        );
    }
    if let Some(q) = task_queue {
        env.insert(c::TASK_QUEUE.to_string(), q.to_string());
    }
    for (k, v) in extra {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// The connection's TLS files to package into the function's zip, at the fixed paths
/// [`temporal_env`] points the function's environment at.
pub fn connection_files(conn: &ConnectArgs) -> Vec<(String, PathBuf)> {
    use temporal_lambda_env::connection::zip_paths;
    [
        (zip_paths::SERVER_CA_CERT, &conn.tls_ca_path),
        (zip_paths::CLIENT_CERT, &conn.tls_cert_path),
        (zip_paths::CLIENT_KEY, &conn.tls_key_path),
    ]
    .into_iter()
    .filter_map(|(name, p)| p.as_ref().map(|p| (name.to_string(), p.clone())))
    .collect()
}
