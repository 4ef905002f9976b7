//! The scheduler's state as data: invocations, commands to sandboxes, slots, per-function queues.
//! Its behaviour lives in the parent module; the service core ([`crate::state::Inner`]) holds a
//! [`Scheduler`] without depending on that behaviour.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::arn::FunctionRef;
use crate::model::InvocationType;
use crate::store::{AsyncSettings, StoredVersion};

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
    pub(super) version: String,
    pub(super) revision: String,
    /// Invocations assigned to it and not finished (at most 1 on demand).
    pub(super) in_flight: u32,
    pub(super) cmd: mpsc::UnboundedSender<SandboxCmd>,
    pub(super) pid: Option<u32>,
    pub(super) log_stream: String,
    /// The sandbox's session credentials, revoked when the slot goes.
    pub(super) _credentials: Option<crate::credentials::Revocation>,
}

#[derive(Default)]
pub(crate) struct FnSched {
    pub(super) queue: VecDeque<Invocation>,
    pub(super) sandboxes: HashMap<String, Slot>,
    pub(super) limit: u32,
    pub(super) peak: usize,
    pub(super) latest_revision: String,
}

#[derive(Default)]
pub(crate) struct Scheduler {
    pub(super) functions: HashMap<String, FnSched>,
    pub(super) shutting_down: bool,
}
