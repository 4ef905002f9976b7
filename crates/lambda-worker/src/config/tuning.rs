//! The worker's Lambda-tuned sizing ([`WorkerTuning`]) and its shutdown budget
//! ([`ShutdownSettings`], the idle exit).

use std::{collections::HashMap, time::Duration};

use crate::Error;

/// Lambda-tuned worker sizing. Defaults match the official Go/Python/TypeScript packages.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerTuning {
    /// Max activities running at once (default 2).
    pub max_concurrent_activities: usize,
    /// Max workflow tasks processed at once (default 10).
    pub max_concurrent_workflow_tasks: usize,
    /// Max local activities running at once (default 2).
    pub max_concurrent_local_activities: usize,
    /// Max Nexus tasks at once (default 5).
    pub max_concurrent_nexus_tasks: usize,
    /// Concurrent workflow-task polls (default 2).
    pub workflow_task_pollers: usize,
    /// Concurrent activity-task polls (default 1).
    pub activity_task_pollers: usize,
    /// Concurrent Nexus-task polls (default 1).
    pub nexus_task_pollers: usize,
    /// Sticky workflow cache size (default 30).
    pub max_cached_workflows: usize,
    /// Eager activity execution (default off: an eager activity could outlive the invocation).
    pub eager_activities: bool,
}

impl Default for WorkerTuning {
    fn default() -> Self {
        Self {
            max_concurrent_activities: 2,
            max_concurrent_workflow_tasks: 10,
            max_concurrent_local_activities: 2,
            max_concurrent_nexus_tasks: 5,
            workflow_task_pollers: 2,
            activity_task_pollers: 1,
            nexus_task_pollers: 1,
            max_cached_workflows: 30,
            eager_activities: false,
        }
    }
}

/// How each invocation's time is split. With the defaults a 60 s invocation polls for 53 s,
/// drains in-flight tasks for up to 5 s, and leaves 2 s for shutdown hooks.
#[derive(Clone, Debug, PartialEq)]
pub struct ShutdownSettings {
    /// Time reserved before the deadline for draining and hooks (default 7 s).
    pub deadline_buffer: Duration,
    /// How long in-flight tasks may run after polling stops (default 5 s). The last
    /// `cancel_grace` of it is for activities still running to be cancelled and report back.
    pub graceful_shutdown: Duration,
    /// Part of the drain kept for cancelling activities that did not finish (default 1 s).
    pub cancel_grace: Duration,
    /// Kept free before the deadline so the response reaches Lambda in time (default 100 ms).
    pub response_margin: Duration,
    /// Refuse to start when the work window would be at most this (default 1 s).
    pub minimum_work_time: Duration,
    /// Warn when the work window is below this (default 5 s).
    pub warn_work_time: Duration,
    /// Upper bound for connecting to Temporal (default 10 s, and never past the work window).
    pub connect_timeout: Duration,
    /// End the invocation early once the worker has been idle (no task in flight, none started
    /// or finished) for this long, so billing stops; `None` polls until the window closes like
    /// the official packages. Work arriving later makes the server invoke the function again.
    /// Default [`DEFAULT_IDLE_EXIT`]; env `TEMPORAL_LAMBDA_IDLE_EXIT` (`10s`, `500ms`, `off`).
    pub idle_exit: Option<Duration>,
    /// Before the invocation's first task the idle exit waits at least this long (default
    /// [`DEFAULT_FIRST_TASK_WAIT`]): the server invoked the function because a task was waiting,
    /// and the first poll also carries the SDK's start-up calls, which take a few round trips to a
    /// remote server. An invocation that finds no task at all bills this long.
    pub first_task_wait: Duration,
}

