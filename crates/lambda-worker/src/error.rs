//! Errors returned by the Lambda worker. Every message names the setting or resource involved
//! and what to do about it.

use std::time::Duration;

/// Everything that can go wrong while configuring or running a Lambda worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `TEMPORAL_CONFIG_FILE` points at a file that does not exist or cannot be read.
    #[error("cannot read Temporal config file {path} (from TEMPORAL_CONFIG_FILE): {reason}; fix the path or unset TEMPORAL_CONFIG_FILE")]
    ConfigFileUnreadable {
        /// The path that was tried.
        path: String,
        /// Why reading failed.
        reason: String,
    },
    /// The TOML config file is not valid.
    #[error("invalid Temporal config file {path}: {reason}; fix the TOML (profiles live under [profile.<name>])")]
    ConfigFileInvalid {
        /// The file that failed to parse.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// `TEMPORAL_PROFILE` names a profile that the config file does not have.
    #[error("TEMPORAL_PROFILE={profile} names a profile that {path} does not define; add [profile.{profile}] to the file or set TEMPORAL_PROFILE to an existing profile")]
    UnknownProfile {
        /// The requested profile.
        profile: String,
        /// The config file searched (or `<none>`).
        path: String,
    },
    /// A TLS certificate or key file cannot be read.
    #[error("cannot read {setting} file {path}: {reason}; check the path and that the file is bundled with the function")]
    TlsFileUnreadable {
        /// The setting that named the file, e.g. `TEMPORAL_TLS_CLIENT_KEY_PATH`.
        setting: &'static str,
        /// The path that was tried.
        path: String,
        /// Why reading failed.
        reason: String,
    },
    /// Some other part of the client configuration is invalid.
    #[error("invalid Temporal client configuration: {0}")]
    InvalidClientConfig(String),
    /// A required setting is empty.
    #[error("{setting} is empty; {fix}")]
    MissingSetting {
        /// The setting, e.g. `task_queue (TEMPORAL_TASK_QUEUE)`.
        setting: &'static str,
        /// How to set it.
        fix: &'static str,
    },
    /// Workflows are registered but no versioning behavior applies to them.
    #[error("workflow type(s) {workflows} have no versioning behavior; Serverless Workers require PINNED or AUTO_UPGRADE: set config.default_versioning_behavior = Some(VersioningBehavior::Pinned) (or AutoUpgrade)")]
    MissingVersioningBehavior {
        /// Comma-separated workflow types.
        workflows: String,
    },
    /// Neither workflows nor activities were registered.
    #[error("no workflows or activities registered; register at least one in the configure closure (config.register_workflow::<W>() / config.register_activities(..))")]
    NothingRegistered,
    /// Registering a workflow failed (e.g. duplicate type).
    #[error("cannot register workflow: {0}")]
    Registration(String),
    /// The invocation deadline leaves too little time to do any work.
    #[error("invocation deadline leaves {work_time:?} of work time after the {buffer:?} shutdown buffer (minimum {minimum:?}); raise the function timeout (e.g. `aws lambda update-function-configuration --timeout 60`) or lower shutdown_deadline_buffer")]
    DeadlineTooShort {
        /// Work time that would remain.
        work_time: Duration,
        /// The configured shutdown buffer.
        buffer: Duration,
        /// The minimum accepted.
        minimum: Duration,
    },
    /// The Temporal server could not be reached in time.
    #[error("cannot connect to Temporal at {address} (namespace {namespace}) within {waited:?}: {reason}. Fix: {fix}")]
    Connect {
        /// The address tried.
        address: String,
        /// The namespace.
        namespace: String,
        /// How long we waited.
        waited: Duration,
        /// The underlying error.
        reason: String,
        /// The gRPC status the server (or its TLS front) answered with, when it answered:
        /// `Unauthenticated` means the credentials were rejected.
        code: Option<temporalio_client::tonic::Code>,
        /// What it means and what to change (the setting named).
        fix: &'static str,
    },
    /// The API key could not be read from its secret (`TEMPORAL_API_KEY_SECRET_ARN`).
    #[error("cannot read the Temporal API key from TEMPORAL_API_KEY_SECRET_ARN={arn}: {reason}")]
    ApiKeySecret {
        /// The setting's value, shown (`Display` and `Debug`) by the shared rule
        /// ([`temporal_lambda_env::redacted_env_value`]): a value that is not an ARN, e.g. the
        /// API key pasted into the wrong setting, shows as `<redacted: not an ARN>`.
        arn: temporal_lambda_env::EnvValue,
        /// What went wrong and the fix (never the value).
        reason: String,
    },
    /// The SDK refused to build the worker.
    #[error("cannot create the Temporal worker for task queue {task_queue}: {reason}")]
    WorkerCreate {
        /// Task queue.
        task_queue: String,
        /// SDK message.
        reason: String,
    },
    /// The worker stopped with an error.
    #[error("the Temporal worker on task queue {task_queue} failed: {reason}")]
    WorkerRun {
        /// Task queue.
        task_queue: String,
        /// SDK message.
        reason: String,
    },
    /// The Lambda runtime loop failed.
    #[error("Lambda runtime error: {0}")]
    Runtime(String),
    /// Not running inside Lambda (or an emulator): the runtime environment is incomplete.
    #[error("{0} is not set: run this binary inside AWS Lambda or the local emulator (`temporal-lambda local up`), not directly")]
    NotInLambda(&'static str),

    /// A concurrency setting (Lambda Managed Instances) cannot be used.
    #[error(transparent)]
    Concurrency(#[from] crate::config::ConcurrencyError),
}

impl Error {
    /// The variant's name: the `errorType` Lambda records for a failed invocation
    /// (`TemporalLambdaWorker.<kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::ConfigFileUnreadable { .. } => "ConfigFileUnreadable",
            Error::ConfigFileInvalid { .. } => "ConfigFileInvalid",
            Error::UnknownProfile { .. } => "UnknownProfile",
            Error::TlsFileUnreadable { .. } => "TlsFileUnreadable",
            Error::InvalidClientConfig(_) => "InvalidClientConfig",
            Error::MissingSetting { .. } => "MissingSetting",
            Error::MissingVersioningBehavior { .. } => "MissingVersioningBehavior",
            Error::NothingRegistered => "NothingRegistered",
            Error::Registration(_) => "Registration",
            Error::DeadlineTooShort { .. } => "DeadlineTooShort",
            Error::Connect { .. } => "Connect",
            Error::ApiKeySecret { .. } => "ApiKeySecret",
            Error::WorkerCreate { .. } => "WorkerCreate",
            Error::WorkerRun { .. } => "WorkerRun",
            Error::Runtime(_) => "Runtime",
            Error::NotInLambda(_) => "NotInLambda",
            Error::Concurrency(_) => "Concurrency",
        }
    }

    /// Whether this is a connect failure because the server (or its TLS front) rejected the
    /// credentials (gRPC `UNAUTHENTICATED`).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            Error::Connect {
                code: Some(temporalio_client::tonic::Code::Unauthenticated),
                ..
            }
        )
    }
}
