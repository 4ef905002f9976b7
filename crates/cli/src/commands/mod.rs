//! The `temporal-lambda` command line: one module per command (its clap arguments, its run,
//! its text/JSON rendering). The binary only parses and dispatches:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clap::Parser as _;
//! let cli = temporal_lambda_cli::commands::Cli::parse_from(["temporal-lambda", "local", "demo"]);
//! let exit_code = temporal_lambda_cli::commands::run(cli).await?;
//! # Ok(()) }
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod args;
pub mod describe_version;
pub mod doctor;
pub mod iam;
pub mod lambda_deploy;
pub mod local;
pub mod new;
pub mod package;
pub mod register;
pub mod retire;
pub mod rig_session;
pub mod rollout;
pub mod set_current;
pub mod ship;
pub mod ui;
pub mod verify;
pub mod watch;

pub use args::Output;

/// Temporal Serverless Workers on AWS Lambda: package, deploy, IAM, register, promote, verify,
/// diagnose.
#[derive(Debug, Parser)]
#[command(
    name = "temporal-lambda",
    version,
    about,
    after_help = "Exit codes: 0 success; 1 the command failed (the message says why and what to do); \
                  2 invalid arguments; 3 `doctor` found at least one failing check."
)]
pub struct Cli {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Log filter (also `RUST_LOG`), e.g. `debug`.
    #[arg(
        long,
        global = true,
        env = "TEMPORAL_LAMBDA_LOG",
        default_value = "warn"
    )]
    pub log: String,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Build the worker for Lambda (provided.al2023, glibc 2.34) and zip it deterministically.
    Package(package::PackageArgs),
    /// Create or update the Lambda function and publish a Lambda version for the code's build ID.
    Deploy(lambda_deploy::DeployArgs),
    /// Create a new worker crate: run_worker in main, one workflow + one activity, a local-rig
    /// test, a commented temporal.toml example and a README with the next commands.
    New(new::NewArgs),
    /// The IAM role Temporal assumes to invoke the function.
    #[command(subcommand)]
    Iam(iam::IamCommand),
    /// package → deploy → iam → register → set current → verify; rerun resumes after a failure.
    Ship(ship::ShipArgs),
    /// Check every link from AWS credentials to the running code; print a checklist with fixes.
    Doctor(doctor::DoctorArgs),
    /// Run the whole serverless flow locally: real Temporal dev server + Lambda emulator.
    #[command(subcommand)]
    Local(local::LocalCommand),
    /// Register a Worker Deployment Version that the Temporal server serves by invoking a Lambda
    /// function (creates the deployment if needed; idempotent).
    Register(register::RegisterArgs),
    /// Make a version the current version of its deployment.
    SetCurrent(set_current::SetCurrentArgs),
    /// Print a version's status and compute config.
    DescribeVersion(describe_version::DescribeVersionArgs),
    /// Ramp a registered build to a share of new workflows (the current build keeps the rest).
    Rollout(rollout::RolloutArgs),
    /// Make a build current (default: the ramping one) and clear the ramp.
    Promote(rollout::PromoteArgs),
    /// Send new workflows back to the previous current build and clear the ramp.
    Rollback(rollout::RollbackArgs),
    /// A deployment's versions: state, share of new workflows, drainage, Lambda function.
    Status(rollout::StatusArgs),
    /// Retire a drained build: delete its deployment version and Lambda version.
    Retire(retire::RetireArgs),
    /// Start a workflow and wait for its result (end-to-end check of a serverless worker).
    Verify(verify::VerifyArgs),
}

/// Runs the parsed command; `Ok` carries the exit code (3: `doctor` found a failure).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let output = cli.output;
    match cli.command {
        Command::Package(a) => package::run(output, a)?,
        Command::Deploy(a) => lambda_deploy::run(output, a).await?,
        Command::New(a) => new::run(output, a)?,
        Command::Iam(c) => iam::run(output, c).await?,
        Command::Ship(a) => ship::run(output, a).await?,
        Command::Doctor(a) => return doctor::run(output, a).await,
        Command::Local(c) => local::run(output, c).await?,
        Command::Register(a) => register::run(output, a).await?,
        Command::SetCurrent(a) => set_current::run(output, a).await?,
        Command::DescribeVersion(a) => describe_version::run(output, a).await?,
        Command::Rollout(a) => rollout::run_rollout(output, a).await?,
        Command::Promote(a) => rollout::run_promote(output, a).await?,
        Command::Rollback(a) => rollout::run_rollback(output, a).await?,
        Command::Status(a) => rollout::run_status(output, a).await?,
        Command::Retire(a) => retire::run(output, a).await?,
        Command::Verify(a) => verify::run(output, a).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_arn_is_rejected_by_the_parser() {
        let err = Cli::try_parse_from([
            "temporal-lambda",
            "register",
            "--deployment-name",
            "d",
            "--build-id",
            "b",
            "--function-arn",
            "hello",
            "--role-arn",
            "arn:aws:iam::123456789012:role/r",
            "--external-id",
            "abcdef",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("invalid Lambda function ARN"), "{err}");
    }
}
