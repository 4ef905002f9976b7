//! Reading a workflow's history, shared by the benches (`#[path]`-included by side-by-side and
//! task-gaps, as they include rig-latency's stats and logs).

use anyhow::{bail, Result};
use temporalio_client::{
    tonic::{Code, Request, Status},
    Connection,
};
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution, enums::v1::HistoryEventFilterType, history::v1::HistoryEvent,
    workflowservice::v1::GetWorkflowExecutionHistoryRequest,
};

/// A call that failed because the server closed the connection (it does so at the connection's
/// max age); the channel reconnects and the call may be repeated.
pub(super) fn reconnecting(st: &Status) -> bool {
    matches!(st.code(), Code::Cancelled | Code::Unavailable)
}

/// The history of `workflow_id` / `run_id` in namespace `default`: with `wait_for_close`, long
/// polls until the close event and returns it; otherwise every event, all pages.
pub(super) async fn history(
    conn: &Connection,
    workflow_id: &str,
    run_id: &str,
    wait_for_close: bool,
) -> Result<Vec<HistoryEvent>> {
    let mut events = Vec::new();
    let mut page_token = Vec::new();
    let mut retries = 0;
    loop {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.to_owned(),
                run_id: run_id.to_owned(),
            }),
            wait_new_event: wait_for_close,
            history_event_filter_type: if wait_for_close {
                HistoryEventFilterType::CloseEvent as i32
            } else {
                HistoryEventFilterType::AllEvent as i32
            },
            next_page_token: page_token.clone(),
            ..Default::default()
        };
        let resp = match conn
            .workflow_service()
            .get_workflow_execution_history(Request::new(req))
            .await
        {
            Ok(r) => r.into_inner(),
            Err(st) if wait_for_close && st.code() == Code::DeadlineExceeded => continue,
            Err(st) if reconnecting(&st) && retries < 5 => {
                retries += 1;
                continue;
            }
            Err(st) => bail!("history of {workflow_id}: {}", st.message()),
        };
        events.extend(resp.history.map(|h| h.events).unwrap_or_default());
        if (wait_for_close && !events.is_empty()) || resp.next_page_token.is_empty() {
            return Ok(events);
        }
        page_token = resp.next_page_token;
    }
}
