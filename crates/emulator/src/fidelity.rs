//! Lambda-faithful sandboxes: a CPU share proportional to the memory size (1,769 MB = 1 vCPU), a
//! memory limit of the memory size with no swap, and freezing between invocations.
//!
//! Done with cgroups where the host lets us write them (v1 `cpu`/`memory`/`freezer` hierarchies
//! or a v2 unified hierarchy with the `cpu` and `memory` controllers). Each emulator creates one
//! parent group per hierarchy (`temporal-lambda-emulator.<pid>`) and one child per sandbox; the
//! `bootstrap` process joins its children between `fork` and `exec`, so it never runs unlimited.
//! Where cgroups cannot be written, CPU and memory are not limited (one notice at start) and
//! freezing falls back to `SIGSTOP`/`SIGCONT` of the sandbox's process group.

use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Memory size that Lambda gives one full vCPU: CPU share = `MemorySize / 1769` of one CPU.
pub const MB_PER_VCPU: u32 = 1769;

/// CFS period used for the CPU quota.
const CPU_PERIOD_US: u64 = 100_000;

/// Which Lambda behaviours the emulator reproduces per sandbox. Parse with [`FromStr`]: `lambda`
/// (all), `off` (none), or a comma list of `cpu`, `memory`, `freeze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fidelity {
    /// CPU quota of `MemorySize / 1769` of one CPU (needs a writable `cpu` cgroup).
    pub cpu: bool,
    /// Memory limit of `MemorySize`, no swap; an OOM kill is reported as `Runtime.OutOfMemory`
    /// (needs a writable `memory` cgroup).
    pub memory: bool,
    /// Freeze the sandbox from the runtime's `next` request until the next invocation is handed
    /// over (freezer cgroup, else `SIGSTOP`/`SIGCONT` of the process group).
    pub freeze: bool,
}

impl Fidelity {
    /// Everything off: every sandbox gets the whole machine and keeps running between invocations.
    pub const OFF: Fidelity = Fidelity {
        cpu: false,
        memory: false,
        freeze: false,
    };
    /// Everything on, as Lambda runs functions.
    pub const LAMBDA: Fidelity = Fidelity {
        cpu: true,
        memory: true,
        freeze: true,
    };

    /// True if nothing is enforced.
    pub fn is_off(&self) -> bool {
        *self == Self::OFF
    }
}

