//! Sandboxes: one real `bootstrap` process per execution environment, in its own process group,
//! with its own Runtime API listener, scratch dir and log stream. An on-demand sandbox runs one
//! invocation at a time, stays warm between invocations, is killed at the deadline, and is reaped
//! when idle ([`serial`]). On Lambda Managed Instances an environment runs many invocations at
//! once, is never frozen, and outlives a late invocation ([`concurrent`]).
//!
//! A [`Sandbox`] goes through named phases: [`Sandbox::start`] (scratch dir, credentials, cgroups,
//! spawn), then per invocation `next_invocation` → `deliver` → `run_invocation`, then
//! [`Sandbox::teardown`]. Sandboxes talk to the scheduler only through their [`Reporter`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::isolation::SandboxFs;
use crate::logs::LogStream;
use crate::runtime_api::{RuntimeApi, RuntimeEvent};
use crate::scheduler::{Invocation, Reporter, SandboxCmd};
use crate::state::Inner;
use crate::store::StoredVersion;

mod concurrent;
mod env;
mod events;
mod freezer;
mod launch;
mod process;
mod report;
mod serial;

use env::lambda_env;
use freezer::Freezer;
use process::{shutdown_phase, spawn_process, Proc};

pub(crate) use process::{continue_group, kill_group};

/// Runs one sandbox until it is retired, dies, times out or the emulator shuts down.
pub(crate) async fn run(
    inner: Arc<Inner>,
    id: String,
    first: Invocation,
    cmd_rx: mpsc::UnboundedReceiver<SandboxCmd>,
) {
    let function = first.function().to_string();
    let Some(mut sandbox) = Sandbox::start(&inner, &id, &function, first, cmd_rx).await else {
        return;
    };
    if sandbox.version.config.managed_instances().is_some() {
        sandbox.serve_concurrently().await;
    } else {
        sandbox.serve_one_at_a_time().await;
    }
    sandbox.teardown().await;
}

/// Session credentials of the execution role: access key id, secret key, session token.
type SessionCredentials = (String, String, String);

/// One execution environment: its process and everything that must not outlive it.
///
/// Field order is drop order: the process (its group killed on drop) goes before its cgroup.
pub(crate) struct Sandbox<'a> {
    inner: &'a Arc<Inner>,
    id: &'a str,
    report: Reporter<'a>,
    version: StoredVersion,
    /// The invocation that started the sandbox, until it is delivered.
    first: Option<Invocation>,
    cmd_rx: mpsc::UnboundedReceiver<SandboxCmd>,
    shutdown_rx: watch::Receiver<bool>,
    proc: Proc<'a>,
    /// The cgroups and freezing: dropped (thawed, emptied, removed) after the process is reaped.
    freezer: Freezer,
    rt: RuntimeApi,
    events: mpsc::UnboundedReceiver<RuntimeEvent>,
    log: LogStream,
    fs: SandboxFs,
    creds: Option<SessionCredentials>,
    env: BTreeMap<String, String>,
    /// The runtime has asked for work at least once (init is over).
    warm: bool,
    init_duration: Option<Duration>,
    /// The process has been reaped.
    exited: bool,
    /// Reclaimed (idle TTL, retired, emulator stop): gets the shutdown phase (SIGTERM + grace).
    reclaim: bool,
    last_mem: u64,
    frozen_before: Duration,
    /// What REPORT lines add for an arm64 function (see [`architecture_note`]).
    architecture: Option<String>,
}

/// `arm64` for an arm64 function, with the user-mode emulator that runs it on this host;
/// `None` for x86_64 (Lambda's default, as its REPORT lines have no such field).
fn architecture_note(version: &StoredVersion, emulated_by: Option<&str>) -> Option<String> {
    let arch = version.config.arch();
    (arch != temporal_lambda_env::arch::Arch::X86_64).then(|| match emulated_by {
        Some(by) => format!("{arch} (emulated by {by})"),
        None => arch.to_string(),
    })
}

/// On Lambda Managed Instances the environment's CPU is its vCPUs (memory / GiB per vCPU), not
/// a share proportional to memory; `None` on on-demand Lambda.
fn managed_vcpus(version: &StoredVersion) -> Option<u32> {
    version
        .config
        .managed_instances()
        .map(|m| crate::managed::environment_vcpus(m, version.config.memory_size))
}

