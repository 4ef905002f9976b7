//! `--combine`: one markdown table from the `--json` files of runs in different configs
//! (fidelity, memory size). Every cell is copied from its run, ratio included: a ratio always
//! compares rows measured in the same run.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Short worker label of a row name.
fn worker(name: &str, label: &str) -> String {
    match name {
        "rust" => "Rust (ours)".into(),
        "python" => "Python".into(),
        "typescript" => "TypeScript".into(),
        _ => label.into(),
    }
}

/// `lambda:256` and a readable column header.
fn config_names(c: &Value) -> (String, String) {
    let f = c["fidelity"].as_str().unwrap_or("?");
    let mem = c["memory_mb"].as_u64().unwrap_or(0);
    let enforced = c["enforced"].as_str().unwrap_or("?");
    let mut head = format!("`{f}:{mem}`");
    if let Some(cpu) = c["cpu_vcpu"].as_f64() {
        let _ = write!(head, " ({cpu:.3} vCPU)");
    }
    if enforced != f {
        let _ = write!(head, " (enforced: {enforced})");
    }
    (format!("{f}:{mem}"), head)
}

/// The billing workload of a run: `20 × 1 per 10 s` or `burst of 200`.
fn workload_name(c: &Value) -> String {
    let n = c["billing"].as_u64().unwrap_or(0);
    match c["billing_interval_ms"].as_u64().unwrap_or(0) {
        0 => format!("burst of {n}"),
        ms if ms % 1000 == 0 => format!("{n} × 1 per {} s", ms / 1000),
        ms => format!("{n} × 1 per {ms} ms"),
    }
}

/// Reads the runs and renders the combined table.
pub(crate) fn render(runs: &[Value]) -> Result<String> {
    let Some(first) = runs.first() else {
        bail!("--combine needs at least one JSON file");
    };
    let mut out = String::new();
    let names = column_names(runs, first);
    header(&mut out, runs, first, &names);
    figure_lines(&mut out, runs, first)?;
    notes(&mut out, runs, &names);
    Ok(out)
}

/// Each run's (key, column head): its config, and its workload when the runs' differ.
fn column_names(runs: &[Value], first: &Value) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> =
        runs.iter().map(|r| config_names(&r["config"])).collect();
    // Runs of different workloads (the cost table): the column says which.
    let workload = |c: &Value| (c["billing"].clone(), c["billing_interval_ms"].clone());
    if runs
        .iter()
        .any(|r| workload(&r["config"]) != workload(&first["config"]))
    {
        for (r, (key, head)) in runs.iter().zip(names.iter_mut()) {
            let w = workload_name(&r["config"]);
            key.push_str(&format!(" {w}"));
            head.push_str(&format!(" — {w}"));
        }
    }
    names
}

