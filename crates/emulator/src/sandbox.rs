//! Sandboxes: one real `bootstrap` process per execution environment, in its own process group,
//! with its own Runtime API listener, scratch dir and log stream. A sandbox runs one invocation
//! at a time, stays warm between invocations, is killed at the deadline, and is reaped when idle.

use std::collections::{BTreeMap, HashMap};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};

use crate::emulator::Inner;
use crate::fidelity::SandboxCgroup;
use crate::logs::LogStream;
use crate::model::{Outcome, SandboxLimits};
use crate::runtime_api::{Delivered, Delivery, RuntimeApi, RuntimeEvent};
use crate::scheduler::{self, Invocation, Reporter, SandboxCmd, Verdict};
use crate::store::{now_ms, StoredVersion};

/// A sandbox's process group; `bootstrap` is its leader (pgid = its pid).
///
/// `kill(-pgid)` is only safe while the leader is unreaped (running or a zombie): a reaped
/// leader's id can be reused by an unrelated process group, which the kill would then hit. So
/// the pgid is registered in `Inner::pgids` (what `EmulatorHandle` kills at shutdown) only
/// while the leader is unreaped, and [`ProcessGroup::forget`] — which removes it from there under
/// that lock — must come before anything reaps the child (`child.wait()`): kill first, then
/// forget, then wait. [`wait_exit`] and [`kill_and_reap`] do it in that order. Dropping the group
/// kills and forgets it (task abort, runtime shutdown); it is declared after the `Child`, so
/// it drops first, while the child is still unreaped.
struct ProcessGroup<'a> {
    pgid: Option<i32>,
    id: String,
    registry: &'a Mutex<HashMap<String, i32>>,
}

impl<'a> ProcessGroup<'a> {
    fn new(registry: &'a Mutex<HashMap<String, i32>>, id: String, pid: Option<u32>) -> Self {
        let pgid = pid.map(|p| p as i32);
        if let Some(p) = pgid {
            registry.lock().expect("pgids lock").insert(id.clone(), p);
        }
        Self { pgid, id, registry }
    }

    /// SIGKILLs the group (no-op once forgotten); SIGCONT too, so a group stopped by the
    /// signal fallback of freezing dies.
    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid);
            continue_group(pgid);
        }
    }

    /// From here on the child may be reaped: nobody may signal its pgid any more.
    fn forget(&mut self) {
        if self.pgid.take().is_some() {
            self.registry.lock().expect("pgids lock").remove(&self.id);
        }
    }
}

impl Drop for ProcessGroup<'_> {
    fn drop(&mut self) {
        self.kill();
        self.forget();
    }
}

/// Tells when a child has terminated *without reaping it*: a pidfd turns readable when the
/// process exits, and it stays a zombie (its pid, our pgid, still taken) until `Child::wait`.
/// Kernels without `pidfd_open` (< 5.3) fall back to polling `/proc/<pid>/stat`.
struct ExitWatch {
    pid: Option<i32>,
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl ExitWatch {
    fn new(pid: Option<u32>) -> Self {
        use std::os::fd::FromRawFd;
        let fd = pid.and_then(|pid| {
            // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1; no memory is
            // passed.
            let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
            if raw < 0 {
                return None;
            }
            // SAFETY: `raw` is a file descriptor we just opened and own exclusively.
            let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw as std::os::fd::RawFd) };
            // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same
            // for the AsyncFd's whole lifetime.
            unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(
                    owned,
                    tokio::io::Interest::READABLE,
                )
            }
            .ok()
        });
        Self {
            pid: pid.map(|p| p as i32),
            fd,
        }
    }

    /// Resolves once the process has exited (it is then a zombie until reaped).
    async fn terminated(&self) {
        let Some(pid) = self.pid else { return };
        if let Some(fd) = &self.fd {
            // The readiness is kept (never cleared), so later calls return at once too.
            if fd.readable().await.is_ok() {
                return;
            }
        }
        while running(pid) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// True if `pid` exists and is not a zombie.
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z") | Some("X")
        ),
        Err(_) => false,
    }
}

