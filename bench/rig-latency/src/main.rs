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
mod logs;
mod stats;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use temporal_lambda_emulator::{InvocationRecord, SandboxInfo};
use temporal_lambda_rig::{self as local, Rig, RigOptions};
use temporal_lambda_temporal::connect::ConnectArgs;
use temporal_lambda_temporal::verify::{self, VerifyOptions};
use temporalio_client::Connection;

use crate::stats::{summarize, Summary};

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

/// One rig (dev server + emulator + deployed function) and a client connection to it.
struct Bench {
    rig: Rig,
    conn: Connection,
    function: String,
    function_timeout: Duration,
    _state: tempfile::TempDir,
}

/// One measured workflow and the invocation attempts the server made for it.
struct Run {
    elapsed_ms: f64,
    records: Vec<InvocationRecord>,
}

impl Run {
    /// The attempt the server made first for this workflow.
    fn first(&self) -> Option<&InvocationRecord> {
        self.records.iter().min_by_key(|r| r.received_at_ms)
    }
}

impl Bench {
    async fn start(
        repo_root: &Path,
        bootstrap: &Path,
        name: &str,
        args: &Args,
        idle_sandbox_ttl: Option<Duration>,
    ) -> Result<Self> {
        let state = tempfile::Builder::new()
            .prefix(&format!("rig-latency-{name}-"))
            .tempdir()
            .context("creating a state directory")?;
        let function_timeout = Duration::from_secs(args.function_timeout_secs);
        let opts = RigOptions {
            task_queue: format!("bench-{name}"),
            deployment_name: format!("bench-{name}"),
            function_timeout,
            concurrency: args.concurrency,
            idle_sandbox_ttl,
            ..RigOptions::for_crate(repo_root, state.path(), format!("bench-{name}"))
        };
        let rig = local::start_rig(&opts, bootstrap, &|m| progress(&format!("{name} rig: {m}")))
            .await
            .with_context(|| format!("starting the {name} rig"))?;
        let conn = ConnectArgs::local(rig.server.address(), "default")
            .connect()
            .await
            .context("connecting to the dev server")?;
        Ok(Self {
            rig,
            conn,
            function: opts.function_name,
            function_timeout,
            _state: state,
        })
    }

    /// Starts one `HelloWorkflow` and waits for its result; returns start → completion, ms.
    async fn workflow(&self, tag: &str) -> Result<f64> {
        let name = format!("bench {tag}");
        let report = verify::verify(
            &self.conn,
            &VerifyOptions {
                namespace: "default".into(),
                task_queue: self.rig.function().task_queue.clone(),
                workflow_type: "HelloWorkflow".into(),
                workflow_id: Some(format!("{tag}-{}", uuid::Uuid::new_v4().simple())),
                input: vec![serde_json::json!(name)],
                timeout: Duration::from_secs(60),
            },
        )
        .await
        .with_context(|| format!("workflow {tag}"))?;
        let expected = serde_json::json!(format!("Hello, {name}!"));
        if report.result.as_ref() != Some(&expected) {
            bail!(
                "workflow {tag} returned {:?}, expected {expected}",
                report.result
            );
        }
        Ok(report.elapsed_ms as f64)
    }

    /// Waits (event-driven) until at least `min_records` attempts exist and all have ended.
    async fn settle(&self, min_records: usize) -> Result<Vec<InvocationRecord>> {
        self.rig
            .emulator
            .wait_for_invocations(self.function_timeout + Duration::from_secs(30), |rs| {
                rs.len() >= min_records && rs.iter().all(|r| r.is_finished())
            })
            .await
            .context("waiting for the invocations to end")
    }

    /// Waits (event-driven) until `pred` holds on the live sandboxes.
    async fn sandboxes_until(
        &self,
        what: &str,
        pred: impl FnMut(&[SandboxInfo]) -> bool,
    ) -> Result<()> {
        self.rig
            .emulator
            .wait_for_sandboxes(Duration::from_secs(60), pred)
            .await
            .with_context(|| format!("waiting for {what}"))?;
        Ok(())
    }

    /// Runs one workflow, then waits until every invocation it caused has ended.
    async fn measured_run(&self, tag: &str) -> Result<Run> {
        let before = self.rig.emulator.invocations().len();
        let elapsed_ms = self.workflow(tag).await?;
        let records = self.settle(before + 1).await?;
        Ok(Run {
            elapsed_ms,
            records: records[before..].to_vec(),
        })
    }

    fn logs(&self) -> Result<String> {
        self.rig
            .emulator
            .logs(&self.function)
            .context("reading the function logs")
    }
}

/// Deadline bookkeeping over all attempts of a rig.
#[derive(Debug, Default, Clone, Copy)]
struct Deadlines {
    finished: usize,
    before_deadline: usize,
    succeeded: usize,
}

