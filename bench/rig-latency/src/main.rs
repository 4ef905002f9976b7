//! `rig-latency`: latency and memory benchmark of the local Serverless Workers rig.
//!
//! Brings up the real Temporal dev server and the Lambda + STS emulator with a (release)
//! `bootstrap` of `examples/hello-worker` through `temporal_lambda_rig::start_rig`, starts
//! `HelloWorkflow`s with no worker running (the server invokes the function) and measures:
//!
//! * cold and warm workflow start → completion,
//! * the emulator's own overhead per invocation (Invoke received → handed to the sandbox),
//! * sandbox process start → the worker's first poll,
//! * peak RSS of a sandbox under a burst of workflows, the artifact sizes,
//! * and the share of invocations that ended before their deadline.
//!
//! Progress goes to stderr; the markdown report goes to stdout. See `bench/README.md`.

mod artifact;
#[cfg(test)]
#[path = "../../side-by-side/src/golden.rs"]
mod golden;
mod logs;
mod phases;
mod report;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use temporal_lambda_rig as local;

use crate::phases::{cold_phase, warm_phase};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "rig-latency",
    about = "Latency/memory benchmark of the local serverless rig"
)]
struct Args {
    /// Measured runs per phase (cold, warm); each phase also does one discarded warm-up run.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// The `bootstrap` to deploy (default: `<repo>/target/release/bootstrap`).
    #[arg(long)]
    bootstrap: Option<PathBuf>,
    /// Repository root (default: found from the current directory).
    #[arg(long)]
    repo_root: Option<PathBuf>,
    /// Function timeout, seconds. The worker polls until `deadline − 7 s`, so 9 s gives a 2 s
    /// polling window and every invocation ends soon after its workflow.
    #[arg(long, default_value_t = 9)]
    function_timeout_secs: u64,
    /// Idle TTL of a sandbox in the cold phase, ms (the sandbox is gone before the next run).
    #[arg(long, default_value_t = 100)]
    cold_idle_ttl_ms: u64,
    /// Workflows started at once for the memory-under-load figure.
    #[arg(long, default_value_t = 10)]
    load: usize,
    /// Function concurrency limit (both rigs).
    #[arg(long, default_value_t = 2)]
    concurrency: u32,
}

fn progress(msg: &str) {
    eprintln!("[rig-latency] {msg}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rig-latency: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    let t0 = Instant::now();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let repo_root = match args.repo_root.clone() {
        Some(r) => r,
        None => local::find_repo_root()
            .context("run this inside the temporal-lambda repository (or pass --repo-root)")?,
    };
    let bootstrap = args
        .bootstrap
        .clone()
        .unwrap_or_else(|| repo_root.join("target/release/bootstrap"));
    if !bootstrap.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p hello-worker --bin bootstrap` \
             (or pass --bootstrap)",
            bootstrap.display()
        );
    }
    let bootstrap = bootstrap.canonicalize()?;
    let art = artifact::measure(&bootstrap)?;
    progress(&format!(
        "bootstrap {}: {} bytes, zip {} bytes",
        bootstrap.display(),
        art.binary_bytes,
        art.zip_bytes
    ));

    progress(&format!("cold phase: {} runs (+1 warm-up)", args.runs));
    let cold = cold_phase(&args, &repo_root, &bootstrap).await?;
    progress(&format!("warm phase: {} runs (+1 warm-up)", args.runs));
    let warm = warm_phase(&args, &repo_root, &bootstrap).await?;

    let mut deadlines = cold.deadlines;
    deadlines.finished += warm.deadlines.finished;
    deadlines.before_deadline += warm.deadlines.before_deadline;
    deadlines.succeeded += warm.deadlines.succeeded;
    let wall = t0.elapsed();

    let started_utc = chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string();
    let out = report::render(&report::Input {
        args: &args,
        cold: &cold,
        warm: &warm,
        art: &art,
        deadlines: &deadlines,
        wall,
        started_utc: &started_utc,
    });
    print!("{out}");
    progress(&format!("done in {:.1} s", wall.as_secs_f64()));
    if deadlines.before_deadline != deadlines.finished {
        bail!("some invocations ended after their deadline");
    }
    Ok(())
}