/// Waits until `bootstrap` exits on its own; kills what is left of its group while the exited
/// leader is still an unreaped zombie (so the pgid cannot have been reused), then reaps it.
async fn wait_exit(
    child: &mut Child,
    group: &mut ProcessGroup<'_>,
    exit: &ExitWatch,
) -> std::io::Result<ExitStatus> {
    exit.terminated().await;
    kill_and_reap(child, group).await
}

/// Kills the group, forgets it, then reaps the leader — in that order (see [`ProcessGroup`]).
async fn kill_and_reap(
    child: &mut Child,
    group: &mut ProcessGroup<'_>,
) -> std::io::Result<ExitStatus> {
    group.kill();
    group.forget();
    child.wait().await
}

/// SIGKILL to a process group.
pub(crate) fn kill_group(pgid: i32) {
    signal_group(pgid, libc::SIGKILL);
}

/// SIGCONT to a process group (one stopped by the signal fallback of freezing).
pub(crate) fn continue_group(pgid: i32) {
    signal_group(pgid, libc::SIGCONT);
}

/// A signal to a process group.
fn signal_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

fn describe_exit(status: std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(sig)) => format!(
                "signal: {sig}{}",
                if sig == libc::SIGKILL {
                    " (killed)"
                } else {
                    ""
                }
            ),
            _ => s.to_string(),
        },
        Err(e) => format!("unknown ({e})"),
    }
}

/// Peak RSS of a process in MB (from /proc), if available.
fn max_memory_mb(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.div_ceil(1024))
}

fn trace_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now_ms() / 1000,
        &u[..24],
        &u[16..32]
    )
}

fn lambda_env(
    inner: &Inner,
    v: &StoredVersion,
    runtime_api: &str,
    stream: &str,
    fs: &crate::isolation::SandboxFs,
    creds: Option<&(String, String, String)>,
) -> BTreeMap<String, String> {
    let c = &v.config;
    let code = fs.task_root.to_string_lossy().into_owned();
    let scratch = &fs.tmp;
    let mut env = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        env.insert(k.to_string(), val);
    };
    set("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string());
    set("AWS_LAMBDA_FUNCTION_NAME", c.function_name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", c.version.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_size.to_string());
    set(
        "AWS_LAMBDA_LOG_GROUP_NAME",
        c.logging_config.log_group.clone(),
    );
    set("AWS_LAMBDA_LOG_STREAM_NAME", stream.to_string());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string());
    set("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", c.runtime));
    set("AWS_REGION", inner.config.region.clone());
    set("AWS_DEFAULT_REGION", inner.config.region.clone());
    set("LAMBDA_TASK_ROOT", code.clone());
    set("LAMBDA_RUNTIME_DIR", code.clone());
    set("_HANDLER", c.handler.clone());
    set("TZ", ":UTC".to_string());
    set("LANG", "en_US.UTF-8".to_string());
    set(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()
        }),
    );
    let mut ld = format!("{code}:{code}/lib");
    if let Ok(host) = std::env::var("LD_LIBRARY_PATH") {
        if !host.is_empty() {
            ld = format!("{ld}:{host}");
        }
    }
    set("LD_LIBRARY_PATH", ld);
    set("HOME", scratch.to_string_lossy().into_owned());
    set("TMPDIR", scratch.to_string_lossy().into_owned());
    // The execution role's session credentials, as Lambda puts them in every sandbox.
    if let Some((akid, secret, token)) = creds {
        set("AWS_ACCESS_KEY_ID", akid.clone());
        set("AWS_SECRET_ACCESS_KEY", secret.clone());
        set("AWS_SESSION_TOKEN", token.clone());
    }
    for (k, val) in c.env_vars() {
        env.insert(k, val);
    }
    env
}

