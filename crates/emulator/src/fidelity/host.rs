//! The emulator's cgroups on this host: which hierarchies are mounted and writable, the parent
//! groups it creates (and removes at drop), what fidelity is actually enforced.

use std::path::{Path, PathBuf};

use super::cgroupfs::{mounts, read, remove_tree, thaw_dir, write};
use super::sandbox_cgroup::{FreezerCtl, MemoryCtl, SandboxCgroup};
use super::{cpu_millis, cpu_quota_us, Fidelity, CPU_PERIOD_US};
use crate::isolation::RUN_DIR_PREFIX as PARENT_PREFIX;

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

impl CgroupHost {
    /// Sets up what `wanted` needs under the host's cgroup mounts. Logs one notice for whatever
    /// the host cannot do; never fails.
    pub(crate) fn setup(wanted: Fidelity) -> Self {
        if wanted.is_off() {
            return Self {
                layout: None,
                effective: Fidelity::OFF,
                restore_root: None,
            };
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
        let (layout, restore_root) = if find("cpu").is_some() || find("memory").is_some() {
            let layout = Layout::V1 {
                cpu: parent_group(wanted.cpu, "cpu", find("cpu"), &mut problems),
                memory: parent_group(wanted.memory, "memory", find("memory"), &mut problems),
                freezer: parent_group(wanted.freeze, "freezer", find("freezer"), &mut problems),
            };
            (layout, None)
        } else if let Some(root) = v2 {
            v2_layout(wanted, &root, &mut problems)
        } else {
            problems.push("no cgroup hierarchy is mounted".to_string());
            (Layout::NONE, None)
        };
        let effective = effective_fidelity(wanted, &layout, &problems);
        Self {
            layout: Some(layout),
            effective,
            restore_root,
        }
    }

    /// Creates a sandbox's groups with its limits: `memory_mb`, and a CPU share proportional to
    /// it, or `vcpus` whole vCPUs (a Lambda Managed Instances environment). A failure leaves
    /// that limit off (logged).
    pub(crate) fn sandbox(&self, id: &str, memory_mb: u32, vcpus: Option<u32>) -> SandboxCgroup {
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
        let (quota, share) = match vcpus {
            Some(v) => (u64::from(v) * CPU_PERIOD_US, v * 1000),
            None => (cpu_quota_us(memory_mb), cpu_millis(memory_mb)),
        };
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
                        sb.cpu_millis = Some(share);
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
                        sb.cpu_millis = Some(share);
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
    pub(crate) fn thaw_all(&self) {
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

impl Layout {
    /// No parent group in any hierarchy.
    const NONE: Layout = Layout::V1 {
        cpu: None,
        memory: None,
        freezer: None,
    };
}

/// The parent group in a v1 hierarchy when `want`ed and mounted (a failure is noted in
/// `problems`).
fn parent_group(
    want: bool,
    name: &str,
    root: Option<PathBuf>,
    problems: &mut Vec<String>,
) -> Option<PathBuf> {
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
}

/// The parent group in the v2 hierarchy at `root`, with the `cpu` and `memory` controllers
/// enabled as wanted; also the root's `cgroup.subtree_control` and the controllers enabled there
/// that were off (to disable again at drop).
fn v2_layout(
    wanted: Fidelity,
    root: &Path,
    problems: &mut Vec<String>,
) -> (Layout, Option<(PathBuf, Vec<String>)>) {
    let controllers = read(&root.join("cgroup.controllers")).unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    let dir = match make_parent(root) {
        Ok(dir) => dir,
        Err(e) => {
            problems.push(format!("cgroup v2 {}: {e}", root.display()));
            return (Layout::NONE, None);
        }
    };
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
    (Layout::V2 { dir, cpu, memory }, Some((root_control, added)))
}

/// What `layout` enforces of `wanted`; logs one notice (a warning naming what is missing and
/// why, or what is enforced).
fn effective_fidelity(wanted: Fidelity, layout: &Layout, problems: &[String]) -> Fidelity {
    let (cpu, memory, cg_freeze) = match layout {
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
    effective
}
