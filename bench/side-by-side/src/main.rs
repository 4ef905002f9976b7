//! `side-by-side`: our Rust serverless worker against the official Python (`temporalio`
//! `contrib.aws.lambda_worker` under `awslambdaric`) and TypeScript (`@temporalio/lambda-worker`
//! under `aws-lambda-ric`) Lambda workers, in ONE run on ONE emulator and ONE dev server.
//!
//! Every row is its own function, task queue and current Worker Deployment Version; the same
//! workflow (`HelloWorkflow(name)` → activity → `Hello, <name>!`) is started with no worker
//! running, so the server invokes the function. Rows run one after the other. Progress goes to
//! stderr; the markdown report to `--out` (or stdout), the latency chart (SVG) to `--chart`.
//! See `bench/README.md`.

mod chart;
mod rig;
#[path = "../../rig-latency/src/stats.rs"]
mod stats;
// Only `parse_polling` is used here (our worker's `worker polling` line).
mod sys;
mod wf;
#[allow(dead_code)]
#[path = "../../rig-latency/src/logs.rs"]
mod worker_logs;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use temporal_lambda_emulator::{InvocationRecord, Outcome, SandboxInfo};

use crate::rig::{Rig, RowSpec};
use crate::stats::summarize;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "side-by-side",
    about = "Rust vs the official Python/TypeScript Lambda workers"
)]
struct Args {
    /// Measured cold and warm runs per row (each phase also does one discarded warm-up run).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Workflows queued at once for the throughput figure (0: skip).
    #[arg(long, default_value_t = 500)]
    throughput: usize,
    /// Workflows arriving one every `--billing-interval-ms` for the billing figure (0: skip).
    #[arg(long, default_value_t = 100)]
    billing: usize,
    /// Arrival interval of the billing workload, ms.
    #[arg(long, default_value_t = 2000)]
    billing_interval_ms: u64,
    /// Function concurrency limit (every row).
    #[arg(long, default_value_t = 2)]
    concurrency: u32,
    /// Function timeout, s. Every worker polls until `deadline − 7 s`: 9 s gives a 2 s window.
    #[arg(long, default_value_t = 9)]
    function_timeout_secs: u64,
    /// Our `bootstrap` (release build of examples/hello-worker).
    #[arg(long)]
    rust: PathBuf,
    /// Directory of the Python peer (with `bootstrap`), prepared by `bench/side-by-side.sh`.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Directory of the TypeScript peer (with `bootstrap`), prepared by `bench/side-by-side.sh`.
    #[arg(long)]
    typescript: Option<PathBuf>,
    /// `row=text` notes printed under the table (e.g. why a row is missing; setup times).
    #[arg(long = "note")]
    notes: Vec<String>,
    /// Repository root (holds `.venv` with the pinned Temporal CLI).
    #[arg(long, default_value = ".")]
    repo_root: PathBuf,
    /// Markdown report path (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// SVG chart path.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// How the chart is referenced from the report (default: the chart's file name).
    #[arg(long)]
    chart_link: Option<String>,
}

