//! Submission, the per-function FIFO queues and dispatch: assigning queued invocations to warm
//! sandboxes or new ones within the concurrency limit; what runs where; shutting down.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::completion::fail;
use super::{drop_expired, push_record, FnSched, Invocation, SandboxCmd, Slot, Submitted};
use crate::arn::FunctionRef;
use crate::error::EmulatorError;
use crate::managed::{place, throttled, EnvLoad, Placement};
use crate::model::InvocationType;
use crate::state::Inner;
use crate::store::now_ms;

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
        let v = store.resolve_invoke(&fref)?.clone();
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
        let environments = inner.config.managed_instances_environments;
        check_capacity(f, &fref.name, &version, kind, environments)?;
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
pub(super) fn deliver(inner: &Arc<Inner>, inv: Invocation) {
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
            let managed = managed_max_concurrency(&front.version);
            // On demand, the limit counts executing sandboxes, warm or new.
            if managed.is_none() && f.busy() >= f.limit as usize {
                break;
            }
            if front.expired(inner, now) {
                expired.push(f.queue.pop_front().expect("front exists"));
                continue;
            }
            let version = front.version.config.version.clone();
            let revision = front.version.config.revision_id.clone();
            let target = match managed {
                None => f
                    .sandboxes
                    .iter()
                    .find(|(_, sl)| !sl.busy() && sl.version == version && sl.revision == revision)
                    .map(|(id, _)| id.clone()),
                Some(max) => {
                    let mut envs: Vec<EnvLoad<'_>> = f
                        .sandboxes
                        .iter()
                        .filter(|(_, sl)| sl.version == version && sl.revision == revision)
                        .map(|(id, sl)| EnvLoad {
                            id,
                            in_flight: sl.in_flight,
                        })
                        .collect();
                    envs.sort_by(|a, b| a.id.cmp(b.id));
                    match place(&envs, max, inner.config.managed_instances_environments) {
                        Placement::Environment(id) => Some(id.to_string()),
                        Placement::StartEnvironment => None,
                        // Waits for a slot (a sandbox that finishes one dispatches again).
                        Placement::Full => break,
                    }
                }
            };
            let inv = f.queue.pop_front().expect("front exists");
            if let Some(id) = target {
                let slot = f.sandboxes.get_mut(&id).expect("slot exists");
                slot.in_flight += 1;
                if let Err(mpsc::error::SendError(SandboxCmd::Invoke(inv))) =
                    slot.cmd.send(SandboxCmd::Invoke(inv))
                {
                    // The actor is gone: forget the slot and try again.
                    f.sandboxes.remove(&id);
                    f.queue.push_front(inv);
                    continue;
                }
            } else {
                let id = inner.new_sandbox_id();
                let (tx, rx) = mpsc::unbounded_channel();
                f.sandboxes.insert(
                    id.clone(),
                    Slot {
                        version,
                        revision,
                        in_flight: 1,
                        cmd: tx,
                        pid: None,
                        log_stream: String::new(),
                        _credentials: None,
                    },
                );
                to_spawn.push((id, inv, rx));
            }
            f.note_peak();
        }
    }
    for (id, inv, rx) in to_spawn {
        inner.launch(id, inv, rx);
    }
    for inv in expired {
        drop_expired(inner, inv, now, "from the queue");
    }
}

/// 429 when a new invoke finds no room: on Lambda Managed Instances every slot of every
/// environment of the version is taken (sync and `Event`); on demand, a synchronous invoke
/// when the function runs its concurrency limit.
fn check_capacity(
    f: &FnSched,
    function: &str,
    version: &crate::store::StoredVersion,
    kind: InvocationType,
    environments: u32,
) -> Result<(), EmulatorError> {
    let limit = f.limit;
    if let Some(max) = managed_max_concurrency(version) {
        if throttled(f.taken(&version.config.version), max, environments) {
            return Err(EmulatorError::Throttled(format!(
                "Rate Exceeded. (Lambda Managed Instances: all {environments} execution environments of \
                 {function}:{} are running {max} invocations each, its PerExecutionEnvironmentMaxConcurrency; \
                 retry, or raise PerExecutionEnvironmentMaxConcurrency or the emulator's \
                 managed_instances_environments)",
                version.config.version
            )));
        }
    } else if kind == InvocationType::RequestResponse && f.busy() + f.queue.len() >= limit as usize
    {
        return Err(EmulatorError::Throttled(format!(
            "Rate Exceeded. (ReservedFunctionConcurrentInvocationLimitExceeded: function {function} is running \
             {limit} invocations, its concurrency limit; raise it with PutFunctionConcurrency or retry)"
        )));
    }
    Ok(())
}

/// `PerExecutionEnvironmentMaxConcurrency` of a version on Lambda Managed Instances.
fn managed_max_concurrency(version: &crate::store::StoredVersion) -> Option<u32> {
    let c = &version.config;
    c.managed_instances()
        .map(|m| crate::managed::max_concurrency(m, c.memory_size))
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
                    busy: sl.busy(),
                    in_flight: sl.in_flight,
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
