//! `temporal-lambda local demo|up|watch`: the whole serverless flow on one machine (what they
//! share is in [`super::rig_session`]; `watch` in [`super::watch`]).

use clap::Subcommand;

use super::rig_session::{rig_json, say, start, stop, RigArgs, Started};
use super::ui::{emit, spinner};
use super::{watch, Output};
use crate::local_rig;

/// `local` subcommands.
// The flattened `rig` fields carry no doc of their own: `RigArgs`' fields are the help text.
#[allow(missing_docs)]
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
    /// Like `up`, and rebuild + redeploy on every change to the crate's files: a new Lambda
    /// version with the deployment version pointed at it. A failed build keeps the old code.
    Watch {
        #[command(flatten)]
        rig: RigArgs,
        /// Give every rebuild its own build ID (`<the code's build ID>-w<n>`, through
        /// TEMPORAL_BUILD_ID), made current, so workflows pinned to the previous build finish
        /// on its code.
        #[arg(long)]
        new_build_id: bool,
    },
}

/// Runs a `local` subcommand.
pub async fn run(output: Output, cmd: LocalCommand) -> anyhow::Result<()> {
    match cmd {
        LocalCommand::Demo { rig, workflows } => demo(output, rig, workflows).await,
        LocalCommand::Up { rig } => up(output, rig).await,
        LocalCommand::Watch { rig, new_build_id } => watch::run(output, rig, new_build_id).await,
    }
}
async fn demo(output: Output, args: RigArgs, workflows: usize) -> anyhow::Result<()> {
    let started = start(output, &args, false).await?;
    let mut reports = Vec::new();
    let mut failure = None;
    for f in &started.rig.functions {
        let workflow_type = match started.workflow_type_of(f) {
            Ok(t) => t,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let pb = spinner(
            output,
            &format!(
                "starting {workflows} {workflow_type} workflow(s) on {} with no worker running; the server invokes the function",
                f.task_queue
            ),
        );
        let report = local_rig::run_workflows_on(
            &started.rig,
            f,
            &workflow_type,
            workflows,
            args.input.as_ref(),
        )
        .await;
        pb.finish_and_clear();
        match report {
            Ok(r) => reports.push(r),
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        }
    }
    stop(started.rig).await;
    if let Some(e) = failure {
        return Err(e);
    }
    let text = || {
        let mut s = String::new();
        for report in &reports {
            s.push_str(&format!(
                "{}\n{:<47} {:<30} ms\n",
                report.function_arn, "workflow", "result"
            ));
            for w in &report.workflows {
                s.push_str(&format!(
                    "{:<47} {:<30} {}\n",
                    w.workflow_id, w.result, w.elapsed_ms
                ));
            }
            s.push_str(&format!(
                "{} invocation(s) by the server, {} cold start(s), {} ended after their deadline\n",
                report.invocations, report.cold_starts, report.deadline_overruns
            ));
        }
        s.trim_end().to_string()
    };
    // One function: its report (as before); several: one report per function.
    if reports.len() == 1 {
        emit(output, &reports[0], text);
    } else {
        emit(output, &serde_json::json!({ "functions": reports }), text);
    }
    Ok(())
}

async fn up(output: Output, args: RigArgs) -> anyhow::Result<()> {
    // Registered before anything starts: SIGTERM (a service manager, `kill`) stops the rig as
    // Ctrl-C does, so sandboxes, cgroups and the dev server are cleaned up either way.
    let mut stop_requested = Box::pin(stop_signal()?);
    let Started { rig, .. } = tokio::select! {
        started = start(output, &args, true) => started?,
        _ = &mut stop_requested => {
            // Dropping the half-started rig stops what it had started.
            say(output, "stopped before the rig was up");
            return Ok(());
        }
    };
    if output == Output::Json {
        emit(output, &rig_json(&rig), String::new);
    }
    say(output, "running; Ctrl-C (or SIGTERM) stops everything");
    stop_requested.await;
    say(output, "stopping");
    stop(rig).await;
    Ok(())
}

/// Resolves at the first SIGINT or SIGTERM (handlers installed when this is called).
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
    })
}
