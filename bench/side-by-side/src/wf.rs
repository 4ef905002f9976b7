//! Starting `HelloWorkflow`s and reading back, from the server's history, when each one's first
//! workflow task was handed to a poller and when it closed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[path = "../../shared/history.rs"]
mod shared_history;
use shared_history::reconnecting;

use anyhow::{bail, Context, Result};
use temporal_lambda_temporal::compute::{json_payload, payload_json};
use temporalio_client::{tonic::Request, Connection};
use temporalio_common::protos::temporal::api::{
    common::v1::{Payloads, WorkflowType},
    enums::v1::TaskQueueKind,
    history::v1::{history_event::Attributes, HistoryEvent},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::StartWorkflowExecutionRequest,
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
    /// The name it was started with (the result must be `Hello, <name>!`).
    pub name: String,
    /// When the start request was sent, epoch ms.
    pub sent_at_ms: f64,
}

/// What the history says about a completed workflow.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    /// Start request sent → completion observed by the bench, ms.
    pub elapsed_ms: f64,
    /// Server time of the first `WorkflowTaskStarted` event (a poll took the first task), epoch ms.
    pub first_task_started_ms: Option<f64>,
    /// Server time of the close event, epoch ms.
    pub closed_at_ms: f64,
}

fn event_ms(ev: &HistoryEvent) -> Option<f64> {
    let t = ev.event_time.as_ref()?;
    Some(t.seconds as f64 * 1000.0 + f64::from(t.nanos) / 1e6)
}

/// Starts `HelloWorkflow(name)` on `task_queue`.
pub(crate) async fn start(conn: &Connection, task_queue: &str, tag: &str) -> Result<Started> {
    let workflow_id = format!("{tag}-{}", uuid::Uuid::new_v4().simple());
    let name = format!("bench {tag}");
    let sent_at_ms = now_ms();
    let req = StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: workflow_id.clone(),
        workflow_type: Some(WorkflowType {
            name: "HelloWorkflow".into(),
        }),
        task_queue: Some(TaskQueue {
            name: task_queue.into(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        input: Some(Payloads {
            payloads: vec![json_payload(&name)],
        }),
        workflow_execution_timeout: Duration::from_secs(600).try_into().ok(),
        identity: "side-by-side".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    // The frontend closes every connection after its max age (5 min); a call caught in that
    // moment fails with `Cancelled`/`Unavailable` and the channel reconnects. The start is
    // idempotent (same request ID), so it is simply sent again.
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
        name,
        sent_at_ms,
    })
}

/// The history (see [`shared_history::history`]); `None` when it has no events.
async fn history(
    conn: &Connection,
    s: &Started,
    wait_for_close: bool,
) -> Result<Option<Vec<HistoryEvent>>> {
    let events = shared_history::history(conn, &s.workflow_id, &s.run_id, wait_for_close).await?;
    Ok((!events.is_empty()).then_some(events))
}

/// Waits (long poll on the close event) until the workflow closes; checks its result.
pub(crate) async fn wait(conn: &Connection, s: &Started, timeout: Duration) -> Result<Done> {
    let close = match tokio::time::timeout(timeout, history(conn, s, true)).await {
        Ok(h) => h?.unwrap_or_default(),
        Err(_) => {
            // What the server recorded, so a stuck workflow says where it stopped.
            let so_far = history(conn, s, false)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            let t0 = so_far
                .first()
                .and_then(|e| e.event_time)
                .map(|t| t.seconds * 1000 + t.nanos as i64 / 1_000_000)
                .unwrap_or(0);
            let events: Vec<String> = so_far
                .iter()
                .map(|e| {
                    let t = e
                        .event_time
                        .map(|t| t.seconds * 1000 + t.nanos as i64 / 1_000_000)
                        .unwrap_or(0);
                    format!("{:?}@+{}ms", e.event_type(), t - t0)
                })
                .collect();
            anyhow::bail!(
                "workflow {} did not close within {timeout:?}; its history so far: {}",
                s.workflow_id,
                events.join(", ")
            );
        }
    };
    let elapsed_ms = now_ms() - s.sent_at_ms;
    let expected = serde_json::json!(format!("Hello, {}!", s.name));
    let close_ev = close.last().context("no close event")?;
    match &close_ev.attributes {
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
            let result = a
                .result
                .as_ref()
                .and_then(|p| p.payloads.first())
                .and_then(payload_json);
            if result.as_ref() != Some(&expected) {
                bail!(
                    "workflow {} returned {result:?}, expected {expected}",
                    s.workflow_id
                );
            }
        }
        other => bail!(
            "workflow {} closed without completing: {other:?}",
            s.workflow_id
        ),
    }
    let closed_at_ms = event_ms(close_ev).unwrap_or(elapsed_ms + s.sent_at_ms);
    let all = history(conn, s, false).await?.unwrap_or_default();
    let first_task_started_ms = all
        .iter()
        .find(|e| {
            matches!(
                e.attributes,
                Some(Attributes::WorkflowTaskStartedEventAttributes(_))
            )
        })
        .and_then(event_ms);
    Ok(Done {
        elapsed_ms,
        first_task_started_ms,
        closed_at_ms,
    })
}
