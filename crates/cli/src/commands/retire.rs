//! `temporal-lambda retire`: delete a drained build's Worker Deployment Version and its Lambda
//! version.

use crate::connect::ConnectArgs;

use super::rollout::DeploymentArg;
use super::ui::emit;
use super::Output;

/// Retire drained builds: delete the Worker Deployment Version (the server stops invoking it),
/// then its Lambda function version, and take it out of the invocation role's stack. Refuses
/// while the build is current or ramping or has open pinned workflows.
#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    aws: crate::aws::AwsArgs,
    #[command(flatten)]
    deployment: DeploymentArg,
    /// Build ID to retire.
    #[arg(
        long,
        required_unless_present = "all_drained",
        conflicts_with = "all_drained"
    )]
    build_id: Option<String>,
    /// Retire every version the server reports drained.
    #[arg(long)]
    all_drained: bool,
    /// Keep the Lambda function version (delete only the deployment version).
    #[arg(long)]
    keep_lambda_version: bool,
    /// The invocation role's CloudFormation stack (`iam create --stack-name`): the retired
    /// version's ARN is removed from its `LambdaFunctionARNs` if listed there.
    #[arg(long)]
    iam_stack: Option<String>,
    /// Wait up to this long (e.g. `30m`) for open pinned workflows to finish and the server to
    /// see the build drained, instead of refusing at once.
    #[arg(long, value_parser = super::args::parse_duration)]
    wait: Option<std::time::Duration>,
    /// Check and report what would be retired; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `retire`.
pub async fn run(output: Output, a: RetireArgs) -> anyhow::Result<()> {
    let c = a.conn.connect().await?;
    let needs_aws = !a.dry_run && (!a.keep_lambda_version || a.iam_stack.is_some());
    let aws = if needs_aws {
        Some(crate::aws::Aws::load(&a.aws).await?)
    } else {
        None
    };
    let opts = crate::retire::RetireOptions {
        namespace: a.conn.namespace.clone(),
        deployment_name: a.deployment.deployment_name.clone(),
        target: match a.build_id {
            Some(b) => crate::retire::RetireTarget::Build(b),
            None => crate::retire::RetireTarget::AllDrained,
        },
        keep_lambda_version: a.keep_lambda_version,
        iam_stack: a.iam_stack,
        wait: a.wait,
        dry_run: a.dry_run,
    };
    let pb = super::ui::spinner(output, "retiring");
    let r = crate::retire::retire(&c, aws.as_ref(), &opts, &super::ui::stepper(output, &pb)).await;
    pb.finish_and_clear();
    let r = r?;
    emit(output, &r, || crate::retire::retire_text(&r));
    Ok(())
}
