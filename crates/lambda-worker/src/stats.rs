//! Per-invocation task counters, fed by an activity interceptor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use temporalio_sdk::activities::ActivityError;
use temporalio_sdk::interceptors::{
    ActivityInboundInterceptor, ExecuteActivityInput, ExecuteActivityOutput, Next,
};

/// Counts of activity executions in one invocation.
#[derive(Debug, Default)]
pub struct ActivityCounters {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
}

impl ActivityCounters {
    /// Activities started.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
    /// Activities that returned successfully.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }
    /// Activities that returned an error (including cancellation at shutdown).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    /// Activities started but not yet finished.
    pub fn in_flight(&self) -> u64 {
        self.started()
            .saturating_sub(self.completed() + self.failed())
    }
}

/// Raised in place of an activity still running when the invocation's drain time is nearly
/// over: a retryable failure, so the server runs the activity again in a later invocation.
#[derive(Debug, thiserror::Error)]
#[error("activity interrupted: the Lambda invocation's work window closed before it finished; it will be retried (record heartbeat details to resume where it stopped, or shorten the activity)")]
pub struct WindowClosed;

/// Counts activity executions and interrupts those still running when `interrupt` turns true.
pub(crate) struct CountingInterceptor {
    pub(crate) counters: Arc<ActivityCounters>,
    pub(crate) interrupt: tokio::sync::watch::Receiver<bool>,
}

impl ActivityInboundInterceptor for CountingInterceptor {
    fn execute_activity<'a>(
        &'a self,
        input: ExecuteActivityInput,
        next: Next<'a, ExecuteActivityInput, ExecuteActivityOutput<'a>>,
    ) -> ExecuteActivityOutput<'a> {
        let counters = self.counters.clone();
        let mut interrupt = self.interrupt.clone();
        counters.started.fetch_add(1, Ordering::Relaxed);
        let fut = next.run(input);
        Box::pin(async move {
            let r = tokio::select! {
                r = fut => r,
                _ = interrupt.wait_for(|v| *v) => {
                    tracing::warn!("{}", WindowClosed);
                    Err(ActivityError::from(WindowClosed))
                }
            };
            if r.is_ok() {
                counters.completed.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            r
        })
    }
}
