//! One invocation as the worker sees it: what Lambda hands over ([`InvocationInfo`]) and what the
//! worker answers ([`InvocationReport`]).

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

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
        let deadline = match read_deadline(ctx.deadline, SystemTime::now()) {
            Deadline::Epoch(at) => at,
            Deadline::Budget { budget, at } => {
                if !BUDGET_NOTICE_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        deadline_ms = ctx.deadline,
                        budget_ms = budget.as_millis() as u64,
                        "Lambda-Runtime-Deadline-Ms is not an epoch time (it is before the year \
                         2000): reading it as a time budget from receipt, as `cargo lambda watch` \
                         means it (logged once per process)"
                    );
                }
                at
            }
        };
        Self {
            request_id: ctx.request_id.clone(),
            invoked_function_arn: ctx.invoked_function_arn.clone(),
            deadline,
        }
    }
}

/// `2000-01-01T00:00:00Z` in epoch milliseconds: a `Lambda-Runtime-Deadline-Ms` below this cannot
/// be an epoch time.
pub const EARLIEST_EPOCH_DEADLINE_MS: u64 = 946_684_800_000;

static BUDGET_NOTICE_LOGGED: AtomicBool = AtomicBool::new(false);

/// How a `Lambda-Runtime-Deadline-Ms` header was read (see [`read_deadline`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// An epoch time in milliseconds, as Lambda sends it.
    Epoch(SystemTime),
    /// A value before the year 2000, which cannot be an epoch time: `cargo lambda watch` sends
    /// the constant 600000 meaning "10 minutes". Read as a budget from receipt.
    Budget {
        /// The header's value as a duration.
        budget: Duration,
        /// `received + budget`.
        at: SystemTime,
    },
}

impl Deadline {
    /// The deadline as wall-clock time.
    pub fn at(self) -> SystemTime {
        match self {
            Deadline::Epoch(at) | Deadline::Budget { at, .. } => at,
        }
    }
}

/// Read a `Lambda-Runtime-Deadline-Ms` value received at `received`: an epoch time, unless it is
/// before [`EARLIEST_EPOCH_DEADLINE_MS`], in which case it is a budget from `received`.
pub fn read_deadline(deadline_ms: u64, received: SystemTime) -> Deadline {
    let budget = Duration::from_millis(deadline_ms);
    if deadline_ms < EARLIEST_EPOCH_DEADLINE_MS {
        Deadline::Budget {
            budget,
            at: received + budget,
        }
    } else {
        Deadline::Epoch(UNIX_EPOCH + budget)
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
    /// Concurrent invocations only (Lambda Managed Instances): the lease on the shared worker.
    /// There, the activity counts are the shared worker's during the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseReport>,
}

/// One invocation's lease on the shared worker of an execution environment that serves
/// invocations concurrently.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LeaseReport {
    /// Which SDK worker of the environment served it (1 for the first; a new one after a drain).
    pub generation: u64,
    /// Leases still live when this one ended.
    pub live_leases: usize,
    /// Whether this lease was the last under `stop` and drained the shared worker (and ran the
    /// shutdown hooks).
    pub drained_shared_worker: bool,
    /// The residency policy in force.
    pub residency: crate::config::Residency,
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
    /// The execution environment is being reclaimed (`SIGTERM`); Lambda Managed Instances only.
    Reclaimed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_epoch_deadline_is_read_as_epoch_milliseconds() {
        let received = SystemTime::now();
        let ms = (received + Duration::from_secs(60))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert_eq!(
            read_deadline(ms, received),
            Deadline::Epoch(UNIX_EPOCH + Duration::from_millis(ms))
        );
        // The first millisecond of 2000 is still an epoch time (and long past).
        assert_eq!(
            read_deadline(EARLIEST_EPOCH_DEADLINE_MS, received),
            Deadline::Epoch(UNIX_EPOCH + Duration::from_millis(EARLIEST_EPOCH_DEADLINE_MS))
        );
    }

    #[test]
    fn cargo_lambdas_constant_600000_is_a_ten_minute_budget_from_receipt() {
        let received = SystemTime::now();
        let d = read_deadline(600_000, received);
        assert_eq!(
            d,
            Deadline::Budget {
                budget: Duration::from_secs(600),
                at: received + Duration::from_secs(600)
            }
        );
        assert_eq!(d.at(), received + Duration::from_secs(600));
        let just_before_2000 = read_deadline(EARLIEST_EPOCH_DEADLINE_MS - 1, received);
        assert!(matches!(just_before_2000, Deadline::Budget { .. }));
    }

    #[test]
    fn a_context_from_cargo_lambda_gets_a_deadline_in_the_future() {
        let mut ctx = lambda_runtime::Context::default();
        ctx.deadline = 600_000;
        let info = InvocationInfo::from(&ctx);
        let left = info.deadline.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(590), "{left:?}");
    }
}
