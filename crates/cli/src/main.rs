//! `temporal-lambda`: Temporal-side commands for Temporal Serverless Workers on AWS Lambda.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use temporal_lambda_cli::{
    aws::{Aws, AwsArgs},
    compute::LambdaTarget,
    connect::ConnectArgs,
    deploy::{self as deploy_mod, DeployOptions},
    deployment::{self, RegisterOptions, RegisterOutcome, SetCurrentOptions},
    doctor::{self, DoctorOptions},
    iam::{self, StackOptions, Trust},
    ship::{self as ship_mod, RoleSource, ShipOptions, VerifySpec},
    validate::{self, ExternalId, FunctionArn, RoleArn},
    verify::{self, VerifyOptions},
};

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
    /// IAM endpoint (e.g. `moto_server`) whose role trust policies the emulator's STS enforces,
    /// to try `iam create` / `deploy` / `ship` / `doctor` locally.
    #[arg(long)]
    iam_endpoint: Option<String>,
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// Directory of the worker crate (or its workspace).
    #[arg(long, default_value = ".")]
    project_dir: std::path::PathBuf,
    /// Cargo package to build (`-p`).
    #[arg(long, short = 'p')]
    package: Option<String>,
    /// Binary target to ship as `bootstrap`.
    #[arg(long, default_value = "bootstrap")]
    bin: String,
    /// Lambda architecture: x86_64 or arm64.
    #[arg(long, default_value = "x86_64", value_parser = parse_arch)]
    arch: temporal_lambda_package::Arch,
    /// Cargo profile: `release` (tuned for size: stripped, thin LTO, opt-level s) or any
    /// profile of your Cargo.toml (e.g. `dev` for quick test builds).
    #[arg(long, default_value = "release")]
    profile: String,
    /// Cargo features to enable.
    #[arg(long)]
    features: Vec<String>,
    /// Extra files to put at the zip root (e.g. temporal.toml, mTLS certificates).
    #[arg(long = "include")]
    include: Vec<std::path::PathBuf>,
}

impl BuildArgs {
    fn options(&self) -> temporal_lambda_package::BuildOptions {
        let mut o =
            temporal_lambda_package::BuildOptions::new(&self.project_dir, self.arch).bin(&self.bin);
        o.package = self.package.clone();
        o.features = self.features.clone();
        if self.profile != "release" {
            o.profile = temporal_lambda_package::Profile::Named(self.profile.clone());
        }
        o
    }
}

#[derive(Debug, clap::Args)]
struct FunctionArgs {
    /// Lambda function name.
    #[arg(long)]
    function_name: String,
    /// Execution role Lambda runs the function with (needed to create it; trusts
    /// lambda.amazonaws.com). Not the role Temporal assumes to invoke it.
    #[arg(long)]
    execution_role: Option<String>,
    /// Function timeout (each invocation's deadline), e.g. 600s, 10m.
    #[arg(long, value_parser = parse_duration, default_value = "600s")]
    timeout: Duration,
    /// Memory in MB.
    #[arg(long, default_value_t = 256)]
    memory: i32,
    /// Task queue (sets TEMPORAL_TASK_QUEUE, overriding the code's).
    #[arg(long)]
    task_queue: Option<String>,
    /// Extra environment variable KEY=VALUE for the function; repeatable.
    #[arg(long = "env", value_parser = parse_kv)]
    env: Vec<(String, String)>,
    /// Expected build ID (checked against what the code reports).
    #[arg(long)]
    build_id: Option<String>,
}

#[derive(Debug, clap::Args)]
struct RoleArgs {
    /// Use this existing invocation role instead of creating one.
    #[arg(long, requires = "external_id")]
    role_arn: Option<RoleArn>,
    /// External ID (5-45 chars of [a-zA-Z0-9_+=,.@-]); generated securely if omitted.
    #[arg(long, env = "TEMPORAL_LAMBDA_EXTERNAL_ID")]
    external_id: Option<ExternalId>,
    /// CloudFormation stack for the invocation role (default: `<function>-temporal-invoker`, one
    /// per function, so shipping another function never rewrites this one's role).
    #[arg(long)]
    stack_name: Option<String>,
    /// Self-hosted Temporal: the AWS principal (role/user ARN) your server runs as. Without it
    /// the role trusts Temporal Cloud.
    #[arg(long)]
    trusted_principal: Option<String>,
}

impl RoleArgs {
    fn trust(&self) -> Trust {
        match &self.trusted_principal {
            Some(p) => Trust::SelfHosted {
                principal: p.clone(),
            },
            None => Trust::Cloud,
        }
    }
}

