//! The service core: the state shared by the HTTP adapters, the scheduler, the sandboxes and
//! the handle ([`Inner`]). It names no HTTP route and no sandbox: the layer above
//! ([`crate::emulator`]) gives it the sandboxes' entry point.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::arn::function_arn;
use crate::config::EmulatorConfig;
use crate::credentials::ApiToken;
use crate::model::StsStats;
use crate::records::Records;
use crate::scheduler::work::{Invocation, SandboxCmd, Scheduler};
use crate::store::Store;

/// State shared by the HTTP handlers, sandboxes and the handle.
pub(crate) struct Inner {
    pub config: EmulatorConfig,
    pub endpoint: String,
    pub store: Mutex<Store>,
    pub sched: Mutex<Scheduler>,
    pub records: Records,
    pub sts: Mutex<StsStats>,
    pub shutdown: watch::Sender<bool>,
    pub tasks: Mutex<JoinSet<()>>,
    /// Process group ids of sandboxes whose `bootstrap` is not reaped yet (see
    /// `sandbox::ProcessGroup`): only those may be signalled.
    pub pgids: Mutex<HashMap<String, i32>>,
    pub faults: Mutex<crate::faults::FaultState>,
    /// Per-sandbox CPU/memory limits and freezing (what the host allows of `config.fidelity`).
    pub cgroups: crate::fidelity::CgroupHost,
    /// Who sandboxes run as and what they see (privilege drop when the emulator is root).
    pub isolation: crate::isolation::Isolation,
    /// The bearer token `/_emulator` requires.
    pub api_token: ApiToken,
    /// Sandbox credentials revoked since their sandbox went (see `scheduler::credentials_issued`).
    pub revoked: crate::credentials::Revoked,
    launcher: Launcher,
    sandbox_counter: AtomicU64,
}

/// A sandbox's task: runs it until it stops.
pub(crate) type SandboxTask = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// How the scheduler starts a sandbox.
pub(crate) enum Launcher {
    /// A real `bootstrap` process: the sandboxes' entry point, given by the layer above (so the
    /// service core does not depend on the sandboxes).
    Processes(
        fn(
            Arc<Inner>,
            String,
            Invocation,
            tokio::sync::mpsc::UnboundedReceiver<SandboxCmd>,
        ) -> SandboxTask,
    ),
    /// Tests of the scheduler without processes: the new sandbox's id, first invocation and
    /// command channel are handed over to the test, which plays the sandbox.
    #[cfg(test)]
    Record(std::sync::mpsc::Sender<crate::scheduler::work::Launched>),
}

impl Inner {
    pub(crate) fn new(
        config: EmulatorConfig,
        store: Store,
        endpoint: String,
        launcher: Launcher,
    ) -> Self {
        let cgroups = crate::fidelity::CgroupHost::setup(config.fidelity);
        let isolation = crate::isolation::Isolation::setup(config.sandbox_user);
        Inner {
            cgroups,
            isolation,
            endpoint,
            config,
            store: Mutex::new(store),
            sched: Mutex::new(Scheduler::default()),
            records: Records::new(),
            sts: Mutex::new(StsStats::default()),
            shutdown: watch::Sender::new(false),
            tasks: Mutex::new(JoinSet::new()),
            pgids: Mutex::new(HashMap::new()),
            faults: Mutex::new(Default::default()),
            api_token: ApiToken::generate(),
            revoked: Default::default(),
            launcher,
            sandbox_counter: AtomicU64::new(0),
        }
    }

    /// Starts a sandbox for `first` (the scheduler has put its slot in the map already).
    pub(crate) fn launch(
        self: &Arc<Self>,
        id: String,
        first: Invocation,
        cmd_rx: tokio::sync::mpsc::UnboundedReceiver<SandboxCmd>,
    ) {
        match &self.launcher {
            Launcher::Processes(run) => {
                self.spawn_task(run(self.clone(), id, first, cmd_rx));
            }
            #[cfg(test)]
            Launcher::Record(tx) => {
                let _ = tx.send(crate::scheduler::work::Launched { id, first, cmd_rx });
            }
        }
    }

    pub(crate) fn new_sandbox_id(&self) -> String {
        let n = self.sandbox_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("sb-{n}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    }

    /// Spawns a tracked task (joined or aborted at shutdown).
    pub(crate) fn spawn_task<F: Future<Output = ()> + Send + 'static>(&self, fut: F) {
        let mut t = self.tasks.lock().expect("tasks lock");
        while t.try_join_next().is_some() {}
        t.spawn(fut);
    }

    pub(crate) fn function_arn(&self, name: &str) -> String {
        function_arn(&self.config.region, &self.config.account_id, name)
    }
}
