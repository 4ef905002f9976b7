//! Per-invocation task counters, fed by an activity interceptor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::activity::{WindowClosed, WontFit};

use temporalio_sdk::activities::ActivityError;
use temporalio_sdk::interceptors::{
    ActivityInboundInterceptor, ExecuteActivityInput, ExecuteActivityOutput, Next,
};

/// Counts of activity executions in one invocation.
#[derive(Debug, Default)]
pub(crate) struct ActivityCounters {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
}

impl ActivityCounters {
    /// Activities started.
    pub(crate) fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
    /// Activities that returned successfully.
    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }
    /// Activities that returned an error (including cancellation at shutdown).
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    /// Activities started but not yet finished.
    pub(crate) fn in_flight(&self) -> u64 {
        self.started()
            .saturating_sub(self.completed() + self.failed())
    }
}

/// When this invocation cuts activities off, to decide whether a new one fits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fit {
    /// Wall-clock time at which still-running activities are interrupted.
    pub(crate) cut_off: std::time::SystemTime,
    /// The longest an activity can run in a fresh invocation of the same length.
    pub(crate) fresh_budget: std::time::Duration,
    /// This invocation's length (deadline − start), taken as the Lambda timeout.
    pub(crate) invocation_length: std::time::Duration,
}

/// Per-invocation state shared with the activity interceptor.
pub(crate) struct InvocationTasks {
    pub(crate) counters: Arc<ActivityCounters>,
    pub(crate) busy: Arc<Busy>,
    pub(crate) interrupt: tokio::sync::watch::Receiver<bool>,
    pub(crate) fit: Option<Fit>,
    /// Notified when an activity was turned away because it cannot fit: the invocation stops
    /// polling early.
    pub(crate) handoff: Arc<tokio::sync::Notify>,
    /// Activity types already warned about (kept across invocations: warn once per type).
    pub(crate) warned: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// Counts activity executions, turns away those that cannot fit, and interrupts those still
/// running when `interrupt` turns true.
pub(crate) struct CountingInterceptor {
    pub(crate) tasks: InvocationTasks,
}

impl CountingInterceptor {
    fn check_fit(&self, info: &temporalio_sdk::activities::ActivityInfo) -> Result<(), WontFit> {
        let (Some(fit), Some(deadline), false) = (self.tasks.fit, info.deadline, info.is_local)
        else {
            return Ok(());
        };
        let now = std::time::SystemTime::now();
        let span = deadline.duration_since(now).unwrap_or_default();
        let total = info
            .started_time
            .and_then(|s| deadline.duration_since(s).ok())
            .unwrap_or(span);
        if total > fit.invocation_length {
            let first = self
                .tasks
                .warned
                .lock()
                .map(|mut w| w.insert(info.activity_type.clone()))
                .unwrap_or(false);
            if first {
                tracing::warn!(
                    activity_type = %info.activity_type,
                    timeout_ms = total.as_millis() as u64,
                    lambda_timeout_ms = fit.invocation_length.as_millis() as u64,
                    "activity {} has a start-to-close timeout of {:?}, longer than the Lambda invocation ({:?}): an attempt that runs that long is interrupted and retried. Fix: heartbeat progress with details (ctx.record_heartbeat) and resume from ctx.heartbeat_details() on retry, or split the work into shorter activities",
                    info.activity_type, total, fit.invocation_length
                );
            }
        }
        let left = fit.cut_off.duration_since(now).unwrap_or_default();
        if deadline > fit.cut_off && span <= fit.fresh_budget {
            return Err(WontFit {
                activity_type: info.activity_type.clone(),
                timeout: span,
                left,
            });
        }
        Ok(())
    }
}

impl ActivityInboundInterceptor for CountingInterceptor {
    fn execute_activity<'a>(
        &'a self,
        input: ExecuteActivityInput,
        next: Next<'a, ExecuteActivityInput, ExecuteActivityOutput<'a>>,
    ) -> ExecuteActivityOutput<'a> {
        let counters = self.tasks.counters.clone();
        let busy = self.tasks.busy.clone();
        let mut interrupt = self.tasks.interrupt.clone();
        counters.started.fetch_add(1, Ordering::Relaxed);
        busy.begin();
        if let Err(e) = self.check_fit(input.activity_info()) {
            tracing::warn!("{e}");
            counters.failed.fetch_add(1, Ordering::Relaxed);
            self.tasks.handoff.notify_one();
            busy.end();
            return Box::pin(async move { Err(ActivityError::from(e)) });
        }
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
            busy.end();
            r
        })
    }
}

/// Tracks whether the worker is busy: tasks in flight (workflow activations and activities) and
/// when the last task started or finished. Drives the idle exit, and records the idle gaps
/// (from the moment nothing was in flight to the next task's start), which is the data an idle
/// policy is chosen from.
#[derive(Debug)]
pub(crate) struct Busy {
    in_flight: std::sync::atomic::AtomicI64,
    events: tokio::sync::watch::Sender<u64>,
    gaps: std::sync::Mutex<Gaps>,
}