fn progress(msg: &str) {
    eprintln!("[side-by-side] {msg}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("side-by-side: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Throughput of one row.
#[derive(Debug, Clone, Default)]
struct Throughput {
    n: usize,
    /// First start sent → last close event, ms.
    drain_ms: f64,
    invocations: usize,
    latency_ms: Vec<f64>,
}

/// Billing of one row.
#[derive(Debug, Clone, Default)]
struct Billing {
    n: usize,
    invocations: usize,
    cold: usize,
    /// Billed ms per invocation (`Duration` rounded up + `Init Duration` of cold starts).
    billed_ms: Vec<f64>,
    gb_s: f64,
}

/// Everything measured for one row.
#[derive(Debug, Clone, Default)]
struct RowResult {
    cold_ms: Vec<f64>,
    cold_verified: usize,
    warm_ms: Vec<f64>,
    warm_verified: usize,
    /// Invoke received (emulator) → first workflow task handed to a poll (server history).
    cold_start_ms: Vec<f64>,
    /// Sandbox process spawn → first workflow task handed to a poll.
    spawn_to_poll_ms: Vec<f64>,
    /// REPORT `Init Duration`: spawn → first `next`.
    init_ms: Vec<f64>,
    /// Sandbox process spawn → the worker's own `worker polling` log line (our row only).
    spawn_to_worker_log_ms: Vec<f64>,
    throughput: Option<Throughput>,
    billing: Option<Billing>,
    peak_tree_rss_mb: Option<f64>,
    report_max_mem_mb: Option<u64>,
    zip_bytes: u64,
    raw_bytes: u64,
    finished: usize,
    overruns: usize,
    timeouts: usize,
    errors: usize,
    /// Invocation duration − (timeout − 7 s): how far past the stop-polling point it ran.
    past_window_ms: Vec<f64>,
    failure: Option<String>,
}

/// The REPORT figures of one invocation.
#[derive(Debug, Clone, Copy)]
struct Report {
    duration_ms: f64,
    init_ms: Option<f64>,
    max_memory_mb: u64,
}

fn parse_reports(logs: &str) -> HashMap<String, Report> {
    let mut out = HashMap::new();
    for line in logs.lines() {
        let Some(rest) = line.trim_start().strip_prefix("REPORT ") else {
            continue;
        };
        let (mut id, mut d, mut init, mut mem) = (None, None, None, None);
        for field in rest.split('\t') {
            let Some((k, v)) = field.split_once(": ") else {
                continue;
            };
            let num = v.split_whitespace().next().unwrap_or_default();
            match k.trim() {
                "RequestId" => id = Some(v.trim().to_string()),
                "Duration" => d = num.parse().ok(),
                "Init Duration" => init = num.parse().ok(),
                "Max Memory Used" => mem = num.parse().ok(),
                _ => {}
            }
        }
        if let (Some(id), Some(duration_ms), Some(max_memory_mb)) = (id, d, mem) {
            out.insert(
                id,
                Report {
                    duration_ms,
                    init_ms: init,
                    max_memory_mb,
                },
            );
        }
    }
    out
}

/// One row's bench context.
struct RowBench<'a> {
    rig: &'a Rig,
    spec: &'a RowSpec,
    args: &'a Args,
    function: String,
    out: RowResult,
}

/// A cold run's raw figures, resolved against the REPORT lines at the end of the phase.
struct ColdSample {
    request_id: String,
    received_ms: f64,
    started_ms: f64,
    first_task_ms: f64,
}

impl<'a> RowBench<'a> {
    fn records(&self) -> Vec<InvocationRecord> {
        self.rig
            .emulator
            .invocations()
            .into_iter()
            .filter(|r| r.function_name == self.function)
            .collect()
    }

    fn sandboxes(&self, all: &[SandboxInfo]) -> Vec<SandboxInfo> {
        all.iter()
            .filter(|s| s.function_name == self.function)
            .cloned()
            .collect()
    }

    /// Waits (event-driven) until at least `min` attempts of this function exist, all finished.
    async fn settle(&self, min: usize) -> Result<Vec<InvocationRecord>> {
        self.settle_within(
            min,
            Duration::from_secs(self.args.function_timeout_secs + 60),
        )
        .await
    }

    /// [`Self::settle`] with an explicit timeout (after a burst the server may have queued many
    /// more invocations than the concurrency limit runs at once).
    async fn settle_within(&self, min: usize, timeout: Duration) -> Result<Vec<InvocationRecord>> {
        let f = self.function.clone();
        let all = self
            .rig
            .emulator
            .wait_for_invocations(timeout, |rs| {
                let mine = rs.iter().filter(|r| r.function_name == f);
                let (mut n, mut done) = (0, true);
                for r in mine {
                    n += 1;
                    done &= r.is_finished();
                }
                n >= min && done
            })
            .await
            .context("waiting for the invocations to end")?;
        Ok(all
            .into_iter()
            .filter(|r| r.function_name == self.function)
            .collect())
    }

    fn sample_rss(&mut self) {
        for s in self.sandboxes(&self.rig.emulator.sandboxes()) {
            if let Some(mb) = s.pid.and_then(sys::tree_peak_rss_mb) {
                let cur = self.out.peak_tree_rss_mb.get_or_insert(0.0);
                *cur = cur.max(mb);
            }
        }
    }

    /// Stops every (idle) sandbox of the function, sampling its peak RSS first.
    async fn stop_sandboxes(&mut self) -> Result<()> {
        let f = self.function.clone();
        self.rig
            .emulator
            .wait_for_sandboxes(Duration::from_secs(60), |s| {
                s.iter().filter(|s| s.function_name == f).all(|s| !s.busy)
            })
            .await
            .context("waiting for idle sandboxes")?;
        self.sample_rss();
        for s in self.sandboxes(&self.rig.emulator.sandboxes()) {
            if let Some(pid) = s.pid {
                sys::kill_sandbox(pid);
            }
        }
        self.rig
            .emulator
            .wait_for_sandboxes(Duration::from_secs(60), |s| {
                !s.iter().any(|s| s.function_name == f)
            })
            .await
            .context("waiting for the sandboxes to stop")?;
        Ok(())
    }

    /// One workflow, then waits until every invocation it caused has ended.
    async fn measured_run(&self, tag: &str) -> Result<(wf::Done, Vec<InvocationRecord>)> {
        let before = self.records().len();
        let started = wf::start(&self.rig.conn, &self.spec.task_queue(), tag).await?;
        let done = wf::wait(&self.rig.conn, &started, Duration::from_secs(120)).await?;
        let recs = self.settle(before + 1).await?;
        Ok((done, recs[before..].to_vec()))
    }

    async fn cold_phase(&mut self) -> Result<()> {
        let mut samples = Vec::new();
        for i in 0..=self.args.runs {
            self.settle(0).await?;
            self.stop_sandboxes().await?;
            let tag = format!("{}-cold-{i}", self.spec.name);
            let (done, recs) = self.measured_run(&tag).await?;
            let first = recs.iter().min_by_key(|r| r.received_at_ms).cloned();
            let cold = first.as_ref().and_then(|r| r.cold_start) == Some(true);
            progress(&format!(
                "{tag}: {:.0} ms ({} invocation(s), first {})",
                done.elapsed_ms,
                recs.len(),
                if cold { "cold" } else { "warm" }
            ));
            if i == 0 {
                continue;
            }
            self.out.cold_ms.push(done.elapsed_ms);
            if let (true, Some(r), Some(t)) = (cold, first, done.first_task_started_ms) {
                self.out.cold_verified += 1;
                samples.push(ColdSample {
                    request_id: r.request_id.clone(),
                    received_ms: r.received_at_ms as f64,
                    started_ms: r.started_at_ms.unwrap_or(r.received_at_ms) as f64,
                    first_task_ms: t,
                });
            }
        }
        let logs = self.rig.emulator.logs(&self.function)?;
        let reports = parse_reports(&logs);
        let polling = worker_logs::parse_polling(&logs);
        for s in samples {
            self.out.cold_start_ms.push(s.first_task_ms - s.received_ms);
            if let Some(init) = reports.get(&s.request_id).and_then(|r| r.init_ms) {
                self.out.init_ms.push(init);
                let spawned = s.started_ms - init;
                self.out.spawn_to_poll_ms.push(s.first_task_ms - spawned);
                if let Some(p) = polling.get(&s.request_id) {
                    self.out.spawn_to_worker_log_ms.push(p.at_ms - spawned);
                }
            }
        }
        Ok(())
    }

    async fn warm_phase(&mut self) -> Result<()> {
        let f = self.function.clone();
        for i in 0..=self.args.runs {
            self.settle(0).await?;
            if i > 0 {
                self.rig
                    .emulator
                    .wait_for_sandboxes(Duration::from_secs(60), |s| {
                        let mine: Vec<_> = s.iter().filter(|s| s.function_name == f).collect();
                        !mine.is_empty() && mine.iter().all(|s| !s.busy)
                    })
                    .await
                    .context("waiting for an idle warm sandbox")?;
            }
            let tag = format!("{}-warm-{i}", self.spec.name);
            let (done, recs) = self.measured_run(&tag).await?;
            let warm = recs
                .iter()
                .min_by_key(|r| r.received_at_ms)
                .and_then(|r| r.cold_start)
                == Some(false);
            progress(&format!(
                "{tag}: {:.0} ms ({} invocation(s), first {})",
                done.elapsed_ms,
                recs.len(),
                if warm { "warm" } else { "cold" }
            ));
            if i > 0 {
                self.out.warm_ms.push(done.elapsed_ms);
                self.out.warm_verified += usize::from(warm);
            }
        }
        Ok(())
    }

    async fn throughput_phase(&mut self) -> Result<()> {
        let n = self.args.throughput;
        if n == 0 {
            return Ok(());
        }
        self.settle(0).await?;
        let before = self.records().len();
        progress(&format!(
            "{}: queueing {n} workflows (concurrency {})",
            self.spec.name, self.args.concurrency
        ));
        let t0 = wf::now_ms();
        let conn = &self.rig.conn;
        let tq = self.spec.task_queue();
        let name = self.spec.name.clone();
        let started: Vec<wf::Started> = futures::stream::iter(0..n)
            .map(|i| {
                let (tq, name) = (tq.clone(), name.clone());
                async move { wf::start(conn, &tq, &format!("{name}-load-{i}")).await }
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        let done: Vec<wf::Done> = futures::stream::iter(started.iter())
            .map(|s| wf::wait(conn, s, Duration::from_secs(900)))
            .buffer_unordered(64)
            .try_collect()
            .await?;
        let last = done.iter().map(|d| d.closed_at_ms).fold(t0, f64::max);
        let recs = self
            .settle_within(before + 1, Duration::from_secs(1800))
            .await?;
        self.sample_rss();
        let t = Throughput {
            n,
            drain_ms: last - t0,
            invocations: recs.len() - before,
            latency_ms: done.iter().map(|d| d.elapsed_ms).collect(),
        };
        progress(&format!(
            "{}: {n} workflows drained in {:.0} ms ({:.1}/s), {} invocation(s)",
            self.spec.name,
            t.drain_ms,
            n as f64 / (t.drain_ms / 1000.0),
            t.invocations
        ));
        self.out.throughput = Some(t);
        Ok(())
    }

    async fn billing_phase(&mut self) -> Result<()> {
        let n = self.args.billing;
        if n == 0 {
            return Ok(());
        }
        self.settle(0).await?;
        self.stop_sandboxes().await?;
        let before = self.records().len();
        progress(&format!(
            "{}: {n} workflows, one every {} ms",
            self.spec.name, self.args.billing_interval_ms
        ));
        let conn = self.rig.conn.clone();
        let tq = self.spec.task_queue();
        let mut tasks = Vec::new();
        // A fixed arrival schedule (the workload), not a wait standing in for an event.
        let mut ticks = tokio::time::interval(Duration::from_millis(self.args.billing_interval_ms));
        for i in 0..n {
            ticks.tick().await;
            let (conn, tq, tag) = (
                conn.clone(),
                tq.clone(),
                format!("{}-bill-{i}", self.spec.name),
            );
            tasks.push(tokio::spawn(async move {
                let s = wf::start(&conn, &tq, &tag).await?;
                wf::wait(&conn, &s, Duration::from_secs(300)).await
            }));
        }
        for t in tasks {
            t.await.context("billing workflow task")??;
        }
        let recs = self
            .settle_within(before + 1, Duration::from_secs(1800))
            .await?;
        self.sample_rss();
        let reports = parse_reports(&self.rig.emulator.logs(&self.function)?);
        let mut b = Billing {
            n,
            ..Default::default()
        };
        for r in &recs[before..] {
            b.invocations += 1;
            b.cold += usize::from(r.cold_start == Some(true));
            if let Some(rep) = reports.get(&r.request_id) {
                let billed = rep.duration_ms.ceil() + rep.init_ms.map_or(0.0, f64::ceil);
                b.billed_ms.push(billed);
                b.gb_s += billed / 1000.0 * 256.0 / 1024.0;
            }
        }
        progress(&format!(
            "{}: {} invocation(s), {:.2} GB-s",
            self.spec.name, b.invocations, b.gb_s
        ));
        self.out.billing = Some(b);
        Ok(())
    }

    /// Deadline discipline and REPORT memory over every attempt of the function.
    fn finish(&mut self) -> Result<()> {
        let recs = self.records();
        let reports = parse_reports(&self.rig.emulator.logs(&self.function)?);
        let window_ms = (self.args.function_timeout_secs as f64 - 7.0) * 1000.0;
        for r in recs.iter().filter(|r| r.is_finished()) {
            self.out.finished += 1;
            self.out.overruns += usize::from(r.ended_before_deadline == Some(false));
            match &r.outcome {
                Some(Outcome::Timeout) => self.out.timeouts += 1,
                Some(Outcome::Error { .. }) => self.out.errors += 1,
                _ => {}
            }
            if let Some(rep) = reports.get(&r.request_id) {
                self.out.past_window_ms.push(rep.duration_ms - window_ms);
                self.out.report_max_mem_mb =
                    self.out.report_max_mem_mb.max(Some(rep.max_memory_mb));
            }
        }
        Ok(())
    }

    async fn run_all(&mut self) -> Result<()> {
        progress(&format!(
            "{}: cold phase ({} runs + 1 warm-up)",
            self.spec.name, self.args.runs
        ));
        self.cold_phase().await?;
        progress(&format!(
            "{}: warm phase ({} runs + 1 warm-up)",
            self.spec.name, self.args.runs
        ));
        self.warm_phase().await?;
        self.throughput_phase().await?;
        self.billing_phase().await?;
        self.settle(0).await?;
        self.stop_sandboxes().await?;
        Ok(())
    }
}

fn rows_of(args: &Args) -> Vec<RowSpec> {
    let mut rows = vec![RowSpec {
        name: "rust".into(),
        label: "Rust (ours)".into(),
        code: args.rust.clone(),
    }];
    if let Some(p) = &args.python {
        rows.push(RowSpec {
            name: "python".into(),
            label: "Python `temporalio` 1.35".into(),
            code: p.clone(),
        });
    }
    if let Some(t) = &args.typescript {
        rows.push(RowSpec {
            name: "typescript".into(),
            label: "TS `@temporalio/lambda-worker` 1.23".into(),
            code: t.clone(),
        });
    }
    rows
}

async fn run(args: Args) -> Result<()> {
    let t0 = Instant::now();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let repo_root = args.repo_root.canonicalize().context("--repo-root")?;
    let rows = rows_of(&args);
    for r in &rows {
        if !r.code.exists() {
            bail!("{} not found (row {})", r.code.display(), r.name);
        }
    }
    let timeout = Duration::from_secs(args.function_timeout_secs);
    let rig = rig::start(&repo_root, &rows, timeout, args.concurrency, &progress).await?;
    // The server invokes each function once when its version is registered: let those end.
    rig.emulator
        .wait_for_invocations(timeout + Duration::from_secs(30), |rs| {
            rs.iter().all(|r| r.is_finished())
        })
        .await
        .context("waiting for the registration invocations")?;

    let mut results = Vec::new();
    for spec in &rows {
        let mut rb = RowBench {
            rig: &rig,
            spec,
            args: &args,
            function: spec.function(),
            out: RowResult::default(),
        };
        match sys::zip_size(&spec.code) {
            Ok((z, raw)) => {
                rb.out.zip_bytes = z;
                rb.out.raw_bytes = raw;
            }
            Err(e) => progress(&format!("{}: zip size: {e:#}", spec.name)),
        }
        if let Err(e) = rb.run_all().await {
            progress(&format!("{}: FAILED: {e:#}", spec.name));
            rb.out.failure = Some(format!("{e:#}"));
            let _ = rb.stop_sandboxes().await;
        }
        if let Err(e) = rb.finish() {
            progress(&format!("{}: {e:#}", spec.name));
        }
        results.push(rb.out);
    }
    let wall = t0.elapsed();

    let report = render(&args, &rows, &results, wall);
    match &args.out {
        Some(p) => {
            std::fs::write(p, &report).with_context(|| format!("writing {}", p.display()))?
        }
        None => print!("{report}"),
    }
    if let Some(p) = &args.chart {
        type Pick = fn(&RowResult) -> &Vec<f64>;
        let panels: [(&str, Pick); 3] = [
            (
                "scale from zero, cold: workflow start → completed (ms)",
                |r| &r.cold_ms,
            ),
            ("warm sandbox: workflow start → completed (ms)", |r| {
                &r.warm_ms
            }),
            (
                "cold start: Invoke received → first poll at the server (ms)",
                |r| &r.cold_start_ms,
            ),
        ];
        let series: Vec<chart::Panel> = panels
            .iter()
            .map(|(title, f)| chart::Panel {
                title: title.to_string(),
                rows: rows
                    .iter()
                    .zip(&results)
                    .map(|(s, r)| (s.label.replace('`', ""), f(r).clone()))
                    .collect(),
            })
            .collect();
        std::fs::write(p, chart::svg(&series))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    progress(&format!("done in {:.1} s", wall.as_secs_f64()));
    if results.iter().any(|r| r.failure.is_some()) {
        bail!("a row failed (see the report)");
    }
    if results[0].overruns > 0 {
        bail!("our worker ended an invocation after its deadline");
    }
    Ok(())
}

fn pcts(samples: &[f64], decimals: usize) -> Option<(f64, String)> {
    let s = summarize(samples)?;
    Some((
        s.p50,
        format!("{:.decimals$} / {:.decimals$}", s.p50, s.p95),
    ))
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(o), Some(t)) if o > 0.0 => format!(" (×{:.1})", t / o),
        _ => String::new(),
    }
}

fn render(args: &Args, rows: &[RowSpec], res: &[RowResult], wall: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## side-by-side — {} (UTC)\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(
        out,
        "One Temporal dev server + one lambda-emulator on 127.0.0.1, {} CPU(s); each row is its own \
         function (256 MB, timeout {} s = {} s polling window, concurrency {}), task queue and current \
         Worker Deployment Version; the same `HelloWorkflow` (one activity returning a string) is started \
         with no worker running, so the server invokes the function. N = {} cold and {} warm runs per row \
         (+1 discarded warm-up each); billing workload: {} workflows, one every {} ms. Percentiles \
         nearest-rank, \"p50 / p95\", ratio = row ÷ Rust (p50). Method: bench/README.md.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.function_timeout_secs,
        args.function_timeout_secs.saturating_sub(7),
        args.concurrency,
        args.runs,
        args.runs,
        args.billing,
        args.billing_interval_ms,
    );
    let _ = write!(out, "| figure |");
    for r in rows {
        let _ = write!(out, " {} |", r.label);
    }
    let _ = write!(out, "\n|---|");
    for _ in rows {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);

    type Cell = Box<dyn Fn(&RowResult) -> Option<(f64, String)>>;
    let lines: Vec<(&str, Cell)> = vec![
        (
            "**cold start**: Invoke received → first poll at the server, ms (server history: first `WorkflowTaskStarted`)",
            Box::new(|r| pcts(&r.cold_start_ms, 0)),
        ),
        (
            "cold: sandbox process spawn → first poll at the server, ms",
            Box::new(|r| pcts(&r.spawn_to_poll_ms, 0)),
        ),
        (
            "cold: runtime init, spawn → first `next` (REPORT Init Duration), ms",
            Box::new(|r| pcts(&r.init_ms, 0)),
        ),
        (
            "cold: spawn → the worker's own `worker polling` log line, ms (ours only; the peers log nothing comparable)",
            Box::new(|r| pcts(&r.spawn_to_worker_log_ms, 1)),
        ),
        (
            "**scale from zero, cold**: workflow start → completed, ms",
            Box::new(|r| pcts(&r.cold_ms, 0)),
        ),
        (
            "scale from zero, warm sandbox: workflow start → completed, ms",
            Box::new(|r| pcts(&r.warm_ms, 0)),
        ),
        (
            "runs really cold / really warm",
            Box::new(|r| {
                Some((
                    0.0,
                    format!(
                        "{}/{} / {}/{}",
                        r.cold_verified,
                        r.cold_ms.len(),
                        r.warm_verified,
                        r.warm_ms.len()
                    ),
                ))
            }),
        ),
        (
            "**throughput**: queued workflows drained, workflows/s (drain time)",
            Box::new(|r| {
                let t = r.throughput.as_ref()?;
                let rate = t.n as f64 / (t.drain_ms / 1000.0);
                Some((
                    t.drain_ms,
                    format!(
                        "{rate:.1}/s ({} in {:.1} s, {} invocations)",
                        t.n,
                        t.drain_ms / 1000.0,
                        t.invocations
                    ),
                ))
            }),
        ),
        (
            "throughput: per-workflow start → completed, ms",
            Box::new(|r| pcts(&r.throughput.as_ref()?.latency_ms, 0)),
        ),
        (
            "**peak RSS of the sandbox process tree** (sum of VmHWM over the process group), MB",
            Box::new(|r| r.peak_tree_rss_mb.map(|m| (m, format!("{m:.0}")))),
        ),
        (
            "REPORT Max Memory Used (VmHWM of `bootstrap`'s process), max, MB",
            Box::new(|r| r.report_max_mem_mb.map(|m| (m as f64, m.to_string()))),
        ),
        (
            "**deployment package**, zipped (unzipped), MB (runtime interface client excluded: AWS's managed runtimes ship it)",
            Box::new(|r| {
                (r.zip_bytes > 0).then(|| {
                    let z = r.zip_bytes as f64 / 1_048_576.0;
                    (z, format!("{z:.1} ({:.1})", r.raw_bytes as f64 / 1_048_576.0))
                })
            }),
        ),
        (
            "**billed duration per invocation**, ms (the billing workload; Duration + Init Duration)",
            Box::new(|r| pcts(&r.billing.as_ref()?.billed_ms, 0)),
        ),
        (
            "**GB-seconds** for those workflows at 256 MB (invocations, cold)",
            Box::new(|r| {
                let b = r.billing.as_ref()?;
                Some((
                    b.gb_s,
                    format!("{:.2} for {} ({}, {} cold)", b.gb_s, b.n, b.invocations, b.cold),
                ))
            }),
        ),
        (
            "**invocations ended after their deadline** (of finished; timeouts; errors)",
            Box::new(|r| {
                Some((
                    0.0,
                    format!("{} of {} ({}; {})", r.overruns, r.finished, r.timeouts, r.errors),
                ))
            }),
        ),
        (
            "invocation Duration − (timeout − 7 s): time past the stop-polling point, ms",
            Box::new(|r| pcts(&r.past_window_ms, 0)),
        ),
    ];
    let no_ratio = [
        "runs really cold / really warm",
        "cold: spawn → the worker's own `worker polling` log line, ms (ours only; the peers log nothing comparable)",
        "**invocations ended after their deadline** (of finished; timeouts; errors)",
        "invocation Duration − (timeout − 7 s): time past the stop-polling point, ms",
    ];
    for (label, f) in &lines {
        let _ = write!(out, "| {label} |");
        let ours = f(&res[0]).map(|(v, _)| v);
        for (i, r) in res.iter().enumerate() {
            match f(r) {
                Some((v, text)) => {
                    let rt = if i == 0 || no_ratio.contains(label) {
                        String::new()
                    } else {
                        ratio(ours, Some(v))
                    };
                    let _ = write!(out, " {text}{rt} |");
                }
                None => {
                    let _ = write!(out, " – |");
                }
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
    if let Some(c) = args.chart.as_ref() {
        let link = args.chart_link.clone().unwrap_or_else(|| {
            c.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let _ = writeln!(out, "![latency distributions]({link})\n");
    }
    for (spec, r) in rows.iter().zip(res) {
        if let Some(f) = &r.failure {
            let _ = writeln!(out, "* **{}** failed: {}", spec.name, f.replace('\n', " "));
        }
    }
    for n in &args.notes {
        let _ = writeln!(out, "* {n}");
    }
    let _ = writeln!(out, "* bench wall time {:.0} s", wall.as_secs_f64());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_with_and_without_init_duration() {
        let logs = "START RequestId: a Version: 1\nEND RequestId: a\n\
            REPORT RequestId: a\tDuration: 2012.50 ms\tBilled Duration: 2013 ms\tMemory Size: 256 MB\tMax Memory Used: 61 MB\tInit Duration: 240.20 ms\n\
            REPORT RequestId: b\tDuration: 2001.00 ms\tBilled Duration: 2001 ms\tMemory Size: 256 MB\tMax Memory Used: 23 MB\n";
        let r = parse_reports(logs);
        assert_eq!(r["a"].init_ms, Some(240.2));
        assert_eq!(r["a"].max_memory_mb, 61);
        assert_eq!(r["b"].init_ms, None);
        assert_eq!(r["b"].duration_ms, 2001.0);
    }

    #[test]
    fn table_has_a_column_per_row_and_ratios_to_ours() {
        let args = Args::parse_from([
            "side-by-side",
            "--rust",
            "b",
            "--python",
            "p",
            "--runs",
            "2",
        ]);
        let rows = rows_of(&args);
        let ours = RowResult {
            cold_start_ms: vec![10.0, 20.0],
            ..Default::default()
        };
        let py = RowResult {
            cold_start_ms: vec![200.0, 250.0],
            failure: Some("boom".into()),
            ..Default::default()
        };
        let md = render(&args, &rows, &[ours, py], Duration::from_secs(3));
        let line = md
            .lines()
            .find(|l| l.starts_with("| **cold start**"))
            .unwrap();
        assert!(line.ends_with("| 10 / 20 | 200 / 250 (×20.0) |"), "{line}");
        assert!(md.contains("| figure | Rust (ours) | Python `temporalio` 1.35 |"));
        assert!(md.contains("* **python** failed: boom"));
    }
}
