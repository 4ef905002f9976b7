//! # temporal-lambda-worker
//!
//! Run a Temporal worker inside each AWS Lambda invocation (Temporal Serverless Workers).
//!
//! The Temporal server invokes the function when a task lands on a task queue with no pollers.
//! Each invocation connects to Temporal, polls with worker versioning on until
//! `deadline − shutdown buffer` (connect time counts), drains in-flight tasks, runs shutdown hooks,
//! and returns before the deadline. If a drain or hook overruns, the process exits after
//! answering so Lambda never reuses a half-stopped environment.
//!
//! Beyond the official packages: an invocation that has been idle for
//! [`config::ShutdownSettings::idle_exit`] (default 1 s, `TEMPORAL_LAMBDA_IDLE_EXIT`; not below
//! 1 s, see [`config::DEFAULT_IDLE_EXIT`]) stops early so billing stops — later work makes the
//! server invoke again, measured at ≈ 40 ms more per re-invocation locally, so raise it for
//! workflows whose tasks come seconds apart, or `off` for steady latency-critical traffic; each
//! invocation checks in the background that the server routes to this build ID ([`routing`]) and
//! logs an error with the fix if not; an activity that
//! cannot fit in what is left is handed to a fresh invocation ([`activity::WontFit`]); and activities still
//! running when polling stops are cancelled early enough to record heartbeat details.
//!
//! ```no_run
//! use temporal_lambda_worker::{run_worker, VersioningBehavior, WorkerDeploymentVersion};
//! # mod app {
//! #   use temporalio_macros::{activities, workflow, workflow_methods};
//! #   use temporalio_sdk::{activities::{ActivityContext, ActivityError}, WorkflowContext, WorkflowResult};
//! #   #[workflow] #[derive(Default)] pub struct Hello;
//! #   #[workflow_methods] impl Hello {
//! #     #[run] pub async fn run(_ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> { Ok(name) }
//! #   }
//! #   pub struct Greetings;
//! #   #[activities] impl Greetings {
//! #     #[activity] pub async fn greet(_ctx: ActivityContext, n: String) -> Result<String, ActivityError> { Ok(n) }
//! #   }
//! # }
//! # use app::{Hello, Greetings};
//!
//! fn main() {
//!     run_worker(WorkerDeploymentVersion::new("my-app", "build-1"), |config| {
//!         config.task_queue = "my-task-queue".into();
//!         config.default_versioning_behavior = Some(VersioningBehavior::Pinned);
//!         config.register_workflow::<Hello>()?;
//!         config.register_activities(Greetings);
//!         Ok(())
//!     })
//! }
//! ```
//!
//! ## Lambda Managed Instances: concurrent invocations over one shared worker
//!
//! When `AWS_LAMBDA_MAX_CONCURRENCY` > 1 (Lambda sets it on Lambda Managed Instances), the
//! runtime holds that many `/next` requests at once and each execution environment keeps **one**
//! Temporal connection and **one** worker ([`shared::SharedWorker`]): shared slots and sticky
//! cache, sized by the environment's vCPUs (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE` /
//! `TEMPORAL_LAMBDA_MEMORY_GIB_PER_VCPU`, default 2; slot counts set in code are kept), one
//! identity per environment, and each invocation's request ID in the logs. Each invocation is a
//! lease: it answers by its own deadline (polling stops for it at `deadline − shutdown buffer`,
//! or after the idle exit with the shared worker idle) and never drains the worker others hold.
//! After the last lease, `TEMPORAL_LAMBDA_RESIDENCY` ([`config::Residency`]) decides: `stop`
//! (default for now) drains the worker in that last invocation, `stay` keeps it polling until
//! the environment is reclaimed. `SIGTERM` drains within [`shared::RECLAIM_GRACE`] and runs the
//! hooks. In that model:
//! - **shutdown hooks** (and the telemetry flush) run whenever the shared worker drains: in the
//!   last invocation under `stop`, at `SIGTERM` under `stay` — not in every invocation;
//! - the **routing check** runs once per started worker, not per invocation;
//! - the **idle exit** ends a lease once the *shared* worker has been idle that long;
//! - the activity **hand-off** is off: activities still running at a drain are interrupted and
//!   retried by the server.
//!
//! On on-demand Lambda (the variable unset or 1) nothing of this applies.
//!
//! A `Lambda-Runtime-Deadline-Ms` before the year 2000 cannot be an epoch time (`cargo lambda
//! watch` sends the constant 600000): it is read as a budget from receipt
//! ([`invocation::read_deadline`]), with one notice in the log.
//!
//! Connection settings come from `temporal.toml` (`TEMPORAL_CONFIG_FILE`, else
//! `$LAMBDA_TASK_ROOT/temporal.toml`, else `./temporal.toml`; profile `TEMPORAL_PROFILE`) and the
//! `TEMPORAL_*` environment variables; whatever the closure sets wins. Secrets are redacted in
//! every `Debug` output and never logged.

