//! Concurrent invocations over one shared worker (Lambda Managed Instances, where
//! `AWS_LAMBDA_MAX_CONCURRENCY` > 1): [`SharedWorker`] does what [`crate::lease`] decides.
//!
//! One Temporal connection and one SDK worker per execution environment: shared slots (scaled to
//! the environment's vCPUs), one sticky cache, one identity (`<environment>@<function ARN>`; each
//! invocation's request ID is in the logs). Each invocation is a lease: it answers by its own
//! deadline and never drains the shared worker on its own; after the last lease the
//! [`Residency`](crate::config::Residency) decides whether the worker drains (`stop`, then the
//! shutdown hooks run in that last invocation) or keeps polling (`stay`, then the hooks run when
//! the environment is reclaimed, [`SharedWorker::reclaim`]).
//!
//! The SDK worker's `run()` is not `Send` (its workflows run on a `LocalSet`), while
//! concurrent invocations are Tokio tasks: each worker runs on a thread of its own, on the
//! process's Tokio runtime.
//!
//! What differs from one invocation per process: the activity hand-off
//! ([`WontFit`](crate::activity::WontFit)) is off (no invocation's window bounds a shared
//! worker; activities still running at a drain are interrupted and retried by the server), and
//! a report's activity counts are the shared worker's during the lease, not the lease's own.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
    time::Duration,
};

use tokio::{sync::watch, time::Instant};

use temporalio_client::Client;

mod generation;

use generation::{run_generation, Generation};

use crate::{
    hooks::HooksReport,
    invocation::{InvocationInfo, InvocationReport, LeaseReport, StopReason},
    lease::{self, AfterClose, Join, LeaseId, Leases},
    lifecycle::{self, Plan},
    routing,
    stats::{ActivityCounters, Busy, InvocationTasks},
    window::WorkWindow,
    Error, LambdaWorker,
};

/// How long a drain after `SIGTERM` may take, hooks included. AWS documents no shutdown phase
/// for Lambda Managed Instances; on Lambda, `SIGTERM` comes only when an extension is registered
/// and the runtime then has 500 ms (300 ms with internal extensions only) before `SIGKILL`.
pub const RECLAIM_GRACE: Duration = Duration::from_millis(500);

/// How a drain of the shared worker ended.
struct Drained {
    drained: bool,
    interrupted: bool,
    hooks: HooksReport,
    run_error: Option<String>,
}

/// The execution environment's one connection and one worker, leased by concurrent invocations.
pub struct SharedWorker {
    worker: Arc<LambdaWorker>,
    identity: OnceLock<String>,
    leases: Mutex<Leases>,
    /// Counts finished drains; a lease waiting for a drain watches it.
    drains: watch::Sender<u64>,
    /// Held while a lease joins (and maybe connects and starts the worker).
    start: tokio::sync::Mutex<()>,
    current: Mutex<Option<Arc<Generation>>>,
    client: tokio::sync::Mutex<Option<Client>>,
    connections: AtomicU64,
    generations: AtomicU64,
    reclaimed: watch::Sender<bool>,
}

impl std::fmt::Debug for SharedWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedWorker")
            .field("worker", &self.worker)
            .field("live_leases", &self.live_leases())
            .field("connections", &self.connections())
            .field("generations", &self.generations())
            .finish()
    }
}

impl SharedWorker {
    /// Share `worker` between concurrent invocations (its config's
    /// [`concurrency`](crate::LambdaWorkerConfig::concurrency) gives the residency and slots).
    pub fn new(worker: Arc<LambdaWorker>) -> Arc<Self> {
        let residency = worker.config().concurrency.residency;
        Arc::new(Self {
            worker,
            identity: OnceLock::new(),
            leases: Mutex::new(Leases::new(residency)),
            drains: watch::channel(0).0,
            start: tokio::sync::Mutex::new(()),
            current: Mutex::new(None),
            client: tokio::sync::Mutex::new(None),
            connections: AtomicU64::new(0),
            generations: AtomicU64::new(0),
            reclaimed: watch::channel(false).0,
        })
    }

    /// The configured worker.
    pub fn worker(&self) -> &LambdaWorker {
        &self.worker
    }

    /// Temporal connections made so far (one per execution environment, unless connecting failed).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// SDK workers started so far (a new one after each drain).
    pub fn generations(&self) -> u64 {
        self.generations.load(Ordering::SeqCst)
    }

    /// Invocations holding a lease now.
    pub fn live_leases(&self) -> usize {
        self.leases().live()
    }

