//! `task-gaps`: the idle gaps a Lambda invocation of our worker sees inside typical workflow
//! shapes, and what each idle policy would bill for them.
//!
//! Brings up the local rig (`temporal_lambda_rig::start_rig`: the real Temporal dev server
//! with the worker controller on, the Lambda + STS emulator, the release `bootstrap` of
//! `examples/hello-worker`) with an idle exit longer than the longest timer
//! (`TEMPORAL_LAMBDA_IDLE_EXIT=15s`), so every gap inside a workflow stays inside one
//! invocation. Runs `GapShapesWorkflow` one shape at a time (chain, timers, children, signals,
//! parallel), waits (emulator invocation records) until that run's invocations have ended, then
//! reads each invocation's `invocation finished` line (`idle_gaps_ms`, `idle_tail_ms`, …) and
//! REPORT line from the function's logs. The report: the gap distribution per shape, the timer
//! gaps against their timers, and per idle policy the invocations and GB-s it would have billed.
//! Progress goes to stderr; the markdown report to stdout and `--out`. See `bench/README.md`.

mod analysis;
#[cfg(test)]
#[path = "../../side-by-side/src/golden.rs"]
mod golden;
mod logs;
mod model;
mod report;
mod wf;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use temporal_lambda_emulator::{Fidelity, InvocationRecord};
use temporal_lambda_rig::{self as local, Rig, RigOptions};
use temporal_lambda_temporal::connect::ConnectArgs;
use temporalio_client::Connection;

/// Command-line options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "task-gaps",
    about = "Idle gaps between a workflow's tasks in one Lambda invocation, per workflow shape"
)]
pub struct Args {
    /// Measured runs per shape (each one workflow; one discarded warm-up run first).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// `chain`: activities in sequence.
    #[arg(long, default_value_t = 10)]
    pub chain_steps: u32,
    /// `timers`: number of timers (each followed by an activity), cycling through `--timer-ms`.
    #[arg(long, default_value_t = 8)]
    pub timer_steps: u32,
    /// `timers`: timer lengths, ms.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,5000,10000")]
    pub timer_ms: Vec<u64>,
    /// `children`: child workflows in sequence.
    #[arg(long, default_value_t = 5)]
    pub child_steps: u32,
    /// `signals`: signals the bench sends.
    #[arg(long, default_value_t = 10)]
    pub signal_steps: u32,
    /// `signals`: one signal every this many ms (the workload's cadence).
    #[arg(long, default_value_t = 500)]
    pub signal_every_ms: u64,
    /// `parallel`: activities started at once (then one more).
    #[arg(long, default_value_t = 10)]
    pub parallel_steps: u32,
    /// Shapes to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "chain,timers,children,signals,parallel"
    )]
    pub shapes: Vec<String>,
    /// `TEMPORAL_LAMBDA_IDLE_EXIT` of the function, ms: longer than the longest timer, so no
    /// gap inside a workflow ends the invocation.
    #[arg(long, default_value_t = 15_000)]
    pub idle_exit_ms: u64,
    /// Function timeout, seconds (the worker polls until `deadline − 7 s`).
    #[arg(long, default_value_t = 120)]
    pub function_timeout_secs: u64,
    /// Function concurrency: 1 keeps every task of a run in one invocation (an extra Invoke the
    /// server makes meanwhile waits in the emulator's queue).
    #[arg(long, default_value_t = 1)]
    pub concurrency: u32,
    /// MemorySize, MB (with Lambda fidelity: the CPU share too; GB-s are computed at it).
    #[arg(long, default_value_t = 256)]
    pub memory_mb: u32,
    /// Emulator fidelity (`lambda`, `off`; default: `TEMPORAL_LAMBDA_FIDELITY`, else `lambda`).
    #[arg(long)]
    pub fidelity: Option<String>,
    /// Idle exits to evaluate, ms.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,250,500,1000,2000,5000"
    )]
    pub what_if_ms: Vec<u64>,
    /// Allowance added to every measured follow-up gap when the proposed grace is chosen, ms:
    /// the worker ↔ Temporal round trips the rig does not have (a follow-up is about 1.5 round
    /// trips: the completion's RPC, then the next task's poll response; 100 ms covers a ~65 ms
    /// cross-region round trip).
    #[arg(long, default_value_t = 100)]
    pub network_allowance_ms: u64,
    /// The `bootstrap` to deploy (default: `<repo>/target/release/bootstrap`).
    #[arg(long)]
    pub bootstrap: Option<PathBuf>,
    /// Repository root (default: found from the current directory).
    #[arg(long)]
    pub repo_root: Option<PathBuf>,
    /// Also write the report here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A note for the report (repeatable).
    #[arg(long = "note")]
    pub notes: Vec<String>,
}

