//! Invocation scheduling: per-function FIFO queues, the concurrency limit, assignment of
//! invocations to warm sandboxes or new ones, completion, and async retries.
//!
//! Asynchronous (`Event`) invocations follow the function's event invoke config
//! (`PutFunctionEventInvokeConfig`; the qualifier's, else the unqualified one, else Lambda's
//! defaults): at most `MaximumRetryAttempts` (default 2) retries after a failed attempt, waiting
//! [`crate::EmulatorConfig::async_retry_delays`] before each; an event older than
//! `MaximumEventAgeInSeconds` (default 6 hours, counted from its first receipt, in units of
//! [`crate::EmulatorConfig::event_age_unit`]) when a retry is due or when it would leave the
//! queue is not run: it ends with `Emulator.EventAgeExceeded` (on a new attempt record for a
//! retry, on the queued attempt's record otherwise) and a warning.
//!
//! Invariants:
//! * An [`Invocation`] value is always owned by exactly one place (a queue, a sandbox command
//!   channel, a sandbox actor, or a retry timer) and ends in [`complete`](completion::complete) or back in a queue:
//!   it is never dropped silently (an expired event ends in [`complete`](completion::complete) too).
//! * A sandbox is only given work while its slot is in the scheduler map; a sandbox that ends
//!   removes its slot first, then drains its command channel back into the queue.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::model::{InvocationRecord, InvocationType};
use crate::state::Inner;
use crate::store::AsyncSettings;

/// `errorType` of an asynchronous event dropped for exceeding `MaximumEventAgeInSeconds`.
pub(crate) const EVENT_AGE_EXCEEDED: &str = "Emulator.EventAgeExceeded";

impl Invocation {
    pub(crate) fn function(&self) -> &str {
        &self.fref.name
    }

    /// How long ago the invocation was first received.
    fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.first_received_ms))
    }

    /// True for an asynchronous invocation older than its `MaximumEventAgeInSeconds`.
    fn expired(&self, inner: &Inner, now_ms: u64) -> bool {
        self.kind == InvocationType::Event && self.age(now_ms) > max_event_age(inner, self.settings)
    }
}

/// `MaximumEventAgeInSeconds` in emulator time (see `EmulatorConfig::event_age_unit`).
fn max_event_age(inner: &Inner, settings: AsyncSettings) -> Duration {
    inner
        .config
        .event_age_unit
        .saturating_mul(settings.max_event_age_s)
}

/// The delay before retry number `retry` (1-based): the configured entry, else the last one.
fn retry_delay(delays: &[Duration], retry: usize) -> Duration {
    delays
        .get(retry.saturating_sub(1))
        .or(delays.last())
        .copied()
        .unwrap_or(Duration::ZERO)
}

/// A new, queued attempt record.
fn push_record(inner: &Inner, inv: &Invocation, received_at_ms: u64) -> usize {
    inner.records.push(InvocationRecord {
        request_id: inv.request_id.clone(),
        function_name: inv.fref.name.clone(),
        version: inv.version.config.version.clone(),
        invocation_type: inv.kind,
        attempt: inv.attempt,
        received_at_ms,
        started_at_ms: None,
        deadline_ms: None,
        ended_at_ms: None,
        outcome: None,
        sandbox_id: None,
        pid: None,
        cold_start: None,
        ended_before_deadline: None,
        duplicate: inv.duplicate,
        limits: None,
        environment_concurrency: None,
    })
}

/// Ends an expired asynchronous invocation (its record gets `Emulator.EventAgeExceeded`).
fn drop_expired(inner: &Arc<Inner>, inv: Invocation, now_ms: u64, when: &str) {
    let age = inv.age(now_ms);
    let max_age = max_event_age(inner, inv.settings);
    tracing::warn!(
        function = %inv.function(), request_id = %inv.request_id, attempt = inv.attempt,
        age_ms = age.as_millis() as u64, max_age_ms = max_age.as_millis() as u64,
        "async event dropped {when}: older than the function's MaximumEventAgeInSeconds ({} s)",
        inv.settings.max_event_age_s
    );
    let msg = format!(
        "event dropped {when}: its age {age:?} exceeds MaximumEventAgeInSeconds {} ({max_age:?} in \
         emulator time); raise it with PutFunctionEventInvokeConfig",
        inv.settings.max_event_age_s
    );
    fail(inner, inv, EVENT_AGE_EXCEEDED, &msg);
}

impl Slot {
    fn busy(&self) -> bool {
        self.in_flight > 0
    }
}

impl FnSched {
    fn busy(&self) -> usize {
        self.sandboxes.values().filter(|s| s.busy()).count()
    }
    /// Invocations of `version` running in its sandboxes or waiting in the queue.
    fn taken(&self, version: &str) -> usize {
        let running: usize = self
            .sandboxes
            .values()
            .filter(|s| s.version == version)
            .map(|s| s.in_flight as usize)
            .sum();
        running
            + self
                .queue
                .iter()
                .filter(|i| i.version.config.version == version)
                .count()
    }
    fn note_peak(&mut self) {
        self.peak = self.peak.max(self.busy());
    }
}

/// Result of [`submit`].
pub(crate) struct Submitted {
    pub request_id: String,
    pub executed_version: String,
    pub reply: Option<oneshot::Receiver<SyncResult>>,
}

mod changes;
mod completion;
mod queue;
mod reports;
#[cfg(test)]
mod tests;
pub(crate) mod work;

use completion::fail;

pub(crate) use changes::{function_deleted, latest_updated, set_limit};
pub(crate) use completion::timeout_body;
pub(crate) use queue::{peak_concurrency, sandboxes, shut_down, stop_accepting, submit};
pub(crate) use reports::{credentials_issued, Reporter, Verdict};
#[cfg(test)]
pub(crate) use work::Launched;
pub(crate) use work::{FnSched, Invocation, SandboxCmd, Slot, SyncResult};
