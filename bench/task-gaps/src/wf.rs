//! Starting `GapShapesWorkflow`s, signalling them and reading their history back (raw gRPC, as
//! `bench/side-by-side` does: the bench needs no workflow code).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[path = "../../shared/history.rs"]
mod shared_history;
use shared_history::reconnecting;

use anyhow::{bail, Context, Result};
use temporal_lambda_temporal::compute::{json_payload, payload_json};
use temporalio_client::{tonic::Request, Connection};
use temporalio_common::protos::temporal::api::{
    common::v1::{Payloads, WorkflowExecution, WorkflowType},
    enums::v1::TaskQueueKind,
    history::v1::{history_event::Attributes, HistoryEvent},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{SignalWorkflowExecutionRequest, StartWorkflowExecutionRequest},
};

/// Epoch milliseconds now (host clock, shared by the server, the emulator and the bench).
pub(crate) fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A started workflow.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    /// Workflow ID.
    pub workflow_id: String,
    /// Run ID.
    pub run_id: String,
    /// When the start request was sent, epoch ms.
    pub sent_at_ms: f64,
}

/// The server closes connections at their max age; such a call may simply be repeated.
/// Starts `GapShapesWorkflow(shape)` on `task_queue`.
pub(crate) async fn start(
    conn: &Connection,
    task_queue: &str,
    workflow_id: String,
    shape: &serde_json::Value,
) -> Result<Started> {
    let req = StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: workflow_id.clone(),
        workflow_type: Some(WorkflowType {
            name: "GapShapesWorkflow".into(),
        }),
        task_queue: Some(TaskQueue {
            name: task_queue.into(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        input: Some(Payloads {
            payloads: vec![json_payload(shape)],
        }),
        workflow_execution_timeout: Duration::from_secs(600).try_into().ok(),
        identity: "task-gaps".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let sent_at_ms = now_ms();
    let mut attempt = 0;
    let run_id = loop {
        attempt += 1;
        match conn
            .workflow_service()
            .start_workflow_execution(Request::new(req.clone()))
            .await
        {
            Ok(r) => break r.into_inner().run_id,
            Err(st) if attempt < 5 && reconnecting(&st) => continue,
            Err(st) => bail!("starting workflow {workflow_id}: {st}"),
        }
    };
    Ok(Started {
        workflow_id,
        run_id,
        sent_at_ms,
    })
}

/// Sends the `tick` signal with argument `n`.
pub(crate) async fn signal(conn: &Connection, s: &Started, n: u32) -> Result<()> {
    let req = SignalWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: s.workflow_id.clone(),
            run_id: s.run_id.clone(),
        }),
        signal_name: "tick".into(),
        input: Some(Payloads {
            payloads: vec![json_payload(&n)],
        }),
        identity: "task-gaps".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match conn
            .workflow_service()
            .signal_workflow_execution(Request::new(req.clone()))
            .await
        {
            Ok(_) => return Ok(()),
            Err(st) if attempt < 5 && reconnecting(&st) => continue,
            Err(st) => bail!("signalling {}: {st}", s.workflow_id),
        }
    }
}

async fn history(
    conn: &Connection,
    s: &Started,
    wait_for_close: bool,
) -> Result<Vec<HistoryEvent>> {
    shared_history::history(conn, &s.workflow_id, &s.run_id, wait_for_close).await
}

fn event_ms(ev: &HistoryEvent) -> Option<f64> {
    let t = ev.event_time.as_ref()?;
    Some(t.seconds as f64 * 1000.0 + f64::from(t.nanos) / 1e6)
}

/// A closed workflow, as its history tells it.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    /// Start request sent → close event observed, ms.
    pub elapsed_ms: f64,
    /// Per fired timer: (its `start_to_fire_timeout` ms, server `TimerFired` − `TimerStarted` ms).
    pub timers: Vec<(f64, f64)>,
}

/// Waits (long poll on the close event) until the workflow closes; checks that it completed with
/// `expected`, then reads its timers from the history.
pub(crate) async fn wait(
    conn: &Connection,
    s: &Started,
    expected: &str,
    timeout: Duration,
) -> Result<Done> {
    let close = tokio::time::timeout(timeout, history(conn, s, true))
        .await
        .with_context(|| {
            format!(
                "workflow {} did not close within {timeout:?}",
                s.workflow_id
            )
        })??;
    let elapsed_ms = now_ms() - s.sent_at_ms;
    match close.last().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
            let result = a
                .result
                .as_ref()
                .and_then(|p| p.payloads.first())
                .and_then(payload_json);
            if result.as_ref().and_then(|v| v.as_str()) != Some(expected) {
                bail!(
                    "workflow {} returned {result:?}, expected {expected:?}",
                    s.workflow_id
                );
            }
        }
        other => bail!(
            "workflow {} closed without completing: {other:?}",
            s.workflow_id
        ),
    }
    let all = history(conn, s, false).await?;
    let mut started = std::collections::HashMap::new();
    let mut timers = Vec::new();
    for ev in &all {
        match &ev.attributes {
            Some(Attributes::TimerStartedEventAttributes(a)) => {
                let ms = a.start_to_fire_timeout.as_ref().map_or(0.0, |d| {
                    d.seconds as f64 * 1000.0 + f64::from(d.nanos) / 1e6
                });
                if let Some(at) = event_ms(ev) {
                    started.insert(ev.event_id, (ms, at));
                }
            }
            Some(Attributes::TimerFiredEventAttributes(a)) => {
                if let (Some(&(ms, at)), Some(fired)) =
                    (started.get(&a.started_event_id), event_ms(ev))
                {
                    timers.push((ms, fired - at));
                }
            }
            _ => {}
        }
    }
    Ok(Done { elapsed_ms, timers })
}
