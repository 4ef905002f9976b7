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
mod combine;
#[cfg(test)]
mod golden;
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
use temporal_lambda_emulator::{cpu_millis, Fidelity, InvocationRecord, Outcome, SandboxInfo};

use crate::rig::{FunctionConfig, Rig, RowSpec};
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
    /// Arrival interval of the billing workload, ms (0: all at once, a burst).
    #[arg(long, default_value_t = 2000)]
    billing_interval_ms: u64,
    /// Add a row of our worker with the idle exit off (`TEMPORAL_LAMBDA_IDLE_EXIT=off`): it polls
    /// until `deadline − 7 s` like the peers, the latency baseline of the idle policy.
    #[arg(long)]
    rust_always_polling: bool,
    /// Add a row of our worker as a variant: `NAME[@BOOTSTRAP][:K=V,K=V…]` — another build (e.g.
    /// with another allocator) and/or extra environment (e.g. `MALLOC_ARENA_MAX=2`). Repeatable.
    #[arg(long = "rust-variant", value_parser = parse_variant)]
    rust_variants: Vec<RowSpec>,
    /// Function concurrency limit (every row).
    #[arg(long, default_value_t = 2)]
    concurrency: u32,
    /// Function timeout, s. Every worker polls until `deadline − 7 s`: 9 s gives a 2 s window.
    #[arg(long, default_value_t = 9)]
    function_timeout_secs: u64,
    /// The emulator's Lambda fidelity: `lambda` (CPU share MemorySize/1769 vCPU, memory limit
    /// MemorySize, frozen between invocations; needs writable cgroups) or `off`.
    #[arg(long, default_value = "off", value_parser = parse_fidelity)]
    fidelity: Fidelity,
    /// `MemorySize` of every row's function, MB (with `--fidelity lambda` also its CPU share and
    /// memory limit; GB-s are computed with it).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(128..=10240))]
    memory_mb: u32,
    /// Our `bootstrap` (release build of examples/hello-worker).
    #[arg(long, required_unless_present = "combine")]
    rust: Option<PathBuf>,
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
    /// Also write the run's table as JSON (input of `--combine`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Instead of running: combine the `--json` files of runs in other configs (fidelity, memory)
    /// into one markdown table (to `--out`, or stdout), one column per run.
    #[arg(long, num_args = 1.., conflicts_with_all = ["rust", "python", "typescript"])]
    combine: Vec<PathBuf>,
}

fn parse_fidelity(s: &str) -> Result<Fidelity, String> {
    s.parse()
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
    /// Workflow start → completed, ms, per workflow of the workload.
    latency_ms: Vec<f64>,
}

/// AWS Lambda's published x86 on-demand prices (us-east-1, first pricing tier).
const PRICE_PER_GB_S: f64 = 0.000_016_666_7;
/// Per request: $0.20 per million.
const PRICE_PER_REQUEST: f64 = 0.20 / 1_000_000.0;

