//! `temporal-lambda iam template|create`: the role Temporal assumes to invoke the function.

use clap::Subcommand;

use crate::aws::{Aws, AwsArgs};
use crate::iam::{self, StackOptions};
use crate::identifiers::{ExternalId, FunctionArn};

use super::args::trust;
use super::ui::{emit, print_plan, spinner};
use super::Output;

/// `iam` subcommands.
#[derive(Debug, Subcommand)]
pub enum IamCommand {
    /// Print the CloudFormation template for the invocation role.
    Template {
        /// Self-hosted variant trusting this principal (default: the Temporal Cloud template).
        #[arg(long)]
        trusted_principal: Option<String>,
    },
    /// Create (or update) the invocation role stack, wait for it, print the RoleARN.
    Create(CreateArgs),
}

/// `iam create`'s arguments.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// Function ARN(s) Temporal may invoke; an unqualified ARN also grants its versions.
    #[arg(long = "function-arn", required = true)]
    function_arns: Vec<FunctionArn>,
    /// External ID; generated securely if omitted (and printed: register needs it).
    #[arg(long, env = temporal_lambda_env::connection::EXTERNAL_ID)]
    external_id: Option<ExternalId>,
    /// Stack name.
    #[arg(long, default_value = "temporal-serverless-worker-role")]
    stack_name: String,
    /// Role base name (the template appends -<stack name>).
    #[arg(long)]
    role_name: Option<String>,
    /// Self-hosted: the principal your Temporal server runs as.
    #[arg(long)]
    trusted_principal: Option<String>,
    /// Print the calls, make none.
    #[arg(long)]
    dry_run: bool,
}

/// Runs an `iam` subcommand.
pub async fn run(output: Output, cmd: IamCommand) -> anyhow::Result<()> {
    match cmd {
        IamCommand::Template { trusted_principal } => {
            print!("{}", trust(trusted_principal).template());
            Ok(())
        }
        IamCommand::Create(args) => create(output, args).await,
    }
}

async fn create(output: Output, args: CreateArgs) -> anyhow::Result<()> {
    let CreateArgs {
        aws,
        function_arns,
        external_id,
        stack_name,
        role_name,
        trusted_principal,
        dry_run,
    } = args;
    let mut so = StackOptions {
        stack_name,
        trust: trust(trusted_principal),
        external_id: external_id
            .clone()
            .unwrap_or_else(iam::generate_external_id),
        function_arns: function_arns
            .iter()
            .flat_map(|a| {
                if a.qualifier.is_none() {
                    vec![a.to_string(), format!("{a}:*")]
                } else {
                    vec![a.to_string()]
                }
            })
            .collect(),
        role_name,
    };
    if dry_run {
        print_plan(output, &iam::plan(&so));
        return Ok(());
    }
    let aws = Aws::load(&aws).await?;
    for a in &function_arns {
        aws.check_region("function", a.as_str(), &a.region)?;
    }
    // An existing stack keeps its external ID: a new one would lock out every deployment
    // version registered with the old one.
    let (ext, generated) =
        iam::choose_external_id(&aws, &so.stack_name, external_id.as_ref(), None, false).await?;
    so.external_id = ext;
    let generated = generated && external_id.is_none();
    let pb = spinner(output, "creating the invocation role stack");
    let res = iam::create_stack(&aws, &so, &|m| pb.set_message(m.to_string())).await;
    pb.finish_and_clear();
    let r = res?;
    let report = serde_json::json!({
        "stack_name": r.stack_name,
        "status": r.status,
        "role_arn": r.role_arn,
        "changed": r.changed,
        "external_id": so.external_id.as_str(),
        "external_id_generated": generated,
    });
    emit(output, &report, || {
        format!(
            "Stack {} {} ({}).\nRoleARN:     {}\nExternal ID: {}{}",
            r.stack_name,
            if r.changed { "ready" } else { "unchanged" },
            r.status,
            r.role_arn,
            so.external_id,
            if generated {
                " (generated; pass it to register as --external-id)"
            } else {
                ""
            }
        )
    });
    Ok(())
}
