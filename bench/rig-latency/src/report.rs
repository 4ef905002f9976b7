//! The markdown report: latency percentiles of both rigs, then single figures (memory, sizes,
//! deadlines).

use std::fmt::Write as _;
use std::time::Duration;

use crate::artifact::Artifact;
use crate::phases::{ColdPhase, Deadlines, WarmPhase};
use crate::stats::{summarize, Summary};
use crate::Args;

/// Everything the report is made of.
pub(crate) struct Input<'a> {
    pub(crate) args: &'a Args,
    pub(crate) cold: &'a ColdPhase,
    pub(crate) warm: &'a WarmPhase,
    pub(crate) art: &'a Artifact,
    /// Both rigs' deadlines, summed.
    pub(crate) deadlines: &'a Deadlines,
    pub(crate) wall: Duration,
    /// The report's time, `YYYY-MM-DD HH:MM` (UTC).
    pub(crate) started_utc: &'a str,
}

/// The report, in markdown.
pub(crate) fn render(inp: &Input) -> String {
    let Input {
        args,
        cold,
        warm,
        art,
        deadlines,
        wall,
        ..
    } = *inp;
    let mut out = String::new();
    let _ = writeln!(out, "## rig-latency — {} (UTC)\n", inp.started_utc);
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
    latency_table(&mut out, cold, warm);
    values_table(&mut out, args, warm, art, deadlines, wall, cold);
    out
}

/// The percentile table of both rigs.
fn latency_table(out: &mut String, cold: &ColdPhase, warm: &WarmPhase) {
    let _ = writeln!(out, "| figure | n | p50 | p95 | min | max | mean |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    row(
        out,
        "**cold**: workflow start → completed (no sandbox)",
        &cold.workflow_ms,
        0,
    );
    row(
        out,
        "**warm**: workflow start → completed (idle warm sandbox)",
        &warm.workflow_ms,
        0,
    );
    row(
        out,
        "emulator overhead, warm: Invoke received → handed to sandbox",
        &warm.overhead_ms,
        0,
    );
    row(
        out,
        "cold: Invoke received → handed to new sandbox (incl. process init)",
        &cold.received_to_started_ms,
        0,
    );
    row(
        out,
        "cold: sandbox init, spawn → first `next` (REPORT Init Duration)",
        &cold.init_ms,
        1,
    );
    row(out, "cold: worker `connect_ms`", &cold.connect_ms, 0);
    row(
        out,
        "cold: handed to runtime → `worker polling`",
        &cold.started_to_polling_ms,
        1,
    );
    row(
        out,
        "**cold: sandbox process start → first poll** (Init Duration + the above)",
        &cold.spawn_to_polling_ms,
        1,
    );
    row(
        out,
        "warm: handed to runtime → `worker polling`",
        &warm.started_to_polling_ms,
        1,
    );
    row(out, "warm: worker `connect_ms`", &warm.connect_ms, 0);
    row(
        out,
        &format!(
            "load: {} workflows at once, start → completed",
            warm.load_ms.len()
        ),
        &warm.load_ms,
        0,
    );
    row(
        out,
        "cold: Max Memory Used after one invocation (MB)",
        &cold.max_memory_mb,
        0,
    );
}

/// Single figures: memory under load, artifact sizes, deadlines, run counts, wall time.
fn values_table(
    out: &mut String,
    args: &Args,
    warm: &WarmPhase,
    art: &Artifact,
    deadlines: &Deadlines,
    wall: Duration,
    cold: &ColdPhase,
) {
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn report_is_pinned() {
        let args = Args::parse_from(["rig-latency", "--runs", "3"]);
        let deadlines = Deadlines {
            finished: 40,
            before_deadline: 39,
            succeeded: 38,
        };
        let cold = ColdPhase {
            workflow_ms: vec![300.0, 320.0, 350.0],
            verified_cold: 3,
            received_to_started_ms: vec![5.0, 6.0, 7.0],
            init_ms: vec![1.25, 1.5, 2.0],
            connect_ms: vec![3.0, 4.0, 5.0],
            started_to_polling_ms: vec![8.5, 9.0, 9.5],
            spawn_to_polling_ms: vec![10.0, 11.0, 12.0],
            max_memory_mb: vec![20.0, 21.0, 22.0],
            invocations: 5,
            unattributed: 1,
            deadlines,
        };
        let warm = WarmPhase {
            workflow_ms: vec![30.0, 32.0, 35.0],
            verified_warm: 2,
            overhead_ms: vec![0.0, 1.0, 1.0],
            started_to_polling_ms: vec![0.5, 0.75, 1.0],
            connect_ms: vec![],
            load_ms: vec![100.0, 200.0, 300.0, 400.0],
            load_wall_ms: 456.0,
            load_invocations: 6,
            load_sandboxes: 3,
            load_peak_concurrency: 3,
            load_max_memory_mb: Some(33),
            invocations: 12,
            unattributed: 0,
            deadlines,
        };
        let art = Artifact {
            binary_bytes: 12_345_678,
            stripped: Some(true),
            zip_bytes: 4_567_890,
        };
        let md = render(&Input {
            args: &args,
            cold: &cold,
            warm: &warm,
            art: &art,
            deadlines: &deadlines,
            wall: Duration::from_millis(98_765),
            started_utc: "2026-12-07 11:00",
        });
        // The machine's CPU count is the one thing that differs between hosts.
        let cpus = format!(
            "127.0.0.1), {} CPU(s)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        crate::golden::pin("report.md", &md.replace(&cpus, "127.0.0.1), <n> CPU(s)"));
    }
}
