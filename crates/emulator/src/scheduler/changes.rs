//! Function changes the scheduler reacts to: a new `$LATEST` revision (stale sandboxes retire),
//! a new concurrency limit, a deleted function or version.

use std::sync::Arc;

use super::completion::fail;
use super::queue::dispatch;
use super::Invocation;
use crate::state::Inner;

/// `$LATEST` changed: idle sandboxes running the old revision are retired.
pub(crate) fn latest_updated(inner: &Arc<Inner>, function: &str, revision: &str) {
    let mut s = inner.sched.lock().expect("sched lock");
    if let Some(f) = s.functions.get_mut(function) {
        f.latest_revision = revision.to_string();
        f.sandboxes
            .retain(|_, sl| sl.busy() || sl.version != "$LATEST" || sl.revision == revision);
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
        f.sandboxes
            .retain(|_, sl| sl.busy() || !matches(&sl.version));
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
