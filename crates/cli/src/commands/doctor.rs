//! `temporal-lambda doctor`: check every link from AWS credentials to the running code.

use std::process::ExitCode;
use std::time::Duration;

use crate::aws::AwsArgs;
use crate::connect::ConnectArgs;
use crate::doctor::{self, DoctorOptions};

use super::args::{parse_duration, trust, VersionArgs};
use super::ui::{emit, spinner};
use super::Output;

/// Check every link from AWS credentials to the running code; print a checklist with fixes.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    version: VersionArgs,
    /// The function you expect the version to invoke (name or ARN).
    #[arg(long)]
    function: Option<String>,
    /// Self-hosted: the principal the role must trust (Temporal Cloud's are checked for
    /// *.tmprl.cloud addresses).
    #[arg(long)]
    trusted_principal: Option<String>,
    /// How far back to read the function's logs for errors.
    #[arg(long, value_parser = parse_duration, default_value = "60m")]
    log_window: Duration,
}

/// Runs `doctor`; exit code 3 when a check fails.
pub async fn run(output: Output, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let pb = spinner(output, "checking");
    let report = doctor::run(&DoctorOptions {
        conn: args.conn,
        aws: args.aws,
        deployment_name: args.version.deployment_name,
        build_id: args.version.build_id,
        function: args.function,
        trust: args.trusted_principal.map(|p| trust(Some(p))),
        min_timeout: Duration::from_secs(8),
        log_window: args.log_window,
    })
    .await;
    pb.finish_and_clear();
    emit(output, &report, || report.text());
    Ok(if report.failures > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
