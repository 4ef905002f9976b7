//! The user-facing configuration object handed to the `configure` closure, and how it becomes a
//! fresh SDK [`WorkerOptions`] for every invocation.

use std::{collections::HashMap, fmt, time::Duration};
use temporal_lambda_env::connection as vars;

use temporalio_common::worker::{
    VersioningBehavior, WorkerDeploymentOptions, WorkerDeploymentVersion as SdkVersion,
};
use temporalio_sdk::{
    activities::ActivityImplementer,
    interceptors::ActivityInboundInterceptor,
    runtime::{
        worker_tuner::{FixedSizeSlotSupplier, TunerHolder},
        PollerBehavior,
    },
    WorkerOptions,
};

use crate::{
    config::{ConcurrencySettings, ConnectionConfig, ShutdownSettings, WorkerTuning},
    hooks::{HookError, ShutdownHook},
    stats::{CountingInterceptor, InvocationTasks, WorkflowBusyInterceptor},
    Error,
};

/// Which Worker Deployment Version this function implements. Must match the version created on
/// the Temporal side (`temporal-lambda register`), or the server will invoke a function that never
/// polls the version it routes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct WorkerDeploymentVersion {
    /// Deployment name, e.g. `my-app`.
    pub deployment_name: String,
    /// Build ID, e.g. `build-1`. One build ID per published Lambda version.
    pub build_id: String,
}

impl WorkerDeploymentVersion {
    /// Convenience constructor.
    pub fn new(deployment_name: impl Into<String>, build_id: impl Into<String>) -> Self {
        Self {
            deployment_name: deployment_name.into(),
            build_id: build_id.into(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.deployment_name.trim().is_empty() {
            return Err(Error::MissingSetting {
                setting: "deployment name (WorkerDeploymentVersion::deployment_name)",
                fix:
                    "pass the deployment name used with `temporal-lambda register`, e.g. \"my-app\"",
            });
        }
        if self.build_id.trim().is_empty() {
            return Err(Error::MissingSetting {
                setting: "build ID (WorkerDeploymentVersion::build_id)",
                fix: "pass the build ID of this code, e.g. \"build-1\" (one per published Lambda version)",
            });
        }
        Ok(())
    }

    fn to_sdk(&self) -> SdkVersion {
        SdkVersion::builder()
            .deployment_name(self.deployment_name.clone())
            .build_id(self.build_id.clone())
            .build()
    }
}

impl fmt::Display for WorkerDeploymentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.deployment_name, self.build_id)
    }
}

/// Everything a Lambda worker needs, as seen by the `configure` closure of
/// [`run_worker`](crate::run_worker). Connection settings arrive pre-loaded from `temporal.toml`
/// and `TEMPORAL_*`; whatever the closure sets wins.
pub struct LambdaWorkerConfig {
    /// The deployment version (from the `run_worker` call; `TEMPORAL_DEPLOYMENT_NAME` /
    /// `TEMPORAL_BUILD_ID` in the function's environment override it, e.g. to run two builds
    /// of one binary side by side).
    pub version: WorkerDeploymentVersion,
    /// Task queue to poll (`TEMPORAL_TASK_QUEUE`, or set it here). Required.
    pub task_queue: String,
    /// How to reach Temporal.
    pub connection: ConnectionConfig,
    /// Worker sizing (Lambda-tuned defaults).
    pub tuning: WorkerTuning,
    /// Deadline budget (7 s buffer = 5 s drain + 2 s hooks by default).
    pub shutdown: ShutdownSettings,
    /// Concurrent invocations over one shared worker (Lambda Managed Instances:
    /// `AWS_LAMBDA_MAX_CONCURRENCY` > 1), the residency policy and the vCPU-scaled slots.
    pub concurrency: ConcurrencySettings,
    /// Versioning behavior for every workflow this worker runs. Serverless Workers require one:
    /// `Pinned` or `AutoUpgrade`. The Rust SDK has no per-workflow behavior yet, so this is it.
    pub default_versioning_behavior: Option<VersioningBehavior>,
    /// Worker heartbeats (what `temporal worker list` shows), every this long (1–60 s); `None`
    /// (the default) sends none. With heartbeats on, each invocation's SDK worker starts a
    /// system-statistics thread that reads `/proc` before the first poll (≈ 1.3 ms of a cold
    /// start, bench/results/2026-12-03-size.md) and, on servers with worker commands, a second
    /// poller; an invocation is shorter than the SDK's 60 s default interval anyway.
    pub worker_heartbeat_interval: Option<std::time::Duration>,
    pub(crate) options: WorkerOptions,
    pub(crate) hooks: Vec<ShutdownHook>,
    pub(crate) has_activities: bool,
}

