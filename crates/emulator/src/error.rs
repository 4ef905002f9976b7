//! [`EmulatorError`]: the one error type of the emulator's service core (control plane, Invoke,
//! scheduler, store), returned by the library API as well. It carries no HTTP types; the HTTP
//! adapters turn it into an AWS-shaped answer with [`crate::ApiError`] (`http_error.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Errors returned by the library API ([`crate::Emulator`], [`crate::EmulatorHandle`]).
///
/// Every message names the resource involved and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The configured listen port is taken by another process.
    #[error(
        "port {port} is already in use ({addr}): stop the process listening on it, or choose another port \
         (--port <PORT>, or --port 0 to pick a free one)"
    )]
    PortInUse {
        /// Address we tried to bind.
        addr: SocketAddr,
        /// The port that is taken.
        port: u16,
    },
    /// Binding the listen address failed for another reason.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address we tried to bind.
        addr: SocketAddr,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file-system operation on the data dir or a code path failed.
    #[error("{context} ({path}): {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The path involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The persisted state file could not be parsed.
    #[error("state file {path} is corrupt: {message}; move it away (or use another --data-dir) to start fresh")]
    CorruptState {
        /// Path of the state file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// No such function (or version).
    #[error("{0}")]
    NotFound(String),
    /// The resource already exists or is in a conflicting state.
    #[error("{0}")]
    Conflict(String),
    /// A parameter was invalid (bad name, missing bootstrap, out-of-range timeout ...).
    #[error("{0}")]
    InvalidParameter(String),
    /// The function name or ARN is malformed.
    #[error("{0}")]
    Validation(String),
    /// The concurrency limit of the function is reached (synchronous invocations only).
    #[error("{0}")]
    Throttled(String),
    /// A function on Lambda Managed Instances was invoked unqualified with no published version
    /// (`NoPublishedVersionException`).
    #[error("{0}")]
    NoPublishedVersion(String),
    /// The service failed the call (`ServiceException`, e.g. injected by the fault settings):
    /// retry it.
    #[error("{0}")]
    Service(String),
    /// The Invoke payload is over Lambda's limit (6 MB synchronous, 1 MB `Event`).
    #[error("{0}")]
    RequestTooLarge(String),
    /// The Invoke payload is not JSON.
    #[error("{0}")]
    InvalidRequestContent(String),
    /// `wait_for_invocations` gave up.
    #[error(
        "timed out after {timeout:?} waiting for the emulator's invocations/sandboxes to match the predicate \
         ({records} invocation records so far; see EmulatorHandle::invocations() and the function logs)"
    )]
    WaitTimeout {
        /// How long we waited.
        timeout: Duration,
        /// Number of records when we gave up.
        records: usize,
    },
    /// The emulator has been shut down.
    #[error("the emulator is shut down; start a new one with Emulator::start")]
    ShutDown,
}

impl EmulatorError {
    pub(crate) fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}
