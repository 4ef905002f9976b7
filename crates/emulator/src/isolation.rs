//! Who a sandbox runs as and what it sees of the file system.
//!
//! When the emulator runs as root (Lambda fidelity needs it for cgroups), a sandbox never does:
//! after joining its cgroups and before `exec`, the child enters its own mount namespace, sees
//! its function's code read-only at `<run dir>/<sandbox>/task` (its `LAMBDA_TASK_ROOT` and
//! working directory, as Lambda's `/var/task`), gets its own writable `<run dir>/<sandbox>/tmp`
//! (`TMPDIR`, `HOME`; Lambda's `/tmp`), and drops to an unprivileged user (`SUDO_UID`/`SUDO_GID`
//! when set, else [`crate::EmulatorConfig::sandbox_user`], else `nobody`). The data dir stays
//! 0700 root: `state.json`, other functions' code and the logs are out of its reach.
//!
//! The run dir is `$TMPDIR/temporal-lambda-emulator.<pid>.<n>` (0711 root: traversable, not
//! listable), removed at shutdown and, if a run was killed, by the next start.
//!
//! Not root: sandboxes run as the emulator's user with the code dir as working directory and a
//! scratch dir under the data dir, as before.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `nobody` / `nogroup` on Debian and most distributions.
pub(crate) const NOBODY: (u32, u32) = (65534, 65534);

/// Names of what an emulator process leaves on the host (its cgroups and its run dir):
/// `temporal-lambda-emulator.<pid>.<n>`.
pub(crate) const RUN_DIR_PREFIX: &str = "temporal-lambda-emulator.";

/// For a name `temporal-lambda-emulator.<pid>.<n>`: true when that emulator process is gone
/// (then what carries the name is stale). `None` for other names.
pub(crate) fn left_by_a_gone_emulator(name: &str) -> Option<bool> {
    let pid = name
        .strip_prefix(RUN_DIR_PREFIX)?
        .split('.')
        .next()?
        .parse::<u32>()
        .ok()?;
    Some(!Path::new(&format!("/proc/{pid}")).exists())
}

/// Who sandboxes run as: `None` when the emulator is not root (they run as its user). Root is
/// never chosen: a configured or `SUDO_UID` of 0 falls back to `nobody`.
pub(crate) fn sandbox_user(
    euid: u32,
    configured: Option<(u32, u32)>,
    sudo: (Option<&str>, Option<&str>),
) -> Option<(u32, u32)> {
    if euid != 0 {
        return None;
    }
    let from_sudo = match sudo {
        (Some(u), Some(g)) => u.parse().ok().zip(g.parse().ok()),
        _ => None,
    };
    let chosen = from_sudo.or(configured).unwrap_or(NOBODY);
    Some(if chosen.0 == 0 || chosen.1 == 0 {
        NOBODY
    } else {
        chosen
    })
}

/// The emulator's isolation settings, set up once at start.
#[derive(Debug)]
pub(crate) struct Isolation {
    /// `(uid, gid)` sandboxes drop to; `None` when not root.
    pub user: Option<(u32, u32)>,
    run_dir: Option<PathBuf>,
}

/// One sandbox's file-system view.
#[derive(Debug)]
pub(crate) struct SandboxFs {
    /// Its writable scratch dir (`TMPDIR`, `HOME`).
    pub tmp: PathBuf,
    /// Where it sees its code (`LAMBDA_TASK_ROOT`, working directory).
    pub task_root: PathBuf,
    /// With privilege drop: `(code dir, mount point)` to bind read-only in the child.
    pub bind: Option<(CString, CString)>,
    /// Removed when the sandbox is gone.
    dir: PathBuf,
}

