//! Configuration: the Temporal connection (env `TEMPORAL_*`, TOML profile file, code), the worker's
//! Lambda-tuned defaults and the shutdown budget.
//!
//! Precedence is the Temporal "environment configuration" convention: the TOML profile file is
//! read first, environment variables override it, and code (the `configure` closure) overrides
//! both. File lookup: `TEMPORAL_CONFIG_FILE`, else `$LAMBDA_TASK_ROOT/temporal.toml`, else
//! `./temporal.toml`; the profile is `TEMPORAL_PROFILE` (default `default`).

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use temporalio_client::{ClientTlsOptions, ConnectionOptions, TlsOptions, Url};
use temporalio_common::envconfig::{
    load_client_config_profile, ClientConfigProfile, ConfigError, DataSource,
    LoadClientConfigProfileOptions,
};

use crate::Error;
pub use temporal_lambda_env::Secret;

/// Default Temporal address when none is configured.
pub const DEFAULT_ADDRESS: &str = "localhost:7233";
/// Default namespace when none is configured.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Where a TLS certificate or key comes from.
#[derive(Clone, PartialEq)]
pub enum TlsSource {
    /// A file path (bundled with the function or on a layer).
    Path(PathBuf),
    /// Inline PEM data. Shown as `<redacted>` in `Debug` output.
    Data(Secret),
}

impl fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            TlsSource::Data(_) => f.write_str("Data(<redacted>)"),
        }
    }
}