#[derive(Debug, Subcommand)]
enum IamCommand {
    /// Print the CloudFormation template for the invocation role.
    Template {
        /// Self-hosted variant trusting this principal (default: the Temporal Cloud template).
        #[arg(long)]
        trusted_principal: Option<String>,
    },
    /// Create (or update) the invocation role stack, wait for it, print the RoleARN.
    Create {
        #[command(flatten)]
        aws: AwsArgs,
        /// Function ARN(s) Temporal may invoke; an unqualified ARN also grants its versions.
        #[arg(long = "function-arn", required = true)]
        function_arns: Vec<FunctionArn>,
        /// External ID; generated securely if omitted (and printed: register needs it).
        #[arg(long, env = "TEMPORAL_LAMBDA_EXTERNAL_ID")]
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
    },
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Build the worker for Lambda (provided.al2023, glibc 2.34) and zip it deterministically.
    Package {
        #[command(flatten)]
        build: BuildArgs,
        /// Output zip.
        #[arg(long, short = 'O', default_value = "target/lambda/function.zip")]
        out: std::path::PathBuf,
    },
    /// Create or update the Lambda function and publish a Lambda version for the code's build ID.
    Deploy {
        #[command(flatten)]
        conn: ConnectArgs,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        function: FunctionArgs,
        /// Deployment package (from `temporal-lambda package`).
        #[arg(long, default_value = "target/lambda/function.zip")]
        zip: std::path::PathBuf,
        /// Lambda architecture of the package: x86_64 or arm64.
        #[arg(long, default_value = "x86_64", value_parser = parse_arch)]
        arch: temporal_lambda_package::Arch,
        /// Print the calls, make none.
        #[arg(long)]
        dry_run: bool,
    },
    /// The IAM role Temporal assumes to invoke the function.
    #[command(subcommand)]
    Iam(IamCommand),
    /// package → deploy → iam → register → set current → verify; rerun resumes after a failure.
    Ship {
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
        zip: Option<std::path::PathBuf>,
        /// Workflow type to run as the final check (skipped if omitted).
        #[arg(long)]
        verify_workflow: Option<String>,
        /// Its argument as JSON; repeatable.
        #[arg(long, value_parser = parse_json)]
        verify_input: Vec<serde_json::Value>,
        /// How long verify waits.
        #[arg(long, value_parser = parse_duration, default_value = "120s")]
        verify_timeout: Duration,
        /// State file that makes reruns resume (default: .temporal-lambda/ship-<function>.json).
        #[arg(long)]
        state_file: Option<std::path::PathBuf>,
        /// Print every AWS and Temporal call it would make; make none.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check every link from AWS credentials to the running code; print a checklist with fixes.
    Doctor {
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
    },
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

fn parse_arch(s: &str) -> Result<temporal_lambda_package::Arch, String> {
    temporal_lambda_package::Arch::parse(s)
        .ok_or_else(|| format!("unknown architecture `{s}` (use x86_64 or arm64)"))
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
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
        Ok(code) => code,
        Err(e) => {
            if output == Output::Json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let output = cli.output;
    match cli.command {
        Command::Package { build, out } => package_command(output, build, out)?,
        Command::Deploy {
            conn,
            aws,
            function,
            zip,
            arch,
            dry_run,
        } => {
            let opts = deploy_options(&conn, &function, zip, arch);
            if dry_run {
                print_plan(output, &deploy_mod::plan(&opts));
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let aws = Aws::load(&aws).await?;
            let pb = spinner(output, "deploying");
            let res = deploy_mod::deploy(&aws, &opts, &|m| pb.set_message(m.to_string())).await;
            pb.finish_and_clear();
            let r = res?;
            emit(output, &r, || {
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
            });
        }
        Command::Iam(IamCommand::Template { trusted_principal }) => {
            let t = match trusted_principal {
                Some(p) => Trust::SelfHosted { principal: p },
                None => Trust::Cloud,
            };
            print!("{}", t.template());
        }
        Command::Iam(IamCommand::Create {
            aws,
            function_arns,
            external_id,
            stack_name,
            role_name,
            trusted_principal,
            dry_run,
        }) => {
            let generated = external_id.is_none();
            let so = StackOptions {
                stack_name,
                trust: match trusted_principal {
                    Some(p) => Trust::SelfHosted { principal: p },
                    None => Trust::Cloud,
                },
                external_id: external_id.unwrap_or_else(iam::generate_external_id),
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
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let aws = Aws::load(&aws).await?;
            for a in &function_arns {
                aws.check_region("function", a.as_str(), &a.region)?;
            }
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
        }
        Command::Ship {
            conn,
            aws,
            build,
            function,
            role,
            zip,
            verify_workflow,
            verify_input,
            verify_timeout,
            state_file,
            dry_run,
        } => {
            let build_opts = if zip.is_some() {
                None
            } else {
                Some(build.options())
            };
            let zip_path = zip.clone().unwrap_or_else(|| {
                build
                    .project_dir
                    .join("target/lambda")
                    .join(&function.function_name)
                    .join("function.zip")
            });
            let opts = ShipOptions {
                build: build_opts,
                zip: zip_path.clone(),
                deploy: deploy_options(&conn, &function, zip_path, build.arch),
                role: match (&role.role_arn, &role.external_id) {
                    (Some(r), Some(e)) => RoleSource::Existing {
                        role_arn: r.clone(),
                        external_id: e.clone(),
                    },
                    _ => RoleSource::Stack {
                        stack_name: role.stack_name.clone().unwrap_or_else(|| {
                            format!("{}-temporal-invoker", function.function_name)
                        }),
                        trust: role.trust(),
                        external_id: role.external_id.clone(),
                    },
                },
                verify: verify_workflow.map(|w| VerifySpec {
                    workflow_type: w,
                    input: verify_input,
                    timeout: verify_timeout,
                }),
                state_file: state_file.unwrap_or_else(|| {
                    std::path::PathBuf::from(".temporal-lambda")
                        .join(format!("ship-{}.json", function.function_name))
                }),
                conn,
            };
            if dry_run {
                print_plan(output, &ship_mod::plan(&opts));
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let aws = Aws::load(&aws).await?;
            let pb = spinner(output, "shipping");
            let text = output == Output::Text;
            let res = ship_mod::ship(&aws, &opts, &|m| {
                if text && pb.is_hidden() {
                    eprintln!("==> {m}");
                }
                pb.set_message(m.to_string())
            })
            .await;
            pb.finish_and_clear();
            let r = res?;
            emit(output, &r, || {
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
                if let Some(v) = &r.verify {
                    s.push_str(&format!(
                        "verify    {} completed in {} ms: {}\n",
                        v.workflow_id,
                        v.elapsed_ms,
                        v.result.as_ref().map(|x| x.to_string()).unwrap_or_default()
                    ));
                }
                s.trim_end().to_string()
            });
        }
        Command::Doctor {
            conn,
            aws,
            version,
            function,
            trusted_principal,
            log_window,
        } => {
            let pb = spinner(output, "checking");
            let report = doctor::run(&DoctorOptions {
                conn,
                aws,
                deployment_name: version.deployment_name,
                build_id: version.build_id,
                function,
                trust: trusted_principal.map(|p| Trust::SelfHosted { principal: p }),
                min_timeout: Duration::from_secs(8),
                log_window,
            })
            .await;
            pb.finish_and_clear();
            emit(output, &report, || report.text());
            if report.failures > 0 {
                return Ok(std::process::ExitCode::from(3));
            }
        }
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
    Ok(std::process::ExitCode::SUCCESS)
}

fn deploy_options(
    conn: &ConnectArgs,
    f: &FunctionArgs,
    zip: std::path::PathBuf,
    arch: temporal_lambda_package::Arch,
) -> DeployOptions {
    DeployOptions {
        function_name: f.function_name.clone(),
        zip,
        execution_role: f.execution_role.clone(),
        timeout: f.timeout,
        memory_mb: f.memory,
        arch,
        env: deploy_mod::temporal_env(conn, f.task_queue.as_deref(), &f.env),
        build_id: f.build_id.clone(),
    }
}

fn print_plan(output: Output, steps: &[String]) {
    emit(
        output,
        &serde_json::json!({ "dry_run": true, "calls": steps }),
        || {
            let mut s = String::from("Dry run: these calls would be made (none was):\n");
            for (i, c) in steps.iter().enumerate() {
                s.push_str(&format!("{:>2}. {c}\n", i + 1));
            }
            s.trim_end().to_string()
        },
    );
}

fn package_command(
    output: Output,
    build: BuildArgs,
    out: std::path::PathBuf,
) -> anyhow::Result<()> {
    let opts = build.options();
    let pb = spinner(output, "building");
    let text = output == Output::Text;
    let res = temporal_lambda_package::build(&opts, &mut |line| {
        if text && pb.is_hidden() && (line.starts_with("running") || line.starts_with("Finished")) {
            eprintln!("==> {line}");
        }
        pb.set_message(line.to_string())
    });
    pb.finish_and_clear();
    let bin = res?;
    let glibc = temporal_lambda_package::check_glibc(&bin, opts.arch.max_glibc())?;
    let z = temporal_lambda_package::zip_bootstrap(&bin, &build.include, &out)?;
    let report = serde_json::json!({
        "zip": z,
        "binary": bin,
        "binary_size": std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0),
        "arch": opts.arch.lambda_name(),
        "newest_glibc_needed": glibc.map(|g| g.to_string()),
    });
    emit(output, &report, || {
        format!(
            "{} {} bytes ({:.1} MB), CodeSha256 {}\n  bootstrap: {} ({}); newest glibc symbol version it needs: {} (Lambda provided.al2023 has 2.34)",
            z.path.display(),
            z.size,
            z.size as f64 / 1e6,
            z.code_sha256,
            bin.display(),
            opts.arch.lambda_name(),
            glibc.map(|g| g.to_string()).unwrap_or_else(|| "none (static)".into())
        )
    });
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
        iam_endpoint: rig_args.iam_endpoint.clone(),
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