impl<'a> Sandbox<'a> {
    /// Phase 1, start: Runtime API listener, log stream, scratch dir, session credentials,
    /// cgroups, then the `bootstrap` process. `None` if it could not start: `first` has been
    /// reported failed and the sandbox is gone.
    pub(crate) async fn start(
        inner: &'a Arc<Inner>,
        id: &'a str,
        function: &'a str,
        first: Invocation,
        mut cmd_rx: mpsc::UnboundedReceiver<SandboxCmd>,
    ) -> Option<Sandbox<'a>> {
        let report = Reporter::new(inner, function, id);
        let version = first.version.clone();
        let fail = |first: Invocation, error_type: &str, msg: &str| {
            report.failed(first, error_type, msg);
        };
        let (rt, events) = match RuntimeApi::start().await {
            Ok(x) => x,
            Err(e) => {
                let msg = format!("cannot start the Runtime API listener: {e}");
                fail(first, "Runtime.Unknown", &msg);
                report.gone(&mut cmd_rx);
                return None;
            }
        };
        let log = match LogStream::open(&inner.config.data_dir, function, &version.config.version)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                let msg = format!("cannot open the log stream: {e}");
                fail(first, "Runtime.Unknown", &msg);
                report.gone(&mut cmd_rx);
                return None;
            }
        };
        let fs = match inner
            .isolation
            .sandbox(id, &version.code_dir, &inner.config.data_dir)
        {
            Ok(fs) => fs,
            Err(e) => {
                let msg = format!("cannot create the sandbox's scratch dir: {e}");
                fail(first, "Runtime.Unknown", &msg);
                log.close().await;
                report.gone(&mut cmd_rx);
                return None;
            }
        };
        let creds = session_credentials(inner, &version, function, id, &log).await;
        let env = lambda_env(
            inner,
            &version,
            &rt.addr.to_string(),
            &log.name,
            &fs,
            creds.as_ref(),
        );
        let cgroup = inner
            .cgroups
            .sandbox(id, version.config.memory_size, managed_vcpus(&version));
        let freezer = Freezer::new(inner, cgroup);
        let proc = match spawn_process(inner, id, &version, &env, &log, &freezer.cgroup, &fs) {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("RequestId: {} {e}", first.request_id);
                log.line(&msg);
                fail(first, "Runtime.InvalidEntrypoint", &msg);
                log.close().await;
                revoke(inner, creds.as_ref());
                report.gone(&mut cmd_rx);
                return None;
            }
        };
        report.started(proc.pid, &log.name);
        let architecture = architecture_note(&version, proc.emulated_by.as_deref());
        let sandbox = Sandbox {
            inner,
            id,
            report,
            version,
            first: Some(first),
            cmd_rx,
            shutdown_rx: inner.shutdown.subscribe(),
            proc,
            freezer,
            rt,
            events,
            log,
            fs,
            creds,
            env,
            warm: false,
            init_duration: None,
            exited: false,
            reclaim: false,
            last_mem: 0,
            frozen_before: Duration::ZERO,
            architecture,
        };
        sandbox.log_started();
        Some(sandbox)
    }

    fn log_started(&self) {
        let (cg, proc) = (&self.freezer.cgroup, &self.proc);
        tracing::info!(sandbox = %self.id, function = %self.version.config.function_name,
            version = %self.version.config.version, pid = ?proc.pid, runtime_api = %self.rt.addr,
            stream = %self.log.name, cpu_millis = ?cg.cpu_millis, memory_limit_mb = ?cg.memory_limit_mb,
            freezer = self.freezer.method(), "sandbox started");
    }

    /// Last phase, teardown: no process, listener, or scratch dir outlives the sandbox. A
    /// reclaimed sandbox gets the shutdown phase (SIGTERM, grace) first.
    pub(crate) async fn teardown(mut self) {
        self.freezer.thaw(self.proc.group.pgid);
        if !self.exited && self.reclaim {
            shutdown_phase(self.inner, self.id, &self.proc).await;
        }
        // Kill and forget the group before reaping (a no-op if `exited`: then that already happened).
        self.proc.group.kill();
        self.proc.group.forget();
        if !self.exited {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.proc.child.wait()).await;
        }
        let Sandbox {
            inner,
            id,
            report,
            version,
            mut cmd_rx,
            mut proc,
            freezer,
            rt,
            log,
            fs,
            creds,
            ..
        } = self;
        drop(rt);
        for p in std::mem::take(&mut proc.pipes) {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
        log.close().await;
        drop(proc);
        drop(freezer);
        drop(fs);
        revoke(inner, creds.as_ref());
        tracing::info!(sandbox = %id, function = %version.config.function_name, "sandbox stopped");
        report.gone(&mut cmd_rx);
    }
}

/// Session credentials of the execution role, if Lambda could assume it (revoked at teardown).
async fn session_credentials(
    inner: &Arc<Inner>,
    version: &StoredVersion,
    function: &str,
    id: &str,
    log: &LogStream,
) -> Option<SessionCredentials> {
    if version.config.role.is_empty() {
        return None;
    }
    match crate::sts::sandbox_credentials(inner, &version.config.role, function).await {
        Ok(c) => {
            crate::scheduler::credentials_issued(inner, function, id, &c.0);
            Some(c)
        }
        Err(why) => {
            log.line(format!(
                "no execution role credentials in this sandbox (AWS_ACCESS_KEY_ID unset): {why}"
            ));
            None
        }
    }
}

fn revoke(inner: &Inner, creds: Option<&SessionCredentials>) {
    if let Some((akid, _, _)) = creds {
        crate::sts::revoke(inner, akid);
    }
}
