//! The report pinned on a fixture of four runs of three shapes.

use clap::Parser as _;

use std::collections::HashMap;
use std::time::Duration;

use temporal_lambda_emulator::{Fidelity, InvocationRecord};

use super::*;
use crate::{logs, Run, ShapeSpec};

/// A finished attempt of `function` received at `at` ms.
fn record(id: &str, at: u64, cold: bool) -> InvocationRecord {
    serde_json::from_value(serde_json::json!({
        "request_id": id,
        "function_name": "task-gaps",
        "version": "1",
        "invocation_type": "RequestResponse",
        "attempt": 1,
        "received_at_ms": at,
        "started_at_ms": at + 2,
        "deadline_ms": at + 120_000,
        "ended_at_ms": at + 5_000,
        "outcome": {"status": "success"},
        "sandbox_id": "s1",
        "pid": 7,
        "cold_start": cold,
        "ended_before_deadline": true,
    }))
    .unwrap()
}

fn log(duration_ms: f64, gaps: &[u64], tail: u64, first_task: Option<u64>) -> logs::Invocation {
    logs::Invocation {
        duration_ms: Some(duration_ms),
        init_ms: None,
        polling_at_ms: Some(1_000.0),
        stopped_at_ms: Some(1_000.0 + duration_ms - 30.0),
        first_task_ms: first_task,
        idle_gaps_ms: gaps.to_vec(),
        idle_tail_ms: Some(tail),
        stopped_by: Some("Idle".into()),
        finished: true,
    }
}

fn run(kind: &str, steps: u32, timer_ms: Vec<u64>, ids: &[&str], at: u64) -> Run {
    Run {
        shape: ShapeSpec {
            kind: kind.into(),
            steps,
            timer_ms,
        },
        elapsed_ms: 1_234.0 + at as f64 / 1000.0,
        server_timers: if kind == "timers" {
            vec![(1000.0, 1003.0), (2000.0, 2005.0)]
        } else {
            Vec::new()
        },
        records: ids
            .iter()
            .enumerate()
            .map(|(i, id)| record(id, at + i as u64 * 10, i == 0))
            .collect(),
    }
}

#[test]
fn report_is_pinned() {
    let args = crate::Args::parse_from([
        "task-gaps",
        "--timer-ms",
        "1000,2000",
        "--timer-steps",
        "2",
        "--note",
        "a note",
    ]);
    let runs = vec![
        run("chain", 3, vec![], &["c1", "c2"], 1_000),
        run("chain", 3, vec![], &["c3"], 2_000),
        run("timers", 2, vec![1000, 2000], &["t1"], 3_000),
        run("signals", 2, vec![], &["s1", "s2"], 4_000),
    ];
    let logs: HashMap<String, logs::Invocation> = [
        ("c1", log(400.0, &[5, 7, 12], 15_000, Some(3))),
        ("c2", log(16_000.0, &[], 15_000, None)),
        ("c3", log(300.0, &[4, 9, 30], 15_000, Some(2))),
        (
            "t1",
            log(3_500.0, &[6, 1_010, 8, 2_020, 11], 15_000, Some(4)),
        ),
        ("s1", log(1_200.0, &[498, 503], 15_000, Some(5))),
        ("s2", log(900.0, &[501], 15_000, Some(6))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut all: Vec<InvocationRecord> = runs.iter().flat_map(|r| r.records.clone()).collect();
    all.push(record("setup", 10, true));
    let md = render(&Input {
        args: &args,
        fidelity: Fidelity::OFF,
        runs: &runs,
        logs: &logs,
        all_records: &all,
        wall: Duration::from_secs(77),
        started_utc: "2026-12-07 11:00",
    })
    .unwrap();
    // The machine's CPU count is the one thing that differs between hosts.
    let cpus = format!(
        "127.0.0.1), {} CPU(s)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    crate::golden::pin("report.md", &md.replace(&cpus, "127.0.0.1), <n> CPU(s)"));
}
