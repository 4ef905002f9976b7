//! One invocation as the worker sees it: what Lambda hands over ([`InvocationInfo`]) and what the
//! worker answers ([`InvocationReport`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{hooks::HooksReport, routing::RoutingCheck};

/// The parts of a Lambda invocation the worker needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvocationInfo {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_function_arn: String,
    /// `Lambda-Runtime-Deadline-Ms`, as wall-clock time.
    pub deadline: SystemTime,
}

impl From<&lambda_runtime::Context> for InvocationInfo {
    fn from(ctx: &lambda_runtime::Context) -> Self {
        Self {
            request_id: ctx.request_id.clone(),
            invoked_function_arn: ctx.invoked_function_arn.clone(),
            deadline: UNIX_EPOCH + Duration::from_millis(ctx.deadline),
        }
    }
}

impl InvocationInfo {
    /// The worker identity for this invocation: `<request-id>@<invoked-function-arn>`.
    pub fn identity(&self) -> String {
        format!("{}@{}", self.request_id, self.invoked_function_arn)
    }
}

/// What one invocation did; returned as the invocation's JSON result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InvocationReport {
    /// Lambda request ID.
    pub request_id: String,
    /// Worker identity used for polling.
    pub identity: String,
    /// `deployment:build`.
    pub deployment_version: String,
    /// Task queue polled.
    pub task_queue: String,
    /// Planned polling time, ms (deadline − buffer − start).
    pub work_window_ms: u64,
    /// Time to connect to Temporal, ms.
    pub connect_ms: u64,
    /// Activities started / completed / failed in this invocation.
    pub activities_started: u64,
    /// See above.
    pub activities_completed: u64,
    /// See above.
    pub activities_failed: u64,
    /// Time from polling start to the first task, ms (`None`: no task came).
    pub first_task_ms: Option<u64>,
    /// Idle gaps, ms: each time nothing was in flight, how long until the next task started
    /// (at most 1,000 per invocation). The data the idle exit is chosen from.
    pub idle_gaps_ms: Vec<u64>,
    /// Nothing in flight for this long when polling stopped, ms.
    pub idle_tail_ms: u64,
    /// Whether running activities had to be interrupted to end the drain in time.
    pub interrupted: bool,
    /// Whether the worker finished draining in its time.
    pub drained: bool,
    /// Why polling stopped: `window` (deadline − buffer), `idle` (idle exit), `handoff` (an
    /// activity could not fit in what was left), or `worker_stopped`.
    pub stopped_by: StopReason,
    /// Whether the server routes new work to this version (`None`: the check had not answered
    /// when the invocation ended).
    pub routing: Option<RoutingCheck>,
    /// Shutdown hook outcomes.
    pub hooks: HooksReport,
    /// Time left before the deadline when the invocation returned, ms (negative: overran).
    pub time_left_ms: i64,
}

/// Why an invocation stopped polling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The work window closed (`deadline − shutdown buffer`).
    Window,
    /// Idle for [`ShutdownSettings::idle_exit`](crate::config::ShutdownSettings::idle_exit).
    Idle,
    /// An activity arrived that could not fit in what was left; the invocation handed the rest of
    /// the work to a fresh invocation.
    Handoff,
    /// The SDK worker stopped on its own (an error).
    WorkerStopped,
}
