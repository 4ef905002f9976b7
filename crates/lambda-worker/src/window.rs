//! Deadline arithmetic: how much of an invocation is spent polling, draining and in hooks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::{config::ShutdownSettings, Error};

/// The time plan of one invocation, on Tokio's monotonic clock (so it can be tested with paused
/// time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkWindow {
    /// When the plan was made (start of the invocation).
    pub start: Instant,
    /// The invocation deadline.
    pub deadline: Instant,
    /// When polling stops (`deadline - deadline_buffer`). Connect time counts against this.
    pub stop_polling_at: Instant,
    /// When draining must be over, leaving the hooks their share of the buffer.
    pub drain_until: Instant,
    /// When the hooks must be over, so the response still reaches Lambda in time.
    pub hooks_until: Instant,
}

impl WorkWindow {
    /// Plan an invocation whose deadline is `deadline` (epoch time, as Lambda gives it),
    /// observed at `now_wall` / `now` (the same moment on the wall and monotonic clocks).
    ///
    /// Errors with [`Error::DeadlineTooShort`] when polling time would be at most
    /// `settings.minimum_work_time`.
    pub fn plan(
        deadline: SystemTime,
        now_wall: SystemTime,
        now: Instant,
        settings: &ShutdownSettings,
    ) -> Result<Self, Error> {
        let remaining = deadline.duration_since(now_wall).unwrap_or(Duration::ZERO);
        let deadline_i = now + remaining;
        let work_time = remaining.saturating_sub(settings.deadline_buffer);
        if work_time <= settings.minimum_work_time {
            return Err(Error::DeadlineTooShort {
                work_time,
                buffer: settings.deadline_buffer,
                minimum: settings.minimum_work_time,
            });
        }
        let stop_polling_at = now + work_time;
        let hooks_until = deadline_i
            .checked_sub(settings.response_margin)
            .unwrap_or(deadline_i)
            .max(stop_polling_at);
        let hook_share = settings
            .deadline_buffer
            .saturating_sub(settings.graceful_shutdown)
            .saturating_sub(settings.response_margin);
        let drain_until = hooks_until
            .checked_sub(hook_share)
            .unwrap_or(hooks_until)
            .max(stop_polling_at);
        Ok(Self {
            start: now,
            deadline: deadline_i,
            stop_polling_at,
            drain_until,
            hooks_until,
        })
    }

    /// Plan from an epoch-milliseconds deadline (`Lambda-Runtime-Deadline-Ms`), now.
    pub fn plan_from_epoch_ms(
        deadline_ms: u64,
        settings: &ShutdownSettings,
    ) -> Result<Self, Error> {
        let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
        Self::plan(deadline, SystemTime::now(), Instant::now(), settings)
    }

    /// Polling time planned at the start of the invocation.
    pub fn work_time(&self) -> Duration {
        self.stop_polling_at - self.start
    }

    /// Time left before the deadline at `now`, ms (negative: overran).
    pub fn time_left_ms(&self, now: Instant) -> i64 {
        if now <= self.deadline {
            (self.deadline - now).as_millis() as i64
        } else {
            -((now - self.deadline).as_millis() as i64)
        }
    }

    /// Whether the work window is short enough to deserve a warning.
    pub fn is_short(&self, settings: &ShutdownSettings) -> bool {
        self.work_time() < settings.warn_work_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(remaining_ms: u64) -> Result<WorkWindow, Error> {
        let now_wall = SystemTime::now();
        let now = Instant::now();
        WorkWindow::plan(
            now_wall + Duration::from_millis(remaining_ms),
            now_wall,
            now,
            &ShutdownSettings::default(),
        )
    }

    #[test]
    fn default_split_of_a_60s_invocation() {
        let w = plan(60_000).unwrap();
        assert_eq!(w.work_time(), Duration::from_secs(53));
        assert_eq!(w.deadline - w.start, Duration::from_secs(60));
        assert_eq!(w.deadline - w.hooks_until, Duration::from_millis(100));
        // hooks get buffer - drain - response margin = 1.9 s
        assert_eq!(w.hooks_until - w.drain_until, Duration::from_millis(1900));
        assert_eq!(w.drain_until - w.stop_polling_at, Duration::from_secs(5));
    }

    #[test]
    fn refuses_one_second_or_less_of_work() {
        assert!(matches!(plan(8_000), Err(Error::DeadlineTooShort { .. })));
        assert!(matches!(plan(3_000), Err(Error::DeadlineTooShort { .. })));
        let msg = plan(8_000).unwrap_err().to_string();
        assert!(msg.contains("raise the function timeout"), "{msg}");
        assert!(plan(8_100).is_ok());
    }

    #[test]
    fn past_deadline_is_refused_not_panicking() {
        let now_wall = SystemTime::now();
        let r = WorkWindow::plan(
            now_wall - Duration::from_secs(5),
            now_wall,
            Instant::now(),
            &ShutdownSettings::default(),
        );
        assert!(matches!(r, Err(Error::DeadlineTooShort { .. })));
    }

    #[test]
    fn warns_under_five_seconds() {
        let s = ShutdownSettings::default();
        assert!(plan(11_000).unwrap().is_short(&s));
        assert!(!plan(12_500).unwrap().is_short(&s));
    }

    #[test]
    fn from_lambda_context_epoch_ms() {
        // A real lambda_runtime::Context with an epoch-ms deadline, as the Runtime API sends it.
        let mut ctx = lambda_runtime::Context::default();
        let deadline = SystemTime::now() + Duration::from_secs(30);
        ctx.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert_eq!(
            ctx.deadline(),
            UNIX_EPOCH + Duration::from_millis(ctx.deadline)
        );
        let w = WorkWindow::plan_from_epoch_ms(ctx.deadline, &ShutdownSettings::default()).unwrap();
        let work = w.work_time();
        assert!(
            work <= Duration::from_secs(23) && work > Duration::from_millis(22_900),
            "{work:?}"
        );
    }

    #[test]
    fn time_left_is_negative_after_the_deadline() {
        let w = plan(30_000).unwrap();
        assert_eq!(w.time_left_ms(w.start), 30_000);
        assert_eq!(w.time_left_ms(w.deadline), 0);
        assert_eq!(
            w.time_left_ms(w.deadline + Duration::from_millis(250)),
            -250
        );
    }

    #[test]
    fn custom_buffer() {
        let s = ShutdownSettings {
            deadline_buffer: Duration::from_secs(3),
            graceful_shutdown: Duration::from_secs(2),
            ..Default::default()
        };
        let now_wall = SystemTime::now();
        let w = WorkWindow::plan(
            now_wall + Duration::from_secs(10),
            now_wall,
            Instant::now(),
            &s,
        )
        .unwrap();
        assert_eq!(w.work_time(), Duration::from_secs(7));
        assert_eq!(w.drain_until - w.stop_polling_at, Duration::from_secs(2));
    }
}
