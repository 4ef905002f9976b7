//! What a dev server is started with: [`DevServerOptions`] and the AWS key pair it signs with.

use std::path::PathBuf;
use std::time::Duration;

/// Options for [`DevServer::start`](crate::DevServer::start). `Default` gives an in-memory server with the Worker
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
    /// SQLite file to persist state in (kept across [`DevServer::restart`](crate::DevServer::restart)); in-memory when `None`.
    pub db_file: Option<PathBuf>,
    /// Directory for the server log; defaults to `$TMPDIR/temporal-dev-server`.
    pub log_dir: Option<PathBuf>,
    /// Server log level (`debug`, `info`, `warn`, `error`); default `warn`.
    pub log_level: String,
    /// gRPC port; a free port is picked when `None`.
    pub port: Option<u16>,
    /// HTTP API port; a free port is picked when `None`.
    pub http_port: Option<u16>,
    /// Explicit `temporal` binary; otherwise see [`find_temporal_binary`](crate::find_temporal_binary).
    pub temporal_binary: Option<PathBuf>,
    /// Extra environment variables for the server process.
    pub extra_env: Vec<(String, String)>,
    /// Extra command line arguments appended to `temporal server start-dev`.
    pub extra_args: Vec<String>,
    /// How long to wait for the server to accept connections and serve the namespace.
    pub startup_timeout: Duration,
    /// Serve the Temporal Web UI on a free port (see [`DevServer::ui_url`](crate::DevServer::ui_url)); headless when
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

/// The key pair the server gets when [`DevServerOptions::aws_credentials`] is `None`.
pub(crate) const PLACEHOLDER_ACCESS_KEY_ID: &str = "AKIDLOCALTEMPORALDEV";
pub(crate) const PLACEHOLDER_SECRET: &str = "placeholder-not-accepted-by-the-emulator";

/// An AWS access key pair for [`DevServerOptions::aws_credentials`]. `Debug` hides the secret
/// (a [`temporal_lambda_env::Secret`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AwsCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`. Secret.
    pub secret_access_key: temporal_lambda_env::Secret,
}