#[derive(Debug)]
struct Gaps {
    created: tokio::time::Instant,
    idle_since: Option<tokio::time::Instant>,
    first_task: Option<std::time::Duration>,
    gaps_ms: Vec<u64>,
}

/// At most this many gaps are kept per invocation.
const MAX_GAPS: usize = 1_000;

impl Default for Busy {
    fn default() -> Self {
        Self {
            in_flight: Default::default(),
            events: tokio::sync::watch::channel(0).0,
            gaps: std::sync::Mutex::new(Gaps {
                created: tokio::time::Instant::now(),
                idle_since: None,
                first_task: None,
                gaps_ms: Vec::new(),
            }),
        }
    }
}

impl Busy {
    pub(crate) fn begin(&self) {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Ok(mut g) = self.gaps.lock() {
                let now = tokio::time::Instant::now();
                match g.idle_since.take() {
                    Some(since) if g.gaps_ms.len() < MAX_GAPS => {
                        g.gaps_ms.push((now - since).as_millis() as u64)
                    }
                    Some(_) => {}
                    None if g.first_task.is_none() => g.first_task = Some(now - g.created),
                    None => {}
                }
            }
        }
        self.events.send_modify(|g| *g += 1);
    }

    pub(crate) fn end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Ok(mut g) = self.gaps.lock() {
                g.idle_since = Some(tokio::time::Instant::now());
            }
        }
        self.events.send_modify(|g| *g += 1);
    }

    /// The idle gaps so far, ms: from nothing in flight to the next task's start.
    pub(crate) fn idle_gaps_ms(&self) -> Vec<u64> {
        self.gaps
            .lock()
            .map(|g| g.gaps_ms.clone())
            .unwrap_or_default()
    }

    /// Time from the start of polling to the first task, if one came.
    pub(crate) fn first_task_after(&self) -> Option<std::time::Duration> {
        self.gaps.lock().ok().and_then(|g| g.first_task)
    }

    /// How long nothing has been in flight (zero while busy).
    pub(crate) fn idle_tail(&self) -> std::time::Duration {
        self.gaps
            .lock()
            .ok()
            .map(|g| match (g.idle_since, g.first_task) {
                (Some(since), _) => since.elapsed(),
                (None, None) => g.created.elapsed(),
                (None, Some(_)) => std::time::Duration::ZERO,
            })
            .unwrap_or_default()
    }

    /// Resolves once nothing has been in flight and no task has started or finished for
    /// `period` — or for `before_first`, if longer, while no task has come yet.
    pub(crate) async fn idle_for(
        &self,
        period: std::time::Duration,
        before_first: std::time::Duration,
    ) {
        let mut rx = self.events.subscribe();
        loop {
            rx.mark_unchanged();
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                // Busy: wait for the next start/finish, then look again.
                if rx.changed().await.is_err() {
                    return std::future::pending().await;
                }
                continue;
            }
            let wait = if self.first_task_after().is_none() {
                period.max(before_first)
            } else {
                period
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => return,
                r = rx.changed() => if r.is_err() { return std::future::pending().await },
            }
        }
    }
}

/// Marks workflow activations as in flight from the moment the SDK receives them until their
/// completion is sent to the server.
pub(crate) struct WorkflowBusyInterceptor {
    pub(crate) busy: Arc<Busy>,
}

#[async_trait::async_trait(?Send)]
impl temporalio_sdk::interceptors::WorkerInterceptor for WorkflowBusyInterceptor {
    async fn on_workflow_activation(
        &self,
        _activation: &temporalio_common::protos::coresdk::workflow_activation::WorkflowActivation,
    ) -> Result<(), anyhow::Error> {
        self.busy.begin();
        Ok(())
    }

    async fn on_workflow_activation_completion(
        &self,
        _completion: &temporalio_common::protos::coresdk::workflow_completion::WorkflowActivationCompletion,
    ) {
        self.busy.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_in_flight_tasks_and_restarts_on_activity() {
        let busy = Arc::new(Busy::default());
        busy.begin();
        let b = busy.clone();
        let started = tokio::time::Instant::now();
        let idle = tokio::spawn(async move {
            b.idle_for(Duration::from_secs(2), Duration::from_secs(5))
                .await;
            started.elapsed()
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!idle.is_finished(), "a task in flight is not idle");
        busy.end();
        let elapsed = idle.await.unwrap();
        assert_eq!(elapsed, Duration::from_secs(12));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_gaps_are_recorded_from_the_last_end_to_the_next_start() {
        let busy = Busy::default();
        let step = |ms| tokio::time::sleep(Duration::from_millis(ms));
        step(300).await;
        busy.begin(); // first task after 300 ms
        step(50).await;
        busy.begin(); // overlapping: no gap
        busy.end();
        step(10).await;
        busy.end(); // idle from here
        step(120).await;
        busy.begin(); // gap 120 ms
        busy.end();
        step(2_000).await;
        busy.begin(); // gap 2 s
        busy.end();
        step(700).await;
        assert_eq!(busy.first_task_after(), Some(Duration::from_millis(300)));
        assert_eq!(busy.idle_gaps_ms(), vec![120, 2_000]);
        assert_eq!(busy.idle_tail(), Duration::from_millis(700));
    }
}
