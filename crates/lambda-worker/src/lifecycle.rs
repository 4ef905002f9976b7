//! One invocation's poll → drain → interrupt sequence, apart from the SDK and the network, so its
//! deadline arithmetic is tested on Tokio's paused clock (the tests below): polling stops at the
//! window's end, when idle, or on a hand-off; the worker is asked to stop polling and drains;
//! activities still running are interrupted `cancel_grace` before the drain must end; a drain that
//! still overruns is abandoned at `drain_until`; the hooks then get what is left until
//! `hooks_until`.

use std::{
    future::Future,
    time::{Duration, SystemTime},
};

use tokio::time::Instant;

use crate::{
    config::ShutdownSettings,
    hooks::{run_hooks, HooksReport, ShutdownHook},
    invocation::StopReason,
    stats::{Busy, Fit},
    window::WorkWindow,
};

/// The time plan of one invocation, with the points derived from the settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The window: start, stop polling, drain until, hooks until, deadline.
    pub(crate) window: WorkWindow,
    /// When activities still running are told to stop (`drain_until − cancel_grace`, never
    /// before polling stops).
    pub(crate) interrupt_at: Instant,
    /// Stop polling after this long with nothing in flight (`None`: only at the window's end).
    pub(crate) idle_exit: Option<Duration>,
    /// Before the first task, the idle exit waits at least this long.
    pub(crate) first_task_wait: Duration,
    /// The longest a connect may take.
    connect_timeout: Duration,
}

impl Plan {
    pub(crate) fn new(window: WorkWindow, settings: &ShutdownSettings) -> Self {
        let interrupt_at = window
            .drain_until
            .checked_sub(settings.cancel_grace)
            .unwrap_or(window.drain_until)
            .max(window.stop_polling_at);
        Self {
            window,
            interrupt_at,
            idle_exit: settings.idle_exit,
            first_task_wait: settings.first_task_wait,
            connect_timeout: settings.connect_timeout,
        }
    }

    /// The plan of a drain when the execution environment is reclaimed (`SIGTERM`): polling
    /// stops now; half of `grace` drains (activities still running are interrupted a fifth of
    /// `grace` before that ends), the hooks get the rest but the response margin.
    pub(crate) fn for_reclaim(now: Instant, grace: Duration, settings: &ShutdownSettings) -> Self {
        let deadline = now + grace;
        let hooks_until = deadline
            .checked_sub(settings.response_margin.min(grace / 10))
            .unwrap_or(deadline);
        let drain_until = now + grace / 2;
        let window = WorkWindow {
            start: now,
            deadline,
            stop_polling_at: now,
            drain_until,
            hooks_until,
        };
        Self {
            window,
            interrupt_at: drain_until.checked_sub(grace / 5).unwrap_or(now).max(now),
            idle_exit: None,
            first_task_wait: settings.first_task_wait,
            connect_timeout: Duration::ZERO,
        }
    }

    /// How long a connect started now may take: the connect timeout, capped by the time left to
    /// poll (connect time counts against the window).
    pub(crate) fn connect_budget(&self) -> Duration {
        self.connect_timeout.min(
            self.window
                .stop_polling_at
                .saturating_duration_since(Instant::now()),
        )
    }

    /// What an activity must fit in, seen now (`now_wall` is the same moment on the wall clock):
    /// it is interrupted at `interrupt_at`, and a fresh invocation of the same length would give
    /// it `interrupt_at − start`.
    pub(crate) fn fit(&self, now_wall: SystemTime) -> Fit {
        Fit {
            cut_off: now_wall + self.interrupt_at.saturating_duration_since(Instant::now()),
            fresh_budget: self.interrupt_at - self.window.start,
            invocation_length: self.window.deadline - self.window.start,
        }
    }

    /// Time left to drain, from now.
    pub(crate) fn drain_left(&self) -> Duration {
        self.window
            .drain_until
            .saturating_duration_since(Instant::now())
    }