impl Billing {
    /// What the workload would cost on Lambda, per 1,000 workflows, in USD: GB-s × price +
    /// invocations × request price, scaled from the workload's `n` workflows.
    fn cost_per_1000(&self) -> Option<f64> {
        (self.n > 0).then(|| {
            let scale = 1000.0 / self.n as f64;
            (self.gb_s * PRICE_PER_GB_S + self.invocations as f64 * PRICE_PER_REQUEST) * scale
        })
    }
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
    /// The limits the invocation records say were enforced (distinct values: CPU share, memory
    /// limit, freezer), and how many finished records carried limits.
    limits_seen: Vec<String>,
    with_limits: usize,
    /// `frozen_ms` of the invocations that ran in a sandbox frozen since its previous one.
    frozen_ms: Vec<f64>,
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
        let pids: Vec<u32> = self
            .sandboxes(&self.rig.emulator.sandboxes())
            .iter()
            .filter_map(|s| s.pid)
            .collect();
        // Signal and thaw again until they are gone: with fidelity on, a sandbox that has just
        // answered may be frozen by the emulator (its runtime's next `next`) after our thaw,
        // with the SIGKILL still pending, and a frozen process does not die.
        let mut attempt = 0;
        loop {
            for &pid in &pids {
                sys::kill_sandbox(pid);
            }
            let gone = self
                .rig
                .emulator
                .wait_for_sandboxes(Duration::from_secs(2), |s| {
                    !s.iter().any(|s| s.function_name == f)
                })
                .await;
            match gone {
                Ok(_) => {
                    if attempt > 0 {
                        progress(&format!(
                            "{}: sandboxes stopped after {} extra SIGKILL + thaw round(s)",
                            self.spec.name, attempt
                        ));
                    }
                    return Ok(());
                }
                Err(_) if attempt < 30 => attempt += 1,
                Err(e) => return Err(e).context("waiting for the sandboxes to stop"),
            }
        }
    }

    /// One workflow, then waits until every invocation it caused has ended.
    async fn measured_run(&self, tag: &str) -> Result<(wf::Done, Vec<InvocationRecord>)> {
        let before = self.records().len();
        let started = wf::start(&self.rig.conn, &self.spec.task_queue(), tag).await?;
        let done = match wf::wait(&self.rig.conn, &started, Duration::from_secs(120)).await {
            Ok(d) => d,
            Err(e) => {
                // Which invocations the emulator saw since the start, and the last log lines.
                let recs = self.records();
                let since: Vec<String> = recs[before.min(recs.len())..]
                    .iter()
                    .map(|r| {
                        format!(
                            "{} received +{} ms, cold {:?}, outcome {:?}",
                            r.request_id,
                            r.received_at_ms as i64 - started.sent_at_ms as i64,
                            r.cold_start,
                            r.outcome
                        )
                    })
                    .collect();
                let logs = self.rig.emulator.logs(&self.function).unwrap_or_default();
                let tail: Vec<&str> = logs.lines().rev().take(25).collect();
                return Err(e.context(format!(
                    "invocations since the start: [{}]; last log lines (newest first):\n{}",
                    since.join("; "),
                    tail.join("\n")
                )));
            }
        };
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
        // Interval 0: a burst (all at once).
        let mut ticks = (self.args.billing_interval_ms > 0)
            .then(|| tokio::time::interval(Duration::from_millis(self.args.billing_interval_ms)));
        for i in 0..n {
            if let Some(t) = ticks.as_mut() {
                t.tick().await;
            }
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
        let mut latency_ms = Vec::with_capacity(n);
        for t in tasks {
            latency_ms.push(t.await.context("billing workflow task")??.elapsed_ms);
        }
        let recs = self
            .settle_within(before + 1, Duration::from_secs(1800))
            .await?;
        self.sample_rss();
        let reports = parse_reports(&self.rig.emulator.logs(&self.function)?);
        let mut b = Billing {
            n,
            latency_ms,
            ..Default::default()
        };
        for r in &recs[before..] {
            b.invocations += 1;
            b.cold += usize::from(r.cold_start == Some(true));
            if let Some(rep) = reports.get(&r.request_id) {
                let billed = rep.duration_ms.ceil() + rep.init_ms.map_or(0.0, f64::ceil);
                b.billed_ms.push(billed);
                b.gb_s += billed / 1000.0 * f64::from(self.args.memory_mb) / 1024.0;
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
            if let Some(l) = &r.limits {
                self.out.with_limits += 1;
                let text = format!(
                    "CPU {}, memory limit {}, freezer {}",
                    l.cpu_millis.map_or("unlimited".into(), |m| format!(
                        "{:.3} vCPU",
                        f64::from(m) / 1000.0
                    )),
                    l.memory_limit_mb
                        .map_or("none".into(), |m| format!("{m} MB")),
                    l.freezer
                );
                if !self.out.limits_seen.contains(&text) {
                    self.out.limits_seen.push(text);
                }
                if l.frozen_ms > 0 {
                    self.out.frozen_ms.push(l.frozen_ms as f64);
                }
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

/// `NAME[@BOOTSTRAP][:K=V,K=V…]` of `--rust-variant`; an empty `code` means `--rust`'s.
fn parse_variant(v: &str) -> Result<RowSpec, String> {
    let (head, env) = v.split_once(':').unwrap_or((v, ""));
    let (name, code) = head.split_once('@').unwrap_or((head, ""));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "variant name {name:?}: use letters, digits and '-' (e.g. arena2:MALLOC_ARENA_MAX=2)"
        ));
    }
    let env = env
        .split(',')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{kv:?} is not K=V"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut label = format!("Rust, {name}");
    if !env.is_empty() {
        let kvs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        label.push_str(&format!(" (`{}`)", kvs.join(" ")));
    }
    Ok(RowSpec {
        name: format!("rust-{name}"),
        label,
        code: code.into(),
        env,
    })
}

fn rows_of(args: &Args) -> Vec<RowSpec> {
    let mut rows = vec![RowSpec {
        name: "rust".into(),
        label: "Rust (ours)".into(),
        code: args.rust.clone().unwrap_or_default(),
        env: Vec::new(),
    }];
    if args.rust_always_polling {
        rows.push(RowSpec {
            name: "rust-polling".into(),
            label: "Rust, idle exit off".into(),
            code: args.rust.clone().unwrap_or_default(),
            env: vec![("TEMPORAL_LAMBDA_IDLE_EXIT".into(), "off".into())],
        });
    }
    for v in &args.rust_variants {
        let mut v = v.clone();
        if v.code.as_os_str().is_empty() {
            v.code = args.rust.clone().unwrap_or_default();
        }
        rows.push(v);
    }
    if let Some(p) = &args.python {
        rows.push(RowSpec {
            name: "python".into(),
            label: "Python `temporalio` 1.35".into(),
            code: p.clone(),
            env: Vec::new(),
        });
    }
    if let Some(t) = &args.typescript {
        rows.push(RowSpec {
            name: "typescript".into(),
            label: "TS `@temporalio/lambda-worker` 1.23".into(),
            code: t.clone(),
            env: Vec::new(),
        });
    }
    rows
}

async fn run(args: Args) -> Result<()> {
    if !args.combine.is_empty() {
        return combine::run(&args.combine, args.out.as_deref());
    }
    let t0 = Instant::now();
    let started_utc = chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string();
    let load_start = sys::load_average();
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
    progress(&format!(
        "config {}:{} (load average {load_start})",
        args.fidelity, args.memory_mb
    ));
    let fc = FunctionConfig {
        timeout,
        concurrency: args.concurrency,
        memory_mb: args.memory_mb,
        fidelity: args.fidelity,
    };
    let rig = rig::start(&repo_root, &rows, fc, &progress).await?;
    let enforced = rig.emulator.fidelity();
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
    let run = RunInfo {
        started_utc,
        enforced,
        load_start,
        load_end: sys::load_average(),
        wall,
    };

    let table = table(&args, &run, &rows, &results);
    let report = table.markdown();
    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&table.json())?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    match &args.out {
        Some(p) => {
            std::fs::write(p, &report).with_context(|| format!("writing {}", p.display()))?
        }
        None => print!("{report}"),
    }
    if let (Some(p), false) = (&args.chart, rows.is_empty()) {
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

/// Facts about one bench run (one config) that are not per row.
struct RunInfo {
    started_utc: String,
    /// The fidelity the emulator enforced (the asked one minus what the host cannot do).
    enforced: Fidelity,
    /// `/proc/loadavg` (1, 5, 15 min) before the rig started and after the last row.
    load_start: String,
    load_end: String,
    wall: Duration,
}

/// One figure of the table: a cell per row (ratio to ours included), `None` = not measured.
struct Figure {
    /// Stable key (the `--combine` input refers to figures by it).
    key: &'static str,
    /// Label in a run's own report.
    label: String,
    /// Label in the combined table.
    short: &'static str,
    cells: Vec<Option<String>>,
}

/// A run's results as a table, rendered as markdown (the report) or JSON (for `--combine`).
struct Table {
    title: String,
    intro: String,
    config: serde_json::Value,
    columns: Vec<(String, String)>,
    figures: Vec<Figure>,
    /// Chart link, if any.
    chart: Option<String>,
    /// The bullet list under the table.
    bullets: Vec<String>,
}

impl Table {
    fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n\n{}\n", self.title, self.intro);
        let _ = write!(out, "| figure |");
        for (_, label) in &self.columns {
            let _ = write!(out, " {label} |");
        }
        let _ = write!(out, "\n|---|");
        for _ in &self.columns {
            let _ = write!(out, "---|");
        }
        let _ = writeln!(out);
        for f in &self.figures {
            let _ = write!(out, "| {} |", f.label);
            for c in &f.cells {
                let _ = write!(out, " {} |", c.as_deref().unwrap_or("–"));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
        if let Some(link) = &self.chart {
            let _ = writeln!(out, "![latency distributions]({link})\n");
        }
        for b in &self.bullets {
            let _ = writeln!(out, "* {b}");
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "config": self.config,
            "rows": self.columns.iter().map(|(n, l)| serde_json::json!({"name": n, "label": l})).collect::<Vec<_>>(),
            "figures": self.figures.iter().map(|f| serde_json::json!({
                "key": f.key, "label": f.label, "short": f.short, "cells": f.cells,
            })).collect::<Vec<_>>(),
            "bullets": self.bullets,
        })
    }
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

/// What the fidelity means for a function of `memory_mb` (for the header).
fn fidelity_text(f: Fidelity, memory_mb: u32) -> String {
    if f.is_off() {
        return "off (every sandbox gets the whole machine and keeps running between invocations)"
            .into();
    }
    let mut parts = Vec::new();
    if f.cpu {
        parts.push(format!(
            "CPU share {:.3} vCPU (MemorySize/1769)",
            f64::from(cpu_millis(memory_mb)) / 1000.0
        ));
    }
    if f.memory {
        parts.push(format!("memory limit {memory_mb} MB"));
    }
    if f.freeze {
        parts.push("frozen between invocations".into());
    }
    format!("{f} ({})", parts.join(", "))
}

fn table(args: &Args, run: &RunInfo, rows: &[RowSpec], res: &[RowResult]) -> Table {
    let mem = args.memory_mb;
    let title = format!(
        "## side-by-side — {} (UTC), fidelity {}, {mem} MB",
        run.started_utc, args.fidelity
    );
    let enforced = if run.enforced == args.fidelity {
        String::new()
    } else {
        format!(
            " — **asked {}, the host enforced only {}**",
            args.fidelity, run.enforced
        )
    };
    let intro = format!(
        "One Temporal dev server + one lambda-emulator on 127.0.0.1, {} CPU(s); Lambda fidelity \
         {}{enforced}. Each row is its own function ({mem} MB, timeout {} s = {} s polling window, \
         concurrency {}), task queue and current Worker Deployment Version; the same `HelloWorkflow` \
         (one activity returning a string) is started with no worker running, so the server invokes \
         the function. N = {} cold and {} warm runs per row (+1 discarded warm-up each); throughput: \
         {} workflows queued at once; billing workload: {} workflows, one every {} ms. Percentiles \
         nearest-rank, \"p50 / p95\", ratio = row ÷ Rust (p50) in this run. Method: bench/README.md.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fidelity_text(run.enforced, mem),
        args.function_timeout_secs,
        args.function_timeout_secs.saturating_sub(7),
        args.concurrency,
        args.runs,
        args.runs,
        args.throughput,
        args.billing,
        args.billing_interval_ms,
    );

    type Cell = Box<dyn Fn(&RowResult) -> Option<(f64, String)>>;
    let lines: Vec<(&'static str, String, &'static str, bool, Cell)> = vec![
        (
            "cold_start",
            "**cold start**: Invoke received → first poll at the server, ms (server history: first `WorkflowTaskStarted`)".into(),
            "**cold start**: Invoke received → first poll at the server, ms",
            true,
            Box::new(|r| pcts(&r.cold_start_ms, 0)),
        ),
        (
            "spawn_to_poll",
            "cold: sandbox process spawn → first poll at the server, ms".into(),
            "cold: spawn → first poll at the server, ms",
            true,
            Box::new(|r| pcts(&r.spawn_to_poll_ms, 0)),
        ),
        (
            "init",
            "cold: runtime init, spawn → first `next` (REPORT Init Duration), ms".into(),
            "cold: runtime init (REPORT Init Duration), ms",
            true,
            Box::new(|r| pcts(&r.init_ms, 0)),
        ),
        (
            "worker_log",
            "cold: spawn → the worker's own `worker polling` log line, ms (ours only; the peers log nothing comparable)".into(),
            "cold: spawn → our `worker polling` log line, ms",
            false,
            Box::new(|r| pcts(&r.spawn_to_worker_log_ms, 1)),
        ),
        (
            "cold",
            "**scale from zero, cold**: workflow start → completed, ms".into(),
            "**scale from zero, cold**: start → completed, ms",
            true,
            Box::new(|r| pcts(&r.cold_ms, 0)),
        ),
        (
            "warm",
            "scale from zero, warm sandbox: workflow start → completed, ms".into(),
            "scale from zero, warm sandbox: start → completed, ms",
            true,
            Box::new(|r| pcts(&r.warm_ms, 0)),
        ),
        (
            "verified",
            "runs really cold / really warm".into(),
            "runs really cold / really warm",
            false,
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
            "throughput",
            "**throughput**: queued workflows drained, workflows/s (drain time)".into(),
            "**throughput**: workflows/s (drain time, invocations)",
            true,
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
            "throughput_latency",
            "throughput: per-workflow start → completed, ms".into(),
            "throughput: per-workflow start → completed, ms",
            true,
            Box::new(|r| pcts(&r.throughput.as_ref()?.latency_ms, 0)),
        ),
        (
            "peak_rss",
            "**peak RSS of the sandbox process tree** (sum of VmHWM over the process group), MB".into(),
            "**peak RSS of the sandbox process tree**, MB",
            true,
            Box::new(|r| r.peak_tree_rss_mb.map(|m| (m, format!("{m:.0}")))),
        ),
        (
            "report_mem",
            "REPORT Max Memory Used (VmHWM of `bootstrap`'s process), max, MB".into(),
            "REPORT Max Memory Used, max, MB",
            true,
            Box::new(|r| r.report_max_mem_mb.map(|m| (m as f64, m.to_string()))),
        ),
        (
            "package",
            "**deployment package**, zipped (unzipped), MB (runtime interface client excluded: AWS's managed runtimes ship it)".into(),
            "deployment package, zipped (unzipped), MB",
            true,
            Box::new(|r| {
                (r.zip_bytes > 0).then(|| {
                    let z = r.zip_bytes as f64 / 1_048_576.0;
                    (z, format!("{z:.1} ({:.1})", r.raw_bytes as f64 / 1_048_576.0))
                })
            }),
        ),
        (
            "billed",
            "**billed duration per invocation**, ms (the billing workload; Duration + Init Duration)".into(),
            "**billed duration per invocation**, ms",
            true,
            Box::new(|r| pcts(&r.billing.as_ref()?.billed_ms, 0)),
        ),
        (
            "gb_s",
            format!("**GB-seconds** for those workflows at {mem} MB (invocations, cold)"),
            "**GB-seconds** of the billing workload (invocations, cold)",
            true,
            Box::new(|r| {
                let b = r.billing.as_ref()?;
                Some((
                    b.gb_s,
                    format!("{:.2} for {} ({}, {} cold)", b.gb_s, b.n, b.invocations, b.cold),
                ))
            }),
        ),
        (
            "billing_latency",
            "workflow start → completed during the billing workload, ms".into(),
            "billing workload: workflow start → completed, ms",
            true,
            Box::new(|r| pcts(&r.billing.as_ref()?.latency_ms, 0)),
        ),
        (
            "cost",
            "**cost per 1,000 workflows**, USD (GB-s × $0.0000166667 + invocations × $0.20/M, Lambda x86 prices; from the billing workload)".into(),
            "**cost per 1,000 workflows**, USD",
            true,
            Box::new(|r| {
                let c = r.billing.as_ref()?.cost_per_1000()?;
                Some((c, format!("${c:.4}")))
            }),
        ),
        (
            "overruns",
            "**invocations ended after their deadline** (of finished; timeouts; errors)".into(),
            "invocations ended after their deadline (of finished; timeouts; errors)",
            false,
            Box::new(|r| {
                Some((
                    0.0,
                    format!("{} of {} ({}; {})", r.overruns, r.finished, r.timeouts, r.errors),
                ))
            }),
        ),
        (
            "past_window",
            "invocation Duration − (timeout − 7 s): time past the stop-polling point, ms".into(),
            "time past the stop-polling point, ms",
            false,
            Box::new(|r| pcts(&r.past_window_ms, 0)),
        ),
    ];
    let figures = lines
        .into_iter()
        .map(|(key, label, short, with_ratio, f)| {
            let ours = res.first().and_then(&f).map(|(v, _)| v);
            let cells = res
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    f(r).map(|(v, text)| {
                        let rt = if i == 0 || !with_ratio {
                            String::new()
                        } else {
                            ratio(ours, Some(v))
                        };
                        format!("{text}{rt}")
                    })
                })
                .collect();
            Figure {
                key,
                label,
                short,
                cells,
            }
        })
        .collect();

    let chart = args.chart.as_ref().map(|c| {
        args.chart_link.clone().unwrap_or_else(|| {
            c.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    });
    let mut bullets = Vec::new();
    for (spec, r) in rows.iter().zip(res) {
        if let Some(f) = &r.failure {
            bullets.push(format!(
                "**{}** failed: {}",
                spec.name,
                f.replace('\n', " ")
            ));
        }
    }
    for (spec, r) in rows.iter().zip(res) {
        if !r.limits_seen.is_empty() {
            let frozen = summarize(&r.frozen_ms).map_or("none".into(), |s| {
                format!("{} invocations, p50 {:.0} ms", s.n, s.p50)
            });
            bullets.push(format!(
                "{}: limits per the invocation records ({} of {} finished carry them): {}; frozen before the invocation: {frozen}",
                spec.name,
                r.with_limits,
                r.finished,
                r.limits_seen.join(" | "),
            ));
        }
    }
    bullets.extend(args.notes.iter().cloned());
    bullets.push(format!(
        "load average (1/5/15 min) at the start: {}; at the end: {}",
        run.load_start, run.load_end
    ));
    bullets.push(format!("bench wall time {:.0} s", run.wall.as_secs_f64()));

    let config = serde_json::json!({
        "fidelity": args.fidelity.to_string(),
        "enforced": run.enforced.to_string(),
        "memory_mb": mem,
        "cpu_vcpu": run.enforced.cpu.then(|| f64::from(cpu_millis(mem)) / 1000.0),
        "runs": args.runs,
        "throughput": args.throughput,
        "billing": args.billing,
        "billing_interval_ms": args.billing_interval_ms,
        "timeout_s": args.function_timeout_secs,
        "concurrency": args.concurrency,
        "started_utc": run.started_utc,
        "load_start": run.load_start,
        "load_end": run.load_end,
        "wall_s": run.wall.as_secs_f64().round(),
        "report": args.out.as_ref().and_then(|p| p.file_name()).map(|f| f.to_string_lossy().into_owned()),
        "failures": rows.iter().zip(res).filter_map(|(s, r)| r.failure.as_ref().map(|f| format!("{}: {f}", s.name))).collect::<Vec<_>>(),
    });
    Table {
        title,
        intro,
        config,
        columns: rows
            .iter()
            .map(|r| (r.name.clone(), r.label.clone()))
            .collect(),
        figures,
        chart,
        bullets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_name_their_build_and_environment() {
        let v = parse_variant("arena2:MALLOC_ARENA_MAX=2,HELLO_MAX_CACHED_WORKFLOWS=5").unwrap();
        assert_eq!(v.name, "rust-arena2");
        assert_eq!(v.code, PathBuf::new());
        assert_eq!(
            v.env,
            vec![
                ("MALLOC_ARENA_MAX".into(), "2".into()),
                ("HELLO_MAX_CACHED_WORKFLOWS".into(), "5".into())
            ]
        );
        assert_eq!(
            v.label,
            "Rust, arena2 (`MALLOC_ARENA_MAX=2 HELLO_MAX_CACHED_WORKFLOWS=5`)"
        );
        let v = parse_variant("mimalloc@/tmp/bootstrap").unwrap();
        assert_eq!((v.code, v.env.len()), (PathBuf::from("/tmp/bootstrap"), 0));
        assert!(parse_variant("a b:X=1").is_err());
        assert!(parse_variant("a:X").is_err());
    }

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
        let run = RunInfo {
            started_utc: "2026-12-02 00:00".into(),
            enforced: Fidelity::OFF,
            load_start: "0.10 0.20 0.30".into(),
            load_end: "1.00 2.00 3.00".into(),
            wall: Duration::from_secs(3),
        };
        let t = table(&args, &run, &rows, &[ours, py]);
        let md = t.markdown();
        let json = t.json();
        assert_eq!(json["figures"][0]["key"], "cold_start");
        assert_eq!(json["figures"][0]["cells"][1], "200 / 250 (×20.0)");
        assert_eq!(json["config"]["memory_mb"], 256);
        assert!(md.contains(
            "load average (1/5/15 min) at the start: 0.10 0.20 0.30; at the end: 1.00 2.00 3.00"
        ));
        let line = md
            .lines()
            .find(|l| l.starts_with("| **cold start**"))
            .unwrap();
        assert!(line.ends_with("| 10 / 20 | 200 / 250 (×20.0) |"), "{line}");
        assert!(md.contains("| figure | Rust (ours) | Python `temporalio` 1.35 |"));
        assert!(md.contains("* **python** failed: boom"));
    }
    #[test]
    fn table_output_is_pinned() {
        let args = Args::parse_from([
            "side-by-side",
            "--rust",
            "b",
            "--python",
            "p",
            "--typescript",
            "t",
            "--rust-always-polling",
            "--runs",
            "3",
            "--chart",
            "/tmp/x/chart.svg",
            "--out",
            "/tmp/x/report.md",
            "--note",
            "python=setup 3 s",
            "--fidelity",
            "lambda",
        ]);
        let rows = rows_of(&args);
        let full = RowResult {
            cold_ms: vec![100.0, 120.0, 140.0],
            cold_verified: 3,
            warm_ms: vec![20.0, 22.0, 25.0],
            warm_verified: 2,
            cold_start_ms: vec![10.0, 20.0, 30.0],
            spawn_to_poll_ms: vec![9.0, 18.0, 27.0],
            init_ms: vec![1.5, 2.5, 3.5],
            spawn_to_worker_log_ms: vec![5.25, 6.5, 7.75],
            throughput: Some(Throughput {
                n: 500,
                drain_ms: 12_345.0,
                invocations: 7,
                latency_ms: vec![300.0, 400.0, 900.0],
            }),
            billing: Some(Billing {
                n: 100,
                invocations: 40,
                cold: 2,
                billed_ms: vec![2000.0, 2100.0, 2500.0],
                gb_s: 21.5,
                latency_ms: vec![50.0, 60.0, 70.0],
            }),
            peak_tree_rss_mb: Some(23.4),
            report_max_mem_mb: Some(21),
            zip_bytes: 3_500_000,
            raw_bytes: 9_000_000,
            finished: 60,
            overruns: 0,
            timeouts: 1,
            errors: 2,
            past_window_ms: vec![-1500.0, -1000.0, 12.0],
            limits_seen: vec!["CPU 0.145 vCPU, memory limit 256 MB, freezer true".into()],
            with_limits: 60,
            frozen_ms: vec![1000.0, 2000.0],
            failure: None,
        };
        let slower = RowResult {
            cold_ms: vec![400.0, 450.0, 500.0],
            cold_start_ms: vec![300.0, 310.0, 320.0],
            peak_tree_rss_mb: Some(80.0),
            ..full.clone()
        };
        let failed = RowResult {
            failure: Some("boom\nsecond line".into()),
            ..Default::default()
        };
        let run = RunInfo {
            started_utc: "2026-12-02 00:00".into(),
            enforced: Fidelity::OFF,
            load_start: "0.10 0.20 0.30".into(),
            load_end: "1.00 2.00 3.00".into(),
            wall: Duration::from_secs(321),
        };
        let res = [full, RowResult::default(), slower, failed];
        let t = table(&args, &run, &rows, &res);
        // The machine's CPU count is the one thing that differs between hosts.
        let cpus = format!(
            "127.0.0.1, {} CPU(s)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let host_free = |s: String| s.replace(&cpus, "127.0.0.1, <n> CPU(s)");
        golden::pin("table.md", &host_free(t.markdown()));
        golden::pin(
            "table.json",
            &host_free(serde_json::to_string_pretty(&t.json()).unwrap()),
        );
    }
}
