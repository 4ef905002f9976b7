//! `temporal-lambda ship`: package → deploy → iam → register → set current → verify.

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::{Aws, AwsArgs};
use crate::connect::ConnectArgs;
use crate::ship::{self, RoleSource, ShipOptions, ShipReport, VerifySpec};

use super::args::{deploy_options, parse_duration, parse_json, BuildArgs, FunctionArgs, RoleArgs};
use super::set_current::set_current_text;
use super::ui::{emit, print_plan, spinner, stepper};
use super::Output;

/// package → deploy → iam → register → set current → verify; rerun resumes after a failure.
#[derive(Debug, clap::Args)]
pub struct ShipArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    function: FunctionArgs,
    #[command(flatten)]
    role: RoleArgs,
    /// Use this zip instead of building.
    #[arg(long)]
    zip: Option<PathBuf>,
    /// Workflow type to run as the final check (skipped if omitted).
    #[arg(long)]
    verify_workflow: Option<String>,
    /// Its argument as JSON; repeatable.
    #[arg(long, value_parser = parse_json)]
    verify_input: Vec<serde_json::Value>,
    /// How long verify waits.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    verify_timeout: Duration,
    /// State file that makes reruns resume (default:
    /// <project dir>/target/lambda/<function>/ship-state.json, beside the zip). Losing it is
    /// harmless: the external ID is read back from the role stack.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Change the role stack's external ID to --external-id on purpose, and re-register
    /// every version of the deployment that uses the role with it.
    #[arg(long, requires = "external_id")]
    rotate_external_id: bool,
    /// Ramp the new build to this share (0–100 %) of new workflows instead of making it
    /// current; `promote` makes it current later, `rollback` clears the ramp.
    #[arg(long, value_name = "PERCENT")]
    ramp: Option<f32>,
    /// Print every AWS and Temporal call it would make; make none.
    #[arg(long)]
    dry_run: bool,
}

impl ShipArgs {
    fn options(self) -> ShipOptions {
        let ShipArgs {
            conn,
            build,
            function,
            role,
            zip,
            verify_workflow,
            verify_input,
            verify_timeout,
            state_file,
            rotate_external_id,
            ramp,
            ..
        } = self;
        let function_dir = build
            .project_dir
            .join("target/lambda")
            .join(&function.function_name);
        let zip_path = zip
            .clone()
            .unwrap_or_else(|| function_dir.join("function.zip"));
        ShipOptions {
            build: zip.is_none().then(|| build.options()),
            zip: zip_path.clone(),
            deploy: deploy_options(&conn, &function, zip_path, build.arch),
            role: match (&role.role_arn, &role.external_id) {
                (Some(r), Some(e)) => RoleSource::Existing {
                    role_arn: r.clone(),
                    external_id: e.clone(),
                },
                _ => RoleSource::Stack {
                    stack_name: role
                        .stack_name
                        .clone()
                        .unwrap_or_else(|| format!("{}-temporal-invoker", function.function_name)),
                    trust: role.trust(),
                    external_id: role.external_id.clone(),
                },
            },
            include: build.include.clone(),
            rotate_external_id,
            ramp_percent: ramp,
            verify: verify_workflow.map(|w| VerifySpec {
                workflow_type: w,
                input: verify_input,
                timeout: verify_timeout,
            }),
            state_file: state_file.unwrap_or_else(|| function_dir.join("ship-state.json")),
            conn,
        }
    }
}

/// Runs `ship`.
pub async fn run(output: Output, args: ShipArgs) -> anyhow::Result<()> {
    let (dry_run, aws_args) = (args.dry_run, args.aws.clone());
    let opts = args.options();
    if dry_run {
        print_plan(output, &ship::plan(&opts));
        return Ok(());
    }
    let aws = Aws::load(&aws_args).await?;
    let pb = spinner(output, "shipping");
    let res = ship::ship(&aws, &opts, &stepper(output, &pb)).await;
    pb.finish_and_clear();
    let r = res?;
    emit(output, &r, || text(&r));
    Ok(())
}

fn text(r: &ShipReport) -> String {
    let mut s = String::new();
    if let Some(p) = &r.package {
        s.push_str(&format!(
            "package   {} ({} bytes, CodeSha256 {})\n",
            p.path.display(),
            p.size,
            p.code_sha256
        ));
    }
    s.push_str(&format!(
        "deploy    {} (build {}:{}{})\n",
        r.deploy.function_arn,
        r.deploy.deployment_name,
        r.deploy.build_id,
        if r.deploy.published {
            ""
        } else {
            ", version reused"
        }
    ));
    s.push_str(&format!(
        "iam       {}{}\n",
        r.role_arn,
        r.stack
            .as_ref()
            .map(|st| format!(" (stack {} {})", st.stack_name, st.status))
            .unwrap_or_default()
    ));
    s.push_str(&format!(
        "register  {} {:?}\n",
        r.register.version, r.register.outcome
    ));
    if let Some(sc) = &r.register.set_current {
        s.push_str(&format!("current   {}\n", set_current_text(sc)));
    }
    if let Some(ramp) = &r.ramp {
        s.push_str(&format!(
            "rollout   {}\n",
            crate::rollout::routing_text(ramp).replace('\n', "\n          ")
        ));
    }
    if let Some(v) = &r.verify {
        s.push_str(&format!(
            "verify    {} completed in {} ms: {}\n",
            v.workflow_id,
            v.elapsed_ms,
            v.result.as_ref().map(|x| x.to_string()).unwrap_or_default()
        ));
    }
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::super::{Cli, Command};
    use super::*;

    fn options(extra: &[&str]) -> ShipOptions {
        let args = ["temporal-lambda", "ship", "--function-name", "hello"]
            .into_iter()
            .chain(extra.iter().copied());
        match Cli::try_parse_from(args).unwrap().command {
            Command::Ship(a) => a.options(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_role_arn_with_its_external_id_is_used_as_is() {
        let o = options(&[
            "--role-arn",
            "arn:aws:iam::123456789012:role/invoker",
            "--external-id",
            "external-id-1",
        ]);
        assert!(matches!(
            o.role,
            RoleSource::Existing { ref role_arn, .. } if role_arn.as_str() == "arn:aws:iam::123456789012:role/invoker"
        ));
    }

    #[test]
    fn otherwise_a_role_stack_named_after_the_function_is_used() {
        let o = options(&[]);
        let RoleSource::Stack {
            stack_name,
            external_id,
            ..
        } = &o.role
        else {
            panic!("{:?}", o.role)
        };
        assert_eq!(stack_name, "hello-temporal-invoker");
        assert!(external_id.is_none());
        // Built from the project: zip and state file beside each other under target/lambda.
        assert!(o.build.is_some());
        assert!(o.zip.ends_with("target/lambda/hello/function.zip"));
        assert!(o
            .state_file
            .ends_with("target/lambda/hello/ship-state.json"));
        let named = options(&["--stack-name", "roles", "--zip", "f.zip"]);
        assert!(
            matches!(named.role, RoleSource::Stack { ref stack_name, .. } if stack_name == "roles")
        );
        assert!(named.build.is_none());
        assert_eq!(named.zip, PathBuf::from("f.zip"));
    }
}