impl fmt::Debug for LambdaWorkerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaWorkerConfig")
            .field("version", &self.version)
            .field("task_queue", &self.task_queue)
            .field("connection", &self.connection)
            .field("tuning", &self.tuning)
            .field("shutdown", &self.shutdown)
            .field("concurrency", &self.concurrency)
            .field(
                "default_versioning_behavior",
                &self.default_versioning_behavior,
            )
            .field("worker_heartbeat_interval", &self.worker_heartbeat_interval)
            .field("workflow_types", &self.workflow_types())
            .field("hooks", &self.hooks)
            .finish()
    }
}

impl LambdaWorkerConfig {
    /// A config with connection settings from `env` (and the config file it points to).
    pub fn from_env(
        version: WorkerDeploymentVersion,
        env: &HashMap<String, String>,
    ) -> Result<Self, Error> {
        let connection = ConnectionConfig::load(env)?;
        let mut version = version;
        if let Some(n) = env.get(vars::DEPLOYMENT_NAME).filter(|v| !v.is_empty()) {
            version.deployment_name = n.clone();
        }
        if let Some(b) = env.get(vars::BUILD_ID).filter(|v| !v.is_empty()) {
            version.build_id = b.clone();
        }
        let sdk_version = version.to_sdk();
        Ok(Self {
            version,
            task_queue: env.get(vars::TASK_QUEUE).cloned().unwrap_or_default(),
            connection,
            tuning: WorkerTuning::default(),
            shutdown: ShutdownSettings::from_env(env)?,
            concurrency: ConcurrencySettings::from_env(env)?,
            default_versioning_behavior: None,
            worker_heartbeat_interval: None,
            // Deployment options set here (replaced per invocation by `worker_options_for`):
            // left unset, the SDK's default hashes the whole running executable
            // (`build_id_from_current_exe`), ≈ 2.9 ms of a ≈ 8.7 ms init (bench/results/
            // 2026-12-03-size.md).
            options: WorkerOptions::new("")
                .deployment_options(
                    WorkerDeploymentOptions::new(sdk_version)
                        .use_worker_versioning(true)
                        .build(),
                )
                .build(),
            hooks: Vec::new(),
            has_activities: false,
        })
    }

    /// Register a workflow type (a struct with `#[workflow]` / `#[workflow_methods]`).
    pub fn register_workflow<W>(&mut self) -> Result<&mut Self, Error>
    where
        W: temporalio_sdk::workflows::WorkflowImplementation,
        <W::Run as temporalio_common::WorkflowDefinition>::Input: Send,
    {
        self.options
            .register_workflow::<W>()
            .map_err(|e| Error::Registration(e.to_string()))?;
        Ok(self)
    }

    /// Register every activity of an `#[activities]` implementer.
    pub fn register_activities<A: ActivityImplementer>(&mut self, activities: A) -> &mut Self {
        self.options.register_activities(activities);
        self.has_activities = true;
        self
    }

    /// Add an activity inbound interceptor (runs in every invocation's worker).
    pub fn activity_interceptor<I: ActivityInboundInterceptor>(&mut self, i: I) -> &mut Self {
        self.options.activity_inbound_interceptor(i);
        self
    }

    /// Direct access to the SDK's worker options for anything not covered here. The task queue,
    /// deployment options, identity and sizing fields are overwritten from this config for every
    /// invocation.
    pub fn worker_options_mut(&mut self) -> &mut WorkerOptions {
        &mut self.options
    }

