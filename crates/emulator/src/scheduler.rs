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
//!   channel, a sandbox actor, or a retry timer) and ends in [`complete`] or back in a queue:
//!   it is never dropped silently (an expired event ends in [`complete`] too).
//! * A sandbox is only given work while its slot is in the scheduler map; a sandbox that ends
//!   removes its slot first, then drains its command channel back into the queue.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::arn::FunctionRef;
use crate::emulator::Inner;
use crate::error::EmulatorError;
use crate::model::{InvocationRecord, InvocationType, Outcome};
use crate::store::{now_ms, AsyncSettings, StoredVersion};

/// `errorType` of an asynchronous event dropped for exceeding `MaximumEventAgeInSeconds`.
pub(crate) const EVENT_AGE_EXCEEDED: &str = "Emulator.EventAgeExceeded";

/// What a synchronous caller gets back.
#[derive(Debug)]
pub(crate) struct SyncResult {
    pub function_error: Option<String>,
    pub payload: Bytes,
}

/// One attempt of an invocation, travelling through queue → sandbox → completion.
pub(crate) struct Invocation {
    pub request_id: String,
    pub fref: FunctionRef,
    pub version: StoredVersion,
    pub invoked_arn: String,
    pub payload: Bytes,
    pub kind: InvocationType,
    pub attempt: u32,
    pub record: usize,
    pub reply: Option<oneshot::Sender<SyncResult>>,
    /// When the Invoke request was first received (epoch ms): the event's age counts from here.
    pub first_received_ms: u64,
    /// The function's async settings, as of submission or the last retry.
    pub settings: AsyncSettings,
    /// An extra delivery injected by `Faults::duplicate_event`.
    pub duplicate: bool,
}