    /// Run the shutdown hooks in what is left until `hooks_until`.
    pub(crate) async fn run_hooks(&self, hooks: &[ShutdownHook]) -> HooksReport {
        run_hooks(hooks, self.window.hooks_until).await
    }
}

/// How polling ended and whether the drain finished.
#[derive(Debug)]
pub(crate) struct Ended<T> {
    /// Why polling stopped.
    pub(crate) stopped_by: StopReason,
    /// The worker's own result when its run ended (drained, or stopped on its own); `None` when
    /// the drain overran `drain_until` and was abandoned.
    pub(crate) outcome: Option<T>,
    /// Whether running activities were told to stop.
    pub(crate) interrupted: bool,
}

/// Drive `run` (the worker's poll loop) through the plan: until it ends on its own, the window
/// closes, `busy` has been idle for `plan.idle_exit` (at least `first_task_wait` before the first
/// task), or `handoff` fires. Then `stop_polling`
/// (the worker's shutdown) is called once with the reason, the drain waits for `run` until
/// `interrupt_at`, calls `interrupt`, and waits until `drain_until` at most.
pub(crate) async fn poll_and_drain<T>(
    plan: &Plan,
    run: impl Future<Output = T>,
    busy: &Busy,
    handoff: &tokio::sync::Notify,
    stop_polling: impl FnOnce(StopReason),
    interrupt: impl FnOnce(),
) -> Ended<T> {
    tokio::pin!(run);
    let idle = async {
        match plan.idle_exit {
            Some(period) => busy.idle_for(period, plan.first_task_wait).await,
            None => std::future::pending().await,
        }
    };
    let stopped_by = tokio::select! {
        r = &mut run => {
            return Ended { stopped_by: StopReason::WorkerStopped, outcome: Some(r), interrupted: false };
        }
        _ = tokio::time::sleep_until(plan.window.stop_polling_at) => StopReason::Window,
        _ = idle => StopReason::Idle,
        _ = handoff.notified() => StopReason::Handoff,
    };
    stop_polling(stopped_by);
    let (outcome, interrupted) = drain(plan, run, interrupt).await;
    Ended {
        stopped_by,
        outcome,
        interrupted,
    }
}

/// The drain of a worker already asked to stop polling: wait for `run` until `interrupt_at`,
/// call `interrupt`, and wait until `drain_until` at most. Returns `run`'s output (`None`: the
/// drain overran and was abandoned) and whether `interrupt` was called.
pub(crate) async fn drain<T>(
    plan: &Plan,
    mut run: std::pin::Pin<&mut impl Future<Output = T>>,
    interrupt: impl FnOnce(),
) -> (Option<T>, bool) {
    if let Ok(r) = tokio::time::timeout_at(plan.interrupt_at, &mut run).await {
        return (Some(r), false);
    }
    interrupt();
    let outcome = tokio::time::timeout_at(plan.window.drain_until, &mut run)
        .await
        .ok();
    (outcome, true)
}

#[cfg(test)]
mod tests {
    //! The sequence on Tokio's paused clock: time only moves when every task waits on a timer,
    //! so each assertion is on exact instants, with no server and no sleeps in real time.

    use std::sync::{Arc, Mutex};

    use tokio::sync::watch;

    use super::*;
    use crate::hooks::HookOutcome;

    const MS: Duration = Duration::from_millis(1);

    /// A 30 s invocation with the default settings: polling 23 s, drain 5 s (interrupt 1 s before
    /// its end), hooks 1.9 s, response margin 0.1 s.
    fn plan_30s(idle_exit: Option<Duration>) -> Plan {
        let settings = ShutdownSettings {
            idle_exit,
            ..Default::default()
        };
        let wall = SystemTime::now();
        let window = WorkWindow::plan(
            wall + Duration::from_secs(30),
            wall,
            Instant::now(),
            &settings,
        )
        .unwrap();
        Plan::new(window, &settings)
    }

    /// A stand-in for the SDK worker's run future: it ends `drain` after it is asked to stop
    /// polling, or `after_interrupt` after it is interrupted, whichever comes first (`None`:
    /// never).
    struct FakeWorker {
        stop: watch::Sender<bool>,
        interrupt: watch::Sender<bool>,
        events: Arc<Mutex<Vec<(&'static str, Duration)>>>,
        start: Instant,
    }

