//! `temporal-lambda local watch`: the rig of `local up`, redeployed on every change.
//!
//! Each change to the crate's files (outside `target/` and hidden directories, debounced)
//! runs `cargo build` (its progress and errors on stderr), then deploys the new `bootstrap` as a
//! new Lambda version and points the Worker Deployment Version at it. Invocations already
//! running finish on the previous Lambda version; the watch waits for them before it reports
//! the new code live, so the next workflow runs on it. A failed build or deploy leaves the
//! previous code registered and serving. With `-o json` every event is one JSON line on stdout:
//! `ready`, `change`, `build_failed`, `deploy_failed`, `unchanged`, `deployed`, `stopped`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use crate::local_rig;

use super::rig_session::{build_worker_for, rig_json, say, start, stop, RigArgs, Served, Started};
use super::Output;

/// How long the files must be quiet before a rebuild starts (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Runs `local watch` until SIGINT/SIGTERM.
pub async fn run(output: Output, args: RigArgs, new_build_id: bool) -> anyhow::Result<()> {
    // Registered before anything starts: a Ctrl-C during a build is not lost.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let Started {
        served, mut rig, ..
    } = start(output, &args, true).await?;
    let crates = watched_crates(&served);
    let (watcher, mut rx, roots) = watch(&crates)?;
    announce_ready(output, &rig, &roots);
    let session = Session {
        output,
        served: &served,
        base_build_ids: rig
            .functions
            .iter()
            .map(|f| (f.function_name.clone(), f.build_id.clone()))
            .collect(),
        new_build_id,
        grace: args.function_timeout() + Duration::from_secs(5),
    };
    let mut rebuilds = 0u32;
    loop {
        let first = tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            p = rx.recv() => match p { Some(p) => p, None => break },
        };
        let changed = settle(first, &mut rx).await;
        if changed.is_empty() {
            continue;
        }
        rebuilds += 1;
        for (root, worker) in &crates {
            session
                .rebuild(&mut rig, root, worker, &changed, rebuilds)
                .await?;
        }
    }
    drop(watcher);
    finish(output, rig).await;
    Ok(())
}

/// Each served crate's directory with the crate, once per build.
fn watched_crates(served: &[Served]) -> Vec<(PathBuf, local_rig::WorkerCrate)> {
    let mut crates: Vec<(PathBuf, local_rig::WorkerCrate)> = Vec::new();
    for s in served {
        let root = s
            .worker
            .manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if !crates.iter().any(|(_, w)| w.same_build(&s.worker)) {
            crates.push((root, s.worker.clone()));
        }
    }
    crates
}

/// A file watcher on the crates' directories sending every changed source file; with the
/// directories watched.
#[allow(clippy::type_complexity)]
fn watch(
    crates: &[(PathBuf, local_rig::WorkerCrate)],
) -> anyhow::Result<(
    notify::RecommendedWatcher,
    tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
    Vec<PathBuf>,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let filters: Vec<(PathBuf, PathBuf)> = crates
        .iter()
        .map(|(r, w)| (r.clone(), w.target_dir.clone()))
        .collect();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        if matches!(ev.kind, EventKind::Access(_) | EventKind::Other) {
            return;
        }
        for p in ev.paths {
            if filters
                .iter()
                .any(|(root, target)| is_source(root, target, &p))
            {
                let _ = tx.send(p);
            }
        }
    })?;
    // One watch per directory, even when two bins of one crate are served.
    let mut roots: Vec<PathBuf> = crates.iter().map(|(r, _)| r.clone()).collect();
    roots.sort();
    roots.dedup();
    for root in &roots {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| anyhow::anyhow!("watching {}: {e}", root.display()))?;
    }
    Ok((watcher, rx, roots))
}

