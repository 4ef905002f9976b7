//! The bookkeeping of concurrent invocations over one shared worker (Lambda Managed Instances),
//! apart from the SDK and the network: which leases are live, when the shared worker must be
//! started, when it may stop, and by when each lease answers. [`crate::shared`] does what this
//! decides.
//!
//! Each invocation is a *lease* on the execution environment's one worker. A lease never drains
//! the shared worker on its own: only the close of the **last** live lease under
//! [`Residency::Stop`] does, and under [`Residency::Stay`] only reclaiming the environment
//! (`SIGTERM`) does. A lease that arrives while the worker drains waits for the drain, then
//! starts a fresh worker on the same connection (an SDK worker cannot be restarted).

use std::collections::BTreeSet;

use tokio::time::Instant;

use crate::{config::Residency, window::WorkWindow};

/// Identifies one lease.
pub(crate) type LeaseId = u64;

/// The shared worker's state, as the leases see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WorkerState {
    /// No worker: the next lease starts one.
    Stopped,
    /// Polling (or being started by the lease that was told [`Join::Start`]).
    Running,
    /// The last lease is draining it: new leases wait for [`Leases::drained`].
    Draining,
    /// The environment is being reclaimed: no new worker is started.
    Reclaimed,
}

/// What a lease does to get a polling worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Join {
    /// No worker yet: this lease starts it (and reports back with [`Leases::start_failed`] if
    /// it cannot).
    Start,
    /// A worker is polling: share it.
    Share,
    /// The worker is draining: wait until it has stopped, then join again.
    AfterDrain,
    /// The environment is being reclaimed: answer at once.
    Refused,
}

/// What closing a lease leaves the shared worker to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterClose {
    /// Other leases are live, the residency is `stay`, or nothing is running: keep going.
    KeepPolling,
    /// That was the last lease under `stop`: this lease drains the worker (then
    /// [`Leases::drained`]).
    Drain,
}

/// The live leases of one execution environment and the shared worker's state.
#[derive(Debug)]
pub(crate) struct Leases {
    residency: Residency,
    state: WorkerState,
    live: BTreeSet<LeaseId>,
    next: LeaseId,
}

impl Leases {
    /// No lease, no worker.
    pub(crate) fn new(residency: Residency) -> Self {
        Self {
            residency,
            state: WorkerState::Stopped,
            live: BTreeSet::new(),
            next: 1,
        }
    }

    /// Take a lease: it counts as live (so no drain starts) from now until [`Leases::close`].
    pub(crate) fn open(&mut self) -> LeaseId {
        let id = self.next;
        self.next += 1;
        self.live.insert(id);
        id
    }

    /// How the live lease `id` gets a polling worker; [`Join::Start`] marks the worker running.
    pub(crate) fn join(&mut self, id: LeaseId) -> Join {
        debug_assert!(self.live.contains(&id));
        match self.state {
            WorkerState::Stopped => {
                self.state = WorkerState::Running;
                Join::Start
            }
            WorkerState::Running => Join::Share,
            WorkerState::Draining => Join::AfterDrain,
            WorkerState::Reclaimed => Join::Refused,
        }
    }

    /// The lease told [`Join::Start`] could not start the worker.
    pub(crate) fn start_failed(&mut self) {
        if self.state == WorkerState::Running {
            self.state = WorkerState::Stopped;
        }
    }

    /// End lease `id`. Drains only when it was the last live lease, the residency is `stop` and
    /// a worker is running.
    pub(crate) fn close(&mut self, id: LeaseId) -> AfterClose {
        self.live.remove(&id);
        let last = self.live.is_empty();
        if last && self.residency == Residency::Stop && self.state == WorkerState::Running {
            self.state = WorkerState::Draining;
            AfterClose::Drain
        } else {
            AfterClose::KeepPolling
        }
    }

    /// The running worker stopped on its own (an error): the next lease starts a fresh one, and
    /// there is nothing left to drain.
    pub(crate) fn worker_stopped(&mut self) {
        if self.state == WorkerState::Running {
            self.state = WorkerState::Stopped;
        }
    }

    /// The drain that [`AfterClose::Drain`] asked for is over: the next lease starts a worker.
    pub(crate) fn drained(&mut self) {
        if self.state == WorkerState::Draining {
            self.state = WorkerState::Stopped;
        }
    }

    /// The environment is being reclaimed: returns whether a worker was running (the caller
    /// drains it); no worker is started after this.
    pub(crate) fn reclaim(&mut self) -> bool {
        let running = self.state == WorkerState::Running;
        self.state = WorkerState::Reclaimed;
        running
    }

    /// Live leases.
    pub(crate) fn live(&self) -> usize {
        self.live.len()
    }

    /// The shared worker's state.
    #[cfg(test)]
    pub(crate) fn state(&self) -> WorkerState {
        self.state
    }
}

