//! `verify`: start a workflow and wait for its result, with a timeout.

use std::time::{Duration, Instant};

use serde::Serialize;
use temporalio_client::{
    tonic::{Code, Request},
    Connection,
};
use temporalio_common::protos::temporal::api::{
    common::v1::{Payloads, WorkflowExecution, WorkflowType},
    enums::v1::{HistoryEventFilterType, TaskQueueKind},
    history::v1::history_event::Attributes,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{GetWorkflowExecutionHistoryRequest, StartWorkflowExecutionRequest},
};

use crate::compute::{json_payload, payload_json};
use crate::connect::identity;

/// Options for [`verify`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Namespace.
    pub namespace: String,
    /// Task queue the worker polls.
    pub task_queue: String,
    /// Workflow type name.
    pub workflow_type: String,
    /// Workflow ID; a `verify-<uuid>` ID is generated when `None`.
    pub workflow_id: Option<String>,
    /// Workflow arguments, each encoded as a `json/plain` payload.
    pub input: Vec<serde_json::Value>,
    /// How long to wait for the result (also the workflow execution timeout).
    pub timeout: Duration,
}

/// Result of a successful [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Workflow ID.
    pub workflow_id: String,
    /// Run ID of the run that completed.
    pub run_id: String,
    /// Decoded result (first payload), when it is JSON.
    pub result: Option<serde_json::Value>,
    /// Time from the start request to the completion event being observed.
    pub elapsed_ms: u128,
}

/// Errors from [`verify`].
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Starting the workflow failed.
    #[error("starting workflow {workflow_type} on task queue {task_queue} failed: {message}")]
    Start {
        /// Workflow type.
        workflow_type: String,
        /// Task queue.
        task_queue: String,
        /// Server message.
        message: String,
    },
    /// No result within the timeout.
    #[error(
        "workflow {workflow_id} did not complete within {timeout:?}. Fix: check that the version is \
         current (`temporal-lambda set-current`), that the function's deployment name, build ID and \
         task queue match the registered version, and look at the Worker Controller Instance \
         workflows (`temporal workflow list --query 'TemporalNamespaceDivision = \
         \"TemporalWorkerControllerInstance\"'`)"
    )]
    Timeout {
        /// Workflow ID.
        workflow_id: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The workflow closed without completing.
    #[error("workflow {workflow_id} {outcome}: {message}")]
    Failed {
        /// Workflow ID.
        workflow_id: String,
        /// `failed`, `was canceled`, `was terminated`.
        outcome: &'static str,
        /// Failure message.
        message: String,
    },
    /// Reading the history failed.
    #[error("waiting for workflow {workflow_id} failed: {message}")]
    Poll {
        /// Workflow ID.
        workflow_id: String,
        /// Server message.
        message: String,
    },
}

/// Start the workflow and wait for its result.
pub async fn verify(conn: &Connection, opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let workflow_id = opts
        .workflow_id
        .clone()
        .unwrap_or_else(|| format!("verify-{}", uuid::Uuid::new_v4()));
    let started = Instant::now();
    let req = StartWorkflowExecutionRequest {
        namespace: opts.namespace.clone(),
        workflow_id: workflow_id.clone(),
        workflow_type: Some(WorkflowType {
            name: opts.workflow_type.clone(),
        }),
        task_queue: Some(TaskQueue {
            name: opts.task_queue.clone(),
            kind: TaskQueueKind::Normal as i32,
            ..Default::default()
        }),
        input: (!opts.input.is_empty()).then(|| Payloads {
            payloads: opts.input.iter().map(json_payload).collect(),
        }),
        workflow_execution_timeout: opts.timeout.try_into().ok(),
        identity: identity(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let run_id = conn
        .workflow_service()
        .start_workflow_execution(Request::new(req))
        .await
        .map_err(|s| VerifyError::Start {
            workflow_type: opts.workflow_type.clone(),
            task_queue: opts.task_queue.clone(),
            message: s.message().to_string(),
        })?
        .into_inner()
        .run_id;

    let wait = wait_for_close(conn, &opts.namespace, &workflow_id, run_id, opts.timeout);
    match tokio::time::timeout(opts.timeout, wait).await {
        Ok(Ok((run_id, result))) => Ok(VerifyReport {
            workflow_id,
            run_id,
            result,
            elapsed_ms: started.elapsed().as_millis(),
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(VerifyError::Timeout {
            workflow_id,
            timeout: opts.timeout,
        }),
    }
}

async fn wait_for_close(
    conn: &Connection,
    namespace: &str,
    workflow_id: &str,
    mut run_id: String,
    timeout: Duration,
) -> Result<(String, Option<serde_json::Value>), VerifyError> {
    let poll_err = |message: String| VerifyError::Poll {
        workflow_id: workflow_id.to_string(),
        message,
    };
    let failed = |outcome: &'static str, message: String| VerifyError::Failed {
        workflow_id: workflow_id.to_string(),
        outcome,
        message,
    };
    let mut page_token = Vec::new();
    'poll: loop {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: namespace.to_string(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.to_string(),
                run_id: run_id.clone(),
            }),
            wait_new_event: true,
            history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
            next_page_token: page_token.clone(),
            ..Default::default()
        };
        let resp = match conn
            .workflow_service()
            .get_workflow_execution_history(Request::new(req))
            .await
        {
            Ok(r) => r.into_inner(),
            // Long poll expired without news: poll again.
            Err(s) if s.code() == Code::DeadlineExceeded => continue,
            Err(s) => return Err(poll_err(s.message().to_string())),
        };
        let events = resp.history.map(|h| h.events).unwrap_or_default();
        for ev in events {
            match ev.attributes {
                Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                    let result = a
                        .result
                        .and_then(|p| p.payloads.into_iter().next())
                        .and_then(|p| payload_json(&p));
                    return Ok((run_id, result));
                }
                Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
                    return Err(failed(
                        "failed",
                        a.failure.map(|f| f.message).unwrap_or_default(),
                    ))
                }
                // The execution timeout is the verify timeout: same failure, same advice.
                Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
                    return Err(VerifyError::Timeout {
                        workflow_id: workflow_id.to_string(),
                        timeout,
                    })
                }
                Some(Attributes::WorkflowExecutionCanceledEventAttributes(_)) => {
                    return Err(failed("was canceled", "canceled".into()))
                }
                Some(Attributes::WorkflowExecutionTerminatedEventAttributes(a)) => {
                    return Err(failed("was terminated", a.reason))
                }
                Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a)) => {
                    run_id = a.new_execution_run_id;
                    page_token.clear();
                    continue 'poll;
                }
                _ => {}
            }
        }
        page_token = resp.next_page_token;
    }
}
