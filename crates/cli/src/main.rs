//! `temporal-lambda`: Temporal-side commands for Temporal Serverless Workers on AWS Lambda.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use temporal_lambda_cli::{
    compute::LambdaTarget,
    connect::ConnectArgs,
    deployment::{self, RegisterOptions, RegisterOutcome, SetCurrentOptions},
    validate::{self, ExternalId, FunctionArn, RoleArn},
    verify::{self, VerifyOptions},
};

/// Temporal Serverless Workers on AWS Lambda: register, promote and verify worker versions.
#[derive(Debug, Parser)]
#[command(name = "temporal-lambda", version, about)]
struct Cli {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Log filter (also `RUST_LOG`), e.g. `debug`.
    #[arg(
        long,
        global = true,
        env = "TEMPORAL_LAMBDA_LOG",
        default_value = "warn"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct VersionArgs {
    /// Worker Deployment name (must match the worker's deployment name).
    #[arg(long, env = "TEMPORAL_DEPLOYMENT_NAME")]
    deployment_name: String,
    /// Build ID (must match the worker's build ID).
    #[arg(long, env = "TEMPORAL_BUILD_ID")]
    build_id: String,
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Start the dev server + emulator, deploy the sample worker, run workflows the server
    /// completes by invoking the function, print the results, stop everything.
    Demo {
        #[command(flatten)]
        rig: RigArgs,
        /// Workflows to start at once.
        #[arg(long, default_value_t = 5)]
        workflows: usize,
    },
    /// Like `demo`, then keep everything running until Ctrl-C (point `temporal` at it).
    Up {
        #[command(flatten)]
        rig: RigArgs,
    },
}

#[derive(Debug, clap::Args)]
struct RigArgs {
    /// Emulator port (0: any free port).
    #[arg(long, default_value_t = 0)]
    emulator_port: u16,
    /// Temporal dev server gRPC port (default: any free port).
    #[arg(long)]
    temporal_port: Option<u16>,
    /// Function timeout, e.g. 30s.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    function_timeout: Duration,
    /// Function concurrency limit.
    #[arg(long, default_value_t = 3)]
    concurrency: u32,
    /// Build the sample worker in release mode.
    #[arg(long)]
    release: bool,
    /// Where state and logs go (default: <repo>/.rig).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole serverless flow locally: real Temporal dev server + Lambda emulator.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Register a Worker Deployment Version that the Temporal server serves by invoking a Lambda
    /// function (creates the deployment if needed; idempotent).
    Register {
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
        #[arg(long, env = "TEMPORAL_LAMBDA_EXTERNAL_ID")]
        external_id: ExternalId,
        /// Replace the compute config if the version exists with a different one.
        #[arg(long)]
        update: bool,
        /// Make the version current afterwards.
        #[arg(long)]
        set_current: bool,
    },
    /// Make a version the current version of its deployment.
    SetCurrent {
        #[command(flatten)]
        conn: ConnectArgs,
        #[command(flatten)]
        version: VersionArgs,
        /// Set current even if no worker has polled this version yet.
        #[arg(long)]
        allow_no_pollers: bool,
        /// Set current even if task queues of the current version are not polled by this one.
        #[arg(long)]
        ignore_missing_task_queues: bool,
    },
    /// Print a version's status and compute config.
    DescribeVersion {
        #[command(flatten)]
        conn: ConnectArgs,
        #[command(flatten)]
        version: VersionArgs,
    },
    /// Start a workflow and wait for its result (end-to-end check of a serverless worker).
    Verify {
        #[command(flatten)]
        conn: ConnectArgs,
        /// Task queue the worker polls.
        #[arg(long, env = "TEMPORAL_TASK_QUEUE")]
        task_queue: String,
        /// Workflow type to start.
        #[arg(long)]
        workflow_type: String,
        /// Workflow ID (default: verify-<uuid>).
        #[arg(long)]
        workflow_id: Option<String>,
        /// Workflow argument as JSON; repeat for several arguments.
        #[arg(long, value_parser = parse_json)]
        input: Vec<serde_json::Value>,
        /// How long to wait for the result, e.g. 60s, 2m, 500ms.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
    },
}

fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not valid JSON ({e}); quote strings: '\"text\"'"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration `{s}`"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in `{s}` (use ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn spinner(output: Output, msg: &str) -> ProgressBar {
    if output == Output::Json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

fn emit<T: Serialize>(output: Output, value: &T, text: impl FnOnce() -> String) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).expect("reports serialize")
        ),
        Output::Text => println!("{}", text()),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let output = cli.output;
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if output == Output::Json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let output = cli.output;
    match cli.command {
        Command::Local(cmd) => local_command(output, cmd).await?,
        Command::Register {
            conn,
            version,
            function_arn,
            role_arn,
            external_id,
            update,
            set_current,
        } => {
            validate::deployment_name(&version.deployment_name)?;
            validate::build_id(&version.build_id)?;
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
            emit(output, &report, || {
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
                    RegisterOutcome::Updated => {
                        format!("Updated the compute config of {}.", report.version)
                    }
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
            });
        }
        Command::SetCurrent {
            conn,
            version,
            allow_no_pollers,
            ignore_missing_task_queues,
        } => {
            let c = conn.connect().await?;
            let report = deployment::set_current(
                &c,
                &SetCurrentOptions {
                    namespace: conn.namespace.clone(),
                    deployment_name: version.deployment_name,
                    build_id: version.build_id,
                    allow_no_pollers,
                    ignore_missing_task_queues,
                },
            )
            .await?;
            emit(output, &report, || set_current_text(&report));
        }
        Command::DescribeVersion { conn, version } => {
            let c = conn.connect().await?;
            let report = deployment::describe_version(
                &c,
                &conn.namespace,
                &version.deployment_name,
                &version.build_id,
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
                    s.push_str(
                        &serde_json::to_string_pretty(&report.compute_config).unwrap_or_default(),
                    );
                }
                s
            });
        }
        Command::Verify {
            conn,
            task_queue,
            workflow_type,
            workflow_id,
            input,
            timeout,
        } => {
            let c = conn.connect().await?;
            let pb = spinner(
                output,
                &format!("running {workflow_type} on task queue {task_queue}"),
            );
            let res = verify::verify(
                &c,
                &VerifyOptions {
                    namespace: conn.namespace.clone(),
                    task_queue,
                    workflow_type,
                    workflow_id,
                    input,
                    timeout,
                },
            )
            .await;
            pb.finish_and_clear();
            let report = res.context("verify failed")?;
            emit(output, &report, || {
                format!(
                    "Workflow {} completed in {} ms; result: {}",
                    report.workflow_id,
                    report.elapsed_ms,
                    report
                        .result
                        .as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "(none)".into())
                )
            });
        }
    }
    Ok(())
}

