//! Ending an attempt: completion (the record, the caller's reply), failure bodies, and the
//! asynchronous retries.

use std::sync::Arc;

use bytes::Bytes;

use super::queue::enqueue;
use super::{drop_expired, push_record, retry_delay, Invocation, SyncResult, EVENT_AGE_EXCEEDED};
use crate::model::{InvocationType, Outcome};
use crate::state::Inner;
use crate::store::now_ms;

pub(super) fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

/// Completes an attempt with an error that did not come from the function itself.
pub(crate) fn fail(inner: &Arc<Inner>, inv: Invocation, error_type: &str, message: &str) {
    let outcome = Outcome::Error {
        error_type: error_type.to_string(),
        error_message: message.to_string(),
    };
    complete(inner, inv, outcome, error_body(error_type, message));
}

/// The timeout error body Lambda returns.
pub(crate) fn timeout_body(timeout_s: u32) -> Bytes {
    error_body(
        "Sandbox.Timedout",
        &format!("Task timed out after {timeout_s}.00 seconds"),
    )
}

/// Ends an attempt: updates its record, answers a synchronous caller, or schedules an async retry.
pub(crate) fn complete(inner: &Arc<Inner>, mut inv: Invocation, outcome: Outcome, payload: Bytes) {
    let now = now_ms();
    let success = outcome.is_success();
    let error_type = outcome.error_type().map(str::to_string);
    inner.records.update(inv.record, |r| {
        r.ended_at_ms = Some(now);
        r.ended_before_deadline = r.deadline_ms.map(|d| now < d);
        r.outcome = Some(outcome);
    });
    if let Some(reply) = inv.reply.take() {
        let function_error = (!success).then(|| "Unhandled".to_string());
        let _ = reply.send(SyncResult {
            function_error,
            payload,
        });
        return;
    }
    if inv.kind != InvocationType::Event || success {
        return;
    }
    if error_type.as_deref() == Some(EVENT_AGE_EXCEEDED) {
        // Final: dropped for its age (already warned about).
        return;
    }
    let attempt = inv.attempt as usize;
    let shutting_down = inner.sched.lock().expect("sched lock").shutting_down;
    if shutting_down && error_type.as_deref() == Some("Emulator.ShuttingDown") {
        // Queued when the emulator stopped (e.g. the server's follow-up invocations at the end
        // of a demo): nothing went wrong, so no warning. The record keeps the outcome.
        tracing::debug!(request_id = %inv.request_id, function = %inv.function(),
            "async invocation dropped: the emulator is shutting down");
        return;
    }
    // The function's current settings decide (they may have changed since submission).
    inv.settings = inner
        .store
        .lock()
        .expect("store lock")
        .async_settings(&inv.fref);
    let retries = inv.settings.max_retries as usize;
    if attempt > retries || shutting_down {
        tracing::warn!(
            request_id = %inv.request_id, function = %inv.function(), attempts = attempt,
            maximum_retry_attempts = retries,
            error_type = error_type.as_deref().unwrap_or(""), "async invocation failed; no retries left"
        );
        return;
    }
    let delay = retry_delay(&inner.config.async_retry_delays, attempt);
    tracing::info!(request_id = %inv.request_id, function = %inv.function(), attempt, ?delay,
        error_type = error_type.as_deref().unwrap_or(""), "async invocation failed; retrying");
    let inner2 = inner.clone();
    let mut shutdown = inner.shutdown.subscribe();
    inner.spawn_task(async move {
        tokio::select! {
            _ = tokio::time::sleep(delay) => retry(&inner2, inv),
            _ = shutdown.wait_for(|v| *v) => {
                tracing::debug!(request_id = %inv.request_id, function = %inv.function(),
                    "pending async retry dropped: the emulator is shutting down");
            }
        }
    });
}

pub(super) fn retry(inner: &Arc<Inner>, mut inv: Invocation) {
    let resolved = {
        let store = inner.store.lock().expect("store lock");
        store
            .resolve_invoke(&inv.fref)
            .cloned()
            .map(|v| (v, store.async_settings(&inv.fref)))
    };
    let (version, settings) = match resolved {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(request_id = %inv.request_id, "async retry dropped: {e}");
            return;
        }
    };
    inv.version = version;
    inv.settings = settings;
    inv.attempt += 1;
    let now = now_ms();
    inv.record = push_record(inner, &inv, now);
    if inv.expired(inner, now) {
        drop_expired(inner, inv, now, "when its retry was due");
        return;
    }
    enqueue(inner, inv, false);
}
