//! The local rig of Temporal Serverless Workers on AWS Lambda, as a library: the real Temporal
//! dev server, the local Lambda + STS emulator and (optionally) a TLS front that requires an API
//! key, as Temporal Cloud is reached. [`start_rig`] deploys a worker crate's `bootstrap` (any
//! crate built on `temporal-lambda-worker`) as a published function version through the
//! emulator's own handle, asks the code which deployment version and task queue it is (the
//! describe request), registers that as the current Worker Deployment Version with its
//! aws-lambda compute config, and workflows you start complete because the server invoked the
//! function.
//!
//! No clap, no AWS SDK: the `temporal-lambda local …` commands and `temporal-lambda-testing` are
//! thin users of this crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), temporal_lambda_rig::LocalError> {
//! use temporal_lambda_rig::{run_workflows_on, start_rig, tool_root, RigOptions};
//!
//! let state = std::env::temp_dir().join("my-rig");
//! let opts = RigOptions::for_crate(tool_root(), &state, "worker");
//! let rig = start_rig(&opts, "target/debug/bootstrap".as_ref(), &|step| eprintln!("{step}")).await?;
//! let report = run_workflows_on(&rig, rig.function(), "GreetingWorkflow", 3, None).await?;
//! println!("{} invocation(s), {} cold", report.invocations, report.cold_starts);
//! # Ok(()) }
//! ```
//!
//! * [`options`]: [`RigOptions`] and [`FunctionOptions`];
//! * [`rig`]: [`start_rig`], [`Rig`] and how clients reach it;
//! * [`deploy`]: [`Rig::deploy`], [`Rig::redeploy`] (through the emulator's handle);
//! * [`workflows`]: run workflows and summarise the invocations ([`DemoReport`]);
//! * [`worker`]: find and build the worker crate with cargo, [`tool_root`];
//! * [`rig_file`]: several functions on one rig ([`RigFile`]).

#![warn(missing_docs)]

pub mod deploy;
pub mod options;
pub mod rig;
pub mod rig_file;
pub mod worker;
pub mod workflows;

pub use deploy::Redeployed;
pub use options::{
    FunctionOptions, ManagedInstances, RigOptions, FAST_DRAINAGE, RIG_DEFAULT_FIDELITY,
};
pub use rig::{server_credentials, start_rig, Rig, RigFunction, RigTls};
pub use rig_file::{RigFile, RigFileFunction};
pub use worker::{
    build_worker, find_repo_root, function_name_for, resolve_worker, tool_root, WorkerCrate,
    WorkerSource,
};
pub use workflows::{run_workflows_on, DemoReport, DemoWorkflow};

/// Role the demo registers in the emulator's STS.
pub(crate) const DEMO_ROLE: &str = "arn:aws:iam::123456789012:role/temporal-serverless-invoker";

/// Errors of the local rig: each names the step and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A step failed.
    #[error("{step} failed: {reason}")]
    Step {
        /// The step.
        step: &'static str,
        /// Why, and what to do.
        reason: String,
    },
}

fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> LocalError {
    move |e| LocalError::Step {
        step,
        reason: e.to_string(),
    }
}
