//! Running workflows on the rig and summarising what the emulator saw ([`DemoReport`]).

use std::time::Duration;

use serde::Serialize;
use temporal_lambda_temporal::verify::{self, VerifyOptions};

use crate::{step, LocalError, Rig, RigFunction};

/// One workflow's outcome in the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoWorkflow {
    /// Workflow ID.
    pub workflow_id: String,
    /// Result (JSON).
    pub result: String,
    /// Start → completion, ms.
    pub elapsed_ms: u64,
}

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Dev server address.
    pub temporal_address: String,
    /// Emulator endpoint.
    pub emulator_endpoint: String,
    /// Function version ARN.
    pub function_arn: String,
    /// Workflows and results.
    pub workflows: Vec<DemoWorkflow>,
    /// Invocations the server made.
    pub invocations: usize,
    /// Of which cold starts.
    pub cold_starts: usize,
    /// Invocations that ended after their deadline (should be 0).
    pub deadline_overruns: usize,
}

/// Start `n` workflows of `workflow_type` at once on `function`'s task queue (argument:
/// `input`, else the string `"Lambda #<i>"`) and wait for all of them; then summarise
/// `function`'s invocations.
pub async fn run_workflows_on(
    rig: &Rig,
    function: &RigFunction,
    workflow_type: &str,
    n: usize,
    input: Option<&serde_json::Value>,
) -> Result<DemoReport, LocalError> {
    let conn = rig
        .conn()
        .connect()
        .await
        .map_err(step("connecting to the dev server"))?;
    let runs = (0..n).map(|i| {
        let conn = conn.clone();
        let opts = VerifyOptions {
            namespace: "default".into(),
            task_queue: function.task_queue.clone(),
            workflow_type: workflow_type.to_string(),
            workflow_id: Some(format!("demo-{i}-{}", uuid::Uuid::new_v4().simple())),
            input: vec![input
                .cloned()
                .unwrap_or_else(|| serde_json::json!(format!("Lambda #{i}")))],
            timeout: Duration::from_secs(120),
        };
        async move { verify::verify(&conn, &opts).await }
    });
    let results = futures::future::join_all(runs).await;
    let mut workflows = Vec::new();
    for r in results {
        let r = r.map_err(step("running a workflow"))?;
        workflows.push(DemoWorkflow {
            workflow_id: r.workflow_id,
            result: r.result.map(|v| v.to_string()).unwrap_or_default(),
            elapsed_ms: r.elapsed_ms as u64,
        });
    }
    let records: Vec<_> = rig
        .emulator
        .invocations()
        .into_iter()
        .filter(|r| r.function_name == function.function_name && r.version != "$LATEST")
        .collect();
    Ok(DemoReport {
        temporal_address: rig.temporal_address(),
        emulator_endpoint: rig.emulator.endpoint(),
        function_arn: function.function_arn.clone(),
        workflows,
        invocations: records.len(),
        cold_starts: records
            .iter()
            .filter(|r| r.cold_start == Some(true))
            .count(),
        deadline_overruns: records
            .iter()
            .filter(|r| r.ended_before_deadline == Some(false))
            .count(),
    })
}
