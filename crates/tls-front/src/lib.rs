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

/// The name the server certificate is always valid for (besides `127.0.0.1`).
pub const DEFAULT_SERVER_NAME: &str = "localhost";

mod error;
mod files;
mod front;
mod nginx;
mod options;
mod pki;
#[cfg(test)]
mod tests;

pub use error::TlsFrontError;
pub use front::TlsFront;
pub use nginx::find_nginx;
pub use options::{
    check_api_key, check_upstream, ServerCertValidity, TlsFrontOptions, API_KEY_CHARSET_RULE,
};
pub use pki::Pki;
