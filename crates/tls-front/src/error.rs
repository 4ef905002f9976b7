//! Errors starting the front.

use std::io;
use std::path::PathBuf;

use crate::API_KEY_CHARSET_RULE;

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

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> TlsFrontError {
    let what = what.into();
    move |source| TlsFrontError::Io { what, source }
}
