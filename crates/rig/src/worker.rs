//! The worker crate a rig runs: found and built with cargo ([`resolve_worker`],
//! [`build_worker`]), and where the pinned Temporal CLI lives ([`tool_root`]).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{step, LocalError};

/// The worker crate to run on the rig, as cargo selects it.
#[derive(Debug, Clone, Default)]
pub struct WorkerSource {
    /// `--manifest-path` (default: the `Cargo.toml` cargo finds from the current directory).
    pub manifest_path: Option<PathBuf>,
    /// `-p/--package` (default: the manifest's package, or the only package with the bin).
    pub package: Option<String>,
    /// Binary target (default `bootstrap`).
    pub bin: Option<String>,
    /// Build with `--release` (default: debug, quick to rebuild).
    pub release: bool,
}

/// A worker crate found by [`resolve_worker`].
#[derive(Debug, Clone)]
pub struct WorkerCrate {
    /// Package name.
    pub package: String,
    /// Its `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// Binary target name.
    pub bin: String,
    /// Cargo's target directory (the rig keeps its state under it).
    pub target_dir: PathBuf,
    /// The root of the crate's workspace (its own directory when it is not a member of one).
    pub workspace_root: PathBuf,
    /// Build in release mode.
    pub release: bool,
}

impl WorkerCrate {
    /// Built by the same `cargo build` as `other` (same manifest, package and bin), so one
    /// `bootstrap` serves both.
    pub fn same_build(&self, other: &WorkerCrate) -> bool {
        self.manifest_path == other.manifest_path
            && self.package == other.package
            && self.bin == other.bin
    }