/// The `ready` event: the rig (as `local up -o json` prints it) and the watched directories.
fn announce_ready(output: Output, rig: &local_rig::Rig, roots: &[PathBuf]) {
    let mut ready = rig_json(rig);
    ready["event"] = json!("ready");
    ready["watching"] = json!(roots);
    event(
        output,
        &ready,
        &format!(
            "watching {} for changes; every change rebuilds and redeploys (Ctrl-C stops everything)",
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
}

/// `first` and the changes that follow it until the files are quiet (debounced), sorted,
/// without an editor's or sed's scratch files.
async fn settle(
    first: PathBuf,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
) -> Vec<PathBuf> {
    let mut changed = vec![first];
    while let Ok(Some(p)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
        changed.push(p);
    }
    changed.sort();
    changed.dedup();
    // A path that is gone and was no source file is an editor's or sed's scratch file.
    changed.retain(|p| p.exists() || is_rust_source(p));
    changed
}

/// What every rebuild of the session needs.
struct Session<'a> {
    output: Output,
    served: &'a [Served],
    /// Each function's build ID when the rig started.
    base_build_ids: Vec<(String, String)>,
    new_build_id: bool,
    /// How long a redeploy waits for invocations of the previous code.
    grace: Duration,
}

impl Session<'_> {
    /// When `changed` touches `worker`'s sources: rebuilds it and redeploys every function
    /// built from it. A failed build is reported and leaves the previous code serving.
    async fn rebuild(
        &self,
        rig: &mut local_rig::Rig,
        root: &Path,
        worker: &local_rig::WorkerCrate,
        changed: &[PathBuf],
        rebuilds: u32,
    ) -> anyhow::Result<()> {
        let output = self.output;
        let names: Vec<String> = changed
            .iter()
            .filter(|p| is_source(root, &worker.target_dir, p))
            .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        event(
            output,
            &json!({"event": "change", "package": worker.package, "paths": names, "rebuild": rebuilds}),
            &format!(
                "{}: {} changed: rebuilding",
                worker.package,
                names.join(", ")
            ),
        );
        let (w, arch) = (worker.clone(), rig.arch);
        let built = tokio::task::spawn_blocking(move || build_worker_for(output, &w, arch)).await?;
        let bootstrap = match built {
            Ok(b) => b,
            Err(e) => {
                event(
                    output,
                    &json!({"event": "build_failed", "package": worker.package, "error": e.to_string()}),
                    &format!(
                        "{e}\n    the previous code keeps serving; fix the error and save again"
                    ),
                );
                return Ok(());
            }
        };
        let functions = self
            .served
            .iter()
            .filter(|s| s.worker.same_build(worker))
            .map(|s| s.function_name.as_str());
        for function in functions {
            let build_id = self
                .new_build_id
                .then(|| {
                    self.base_build_ids
                        .iter()
                        .find(|(f, _)| f == function)
                        .map(|(_, b)| format!("{b}-w{rebuilds}"))
                })
                .flatten();
            redeploy(
                output,
                rig,
                function,
                &bootstrap,
                build_id.as_deref(),
                self.grace,
            )
            .await;
        }
        Ok(())
    }
}

/// Stops the rig and reports the session's invocations (the `stopped` event).
async fn finish(output: Output, rig: local_rig::Rig) {
    say(output, "stopping");
    let mut stopped = invocation_summary(&rig.emulator.invocations());
    stop(rig).await;
    let text = format!(
        "stopped; invocations by Lambda version: {}; {} failed, {} ended after their deadline",
        stopped["by_version"], stopped["failed"], stopped["past_deadline"]
    );
    stopped["event"] = json!("stopped");
    event(output, &stopped, &text);
}

/// What the session's invocations did: counts by Lambda version, failures, deadline overruns.
fn invocation_summary(records: &[temporal_lambda_emulator::InvocationRecord]) -> serde_json::Value {
    let mut by_version = std::collections::BTreeMap::<&str, usize>::new();
    for r in records {
        *by_version.entry(r.version.as_str()).or_default() += 1;
    }
    let failed = records
        .iter()
        .filter(|r| r.outcome.as_ref().is_some_and(|o| !o.is_success()))
        .count();
    let past_deadline = records
        .iter()
        .filter(|r| r.ended_before_deadline == Some(false))
        .count();
    json!({
        "invocations": records.len(),
        "by_version": by_version,
        "failed": failed,
        "past_deadline": past_deadline,
    })
}

