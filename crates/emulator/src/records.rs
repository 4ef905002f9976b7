//! Invocation records and event-driven waiting on them.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::EmulatorError;
use crate::model::InvocationRecord;

/// Append-only list of invocation attempts; every change bumps a watch counter.
pub(crate) struct Records {
    list: Mutex<Vec<InvocationRecord>>,
    changed: watch::Sender<u64>,
}

impl Records {
    pub(crate) fn new() -> Self {
        Self {
            list: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
        }
    }

    /// Signals a change to waiters (also used for sandbox start/stop).
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// Appends a record and returns its index.
    pub(crate) fn push(&self, rec: InvocationRecord) -> usize {
        let idx = {
            let mut l = self.list.lock().expect("records lock");
            l.push(rec);
            l.len() - 1
        };
        self.bump();
        idx
    }

    /// Updates the record at `idx`.
    pub(crate) fn update(&self, idx: usize, f: impl FnOnce(&mut InvocationRecord)) {
        {
            let mut l = self.list.lock().expect("records lock");
            if let Some(r) = l.get_mut(idx) {
                f(r);
            }
        }
        self.bump();
    }

    pub(crate) fn snapshot(&self) -> Vec<InvocationRecord> {
        self.list.lock().expect("records lock").clone()
    }

    /// Waits (without polling) until `check()` returns `Some`, re-checking on every change, or
    /// until `timeout` passes.
    pub(crate) async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> Result<T, EmulatorError> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(v) = check() {
                return Ok(v);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(EmulatorError::ShutDown),
                Err(_) => {
                    return Err(EmulatorError::WaitTimeout {
                        timeout,
                        records: self.list.lock().expect("records lock").len(),
                    })
                }
            }
        }
    }

    /// Waits until `pred` holds on the records.
    pub(crate) async fn wait<F>(
        &self,
        timeout: Duration,
        mut pred: F,
    ) -> Result<Vec<InvocationRecord>, EmulatorError>
    where
        F: FnMut(&[InvocationRecord]) -> bool,
    {
        self.wait_until(timeout, || {
            let snap = self.snapshot();
            pred(&snap).then_some(snap)
        })
        .await
    }
}