#![warn(missing_docs)]

pub mod activity;
mod api_key;
pub mod config;
mod error;
pub mod hooks;
pub mod invocation;
mod lambda_worker;
mod lease;
mod lifecycle;
pub mod logging;
pub mod routing;
pub mod serve;
pub mod shared;
mod stats;
/// OpenTelemetry traces and metrics over OTLP/gRPC, flushed every invocation (feature `otel`).
#[cfg(feature = "otel")]
pub mod telemetry;
pub mod window;
mod worker_config;

pub use error::Error;
pub use lambda_worker::LambdaWorker;
pub use temporalio_common::worker::VersioningBehavior;
pub use worker_config::{LambdaWorkerConfig, WorkerDeploymentVersion};

/// Error type the `configure` closure may return.
pub type ConfigureError = Box<dyn std::error::Error + Send + Sync>;

/// Build a [`LambdaWorker`] from the process environment and a `configure` closure, without
/// starting anything: the builder form, for tests and custom runtimes. Must be called inside a
/// Tokio runtime.
pub fn build_worker<F>(
    version: WorkerDeploymentVersion,
    configure: F,
) -> Result<LambdaWorker, Error>
where
    F: FnOnce(&mut LambdaWorkerConfig) -> Result<(), ConfigureError>,
{
    let mut config = LambdaWorkerConfig::from_env(version, &config::process_env())?;
    apply(&mut config, configure)?;
    LambdaWorker::new(config)
}

/// Like [`run_worker`] but returns start-up errors instead of exiting.
///
/// With the `otel` feature (and unless `OTEL_SDK_DISABLED=true`), traces and metrics are
/// exported over OTLP and flushed at the end of every invocation.
pub fn try_run_worker<F>(version: WorkerDeploymentVersion, configure: F) -> Result<(), Error>
where
    F: FnOnce(&mut LambdaWorkerConfig) -> Result<(), ConfigureError>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the Tokio runtime: {e}")))?;
    #[cfg(feature = "otel")]
    {
        let env = config::process_env();
        let telemetry = if telemetry::enabled(&env) {
            let _guard = rt.enter();
            Some(telemetry::Telemetry::from_env(&env)?)
        } else {
            None
        };
        logging::init_logging_with(telemetry.as_ref().map(|t| Box::new(t.layer()) as _));
        rt.block_on(async move {
            let mut config = LambdaWorkerConfig::from_env(version, &env)?;
            apply(&mut config, configure)?;
            let worker = match telemetry {
                Some(t) => LambdaWorker::with_telemetry(config, t, TELEMETRY_FLUSH_BUDGET)?,
                None => LambdaWorker::new(config)?,
            };
            worker.serve().await
        })
    }
    #[cfg(not(feature = "otel"))]
    {
        logging::init_logging();
        rt.block_on(async move { build_worker(version, configure)?.serve().await })
    }
}

/// Time the OpenTelemetry flush hook may take at the end of each invocation.
#[cfg(feature = "otel")]
pub const TELEMETRY_FLUSH_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

fn apply<F>(config: &mut LambdaWorkerConfig, configure: F) -> Result<(), Error>
where
    F: FnOnce(&mut LambdaWorkerConfig) -> Result<(), ConfigureError>,
{
    configure(config)
        .map_err(|e| Error::InvalidClientConfig(format!("configure closure failed: {e}")))
}

/// The one call a Lambda `main` needs: load config, apply `configure`, then serve invocations
/// until Lambda stops the process. A start-up error is logged as one line and the process exits
/// with status 1 (Lambda reports it as an init error).
pub fn run_worker<F>(version: WorkerDeploymentVersion, configure: F)
where
    F: FnOnce(&mut LambdaWorkerConfig) -> Result<(), ConfigureError>,
{
    if let Err(e) = try_run_worker(version, configure) {
        tracing::error!("{e}");
        eprintln!("temporal-lambda-worker: {e}");
        std::process::exit(1);
    }
}