fn set_current_text(r: &deployment::SetCurrentReport) -> String {
    if r.already_current {
        format!("{} is already the current version.", r.version)
    } else {
        format!(
            "{} is now the current version (previous: {}).",
            r.version,
            r.previous_build_id.as_deref().unwrap_or("unversioned")
        )
    }
}

async fn local_command(output: Output, cmd: LocalCommand) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use temporal_lambda_cli::local;
    let (rig_args, workflows, keep_running) = match cmd {
        LocalCommand::Demo { rig, workflows } => (rig, workflows, false),
        LocalCommand::Up { rig } => (rig, 1, true),
    };
    let repo_root = local::find_repo_root()
        .context("run this from the temporal-lambda repository (examples/hello-worker not found above the current directory)")?;
    let release = rig_args.release;
    let opts = local::RigOptions {
        emulator_port: rig_args.emulator_port,
        temporal_port: rig_args.temporal_port,
        function_timeout: rig_args.function_timeout,
        concurrency: rig_args.concurrency,
        ..local::RigOptions::new(
            &repo_root,
            rig_args.state_dir.unwrap_or_else(|| repo_root.join(".rig")),
        )
    };
    let say = |msg: &str| {
        if output == Output::Text {
            eprintln!("==> {msg}");
        }
    };
    say("building examples/hello-worker (cargo build)");
    let bootstrap = local::build_sample(&opts.repo_root, release)?;
    let pb = spinner(output, "starting the local serverless rig");
    let rig = local::start_rig(&opts, &bootstrap, &|m| pb.set_message(m.to_string())).await;
    pb.finish_and_clear();
    let rig = rig?;
    say(&format!(
        "rig up: Temporal {} | emulator {} | function {}",
        rig.server.address(),
        rig.emulator.endpoint(),
        rig.function_arn
    ));
    let pb = spinner(
        output,
        &format!(
            "starting {} workflow(s) with no worker running; the server invokes the function",
            workflows
        ),
    );
    let report = local::run_workflows(&rig, workflows).await;
    pb.finish_and_clear();
    let report = report?;
    emit(output, &report, || {
        let mut s = String::from(
            "workflow                                        result                 ms\n",
        );
        for w in &report.workflows {
            s.push_str(&format!(
                "{:<47} {:<22} {}\n",
                w.workflow_id, w.result, w.elapsed_ms
            ));
        }
        s.push_str(&format!(
            "{} invocation(s) by the server, {} cold start(s), {} ended after their deadline",
            report.invocations, report.cold_starts, report.deadline_overruns
        ));
        s
    });
    if keep_running {
        say(&format!(
            "running; try: temporal workflow start --address {} --task-queue {} --type HelloWorkflow --input '\"you\"'. Ctrl-C stops everything.",
            rig.server.address(),
            rig.task_queue
        ));
        tokio::signal::ctrl_c().await.ok();
        say("stopping");
    }
    drop(rig);
    Ok(())
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
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5 parsecs").is_err());
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