/// Title, the paragraph on the runs, and the table's head.
fn header(out: &mut String, runs: &[Value], first: &Value, names: &[(String, String)]) {
    let date = first["config"]["started_utc"]
        .as_str()
        .unwrap_or("?")
        .split(' ')
        .next()
        .unwrap_or("?")
        .to_string();
    let _ = writeln!(
        out,
        "## side-by-side under Lambda fidelity — {date} (UTC)\n"
    );
    let c = &first["config"];
    let same_sizes = runs.iter().all(|r| {
        [
            "runs",
            "throughput",
            "billing",
            "billing_interval_ms",
            "timeout_s",
            "concurrency",
        ]
        .iter()
        .all(|k| r["config"][k] == c[k])
    });
    let _ = writeln!(
        out,
        "{} bench run(s), one per config (`fidelity:MemorySize`), each with all its rows on one emulator (that fidelity) and one dev server \
         of its own; a cell is copied from its run, so every ratio (row ÷ Rust, p50 or \
         value) compares rows measured in the same run. Sizes{}: N = {} cold and {} warm runs per \
         row, throughput {} workflows queued at once (concurrency {}), billing {} workflows one \
         every {} ms; timeout {} s (2 s polling window). `off` = no limits (the whole machine, never \
         frozen); `lambda` = CPU share MemorySize/1769 vCPU, memory limit MemorySize, frozen between \
         invocations. p50 / p95, nearest-rank; 2 shared cores.\n",
        runs.len(),
        if same_sizes { "" } else { " (of the first run; they differ, see the notes)" },
        c["runs"],
        c["runs"],
        c["throughput"],
        c["concurrency"],
        c["billing"],
        c["billing_interval_ms"],
        c["timeout_s"],
    );
    let _ = write!(out, "| figure | worker |");
    for (_, head) in names {
        let _ = write!(out, " {head} |");
    }
    let _ = write!(out, "\n|---|---|");
    for _ in names {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
}

/// One line per figure and worker (our-only figures: our line only), a cell per run.
fn figure_lines(out: &mut String, runs: &[Value], first: &Value) -> Result<()> {
    // Workers in first-seen order over all runs.
    let mut workers: Vec<(String, String)> = Vec::new();
    for r in runs {
        for row in r["rows"].as_array().into_iter().flatten() {
            let n = row["name"].as_str().unwrap_or_default().to_string();
            if !workers.iter().any(|(w, _)| *w == n) {
                workers.push((n.clone(), worker(&n, row["label"].as_str().unwrap_or(&n))));
            }
        }
    }
    let figures = first["figures"].as_array().context("figures")?;
    for fig in figures {
        let key = fig["key"].as_str().unwrap_or_default();
        let short = fig["short"].as_str().unwrap_or(key);
        let mut first_line = true;
        for (name, label) in &workers {
            let measured_here = key != "worker_log" || name == "rust";
            if !measured_here {
                continue;
            }
            let _ = write!(out, "| {} | {label} |", if first_line { short } else { "" });
            first_line = false;
            for r in runs {
                let _ = write!(out, " {} |", cell(r, key, name));
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out);
    Ok(())
}

/// Per run: its facts and its bullets (those shared with an earlier run printed once).
fn notes(out: &mut String, runs: &[Value], names: &[(String, String)]) {
    let mut seen: Vec<String> = Vec::new();
    for (r, (name, _)) in runs.iter().zip(names) {
        let c = &r["config"];
        let report = c["report"].as_str().unwrap_or("");
        let _ = writeln!(
            out,
            "**`{name}`** ({}; started {} UTC, bench wall time {:.0} s; load average 1/5/15 min at the \
             start {}, at the end {}):\n",
            if report.is_empty() {
                "no report file".to_string()
            } else {
                format!("[report]({report})")
            },
            c["started_utc"].as_str().unwrap_or("?"),
            c["wall_s"].as_f64().unwrap_or(0.0),
            c["load_start"].as_str().unwrap_or("?"),
            c["load_end"].as_str().unwrap_or("?"),
        );
        for b in r["bullets"].as_array().into_iter().flatten() {
            let b = b.as_str().unwrap_or_default();
            if b.starts_with("load average") || b.starts_with("bench wall time") {
                continue;
            }
            if seen.iter().any(|s| s == b) {
                continue;
            }
            seen.push(b.to_string());
            let _ = writeln!(out, "* {b}");
        }
        let _ = writeln!(out);
    }
}

/// The cell of row `name` for figure `key` in run `r`.
fn cell(r: &Value, key: &str, name: &str) -> String {
    let Some(i) = r["rows"]
        .as_array()
        .and_then(|rows| rows.iter().position(|row| row["name"] == name))
    else {
        return "– (not run)".into();
    };
    r["figures"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["key"] == key))
        .and_then(|f| f["cells"][i].as_str())
        .unwrap_or("–")
        .to_string()
}

/// Reads `files`, writes the combined table to `out` (or stdout).
pub(crate) fn run(files: &[std::path::PathBuf], out: Option<&Path>) -> Result<()> {
    let runs = files
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<Value>(&text).with_context(|| format!("parsing {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let md = render(&runs)?;
    match out {
        Some(p) => std::fs::write(p, &md).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{md}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_json(fidelity: &str, cpu: Option<f64>, cold: [&str; 2]) -> Value {
        serde_json::json!({
            "config": {"fidelity": fidelity, "enforced": fidelity, "memory_mb": 256, "cpu_vcpu": cpu,
                "runs": 2, "throughput": 10, "billing": 3, "billing_interval_ms": 2000, "timeout_s": 9,
                "concurrency": 2, "started_utc": "2026-12-02 10:00", "load_start": "0.5 0.4 0.3",
                "load_end": "1.5 1.4 1.3", "wall_s": 60.0, "report": format!("x-{fidelity}.md")},
            "rows": [{"name": "rust", "label": "Rust (ours)"}, {"name": "python", "label": "Python x"}],
            "figures": [
                {"key": "cold_start", "short": "**cold start**", "cells": cold},
                {"key": "worker_log", "short": "our log line", "cells": ["12.0 / 13.0", null]},
            ],
            "bullets": ["python setup: 3 s", "load average (1/5/15 min) at the start: 0.5 0.4 0.3; at the end: 1.5 1.4 1.3"],
        })
    }

    #[test]
    fn one_column_per_run_one_line_per_worker() {
        let md = render(&[
            run_json("off", None, ["22 / 30", "318 / 438 (×14.2)"]),
            run_json("lambda", Some(0.145), ["40 / 50", "2000 / 2500 (×50.0)"]),
        ])
        .unwrap();
        crate::golden::pin("combine.md", &md);
        assert!(
            md.contains("| figure | worker | `off:256` | `lambda:256` (0.145 vCPU) |"),
            "{md}"
        );
        assert!(
            md.contains("| **cold start** | Rust (ours) | 22 / 30 | 40 / 50 |"),
            "{md}"
        );
        assert!(md.contains("|  | Python | 318 / 438 (×14.2) | 2000 / 2500 (×50.0) |"));
        // Our-only figure: no Python line.
        assert!(md.contains("| our log line | Rust (ours) | 12.0 / 13.0 | 12.0 / 13.0 |"));
        assert!(!md.contains("|  | Python | – | – |"));
        assert!(
            md.contains("load average 1/5/15 min at the start 0.5 0.4 0.3, at the end 1.5 1.4 1.3")
        );
        // Notes shared by the runs are printed once.
        assert_eq!(md.matches("python setup: 3 s").count(), 1);
    }

    #[test]
    fn runs_of_different_workloads_name_theirs_in_the_column() {
        let mut sparse = run_json("lambda", Some(0.145), ["40 / 50", "2000 / 2500 (×50.0)"]);
        sparse["config"]["billing"] = 15.into();
        sparse["config"]["billing_interval_ms"] = 10_000.into();
        let mut burst = run_json("lambda", Some(0.145), ["41 / 51", "2001 / 2501 (×48.8)"]);
        burst["config"]["billing"] = 200.into();
        burst["config"]["billing_interval_ms"] = 0.into();
        let md = render(&[sparse, burst]).unwrap();
        crate::golden::pin("combine-workloads.md", &md);
        assert!(
            md.contains(
                "| figure | worker | `lambda:256` (0.145 vCPU) — 15 × 1 per 10 s | `lambda:256` (0.145 vCPU) — burst of 200 |"
            ),
            "{md}"
        );
        assert!(md.contains("**`lambda:256 burst of 200`**"), "{md}");
    }
}