    /// Run `f` after every invocation's worker has drained, within `budget` and before the
    /// deadline. Hooks run in the order they were added.
    pub fn add_shutdown_hook<F, Fut>(
        &mut self,
        name: impl Into<String>,
        budget: Duration,
        f: F,
    ) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.hooks.push(ShutdownHook::new(name, budget, f));
        self
    }

    /// Registered workflow types, sorted.
    pub fn workflow_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .options
            .workflows()
            .workflow_definitions()
            .map(|d| d.workflow_type.clone())
            .collect();
        types.sort();
        types
    }

    /// Check that the config can run: non-empty version, task queue, registrations, a versioning
    /// behavior for every workflow, readable TLS files, a usable address.
    pub fn validate(&self) -> Result<(), Error> {
        self.version.validate()?;
        if self.task_queue.trim().is_empty() {
            return Err(Error::MissingSetting {
                setting: "task queue (TEMPORAL_TASK_QUEUE)",
                fix: "set config.task_queue in the configure closure or the TEMPORAL_TASK_QUEUE environment variable",
            });
        }
        let workflow_types = self.workflow_types();
        if workflow_types.is_empty() && !self.has_activities {
            return Err(Error::NothingRegistered);
        }
        let behavior_ok = matches!(
            self.default_versioning_behavior,
            Some(VersioningBehavior::Pinned) | Some(VersioningBehavior::AutoUpgrade)
        );
        if !workflow_types.is_empty() && !behavior_ok {
            return Err(Error::MissingVersioningBehavior {
                workflows: workflow_types.join(", "),
            });
        }
        if let Some(idle) = self.shutdown.idle_exit {
            if idle < crate::config::MIN_SAFE_IDLE_EXIT {
                tracing::warn!(
                    idle_exit_ms = idle.as_millis() as u64,
                    "idle exit {idle:?} is below {:?}: Temporal wakes a serverless version at \
                     most once per 500 ms, so a workflow started right after an invocation ends \
                     can wait for the next task on its queue instead of an invocation. Set \
                     TEMPORAL_LAMBDA_IDLE_EXIT to 1s or more (or leave it unset)",
                    crate::config::MIN_SAFE_IDLE_EXIT
                );
            }
        }
        if let Some(i) = self.worker_heartbeat_interval {
            if !(std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(60))
                .contains(&i)
            {
                return Err(Error::InvalidClientConfig(format!(
                    "worker_heartbeat_interval {i:?}: must be between 1 s and 60 s, or None for no \
                     worker heartbeats"
                )));
            }
        }
        self.connection.url()?;
        self.connection.tls_options()?;
        Ok(())
    }

    /// The SDK runtime's options: worker heartbeats as configured, and `telemetry`.
    pub(crate) fn runtime_options(
        &self,
        telemetry: temporalio_common::telemetry::TelemetryOptions,
    ) -> Result<temporalio_sdk::runtime::RuntimeOptions, Error> {
        temporalio_sdk::runtime::RuntimeOptions::builder()
            .telemetry_options(telemetry)
            .heartbeat_interval(self.worker_heartbeat_interval)
            .build()
            .map_err(|e| Error::Runtime(format!("invalid Temporal SDK runtime options: {e}")))
    }

    /// Fresh SDK worker options for one invocation.
    pub(crate) fn worker_options_for(
        &self,
        identity: &str,
        tasks: InvocationTasks,
    ) -> WorkerOptions {
        self.options_with(&self.tuning, identity, tasks)
    }

    /// SDK worker options for the shared worker of concurrent invocations: the tuning scaled to
    /// the environment's vCPUs ([`ConcurrencySettings::scale`]).
    pub(crate) fn shared_worker_options(
        &self,
        identity: &str,
        tasks: InvocationTasks,
    ) -> WorkerOptions {
        self.options_with(&self.concurrency.scale(&self.tuning), identity, tasks)
    }

    fn options_with(
        &self,
        t: &WorkerTuning,
        identity: &str,
        tasks: InvocationTasks,
    ) -> WorkerOptions {
        let mut o = self.options.clone();
        o.task_queue = self.task_queue.clone();
        o.deployment_options = WorkerDeploymentOptions::new(self.version.to_sdk())
            .use_worker_versioning(true)
            .maybe_default_versioning_behavior(self.default_versioning_behavior)
            .build();
        o.client_identity_override = Some(identity.to_owned());
        o.max_cached_workflows = t.max_cached_workflows;
        o.tuner = TunerHolder::builder()
            .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(
                t.max_concurrent_workflow_tasks,
            ))
            .activity_task_slot_supplier(FixedSizeSlotSupplier::new(t.max_concurrent_activities))
            .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(
                t.max_concurrent_local_activities,
            ))
            .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(t.max_concurrent_nexus_tasks))
            .build()
            .into();
        o.workflow_task_poller_behavior =
            Some(PollerBehavior::SimpleMaximum(t.workflow_task_pollers));
        o.activity_task_poller_behavior =
            Some(PollerBehavior::SimpleMaximum(t.activity_task_pollers));
        o.nexus_task_poller_behavior = Some(PollerBehavior::SimpleMaximum(t.nexus_task_pollers));
        o.max_eager_activity_reservations_per_workflow_task =
            if t.eager_activities { 3 } else { 0 };
        // The SDK cancels still-running activities when its graceful period ends: that is the
        // activities' cue to record heartbeat details and return. End it `cancel_grace` before
        // we interrupt what is still running (itself `cancel_grace` before the drain deadline),
        // so cancelled activities have that long to report back with their details.
        o.graceful_shutdown_period = Some(
            self.shutdown
                .graceful_shutdown
                .saturating_sub(self.shutdown.cancel_grace * 2),
        );
        o.worker_interceptor(WorkflowBusyInterceptor {
            busy: tasks.busy.clone(),
        });
        o.activity_inbound_interceptor(CountingInterceptor { tasks });
        o
    }
}