impl Deadlines {
    fn add(&mut self, records: &[InvocationRecord]) {
        for r in records.iter().filter(|r| r.is_finished()) {
            self.finished += 1;
            self.before_deadline += usize::from(r.ended_before_deadline == Some(true));
            self.succeeded += usize::from(r.outcome.as_ref().is_some_and(|o| o.is_success()));
        }
    }
}

/// Everything the cold phase measured.
struct ColdPhase {
    workflow_ms: Vec<f64>,
    verified_cold: usize,
    /// Invoke received → handed to the runtime, for cold attempts (includes process init).
    received_to_started_ms: Vec<f64>,
    init_ms: Vec<f64>,
    connect_ms: Vec<f64>,
    /// Handed to the runtime → `worker polling`.
    started_to_polling_ms: Vec<f64>,
    spawn_to_polling_ms: Vec<f64>,
    max_memory_mb: Vec<f64>,
    invocations: usize,
    /// Attempts not caused by one of our workflows (e.g. made while the version was registered).
    unattributed: usize,
    deadlines: Deadlines,
}

async fn cold_phase(args: &Args, repo_root: &Path, bootstrap: &Path) -> Result<ColdPhase> {
    let ttl = Duration::from_millis(args.cold_idle_ttl_ms);
    let bench = Bench::start(repo_root, bootstrap, "cold", args, Some(ttl)).await?;
    let mut runs = Vec::new();
    let mut attributed = 0;
    for i in 0..=args.runs {
        bench.settle(0).await?;
        bench
            .sandboxes_until("zero sandboxes", |s| s.is_empty())
            .await?;
        let tag = if i == 0 {
            "cold-warmup".to_string()
        } else {
            format!("cold-{i}")
        };
        let run = bench.measured_run(&tag).await?;
        let cold = run.first().and_then(|r| r.cold_start) == Some(true);
        progress(&format!(
            "{tag}: {:.0} ms ({} invocation(s), first {})",
            run.elapsed_ms,
            run.records.len(),
            if cold { "cold" } else { "warm" }
        ));
        attributed += run.records.len();
        if i > 0 {
            runs.push(run);
        }
    }
    let logs = bench.logs()?;
    let reports = logs::parse_reports(&logs);
    let polling = logs::parse_polling(&logs);
    let mut out = ColdPhase {
        workflow_ms: runs.iter().map(|r| r.elapsed_ms).collect(),
        verified_cold: runs
            .iter()
            .filter(|r| r.first().and_then(|f| f.cold_start) == Some(true))
            .count(),
        received_to_started_ms: Vec::new(),
        init_ms: Vec::new(),
        connect_ms: Vec::new(),
        started_to_polling_ms: Vec::new(),
        spawn_to_polling_ms: Vec::new(),
        max_memory_mb: Vec::new(),
        invocations: 0,
        unattributed: 0,
        deadlines: Deadlines::default(),
    };
    for rec in runs
        .iter()
        .flat_map(|r| &r.records)
        .filter(|r| r.cold_start == Some(true))
    {
        let Some(started) = rec.started_at_ms else {
            continue;
        };
        out.received_to_started_ms
            .push(started.saturating_sub(rec.received_at_ms) as f64);
        let report = reports.get(&rec.request_id);
        if let Some(r) = report {
            out.max_memory_mb.push(r.max_memory_mb as f64);
        }
        let init = report.and_then(|r| r.init_ms);
        if let Some(init) = init {
            out.init_ms.push(init);
        }
        if let Some(p) = polling.get(&rec.request_id) {
            if let Some(c) = p.connect_ms {
                out.connect_ms.push(c);
            }
            let after_start = p.at_ms - started as f64;
            out.started_to_polling_ms.push(after_start);
            if let Some(init) = init {
                out.spawn_to_polling_ms.push(init + after_start);
            }
        }
    }
    let all = bench.rig.emulator.invocations();
    dump("cold", &all);
    out.invocations = all.len();
    out.unattributed = all.len().saturating_sub(attributed);
    out.deadlines.add(&all);
    Ok(out)
}

/// Everything the warm phase (and the burst on the warm rig) measured.
struct WarmPhase {
    workflow_ms: Vec<f64>,
    verified_warm: usize,
    /// Invoke received → handed to the runtime, for warm attempts.
    overhead_ms: Vec<f64>,
    /// Handed to the runtime → `worker polling`, warm attempts.
    started_to_polling_ms: Vec<f64>,
    connect_ms: Vec<f64>,
    load_ms: Vec<f64>,
    load_wall_ms: f64,
    load_invocations: usize,
    load_sandboxes: usize,
    load_peak_concurrency: usize,
    load_max_memory_mb: Option<u64>,
    invocations: usize,
    /// Attempts not caused by one of our workflows (e.g. made while the version was registered).
    unattributed: usize,
    deadlines: Deadlines,
}

