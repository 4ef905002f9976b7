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
    #[arg(long, value_parser = parse_function_timeout, default_value = "30s")]
    function_timeout: Duration,
    /// Function concurrency limit.
    #[arg(long, default_value_t = 3)]
    concurrency: u32,
    /// The worker crate's Cargo.toml (default: the crate in the current directory; inside this
    /// repository, the sample examples/hello-worker).
    #[arg(long)]
    manifest_path: Option<std::path::PathBuf>,
    /// Package to run, in a workspace.
    #[arg(long, short = 'p')]
    package: Option<String>,
    /// Binary target that is the function's `bootstrap`.
    #[arg(long, default_value = "bootstrap")]
    bin: String,
    /// Build in release mode (default: debug, quick to rebuild).
    #[arg(long)]
    release: bool,
    /// Workflow type the demo starts (default: the sample's HelloWorkflow, else the first type
    /// the code registers).
    #[arg(long)]
    workflow_type: Option<String>,
    /// The demo workflows' argument as JSON (default: the string "Lambda #<n>").
    #[arg(long, value_parser = parse_json)]
    input: Option<serde_json::Value>,
    /// Where state and logs go (default: <target dir>/temporal-lambda/rig).
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
    /// Function timeout (each invocation's deadline), 1s..=900s, e.g. 600s, 10m.
    #[arg(long, value_parser = parse_function_timeout, default_value = "600s")]
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
    /// Create a new worker crate: run_worker in main, one workflow + one activity, a local-rig
    /// test, a commented temporal.toml example and a README with the next commands.
    New {
        /// Directory to create (must not exist or be empty; nothing is overwritten).
        path: std::path::PathBuf,
        /// Crate name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Worker Deployment name (default: the crate name).
        #[arg(long)]
        deployment_name: Option<String>,
        /// Build ID.
        #[arg(long, default_value = "build-1")]
        build_id: String,
        /// Task queue (default: the crate name).
        #[arg(long)]
        task_queue: Option<String>,
        /// Take temporal-lambda-worker / -testing from this checkout of the toolkit (default:
        /// the checkout this binary was built from, while the crates are not on crates.io).
        #[arg(long, conflicts_with_all = ["toolkit_git", "crates_io"])]
        toolkit_path: Option<std::path::PathBuf>,
        /// Take them from this git URL (`URL#REV` pins a revision).
        #[arg(long, conflicts_with = "crates_io")]
        toolkit_git: Option<String>,
        /// Take them from crates.io.
        #[arg(long)]
        crates_io: bool,
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
        /// State file that makes reruns resume (default:
        /// <project dir>/target/lambda/<function>/ship-state.json, beside the zip). Losing it is
        /// harmless: the external ID is read back from the role stack.
        #[arg(long)]
        state_file: Option<std::path::PathBuf>,
        /// Change the role stack's external ID to --external-id on purpose, and re-register
        /// every version of the deployment that uses the role with it.
        #[arg(long, requires = "external_id")]
        rotate_external_id: bool,
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
    // A year is more than any timeout here needs; beyond it (or NaN/inf) is a typo.
    const MAX_SECS: f64 = 365.0 * 24.0 * 3600.0;
    if !secs.is_finite() || !(0.0..=MAX_SECS).contains(&secs) {
        return Err(format!(
            "duration `{s}` is out of range: use at most 8760h (e.g. 600s, 10m)"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// A Lambda function timeout: 1 s to 900 s (Lambda's limits), whole seconds.
fn parse_function_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(900) {
        return Err(format!(
            "function timeout `{s}` is outside Lambda's 1s..=900s (15m); e.g. --timeout 600s"
        ));
    }
    Ok(Duration::from_secs(d.as_secs()))
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
            let mut generated = external_id.is_none();
            let mut so = StackOptions {
                stack_name,
                trust: match trusted_principal {
                    Some(p) => Trust::SelfHosted { principal: p },
                    None => Trust::Cloud,
                },
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
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let aws = Aws::load(&aws).await?;
            for a in &function_arns {
                aws.check_region("function", a.as_str(), &a.region)?;
            }
            // An existing stack keeps its external ID: a new one would lock out every
            // deployment version registered with the old one.
            let (ext, new_id) =
                iam::choose_external_id(&aws, &so.stack_name, external_id.as_ref(), None, false)
                    .await?;
            so.external_id = ext;
            generated = generated && new_id;
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
            rotate_external_id,
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
                include: build.include.clone(),
                rotate_external_id,
                verify: verify_workflow.map(|w| VerifySpec {
                    workflow_type: w,
                    input: verify_input,
                    timeout: verify_timeout,
                }),
                state_file: state_file.unwrap_or_else(|| {
                    build
                        .project_dir
                        .join("target/lambda")
                        .join(&function.function_name)
                        .join("ship-state.json")
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
        Command::New {
            path,
            name,
            deployment_name,
            build_id,
            task_queue,
            toolkit_path,
            toolkit_git,
            crates_io,
        } => {
            use temporal_lambda_cli::scaffold::{self, NewOptions, ToolkitSource};
            let built_from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .map(std::path::Path::to_path_buf)
                .filter(|r| r.join("crates/lambda-worker/Cargo.toml").is_file());
            let toolkit = match (toolkit_path, toolkit_git, crates_io, built_from) {
                (Some(p), _, _, _) => ToolkitSource::Path(std::fs::canonicalize(&p).unwrap_or(p)),
                (_, Some(g), _, _) => ToolkitSource::Git(g),
                (_, _, true, _) => ToolkitSource::CratesIo,
                (_, _, _, Some(r)) => ToolkitSource::Path(r),
                _ => anyhow::bail!(
                    "the temporal-lambda crates are not on crates.io yet and this binary's checkout is gone: pass --toolkit-path <checkout> or --toolkit-git <url>"
                ),
            };
            let r = scaffold::new_project(&NewOptions {
                path,
                crate_name: name,
                deployment_name,
                build_id,
                task_queue,
                toolkit: toolkit.clone(),
            })?;
            emit(output, &r, || {
                format!(
                    "Created {} ({}) — deployment version {}:{}, task queue {}\nToolkit crates from {}.\n\nNext:\n  cd {}\n  temporal-lambda local demo   # the server invokes your function on the local rig\n  cargo test                   # tests/local_rig.rs does the same from a test",
                    r.crate_name,
                    r.path.display(),
                    r.deployment_name,
                    r.build_id,
                    r.task_queue,
                    match &toolkit {
                        ToolkitSource::CratesIo => "crates.io".to_string(),
                        ToolkitSource::Path(p) => p.display().to_string(),
                        ToolkitSource::Git(g) => g.clone(),
                    },
                    r.path.display()
                )
            });
        }
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
    use temporal_lambda_cli::local;
    let (rig_args, workflows, keep_running) = match cmd {
        LocalCommand::Demo { rig, workflows } => (rig, workflows, false),
        LocalCommand::Up { rig } => (rig, 1, true),
    };
    let say = |msg: &str| {
        if output == Output::Text {
            eprintln!("==> {msg}");
        }
    };
    let worker = local::resolve_worker(&local::WorkerSource {
        manifest_path: rig_args.manifest_path.clone(),
        package: rig_args.package.clone(),
        bin: Some(rig_args.bin.clone()),
        release: rig_args.release,
    })?;
    say(&format!(
        "building {} ({}, cargo build{}; the first build of a new crate takes a few minutes)",
        worker.package,
        worker.manifest_path.display(),
        if worker.release { " --release" } else { "" }
    ));
    let bootstrap = local::build_worker(&worker)?;
    let state_dir = rig_args
        .state_dir
        .clone()
        .unwrap_or_else(|| worker.state_dir());
    let base = if worker.is_sample {
        local::RigOptions::new(local::tool_root(), state_dir)
    } else {
        local::RigOptions::for_crate(
            local::tool_root(),
            state_dir,
            function_name_for(&worker.package),
        )
    };
    let opts = local::RigOptions {
        emulator_port: rig_args.emulator_port,
        temporal_port: rig_args.temporal_port,
        function_timeout: rig_args.function_timeout,
        concurrency: rig_args.concurrency,
        iam_endpoint: rig_args.iam_endpoint.clone(),
        ui: keep_running,
        ..base
    };
    let pb = spinner(output, "starting the local serverless rig");
    let rig = local::start_rig(&opts, &bootstrap, &|m| {
        if output == Output::Text && pb.is_hidden() {
            eprintln!("==> {m}");
        }
        pb.set_message(m.to_string())
    })
    .await;
    pb.finish_and_clear();
    let rig = rig?;
    let workflow_type = rig_args
        .workflow_type
        .clone()
        .or_else(|| worker.is_sample.then(|| "HelloWorkflow".to_string()))
        .or_else(|| rig.workflow_types.first().cloned())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} registers no workflow type: register one in run_worker's closure (config.register_workflow::<MyWorkflow>()?) or pass --workflow-type",
                worker.package
            )
        })?;
    // On stderr in both output modes: stdout stays the report.
    eprintln!("{}", rig_summary(&rig, &workflow_type));
    if !keep_running {
        let pb = spinner(
            output,
            &format!(
                "starting {workflows} {workflow_type} workflow(s) with no worker running; the server invokes the function"
            ),
        );
        let report =
            local::run_workflows_of(&rig, &workflow_type, workflows, rig_args.input.as_ref()).await;
        pb.finish_and_clear();
        let report = report?;
        emit(output, &report, || {
            let mut s = format!("{:<47} {:<30} ms\n", "workflow", "result");
            for w in &report.workflows {
                s.push_str(&format!(
                    "{:<47} {:<30} {}\n",
                    w.workflow_id, w.result, w.elapsed_ms
                ));
            }
            s.push_str(&format!(
                "{} invocation(s) by the server, {} cold start(s), {} ended after their deadline",
                report.invocations, report.cold_starts, report.deadline_overruns
            ));
            s
        });
    } else {
        if output == Output::Json {
            let env: serde_json::Map<String, serde_json::Value> = rig
                .tool_env()
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            emit(
                output,
                &serde_json::json!({
                    "env": env,
                    "temporal_ui": rig.server.ui_url(),
                    "function_arn": rig.function_arn,
                    "role_arn": rig.role_arn,
                    "external_id": rig.external_id,
                    "deployment_name": rig.deployment_name,
                    "build_id": rig.build_id,
                    "task_queue": rig.task_queue,
                    "workflow_types": rig.workflow_types,
                }),
                String::new,
            );
        }
        say("running; Ctrl-C stops everything");
        tokio::signal::ctrl_c().await.ok();
        say("stopping");
    }
    // Stop the emulator first, quietly: invocations the server queued after the last
    // workflow are not failures of the demo.
    rig.emulator.shutdown().await;
    drop(rig.server);
    Ok(())
}

/// A Lambda function name for a package: letters, digits, '-' and '_' (64 at most).
fn function_name_for(package: &str) -> String {
    package
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// What other tools need to use the rig, ready to copy.
fn rig_summary(rig: &temporal_lambda_cli::local::Rig, workflow_type: &str) -> String {
    let mut s = String::from("\nLocal serverless rig is up:\n");
    for (k, v) in rig.tool_env() {
        s.push_str(&format!("  export {k}={v}\n"));
    }
    if let Some(ui) = rig.server.ui_url() {
        s.push_str(&format!("  Temporal UI      {ui}\n"));
    }
    s.push_str(&format!(
        "  function         {}\n  deployment       {}:{} (current)\n  task queue       {}\n  invocation role  {} (external ID {})\n",
        rig.function_arn,
        rig.deployment_name,
        rig.build_id,
        rig.task_queue,
        rig.role_arn,
        rig.external_id
    ));
    s.push_str(&format!(
        "  start one:       temporal workflow start --address {} --task-queue {} --type {workflow_type} --input '\"you\"'\n",
        rig.server.address(),
        rig.task_queue
    ));
    s
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
        // Used to panic (Duration overflow) and, as a function timeout, wrap in `as i32`.
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("1e400").is_err());
        assert!(parse_function_timeout("901s").is_err());
        assert!(parse_function_timeout("0.5s").is_err());
        assert_eq!(
            parse_function_timeout("15m").unwrap(),
            Duration::from_secs(900)
        );
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