impl TlsSource {
    fn read(&self, setting: &'static str) -> Result<Vec<u8>, Error> {
        match self {
            TlsSource::Data(d) => Ok(d.expose().as_bytes().to_vec()),
            TlsSource::Path(p) => std::fs::read(p).map_err(|e| Error::TlsFileUnreadable {
                setting,
                path: p.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    fn from_data_source(ds: DataSource) -> Self {
        match ds {
            DataSource::Path(p) => TlsSource::Path(PathBuf::from(p)),
            DataSource::Data(d) => TlsSource::Data(Secret::new(String::from_utf8_lossy(&d))),
            // DataSource is non-exhaustive; treat anything new as inline data.
            #[allow(unreachable_patterns)]
            _ => TlsSource::Data(Secret::default()),
        }
    }
}

/// TLS settings for the Temporal connection (`[profile.<name>.tls]` or `TEMPORAL_TLS_*`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsConfig {
    /// Client certificate for mTLS (`client_cert_path` / `TEMPORAL_TLS_CLIENT_CERT_PATH`).
    pub client_cert: Option<TlsSource>,
    /// Client private key for mTLS (`client_key_path` / `TEMPORAL_TLS_CLIENT_KEY_PATH`).
    pub client_key: Option<TlsSource>,
    /// CA certificate to trust for the server (`server_ca_cert_path`).
    pub server_ca_cert: Option<TlsSource>,
    /// SNI / server name override (`server_name` / `TEMPORAL_TLS_SERVER_NAME`).
    pub server_name: Option<String>,
}

/// How to reach Temporal. Loaded from the profile file and `TEMPORAL_*` variables; change any
/// field in the `configure` closure to override both.
/// `Debug` shows no secret: the API key and the gRPC metadata values are [`Secret`]s.
#[derive(Clone, PartialEq, Debug)]
pub struct ConnectionConfig {
    /// `host:port` or URL of the Temporal frontend (`TEMPORAL_ADDRESS`).
    pub address: String,
    /// Namespace (`TEMPORAL_NAMESPACE`).
    pub namespace: String,
    /// API key (`TEMPORAL_API_KEY`). Implies TLS unless TLS is explicitly disabled.
    pub api_key: Option<Secret>,
    /// TLS settings; `None` means plain-text unless an API key is set.
    pub tls: Option<TlsConfig>,
    /// TLS explicitly disabled (`tls.disabled = true` / `TEMPORAL_TLS=false`).
    pub tls_disabled: bool,
    /// Extra gRPC metadata (`TEMPORAL_GRPC_META_*`). Values are redacted in `Debug`.
    pub grpc_meta: HashMap<String, Secret>,
    /// Which config file the settings came from, if any (for messages).
    pub config_file: Option<PathBuf>,
    /// Which profile was used.
    pub profile: String,
    /// Read the API key from AWS Secrets Manager or SSM Parameter Store instead
    /// (`TEMPORAL_API_KEY_SECRET_ARN`): once per execution environment, again after the server
    /// rejects it (rotation).
    pub api_key_secret: Option<ApiKeySecret>,
}

/// Where the API key is stored (`TEMPORAL_API_KEY_SECRET_ARN`), and the sandbox's AWS settings
/// to read it with (the execution role's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
/// `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL*`), captured at load.
#[derive(Clone, PartialEq)]
pub struct ApiKeySecret {
    /// Secrets Manager secret ARN or SSM parameter ARN.
    pub arn: String,
    /// The `AWS_*` variables of the environment (values redacted in `Debug`).
    pub aws_env: HashMap<String, String>,
}

impl ApiKeySecret {
    /// The ARN as it may be shown in errors, logs and `Debug`: by the shared rule, a value that
    /// is not an ARN (e.g. the API key pasted into the wrong setting) is `<redacted: not an ARN>`.
    pub fn shown_arn(&self) -> temporal_lambda_env::EnvValue {
        temporal_lambda_env::EnvValue::new(
            temporal_lambda_env::connection::API_KEY_SECRET_ARN,
            self.arn.clone(),
        )
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySecret")
            .field("arn", &self.shown_arn())
            .field("aws_env", &self.aws_env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            api_key: None,
            tls: None,
            tls_disabled: false,
            grpc_meta: HashMap::new(),
            config_file: None,
            profile: "default".to_owned(),
            api_key_secret: None,
        }
    }
}

impl ConnectionConfig {
    /// Whether the connection will use TLS: when a TLS section is present and not disabled, or
    /// when an API key is set and TLS is not disabled (the Temporal convention).
    pub fn uses_tls(&self) -> bool {
        !self.tls_disabled
            && (self.tls.is_some() || self.api_key.is_some() || self.api_key_secret.is_some())
    }

    /// Load from the config file and the given environment (normally `std::env::vars()`).
    pub fn load(env: &HashMap<String, String>) -> Result<Self, Error> {
        let (file, bytes) = locate_config_file(env)?;
        let file_name = file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<no temporal.toml found>".to_owned());
        let profile_name = env
            .get(temporal_lambda_env::connection::PROFILE)
            .filter(|p| !p.is_empty())
            .cloned()
            .unwrap_or_else(|| "default".to_owned());
        let options = LoadClientConfigProfileOptions::builder()
            .config_source(DataSource::Data(bytes))
            .build();
        let profile = load_client_config_profile(options, Some(env)).map_err(|e| match e {
            ConfigError::ProfileNotFound(profile) => Error::UnknownProfile {
                profile,
                path: file_name.clone(),
            },
            ConfigError::LoadError(reason) if file.is_some() => Error::ConfigFileInvalid {
                path: file_name.clone(),
                reason: without_source_excerpt(&reason.to_string()),
            },
            other => Error::InvalidClientConfig(other.to_string()),
        })?;
        let mut cfg = Self::from_profile(profile);
        // `deploy` packages TLS files into the zip and points the environment at relative paths
        // (`temporal-tls/…`): they are relative to the task root (`/var/task`), not the cwd.
        if let Some(root) = env.get("LAMBDA_TASK_ROOT").filter(|r| !r.is_empty()) {
            if let Some(tls) = cfg.tls.as_mut() {
                for src in [
                    &mut tls.client_cert,
                    &mut tls.client_key,
                    &mut tls.server_ca_cert,
                ]
                .into_iter()
                .flatten()
                {
                    if let TlsSource::Path(p) = src {
                        if p.is_relative() {
                            *p = Path::new(root).join(&*p);
                        }
                    }
                }
            }
        }
        if let Some(arn) = env
            .get(temporal_lambda_env::connection::API_KEY_SECRET_ARN)
            .filter(|a| !a.is_empty())
        {
            cfg.api_key_secret = Some(ApiKeySecret {
                arn: arn.clone(),
                aws_env: env
                    .iter()
                    .filter(|(k, _)| k.starts_with("AWS_"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
        cfg.config_file = file;
        cfg.profile = profile_name;
        Ok(cfg)
    }

    fn from_profile(profile: ClientConfigProfile) -> Self {
        let mut cfg = ConnectionConfig::default();
        if let Some(a) = profile.address.filter(|a| !a.is_empty()) {
            cfg.address = a;
        }
        if let Some(n) = profile.namespace.filter(|n| !n.is_empty()) {
            cfg.namespace = n;
        }
        cfg.api_key = profile.api_key.filter(|k| !k.is_empty()).map(Secret::new);
        if let Some(tls) = profile.tls {
            cfg.tls_disabled = tls.disabled == Some(true);
            cfg.tls = Some(TlsConfig {
                client_cert: tls.client_cert.map(TlsSource::from_data_source),
                client_key: tls.client_key.map(TlsSource::from_data_source),
                server_ca_cert: tls.server_ca_cert.map(TlsSource::from_data_source),
                server_name: tls.server_name,
            });
        }
        cfg.grpc_meta = profile
            .grpc_meta
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect();
        cfg
    }

    /// Read the TLS material now, so unreadable files are reported at start-up with the setting
    /// that named them.
    pub fn tls_options(&self) -> Result<Option<TlsOptions>, Error> {
        if !self.uses_tls() {
            return Ok(None);
        }
        let Some(tls) = &self.tls else {
            return Ok(Some(TlsOptions::default()));
        };
        let cert = tls
            .client_cert
            .as_ref()
            .map(|s| {
                s.read(
                    "TLS client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH / tls.client_cert_path)",
                )
            })
            .transpose()?;
        let key = tls
            .client_key
            .as_ref()
            .map(|s| s.read("TLS client key (TEMPORAL_TLS_CLIENT_KEY_PATH / tls.client_key_path)"))
            .transpose()?;
        let ca = tls
            .server_ca_cert
            .as_ref()
            .map(|s| {
                s.read("TLS server CA certificate (TEMPORAL_TLS_SERVER_CA_CERT_PATH / tls.server_ca_cert_path)")
            })
            .transpose()?;
        let client = match (cert, key) {
            (Some(client_cert), Some(client_private_key)) => Some(
                ClientTlsOptions::builder()
                    .client_cert(client_cert)
                    .client_private_key(client_private_key)
                    .build(),
            ),
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::MissingSetting {
                    setting: "TLS client key (TEMPORAL_TLS_CLIENT_KEY_PATH)",
                    fix:
                        "a client certificate is set without its key: set both for mTLS, or neither",
                })
            }
            (None, Some(_)) => {
                return Err(Error::MissingSetting {
                    setting: "TLS client certificate (TEMPORAL_TLS_CLIENT_CERT_PATH)",
                    fix:
                        "a client key is set without its certificate: set both for mTLS, or neither",
                })
            }
        };
        Ok(Some(
            TlsOptions::builder()
                .maybe_server_root_ca_cert(ca)
                .maybe_domain(tls.server_name.clone())
                .maybe_client_tls_options(client)
                .build(),
        ))
    }

    /// The server URL, with a scheme chosen from the TLS setting when the address has none.
    pub fn url(&self) -> Result<Url, Error> {
        let addr = self.address.trim();
        let url = temporal_lambda_env::connection::server_url(addr, self.uses_tls()).ok_or(
            Error::MissingSetting {
                setting: "Temporal address (TEMPORAL_ADDRESS)",
                fix: "set TEMPORAL_ADDRESS=host:port, `address` in temporal.toml, or config.connection.address",
            },
        )?;
        Url::parse(&url).map_err(|e| {
            Error::InvalidClientConfig(format!(
                "TEMPORAL_ADDRESS={addr} is not a valid host:port ({e}); use e.g. my-ns.a1b2c.tmprl.cloud:7233"
            ))
        })
    }

    /// Build the SDK's connection options with the given identity and connect timeout.
    pub fn connection_options(
        &self,
        identity: String,
        connect_timeout: Duration,
    ) -> Result<ConnectionOptions, Error> {
        let headers = (!self.grpc_meta.is_empty()).then(|| {
            self.grpc_meta
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect::<HashMap<_, _>>()
        });
        Ok(ConnectionOptions::new(self.url()?)
            .identity(identity)
            .connect_timeout(connect_timeout)
            .maybe_api_key(self.api_key.as_ref().map(|k| k.expose().to_owned()))
            .maybe_tls_options(self.tls_options()?)
            .maybe_headers(headers)
            .build())
    }
}

/// A TOML parse error without the excerpt of the offending line, which may hold a secret
/// (`api_key = "…"`): the line and column numbers are kept.
/// A TOML error's message without the source excerpt (`12 | api_key = "…"`) and with every
/// double-quoted value masked (`invalid type: string "…"`): either could be a secret.
fn without_source_excerpt(reason: &str) -> String {
    mask_quoted(reason)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| {
            let rest = l
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            !rest.starts_with('|')
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// Replaces the contents of every `"…"` span with `…` (field names, in backticks, stay).
fn mask_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for c in s.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// Find the TOML config file: `TEMPORAL_CONFIG_FILE` (must exist), else
/// `$LAMBDA_TASK_ROOT/temporal.toml`, else `./temporal.toml`. Returns its path and bytes (empty
/// when there is no file, so that a `TEMPORAL_PROFILE` naming a missing profile is an error).
pub(crate) fn locate_config_file(
    env: &HashMap<String, String>,
) -> Result<(Option<PathBuf>, Vec<u8>), Error> {
    if let Some(p) = env
        .get(temporal_lambda_env::connection::CONFIG_FILE)
        .filter(|p| !p.is_empty())
    {
        let bytes = std::fs::read(p).map_err(|e| Error::ConfigFileUnreadable {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        return Ok((Some(PathBuf::from(p)), bytes));
    }
    let mut candidates = Vec::new();
    if let Some(root) = env.get("LAMBDA_TASK_ROOT").filter(|p| !p.is_empty()) {
        candidates.push(Path::new(root).join("temporal.toml"));
    }
    candidates.push(PathBuf::from("temporal.toml"));
    for c in candidates {
        if c.is_file() {
            let bytes = std::fs::read(&c).map_err(|e| Error::ConfigFileUnreadable {
                path: c.display().to_string(),
                reason: e.to_string(),
            })?;
            return Ok((Some(c), bytes));
        }
    }
    Ok((None, Vec::new()))
}

/// Snapshot of the process environment as a map (what [`ConnectionConfig::load`] expects).
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

mod concurrency;
mod tuning;

pub use concurrency::{
    ConcurrencyError, ConcurrencySettings, Residency, DEFAULT_MEMORY_GIB_PER_VCPU,
    MAX_CONCURRENCY_ENV, MEMORY_SIZE_ENV,
};

pub use tuning::{
    parse_idle_exit, ShutdownSettings, WorkerTuning, DEFAULT_FIRST_TASK_WAIT, DEFAULT_IDLE_EXIT,
    IDLE_EXIT_ENV, MIN_SAFE_IDLE_EXIT,
};
