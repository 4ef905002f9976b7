//! cgroup file-system primitives: reading and writing control files, the mounted hierarchies,
//! thawing, killing members and removing groups.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

pub(super) fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `key N` from a flat-keyed cgroup file (`memory.oom_control`, `memory.events`).
pub(super) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Mount points of cgroup hierarchies, from `/proc/self/mountinfo`: `(v1 controller → dir, v2 dir)`.
pub(super) fn mounts(mountinfo: &str) -> (Vec<(String, PathBuf)>, Option<PathBuf>) {
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

/// Thaws, kills and removes a group and its children (best effort).
pub(super) fn remove_tree(dir: &Path) {
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

pub(super) fn thaw_dir(dir: &Path) {
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
pub(super) fn kill_members(dir: &Path) {
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
pub(super) fn rmdir_retry(dir: &Path) {
    for _ in 0..1000 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    tracing::debug!(dir = %dir.display(), "could not remove a sandbox cgroup");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
