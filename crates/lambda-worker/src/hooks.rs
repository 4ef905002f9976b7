//! Shutdown hooks: async closures run in order after the worker has drained, each within its own
//! time budget and all within what is left before the invocation deadline.

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

/// Error type hooks may return.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;
type HookFn = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), HookError>> + Send>> + Send + Sync;

/// A named async action run at the end of every invocation (e.g. flushing telemetry).
#[derive(Clone)]
pub struct ShutdownHook {
    name: String,
    budget: Duration,
    f: Arc<HookFn>,
}

impl fmt::Debug for ShutdownHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHook")
            .field("name", &self.name)
            .field("budget", &self.budget)
            .finish()
    }
}

impl ShutdownHook {
    /// A hook called `name` that may take at most `budget` per invocation.
    pub fn new<F, Fut>(name: impl Into<String>, budget: Duration, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        Self {
            name: name.into(),
            budget,
            f: Arc::new(move || Box::pin(f())),
        }
    }

    /// The hook's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hook's own time budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// What happened to one hook.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum HookOutcome {
    /// Finished successfully.
    Ok {
        /// Time taken, ms.
        elapsed_ms: u64,
    },
    /// Returned an error (logged; other hooks still run).
    Failed {
        /// The error message.
        error: String,
    },
    /// Did not finish within its budget or before the invocation end; abandoned.
    TimedOut {
        /// The time it was given, ms.
        allowed_ms: u64,
    },
    /// Not started: no time was left.
    Skipped,
}

/// Result of running all hooks.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct HooksReport {
    /// `(name, outcome)` in run order.
    pub hooks: Vec<(String, HookOutcome)>,
}

impl HooksReport {
    /// True when any hook was abandoned or skipped: its work may be half done, so the execution
    /// environment should not be reused.
    pub fn overran(&self) -> bool {
        self.hooks
            .iter()
            .any(|(_, o)| matches!(o, HookOutcome::TimedOut { .. } | HookOutcome::Skipped))
    }
}

/// Run `hooks` in order; each gets `min(its budget, until - now)`. `until` is a
/// `tokio::time::Instant` or a `std::time::Instant`.
pub async fn run_hooks(
    hooks: &[ShutdownHook],
    until: impl Into<tokio::time::Instant>,
) -> HooksReport {
    let until = until.into();
    let mut report = HooksReport::default();
    for hook in hooks {
        let now = tokio::time::Instant::now();
        let left = until.saturating_duration_since(now);
        if left.is_zero() {
            tracing::warn!(hook = %hook.name, "no time left before the invocation deadline; shutdown hook skipped");
            report.hooks.push((hook.name.clone(), HookOutcome::Skipped));
            continue;
        }
        let allowed = hook.budget.min(left);
        let outcome = match tokio::time::timeout(allowed, (hook.f)()).await {
            Ok(Ok(())) => HookOutcome::Ok {
                elapsed_ms: now.elapsed().as_millis() as u64,
            },
            Ok(Err(e)) => {
                tracing::warn!(hook = %hook.name, error = %e, "shutdown hook failed");
                HookOutcome::Failed {
                    error: e.to_string(),
                }
            }
            Err(_) => {
                tracing::error!(hook = %hook.name, allowed_ms = allowed.as_millis() as u64, "shutdown hook overran its budget and was abandoned; give it a larger budget or make it faster");
                HookOutcome::TimedOut {
                    allowed_ms: allowed.as_millis() as u64,
                }
            }
        };
        report.hooks.push((hook.name.clone(), outcome));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::time::Instant;

    fn recorder() -> Arc<Mutex<Vec<&'static str>>> {
        Arc::new(Mutex::new(Vec::new()))
    }

    fn hook(
        log: &Arc<Mutex<Vec<&'static str>>>,
        name: &'static str,
        budget_ms: u64,
        sleep_ms: u64,
        fail: bool,
    ) -> ShutdownHook {
        let log = log.clone();
        ShutdownHook::new(name, Duration::from_millis(budget_ms), move || {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
                if fail {
                    Err("boom".into())
                } else {
                    log.lock().unwrap().push("done");
                    Ok(())
                }
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn hooks_run_in_order_and_failures_do_not_stop_the_rest() {
        let log = recorder();
        let hooks = vec![
            hook(&log, "a", 1000, 10, false),
            hook(&log, "b", 1000, 10, true),
            hook(&log, "c", 1000, 10, false),
        ];
        let r = run_hooks(&hooks, Instant::now() + Duration::from_secs(10)).await;
        assert_eq!(*log.lock().unwrap(), vec!["a", "done", "b", "c", "done"]);
        assert!(matches!(r.hooks[1].1, HookOutcome::Failed { .. }));
        assert!(!r.overran());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hook_is_cut_at_its_own_budget() {
        let log = recorder();
        let hooks = vec![
            hook(&log, "slow", 100, 5_000, false),
            hook(&log, "next", 1000, 10, false),
        ];
        let start = tokio::time::Instant::now();
        let r = run_hooks(&hooks, Instant::now() + Duration::from_secs(60)).await;
        assert_eq!(r.hooks[0].1, HookOutcome::TimedOut { allowed_ms: 100 });
        assert!(matches!(r.hooks[1].1, HookOutcome::Ok { .. }));
        assert!(r.overran());
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn the_deadline_caps_every_budget_and_later_hooks_are_skipped() {
        let log = recorder();
        let hooks = vec![
            hook(&log, "long", 10_000, 10_000, false),
            hook(&log, "late", 10_000, 1, false),
        ];
        let until = Instant::now() + Duration::from_millis(150);
        let r = run_hooks(&hooks, until).await;
        assert!(matches!(r.hooks[0].1, HookOutcome::TimedOut { allowed_ms } if allowed_ms <= 150));
        assert_eq!(r.hooks[1].1, HookOutcome::Skipped);
        assert!(Instant::now() < until + Duration::from_millis(50));
    }
}
