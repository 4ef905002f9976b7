//! [`LambdaWorker`]: the configured worker; each invocation connects, builds a fresh SDK worker
//! and runs it through the [lifecycle](crate::lifecycle) (poll, drain, interrupt, hooks).

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use tokio::time::Instant;

use temporalio_client::{Client, ClientOptions, Connection};
use temporalio_sdk::{Runtime, Worker};

use crate::{
    invocation::{InvocationInfo, InvocationReport},
    lifecycle::{self, Plan},
    routing,
    stats::{ActivityCounters, Busy, InvocationTasks},
    window::WorkWindow,
    Error, LambdaWorkerConfig,
};

/// Disarmed at normal completion; if the invocation future is dropped midway the worker is marked
/// unhealthy so the process exits instead of being reused with half-finished state.
struct InterruptGuard<'a> {
    unhealthy: &'a AtomicBool,
    armed: bool,
}

impl<'a> InterruptGuard<'a> {
    /// Armed: dropped before [`Self::disarm`] (the invocation future was dropped mid-way), it
    /// marks the worker unhealthy.
    fn armed(unhealthy: &'a AtomicBool) -> Self {
        InterruptGuard {
            unhealthy,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for InterruptGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.unhealthy.store(true, Ordering::SeqCst);
        }
    }
}

/// A configured Lambda worker: creates a fresh connection and SDK worker for each invocation.
/// Use [`run_worker`](crate::run_worker) unless you need to drive invocations yourself
/// (tests, custom runtimes).
pub struct LambdaWorker {
    config: Arc<LambdaWorkerConfig>,
    pub(crate) runtime: Runtime,
    pub(crate) unhealthy: AtomicBool,
    pub(crate) warned_activity_types: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    api_keys: crate::api_key::ApiKeyCache,
    #[cfg(feature = "otel")]
    pub(crate) telemetry: Option<crate::telemetry::Telemetry>,
}

impl std::fmt::Debug for LambdaWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaWorker")
            .field("config", &self.config)
            .field("healthy", &self.is_healthy())
            .finish()
    }
}

impl LambdaWorker {
    /// Validate `config` and prepare the SDK runtime. Must be called inside a Tokio runtime.
    pub fn new(config: LambdaWorkerConfig) -> Result<Self, Error> {
        config.validate()?;
        let runtime = Runtime::from_current_tokio(config.runtime_options(Default::default())?)
            .map_err(|e| Error::Runtime(format!("cannot start the Temporal SDK runtime: {e}")))?;
        Ok(Self {
            config: Arc::new(config),
            runtime,
            unhealthy: AtomicBool::new(false),
            warned_activity_types: Default::default(),
            api_keys: Default::default(),
            #[cfg(feature = "otel")]
            telemetry: None,
        })
    }