    impl FakeWorker {
        fn new() -> Self {
            Self {
                stop: watch::channel(false).0,
                interrupt: watch::channel(false).0,
                events: Default::default(),
                start: Instant::now(),
            }
        }

        fn run(
            &self,
            drain: Option<Duration>,
            after_interrupt: Option<Duration>,
        ) -> impl Future<Output = &'static str> {
            let mut stop = self.stop.subscribe();
            let mut interrupt = self.interrupt.subscribe();
            async move {
                let _ = stop.wait_for(|s| *s).await;
                let drained = async {
                    match drain {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                let interrupted = async {
                    let _ = interrupt.wait_for(|s| *s).await;
                    match after_interrupt {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = drained => "drained",
                    _ = interrupted => "interrupted",
                }
            }
        }

        /// [`poll_and_drain`] with this worker's stop and interrupt.
        async fn drive<T>(
            &self,
            plan: &Plan,
            run: impl Future<Output = T>,
            busy: &Busy,
            handoff: &tokio::sync::Notify,
        ) -> Ended<T> {
            poll_and_drain(
                plan,
                run,
                busy,
                handoff,
                self.stop_polling(),
                self.interrupt(),
            )
            .await
        }

        fn stop_polling(&self) -> impl FnOnce(StopReason) + '_ {
            move |_| {
                self.log("stop_polling");
                let _ = self.stop.send(true);
            }
        }

        fn interrupt(&self) -> impl FnOnce() + '_ {
            move || {
                self.log("interrupt");
                let _ = self.interrupt.send(true);
            }
        }

        fn log(&self, what: &'static str) {
            self.events
                .lock()
                .unwrap()
                .push((what, self.start.elapsed()));
        }

        fn events(&self) -> Vec<(&'static str, Duration)> {
            self.events.lock().unwrap().clone()
        }
    }

    #[test]
    fn the_plan_of_a_30s_invocation() {
        let p = plan_30s(None);
        let w = p.window;
        assert_eq!(w.stop_polling_at - w.start, Duration::from_secs(23));
        assert_eq!(w.drain_until - w.start, Duration::from_secs(28));
        assert_eq!(p.interrupt_at - w.start, Duration::from_secs(27));
        assert_eq!(w.hooks_until - w.start, 29_900 * MS);
        assert_eq!(w.deadline - w.start, Duration::from_secs(30));
    }