/// Default idle period after which an invocation ends early: 1 s.
///
/// Chosen from two measurements. The gaps between a workflow's tasks (`bench/task-gaps`,
/// `bench/results/2026-12-03-task-gaps.md`): the server's immediate follow-ups (activity →
/// workflow task, child → parent) took p50 11 / p99 90 / max 106 ms, so any grace above ≈ 250 ms
/// keeps a chain in one invocation. And the server wakes a serverless version at most once per
/// 500 ms: its matching task hook (`go.temporal.io/auto-scaled-workers`,
/// `storeTaskAddSignalResults`) sends a "no poller" task-add signal only if 500 ms have passed
/// since its last one (dynamic config `WorkerControllerMinSignalIntervalNoSyncMatchMilliseconds`)
/// and otherwise holds it until the *next* task add, with no timer. A workflow started within
/// 500 ms of the signal that woke an invocation which has already exited is never invoked for
/// (seen with 250 ms: no invocation in 120 s, 1 in 5–15 runs). An invocation must therefore keep
/// polling well past 500 ms after the last task it saw; 1 s is twice that interval and bills
/// 66 % less than 5 s on the measured workflow shapes (4,882 vs 14,382 GB-s per 1,000 of each).
/// Values below [`MIN_SAFE_IDLE_EXIT`] are accepted with a warning.
pub const DEFAULT_IDLE_EXIT: Duration = Duration::from_secs(1);

/// Below this idle exit a workflow started right after an invocation ended can wait for the
/// next task add on its queue instead of an invocation (see [`DEFAULT_IDLE_EXIT`]).
pub const MIN_SAFE_IDLE_EXIT: Duration = Duration::from_secs(1);

/// Default [`ShutdownSettings::first_task_wait`].
pub const DEFAULT_FIRST_TASK_WAIT: Duration = Duration::from_secs(1);

/// Environment variable that sets [`ShutdownSettings::idle_exit`].
pub const IDLE_EXIT_ENV: &str = "TEMPORAL_LAMBDA_IDLE_EXIT";

impl ShutdownSettings {
    /// Defaults, with `TEMPORAL_LAMBDA_IDLE_EXIT` applied from `env`.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, Error> {
        let mut s = Self::default();
        if let Some(v) = env.get(IDLE_EXIT_ENV) {
            s.idle_exit = parse_idle_exit(v).map_err(|reason| {
                Error::InvalidClientConfig(format!(
                    "{IDLE_EXIT_ENV}={v:?}: {reason}; use e.g. 10s, 1500ms, 2m, or off"
                ))
            })?;
        }
        Ok(s)
    }
}

/// Parse an idle-exit setting: `off` / `none` / `0` disable it; otherwise a positive number
/// with a unit `ms`, `s` or `m` (a bare number is seconds).
pub fn parse_idle_exit(v: &str) -> Result<Option<Duration>, String> {
    let v = v.trim();
    if v.is_empty() || ["off", "none", "false", "0"].contains(&v.to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{num:?} is not a number"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        other => return Err(format!("unknown unit {other:?}")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 24.0 * 3600.0 {
        return Err("must be between 1 ms and 24 h".to_owned());
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            deadline_buffer: Duration::from_secs(7),
            graceful_shutdown: Duration::from_secs(5),
            cancel_grace: Duration::from_secs(1),
            response_margin: Duration::from_millis(100),
            minimum_work_time: Duration::from_secs(1),
            warn_work_time: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            idle_exit: Some(DEFAULT_IDLE_EXIT),
            first_task_wait: DEFAULT_FIRST_TASK_WAIT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_exit_values() {
        assert_eq!(parse_idle_exit("10s"), Ok(Some(Duration::from_secs(10))));
        assert_eq!(parse_idle_exit("10"), Ok(Some(Duration::from_secs(10))));
        assert_eq!(
            parse_idle_exit("1500ms"),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert_eq!(parse_idle_exit("2m"), Ok(Some(Duration::from_secs(120))));
        for off in ["off", "OFF", "none", "0", ""] {
            assert_eq!(parse_idle_exit(off), Ok(None), "{off}");
        }
        for bad in ["-1s", "ten", "5h", "1e9", "NaNs", "0s"] {
            assert!(parse_idle_exit(bad).is_err(), "{bad}");
        }
        let env = HashMap::from([(IDLE_EXIT_ENV.to_owned(), "soon".to_owned())]);
        let e = ShutdownSettings::from_env(&env).unwrap_err().to_string();
        assert!(e.contains(IDLE_EXIT_ENV), "{e}");
        assert_eq!(
            ShutdownSettings::from_env(&HashMap::new())
                .unwrap()
                .idle_exit,
            Some(DEFAULT_IDLE_EXIT)
        );
    }
}
