//! `temporal-lambda local demo|up`: the whole serverless flow on one machine.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use crate::local::{self, Rig};

use super::args::{parse_function_timeout, parse_json};
use super::ui::{emit, spinner, stepper};
use super::Output;

/// `local` subcommands.
#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start the dev server + emulator, deploy the worker, run workflows the server completes
    /// by invoking the function, print the results, stop everything.
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

/// The rig's and the worker crate's settings.
#[derive(Debug, clap::Args)]
pub struct RigArgs {
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
    manifest_path: Option<PathBuf>,
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
    state_dir: Option<PathBuf>,
    /// IAM endpoint (e.g. `moto_server`) whose role trust policies the emulator's STS enforces,
    /// to try `iam create` / `deploy` / `ship` / `doctor` locally.
    #[arg(long)]
    iam_endpoint: Option<String>,
}

/// Runs a `local` subcommand.
pub async fn run(output: Output, cmd: LocalCommand) -> anyhow::Result<()> {
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
    let rig = local::start_rig(&opts, &bootstrap, &stepper(output, &pb)).await;
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
            emit(output, &rig_json(&rig), String::new);
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

fn rig_json(rig: &Rig) -> serde_json::Value {
    let env: serde_json::Map<String, serde_json::Value> = rig
        .tool_env()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::json!({
        "env": env,
        "temporal_ui": rig.server.ui_url(),
        "function_arn": rig.function_arn,
        "role_arn": rig.role_arn,
        "external_id": rig.external_id,
        "deployment_name": rig.deployment_name,
        "build_id": rig.build_id,
        "task_queue": rig.task_queue,
        "workflow_types": rig.workflow_types,
    })
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
fn rig_summary(rig: &Rig, workflow_type: &str) -> String {
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
