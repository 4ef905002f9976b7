//! What sandboxes report (started, finished, idle, gone) and the scheduler's verdicts, plus the
//! session credentials a sandbox is issued.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::completion::{complete, fail};
use super::queue::{dispatch, enqueue};
use super::{Invocation, SandboxCmd};
use crate::model::Outcome;
use crate::state::Inner;

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
pub(super) fn sandbox_idle(inner: &Arc<Inner>, function: &str, id: &str) -> bool {
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
                let slot = f.sandboxes.get_mut(id).expect("checked");
                slot.in_flight = slot.in_flight.saturating_sub(1);
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
pub(super) fn try_reap(inner: &Arc<Inner>, function: &str, id: &str) -> bool {
    let mut s = inner.sched.lock().expect("sched lock");
    let Some(f) = s.functions.get_mut(function) else {
        return true;
    };
    match f.sandboxes.get(id) {
        Some(sl) if sl.busy() => false,
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
pub(super) fn sandbox_started(
    inner: &Arc<Inner>,
    function: &str,
    id: &str,
    pid: Option<u32>,
    stream: &str,
) {
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
pub(super) fn sandbox_gone(
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
