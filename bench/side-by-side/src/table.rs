//! A run's results as a [`Table`]: the markdown report and the JSON `--combine` reads.

use std::fmt::Write as _;
use std::time::Duration;
use temporal_lambda_env::arch::Arch;

use temporal_lambda_emulator::{cpu_millis, Fidelity};

use crate::results::RowResult;
use crate::rig::RowSpec;
use crate::stats::summarize;
use crate::Args;

/// Facts about one bench run (one config) that are not per row.
pub(crate) struct RunInfo {
    pub(crate) started_utc: String,
    /// The fidelity the emulator enforced (the asked one minus what the host cannot do).
    pub(crate) enforced: Fidelity,
    /// `/proc/loadavg` (1, 5, 15 min) before the rig started and after the last row.
    pub(crate) load_start: String,
    pub(crate) load_end: String,
    pub(crate) wall: Duration,
}

/// One figure of the table: a cell per row (ratio to ours included), `None` = not measured.
pub(crate) struct Figure {
    /// Stable key (the `--combine` input refers to figures by it).
    pub(crate) key: &'static str,
    /// Label in a run's own report.
    pub(crate) label: String,
    /// Label in the combined table.
    pub(crate) short: &'static str,
    pub(crate) cells: Vec<Option<String>>,
}

/// A run's results as a table, rendered as markdown (the report) or JSON (for `--combine`).
pub(crate) struct Table {
    pub(crate) title: String,
    pub(crate) intro: String,
    pub(crate) config: serde_json::Value,
    pub(crate) columns: Vec<(String, String)>,
    pub(crate) figures: Vec<Figure>,
    /// Chart link, if any.
    pub(crate) chart: Option<String>,
    /// The bullet list under the table.
    pub(crate) bullets: Vec<String>,
}

impl Table {
    pub(crate) fn markdown(&self) -> String {
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

    pub(crate) fn json(&self) -> serde_json::Value {
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

pub(crate) fn pcts(samples: &[f64], decimals: usize) -> Option<(f64, String)> {
    let s = summarize(samples)?;
    Some((
        s.p50,
        format!("{:.decimals$} / {:.decimals$}", s.p50, s.p95),
    ))
}

pub(crate) fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(o), Some(t)) if o > 0.0 => format!(" (×{:.1})", t / o),
        _ => String::new(),
    }
}

/// What the fidelity means for a function of `memory_mb` (for the header).
pub(crate) fn fidelity_text(f: Fidelity, memory_mb: u32) -> String {
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

/// A figure's cell for one row: the value the ratio is computed from, and the text.
type Cell = Box<dyn Fn(&RowResult) -> Option<(f64, String)>>;

/// One figure's definition: key, label, short label, with a ratio to ours, the cell.
type Line = (&'static str, String, &'static str, bool, Cell);

pub(crate) fn table(args: &Args, run: &RunInfo, rows: &[RowSpec], res: &[RowResult]) -> Table {
    let mem = args.memory_mb;
    let (title, intro) = title_and_intro(args, run);
    let mut lines = latency_lines();
    lines.extend(throughput_and_size_lines());
    lines.extend(billing_and_deadline_lines(mem));
    let figures = figures(lines, res);
    let chart = args.chart.as_ref().map(|c| {
        args.chart_link.clone().unwrap_or_else(|| {
            c.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    });
    let bullets = bullets(args, run, rows, res);
    let config = config(args, run, rows, res);
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

/// The report's title and the paragraph on the setup.
fn title_and_intro(args: &Args, run: &RunInfo) -> (String, String) {
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

    (title, intro)
}

/// The latency figures of scale-from-zero runs.
fn latency_lines() -> Vec<Line> {
    vec![
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
    ]
}

/// Throughput, memory and package size.
fn throughput_and_size_lines() -> Vec<Line> {
    vec![
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
    ]
}

/// The billing workload (for functions of `mem` MB) and deadline discipline.
fn billing_and_deadline_lines(mem: u32) -> Vec<Line> {
    vec![
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
                let c = r.billing.as_ref()?.cost_per_1000(Arch::X86_64)?;
                Some((c, format!("${c:.4}")))
            }),
        ),
        (
            "cost_arm64",
            "cost per 1,000 workflows on arm64 (Graviton), USD (the same GB-s × $0.0000133334 + invocations × $0.20/M: at the speed measured here, on x86_64)".into(),
            "cost per 1,000 workflows on arm64 (Graviton), USD",
            true,
            Box::new(|r| {
                let c = r.billing.as_ref()?.cost_per_1000(Arch::Arm64)?;
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
    ]
}

/// Each figure's cells over the rows, with the ratio to ours (the first row) where it has one.
fn figures(lines: Vec<Line>, res: &[RowResult]) -> Vec<Figure> {
    lines
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
        .collect()
}

/// The bullet list under the table: failures, enforced limits, notes, load and wall time.
fn bullets(args: &Args, run: &RunInfo, rows: &[RowSpec], res: &[RowResult]) -> Vec<String> {
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

    bullets
}

/// The run's configuration, as the JSON `--combine` reads.
fn config(args: &Args, run: &RunInfo, rows: &[RowSpec], res: &[RowResult]) -> serde_json::Value {
    let mem = args.memory_mb;
    serde_json::json!({
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
    })
}