async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Waits for the runtime's response/error to `request_id` (an init error also ends it).
async fn wait_result(
    events: &mut mpsc::UnboundedReceiver<RuntimeEvent>,
    request_id: &str,
) -> RuntimeEvent {
    loop {
        match events.recv().await {
            Some(RuntimeEvent::Response {
                request_id: id,
                body,
            }) if id == request_id => {
                return RuntimeEvent::Response {
                    request_id: id,
                    body,
                };
            }
            Some(RuntimeEvent::Error {
                request_id: id,
                error_type,
                body,
            }) if id == request_id => {
                return RuntimeEvent::Error {
                    request_id: id,
                    error_type,
                    body,
                };
            }
            Some(e @ RuntimeEvent::InitError { .. }) => return e,
            Some(_) => continue,
            None => std::future::pending::<()>().await,
        }
    }
}

async fn wait_init_error(events: &mut mpsc::UnboundedReceiver<RuntimeEvent>) -> (String, Bytes) {
    loop {
        match events.recv().await {
            Some(RuntimeEvent::InitError { error_type, body }) => return (error_type, body),
            Some(_) => continue,
            None => std::future::pending::<()>().await,
        }
    }
}

fn error_outcome(error_type: &str, body: &[u8]) -> (Outcome, Bytes) {
    let parsed = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(|v| v.is_object());
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let body = match parsed {
        Some(_) => Bytes::copy_from_slice(body),
        None => Bytes::from(
            serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string(),
        ),
    };
    (
        Outcome::Error {
            error_type: error_type.to_string(),
            error_message: message,
        },
        body,
    )
}

/// A running `bootstrap`: its process group (dropped, i.e. killed, before the child), the child,
/// its exit watch and the log pipes.
struct Proc<'a> {
    group: ProcessGroup<'a>,
    child: Child,
    exit: ExitWatch,
    pid: Option<u32>,
    pipes: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
}

/// Starts `bootstrap` in its own process group (and the sandbox's cgroups, before it execs).
fn spawn_process<'a>(
    inner: &'a Inner,
    id: &str,
    version: &StoredVersion,
    env: &BTreeMap<String, String>,
    log: &LogStream,
    cgroup: &SandboxCgroup,
    fs: &crate::isolation::SandboxFs,
) -> Result<Proc<'a>, String> {
    let bootstrap = fs.task_root.join("bootstrap");
    let mut cmd = tokio::process::Command::new(&bootstrap);
    cmd.current_dir(&version.code_dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let procs_files = cgroup.procs_files();
    let fds = crate::fidelity::raw_fds(&procs_files);
    let bind = fs.bind.clone();
    let user = inner.isolation.user;
    // The child joins the sandbox's cgroups before exec (so it never runs without its limits),
    // then, when the emulator is root, gets its own view of the code and drops to the sandbox
    // user (crate::isolation). Then, as the credential change cleared it: if the emulator itself
    // is SIGKILLed, the kernel kills the bootstrap too.
    // SAFETY: prctl, write(2) and the calls of enter_in_child are async-signal-safe; `fds` and
    // `bind` are owned by the closure and the descriptors stay open (held by `procs_files`)
    // until `spawn` returns.
    unsafe {
        cmd.pre_exec(move || {
            crate::fidelity::join_in_child(&fds)?;
            crate::isolation::enter_in_child(bind.as_ref(), user)?;
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "Error: Couldn't find valid bootstrap(s): [{}]: {e}",
            bootstrap.display()
        )
    })?;
    drop(procs_files);
    let pid = child.id();
    let group = ProcessGroup::new(&inner.pgids, id.to_string(), pid);
    let exit = ExitWatch::new(pid);
    let mut pipes = Vec::new();
    let function = version.config.function_name.clone();
    if let Some(out) = child.stdout.take() {
        pipes.push(log.pipe(out, function.clone()));
    }
    if let Some(err) = child.stderr.take() {
        pipes.push(log.pipe(err, function));
    }
    Ok(Proc {
        group,
        child,
        exit,
        pid,
        pipes,
        started,
    })
}

/// How long a freeze may take before it is undone.
const FREEZE_WAIT: Duration = Duration::from_secs(1);