impl Invocation {
    pub fn function(&self) -> &str {
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

/// A sandbox the scheduler asked for (handed to scheduler tests instead of a process).
#[cfg(test)]
pub(crate) struct Launched {
    pub id: String,
    pub first: Invocation,
    pub cmd_rx: mpsc::UnboundedReceiver<SandboxCmd>,
}

/// Commands to a sandbox actor. Dropping the sender retires the sandbox.
pub(crate) enum SandboxCmd {
    Invoke(Invocation),
}

/// A sandbox as the scheduler sees it. Only this module reads or changes slots and queues.
pub(crate) struct Slot {
    version: String,
    revision: String,
    busy: bool,
    cmd: mpsc::UnboundedSender<SandboxCmd>,
    pid: Option<u32>,
    log_stream: String,
    /// The sandbox's session credentials, revoked when the slot goes.
    _credentials: Option<crate::credentials::Revocation>,
}

#[derive(Default)]
pub(crate) struct FnSched {
    queue: VecDeque<Invocation>,
    sandboxes: HashMap<String, Slot>,
    limit: u32,
    peak: usize,
    latest_revision: String,
}

impl FnSched {
    fn busy(&self) -> usize {
        self.sandboxes.values().filter(|s| s.busy).count()
    }
    fn note_peak(&mut self) {
        self.peak = self.peak.max(self.busy());
    }
}

#[derive(Default)]
pub(crate) struct Scheduler {
    functions: HashMap<String, FnSched>,
    shutting_down: bool,
}

/// Result of [`submit`].
pub(crate) struct Submitted {
    pub request_id: String,
    pub executed_version: String,
    pub reply: Option<oneshot::Receiver<SyncResult>>,
}

/// Resolves the function, records the invocation and queues it.
pub(crate) fn submit(
    inner: &Arc<Inner>,
    fref: FunctionRef,
    invoked_arn: String,
    payload: Bytes,
    kind: InvocationType,
) -> Result<Submitted, EmulatorError> {
    let (version, reserved, latest_revision, settings) = {
        let store = inner.store.lock().expect("store lock");
        let v = store.resolve(&fref)?.clone();
        let f = store.function(&fref.name)?;
        (
            v,
            f.reserved_concurrency,
            f.latest.config.revision_id.clone(),
            store.async_settings(&fref),
        )
    };
    let limit = reserved.unwrap_or(inner.config.default_concurrency);
    let request_id = uuid::Uuid::new_v4().to_string();
    let executed_version = version.config.version.clone();
    let (tx, rx) = match kind {
        InvocationType::RequestResponse => {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        }
        InvocationType::Event => (None, None),
    };
    {
        let mut s = inner.sched.lock().expect("sched lock");
        if s.shutting_down {
            return Err(EmulatorError::Service(
                "the emulator is shutting down".into(),
            ));
        }
        let f = s.functions.entry(fref.name.clone()).or_default();
        f.limit = limit;
        f.latest_revision = latest_revision;
        if kind == InvocationType::RequestResponse && f.busy() + f.queue.len() >= limit as usize {
            return Err(EmulatorError::Throttled(format!(
                "Rate Exceeded. (ReservedFunctionConcurrentInvocationLimitExceeded: function {} is running \
                 {limit} invocations, its concurrency limit; raise it with PutFunctionConcurrency or retry)",
                fref.name
            )));
        }
    }
    let received = now_ms();
    let mut inv = Invocation {
        request_id: request_id.clone(),
        fref,
        version,
        invoked_arn,
        payload,
        kind,
        attempt: 1,
        record: 0,
        reply: tx,
        first_received_ms: received,
        settings,
        duplicate: false,
    };
    inv.record = push_record(inner, &inv, received);
    let duplicate = (kind == InvocationType::Event
        && inner.faults.lock().expect("faults lock").duplicate_event())
    .then(|| {
        let mut dup = Invocation {
            request_id: request_id.clone(),
            fref: inv.fref.clone(),
            version: inv.version.clone(),
            invoked_arn: inv.invoked_arn.clone(),
            payload: inv.payload.clone(),
            kind,
            attempt: 1,
            record: 0,
            reply: None,
            first_received_ms: received,
            settings,
            duplicate: true,
        };
        dup.record = push_record(inner, &dup, received);
        dup
    });
    deliver(inner, inv);
    if let Some(dup) = duplicate {
        tracing::warn!(request_id = %request_id, function = %dup.function(),
            "fault injected: async event delivered twice (same request id)");
        deliver(inner, dup);
    }
    Ok(Submitted {
        request_id,
        executed_version,
        reply: rx,
    })
}

/// First delivery of a new invocation: an injected `fail_invocation` fault, or the queue.
fn deliver(inner: &Arc<Inner>, inv: Invocation) {
    if inv.kind == InvocationType::Event
        && inner.faults.lock().expect("faults lock").fail_invocation()
    {
        tracing::warn!(request_id = %inv.request_id, "fault injected: invocation attempt failed before reaching a sandbox");
        fail(
            inner,
            inv,
            "Emulator.InjectedFault",
            "invocation failed by the emulator's fault settings",
        );
    } else {
        enqueue(inner, inv, false);
    }
}

/// Puts an invocation in its function's queue (front = it had been assigned already) and dispatches.
pub(crate) fn enqueue(inner: &Arc<Inner>, inv: Invocation, front: bool) {
    let name = inv.function().to_string();
    {
        let mut s = inner.sched.lock().expect("sched lock");
        if s.shutting_down {
            drop(s);
            fail(
                inner,
                inv,
                "Emulator.ShuttingDown",
                "the emulator shut down before the invocation ran",
            );
            return;
        }
        let f = s.functions.entry(name.clone()).or_default();
        if front {
            f.queue.push_front(inv);
        } else {
            f.queue.push_back(inv);
        }
    }
    dispatch(inner, &name);
}

/// Assigns queued invocations to idle sandboxes, or starts sandboxes while under the limit.
pub(crate) fn dispatch(inner: &Arc<Inner>, function: &str) {
    let mut to_spawn = Vec::new();
    let mut expired = Vec::new();
    let now = now_ms();
    {
        let mut s = inner.sched.lock().expect("sched lock");
        if s.shutting_down {
            return;
        }
        let Some(f) = s.functions.get_mut(function) else {
            return;
        };
        while let Some(front) = f.queue.front() {
            // The limit counts executing sandboxes, warm or new.
            if f.busy() >= f.limit as usize {
                break;
            }
            if front.expired(inner, now) {
                expired.push(f.queue.pop_front().expect("front exists"));
                continue;
            }
            let version = front.version.config.version.clone();
            let revision = front.version.config.revision_id.clone();
            let idle = f
                .sandboxes
                .iter()
                .find(|(_, sl)| !sl.busy && sl.version == version && sl.revision == revision)
                .map(|(id, _)| id.clone());
            if let Some(id) = idle {
                let inv = f.queue.pop_front().expect("front exists");
                let slot = f.sandboxes.get_mut(&id).expect("slot exists");
                slot.busy = true;
                if let Err(mpsc::error::SendError(SandboxCmd::Invoke(inv))) =
                    slot.cmd.send(SandboxCmd::Invoke(inv))
                {
                    // The actor is gone: forget the slot and try again.
                    f.sandboxes.remove(&id);
                    f.queue.push_front(inv);
                    continue;
                }
                f.note_peak();
            } else {
                let inv = f.queue.pop_front().expect("front exists");
                let id = inner.new_sandbox_id();
                let (tx, rx) = mpsc::unbounded_channel();
                f.sandboxes.insert(
                    id.clone(),
                    Slot {
                        version,
                        revision,
                        busy: true,
                        cmd: tx,
                        pid: None,
                        log_stream: String::new(),
                        _credentials: None,
                    },
                );
                f.note_peak();
                to_spawn.push((id, inv, rx));
            }
        }
    }
    for (id, inv, rx) in to_spawn {
        inner.launch(id, inv, rx);
    }
    for inv in expired {
        drop_expired(inner, inv, now, "from the queue");
    }
}

/// Live sandboxes, by id.
pub(crate) fn sandboxes(inner: &Inner) -> Vec<crate::model::SandboxInfo> {
    let s = inner.sched.lock().expect("sched lock");
    let mut out: Vec<crate::model::SandboxInfo> = s
        .functions
        .iter()
        .flat_map(|(name, f)| {
            f.sandboxes
                .iter()
                .map(move |(id, sl)| crate::model::SandboxInfo {
                    id: id.clone(),
                    function_name: name.clone(),
                    version: sl.version.clone(),
                    pid: sl.pid,
                    busy: sl.busy,
                    log_stream: sl.log_stream.clone(),
                })
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The highest number of simultaneously busy sandboxes a function has had.
pub(crate) fn peak_concurrency(inner: &Inner, function: &str) -> usize {
    let s = inner.sched.lock().expect("sched lock");
    s.functions.get(function).map(|f| f.peak).unwrap_or(0)
}

/// No new work from here on (the emulator is stopping).
pub(crate) fn stop_accepting(inner: &Inner) {
    if let Ok(mut s) = inner.sched.lock() {
        s.shutting_down = true;
    }
}

/// Stops accepting work and fails everything still queued (`Emulator.ShuttingDown`).
pub(crate) fn shut_down(inner: &Arc<Inner>) {
    let queued: Vec<Invocation> = {
        let mut s = inner.sched.lock().expect("sched lock");
        s.shutting_down = true;
        s.functions
            .values_mut()
            .flat_map(|f| f.queue.drain(..).collect::<Vec<_>>())
            .collect()
    };
    for inv in queued {
        fail(
            inner,
            inv,
            "Emulator.ShuttingDown",
            "the emulator shut down before the invocation ran",
        );
    }
}

/// What a sandbox tells the scheduler. Sandboxes change scheduling state only through
/// [`report`]: they never touch the queues or slots themselves.
pub(crate) enum SandboxEvent<'a> {
    /// Its process started (or was started again for an init retry at the invoke).
    Started {
        /// The process id, if known.
        pid: Option<u32>,
        /// Its log stream.
        stream: &'a str,
    },
    /// An invocation ended with this outcome (the function's answer, a timeout, an error it
    /// reported).
    Finished(Invocation, Outcome, Bytes),
    /// An invocation failed outside the function (process died, bad entrypoint, shutdown):
    /// error type and message as Lambda reports them.
    Failed(Invocation, &'a str, &'a str),
    /// An invocation that never reached the process goes back to the front of the queue.
    Requeue(Invocation),
    /// Ready for the next invocation.
    Idle,
    /// Its idle TTL expired.
    IdleExpired,
    /// Its process is gone; what is still in its command channel is requeued.
    Gone(&'a mut mpsc::UnboundedReceiver<SandboxCmd>),
}

/// The scheduler's answer to a [`SandboxEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Carry on (stay warm, or keep waiting for work).
    Continue,
    /// Stop: the sandbox is retired (stale `$LATEST`, deleted, reaped, shutting down).
    Stop,
}

/// Takes a sandbox's event: the one entry point from `sandbox` into the scheduler.
pub(crate) fn report(inner: &Arc<Inner>, function: &str, id: &str, ev: SandboxEvent) -> Verdict {
    let go_on = |keep: bool| {
        if keep {
            Verdict::Continue
        } else {
            Verdict::Stop
        }
    };
    match ev {
        SandboxEvent::Started { pid, stream } => {
            sandbox_started(inner, function, id, pid, stream);
            Verdict::Continue
        }
        SandboxEvent::Finished(inv, outcome, payload) => {
            complete(inner, inv, outcome, payload);
            Verdict::Continue
        }
        SandboxEvent::Failed(inv, error_type, message) => {
            fail(inner, inv, error_type, message);
            Verdict::Continue
        }
        SandboxEvent::Requeue(inv) => {
            enqueue(inner, inv, true);
            Verdict::Continue
        }
        SandboxEvent::Idle => go_on(sandbox_idle(inner, function, id)),
        SandboxEvent::IdleExpired => go_on(!try_reap(inner, function, id)),
        SandboxEvent::Gone(cmd_rx) => {
            sandbox_gone(inner, function, id, cmd_rx);
            Verdict::Stop
        }
    }
}

/// One sandbox's side of [`report`]: the sandbox holds this, not the scheduler's state.
pub(crate) struct Reporter<'a> {
    inner: &'a Arc<Inner>,
    function: &'a str,
    id: &'a str,
}

impl<'a> Reporter<'a> {
    /// For sandbox `id` of `function`.
    pub(crate) fn new(inner: &'a Arc<Inner>, function: &'a str, id: &'a str) -> Self {
        Self {
            inner,
            function,
            id,
        }
    }
    fn send(&self, ev: SandboxEvent) -> Verdict {
        report(self.inner, self.function, self.id, ev)
    }
    /// [`SandboxEvent::Started`].
    pub(crate) fn started(&self, pid: Option<u32>, stream: &str) {
        self.send(SandboxEvent::Started { pid, stream });
    }
    /// [`SandboxEvent::Finished`].
    pub(crate) fn finished(&self, inv: Invocation, outcome: Outcome, payload: Bytes) {
        self.send(SandboxEvent::Finished(inv, outcome, payload));
    }
    /// [`SandboxEvent::Failed`].
    pub(crate) fn failed(&self, inv: Invocation, error_type: &str, message: &str) {
        self.send(SandboxEvent::Failed(inv, error_type, message));
    }
    /// [`SandboxEvent::Requeue`].
    pub(crate) fn requeue(&self, inv: Invocation) {
        self.send(SandboxEvent::Requeue(inv));
    }
    /// [`SandboxEvent::Idle`].
    pub(crate) fn idle(&self) -> Verdict {
        self.send(SandboxEvent::Idle)
    }
    /// [`SandboxEvent::IdleExpired`].
    pub(crate) fn idle_expired(&self) -> Verdict {
        self.send(SandboxEvent::IdleExpired)
    }
    /// [`SandboxEvent::Gone`].
    pub(crate) fn gone(&self, cmd_rx: &mut mpsc::UnboundedReceiver<SandboxCmd>) {
        self.send(SandboxEvent::Gone(cmd_rx));
    }
}

/// A sandbox finished an invocation. Returns false if it should stop (stale, deleted, shutting down).
fn sandbox_idle(inner: &Arc<Inner>, function: &str, id: &str) -> bool {
    let keep = {
        let mut s = inner.sched.lock().expect("sched lock");
        if s.shutting_down {
            false
        } else if let Some(f) = s.functions.get_mut(function) {
            let stale = f
                .sandboxes
                .get(id)
                .map(|sl| sl.version == "$LATEST" && sl.revision != f.latest_revision)
                .unwrap_or(true);
            if stale {
                f.sandboxes.remove(id);
                false
            } else {
                f.sandboxes.get_mut(id).expect("checked").busy = false;
                true
            }
        } else {
            false
        }
    };
    dispatch(inner, function);
    inner.records.bump();
    keep
}

/// An idle sandbox's TTL expired: remove it unless work was just assigned to it.
fn try_reap(inner: &Arc<Inner>, function: &str, id: &str) -> bool {
    let mut s = inner.sched.lock().expect("sched lock");
    let Some(f) = s.functions.get_mut(function) else {
        return true;
    };
    match f.sandboxes.get(id) {
        Some(sl) if sl.busy => false,
        _ => {
            f.sandboxes.remove(id);
            true
        }
    }
}

/// Sandbox `id` of `function` got session credentials `access_key_id`: they live as long as its
/// slot (revoked at once if the slot is already gone).
pub(crate) fn credentials_issued(
    inner: &Arc<Inner>,
    function: &str,
    id: &str,
    access_key_id: &str,
) {
    let revocation = crate::credentials::Revocation {
        access_key_id: access_key_id.to_string(),
        revoked: inner.revoked.clone(),
    };
    let mut s = inner.sched.lock().expect("sched lock");
    if let Some(sl) = s
        .functions
        .get_mut(function)
        .and_then(|f| f.sandboxes.get_mut(id))
    {
        sl._credentials = Some(revocation);
    }
    // Otherwise `revocation` drops here: revoked.
}

/// Records the pid and log stream of a started sandbox.
fn sandbox_started(inner: &Arc<Inner>, function: &str, id: &str, pid: Option<u32>, stream: &str) {
    let mut s = inner.sched.lock().expect("sched lock");
    if let Some(sl) = s
        .functions
        .get_mut(function)
        .and_then(|f| f.sandboxes.get_mut(id))
    {
        sl.pid = pid;
        sl.log_stream = stream.to_string();
    }
    drop(s);
    inner.records.bump();
}

/// A sandbox ended: remove its slot, then requeue anything still in its command channel.
fn sandbox_gone(
    inner: &Arc<Inner>,
    function: &str,
    id: &str,
    cmd_rx: &mut mpsc::UnboundedReceiver<SandboxCmd>,
) {
    {
        let mut s = inner.sched.lock().expect("sched lock");
        if let Some(f) = s.functions.get_mut(function) {
            f.sandboxes.remove(id);
        }
    }
    cmd_rx.close();
    while let Ok(SandboxCmd::Invoke(inv)) = cmd_rx.try_recv() {
        enqueue(inner, inv, true);
    }
    dispatch(inner, function);
    inner.records.bump();
}

/// `$LATEST` changed: idle sandboxes running the old revision are retired.
pub(crate) fn latest_updated(inner: &Arc<Inner>, function: &str, revision: &str) {
    let mut s = inner.sched.lock().expect("sched lock");
    if let Some(f) = s.functions.get_mut(function) {
        f.latest_revision = revision.to_string();
        f.sandboxes
            .retain(|_, sl| sl.busy || sl.version != "$LATEST" || sl.revision == revision);
    }
}

/// Concurrency limit changed.
pub(crate) fn set_limit(inner: &Arc<Inner>, function: &str, limit: u32) {
    {
        let mut s = inner.sched.lock().expect("sched lock");
        if let Some(f) = s.functions.get_mut(function) {
            f.limit = limit;
        }
    }
    dispatch(inner, function);
}

/// The function (or one version) was deleted: queued invocations of it fail, idle sandboxes stop.
pub(crate) fn function_deleted(inner: &Arc<Inner>, function: &str, version: Option<&str>) {
    let failed: Vec<Invocation> = {
        let mut s = inner.sched.lock().expect("sched lock");
        let Some(f) = s.functions.get_mut(function) else {
            return;
        };
        let matches = |v: &str| version.is_none_or(|q| q == v);
        f.sandboxes.retain(|_, sl| sl.busy || !matches(&sl.version));
        let (gone, keep): (Vec<_>, Vec<_>) = f
            .queue
            .drain(..)
            .partition(|i| matches(&i.version.config.version));
        f.queue = keep.into();
        if version.is_none() {
            // Busy sandboxes finish their invocation, then find no function and stop.
            let f = s.functions.remove(function).expect("exists");
            drop(f.sandboxes);
        }
        gone
    };
    for inv in failed {
        let msg = format!(
            "Function not found: {} (deleted while the invocation was queued)",
            inv.invoked_arn
        );
        fail(inner, inv, "ResourceNotFoundException", &msg);
    }
}

fn error_body(error_type: &str, message: &str) -> Bytes {
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

fn retry(inner: &Arc<Inner>, mut inv: Invocation) {
    let resolved = {
        let store = inner.store.lock().expect("store lock");
        store
            .resolve(&inv.fref)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_reuse_the_last_entry() {
        let d = [Duration::from_secs(60), Duration::from_secs(120)];
        assert_eq!(retry_delay(&d, 1), Duration::from_secs(60));
        assert_eq!(retry_delay(&d, 2), Duration::from_secs(120));
        assert_eq!(retry_delay(&d, 3), Duration::from_secs(120));
        assert_eq!(retry_delay(&[], 1), Duration::ZERO);
    }
}

#[cfg(test)]
mod sandbox_free_tests {
    //! The scheduler on its own: the test plays the sandboxes (no processes, no HTTP).
    use super::*;
    use crate::config::EmulatorConfig;
    use crate::emulator::Launcher;
    use std::sync::mpsc::Receiver;
    use std::time::Duration;

    struct Fixture {
        inner: Arc<Inner>,
        launched: Receiver<Launched>,
        _dir: tempfile::TempDir,
    }

    fn fixture(limit: u32) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EmulatorConfig::new(dir.path());
        config.async_retry_delays = vec![Duration::from_secs(60), Duration::from_secs(120)];
        let mut store = crate::store::tests::store_with_function(dir.path());
        store.set_concurrency("f", Some(limit)).unwrap();
        let (tx, launched) = std::sync::mpsc::channel();
        let inner = Arc::new(Inner::new(
            config,
            store,
            "http://127.0.0.1:1".into(),
            Launcher::Record(tx),
        ));
        Fixture {
            inner,
            launched,
            _dir: dir,
        }
    }

    fn submit_one(f: &Fixture, kind: InvocationType, n: u32) -> Result<Submitted, EmulatorError> {
        let fref = FunctionRef {
            name: "f".into(),
            qualifier: None,
        };
        submit(
            &f.inner,
            fref,
            "arn".into(),
            Bytes::from(format!("{{\"n\":{n}}}")),
            kind,
        )
    }

    fn n_of(inv: &Invocation) -> u32 {
        let v: serde_json::Value = serde_json::from_slice(&inv.payload).unwrap();
        v["n"].as_u64().unwrap() as u32
    }

    /// Lets paused time pass and the timer tasks it woke run (tasks spawned just before get
    /// polled first, so their timers start now).
    async fn pass(d: Duration) {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::advance(d).await;
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    fn next_cmd(rx: &mut mpsc::UnboundedReceiver<SandboxCmd>) -> Option<Invocation> {
        match rx.try_recv() {
            Ok(SandboxCmd::Invoke(i)) => Some(i),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn the_limit_caps_sandboxes_the_queue_is_fifo_and_warm_sandboxes_are_reused() {
        let f = fixture(2);
        for n in 1..=4 {
            submit_one(&f, InvocationType::Event, n).unwrap();
        }
        let a = f.launched.try_recv().unwrap();
        let b = f.launched.try_recv().unwrap();
        assert!(
            f.launched.try_recv().is_err(),
            "only 2 sandboxes under a limit of 2"
        );
        assert_eq!((n_of(&a.first), n_of(&b.first)), (1, 2));
        assert_eq!(f.inner.sched.lock().unwrap().functions["f"].queue.len(), 2);

        // Sandbox a finishes: it is warm, so it gets the queue's head; no new sandbox.
        let Launched {
            id: a_id,
            first: a_inv,
            cmd_rx: mut a_rx,
        } = a;
        complete(&f.inner, a_inv, Outcome::Success, Bytes::new());
        assert!(sandbox_idle(&f.inner, "f", &a_id));
        assert_eq!(next_cmd(&mut a_rx).map(|i| n_of(&i)), Some(3));
        assert!(f.launched.try_recv().is_err());

        // Sandbox b finishes and is handed 4, then dies before taking it: 4 is requeued at the
        // front and runs in a new sandbox — never lost.
        let Launched {
            id: b_id,
            first: b_inv,
            cmd_rx: mut b_rx,
        } = b;
        complete(&f.inner, b_inv, Outcome::Success, Bytes::new());
        assert!(sandbox_idle(&f.inner, "f", &b_id));
        sandbox_gone(&f.inner, "f", &b_id, &mut b_rx);
        let c = f
            .launched
            .try_recv()
            .expect("a new sandbox for the requeued invocation");
        assert_eq!(n_of(&c.first), 4);
        assert_ne!(c.id, b_id);
        let sched = f.inner.sched.lock().unwrap();
        let fs = &sched.functions["f"];
        assert!(fs.queue.is_empty());
        assert_eq!(fs.sandboxes.len(), 2, "a (busy with 3) and c (busy with 4)");
        assert_eq!(fs.peak, 2);
    }

    #[tokio::test]
    async fn a_sync_call_beyond_the_limit_is_throttled() {
        let f = fixture(1);
        let first = submit_one(&f, InvocationType::RequestResponse, 1).unwrap();
        assert!(first.reply.is_some());
        let e = submit_one(&f, InvocationType::RequestResponse, 2)
            .err()
            .unwrap();
        assert!(
            matches!(&e, EmulatorError::Throttled(m) if m.contains("concurrency limit")),
            "{e:?}"
        );
        // Events are queued instead.
        submit_one(&f, InvocationType::Event, 3).unwrap();
        assert_eq!(f.inner.sched.lock().unwrap().functions["f"].queue.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_event_is_retried_after_the_configured_delays_then_given_up() {
        let f = fixture(1);
        submit_one(&f, InvocationType::Event, 7).unwrap();
        let Launched {
            id,
            first,
            mut cmd_rx,
        } = f.launched.try_recv().unwrap();
        let fail_and_idle = |inv: Invocation| {
            fail(&f.inner, inv, "Boom", "failed");
            assert!(sandbox_idle(&f.inner, "f", &id));
        };
        fail_and_idle(first);
        // Nothing before the first delay (60 s)...
        pass(Duration::from_secs(59)).await;
        assert!(next_cmd(&mut cmd_rx).is_none());
        // ...then attempt 2 reaches the warm sandbox.
        pass(Duration::from_secs(2)).await;
        let second = next_cmd(&mut cmd_rx).expect("retry after 60 s");
        assert_eq!((n_of(&second), second.attempt), (7, 2));
        fail_and_idle(second);
        pass(Duration::from_secs(121)).await;
        let third = next_cmd(&mut cmd_rx).expect("retry after 120 s more");
        assert_eq!(third.attempt, 3);
        fail_and_idle(third);
        // Two retries (the default MaximumRetryAttempts): no fourth attempt.
        pass(Duration::from_secs(600)).await;
        assert!(next_cmd(&mut cmd_rx).is_none());
        let recs = f.inner.records.snapshot();
        assert_eq!(recs.len(), 3);
        assert!(recs
            .iter()
            .all(|r| r.outcome.as_ref().and_then(|o| o.error_type()) == Some("Boom")));
        assert!(f.launched.try_recv().is_err(), "one sandbox throughout");
    }
}