    #[test]
    fn a_reclaim_splits_its_grace_between_drain_and_hooks() {
        let now = Instant::now();
        let p = Plan::for_reclaim(now, 500 * MS, &ShutdownSettings::default());
        let w = p.window;
        assert_eq!(w.stop_polling_at, now);
        assert_eq!(p.interrupt_at - now, 150 * MS);
        assert_eq!(w.drain_until - now, 250 * MS);
        assert_eq!(w.hooks_until - now, 450 * MS);
        assert_eq!(w.deadline - now, 500 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn polling_stops_at_the_window_and_a_quick_drain_is_not_interrupted() {
        let plan = plan_30s(None);
        let w = FakeWorker::new();
        let (busy, handoff) = (Busy::default(), tokio::sync::Notify::new());
        let ended = w
            .drive(&plan, w.run(Some(300 * MS), None), &busy, &handoff)
            .await;
        assert_eq!(ended.stopped_by, StopReason::Window);
        assert_eq!(ended.outcome, Some("drained"));
        assert!(!ended.interrupted);
        assert_eq!(w.events(), vec![("stop_polling", Duration::from_secs(23))]);
        assert_eq!(w.start.elapsed(), 23_300 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_invocation_stops_idle_exit_after_its_last_task() {
        let plan = plan_30s(Some(Duration::from_secs(5)));
        let w = FakeWorker::new();
        let (busy, handoff) = (Arc::new(Busy::default()), tokio::sync::Notify::new());
        // A task runs from 2 s to 4 s: polling stops at 4 + 5 = 9 s, not at 5 s.
        let b = busy.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            b.begin();
            tokio::time::sleep(Duration::from_secs(2)).await;
            b.end();
        });
        let ended = w.drive(&plan, w.run(Some(MS), None), &busy, &handoff).await;
        assert_eq!(ended.stopped_by, StopReason::Idle);
        assert_eq!(w.events(), vec![("stop_polling", Duration::from_secs(9))]);
    }

    #[tokio::test(start_paused = true)]
    async fn before_the_first_task_the_idle_exit_waits_first_task_wait() {
        // A 250 ms grace, and the default 1 s before the first task.
        let plan = plan_30s(Some(250 * MS));
        assert_eq!(plan.first_task_wait, Duration::from_secs(1));
        // No task at all: polling stops after 1 s, not after 250 ms.
        let w = FakeWorker::new();
        let (busy, handoff) = (Busy::default(), tokio::sync::Notify::new());
        let ended = w.drive(&plan, w.run(Some(MS), None), &busy, &handoff).await;
        assert_eq!(ended.stopped_by, StopReason::Idle);
        assert_eq!(w.events(), vec![("stop_polling", Duration::from_secs(1))]);

        // A first task at 600 ms for 100 ms, a follow-up 200 ms later (within the grace) for
        // 50 ms: polling stops 250 ms after the follow-up ends, at 950 + 250 = 1,200 ms.
        let w = FakeWorker::new();
        let (busy, handoff) = (Arc::new(Busy::default()), tokio::sync::Notify::new());
        let b = busy.clone();
        tokio::spawn(async move {
            for (idle, task) in [(600, 100), (200, 50)] {
                tokio::time::sleep(idle * MS).await;
                b.begin();
                tokio::time::sleep(task * MS).await;
                b.end();
            }
        });
        let ended = w.drive(&plan, w.run(Some(MS), None), &busy, &handoff).await;
        assert_eq!(ended.stopped_by, StopReason::Idle);
        assert_eq!(w.events(), vec![("stop_polling", 1_200 * MS)]);
        assert_eq!(busy.idle_gaps_ms(), vec![200]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_longer_than_idle_exit_keeps_the_invocation_polling() {
        let plan = plan_30s(Some(Duration::from_secs(5)));
        let w = FakeWorker::new();
        let (busy, handoff) = (Arc::new(Busy::default()), tokio::sync::Notify::new());
        // In flight from 1 s to 21 s (longer than idle exit): idle exit would be 26 s, so the
        // window (23 s) ends polling.
        let b = busy.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            b.begin();
            tokio::time::sleep(Duration::from_secs(20)).await;
            b.end();
        });
        let ended = w.drive(&plan, w.run(Some(MS), None), &busy, &handoff).await;
        assert_eq!(ended.stopped_by, StopReason::Window);
        assert_eq!(w.events(), vec![("stop_polling", Duration::from_secs(23))]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handoff_stops_polling_at_once() {
        let plan = plan_30s(None);
        let w = FakeWorker::new();
        let (busy, handoff) = (Busy::default(), Arc::new(tokio::sync::Notify::new()));
        let h = handoff.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(3_250)).await;
            h.notify_one();
        });
        let ended = w.drive(&plan, w.run(Some(MS), None), &busy, &handoff).await;
        assert_eq!(ended.stopped_by, StopReason::Handoff);
        assert_eq!(w.events(), vec![("stop_polling", 3_250 * MS)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_drain_is_interrupted_cancel_grace_before_its_end() {
        let plan = plan_30s(None);
        let w = FakeWorker::new();
        let (busy, handoff) = (Busy::default(), tokio::sync::Notify::new());
        // Would drain in 10 s; ends 200 ms after being interrupted.
        let ended = w
            .drive(
                &plan,
                w.run(Some(Duration::from_secs(10)), Some(200 * MS)),
                &busy,
                &handoff,
            )
            .await;
        assert_eq!(ended.stopped_by, StopReason::Window);
        assert_eq!(ended.outcome, Some("interrupted"));
        assert!(ended.interrupted);
        assert_eq!(
            w.events(),
            vec![
                ("stop_polling", Duration::from_secs(23)),
                ("interrupt", Duration::from_secs(27)),
            ]
        );
        assert_eq!(w.start.elapsed(), 27_200 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_that_ignores_the_interrupt_is_abandoned_at_drain_until_and_hooks_get_the_rest()
    {
        let plan = plan_30s(None);
        let w = FakeWorker::new();
        let (busy, handoff) = (Busy::default(), tokio::sync::Notify::new());
        let ended = w.drive(&plan, w.run(None, None), &busy, &handoff).await;
        assert_eq!(ended.outcome, None, "the drain overran");
        assert!(ended.interrupted);
        assert_eq!(w.start.elapsed(), Duration::from_secs(28));

        // Hooks: each within its own budget and all before hooks_until (29.9 s): 1 s, then a
        // hook that would take 5 s is cut at 0.9 s, and the last finds no time left.
        let hooks = vec![
            sleeper(Duration::from_secs(1), Duration::from_secs(3)),
            sleeper(Duration::from_secs(10), Duration::from_secs(5)),
            sleeper(Duration::from_secs(1), MS),
        ];
        let report = plan.run_hooks(&hooks).await;
        let outcomes: Vec<_> = report.hooks.iter().map(|(_, o)| o.clone()).collect();
        assert_eq!(
            outcomes,
            vec![
                HookOutcome::TimedOut { allowed_ms: 1_000 },
                HookOutcome::TimedOut { allowed_ms: 900 },
                HookOutcome::Skipped,
            ]
        );
        assert!(report.overran());
        assert_eq!(w.start.elapsed(), 29_900 * MS);
        assert!(w.start.elapsed() < plan.window.deadline - plan.window.start);
    }

    #[tokio::test(start_paused = true)]
    async fn hooks_after_a_quick_drain_get_their_full_budgets() {
        let plan = plan_30s(Some(Duration::from_secs(2)));
        let w = FakeWorker::new();
        let (busy, handoff) = (Busy::default(), tokio::sync::Notify::new());
        let ended = w
            .drive(&plan, w.run(Some(50 * MS), None), &busy, &handoff)
            .await;
        assert_eq!(ended.stopped_by, StopReason::Idle);
        assert_eq!(w.start.elapsed(), 2_050 * MS);
        let hook = ShutdownHook::new("flush", Duration::from_secs(3), || async {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            Ok(())
        });
        let report = plan.run_hooks(&[hook]).await;
        assert_eq!(report.hooks[0].1, HookOutcome::Ok { elapsed_ms: 1_500 });
        assert!(!report.overran());
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_stops_on_its_own_is_not_asked_to_stop() {
        let plan = plan_30s(None);
        let w = FakeWorker::new();
        let (busy, handoff) = (Busy::default(), tokio::sync::Notify::new());
        let run = async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            "poll error"
        };
        let ended = w.drive(&plan, run, &busy, &handoff).await;
        assert_eq!(ended.stopped_by, StopReason::WorkerStopped);
        assert_eq!(ended.outcome, Some("poll error"));
        assert!(w.events().is_empty());
        assert_eq!(w.start.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn connect_budget_and_fit_follow_the_clock() {
        let plan = plan_30s(None);
        assert_eq!(plan.connect_budget(), Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(18)).await;
        assert_eq!(plan.connect_budget(), Duration::from_secs(5));
        let wall = SystemTime::now();
        let fit = plan.fit(wall);
        assert_eq!(fit.cut_off, wall + Duration::from_secs(9));
        assert_eq!(fit.fresh_budget, Duration::from_secs(27));
        assert_eq!(fit.invocation_length, Duration::from_secs(30));
        assert_eq!(plan.drain_left(), Duration::from_secs(10));
    }

    fn sleeper(budget: Duration, takes: Duration) -> ShutdownHook {
        ShutdownHook::new("h", budget, move || async move {
            tokio::time::sleep(takes).await;
            Ok::<(), crate::hooks::HookError>(())
        })
    }
}
