//! `temporal-lambda deploy`: create or update the function, publish a version for the build ID.

use std::path::PathBuf;

use crate::aws::{Aws, AwsArgs};
use crate::connect::ConnectArgs;
use crate::lambda_deploy::{self, DeployReport};

use super::args::{deploy_options, parse_arch, FunctionArgs};
use super::ui::{emit, print_plan, spinner};
use super::Output;

/// Create or update the Lambda function and publish a Lambda version for the code's build ID.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    function: FunctionArgs,
    /// Deployment package (from `temporal-lambda package`).
    #[arg(long, default_value = "target/lambda/function.zip")]
    zip: PathBuf,
    /// Lambda architecture of the package: x86_64 or arm64.
    #[arg(long, default_value = "x86_64", value_parser = parse_arch)]
    arch: temporal_lambda_package::Arch,
    /// Print the calls, make none.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `deploy`.
pub async fn run(output: Output, args: DeployArgs) -> anyhow::Result<()> {
    let opts = deploy_options(&args.conn, &args.function, args.zip, args.arch);
    if args.dry_run {
        print_plan(output, &lambda_deploy::plan(&opts));
        return Ok(());
    }
    let aws = Aws::load(&args.aws).await?;
    let pb = spinner(output, "deploying");
    let res = lambda_deploy::deploy(&aws, &opts, &|m| pb.set_message(m.to_string())).await;
    pb.finish_and_clear();
    let r = res?;
    emit(output, &r, || text(&r));
    Ok(())
}

/// What `deploy` did, and the `register` command to run next.
fn text(r: &DeployReport) -> String {
    format!(
        "{} {} version {} for {}:{} (task queue {}).\nQualified ARN: {}\n{}Environment: {}\nNext: temporal-lambda register --deployment-name {} --build-id {} --function-arn {} --role-arn <invocation role> --external-id <id> --set-current",
        if r.created { "Created" } else { "Updated" },
        r.function_name,
        r.version,
        r.deployment_name,
        r.build_id,
        r.task_queue,
        r.function_arn,
        if r.published { "" } else { "(same code and config as before: reused the build ID's version)\n" },
        r.env_keys.join(", "),
        r.deployment_name,
        r.build_id,
        r.function_arn
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(created: bool, published: bool) -> DeployReport {
        DeployReport {
            function_name: "hello".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:hello:3".into(),
            version: "3".into(),
            deployment_name: "app".into(),
            build_id: "b1".into(),
            task_queue: "tq".into(),
            code_sha256: "sha".into(),
            created,
            code_updated: !created,
            published,
            env_keys: vec!["TEMPORAL_ADDRESS".into(), "TEMPORAL_API_KEY".into()],
            secret_grant: None,
        }
    }

    #[test]
    fn the_text_says_what_happened_and_the_next_command() {
        let t = text(&report(true, true));
        assert!(
            t.starts_with("Created hello version 3 for app:b1 (task queue tq)."),
            "{t}"
        );
        assert!(!t.contains("reused"), "{t}");
        assert!(
            t.contains("Environment: TEMPORAL_ADDRESS, TEMPORAL_API_KEY\n"),
            "{t}"
        );
        assert!(t.contains("register --deployment-name app --build-id b1 --function-arn arn:aws:lambda:us-east-1:123456789012:function:hello:3"), "{t}");
        let t = text(&report(false, false));
        assert!(t.starts_with("Updated hello"), "{t}");
        assert!(t.contains("reused the build ID's version"), "{t}");
    }
}
