//! `temporal-lambda rollout | promote | rollback | status`: route new workflows between builds
//! (`retire` is in [`super::retire`]).

use crate::connect::ConnectArgs;
use crate::rollout;

use super::ui::emit;
use super::Output;

/// The deployment a routing command acts on.
#[derive(Debug, clap::Args)]
pub struct DeploymentArg {
    /// Worker Deployment name.
    #[arg(long, env = temporal_lambda_env::connection::DEPLOYMENT_NAME)]
    pub deployment_name: String,
}

/// Ramp a registered build: it gets `--percent` of new workflows, the current build the rest.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    deployment: DeploymentArg,
    /// Build ID to ramp (registered with `register` or `ship --no-set-current`).
    #[arg(long)]
    build_id: String,
    /// Share of new workflows for that build, 0–100.
    #[arg(long)]
    percent: f32,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Make a build current (default: the ramping one); the ramp is cleared.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    deployment: DeploymentArg,
    /// Build ID to make current (default: the ramping build).
    #[arg(long)]
    build_id: Option<String>,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Send new workflows back to the previous build (default: the one current most recently
/// before the current one); the ramp is cleared. Pinned workflows stay where they are.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    deployment: DeploymentArg,
    /// Build ID to make current instead of the previous one.
    #[arg(long)]
    to: Option<String>,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The deployment's versions: state, share of new workflows, drainage, Lambda function.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    aws: crate::aws::AwsArgs,
    /// Skip reading the functions' logs (invocations, errors, last invocation).
    #[arg(long)]
    no_logs: bool,
    #[command(flatten)]
    deployment: DeploymentArg,
}

/// Runs `rollout`.
pub async fn run_rollout(output: Output, a: RolloutArgs) -> anyhow::Result<()> {
    let c = a.conn.connect().await?;
    let r = rollout::ramp(
        &c,
        &a.conn.namespace,
        &a.deployment.deployment_name,
        &a.build_id,
        a.percent,
        a.dry_run,
    )
    .await?;
    emit(output, &r, || rollout::routing_text(&r));
    Ok(())
}

/// Runs `promote`.
pub async fn run_promote(output: Output, a: PromoteArgs) -> anyhow::Result<()> {
    let c = a.conn.connect().await?;
    let r = rollout::promote(
        &c,
        &a.conn.namespace,
        &a.deployment.deployment_name,
        a.build_id.as_deref(),
        a.dry_run,
    )
    .await?;
    emit(output, &r, || rollout::routing_text(&r));
    Ok(())
}

/// Runs `rollback`.
pub async fn run_rollback(output: Output, a: RollbackArgs) -> anyhow::Result<()> {
    let c = a.conn.connect().await?;
    let r = rollout::rollback(
        &c,
        &a.conn.namespace,
        &a.deployment.deployment_name,
        a.to.as_deref(),
        a.dry_run,
    )
    .await?;
    emit(output, &r, || rollout::routing_text(&r));
    Ok(())
}

/// Runs `status`.
pub async fn run_status(output: Output, a: StatusArgs) -> anyhow::Result<()> {
    let c = a.conn.connect().await?;
    let aws = if a.no_logs {
        None
    } else {
        match crate::aws::Aws::load(&a.aws).await {
            Ok(aws) => Some(aws),
            Err(e) => {
                tracing::warn!("not reading the functions' logs: {e}");
                None
            }
        }
    };
    let pb = super::ui::spinner(output, "reading the deployment and its functions' logs");
    let s = rollout::status_with_logs(
        &c,
        aws.as_ref(),
        &a.conn.namespace,
        &a.deployment.deployment_name,
        rollout::STATUS_LOG_WINDOW,
    )
    .await;
    pb.finish_and_clear();
    let s = s?;
    emit(output, &s, || rollout::status_text(&s));
    Ok(())
}
