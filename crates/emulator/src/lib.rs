//! A local AWS Lambda + STS on one HTTP endpoint on 127.0.0.1, running functions as real processes.
//!
//! Point the Temporal server (or any AWS SDK) at it with `AWS_ENDPOINT_URL=http://127.0.0.1:<port>`:
//!
//! * **Lambda control plane** (`/2015-03-31/functions…`): CreateFunction (zip with `bootstrap`),
//!   UpdateFunctionCode, UpdateFunctionConfiguration, PublishVersion, GetFunction,
//!   GetFunctionConfiguration, ListVersionsByFunction, ListFunctions, DeleteFunction,
//!   Put/Get/DeleteFunctionConcurrency, Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s)
//!   (`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`). Names may be plain, `name:version`, or (URL-encoded)
//!   qualified ARNs. Errors are AWS-shaped (`x-amzn-ErrorType` + `{"Type":"User","message":…}`).
//! * **Invoke** (`POST …/invocations`): `RequestResponse`, `Event` (queued; after an error
//!   retried `MaximumRetryAttempts` times, default 2, after about 1 and 2 minutes as Lambda
//!   does — [`EmulatorConfig::async_retry_delays`] compresses that for tests; dropped once older
//!   than `MaximumEventAgeInSeconds`) and `DryRun`; requests must be SigV4-signed (verified) with the emulator's credentials
//!   ([`EmulatorConfig::credentials`], new each run unless set) or session credentials its STS issued.
//! * **Sandboxes**: each execution environment is a `bootstrap` process in its own process group
//!   with its own Runtime API port (`AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>`), the Lambda
//!   environment variables, a real epoch-ms `Lambda-Runtime-Deadline-Ms`, a kill at the timeout
//!   (`Sandbox.Timedout`), warm reuse, a per-function concurrency limit and idle reaping.
//! * **STS** (`POST /`): `AssumeRole` enforcing each registered role's external id, `GetCallerIdentity`.
//! * **Logs** in `<data-dir>/logs/<function>/<stream>.log` with START/END/REPORT lines, readable
//!   through CloudWatch Logs `FilterLogEvents` / `DescribeLogStreams` (group `/aws/lambda/<name>`).
//! * **Observability**: [`EmulatorHandle::invocations`], [`EmulatorHandle::wait_for_invocations`],
//!   and the `/_emulator/…` HTTP routes (see the `emulator_api` module docs in the README), which
//!   require `Authorization: Bearer <token>` ([`EmulatorHandle::api_token`], also in
//!   `<data-dir>/api-token`, 0600).
//!
//! State (functions, versions, roles, issued credentials) persists in the data dir.
//!
//! ```no_run
//! use std::time::Duration;
//! use temporal_lambda_emulator::{Emulator, EmulatorConfig, FunctionSpec};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let emu = Emulator::start(EmulatorConfig::new("/tmp/emu-data")).await?;
//! emu.register_role("arn:aws:iam::123456789012:role/invoker", Some("my-external-id"))?;
//! emu.create_function_from_path(
//!     FunctionSpec::new("hello", "target/debug/bootstrap").timeout(Duration::from_secs(30)),
//! )
//! .await?;
//! let v1 = emu.publish_version("hello", None)?;
//! println!("AWS_ENDPOINT_URL={} function {}", emu.endpoint(), v1.function_arn);
//! let out = emu.invoke("hello", br#"{"ping":1}"#).await?;
//! assert!(out.function_error.is_none());
//! let recs = emu
//!     .wait_for_invocations(Duration::from_secs(10), |r| r.iter().all(|r| r.is_finished()))
//!     .await?;
//! println!("{recs:#?}");
//! emu.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod arn;
mod auth;
mod capacity_providers;
mod code;
mod config;
mod control;
mod credentials;
mod cwlogs;
mod emulator;
mod emulator_api;
mod error;
mod faults;
mod fidelity;
mod guard;
mod http_error;
mod invoke;
mod isolation;
mod logs;
mod managed;
/// The smallest memory size of a function on Lambda Managed Instances, in MB (2 GB).
pub use managed::MIN_MEMORY_MB as MANAGED_INSTANCES_MIN_MEMORY_MB;
pub use managed::{
    vcpus as managed_instances_vcpus,
    DEFAULT_GIB_PER_VCPU as MANAGED_INSTANCES_DEFAULT_GIB_PER_VCPU,
};
mod model;
mod records;
mod request_auth;
mod runtime_api;
mod sandbox;
mod scheduler;
mod service;
mod sigv4;
mod state;
mod store;
mod sts;
mod trust;

pub use config::{
    EmulatorConfig, QemuUser, COMPRESSED_ASYNC_RETRY_DELAYS, DEFAULT_ASYNC_RETRY_DELAYS,
    QEMU_AARCH64_ENV, QEMU_SYSROOT_ENV,
};
pub use credentials::{Credentials, API_TOKEN_FILE};
pub use emulator::{Emulator, EmulatorHandle};
pub use error::EmulatorError;
pub use faults::{FaultStats, Faults};
pub use fidelity::{cpu_millis, Fidelity, MB_PER_VCPU};
pub use http_error::ApiError;
pub use model::{
    AssumeRoleCall, CapacityProviderConfig, EnvironmentResponse, EphemeralStorage,
    FunctionConfiguration, FunctionSpec, GibPerVcpu, InvocationRecord, InvocationType,
    InvokeOutput, LambdaManagedInstancesCapacityProviderConfig, LoggingConfig, Outcome,
    SandboxInfo, SandboxLimits, StsStats, TracingConfig, MAX_STS_CALLS,
};
