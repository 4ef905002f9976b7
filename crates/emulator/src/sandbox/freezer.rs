//! Freezing a sandbox between invocations (freezer cgroup, else SIGSTOP/SIGCONT).

use std::time::{Duration, Instant};

use super::process::{signal_group, ProcessGroup};
use crate::fidelity::SandboxCgroup;
use crate::state::Inner;

/// How long a freeze may take before it is undone.
const FREEZE_WAIT: Duration = Duration::from_secs(1);

/// The sandbox's cgroups (CPU, memory, freezer) and freezing between invocations: the freezer
/// cgroup, else SIGSTOP/SIGCONT of its process group (if fidelity asks for freezing), else
/// nothing. Owning the cgroup, it must outlive the process (dropped after it is reaped).
pub(super) struct Freezer {
    /// The sandbox's cgroups (thawed, emptied and removed on drop).
    pub(super) cgroup: SandboxCgroup,
    by_signal: bool,
    since: Option<Instant>,
}

impl Freezer {
    pub(super) fn new(inner: &Inner, cgroup: SandboxCgroup) -> Self {
        Self {
            by_signal: inner.cgroups.effective.freeze && !cgroup.can_freeze(),
            cgroup,
            since: None,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.cgroup.can_freeze() || self.by_signal
    }

    pub(super) fn method(&self) -> &'static str {
        if self.cgroup.can_freeze() {
            "cgroup"
        } else if self.by_signal {
            "signal"
        } else {
            "none"
        }
    }

    /// Freezes the sandbox. With the freezer cgroup it waits, without blocking a thread, until
    /// the kernel reports every task stopped (microseconds for a runtime waiting on `next`); a
    /// group that does not get there within [`FREEZE_WAIT`] (e.g. its tasks are exiting) is
    /// thawed again, so a sandbox is never left frozen without the freezer knowing it.
    pub(super) async fn freeze(&mut self, pgid: Option<i32>) {
        if self.since.is_some() {
            return;
        }
        let ok = if self.cgroup.can_freeze() {
            self.cgroup.request_freeze() && self.wait_frozen().await
        } else if let (true, Some(pgid)) = (self.by_signal, pgid) {
            signal_group(pgid, libc::SIGSTOP);
            true
        } else {
            false
        };
        if ok {
            self.since = Some(Instant::now());
        }
    }

    async fn wait_frozen(&self) -> bool {
        let t = Instant::now();
        while !self.cgroup.is_frozen() {
            if t.elapsed() > FREEZE_WAIT {
                self.cgroup.thaw();
                tracing::debug!(
                    "sandbox did not freeze within {FREEZE_WAIT:?} (exiting?): left running"
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        true
    }

    /// Thaws; returns how long the sandbox was frozen.
    pub(super) fn thaw(&mut self, pgid: Option<i32>) -> Duration {
        let Some(since) = self.since.take() else {
            return Duration::ZERO;
        };
        if self.cgroup.can_freeze() {
            self.cgroup.thaw();
        } else if let Some(pgid) = pgid {
            signal_group(pgid, libc::SIGCONT);
        }
        since.elapsed()
    }
}

/// SIGKILLs a group that may be frozen: a frozen process dies only once thawed.
pub(super) fn group_kill_thawed(freezer: &mut Freezer, group: &ProcessGroup<'_>) {
    group.kill();
    freezer.thaw(group.pgid);
}
