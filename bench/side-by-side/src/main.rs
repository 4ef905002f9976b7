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
mod results;
mod rig;
mod row;
#[path = "../../rig-latency/src/stats.rs"]
mod stats;
// Only `parse_polling` is used here (our worker's `worker polling` line).
mod sys;
mod table;
mod wf;
#[allow(dead_code)]
#[path = "../../rig-latency/src/logs.rs"]
mod worker_logs;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use temporal_lambda_emulator::Fidelity;

use crate::results::RowResult;
use crate::rig::{FunctionConfig, RowSpec};
use crate::row::RowBench;
use crate::table::{table, RunInfo};

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

/// Benches every row, one after the other; a row that fails is reported and the next runs.
async fn bench_rows(rig: &rig::Rig, rows: &[RowSpec], args: &Args) -> Vec<RowResult> {
    let mut results = Vec::new();
    for spec in rows {
        let mut rb = RowBench {
            rig,
            spec,
            args,
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
    results
}

/// The latency chart (SVG): cold, warm and cold-start distributions of every row.
fn write_chart(p: &std::path::Path, rows: &[RowSpec], results: &[RowResult]) -> Result<()> {
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
                .zip(results)
                .map(|(s, r)| (s.label.replace('`', ""), f(r).clone()))
                .collect(),
        })
        .collect();
    std::fs::write(p, chart::svg(&series)).with_context(|| format!("writing {}", p.display()))?;
    Ok(())
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

    let results = bench_rows(&rig, &rows, &args).await;
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
        write_chart(p, &rows, &results)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{parse_reports, Billing, Throughput};

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