impl Drop for SandboxFs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Isolation {
    /// Chooses the sandbox user and, when dropping to it, creates the run dir (after removing
    /// run dirs of emulator processes that no longer exist).
    pub(crate) fn setup(configured: Option<(u32, u32)>) -> Self {
        // SAFETY: geteuid cannot fail and touches no memory.
        let euid = unsafe { libc::geteuid() };
        let (su, sg) = (
            std::env::var("SUDO_UID").ok(),
            std::env::var("SUDO_GID").ok(),
        );
        let user = sandbox_user(euid, configured, (su.as_deref(), sg.as_deref()));
        let run_dir = user.and_then(|_| match make_run_dir(&std::env::temp_dir()) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(
                    "cannot create the sandboxes' run dir under {}: {e}",
                    std::env::temp_dir().display()
                );
                None
            }
        });
        if let Some((uid, gid)) = user {
            tracing::info!(
                uid,
                gid,
                "sandboxes run as an unprivileged user (the emulator runs as root)"
            );
        }
        Self { user, run_dir }
    }

    /// The file-system view of sandbox `id` running code from `code_dir`; `data_dir` holds the
    /// scratch dir when there is no privilege drop.
    pub(crate) fn sandbox(
        &self,
        id: &str,
        code_dir: &Path,
        data_dir: &Path,
    ) -> std::io::Result<SandboxFs> {
        let (Some((uid, gid)), Some(run)) = (self.user, &self.run_dir) else {
            let dir = data_dir.join("sandboxes").join(id);
            std::fs::create_dir_all(&dir)?;
            return Ok(SandboxFs {
                tmp: dir.clone(),
                task_root: code_dir.to_path_buf(),
                bind: None,
                dir,
            });
        };
        let dir = run.join(id);
        let mk = |p: &Path, mode: u32| std::fs::DirBuilder::new().mode(mode).create(p);
        mk(&dir, 0o700)?;
        let fs = SandboxFs {
            tmp: dir.join("tmp"),
            task_root: dir.join("task"),
            bind: None,
            dir: dir.clone(),
        };
        mk(&fs.tmp, 0o700)?;
        mk(&fs.task_root, 0o755)?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        std::os::unix::fs::chown(&fs.tmp, Some(uid), Some(gid))?;
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
        let mut fs = fs;
        fs.bind = Some((c(code_dir)?, c(&fs.task_root)?));
        Ok(fs)
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        if let Some(d) = &self.run_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn make_run_dir(tmp: &Path) -> std::io::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    remove_stale_run_dirs(tmp);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = tmp.join(format!("{RUN_DIR_PREFIX}{}.{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o711).create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
    Ok(dir)
}

/// Run dirs (owned by root) of emulator processes that are gone.
fn remove_stale_run_dirs(tmp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let gone = left_by_a_gone_emulator(&e.file_name().to_string_lossy());
        let ours = e.metadata().is_ok_and(|m| m.uid() == 0 && m.is_dir());
        if ours && gone == Some(true) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// In the child between fork and exec (async-signal-safe calls only; every argument prepared
/// before the fork): a private mount namespace with the code bound read-only at the mount
/// point, then the unprivileged user, then the mount point as working directory.
pub(crate) fn enter_in_child(
    bind: Option<&(CString, CString)>,
    user: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let check = |r: libc::c_int| {
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: unshare/mount/setgroups/setgid/setuid/chdir are async-signal-safe system calls;
    // the CStrings outlive the call (borrowed from the parent's memory, copied by fork).
    unsafe {
        if let Some((src, dst)) = bind {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                null,
                dst.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            ))?;
        }
        if let Some((uid, gid)) = user {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(gid))?;
            check(libc::setuid(uid))?;
        }
        if let Some((_, dst)) = bind {
            check(libc::chdir(dst.as_ptr()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_root_and_sudo_first() {
        assert_eq!(
            sandbox_user(1000, Some((5, 5)), (Some("7"), Some("7"))),
            None
        );
        assert_eq!(sandbox_user(0, None, (None, None)), Some(NOBODY));
        assert_eq!(sandbox_user(0, Some((5, 6)), (None, None)), Some((5, 6)));
        assert_eq!(
            sandbox_user(0, Some((5, 6)), (Some("1000"), Some("1001"))),
            Some((1000, 1001))
        );
        assert_eq!(sandbox_user(0, Some((0, 0)), (None, None)), Some(NOBODY));
        assert_eq!(sandbox_user(0, None, (Some("0"), Some("0"))), Some(NOBODY));
        assert_eq!(sandbox_user(0, None, (Some("x"), Some("1"))), Some(NOBODY));
    }
}