impl Default for Fidelity {
    /// [`Fidelity::OFF`] for the library (opt in with [`Fidelity::LAMBDA`]).
    fn default() -> Self {
        Self::OFF
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::LAMBDA {
            return f.write_str("lambda");
        }
        if self.is_off() {
            return f.write_str("off");
        }
        let parts: Vec<&str> = [
            (self.cpu, "cpu"),
            (self.memory, "memory"),
            (self.freeze, "freeze"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Fidelity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "lambda" | "on" | "all" => return Ok(Self::LAMBDA),
            "off" | "none" | "" => return Ok(Self::OFF),
            _ => {}
        }
        let mut f = Self::OFF;
        for part in s.split(',').map(str::trim) {
            match part {
                "cpu" => f.cpu = true,
                "memory" => f.memory = true,
                "freeze" => f.freeze = true,
                other => {
                    return Err(format!(
                        "unknown fidelity `{other}`: use `lambda`, `off`, or a comma list of cpu, memory, freeze"
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// The CPU share Lambda gives a function of `memory_mb`, in thousandths of a vCPU (128 MB → 72).
pub fn cpu_millis(memory_mb: u32) -> u32 {
    ((u64::from(memory_mb) * 1000).div_ceil(u64::from(MB_PER_VCPU))) as u32
}

fn cpu_quota_us(memory_mb: u32) -> u64 {
    // The kernel's minimum quota is 1 ms per period.
    (u64::from(memory_mb) * CPU_PERIOD_US / u64::from(MB_PER_VCPU)).max(1000)
}

#[derive(Debug, Clone)]
enum Layout {
    /// One parent directory per v1 hierarchy we use.
    V1 {
        cpu: Option<PathBuf>,
        memory: Option<PathBuf>,
        freezer: Option<PathBuf>,
    },
    /// The parent directory in the unified hierarchy.
    V2 {
        dir: PathBuf,
        cpu: bool,
        memory: bool,
    },
}

/// The emulator's cgroups: what the host allowed, and the parent groups it created.
#[derive(Debug)]
pub(crate) struct CgroupHost {
    layout: Option<Layout>,
    /// cgroup v2: the root's `cgroup.subtree_control` and the controllers this emulator enabled
    /// there (they were off): disabled again at drop, so the host is left as found.
    restore_root: Option<(PathBuf, Vec<String>)>,
    /// What is actually enforced (the configured fidelity minus what the host cannot do;
    /// freezing falls back to signals, so it is always possible).
    pub effective: Fidelity,
}

use crate::isolation::RUN_DIR_PREFIX as PARENT_PREFIX;

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `key N` from a flat-keyed cgroup file (`memory.oom_control`, `memory.events`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Mount points of cgroup hierarchies, from `/proc/self/mountinfo`: `(v1 controller → dir, v2 dir)`.
fn mounts(mountinfo: &str) -> (Vec<(String, PathBuf)>, Option<PathBuf>) {
    let mut v1 = Vec::new();
    let mut v2 = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let mut r = right.split_whitespace();
        let fstype = r.next().unwrap_or("");
        let _source = r.next();
        let opts = r.next().unwrap_or("");
        match fstype {
            "cgroup" => {
                for c in opts.split(',') {
                    if matches!(c, "cpu" | "memory" | "freezer") {
                        v1.push((c.to_string(), PathBuf::from(mount_point)));
                    }
                }
            }
            "cgroup2" => v2 = Some(PathBuf::from(mount_point)),
            _ => {}
        }
    }
    (v1, v2)
}

/// Creates `<root>/temporal-lambda-emulator.<pid>.<n>` (one per emulator, several may run in one
/// process). Stale ones of dead emulator processes are removed first by `setup`.
fn make_parent(root: &Path) -> std::io::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = root.join(format!("{PARENT_PREFIX}{}.{n}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// Removes parent groups left by emulators that died without cleaning up: thaws and kills what
/// is still in them, then removes the directories.
fn clean_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if crate::isolation::left_by_a_gone_emulator(&name) == Some(true) {
            remove_tree(&e.path());
        }
    }
}

/// Thaws, kills and removes a group and its children (best effort).
fn remove_tree(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for c in children.flatten() {
            if c.path().is_dir() {
                remove_tree(&c.path());
            }
        }
    }
    thaw_dir(dir);
    kill_members(dir);
    rmdir_retry(dir);
}

fn thaw_dir(dir: &Path) {
    let v1 = dir.join("freezer.state");
    if v1.exists() {
        let _ = write(&v1, "THAWED");
    }
    let v2 = dir.join("cgroup.freeze");
    if v2.exists() {
        let _ = write(&v2, "0");
    }
}

/// SIGKILLs the processes listed in a group (they are alive members, so their pids are current).
fn kill_members(dir: &Path) {
    if let Some(procs) = read(&dir.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            if pid > 1 {
                // SAFETY: kill(2) with a positive pid; no memory is involved.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// rmdir fails with EBUSY while exiting members are still being removed: retry for up to 2 s
/// (a killed process leaves its groups when the kernel has torn it down; cgroup v1 signals
/// nothing then, so this polls).
fn rmdir_retry(dir: &Path) {
    for _ in 0..1000 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    tracing::debug!(dir = %dir.display(), "could not remove a sandbox cgroup");
}

impl CgroupHost {
    /// Sets up what `wanted` needs under the host's cgroup mounts. Logs one notice for whatever
    /// the host cannot do; never fails.
    pub fn setup(wanted: Fidelity) -> Self {
        let off = Self {
            layout: None,
            effective: Fidelity::OFF,
            restore_root: None,
        };
        let mut restore_root = None;
        if wanted.is_off() {
            return off;
        }
        let mountinfo = read(Path::new("/proc/self/mountinfo")).unwrap_or_default();
        let (v1, v2) = mounts(&mountinfo);
        let find = |c: &str| v1.iter().find(|(n, _)| n == c).map(|(_, p)| p.clone());
        // Groups left by emulators that were killed: freezer first, as a frozen process cannot
        // die (and leave its cpu and memory groups) until it is thawed.
        for root in [find("freezer"), find("cpu"), find("memory"), v2.clone()]
            .into_iter()
            .flatten()
        {
            clean_stale(&root);
        }
        let mut problems = Vec::new();
        let mut parent = |want: bool, name: &str, root: Option<PathBuf>| -> Option<PathBuf> {
            if !want {
                return None;
            }
            let root = root?;
            match make_parent(&root) {
                Ok(d) => Some(d),
                Err(e) => {
                    problems.push(format!("{name} cgroup {}: {e}", root.display()));
                    None
                }
            }
        };
        let layout = if find("cpu").is_some() || find("memory").is_some() {
            let cpu = parent(wanted.cpu, "cpu", find("cpu"));
            let memory = parent(wanted.memory, "memory", find("memory"));
            let freezer = parent(wanted.freeze, "freezer", find("freezer"));
            Layout::V1 {
                cpu,
                memory,
                freezer,
            }
        } else if let Some(root) = v2 {
            let controllers = read(&root.join("cgroup.controllers")).unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            match make_parent(&root) {
                Ok(dir) => {
                    let root_control = root.join("cgroup.subtree_control");
                    let before = read(&root_control).unwrap_or_default();
                    let mut added = Vec::new();
                    let mut enable = |c: &str, want: bool| -> bool {
                        if !want || !has(c) {
                            return false;
                        }
                        let was_on = before.split_whitespace().any(|x| x == c);
                        let ok = write(&root_control, &format!("+{c}")).and_then(|_| {
                            if !was_on {
                                added.push(c.to_string());
                            }
                            write(&dir.join("cgroup.subtree_control"), &format!("+{c}"))
                        });
                        if let Err(e) = &ok {
                            problems.push(format!("enabling the {c} controller: {e}"));
                        }
                        ok.is_ok()
                    };
                    let cpu = enable("cpu", wanted.cpu);
                    let memory = enable("memory", wanted.memory);
                    restore_root = Some((root_control, added));
                    Layout::V2 { dir, cpu, memory }
                }
                Err(e) => {
                    problems.push(format!("cgroup v2 {}: {e}", root.display()));
                    Layout::V1 {
                        cpu: None,
                        memory: None,
                        freezer: None,
                    }
                }
            }
        } else {
            problems.push("no cgroup hierarchy is mounted".to_string());
            Layout::V1 {
                cpu: None,
                memory: None,
                freezer: None,
            }
        };
        let (cpu, memory, cg_freeze) = match &layout {
            Layout::V1 {
                cpu,
                memory,
                freezer,
            } => (cpu.is_some(), memory.is_some(), freezer.is_some()),
            Layout::V2 { cpu, memory, .. } => (*cpu, *memory, true),
        };
        let effective = Fidelity {
            cpu: wanted.cpu && cpu,
            memory: wanted.memory && memory,
            freeze: wanted.freeze,
        };
        let freeze_by_signal = wanted.freeze && !cg_freeze;
        let mut missing = Vec::new();
        if wanted.cpu && !cpu {
            missing.push("CPU is not limited");
        }
        if wanted.memory && !memory {
            missing.push("memory is not limited");
        }
        if freeze_by_signal {
            missing.push("freezing uses SIGSTOP/SIGCONT");
        }
        if !missing.is_empty() {
            tracing::warn!(
                "Lambda fidelity: cgroups are not writable here ({}); {}. Run as root on a host \
                 with cgroup v1 cpu/memory/freezer or cgroup v2 cpu/memory controllers for the full \
                 behaviour, or start with fidelity off to silence this.",
                if problems.is_empty() {
                    "controllers not mounted".to_string()
                } else {
                    problems.join("; ")
                },
                missing.join(", ")
            );
        } else {
            tracing::info!(fidelity = %effective, "Lambda fidelity: sandboxes get CPU by memory size, a memory limit and are frozen between invocations");
        }
        Self {
            layout: Some(layout),
            effective,
            restore_root,
        }
    }

    /// Creates a sandbox's groups with its limits. A failure leaves that limit off (logged).
    pub fn sandbox(&self, id: &str, memory_mb: u32) -> SandboxCgroup {
        let mut sb = SandboxCgroup {
            dirs: Vec::new(),
            cpu_millis: None,
            memory_limit_mb: None,
            freezer: None,
            memory: None,
        };
        let Some(layout) = &self.layout else {
            return sb;
        };
        let bytes = u64::from(memory_mb) * 1024 * 1024;
        let quota = cpu_quota_us(memory_mb);
        let mut mk = |parent: &Path| -> Option<PathBuf> {
            let d = parent.join(id);
            match std::fs::create_dir(&d) {
                Ok(()) => {
                    sb.dirs.push(d.clone());
                    Some(d)
                }
                Err(e) => {
                    tracing::warn!(sandbox = id, dir = %d.display(), "cannot create the sandbox's cgroup: {e}");
                    None
                }
            }
        };
        match layout {
            Layout::V1 {
                cpu,
                memory,
                freezer,
            } => {
                if let Some(d) = cpu.as_deref().and_then(&mut mk) {
                    if write(&d.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())
                        .and_then(|_| write(&d.join("cpu.cfs_quota_us"), &quota.to_string()))
                        .is_ok()
                    {
                        sb.cpu_millis = Some(cpu_millis(memory_mb));
                    }
                }
                if let Some(d) = memory.as_deref().and_then(&mut mk) {
                    let _ = write(&d.join("memory.swappiness"), "0");
                    if write(&d.join("memory.limit_in_bytes"), &bytes.to_string()).is_ok() {
                        // No swap: memory+swap capped at the same value (absent without swap accounting).
                        let _ = write(&d.join("memory.memsw.limit_in_bytes"), &bytes.to_string());
                        sb.memory_limit_mb = Some(memory_mb);
                        sb.memory = Some(MemoryCtl::V1(d));
                    }
                }
                if let Some(d) = freezer.as_deref().and_then(&mut mk) {
                    sb.freezer = Some(FreezerCtl::V1(d.join("freezer.state")));
                }
            }
            Layout::V2 { dir, cpu, memory } => {
                if let Some(d) = mk(dir) {
                    if *cpu
                        && write(&d.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}")).is_ok()
                    {
                        sb.cpu_millis = Some(cpu_millis(memory_mb));
                    }
                    if *memory && write(&d.join("memory.max"), &bytes.to_string()).is_ok() {
                        let _ = write(&d.join("memory.swap.max"), "0");
                        sb.memory_limit_mb = Some(memory_mb);
                        sb.memory = Some(MemoryCtl::V2(d.clone()));
                    }
                    sb.freezer = Some(FreezerCtl::V2(d));
                }
            }
        }
        if !self.effective.cpu {
            sb.cpu_millis = None;
        }
        if !self.effective.freeze {
            sb.freezer = None;
        }
        sb
    }

    /// Thaws every sandbox (a frozen v1 process cannot die of SIGKILL until thawed).
    pub fn thaw_all(&self) {
        for dir in self.parents() {
            if let Ok(children) = std::fs::read_dir(dir) {
                for c in children.flatten() {
                    thaw_dir(&c.path());
                }
            }
        }
    }

    fn parents(&self) -> Vec<&Path> {
        match &self.layout {
            Some(Layout::V1 {
                cpu,
                memory,
                freezer,
                // Freezer first: a frozen process cannot die (and leave its other groups) until
                // its freezer group is thawed.
            }) => [freezer, cpu, memory]
                .into_iter()
                .flatten()
                .map(PathBuf::as_path)
                .collect(),
            Some(Layout::V2 { dir, .. }) => vec![dir.as_path()],
            None => Vec::new(),
        }
    }
}

impl Drop for CgroupHost {
    fn drop(&mut self) {
        for dir in self.parents() {
            remove_tree(dir);
        }
        if let Some((control, added)) = &self.restore_root {
            for c in added {
                // Fails (EBUSY) only while another group still uses the controller: then it
                // stays on, as it is in use.
                if let Err(e) = write(control, &format!("-{c}")) {
                    tracing::debug!(controller = %c, "could not disable the controller again: {e}");
                }
            }
        }
    }
}

#[derive(Debug)]
enum FreezerCtl {
    /// `freezer.state` of a v1 group.
    V1(PathBuf),
    /// A v2 group directory (`cgroup.freeze`, `cgroup.events`).
    V2(PathBuf),
}

#[derive(Debug)]
enum MemoryCtl {
    V1(PathBuf),
    V2(PathBuf),
}

/// One sandbox's cgroups. Dropping it thaws and kills what is left in them and removes them.
#[derive(Debug)]
pub(crate) struct SandboxCgroup {
    dirs: Vec<PathBuf>,
    /// CPU share enforced, in thousandths of a vCPU.
    pub cpu_millis: Option<u32>,
    /// Memory limit enforced, in MB.
    pub memory_limit_mb: Option<u32>,
    freezer: Option<FreezerCtl>,
    memory: Option<MemoryCtl>,
}

impl SandboxCgroup {
    /// Opens each group's `cgroup.procs` for the child to join between fork and exec.
    pub fn procs_files(&self) -> Vec<OwnedFd> {
        self.dirs
            .iter()
            .filter_map(|d| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("cgroup.procs"))
                    .map(OwnedFd::from)
                    .ok()
            })
            .collect()
    }

    /// True if freezing is done by this cgroup (else the caller may use signals).
    pub fn can_freeze(&self) -> bool {
        self.freezer.is_some()
    }

    /// Asks the kernel to freeze the group; does not wait (see [`Self::is_frozen`]).
    pub fn request_freeze(&self) -> bool {
        self.write_freezer(true)
    }

    /// Thaws the group (also undoes a freeze still in progress). The kernel thaws at once.
    pub fn thaw(&self) -> bool {
        self.write_freezer(false)
    }

    /// True once the kernel reports every task of the group stopped. A group whose tasks are
    /// exiting (killed) may never get there.
    pub fn is_frozen(&self) -> bool {
        match &self.freezer {
            Some(FreezerCtl::V1(state)) => read(state).is_some_and(|v| v.trim() == "FROZEN"),
            Some(FreezerCtl::V2(dir)) => {
                read(&dir.join("cgroup.events")).and_then(|t| keyed(&t, "frozen")) == Some(1)
            }
            None => false,
        }
    }

    fn write_freezer(&self, frozen: bool) -> bool {
        let (file, value) = match &self.freezer {
            Some(FreezerCtl::V1(state)) => {
                (state.clone(), if frozen { "FROZEN" } else { "THAWED" })
            }
            Some(FreezerCtl::V2(dir)) => {
                (dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
            }
            None => return false,
        };
        if let Err(e) = write(&file, value) {
            tracing::warn!(file = %file.display(), "cannot {} the sandbox: {e}", if frozen { "freeze" } else { "thaw" });
            return false;
        }
        true
    }

    /// True if the kernel's OOM killer killed a process of this sandbox.
    pub fn oom_killed(&self) -> bool {
        match &self.memory {
            Some(MemoryCtl::V1(d)) => {
                let ctl = read(&d.join("memory.oom_control")).unwrap_or_default();
                keyed(&ctl, "oom_kill").unwrap_or(0) > 0
            }
            Some(MemoryCtl::V2(d)) => {
                keyed(
                    &read(&d.join("memory.events")).unwrap_or_default(),
                    "oom_kill",
                )
                .unwrap_or(0)
                    > 0
            }
            None => false,
        }
    }
}

/// Writes `0` ("the calling process") to each opened `cgroup.procs`: called in the child after
/// fork, before exec. Only async-signal-safe calls.
pub(crate) fn join_in_child(fds: &[std::os::fd::RawFd]) -> std::io::Result<()> {
    for fd in fds {
        // SAFETY: write(2) of a 1-byte static buffer to an fd the parent opened for us.
        let n = unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) };
        if n != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Raw fds of [`SandboxCgroup::procs_files`], for the `pre_exec` closure.
pub(crate) fn raw_fds(files: &[OwnedFd]) -> Vec<std::os::fd::RawFd> {
    files.iter().map(AsRawFd::as_raw_fd).collect()
}

impl Drop for SandboxCgroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            thaw_dir(d);
        }
        for d in &self.dirs {
            kill_members(d);
        }
        for d in &self.dirs {
            rmdir_retry(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fidelity_parses_and_prints() {
        assert_eq!("lambda".parse::<Fidelity>().unwrap(), Fidelity::LAMBDA);
        assert_eq!("off".parse::<Fidelity>().unwrap(), Fidelity::OFF);
        let f: Fidelity = "cpu, freeze".parse().unwrap();
        assert!(f.cpu && f.freeze && !f.memory);
        assert_eq!(f.to_string(), "cpu,freeze");
        assert_eq!(Fidelity::LAMBDA.to_string(), "lambda");
        let e = "cpu,gpu".parse::<Fidelity>().unwrap_err();
        assert!(e.contains("gpu") && e.contains("lambda"), "{e}");
    }

    #[test]
    fn cpu_share_follows_memory() {
        assert_eq!(cpu_millis(1769), 1000);
        assert_eq!(cpu_millis(128), 73);
        assert_eq!(cpu_millis(256), 145);
        assert_eq!(cpu_quota_us(1769), 100_000);
        assert_eq!(cpu_quota_us(3538), 200_000);
        assert_eq!(cpu_quota_us(128), 7_235);
        assert_eq!(cpu_quota_us(1), 1000, "kernel minimum");
    }

    #[test]
    fn mountinfo_is_parsed_for_both_layouts() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/freezer rw,relatime shared:11 - cgroup cgroup rw,freezer
33 25 0:29 / /sys/fs/cgroup/unified rw,relatime shared:12 - cgroup2 cgroup2 rw
34 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpuacct
";
        let (v1, v2) = mounts(text);
        assert_eq!(v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        let names: Vec<_> = v1.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["cpu", "memory", "freezer"]);
    }

    #[test]
    fn keyed_files() {
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed(oom, "oom_kill"), Some(2));
        assert_eq!(keyed(oom, "under_oom"), Some(0));
        assert_eq!(keyed("populated 1\nfrozen 1\n", "frozen"), Some(1));
        assert_eq!(keyed("", "frozen"), None);
    }
}