    /// Where the rig keeps the emulator's and the dev server's state for this crate:
    /// `<target dir>/temporal-lambda/rig`.
    pub fn state_dir(&self) -> PathBuf {
        self.target_dir.join("temporal-lambda").join("rig")
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Finds the worker crate with `cargo metadata`: the package named by `-p`, else the one whose
/// manifest is `--manifest-path` (or the current directory's), else — in a workspace — the only
/// package with the bin. Refuses a package with no such bin or that does not depend on
/// `temporal-lambda-worker`, saying what to add.
pub fn resolve_worker(src: &WorkerSource) -> Result<WorkerCrate, LocalError> {
    let bin = src.bin.clone().unwrap_or_else(|| "bootstrap".into());
    let meta = cargo_metadata(src.manifest_path.as_deref())?;
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let workspace_root = PathBuf::from(meta["workspace_root"].as_str().unwrap_or("."));
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let chosen = choose_package(src, &packages, &workspace_root, &bin)?;
    check_worker(chosen, &bin)?;
    Ok(WorkerCrate {
        package: chosen["name"].as_str().unwrap_or_default().to_string(),
        manifest_path: PathBuf::from(chosen["manifest_path"].as_str().unwrap_or_default()),
        bin,
        target_dir,
        workspace_root,
        release: src.release,
    })
}

/// `cargo metadata --no-deps` of `manifest_path` (default: the current directory's workspace).
fn cargo_metadata(manifest_path: Option<&Path>) -> Result<serde_json::Value, LocalError> {
    let mut cmd = cargo();
    cmd.args(["metadata", "--format-version", "1", "--no-deps"]);
    if let Some(m) = manifest_path {
        cmd.arg("--manifest-path").arg(m);
    }
    let out = cmd
        .output()
        .map_err(step("running cargo metadata (is cargo on PATH?)"))?;
    if !out.status.success() {
        return Err(LocalError::Step {
            step: "finding the worker crate (cargo metadata)",
            reason: format!(
                "{}; run this in a Rust worker crate, pass --manifest-path <Cargo.toml>, or create one with `temporal-lambda new <dir>`",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(step("reading cargo metadata"))
}

/// The package (of `cargo metadata`) has a binary target named `bin`.
fn has_bin(package: &serde_json::Value, bin: &str) -> bool {
    package["targets"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            t["name"] == bin
                && t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
    })
}

/// The package `src` selects: by `-p`, else by manifest (`--manifest-path` or the current
/// directory's, when it is a package), else the only one with the bin.
fn choose_package<'a>(
    src: &WorkerSource,
    packages: &'a [serde_json::Value],
    workspace_root: &Path,
    bin: &str,
) -> Result<&'a serde_json::Value, LocalError> {
    let not_found = |reason: String| LocalError::Step {
        step: "finding the worker crate",
        reason,
    };
    if let Some(name) = &src.package {
        return packages
            .iter()
            .find(|p| p["name"] == name.as_str())
            .ok_or_else(|| {
                not_found(format!(
                    "no package `{name}` in the workspace at {}; packages: {}",
                    workspace_root.display(),
                    names(packages)
                ))
            });
    }
    let manifest = match &src.manifest_path {
        Some(m) => std::fs::canonicalize(m).ok(),
        None => std::env::current_dir()
            .ok()
            .map(|d| d.join("Cargo.toml"))
            .filter(|m| m.is_file()),
    };
    let by_manifest = manifest.as_ref().and_then(|m| {
        packages
            .iter()
            .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(m.as_path()))
    });
    if let Some(p) = by_manifest {
        return Ok(p);
    }
    let with_bin: Vec<&serde_json::Value> = packages.iter().filter(|p| has_bin(p, bin)).collect();
    match with_bin.as_slice() {
        [one] => Ok(one),
        [] => Err(not_found(format!(
            "no package in the workspace at {} has a `{bin}` binary; pass -p <package> (and --bin) or create a worker with `temporal-lambda new <dir>`",
            workspace_root.display()
        ))),
        many => Err(not_found(format!(
            "several packages have a `{bin}` binary ({}); choose one with -p <package>",
            many.iter()
                .filter_map(|p| p["name"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The chosen package can be a Lambda worker: it has the bin and depends on
/// `temporal-lambda-worker`.
fn check_worker(chosen: &serde_json::Value, bin: &str) -> Result<(), LocalError> {
    let package = chosen["name"].as_str().unwrap_or_default();
    let manifest_path = chosen["manifest_path"].as_str().unwrap_or_default();
    if !has_bin(chosen, bin) {
        return Err(LocalError::Step {
            step: "finding the worker crate",
            reason: format!(
                "package `{package}` ({manifest_path}) has no `{bin}` binary: Lambda's provided.al2023 runtime starts `bootstrap`. Add\n  [[bin]]\n  name = \"bootstrap\"\n  path = \"src/main.rs\"\nto its Cargo.toml (or pass --bin <name>)"
            ),
        });
    }
    let uses_worker = chosen["dependencies"].as_array().is_some_and(|ds| {
        ds.iter().any(|d| {
            d["name"] == "temporal-lambda-worker" || d["rename"] == "temporal-lambda-worker"
        })
    });
    if !uses_worker {
        return Err(LocalError::Step {
            step: "finding the worker crate",
            reason: format!(
                "package `{package}` does not depend on temporal-lambda-worker, so its `{bin}` cannot serve Lambda invocations as a Temporal worker. Add `temporal-lambda-worker` to [dependencies] and call `temporal_lambda_worker::run_worker` in main (`temporal-lambda new <dir>` shows a complete worker)"
            ),
        });
    }
    Ok(())
}

fn names(packages: &[serde_json::Value]) -> String {
    packages
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the crate's binary with cargo (its progress and any compiler errors go to stderr as
/// cargo prints them) and returns the executable's path.
pub fn build_worker(w: &WorkerCrate) -> Result<PathBuf, LocalError> {
    use std::io::BufRead as _;
    let mut cmd = cargo();
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&w.manifest_path)
        .args(["-p", &w.package, "--bin", &w.bin])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(std::process::Stdio::piped());
    if w.release {
        cmd.arg("--release");
    }
    let mut child = cmd
        .spawn()
        .map_err(step("running cargo build (is cargo on PATH?)"))?;
    let mut exe = None;
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == w.bin.as_str() {
                if let Some(e) = msg["executable"].as_str() {
                    exe = Some(PathBuf::from(e));
                }
            }
        }
    }
    let status = child.wait().map_err(step("waiting for cargo build"))?;
    if !status.success() {
        return Err(LocalError::Step {
            step: "building the worker",
            reason: format!(
                "cargo build of `{}` exited with {status}: the compiler's errors are above; fix them and run again",
                w.package
            ),
        });
    }
    exe.ok_or_else(|| LocalError::Step {
        step: "building the worker",
        reason: format!("cargo build did not report the `{}` executable", w.bin),
    })
}

/// Where the pinned Temporal CLI is looked for (and installed when missing): this repository's
/// `.venv` when run inside it, else the user cache dir (`$XDG_CACHE_HOME/temporal-lambda` or
/// `~/.cache/temporal-lambda`). `$TEMPORAL_CLI` and `temporal` on `PATH` are used first.
pub fn tool_root() -> PathBuf {
    if let Some(r) = find_repo_root() {
        return r;
    }
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("temporal-lambda")
}

pub use temporal_dev_server::find_repo_root;

pub use temporal_lambda_env::lambda_names::function_name_for;