    fn leases(&self) -> MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self) -> MutexGuard<'_, Option<Arc<Generation>>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One invocation's lease: join (or start) the shared worker, keep it polling until this
    /// invocation's window closes, the worker has been idle for the idle exit, it stopped, or the
    /// environment is reclaimed; then answer — after draining the worker and running the hooks
    /// only when this was the last lease under `stop`. Answers by the invocation's deadline.
    pub async fn lease(self: &Arc<Self>, info: &InvocationInfo) -> Result<InvocationReport, Error> {
        let cfg = self.worker.config();
        let plan = self.worker.plan_invocation(info)?;
        let window = plan.window;
        let mut lease = OpenLease {
            shared: self.clone(),
            id: self.leases().open(),
            generation: None,
            plan,
        };
        let (generation, connect_ms) = match self.join(lease.id, &plan, info).await {
            Ok(Some(joined)) => joined,
            Ok(None) => {
                let after = lease.close();
                if after == AfterClose::Drain {
                    // Its wait ended after every other lease had gone: the worker is its to stop.
                    let running = self.current().clone();
                    match running {
                        Some(g) => drop(self.drain(&g, &plan, &info.request_id).await),
                        None => self.leases().drained(),
                    }
                }
                let why = if *self.reclaimed.borrow() {
                    StopReason::Reclaimed
                } else {
                    StopReason::Window
                };
                return Ok(self.report(info, &plan, None, 0, why, after, None));
            }
            Err(e) => {
                lease.close();
                tracing::error!(request_id = %info.request_id, "{e}");
                return Err(e);
            }
        };
        lease.generation = Some(generation.clone());
        let before = generation.counts();
        tracing::info!(
            request_id = %info.request_id,
            generation = generation.number,
            live_leases = self.live_leases(),
            work_window_ms = window.work_time().as_millis() as u64,
            connect_ms,
            "lease taken on the shared worker"
        );
        let stopped_by = self.lease_end(&generation, &plan).await;
        // The worker's own error when it stopped by itself (the drain below does not run then).
        let mut run_error = None;
        if stopped_by == StopReason::WorkerStopped {
            self.forget(&generation);
            run_error = generation.done.borrow().clone().and_then(Result::err);
        }
        let after = lease.close();
        let drained = match after {
            AfterClose::Drain => Some(self.drain(&generation, &plan, &info.request_id).await),
            AfterClose::KeepPolling => None,
        };
        let report = self.report(
            info,
            &plan,
            Some((&generation, before)),
            connect_ms,
            stopped_by,
            after,
            drained.as_ref(),
        );
        tracing::info!(
            request_id = %report.request_id,
            stopped_by = ?report.stopped_by,
            drained_shared_worker = after == AfterClose::Drain,
            live_leases = self.live_leases(),
            time_left_ms = report.time_left_ms,
            "lease ended"
        );
        self.record(&report, &window, drained.as_ref());
        match drained.and_then(|d| d.run_error).or(run_error) {
            Some(reason) => Err(Error::WorkerRun {
                task_queue: cfg.task_queue.clone(),
                reason,
            }),
            None => Ok(report),
        }
    }

    /// The worker stopped on its own (an error): the next lease starts a fresh one.
    fn forget(&self, g: &Generation) {
        self.leases().worker_stopped();
        let mut current = self.current();
        if current.as_ref().is_some_and(|c| c.number == g.number) {
            *current = None;
        }
    }

    /// Record the invocation's metrics (feature `otel`); the flush hook of the next drain (or
    /// the reclaim) exports them.
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
    fn record(&self, report: &InvocationReport, window: &WorkWindow, drained: Option<&Drained>) {
        #[cfg(feature = "otel")]
        if let Some(t) = &self.worker.telemetry {
            t.record_invocation(&crate::telemetry::InvocationMetrics {
                duration: window.start.elapsed(),
                activities_completed: report.activities_completed,
                activities_failed: report.activities_failed,
                succeeded: drained.is_none_or(|d| d.run_error.is_none()),
                drained: report.drained,
            });
        }
    }

    /// Get a polling worker for lease `id`: share the running one, start one (connecting once per
    /// environment), or wait for a drain to end. `None`: the environment is being reclaimed, or
    /// the lease's window closed while it waited.
    async fn join(
        self: &Arc<Self>,
        id: LeaseId,
        plan: &Plan,
        info: &InvocationInfo,
    ) -> Result<Option<(Arc<Generation>, u64)>, Error> {
        let until = plan.window.stop_polling_at;
        loop {
            let Ok(started) = tokio::time::timeout_at(until, self.start.lock()).await else {
                return Ok(None);
            };
            let (join, mut drains) = {
                let mut leases = self.leases();
                (leases.join(id), self.drains.subscribe())
            };
            match join {
                Join::Share => match self.current().clone() {
                    Some(g) => return Ok(Some((g, 0))),
                    None => return Ok(None),
                },
                Join::Start => {
                    return match self.start_generation(plan, info).await {
                        Ok((g, connect_ms)) => {
                            *self.current() = Some(g.clone());
                            Ok(Some((g, connect_ms)))
                        }
                        Err(e) => {
                            self.leases().start_failed();
                            Err(e)
                        }
                    }
                }
                Join::Refused => return Ok(None),
                Join::AfterDrain => {
                    drop(started);
                    if tokio::time::timeout_at(until, drains.changed())
                        .await
                        .is_err()
                    {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The environment's identity: `<log stream or pid>@<invoked function ARN>`.
    fn identity(&self, info: &InvocationInfo) -> String {
        self.identity
            .get_or_init(|| {
                let env = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
                    .unwrap_or_else(|_| format!("pid-{}", std::process::id()));
                format!("{env}@{}", info.invoked_function_arn)
            })
            .clone()
    }

    /// The one connection of this environment (made by the first lease that needs it).
    async fn client(&self, identity: String, budget: Duration) -> Result<(Client, u64), Error> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok((c.clone(), 0));
        }
        let started = Instant::now();
        let c = self.worker.connect_client(identity, budget).await?;
        let connect_ms = started.elapsed().as_millis() as u64;
        self.connections.fetch_add(1, Ordering::SeqCst);
        tracing::info!(
            connect_ms,
            "connected to Temporal: one connection for this execution environment"
        );
        *slot = Some(c.clone());
        Ok((c, connect_ms))
    }

    async fn start_generation(
        &self,
        plan: &Plan,
        info: &InvocationInfo,
    ) -> Result<(Arc<Generation>, u64), Error> {
        let cfg = self.worker.config();
        let identity = self.identity(info);
        let (client, connect_ms) = self.client(identity.clone(), plan.connect_budget()).await?;
        let counters = Arc::new(ActivityCounters::default());
        let busy = Arc::new(Busy::default());
        let (interrupt, interrupt_rx) = watch::channel(false);
        let tasks = InvocationTasks {
            counters: counters.clone(),
            busy: busy.clone(),
            interrupt: interrupt_rx,
            fit: None,
            handoff: Default::default(),
            warned: self.worker.warned_activity_types.clone(),
        };
        let options = cfg.shared_worker_options(&identity, tasks);
        let number = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done) = watch::channel(None);
        let (worker, run_client) = (self.worker.clone(), client.clone());
        let handle = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name(format!("temporal-worker-{number}"))
            .spawn(move || {
                handle.block_on(run_generation(
                    worker, run_client, options, ready_tx, done_tx,
                ))
            })
            .map_err(|e| Error::Runtime(format!("cannot start the shared worker's thread: {e}")))?;
        let shutdown = ready_rx.await.map_err(|_| {
            Error::Runtime("the shared worker's thread ended before the worker was built".into())
        })??;
        // Build-ID mismatch check: one DescribeWorkerDeployment per worker, logged if wrong.
        tokio::spawn(routing::check(
            client,
            cfg.connection.namespace.clone(),
            cfg.version.clone(),
            info.request_id.clone(),
        ));
        tracing::info!(
            request_id = %info.request_id,
            generation = number,
            identity = %identity,
            deployment_version = %cfg.version,
            task_queue = %cfg.task_queue,
            residency = ?cfg.concurrency.residency,
            max_concurrency = cfg.concurrency.max_concurrency,
            vcpus = cfg.concurrency.vcpus(),
            "shared worker polling"
        );
        Ok((
            Arc::new(Generation {
                number,
                shutdown,
                interrupt,
                done,
                busy,
                counters,
            }),
            connect_ms,
        ))
    }

    /// Why this lease stops holding the worker.
    async fn lease_end(&self, g: &Generation, plan: &Plan) -> StopReason {
        let mut done = g.done.clone();
        let mut reclaimed = self.reclaimed.subscribe();
        let idle = async {
            match plan.idle_exit {
                Some(period) => g.busy.idle_for(period, plan.first_task_wait).await,
                None => std::future::pending().await,
            }
        };
        let answer_at = lease::answer_by(&plan.window, AfterClose::KeepPolling);
        tokio::select! {
            _ = tokio::time::sleep_until(answer_at) => StopReason::Window,
            _ = idle => StopReason::Idle,
            _ = done.wait_for(Option::is_some) => StopReason::WorkerStopped,
            _ = reclaimed.wait_for(|r| *r) => StopReason::Reclaimed,
        }
    }

    /// Stop the shared worker and drain it through `plan`, then run the shutdown hooks.
    async fn drain(&self, g: &Generation, plan: &Plan, request_id: &str) -> Drained {
        {
            let mut current = self.current();
            if current.as_ref().is_some_and(|c| c.number == g.number) {
                *current = None;
            }
        }
        tracing::info!(
            request_id,
            generation = g.number,
            in_flight_activities = g.counters.in_flight(),
            drain_ms = plan.drain_left().as_millis() as u64,
            "draining the shared worker"
        );
        (g.shutdown)();
        let mut done = g.done.clone();
        let run = async move {
            done.wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|d| d.clone())
        };
        tokio::pin!(run);
        let (outcome, interrupted) = lifecycle::drain(plan, run, || {
            g.interrupt.send_replace(true);
        })
        .await;
        let drained = outcome.is_some();
        if !drained {
            self.worker.mark_unhealthy();
            tracing::error!(
                request_id,
                "the shared worker's drain overran its time: this execution environment will not be reused"
            );
        }
        let hooks = plan.run_hooks(&self.worker.config().hooks).await;
        if hooks.overran() {
            self.worker.mark_unhealthy();
        }
        {
            let mut leases = self.leases();
            leases.drained();
            self.drains.send_modify(|n| *n += 1);
        }
        Drained {
            drained,
            interrupted,
            hooks,
            run_error: outcome.flatten().and_then(Result::err),
        }
    }

    /// The execution environment is being reclaimed (`SIGTERM`): live leases answer at once, the
    /// running worker drains within `grace` (see [`RECLAIM_GRACE`]) and the shutdown hooks run in
    /// what is left. No worker starts after this.
    pub async fn reclaim(&self, grace: Duration) -> HooksReport {
        let plan = Plan::for_reclaim(Instant::now(), grace, &self.worker.config().shutdown);
        self.reclaimed.send_replace(true);
        let running = self.leases().reclaim();
        let generation = self.current().take();
        tracing::info!(
            live_leases = self.live_leases(),
            running,
            grace_ms = grace.as_millis() as u64,
            "execution environment reclaimed: draining the shared worker"
        );
        if let (true, Some(g)) = (running, generation) {
            (g.shutdown)();
            let mut done = g.done.clone();
            let run = async move { done.wait_for(Option::is_some).await.is_ok() };
            tokio::pin!(run);
            let (outcome, _) = lifecycle::drain(&plan, run, || {
                g.interrupt.send_replace(true);
            })
            .await;
            if outcome.is_none() {
                tracing::warn!("the shared worker did not drain within the reclaim grace");
            }
        }
        plan.run_hooks(&self.worker.config().hooks).await
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        info: &InvocationInfo,
        plan: &Plan,
        g: Option<(&Generation, [u64; 3])>,
        connect_ms: u64,
        stopped_by: StopReason,
        after: AfterClose,
        drained: Option<&Drained>,
    ) -> InvocationReport {
        let cfg = self.worker.config();
        let window = &plan.window;
        let counts = g.map_or([0; 3], |(g, before)| {
            let now = g.counts();
            [0, 1, 2].map(|i| now[i].saturating_sub(before[i]))
        });
        let g = g.map(|(g, _)| g);
        let time_left_ms = window.time_left_ms(Instant::now());
        InvocationReport {
            request_id: info.request_id.clone(),
            identity: self.identity(info),
            deployment_version: cfg.version.to_string(),
            task_queue: cfg.task_queue.clone(),
            work_window_ms: window.work_time().as_millis() as u64,
            connect_ms,
            activities_started: counts[0],
            activities_completed: counts[1],
            activities_failed: counts[2],
            first_task_ms: None,
            idle_gaps_ms: Vec::new(),
            idle_tail_ms: g.map_or(0, |g| g.busy.idle_tail().as_millis() as u64),
            interrupted: drained.is_some_and(|d| d.interrupted),
            drained: drained.is_none_or(|d| d.drained),
            stopped_by,
            routing: None,
            hooks: drained.map(|d| d.hooks.clone()).unwrap_or_default(),
            time_left_ms,
            lease: Some(LeaseReport {
                generation: g.map_or(0, |g| g.number),
                live_leases: self.live_leases(),
                drained_shared_worker: after == AfterClose::Drain,
                residency: cfg.concurrency.residency,
            }),
        }
    }
}

/// A lease until it is closed; closed on drop too (an invocation future dropped midway), so the
/// shared worker is not left polling for a lease that is gone.
struct OpenLease {
    shared: Arc<SharedWorker>,
    id: LeaseId,
    generation: Option<Arc<Generation>>,
    plan: Plan,
}

impl OpenLease {
    fn close(&mut self) -> AfterClose {
        let after = self.shared.leases().close(self.id);
        self.id = 0;
        after
    }
}

impl Drop for OpenLease {
    fn drop(&mut self) {
        if self.id == 0 {
            return;
        }
        if self.close() == AfterClose::Drain {
            // A lease dropped before it joined may still be the last one of a running worker.
            let running = self
                .generation
                .take()
                .or_else(|| self.shared.current().clone());
            match running {
                Some(g) => {
                    let (shared, plan) = (self.shared.clone(), self.plan);
                    tokio::spawn(async move { shared.drain(&g, &plan, "dropped").await });
                }
                None => self.shared.leases().drained(),
            }
        }
    }
}