/// By when a lease answers, from its own deadline: a lease that leaves the worker polling answers
/// when polling would stop for it (`deadline − shutdown buffer`, or earlier when idle); the last
/// one under `stop` drains and runs the hooks first, and still answers by `hooks_until`
/// (`deadline − response margin`).
pub(crate) fn answer_by(window: &WorkWindow, after: AfterClose) -> Instant {
    match after {
        AfterClose::KeepPolling => window.stop_polling_at,
        AfterClose::Drain => window.hooks_until,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::config::ShutdownSettings;

    #[test]
    fn the_first_lease_starts_the_worker_and_the_next_share_it() {
        let mut l = Leases::new(Residency::Stop);
        let (a, b) = (l.open(), l.open());
        assert_eq!(l.join(a), Join::Start);
        assert_eq!(l.join(b), Join::Share);
        assert_eq!(l.live(), 2);
    }

    #[test]
    fn under_stop_only_the_last_lease_drains() {
        let mut l = Leases::new(Residency::Stop);
        let (a, b) = (l.open(), l.open());
        l.join(a);
        l.join(b);
        assert_eq!(l.close(a), AfterClose::KeepPolling);
        assert_eq!(l.state(), WorkerState::Running);
        assert_eq!(l.close(b), AfterClose::Drain);
        assert_eq!(l.state(), WorkerState::Draining);
    }

    #[test]
    fn a_lease_taken_but_not_yet_joined_keeps_the_worker_from_draining() {
        let mut l = Leases::new(Residency::Stop);
        let a = l.open();
        l.join(a);
        let waiting = l.open();
        assert_eq!(l.close(a), AfterClose::KeepPolling);
        assert_eq!(l.join(waiting), Join::Share);
        assert_eq!(l.close(waiting), AfterClose::Drain);
    }

    #[test]
    fn a_lease_that_arrives_during_a_drain_waits_then_starts_a_fresh_worker() {
        let mut l = Leases::new(Residency::Stop);
        let a = l.open();
        l.join(a);
        assert_eq!(l.close(a), AfterClose::Drain);
        let b = l.open();
        assert_eq!(l.join(b), Join::AfterDrain);
        l.drained();
        assert_eq!(l.join(b), Join::Start);
        assert_eq!(l.close(b), AfterClose::Drain);
    }

    #[test]
    fn under_stay_the_worker_keeps_polling_after_the_last_lease() {
        let mut l = Leases::new(Residency::Stay);
        let a = l.open();
        assert_eq!(l.join(a), Join::Start);
        assert_eq!(l.close(a), AfterClose::KeepPolling);
        assert_eq!(l.state(), WorkerState::Running);
        let b = l.open();
        assert_eq!(l.join(b), Join::Share, "no second worker");
    }

    #[test]
    fn a_failed_start_lets_the_next_lease_try_again() {
        let mut l = Leases::new(Residency::Stop);
        let a = l.open();
        assert_eq!(l.join(a), Join::Start);
        l.start_failed();
        assert_eq!(l.close(a), AfterClose::KeepPolling, "nothing to drain");
        let b = l.open();
        assert_eq!(l.join(b), Join::Start);
    }

    #[test]
    fn a_worker_that_stopped_on_its_own_is_replaced_not_drained() {
        let mut l = Leases::new(Residency::Stay);
        let (a, b) = (l.open(), l.open());
        l.join(a);
        l.join(b);
        l.worker_stopped();
        assert_eq!(l.close(a), AfterClose::KeepPolling);
        assert_eq!(l.join(b), Join::Start);
    }

    #[test]
    fn reclaiming_drains_what_runs_and_refuses_new_leases() {
        let mut l = Leases::new(Residency::Stay);
        let a = l.open();
        l.join(a);
        assert!(l.reclaim());
        assert_eq!(
            l.close(a),
            AfterClose::KeepPolling,
            "the reclaim drains, not the lease"
        );
        let b = l.open();
        assert_eq!(l.join(b), Join::Refused);
        assert!(!Leases::new(Residency::Stop).reclaim(), "nothing running");
    }

    #[test]
    fn each_lease_answers_by_its_own_deadline() {
        let s = ShutdownSettings::default();
        let wall = SystemTime::now();
        let now = Instant::now();
        let w = |secs| WorkWindow::plan(wall + Duration::from_secs(secs), wall, now, &s).unwrap();
        let (short, long) = (w(30), w(60));
        assert_eq!(
            answer_by(&short, AfterClose::KeepPolling) - now,
            Duration::from_secs(23)
        );
        assert_eq!(
            answer_by(&long, AfterClose::KeepPolling) - now,
            Duration::from_secs(53)
        );
        // The draining lease still answers a response margin before its deadline.
        assert_eq!(
            long.deadline - answer_by(&long, AfterClose::Drain),
            s.response_margin
        );
    }
}
