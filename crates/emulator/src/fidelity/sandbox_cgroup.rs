//! One sandbox's cgroups: its limits, freezing, OOM detection, and joining them between `fork`
//! and `exec`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use super::cgroupfs::{keyed, kill_members, read, rmdir_retry, thaw_dir, write};

#[derive(Debug)]
pub(super) enum FreezerCtl {
    /// `freezer.state` of a v1 group.
    V1(PathBuf),
    /// A v2 group directory (`cgroup.freeze`, `cgroup.events`).
    V2(PathBuf),
}

#[derive(Debug)]
pub(super) enum MemoryCtl {
    V1(PathBuf),
    V2(PathBuf),
}

/// One sandbox's cgroups. Dropping it thaws and kills what is left in them and removes them.
#[derive(Debug)]
pub(crate) struct SandboxCgroup {
    pub(super) dirs: Vec<PathBuf>,
    /// CPU share enforced, in thousandths of a vCPU.
    pub cpu_millis: Option<u32>,
    /// Memory limit enforced, in MB.
    pub memory_limit_mb: Option<u32>,
    pub(super) freezer: Option<FreezerCtl>,
    pub(super) memory: Option<MemoryCtl>,
}

impl SandboxCgroup {
    /// Opens each group's `cgroup.procs` for the child to join between fork and exec.
    pub(crate) fn procs_files(&self) -> Vec<OwnedFd> {
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
    pub(crate) fn can_freeze(&self) -> bool {
        self.freezer.is_some()
    }

    /// Asks the kernel to freeze the group; does not wait (see [`Self::is_frozen`]).
    pub(crate) fn request_freeze(&self) -> bool {
        self.write_freezer(true)
    }

    /// Thaws the group (also undoes a freeze still in progress). The kernel thaws at once.
    pub(crate) fn thaw(&self) -> bool {
        self.write_freezer(false)
    }

    /// True once the kernel reports every task of the group stopped. A group whose tasks are
    /// exiting (killed) may never get there.
    pub(crate) fn is_frozen(&self) -> bool {
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
    pub(crate) fn oom_killed(&self) -> bool {
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