/// Deploys `bootstrap` to `function` and reports it; on failure the previous code stays.
async fn redeploy(
    output: Output,
    rig: &mut local_rig::Rig,
    function: &str,
    bootstrap: &Path,
    build_id: Option<&str>,
    grace: Duration,
) {
    let r = match rig
        .redeploy(function, bootstrap, build_id, &|m| say(output, m))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            event(
                output,
                &json!({"event": "deploy_failed", "function": function, "error": e.to_string()}),
                &format!("{e}\n    the previous code keeps serving"),
            );
            return;
        }
    };
    if r.unchanged {
        event(
            output,
            &json!({"event": "unchanged", "function": function, "function_arn": r.current.function_arn}),
            &format!("{function}: the build produced the same code: nothing to deploy"),
        );
        return;
    }
    // Same deployment version: invocations of the previous code still poll its task queues;
    // wait until they end so the next task goes to the new code.
    let waited = if r.new_version {
        0
    } else {
        match rig
            .wait_for_previous_code(function, &r.previous.lambda_version, grace)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                say(output, &format!("{e}; the new code is registered anyway"));
                0
            }
        }
    };
    event(
        output,
        &json!({
            "event": "deployed",
            "function": function,
            "function_arn": r.current.function_arn,
            "lambda_version": r.current.lambda_version,
            "previous_lambda_version": r.previous.lambda_version,
            "version": r.current.version(),
            "new_version": r.new_version,
            "waited_for_invocations": waited,
        }),
        &format!(
            "deployed {} as Lambda version {} of {function} ({}){}",
            r.current.version(),
            r.current.lambda_version,
            if r.new_version {
                format!(
                    "new build, current; {} keeps its pinned workflows",
                    r.previous.version()
                )
            } else {
                format!("was {}", r.previous.lambda_version)
            },
            if waited > 0 {
                format!("; {waited} invocation(s) finished on the previous code first")
            } else {
                String::new()
            }
        ),
    );
}

/// One event: a JSON line on stdout (flushed), or `==> text` on stderr.
fn event(output: Output, value: &serde_json::Value, text: &str) {
    use std::io::Write as _;
    match output {
        Output::Json => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{value}");
            let _ = out.flush();
        }
        Output::Text => eprintln!("==> {text}"),
    }
}

/// `*.rs`, `Cargo.toml`, `Cargo.lock`, `build.rs`-style inputs a build reads.
fn is_rust_source(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e == "rs" || e == "toml" || e == "lock")
}

/// A file whose change should rebuild: under `root`, not in the target dir or a hidden or
/// `target` directory, not an editor's backup or swap file.
fn is_source(root: &Path, target_dir: &Path, path: &Path) -> bool {
    if path.starts_with(target_dir) {
        return false;
    }
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let hidden_or_target = rel.components().any(|c| {
        let s = c.as_os_str().to_string_lossy();
        s.starts_with('.') || s == "target"
    });
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scratch = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
        || name.starts_with("#");
    !(hidden_or_target || scratch)
}

#[cfg(test)]
mod tests {
    use super::is_source;
    use std::path::Path;

    #[test]
    fn only_sources_trigger_a_rebuild() {
        let root = Path::new("/w/app");
        let target = Path::new("/w/app/target");
        assert!(is_source(root, target, Path::new("/w/app/src/lib.rs")));
        assert!(is_source(root, target, Path::new("/w/app/Cargo.toml")));
        for p in [
            "/w/app/target/debug/bootstrap",
            "/w/app/.git/index",
            "/w/app/src/.lib.rs.swp",
            "/w/app/src/lib.rs~",
            "/w/app/sub/target/x",
            "/elsewhere/src/lib.rs",
        ] {
            assert!(!is_source(root, target, Path::new(p)), "{p}");
        }
        // A shared target dir elsewhere.
        assert!(!is_source(root, Path::new("/t"), Path::new("/t/debug/x")));
    }
}
