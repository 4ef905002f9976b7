//! Host-side measurements: peak RSS of a sandbox's process tree, stopping an idle sandbox, and
//! the zipped size of a deployment package.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Sum of `VmHWM` (peak resident set over each process's life) of every live process in process
/// group `pgid` (a sandbox: the emulator starts each `bootstrap` as a group leader), MiB.
pub(crate) fn tree_peak_rss_mb(pgid: u32) -> Option<f64> {
    let mut kb = 0u64;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let pgrp: Option<u32> = rest.split_whitespace().nth(2).and_then(|p| p.parse().ok());
        if pgrp != Some(pgid) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if let Some(v) = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        {
            kb += v;
            found = true;
        }
    }
    found.then(|| kb as f64 / 1024.0)
}

/// SIGKILL to the process group of an idle sandbox the bench's own emulator started (the
/// emulator notices the exit and removes the sandbox), so the next invocation is cold. With Lambda
/// fidelity an idle sandbox is frozen, and a frozen process (cgroup v1 freezer) dies only once
/// thawed: the sandbox's freezer cgroup is thawed right after the signal.
pub(crate) fn kill_sandbox(pgid: u32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    let freezer = freezer_of(pgid as u32);
    // SAFETY: kill(2) on a process group we started; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    if let Some((file, thawed)) = freezer {
        let _ = std::fs::write(file, thawed);
    }
}

/// The freezer control file of `pid`'s cgroup and the value that thaws it: v1
/// `freezer.state` ← `THAWED`, v2 `cgroup.freeze` ← `0`; `None` if it has neither.
fn freezer_of(pid: u32) -> Option<(std::path::PathBuf, &'static str)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    parse_freezer(&text).filter(|(f, _)| f.exists())
}

fn parse_freezer(proc_cgroup: &str) -> Option<(std::path::PathBuf, &'static str)> {
    let mut v2 = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if ctrls.split(',').any(|c| c == "freezer") {
            return Some((
                Path::new("/sys/fs/cgroup/freezer")
                    .join(rel)
                    .join("freezer.state"),
                "THAWED",
            ));
        }
        if ctrls.is_empty() {
            v2 = Some((
                Path::new("/sys/fs/cgroup").join(rel).join("cgroup.freeze"),
                "0",
            ));
        }
    }
    v2
}

/// `/proc/loadavg`'s 1, 5 and 15 min load averages, as printed there.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// Paths (relative to a function directory) left out of the package measurement: the runtime
/// interface clients (AWS's managed Python and Node.js runtimes ship them; the emulator runs the
/// peers as custom runtimes, so they are installed next to the code) and the bench's own stamps.
const NOT_PACKAGED: [&str; 5] = [
    "awslambdaric",
    "runtime_client",
    "node_modules/aws-lambda-ric",
    ".stamp",
    "python-path",
];

/// Size of a Lambda deployment zip of `path` (a file → zip holding it as `bootstrap`; a
/// directory → zip of its tree, skipping `__pycache__` and [`NOT_PACKAGED`]), deflate at the
/// default level, bytes. Also returns the unzipped size.
pub(crate) fn zip_size(path: &Path) -> Result<(u64, u64)> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let file_opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut raw = 0u64;
    let mut add = |zip: &mut zip::ZipWriter<_>, rel: &str, file: &Path| -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(file).with_context(|| format!("{}", file.display()))?;
        let bytes = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
        raw += bytes.len() as u64;
        zip.start_file(
            rel,
            file_opts.unix_permissions(meta.permissions().mode() & 0o777),
        )?;
        zip.write_all(&bytes)?;
        Ok(())
    };
    if path.is_file() {
        add(&mut zip, "bootstrap", path)?;
    } else {
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("{}", dir.display()))?
                .flatten()
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                let rel = p.strip_prefix(path)?.to_string_lossy().into_owned();
                if NOT_PACKAGED.iter().any(|x| rel.starts_with(x)) {
                    continue;
                }
                let ft = e.file_type()?;
                if ft.is_dir() {
                    if e.file_name() != "__pycache__" {
                        stack.push(p);
                    }
                } else if ft.is_file() || ft.is_symlink() && p.is_file() {
                    add(&mut zip, &rel, &p)?;
                }
            }
        }
    }
    let bytes = zip.finish()?.into_inner();
    Ok((bytes.len() as u64, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_of_our_own_process_group() {
        // SAFETY: getpgrp(2) has no preconditions.
        let pgid = unsafe { libc::getpgrp() } as u32;
        let mb = tree_peak_rss_mb(pgid).expect("this process is in its own group's list");
        assert!(mb > 1.0, "{mb} MB");
        assert_eq!(tree_peak_rss_mb(u32::MAX - 1), None);
    }

    #[test]
    fn zips_files_and_trees_leaving_out_the_runtime_clients() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("handler.py"), "x".repeat(1000)).unwrap();
        std::fs::create_dir_all(root.join("pkg/__pycache__")).unwrap();
        std::fs::write(root.join("pkg/mod.py"), "y".repeat(500)).unwrap();
        std::fs::write(root.join("pkg/__pycache__/mod.pyc"), "z".repeat(7000)).unwrap();
        std::fs::create_dir_all(root.join("awslambdaric")).unwrap();
        std::fs::write(root.join("awslambdaric/x.py"), "w".repeat(9000)).unwrap();
        std::fs::write(root.join("python-path"), "/usr/bin/python3").unwrap();
        let (zipped, raw) = zip_size(root).unwrap();
        assert_eq!(raw, 1500);
        assert!(zipped > 0 && zipped < 1500, "{zipped}");
        let (_, raw) = zip_size(&root.join("handler.py")).unwrap();
        assert_eq!(raw, 1000);
    }
}

#[cfg(test)]
mod freezer_tests {
    use super::*;

    #[test]
    fn finds_the_v1_freezer_else_the_v2_group() {
        let v1 = "12:freezer:/temporal-lambda-1/sbx-3\n4:cpu,cpuacct:/x\n0::/\n";
        let (f, v) = parse_freezer(v1).unwrap();
        assert_eq!(
            f,
            Path::new("/sys/fs/cgroup/freezer/temporal-lambda-1/sbx-3/freezer.state")
        );
        assert_eq!(v, "THAWED");
        let (f, v) = parse_freezer("0::/emu/sbx-1\n").unwrap();
        assert_eq!(f, Path::new("/sys/fs/cgroup/emu/sbx-1/cgroup.freeze"));
        assert_eq!(v, "0");
    }
}