async fn warm_phase(args: &Args, repo_root: &Path, bootstrap: &Path) -> Result<WarmPhase> {
    let bench = Bench::start(repo_root, bootstrap, "warm", args, None).await?;
    let idle = |s: &[SandboxInfo]| !s.is_empty() && s.iter().all(|s| !s.busy);
    let mut runs = Vec::new();
    let mut attributed = 0;
    for i in 0..=args.runs {
        bench.settle(0).await?;
        let tag = if i == 0 {
            "warm-warmup".to_string()
        } else {
            bench.sandboxes_until("an idle warm sandbox", idle).await?;
            format!("warm-{i}")
        };
        let run = bench.measured_run(&tag).await?;
        let warm = run.first().and_then(|r| r.cold_start) == Some(false);
        progress(&format!(
            "{tag}: {:.0} ms ({} invocation(s), first {})",
            run.elapsed_ms,
            run.records.len(),
            if warm { "warm" } else { "cold" }
        ));
        attributed += run.records.len();
        if i > 0 {
            runs.push(run);
        }
    }
    let warm_records: Vec<&InvocationRecord> = runs
        .iter()
        .flat_map(|r| &r.records)
        .filter(|r| r.cold_start == Some(false))
        .collect();

    // Burst: `load` workflows at once on the warm rig.
    bench.settle(0).await?;
    bench.sandboxes_until("an idle warm sandbox", idle).await?;
    let before = bench.rig.emulator.invocations().len();
    progress(&format!(
        "load: starting {} workflows at once (concurrency {})",
        args.load, args.concurrency
    ));
    let started = Instant::now();
    let load_ms = futures::future::try_join_all((0..args.load).map(|i| {
        let bench = &bench;
        async move { bench.workflow(&format!("load-{i}")).await }
    }))
    .await?;
    let load_wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let all = bench.settle(before + 1).await?;
    let burst = &all[before..];
    progress(&format!(
        "load: {} workflows in {load_wall_ms:.0} ms, {} invocation(s)",
        args.load,
        burst.len()
    ));

    let logs = bench.logs()?;
    let reports = logs::parse_reports(&logs);
    let polling = logs::parse_polling(&logs);
    let mut out = WarmPhase {
        workflow_ms: runs.iter().map(|r| r.elapsed_ms).collect(),
        verified_warm: runs
            .iter()
            .filter(|r| r.first().and_then(|f| f.cold_start) == Some(false))
            .count(),
        overhead_ms: Vec::new(),
        started_to_polling_ms: Vec::new(),
        connect_ms: Vec::new(),
        load_ms,
        load_wall_ms,
        load_invocations: burst.len(),
        load_sandboxes: burst
            .iter()
            .filter_map(|r| r.sandbox_id.as_deref())
            .collect::<HashSet<_>>()
            .len(),
        load_peak_concurrency: bench.rig.emulator.peak_concurrency(&bench.function),
        load_max_memory_mb: burst
            .iter()
            .filter_map(|r| reports.get(&r.request_id))
            .map(|r| r.max_memory_mb)
            .max(),
        invocations: all.len(),
        unattributed: all.len().saturating_sub(attributed + burst.len()),
        deadlines: Deadlines::default(),
    };
    for rec in warm_records {
        let Some(started) = rec.started_at_ms else {
            continue;
        };
        out.overhead_ms
            .push(started.saturating_sub(rec.received_at_ms) as f64);
        if let Some(p) = polling.get(&rec.request_id) {
            out.started_to_polling_ms.push(p.at_ms - started as f64);
            if let Some(c) = p.connect_ms {
                out.connect_ms.push(c);
            }
        }
    }
    dump("warm", &all);
    out.deadlines.add(&all);
    Ok(out)
}

/// With `RIG_LATENCY_DUMP=1`, every invocation record of a rig goes to stderr.
fn dump(rig: &str, records: &[InvocationRecord]) {
    if std::env::var_os("RIG_LATENCY_DUMP").is_some() {
        for r in records {
            eprintln!("[rig-latency] {rig} rig record: {r:?}");
        }
    }
}