fn progress(msg: &str) {
    eprintln!("[task-gaps] {msg}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("task-gaps: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A shape as the workflow takes it, and the result it must return.
#[derive(Debug, Clone)]
pub struct ShapeSpec {
    /// `chain`, `timers`, …
    pub kind: String,
    /// Steps of the shape.
    pub steps: u32,
    /// Timer lengths (`timers` only).
    pub timer_ms: Vec<u64>,
}

impl ShapeSpec {
    fn input(&self) -> serde_json::Value {
        serde_json::json!({ "kind": self.kind, "steps": self.steps, "timer_ms": self.timer_ms })
    }
    fn expected(&self) -> String {
        format!("{}: {} steps", self.kind, self.steps)
    }
    /// The timers the workflow sleeps on, in order.
    pub fn timers(&self) -> Vec<u64> {
        if self.kind != "timers" {
            return Vec::new();
        }
        let ts = if self.timer_ms.is_empty() {
            vec![1_000]
        } else {
            self.timer_ms.clone()
        };
        (0..self.steps as usize).map(|i| ts[i % ts.len()]).collect()
    }
}

fn shape_spec(kind: &str, a: &Args) -> Result<ShapeSpec> {
    let steps = match kind {
        "chain" => a.chain_steps,
        "timers" => a.timer_steps,
        "children" => a.child_steps,
        "signals" => a.signal_steps,
        "parallel" => a.parallel_steps,
        other => bail!("unknown shape {other:?}: use chain, timers, children, signals, parallel"),
    };
    Ok(ShapeSpec {
        kind: kind.into(),
        steps,
        timer_ms: if kind == "timers" {
            a.timer_ms.clone()
        } else {
            Vec::new()
        },
    })
}

/// One measured workflow and the invocations that ran it.
#[derive(Debug, Clone)]
pub struct Run {
    /// The shape.
    pub shape: ShapeSpec,
    /// Start → close observed, ms.
    pub elapsed_ms: f64,
    /// Server-side timers: (timeout ms, fired − started ms).
    pub server_timers: Vec<(f64, f64)>,
    /// The invocation records the run caused, oldest first.
    pub records: Vec<InvocationRecord>,
}

struct Bench {
    rig: Rig,
    conn: Connection,
    function: String,
    task_queue: String,
    settle_timeout: Duration,
    _state: tempfile::TempDir,
}

impl Bench {
    /// Waits (event-driven) until at least `min` attempts exist and all have ended.
    async fn settle(&self, min: usize) -> Result<Vec<InvocationRecord>> {
        self.rig
            .emulator
            .wait_for_invocations(self.settle_timeout, |rs| {
                rs.len() >= min && rs.iter().all(|r| r.is_finished())
            })
            .await
            .context("waiting for the invocations to end")
    }

    /// Runs one workflow of `shape`, then waits until every invocation it caused has ended.
    async fn run(&self, shape: &ShapeSpec, tag: &str, args: &Args) -> Result<Run> {
        self.settle(0).await?;
        let before = self.rig.emulator.invocations().len();
        let id = format!("gaps-{tag}-{}", uuid::Uuid::new_v4().simple());
        let started = wf::start(&self.conn, &self.task_queue, id, &shape.input()).await?;
        if shape.kind == "signals" {
            // The workload: one signal every `signal_every_ms` (the first one period after the
            // start), whatever the worker does meanwhile.
            let every = Duration::from_millis(args.signal_every_ms);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for n in 1..=shape.steps {
                tick.tick().await;
                wf::signal(&self.conn, &started, n).await?;
            }
        }
        let done = wf::wait(
            &self.conn,
            &started,
            &shape.expected(),
            Duration::from_secs(args.function_timeout_secs + 120),
        )
        .await?;
        let all = self.settle(before + 1).await?;
        Ok(Run {
            shape: shape.clone(),
            elapsed_ms: done.elapsed_ms,
            server_timers: done.timers,
            records: all[before..].to_vec(),
        })
    }
}

/// Starts the rig with `bootstrap` as the function `task-gaps` and connects to its server; with
/// the fidelity the emulator enforces.
async fn start(args: &Args, repo_root: &Path, bootstrap: &Path) -> Result<(Bench, Fidelity)> {
    let state = tempfile::Builder::new()
        .prefix("task-gaps-")
        .tempdir()
        .context("creating a state directory")?;
    let mut opts = RigOptions {
        task_queue: "task-gaps".into(),
        deployment_name: "task-gaps".into(),
        function_timeout: Duration::from_secs(args.function_timeout_secs),
        concurrency: args.concurrency,
        memory_mb: args.memory_mb,
        env: vec![(
            "TEMPORAL_LAMBDA_IDLE_EXIT".into(),
            format!("{}ms", args.idle_exit_ms),
        )],
        ..RigOptions::for_crate(repo_root, state.path(), "task-gaps")
    };
    if let Some(f) = &args.fidelity {
        opts.fidelity = f
            .parse::<Fidelity>()
            .map_err(|e| anyhow::anyhow!("--fidelity {f}: {e}"))?;
    }
    let rig = local::start_rig(&opts, bootstrap, &|m| progress(&format!("rig: {m}")))
        .await
        .context("starting the rig")?;
    let enforced = rig.emulator.fidelity();
    let conn = ConnectArgs::local(rig.server.address(), "default")
        .connect()
        .await
        .context("connecting to the dev server")?;
    let bench = Bench {
        task_queue: rig.function().task_queue.clone(),
        rig,
        conn,
        function: opts.function_name.clone(),
        settle_timeout: Duration::from_secs(args.function_timeout_secs * 3 + 60),
        _state: state,
    };
    Ok((bench, enforced))
}

async fn run(args: Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let longest_timer = args.timer_ms.iter().copied().max().unwrap_or(0);
    if args.shapes.iter().any(|s| s == "timers") && args.idle_exit_ms <= longest_timer {
        bail!(
            "--idle-exit-ms {} must be longer than the longest timer ({longest_timer} ms)",
            args.idle_exit_ms
        );
    }
    let shapes = args
        .shapes
        .iter()
        .map(|k| shape_spec(k, &args))
        .collect::<Result<Vec<_>>>()?;
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
            "{} not found: build it with `cargo build --release -p hello-worker --bin bootstrap` (or pass --bootstrap)",
            bootstrap.display()
        );
    }
    let t0 = std::time::Instant::now();
    let (bench, enforced) = start(&args, &repo_root, &bootstrap).await?;

    // Whatever the rig's set-up invoked has ended; one discarded warm-up run (cold start, and
    // the task queue's first poll) before the measured ones.
    bench.settle(0).await?;
    let warm_up = ShapeSpec {
        kind: "chain".into(),
        steps: 2,
        timer_ms: Vec::new(),
    };
    progress("warm-up: chain of 2");
    bench.run(&warm_up, "warmup", &args).await?;

    let mut runs = Vec::new();
    for shape in &shapes {
        for i in 1..=args.runs {
            let tag = format!("{}-{i}", shape.kind);
            let run = bench.run(shape, &tag, &args).await?;
            progress(&format!(
                "{tag}: workflow {:.0} ms, {} invocation(s)",
                run.elapsed_ms,
                run.records.len()
            ));
            runs.push(run);
        }
    }
    let logs = bench
        .rig
        .emulator
        .logs(&bench.function)
        .context("reading the function logs")?;
    let parsed = logs::parse(&logs);
    let all = bench.rig.emulator.invocations();
    let wall = t0.elapsed();
    let started_utc = chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string();
    let out = report::render(&analysis::Input {
        args: &args,
        fidelity: enforced,
        runs: &runs,
        logs: &parsed,
        all_records: &all,
        wall,
        started_utc: &started_utc,
    })?;
    print!("{out}");
    if let Some(path) = &args.out {
        std::fs::write(path, &out).with_context(|| format!("writing {}", path.display()))?;
        progress(&format!("saved {}", path.display()));
    }
    progress(&format!("done in {:.0} s", wall.as_secs_f64()));
    Ok(())
}