/// Freezing between invocations: the sandbox's freezer cgroup, else SIGSTOP/SIGCONT of its
/// process group (if fidelity asks for freezing), else nothing.
struct Freezer<'c> {
    cgroup: &'c SandboxCgroup,
    by_signal: bool,
    since: Option<Instant>,
}

impl<'c> Freezer<'c> {
    fn new(inner: &Inner, cgroup: &'c SandboxCgroup) -> Self {
        Self {
            cgroup,
            by_signal: inner.cgroups.effective.freeze && !cgroup.can_freeze(),
            since: None,
        }
    }

    fn enabled(&self) -> bool {
        self.cgroup.can_freeze() || self.by_signal
    }

    fn method(&self) -> &'static str {
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
    async fn freeze(&mut self, pgid: Option<i32>) {
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
    fn thaw(&mut self, pgid: Option<i32>) -> Duration {
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

/// Runs one sandbox until it is retired, dies, times out or the emulator shuts down.
pub(crate) async fn run(
    inner: Arc<Inner>,
    id: String,
    first: Invocation,
    mut cmd_rx: mpsc::UnboundedReceiver<SandboxCmd>,
) {
    let function = first.function().to_string();
    let report = Reporter::new(&inner, &function, &id);
    let version = first.version.clone();
    let mut shutdown_rx = inner.shutdown.subscribe();

    let (rt, mut events) = match RuntimeApi::start().await {
        Ok(x) => x,
        Err(e) => {
            report.failed(
                first,
                "Runtime.Unknown",
                &format!("cannot start the Runtime API listener: {e}"),
            );
            report.gone(&mut cmd_rx);
            return;
        }
    };
    let log =
        match LogStream::open(&inner.config.data_dir, &function, &version.config.version).await {
            Ok(l) => l,
            Err(e) => {
                report.failed(
                    first,
                    "Runtime.Unknown",
                    &format!("cannot open the log stream: {e}"),
                );
                report.gone(&mut cmd_rx);
                return;
            }
        };
    let fs = match inner
        .isolation
        .sandbox(&id, &version.code_dir, &inner.config.data_dir)
    {
        Ok(fs) => fs,
        Err(e) => {
            report.failed(
                first,
                "Runtime.Unknown",
                &format!("cannot create the sandbox's scratch dir: {e}"),
            );
            log.close().await;
            report.gone(&mut cmd_rx);
            return;
        }
    };
    // Session credentials of the execution role, if Lambda could assume it; revoked at the end.
    let creds = if version.config.role.is_empty() {
        None
    } else {
        match crate::sts::sandbox_credentials(&inner, &version.config.role, &function).await {
            Ok(c) => {
                crate::scheduler::credentials_issued(&inner, &function, &id, &c.0);
                Some(c)
            }
            Err(why) => {
                log.line(format!(
                    "no execution role credentials in this sandbox (AWS_ACCESS_KEY_ID unset): {why}"
                ));
                None
            }
        }
    };
    let revoke_creds = || {
        if let Some((akid, _, _)) = &creds {
            crate::sts::revoke(&inner, akid);
        }
    };
    let env = lambda_env(
        &inner,
        &version,
        &rt.addr.to_string(),
        &log.name,
        &fs,
        creds.as_ref(),
    );
    // Declared before the process: dropped (thawed, emptied, removed) after it is reaped.
    let cgroup = inner.cgroups.sandbox(&id, version.config.memory_size);
    let mut freezer = Freezer::new(&inner, &cgroup);
    let mut proc = match spawn_process(&inner, &id, &version, &env, &log, &cgroup, &fs) {
        Ok(p) => p,
        Err(e) => {
            let msg = format!("RequestId: {} {e}", first.request_id);
            log.line(&msg);
            report.failed(first, "Runtime.InvalidEntrypoint", &msg);
            log.close().await;
            revoke_creds();
            report.gone(&mut cmd_rx);
            return;
        }
    };
    report.started(proc.pid, &log.name);
    tracing::info!(sandbox = %id, function = %function, version = %version.config.version, pid = ?proc.pid,
        runtime_api = %rt.addr, stream = %log.name, cpu_millis = ?cgroup.cpu_millis,
        memory_limit_mb = ?cgroup.memory_limit_mb, freezer = freezer.method(), "sandbox started");

    let timeout = version.config.timeout_duration();
    let timeout_s = version.config.timeout;
    let memory_size = version.config.memory_size;
    let fidelity_on = !inner.cgroups.effective.is_off();
    let mut warm = false;
    let mut init_duration: Option<Duration> = None;
    let mut current = Some(first);
    let mut exited = false;
    // The sandbox is being reclaimed (idle TTL, retired by a code update, emulator stop): it
    // gets the shutdown phase (SIGTERM, then SIGKILL after the grace period).
    let mut reclaim = false;
    let mut last_mem = 0u64;
    let mut frozen_before = Duration::ZERO;

    'outer: loop {
        let inv = match current.take() {
            Some(i) => i,
            None => {
                let ttl = inner.config.idle_sandbox_ttl;
                let mut idle_until = tokio::time::Instant::now() + ttl;
                let mut freeze_tried = false;
                let next = loop {
                    tokio::select! {
                        cmd = cmd_rx.recv() => break match cmd {
                            Some(SandboxCmd::Invoke(i)) => Some(i),
                            None => {
                                reclaim = true;
                                None
                            }
                        },
                        st = wait_exit(&mut proc.child, &mut proc.group, &proc.exit) => {
                            exited = true;
                            log.line(format!("sandbox process exited while idle: {}", describe_exit(st)));
                            break None;
                        }
                        _ = tokio::time::sleep_until(idle_until) => {
                            if report.idle_expired() == Verdict::Stop {
                                tracing::debug!(sandbox = %id, "idle sandbox reaped");
                                reclaim = true;
                                break None;
                            }
                            // Work was just assigned: it is in the command channel.
                            idle_until = tokio::time::Instant::now() + ttl;
                        }
                        _ = shutdown_requested(&mut shutdown_rx) => {
                            reclaim = true;
                            break None;
                        }
                        (error_type, _) = wait_init_error(&mut events) => {
                            log.line(format!("runtime reported an init error while idle: {error_type}"));
                            break None;
                        }
                        // The runtime asked for the next event: Lambda freezes it until there is one.
                        _ = rt.idle(), if freezer.enabled() && !freeze_tried => {
                            freeze_tried = true;
                            freezer.freeze(proc.group.pgid).await;
                        }
                    }
                };
                frozen_before += freezer.thaw(proc.group.pgid);
                match next {
                    Some(i) => i,
                    None => break 'outer,
                }
            }
        };

        // Offer the invocation to the runtime's `next` long poll. A cold sandbox's init is
        // limited to `init_timeout`; on expiry Lambda retries the init once, at the invoke,
        // under the function timeout.
        let mut init_retry_deadline: Option<(u64, tokio::time::Instant)> = None;
        let delivered = loop {
            let (ack_tx, ack_rx) = oneshot::channel::<Delivered>();
            rt.offer(Delivery {
                request_id: inv.request_id.clone(),
                payload: inv.payload.clone(),
                invoked_arn: inv.invoked_arn.clone(),
                trace_id: trace_id(),
                timeout,
                deadline: init_retry_deadline,
                ack: ack_tx,
            });
            let init_deadline = match init_retry_deadline {
                Some((_, at)) => at,
                None => tokio::time::Instant::from_std(proc.started + inner.config.init_timeout),
            };
            tokio::select! {
                biased;
                ack = ack_rx => match ack {
                    Ok(d) => break d,
                    Err(_) => {
                        // Cannot happen (the offer is held by the runtime state); never lose it.
                        report.requeue(inv);
                        break 'outer;
                    }
                },
                st = wait_exit(&mut proc.child, &mut proc.group, &proc.exit) => {
                    exited = true;
                    rt.withdraw();
                    let why = describe_exit(st);
                    if warm {
                        // The invocation never reached the process: run it elsewhere.
                        log.line(format!("sandbox process exited while idle ({why}); invocation {} requeued", inv.request_id));
                        report.requeue(inv);
                    } else {
                        let (error_type, msg) = exit_error(&cgroup, &inv.request_id, &why);
                        log.line(&msg);
                        report.failed(inv, error_type, &msg);
                    }
                    break 'outer;
                }
                (error_type, body) = wait_init_error(&mut events) => {
                    rt.withdraw();
                    let (outcome, body) = error_outcome(&error_type, &body);
                    log.line(format!("INIT_REPORT Init Duration: {:.2} ms Phase: init Status: error Error Type: {error_type}",
                        proc.started.elapsed().as_secs_f64() * 1000.0));
                    report.finished(inv, outcome, body);
                    break 'outer;
                }
                _ = tokio::time::sleep_until(init_deadline), if !warm => {
                    rt.withdraw();
                    let _ = kill_and_reap(&mut proc.child, &mut proc.group).await;
                    exited = true;
                    if init_retry_deadline.is_none() {
                        let secs = inner.config.init_timeout.as_secs_f64();
                        log.line(format!("INIT_REPORT Init Duration: {:.2} ms Phase: init Status: timeout", secs * 1000.0));
                        // Retried at the invoke: a new process, under the function timeout.
                        match spawn_process(&inner, &id, &version, &env, &log, &cgroup, &fs) {
                            Ok(p) => {
                                proc = p;
                                exited = false;
                                report.started(proc.pid, &log.name);
                                init_retry_deadline = Some((
                                    now_ms() + timeout.as_millis() as u64,
                                    tokio::time::Instant::now() + timeout,
                                ));
                                continue;
                            }
                            Err(e) => {
                                let msg = format!("RequestId: {} {e}", inv.request_id);
                                log.line(&msg);
                                report.failed(inv, "Runtime.InvalidEntrypoint", &msg);
                                break 'outer;
                            }
                        }
                    }
                    log.line(format!(
                        "INIT_REPORT Init Duration: {:.2} ms Phase: invoke Status: timeout",
                        proc.started.elapsed().as_secs_f64() * 1000.0
                    ));
                    log.line(format!(
                        "{} {} Task timed out after {timeout_s}.00 seconds",
                        crate::store::now_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                        inv.request_id
                    ));
                    log.sync().await;
                    report.finished(inv, Outcome::Timeout, scheduler::timeout_body(timeout_s));
                    break 'outer;
                }
                _ = shutdown_requested(&mut shutdown_rx) => {
                    rt.withdraw();
                    report.failed(inv, "Emulator.ShuttingDown", "the emulator shut down before the invocation ran");
                    reclaim = true;
                    break 'outer;
                }
            }
        };

        let cold = !warm;
        if cold {
            init_duration = Some(proc.started.elapsed());
            if init_retry_deadline.is_some() {
                log.line(format!(
                    "INIT_REPORT Init Duration: {:.2} ms Phase: invoke Status: success",
                    proc.started.elapsed().as_secs_f64() * 1000.0
                ));
            }
        }
        warm = true;
        let request_id = inv.request_id.clone();
        let limits = fidelity_on.then(|| SandboxLimits {
            cpu_millis: cgroup.cpu_millis,
            memory_limit_mb: cgroup.memory_limit_mb,
            frozen_ms: frozen_before.as_millis() as u64,
            freezer: freezer.method().to_string(),
        });
        frozen_before = Duration::ZERO;
        let pid = proc.pid;
        inner.records.update(inv.record, |r| {
            r.started_at_ms = Some(delivered.started_ms);
            r.deadline_ms = Some(delivered.deadline_ms);
            r.sandbox_id = Some(id.clone());
            r.pid = pid;
            r.cold_start = Some(cold);
            r.limits = limits.clone();
        });
        log.line(format!(
            "START RequestId: {request_id} Version: {}",
            version.config.version
        ));
        let started = Instant::now();

        enum End {
            Done(RuntimeEvent),
            Timeout,
            Exit(String),
            Shutdown,
        }
        let end = tokio::select! {
            biased;
            ev = wait_result(&mut events, &request_id) => End::Done(ev),
            st = wait_exit(&mut proc.child, &mut proc.group, &proc.exit) => End::Exit(describe_exit(st)),
            _ = tokio::time::sleep_until(delivered.deadline_at) => End::Timeout,
            _ = shutdown_requested(&mut shutdown_rx) => End::Shutdown,
        };
        rt.finish_current();
        let duration = started.elapsed();
        if let Some(m) = max_memory_mb(pid) {
            last_mem = m;
        }
        let report_line = |mem: u64| Report {
            request_id: &request_id,
            duration,
            memory_size,
            max_memory_mb: mem,
            init: cold.then_some(init_duration).flatten(),
            limits: limits.as_ref(),
        };
        let mut stop = false;
        match end {
            End::Done(RuntimeEvent::Response { body, .. }) => {
                report_line(last_mem).write(&log).await;
                report.finished(inv, Outcome::Success, body);
            }
            End::Done(RuntimeEvent::Error {
                error_type, body, ..
            }) => {
                report_line(last_mem).write(&log).await;
                let (outcome, body) = error_outcome(&error_type, &body);
                report.finished(inv, outcome, body);
            }
            End::Done(RuntimeEvent::InitError { error_type, body }) => {
                report_line(last_mem).write(&log).await;
                let (outcome, body) = error_outcome(&error_type, &body);
                report.finished(inv, outcome, body);
                stop = true;
            }
            End::Timeout => {
                let _ = kill_and_reap(&mut proc.child, &mut proc.group).await;
                exited = true;
                log.line(format!(
                    "{} {request_id} Task timed out after {timeout_s}.00 seconds",
                    crate::store::now_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ")
                ));
                report_line(last_mem).write(&log).await;
                report.finished(inv, Outcome::Timeout, scheduler::timeout_body(timeout_s));
                stop = true;
            }
            End::Exit(why) => {
                // `wait_exit` already killed the rest of the group, before reaping.
                exited = true;
                let (error_type, msg) = exit_error(&cgroup, &request_id, &why);
                log.line(&msg);
                let mem = if error_type == OUT_OF_MEMORY {
                    // Killed at the limit, as Lambda reports it.
                    u64::from(memory_size)
                } else {
                    last_mem
                };
                report_line(mem).write(&log).await;
                report.failed(inv, error_type, &msg);
                stop = true;
            }
            End::Shutdown => {
                group_kill_thawed(&mut freezer, &proc.group);
                report.failed(
                    inv,
                    "Emulator.ShuttingDown",
                    "the emulator shut down during the invocation",
                );
                stop = true;
            }
        }
        if stop {
            break 'outer;
        }
        if report.idle() == Verdict::Stop {
            // Retired after this invocation (stale `$LATEST`, deleted, shutting down).
            reclaim = true;
            break 'outer;
        }
    }

    // Tear down: no process, listener, or scratch dir outlives the sandbox.
    freezer.thaw(proc.group.pgid);
    if !exited && reclaim {
        shutdown_phase(&inner, &id, &proc).await;
    }
    // Kill and forget the group before reaping (a no-op if `exited`: then that already happened).
    proc.group.kill();
    proc.group.forget();
    if !exited {
        let _ = tokio::time::timeout(Duration::from_secs(5), proc.child.wait()).await;
    }
    drop(rt);
    for p in std::mem::take(&mut proc.pipes) {
        let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
    }
    log.close().await;
    drop(proc);
    drop(cgroup);
    drop(fs);
    revoke_creds();
    tracing::info!(sandbox = %id, function = %function, "sandbox stopped");
    report.gone(&mut cmd_rx);
}

/// Lambda's shutdown phase: `SIGTERM` to the runtime, then (by the caller) `SIGKILL` once the
/// grace period is over or it has exited.
async fn shutdown_phase(inner: &Inner, id: &str, proc: &Proc<'_>) {
    let (Some(pid), Some(_)) = (proc.pid, proc.group.pgid) else {
        return;
    };
    // SAFETY: kill(2) with the pid of our unreaped child (its pid cannot have been reused).
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let grace = inner.config.shutdown_grace;
    let ended = tokio::time::timeout(grace, proc.exit.terminated())
        .await
        .is_ok();
    tracing::debug!(sandbox = %id, ?grace, exited_in_grace = ended, "shutdown phase");
}

/// SIGKILLs a group that may be frozen: a frozen process dies only once thawed.
fn group_kill_thawed(freezer: &mut Freezer<'_>, group: &ProcessGroup<'_>) {
    group.kill();
    freezer.thaw(group.pgid);
}

const OUT_OF_MEMORY: &str = "Runtime.OutOfMemory";

/// The error of a runtime that exited: `Runtime.OutOfMemory` if the memory cgroup's OOM killer
/// did it, else `Runtime.ExitError`; the message as Lambda words it.
fn exit_error(cgroup: &SandboxCgroup, request_id: &str, why: &str) -> (&'static str, String) {
    if cgroup.oom_killed() {
        (
            OUT_OF_MEMORY,
            format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
        )
    } else {
        (
            "Runtime.ExitError",
            format!("RequestId: {request_id} Error: Runtime exited with error: {why}"),
        )
    }
}

/// One REPORT line.
struct Report<'a> {
    request_id: &'a str,
    duration: Duration,
    memory_size: u32,
    max_memory_mb: u64,
    init: Option<Duration>,
    limits: Option<&'a SandboxLimits>,
}

impl Report<'_> {
    fn text(&self) -> String {
        let ms = self.duration.as_secs_f64() * 1000.0;
        let billed = (ms.ceil() as u64).max(1);
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            self.request_id, self.memory_size, self.max_memory_mb
        );
        if let Some(i) = self.init {
            line.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                i.as_secs_f64() * 1000.0
            ));
        }
        // Not in Lambda's REPORT: what the emulator enforced (fidelity on only).
        if let Some(l) = self.limits {
            if let Some(c) = l.cpu_millis {
                line.push_str(&format!("\tCPU Share: {:.3} vCPU", f64::from(c) / 1000.0));
            }
            if let Some(m) = l.memory_limit_mb {
                line.push_str(&format!("\tMemory Limit: {m} MB"));
            }
            line.push_str(&format!("\tFrozen Before: {} ms", l.frozen_ms));
        }
        line
    }

    async fn write(&self, log: &LogStream) {
        log.line(format!("END RequestId: {}", self.request_id));
        log.line(self.text());
        // The REPORT line is in the file before the caller hears the result.
        log.sync().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    #[tokio::test]
    async fn group_is_killed_and_forgotten_before_its_leader_is_reaped() {
        let registry = Mutex::new(HashMap::new());
        // The leader leaves a grandchild in its group, then exits on its own.
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "sleep 30 >/dev/null 2>&1 & echo $!; exit 3"])
            .stdout(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut group = ProcessGroup::new(&registry, "sb-1".into(), Some(pid));
        assert_eq!(registry.lock().unwrap().get("sb-1"), Some(&(pid as i32)));
        let exit = ExitWatch::new(Some(pid));
        let mut line = String::new();
        tokio::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .await
            .unwrap();
        let grandchild: i32 = line.trim().parse().unwrap();
        tokio::time::timeout(Duration::from_secs(10), exit.terminated())
            .await
            .expect("exit noticed");
        // Exited but not reaped: a zombie still holds the pid, so the pgid cannot be reused yet.
        assert!(!running(pid as i32));
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(running(grandchild));
        let st = wait_exit(&mut child, &mut group, &exit).await.unwrap();
        assert_eq!(st.code(), Some(3));
        assert!(registry.lock().unwrap().is_empty(), "forgotten when reaped");
        assert!(
            group.pgid.is_none(),
            "a reaped group is never signalled again"
        );
        let t = Instant::now();
        while running(grandchild) {
            assert!(t.elapsed() < Duration::from_secs(5), "grandchild survived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
