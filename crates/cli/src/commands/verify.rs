//! `temporal-lambda verify`: start a workflow and wait for its result.

use std::time::Duration;

use anyhow::Context as _;

use crate::connect::ConnectArgs;
use crate::verify::{self, VerifyOptions};

use super::args::{parse_duration, parse_json};
use super::ui::{emit, spinner};
use super::Output;

/// Start a workflow and wait for its result (end-to-end check of a serverless worker).
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    /// Task queue the worker polls.
    #[arg(long, env = temporal_lambda_env::connection::TASK_QUEUE)]
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
}

/// Runs `verify`.
pub async fn run(output: Output, args: VerifyArgs) -> anyhow::Result<()> {
    let c = args.conn.connect().await?;
    let pb = spinner(
        output,
        &format!(
            "running {} on task queue {}",
            args.workflow_type, args.task_queue
        ),
    );
    let res = verify::verify(
        &c,
        &VerifyOptions {
            namespace: args.conn.namespace.clone(),
            task_queue: args.task_queue,
            workflow_type: args.workflow_type,
            workflow_id: args.workflow_id,
            input: args.input,
            timeout: args.timeout,
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
    Ok(())
}
