//! A sandbox's `bootstrap` process: its process group, the exit watch that sees it end without
//! reaping it, spawning it (cgroups and isolation before exec) and the shutdown phase.

use std::collections::{BTreeMap, HashMap};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::process::Child;

use crate::fidelity::SandboxCgroup;
use crate::logs::LogStream;
use crate::state::Inner;
use crate::store::StoredVersion;

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
pub(super) struct ProcessGroup<'a> {
    pub(super) pgid: Option<i32>,
    id: String,
    registry: &'a Mutex<HashMap<String, i32>>,
}

impl<'a> ProcessGroup<'a> {
    pub(super) fn new(
        registry: &'a Mutex<HashMap<String, i32>>,
        id: String,
        pid: Option<u32>,
    ) -> Self {
        let pgid = pid.map(|p| p as i32);
        if let Some(p) = pgid {
            registry.lock().expect("pgids lock").insert(id.clone(), p);
        }
        Self { pgid, id, registry }
    }

    /// SIGKILLs the group (no-op once forgotten); SIGCONT too, so a group stopped by the
    /// signal fallback of freezing dies.
    pub(super) fn kill(&self) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid);
            continue_group(pgid);
        }
    }

    /// From here on the child may be reaped: nobody may signal its pgid any more.
    pub(super) fn forget(&mut self) {
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
pub(super) struct ExitWatch {
    pid: Option<i32>,
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl ExitWatch {
    pub(super) fn new(pid: Option<u32>) -> Self {
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
    pub(super) async fn terminated(&self) {
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
pub(super) async fn wait_exit(
    child: &mut Child,
    group: &mut ProcessGroup<'_>,
    exit: &ExitWatch,
) -> std::io::Result<ExitStatus> {
    exit.terminated().await;
    kill_and_reap(child, group).await
}

/// Kills the group, forgets it, then reaps the leader — in that order (see [`ProcessGroup`]).
pub(super) async fn kill_and_reap(
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
pub(super) fn signal_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

pub(super) fn describe_exit(status: std::io::Result<ExitStatus>) -> String {
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
pub(super) fn max_memory_mb(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.div_ceil(1024))
}

/// A running `bootstrap`: its process group (dropped, i.e. killed, before the child), the child,
/// its exit watch and the log pipes.
pub(super) struct Proc<'a> {
    pub(super) group: ProcessGroup<'a>,
    pub(super) child: Child,
    pub(super) exit: ExitWatch,
    pub(super) pid: Option<u32>,
    pub(super) pipes: Vec<tokio::task::JoinHandle<()>>,
    pub(super) started: Instant,
    /// The user-mode emulator running `bootstrap` (another architecture than the host's).
    pub(super) emulated_by: Option<String>,
}

/// Starts `bootstrap` in its own process group (and the sandbox's cgroups, before it execs).
pub(super) fn spawn_process<'a>(
    inner: &'a Inner,
    id: &str,
    version: &StoredVersion,
    env: &BTreeMap<String, String>,
    log: &LogStream,
    cgroup: &SandboxCgroup,
    fs: &crate::isolation::SandboxFs,
) -> Result<Proc<'a>, String> {
    let bootstrap = fs.task_root.join("bootstrap");
    let launch = super::launch::plan_launch(
        &bootstrap,
        version.config.arch(),
        super::launch::binary_arch(&version.code_dir.join("bootstrap")),
        temporal_lambda_env::arch::Arch::host(),
        inner.config.qemu_aarch64.as_ref(),
    )?;
    if let Some(by) = &launch.emulated_by {
        log_emulation_notice(by);
    }
    let mut cmd = tokio::process::Command::new(&launch.program);
    cmd.args(&launch.args)
        .current_dir(&version.code_dir)
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
        emulated_by: launch.emulated_by,
    })
}

/// Once per emulator process: the timings of emulated functions are not the real hardware's.
fn log_emulation_notice(by: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            emulator = by,
            "arm64 functions run under {by} on this host: their timings (init, durations) are emulated, not Graviton's"
        );
    });
}

/// Lambda's shutdown phase: `SIGTERM` to the runtime, then (by the caller) `SIGKILL` once the
/// grace period is over or it has exited.
pub(super) async fn shutdown_phase(inner: &Inner, id: &str, proc: &Proc<'_>) {
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
