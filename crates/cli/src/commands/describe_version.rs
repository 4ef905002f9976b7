//! `temporal-lambda describe-version`: a version's status and stored compute config.

use crate::connect::ConnectArgs;
use crate::deployment;

use super::args::VersionArgs;
use super::ui::emit;
use super::Output;

/// Print a version's status and compute config.
#[derive(Debug, clap::Args)]
pub struct DescribeVersionArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    version: VersionArgs,
}

/// Runs `describe-version`.
pub async fn run(output: Output, args: DescribeVersionArgs) -> anyhow::Result<()> {
    let c = args.conn.connect().await?;
    let report = deployment::describe_version(
        &c,
        &args.conn.namespace,
        &args.version.deployment_name,
        &args.version.build_id,
    )
    .await?;
    emit(output, &report, || {
        let mut s = format!(
            "Version      {}\nStatus       {}\nTask queues  {}\n",
            report.version,
            report.status,
            if report.task_queues.is_empty() {
                "(none polled yet)".to_string()
            } else {
                report.task_queues.join(", ")
            }
        );
        if report.compute_config.is_empty() {
            s.push_str("Compute      (none)");
        } else {
            s.push_str("Compute config:\n");
            s.push_str(&serde_json::to_string_pretty(&report.compute_config).unwrap_or_default());
        }
        s
    });
    Ok(())
}
