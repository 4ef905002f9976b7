//! Per-invocation task counters, fed by an activity interceptor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

pub(crate) struct CountingInterceptor(pub(crate) Arc<ActivityCounters>);

impl ActivityInboundInterceptor for CountingInterceptor {
    fn execute_activity<'a>(
        &'a self,
        input: ExecuteActivityInput,
        next: Next<'a, ExecuteActivityInput, ExecuteActivityOutput<'a>>,
    ) -> ExecuteActivityOutput<'a> {
        let counters = self.0.clone();
        counters.started.fetch_add(1, Ordering::Relaxed);
        let fut = next.run(input);
        Box::pin(async move {
            let r = fut.await;
            if r.is_ok() {
                counters.completed.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            r
        })
    }
}