    /// Like [`LambdaWorker::new`], exporting through `telemetry`: the Temporal SDK's worker
    /// metrics go to its meter, every invocation records its own metrics, and a flush hook
    /// (budget `flush_budget`) runs after the user's hooks, inside the deadline.
    #[cfg(feature = "otel")]
    pub fn with_telemetry(
        mut config: LambdaWorkerConfig,
        telemetry: crate::telemetry::Telemetry,
        flush_budget: Duration,
    ) -> Result<Self, Error> {
        config.validate()?;
        let options = config.runtime_options(telemetry.temporal_telemetry_options())?;
        let runtime = Runtime::from_current_tokio(options)
            .map_err(|e| Error::Runtime(format!("cannot start the Temporal SDK runtime: {e}")))?;
        config.hooks.push(telemetry.flush_hook(flush_budget));
        Ok(Self {
            config: Arc::new(config),
            runtime,
            unhealthy: AtomicBool::new(false),
            warned_activity_types: Default::default(),
            api_keys: Default::default(),
            telemetry: Some(telemetry),
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &LambdaWorkerConfig {
        &self.config
    }

    /// False once a drain or hook overran or an invocation was interrupted: the execution
    /// environment must not be reused.
    pub fn is_healthy(&self) -> bool {
        !self.unhealthy.load(Ordering::SeqCst)
    }

    /// Mark the execution environment as not to be reused (a drain or hook overran).
    pub(crate) fn mark_unhealthy(&self) {
        self.unhealthy.store(true, Ordering::SeqCst);
    }

    /// Run one invocation to completion: poll until `deadline − buffer`, drain, run hooks.
    pub async fn invoke(&self, info: &InvocationInfo) -> Result<InvocationReport, Error> {
        let cfg = &*self.config;
        let plan = self.plan_invocation(info)?;
        let window = plan.window;
        let mut guard = InterruptGuard::armed(&self.unhealthy);
        let identity = info.identity();

        // Connect: counts against the work window (the TypeScript package gets this wrong).
        let connect_started = Instant::now();
        let client = self
            .connect_client(identity.clone(), plan.connect_budget())
            .await;
        let connect_ms = connect_started.elapsed().as_millis() as u64;
        let started =
            client.and_then(|c| self.start_sdk_worker(c, info, &plan, &identity, connect_ms));
        let Started {
            mut worker,
            shutdown,
            registration,
            counters,
            busy,
            handoff,
            interrupt,
            routing_check,
        } = match started {
            Ok(s) => s,
            Err(e) => {
                guard.disarm();
                tracing::error!(request_id = %info.request_id, "{e}");
                return Err(e);
            }
        };

        let mut idle_tail_ms = 0;
        let ended = lifecycle::poll_and_drain(
            &plan,
            worker.run(),
            &busy,
            &handoff,
            |stopped_by| {
                idle_tail_ms = busy.idle_tail().as_millis() as u64;
                tracing::info!(
                    request_id = %info.request_id,
                    stopped_by = ?stopped_by,
                    in_flight_activities = counters.in_flight(),
                    drain_ms = plan.drain_left().as_millis() as u64,
                    "polling stopped, draining"
                );
                // Tells the server the worker is leaving (the SDK core's ShutdownWorker call,
                // which also releases the sticky queue so cached workflows' next tasks go to the
                // normal queue at once instead of waiting out the sticky timeout).
                shutdown();
            },
            // Activities still running near the end of the drain are interrupted (and retried
            // by the server) so the drain ends in time.
            || {
                let _ = interrupt.send(true);
            },
        )
        .await;
        let routing = answer_if_finished(routing_check).await;
        let drained = ended.outcome.is_some();
        let run_error = self.run_error(ended.outcome, info, &counters);
        // The run future is gone; free the worker and its connection before the hooks run.
        drop(worker);
        let released = registration.release();
        tracing::debug!(request_id = %info.request_id, released, "worker unregistered from its connection");

        // Recorded before the hooks so the flush hook exports it in this invocation.
        self.record(&window, &counters, run_error.is_none(), drained);
        let hooks = plan.run_hooks(&cfg.hooks).await;
        if !drained || hooks.overran() {
            self.unhealthy.store(true, Ordering::SeqCst);
        }
        guard.disarm();
        let report = InvocationReport {
            request_id: info.request_id.clone(),
            identity,
            deployment_version: cfg.version.to_string(),
            task_queue: cfg.task_queue.clone(),
            work_window_ms: window.work_time().as_millis() as u64,
            connect_ms,
            activities_started: counters.started(),
            activities_completed: counters.completed(),
            activities_failed: counters.failed(),
            first_task_ms: busy.first_task_after().map(|d| d.as_millis() as u64),
            idle_gaps_ms: busy.idle_gaps_ms(),
            idle_tail_ms,
            interrupted: ended.interrupted,
            drained,
            stopped_by: ended.stopped_by,
            routing,
            hooks,
            time_left_ms: window.time_left_ms(Instant::now()),
            lease: None,
        };
        self.finished(report, run_error)
    }

    /// Record the invocation's metrics (feature `otel`).
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
    fn record(
        &self,
        window: &WorkWindow,
        counters: &ActivityCounters,
        succeeded: bool,
        drained: bool,
    ) {
        #[cfg(feature = "otel")]
        if let Some(t) = &self.telemetry {
            t.record_invocation(&crate::telemetry::InvocationMetrics {
                duration: window.start.elapsed(),
                activities_completed: counters.completed(),
                activities_failed: counters.failed(),
                succeeded,
                drained,
            });
        }
    }

    /// The invocation's time plan from its deadline (an error if too short, a warning if short).
    pub(crate) fn plan_invocation(&self, info: &InvocationInfo) -> Result<Plan, Error> {
        let cfg = &*self.config;
        let window = WorkWindow::plan(
            info.deadline,
            SystemTime::now(),
            Instant::now(),
            &cfg.shutdown,
        )
        .inspect_err(|e| tracing::error!(request_id = %info.request_id, "{e}"))?;
        if window.is_short(&cfg.shutdown) {
            tracing::warn!(
                work_window_ms = window.work_time().as_millis() as u64,
                "work window is under {:?}; raise the function timeout so tasks have time to run",
                cfg.shutdown.warn_work_time
            );
        }
        Ok(Plan::new(window, &cfg.shutdown))
    }

    /// Build this invocation's SDK worker on `client` (and start its routing check).
    fn start_sdk_worker(
        &self,
        client: Client,
        info: &InvocationInfo,
        plan: &Plan,
        identity: &str,
        connect_ms: u64,
    ) -> Result<Started, Error> {
        let cfg = &*self.config;
        let counters = Arc::new(ActivityCounters::default());
        let busy = Arc::new(Busy::default());
        let handoff = Arc::new(tokio::sync::Notify::new());
        let (interrupt, interrupt_rx) = tokio::sync::watch::channel(false);
        let tasks = InvocationTasks {
            counters: counters.clone(),
            busy: busy.clone(),
            interrupt: interrupt_rx,
            fit: Some(plan.fit(SystemTime::now())),
            handoff: handoff.clone(),
            warned: self.warned_activity_types.clone(),
        };
        // Build-ID mismatch check: one DescribeWorkerDeployment in the background.
        let routing_check = tokio::spawn(routing::check(
            client.clone(),
            cfg.connection.namespace.clone(),
            cfg.version.clone(),
            info.request_id.clone(),
        ));
        let options = cfg.worker_options_for(identity, tasks);
        // The connection's set of registered workers: the worker is taken out of it after its run.
        let worker_set = client.connection().workers();
        let worker = Worker::new(&self.runtime, client, options).map_err(|e| {
            routing_check.abort();
            Error::WorkerCreate {
                task_queue: cfg.task_queue.clone(),
                reason: e.to_string(),
            }
        })?;
        tracing::info!(
            request_id = %info.request_id,
            deployment_version = %cfg.version,
            task_queue = %cfg.task_queue,
            namespace = %cfg.connection.namespace,
            work_window_ms = plan.window.stop_polling_at.saturating_duration_since(Instant::now()).as_millis() as u64,
            connect_ms,
            "worker polling"
        );
        Ok(Started {
            shutdown: Box::new(worker.shutdown_handle()),
            registration: Registration::of(worker_set, &worker),
            worker,
            counters,
            busy,
            handoff,
            interrupt,
            routing_check,
        })
    }

    /// The invocation's error from how the worker's run ended (`None`: the drain overran, which
    /// is logged and retires the environment, not an error of the invocation).
    fn run_error<E: std::fmt::Display>(
        &self,
        outcome: Option<Result<(), E>>,
        info: &InvocationInfo,
        counters: &ActivityCounters,
    ) -> Option<Error> {
        match outcome {
            Some(Err(e)) => Some(Error::WorkerRun {
                task_queue: self.config.task_queue.clone(),
                reason: e.to_string(),
            }),
            Some(Ok(())) => None,
            None => {
                tracing::error!(
                    request_id = %info.request_id,
                    in_flight_activities = counters.in_flight(),
                    "drain overran its time: tasks still running were abandoned; this execution environment will not be reused"
                );
                None
            }
        }
    }

    /// Log the finished invocation; its answer.
    fn finished(
        &self,
        report: InvocationReport,
        run_error: Option<Error>,
    ) -> Result<InvocationReport, Error> {
        tracing::info!(
            request_id = %report.request_id,
            activities_completed = report.activities_completed,
            activities_failed = report.activities_failed,
            drained = report.drained,
            interrupted = report.interrupted,
            stopped_by = ?report.stopped_by,
            first_task_ms = ?report.first_task_ms,
            idle_gaps_ms = ?report.idle_gaps_ms,
            idle_tail_ms = report.idle_tail_ms,
            time_left_ms = report.time_left_ms,
            healthy = self.is_healthy(),
            "invocation finished"
        );
        match run_error {
            Some(e) => {
                tracing::error!(request_id = %report.request_id, "{e}");
                Err(e)
            }
            None => Ok(report),
        }
    }
}

/// An invocation's SDK worker, built and about to run.
struct Started {
    worker: Worker,
    shutdown: Box<dyn Fn()>,
    registration: Registration,
    counters: Arc<ActivityCounters>,
    busy: Arc<Busy>,
    handoff: Arc<tokio::sync::Notify>,
    interrupt: tokio::sync::watch::Sender<bool>,
    routing_check: tokio::task::JoinHandle<routing::RoutingCheck>,
}

/// The one place of the SDK workaround for a worker's registration in its connection:
/// `Worker::run` shuts the core worker down but never finalizes it, so it stays registered in its
/// connection's worker set while holding a clone of that connection: a cycle that kept every
/// invocation's connection, channels and h2 buffers alive (≈ 84 kB per invocation of a warm
/// sandbox, bench/results/2026-12-05-memory-profile.md), and would grow a shared connection's set
/// by one worker per drain. [`Registration::release`] after the worker is dropped breaks it.
pub(crate) struct Registration(Box<dyn FnOnce() -> bool + Send>);

impl Registration {
    /// The registration of `worker` in the connection whose worker set is `set`.
    pub(crate) fn of(
        set: Arc<temporalio_client::worker::ClientWorkerSet>,
        worker: &Worker,
    ) -> Self {
        let key = worker.worker_instance_key();
        Self(Box::new(move || {
            // The first call fails harmlessly if shutdown already did it.
            let _ = set.unregister_slot_provider(key);
            set.finalize_unregister(key).is_ok()
        }))
    }

    /// Unregister the (dropped) worker; returns whether it was released.
    pub(crate) fn release(self) -> bool {
        (self.0)()
    }
}

async fn connect_with(
    conn: &crate::config::ConnectionConfig,
    identity: String,
    budget: Duration,
) -> Result<Client, Error> {
    use temporal_lambda_env::connection::{
        connect_failure_hint, error_chain, REJECTED_CREDENTIALS_FIX,
    };
    use temporalio_client::{errors::ClientConnectError, tonic::Code};
    let fail = |reason: String, code: Option<Code>| {
        // The text names the cause more precisely (an mTLS front also answers UNAUTHENTICATED,
        // for a client certificate it does not trust); the code is the fallback.
        let fix = connect_failure_hint(&reason).unwrap_or(match code {
            Some(Code::Unauthenticated) => REJECTED_CREDENTIALS_FIX,
            _ => "check TEMPORAL_ADDRESS, network access from the function (VPC/NAT), and the TLS/API key settings",
        });
        Error::Connect {
            address: conn.address.clone(),
            namespace: conn.namespace.clone(),
            waited: budget,
            fix,
            reason,
            code,
        }
    };
    let options = conn.connection_options(identity, budget)?;
    let connection = tokio::time::timeout(budget, Connection::connect(options))
        .await
        .map_err(|_| fail("timed out".to_owned(), None))?
        .map_err(|e| {
            // The server's answer to the first call (`GetSystemInfo`), when it answered.
            let code = match &e {
                ClientConnectError::SystemInfoCallError(status) => Some(status.code()),
                _ => None,
            };
            fail(error_chain(&e), code)
        })?;
    Client::new(
        connection,
        ClientOptions::new(conn.namespace.clone()).build(),
    )
    .map_err(|e| fail(e.to_string(), None))
}

impl LambdaWorker {
    /// Connects with the configured settings; with `TEMPORAL_API_KEY_SECRET_ARN`, the API key
    /// comes from the secret (read once per execution environment, and read again — once —
    /// when the server rejects it, so a rotated key is picked up).
    pub(crate) async fn connect_client(
        &self,
        identity: String,
        budget: Duration,
    ) -> Result<Client, Error> {
        let started = Instant::now();
        let mut conn = self.config.connection.clone();
        let Some(secret) = conn.api_key_secret.clone() else {
            return connect_with(&conn, identity, budget).await;
        };
        conn.api_key = Some(self.api_keys.get(&secret, false, budget).await?);
        match connect_with(&conn, identity.clone(), budget).await {
            Err(e) if e.is_unauthenticated() => {
                tracing::warn!(
                    secret_arn = %secret.shown_arn(),
                    "the server rejected the API key: reading it again from the secret (rotated?)"
                );
                let left = budget.saturating_sub(started.elapsed());
                conn.api_key = Some(self.api_keys.get(&secret, true, left).await?);
                connect_with(&conn, identity, budget.saturating_sub(started.elapsed())).await
            }
            other => other,
        }
    }
}

/// A background check's answer if it has one by now; it is not waited for (aborted otherwise).
async fn answer_if_finished<T>(check: tokio::task::JoinHandle<T>) -> Option<T> {
    if check.is_finished() {
        check.await.ok()
    } else {
        check.abort();
        None
    }
}
