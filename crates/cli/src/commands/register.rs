//! `temporal-lambda register`: a Worker Deployment Version the server serves by invoking Lambda.

use crate::compute::LambdaTarget;
use crate::connect::ConnectArgs;
use crate::deployment::{self, RegisterOptions, RegisterOutcome, RegisterReport};
use crate::identifiers::{self, ExternalId, FunctionArn, RoleArn};

use super::args::VersionArgs;
use super::set_current::set_current_text;
use super::ui::{emit, spinner};
use super::Output;

/// Register a Worker Deployment Version that the Temporal server serves by invoking a Lambda
/// function (creates the deployment if needed; idempotent).
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    version: VersionArgs,
    /// Qualified Lambda function ARN, e.g. arn:aws:lambda:us-east-1:123456789012:function:hello:3
    #[arg(long)]
    function_arn: FunctionArn,
    /// IAM role the Temporal server assumes to invoke the function.
    #[arg(long)]
    role_arn: RoleArn,
    /// External ID the role's trust policy requires (5-45 chars of [a-zA-Z0-9_+=,.@-]).
    #[arg(long, env = temporal_lambda_env::connection::EXTERNAL_ID)]
    external_id: ExternalId,
    /// Replace the compute config if the version exists with a different one.
    #[arg(long)]
    update: bool,
    /// Make the version current afterwards.
    #[arg(long)]
    set_current: bool,
}

/// Runs `register`.
pub async fn run(output: Output, args: RegisterArgs) -> anyhow::Result<()> {
    let RegisterArgs {
        conn,
        version,
        function_arn,
        role_arn,
        external_id,
        update,
        set_current,
    } = args;
    identifiers::deployment_name(&version.deployment_name)?;
    identifiers::build_id(&version.build_id)?;
    let pb = spinner(output, "connecting to Temporal");
    let c = conn.connect().await?;
    pb.set_message(format!(
        "registering {} (the server validates the role and function with AWS)",
        deployment::version_string(&version.deployment_name, &version.build_id)
    ));
    let res = deployment::register(
        &c,
        &RegisterOptions {
            namespace: conn.namespace.clone(),
            deployment_name: version.deployment_name,
            build_id: version.build_id,
            target: LambdaTarget {
                function_arn,
                role_arn,
                external_id,
            },
            update,
            set_current,
        },
    )
    .await;
    pb.finish_and_clear();
    let report = res?;
    emit(output, &report, || text(&report));
    Ok(())
}

fn text(report: &RegisterReport) -> String {
    let mut s = match report.outcome {
        RegisterOutcome::Created => format!(
            "Registered {} in namespace {}{}.",
            report.version,
            report.namespace,
            if report.deployment_created {
                " (new deployment)"
            } else {
                ""
            }
        ),
        RegisterOutcome::Unchanged => format!(
            "{} is already registered with this compute config; nothing to do.",
            report.version
        ),
        RegisterOutcome::Updated => format!("Updated the compute config of {}.", report.version),
    };
    if let Some(sc) = &report.set_current {
        s.push('\n');
        s.push_str(&set_current_text(sc));
    } else {
        s.push_str(&format!(
            "\nNothing routes to it until it is current: temporal-lambda set-current \
             --deployment-name {} --build-id {}",
            report.deployment_name, report.build_id
        ));
    }
    for w in &report.warnings {
        s.push_str(&format!("\nwarning: {w}"));
    }
    s
}