fn row(out: &mut String, label: &str, samples: &[f64], decimals: usize) {
    let cell = |v: f64| format!("{v:.decimals$}");
    let _ = match summarize(samples) {
        Some(Summary {
            n,
            p50,
            p95,
            min,
            max,
            mean,
        }) => writeln!(
            out,
            "| {label} | {n} | {} | {} | {} | {} | {:.1} |",
            cell(p50),
            cell(p95),
            cell(min),
            cell(max),
            mean
        ),
        None => writeln!(out, "| {label} | 0 | – | – | – | – | – |"),
    };
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
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

    let mut out = String::new();
    let _ = writeln!(
        out,
        "## rig-latency — {} (UTC)\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(
        out,
        "Release `bootstrap` of examples/hello-worker under the local rig (real Temporal dev server + \
         lambda-emulator, 127.0.0.1), {} CPU(s). Function timeout {} s (2 s polling window), \
         concurrency {}; cold rig idle TTL {} ms, warm rig idle TTL 10 min. N = {} measured runs \
         per phase (+1 discarded warm-up each); percentiles are nearest-rank. Times in ms.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.function_timeout_secs,
        args.concurrency,
        args.cold_idle_ttl_ms,
        args.runs,
    );
    let _ = writeln!(out, "| figure | n | p50 | p95 | min | max | mean |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    row(
        &mut out,
        "**cold**: workflow start → completed (no sandbox)",
        &cold.workflow_ms,
        0,
    );
    row(
        &mut out,
        "**warm**: workflow start → completed (idle warm sandbox)",
        &warm.workflow_ms,
        0,
    );
    row(
        &mut out,
        "emulator overhead, warm: Invoke received → handed to sandbox",
        &warm.overhead_ms,
        0,
    );
    row(
        &mut out,
        "cold: Invoke received → handed to new sandbox (incl. process init)",
        &cold.received_to_started_ms,
        0,
    );
    row(
        &mut out,
        "cold: sandbox init, spawn → first `next` (REPORT Init Duration)",
        &cold.init_ms,
        1,
    );
    row(&mut out, "cold: worker `connect_ms`", &cold.connect_ms, 0);
    row(
        &mut out,
        "cold: handed to runtime → `worker polling`",
        &cold.started_to_polling_ms,
        1,
    );
    row(
        &mut out,
        "**cold: sandbox process start → first poll** (Init Duration + the above)",
        &cold.spawn_to_polling_ms,
        1,
    );
    row(
        &mut out,
        "warm: handed to runtime → `worker polling`",
        &warm.started_to_polling_ms,
        1,
    );
    row(&mut out, "warm: worker `connect_ms`", &warm.connect_ms, 0);
    row(
        &mut out,
        &format!(
            "load: {} workflows at once, start → completed",
            warm.load_ms.len()
        ),
        &warm.load_ms,
        0,
    );
    row(
        &mut out,
        "cold: Max Memory Used after one invocation (MB)",
        &cold.max_memory_mb,
        0,
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| figure | value |");
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(
        out,
        "| **peak RSS of a sandbox under load** (max REPORT `Max Memory Used` = VmHWM, {} workflows at once, concurrency {}) | {} MB |",
        args.load,
        args.concurrency,
        warm.load_max_memory_mb.map_or("–".to_string(), |m| m.to_string())
    );
    let _ = writeln!(
        out,
        "| load burst: wall time / invocations / sandboxes used / peak busy sandboxes | {:.0} ms / {} / {} / {} |",
        warm.load_wall_ms, warm.load_invocations, warm.load_sandboxes, warm.load_peak_concurrency
    );
    let _ = writeln!(
        out,
        "| `bootstrap` size ({}) | {} bytes ({}) |",
        match art.stripped {
            Some(true) => "stripped: no .symtab",
            Some(false) => "NOT stripped",
            None => "not ELF64",
        },
        art.binary_bytes,
        mb(art.binary_bytes)
    );
    let _ = writeln!(
        out,
        "| `bootstrap.zip` (deflate, mode 0755) | {} bytes ({}) |",
        art.zip_bytes,
        mb(art.zip_bytes)
    );
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "–".to_string()
        } else {
            format!("{:.1}%", 100.0 * a as f64 / b as f64)
        }
    };
    let _ = writeln!(
        out,
        "| **invocations ended before their deadline** | {} ({}/{}; {} succeeded) |",
        pct(deadlines.before_deadline, deadlines.finished),
        deadlines.before_deadline,
        deadlines.finished,
        deadlines.succeeded
    );
    let _ = writeln!(
        out,
        "| runs whose first invocation was really cold / warm | {}/{} / {}/{} |",
        cold.verified_cold,
        cold.workflow_ms.len(),
        warm.verified_warm,
        warm.workflow_ms.len()
    );
    let _ = writeln!(
        out,
        "| invocations made by the server, cold rig / warm rig (incl. warm-ups and load; not caused by a workflow of ours) | {} / {} ({} / {}) |",
        cold.invocations, warm.invocations, cold.unattributed, warm.unattributed
    );
    let _ = writeln!(out, "| bench wall time | {:.1} s |", wall.as_secs_f64());
    print!("{out}");
    progress(&format!("done in {:.1} s", wall.as_secs_f64()));
    if deadlines.before_deadline != deadlines.finished {
        bail!("some invocations ended after their deadline");
    }
    Ok(())
}
