//! The markdown report: gap distributions, timers, idle-policy what-ifs and the proposal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;

use crate::analysis::{analyse, fmt_pcts, median, over, per_1000, Analysis, Input};
use crate::model::{self, gb_s, pcts, secs, usd, Policy, Wait};

pub(crate) fn render(inp: &Input) -> Result<String> {
    let a = analyse(inp)?;
    let mut o = String::new();
    header(&mut o, &a);
    gap_table(&mut o, &a);
    timer_table(&mut o, &a);
    what_if_table(&mut o, &a);
    cost_table(&mut o, &a);
    proposal(&mut o, &a);
    notes(&mut o, &a);
    Ok(o)
}

/// Title, the setup and the shapes.
fn header(o: &mut String, a: &Analysis) {
    let args = a.inp.args;
    let mem = args.memory_mb;
    let _ = writeln!(o, "## task-gaps — {} (UTC)\n", a.inp.started_utc);
    let _ = writeln!(
        o,
        "Release `bootstrap` of examples/hello-worker (`GapShapesWorkflow`) on the local rig (real \
         Temporal dev server + lambda-emulator, 127.0.0.1), {} CPU(s), emulator fidelity `{}`, \
         MemorySize {mem} MB, function timeout {} s, concurrency {}, \
         `TEMPORAL_LAMBDA_IDLE_EXIT={}ms` (longer than the longest timer, so every gap of a \
         workflow stays inside its invocation). {} run(s) per shape, one workflow each, one shape \
         at a time; each run waits until its invocations have ended. A gap = from the moment the \
         worker had nothing in flight (no workflow activation, no activity) to the next task's \
         start (`idle_gaps_ms` of the worker's `invocation finished` line). Percentiles \
         nearest-rank; ms.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        a.inp.fidelity,
        args.function_timeout_secs,
        args.concurrency,
        args.idle_exit_ms,
        args.runs,
    );
    let _ = writeln!(
        o,
        "Shapes: `chain` {} activities in sequence; `timers` an activity then {} × (durable timer, \
         activity), timers {:?} ms in turn; `children` {} child workflows in sequence; `signals` \
         waits for {} signals sent every {} ms; `parallel` {} activities at once, then one more.\n",
        args.chain_steps,
        args.timer_steps,
        args.timer_ms,
        args.child_steps,
        args.signal_steps,
        args.signal_every_ms,
        args.parallel_steps
    );
}

/// Idle gaps per shape, and over all shapes by kind of wait.
fn gap_table(o: &mut String, a: &Analysis) {
    let kinds = &a.kinds;
    let follow_ups = &a.follow_ups;
    let of = |kind: &str| a.of(kind);
    let gaps_where = |pred: &dyn Fn(&str, Wait) -> bool| a.gaps_where(pred);
    let _ = writeln!(o, "### Idle gaps per shape\n");
    let _ = writeln!(
        o,
        "| shape | runs | invocations (cold) | gaps | p50 | p90 | p99 | max | first task p50 | idle tail p50 | workflow p50 | stopped by |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for k in kinds {
        let rs = of(k);
        let gaps: Vec<f64> = rs
            .iter()
            .flat_map(|r| r.invs.iter().flat_map(|i| i.gaps.iter().map(|g| g.0)))
            .collect();
        let invs: usize = rs.iter().map(|r| r.invs.len()).sum();
        let cold: usize = rs.iter().map(|r| r.cold).sum();
        let first: Vec<f64> = rs
            .iter()
            .flat_map(|r| r.first_task_ms.iter().copied())
            .collect();
        let tails: Vec<f64> = rs
            .iter()
            .flat_map(|r| r.invs.iter().map(|i| i.tail_ms))
            .collect();
        let wf: Vec<f64> = rs.iter().map(|r| r.elapsed_ms).collect();
        let mut stops: BTreeMap<&str, usize> = BTreeMap::new();
        for s in rs.iter().flat_map(|r| &r.stopped_by) {
            *stops.entry(s.as_str()).or_default() += 1;
        }
        let stops: Vec<String> = stops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            o,
            "| `{k}` | {} | {invs} ({cold}) | {} | {} | {} | {} | {} | {} |",
            rs.len(),
            gaps.len(),
            fmt_pcts(pcts(&gaps)),
            median(&first).map_or("–".into(), |v| format!("{v:.0}")),
            median(&tails).map_or("–".into(), |v| format!("{v:.0}")),
            median(&wf).map_or("–".into(), |v| format!("{v:.0}")),
            stops.join(", ")
        );
    }
    let timer_waits = gaps_where(&|_, w| matches!(w, Wait::Timer(_)));
    let signal_waits = gaps_where(&|_, w| w == Wait::Signal);
    let timers_follow = gaps_where(&|k, w| k == "timers" && w == Wait::FollowUp);
    for (label, v) in [
        (
            "**server follow-ups**, all shapes (every gap but timer and signal waits)",
            follow_ups,
        ),
        (
            "… of which inside `timers` (around the timers)",
            &timers_follow,
        ),
        ("timer waits", &timer_waits),
        ("signal waits", &signal_waits),
    ] {
        let _ = writeln!(
            o,
            "| {label} | | | {} | {} | | | | | |",
            v.len(),
            fmt_pcts(pcts(v))
        );
    }
    let _ = writeln!(o);
}

/// Timer gaps against their timers (when the `timers` shape ran).
fn timer_table(o: &mut String, a: &Analysis) {
    let reduced = &a.reduced;
    let timer_lengths = &a.timer_lengths;
    let timer_rows: Vec<(u64, f64)> = reduced.iter().flat_map(|r| r.timer_gaps.clone()).collect();
    if !timer_rows.is_empty() || reduced.iter().any(|r| r.timer_mismatch.is_some()) {
        let _ = writeln!(o, "### Timer gaps vs their timers (`timers`)\n");
        let _ = writeln!(
            o,
            "| timer | n | gap p50 | gap max | gap − timer p50 | p90 | max | server: fired − started − timer p50 | max |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
        for &t in timer_lengths {
            let g: Vec<f64> = timer_rows
                .iter()
                .filter(|r| r.0 == t)
                .map(|r| r.1)
                .collect();
            let late: Vec<f64> = g.iter().map(|x| x - t as f64).collect();
            let server: Vec<f64> = reduced
                .iter()
                .flat_map(|r| r.server_timers.iter())
                .filter(|(ms, _)| (*ms - t as f64).abs() < 0.5)
                .map(|(ms, d)| d - ms)
                .collect();
            let gp = pcts(&g);
            let lp = pcts(&late);
            let sp = pcts(&server);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                secs(t as f64),
                g.len(),
                gp.map_or("–".into(), |p| format!("{:.0}", p[0])),
                gp.map_or("–".into(), |p| format!("{:.0}", p[3])),
                lp.map_or("–".into(), |p| format!("{:.0}", p[0])),
                lp.map_or("–".into(), |p| format!("{:.0}", p[1])),
                lp.map_or("–".into(), |p| format!("{:.0}", p[3])),
                sp.map_or("–".into(), |p| format!("{:.0}", p[0])),
                sp.map_or("–".into(), |p| format!("{:.0}", p[3])),
            );
        }
        for r in reduced.iter().filter_map(|r| r.timer_mismatch.as_ref()) {
            let _ = writeln!(o, "\nnot matched to timers in one run: {r}");
        }
        let _ = writeln!(o);
    }
}

/// Per idle exit: the gaps that would end the invocation.
fn what_if_table(o: &mut String, a: &Analysis) {
    let args = a.inp.args;
    let kinds = &a.kinds;
    let follow_ups = &a.follow_ups;
    let candidates = &a.candidates;
    let of = |kind: &str| a.of(kind);
    let _ = writeln!(o, "### Gaps that would end the invocation, per idle exit\n");
    let _ = writeln!(
        o,
        "A gap longer than the idle exit ends the invocation; the next task then finds no poller \
         and the server invokes again: one more invocation (+≈ {:.0} ms latency on a warm sandbox, \
         crates/lambda-worker/README.md). Cell: gaps longer than the idle exit / all gaps \
         (= re-invocations per workflow).\n",
        model::REINVOKE_LATENCY_MS
    );
    let _ = write!(o, "| idle exit |");
    for k in kinds {
        let _ = write!(o, " `{k}` |");
    }
    let _ = writeln!(o, " follow-ups, all shapes |");
    let _ = writeln!(o, "|---|{}---|", "---|".repeat(kinds.len()));
    let mut exits = candidates.clone();
    exits.push(args.idle_exit_ms as f64);
    for &e in &exits {
        let _ = write!(o, "| {} |", secs(e));
        for k in kinds {
            let rs = of(k);
            let gaps: Vec<f64> = rs
                .iter()
                .flat_map(|r| r.invs.iter().flat_map(|i| i.gaps.iter().map(|g| g.0)))
                .collect();
            let n = over(e, &gaps);
            let _ = write!(
                o,
                " {n}/{} ({:.1}) |",
                gaps.len(),
                n as f64 / rs.len().max(1) as f64
            );
        }
        let n = over(e, follow_ups);
        let _ = writeln!(
            o,
            " {n}/{} ({:.1} %) |",
            follow_ups.len(),
            100.0 * n as f64 / follow_ups.len().max(1) as f64
        );
    }
    let _ = writeln!(o);
}

/// Billed GB-s per 1,000 workflows of each shape, per policy.
fn cost_table(o: &mut String, a: &Analysis) {
    let args = a.inp.args;
    let overhead_ms = a.overhead_ms;
    let five = a.five;
    let workflows_total = a.workflows_total();
    let mem = args.memory_mb;
    let kinds = &a.kinds;
    let overhead_all = &a.overhead_all;
    let policies = &a.policies;
    let costs = &a.costs;
    let total = |i: usize| a.total(i);
    let _ = writeln!(
        o,
        "### Billed GB-s per 1,000 workflows of each shape, per policy\n"
    );
    let _ = writeln!(
        o,
        "From the observed invocations (REPORT `Duration`, idle exit {}): each gap is billed up to \
         where the policy stops polling; a longer one ends the invocation and the re-invocation \
         bills the measured per-invocation overhead, **{overhead_ms:.0} ms** (median of REPORT \
         `Duration` − (`polling stopped` − `worker polling`) over {} invocations: handler start, \
         connect, drain, return); the workflow's last idle tail is billed up to the policy's exit. \
         At {mem} MB. Cell: GB-s (Δ vs idle exit 5 s) · invocations. Last columns: all shapes \
         together (1,000 of each): GB-s, USD at ${:.10}/GB-s + ${:.2}/1M requests (x86), \
         re-invocations, latency added per workflow.\n",
        secs(args.idle_exit_ms as f64),
        overhead_all.len(),
        model::USD_PER_GB_S,
        model::USD_PER_REQUEST * 1e6
    );
    let _ = write!(o, "| policy |");
    for k in kinds {
        let _ = write!(o, " `{k}` |");
    }
    let _ = writeln!(
        o,
        " all: GB-s (Δ vs 5 s) | all: USD | all: re-invocations | added latency / workflow |"
    );
    let _ = writeln!(o, "|---|{}---|---|---|---|", "---|".repeat(kinds.len()));
    for (i, p) in policies.iter().enumerate() {
        let _ = write!(o, "| {} |", p.label());
        for k in kinds {
            let sc = &costs[k.as_str()];
            let c = per_1000(sc.by_policy[i], sc.runs);
            let base = per_1000(sc.by_policy[five], sc.runs);
            let _ = write!(
                o,
                " {:.1} ({:+.1}) · {:.0} |",
                gb_s(c.billed_ms, mem),
                gb_s(c.billed_ms - base.billed_ms, mem),
                c.invocations
            );
        }
        let c = total(i);
        let base = total(five);
        let _ = writeln!(
            o,
            " {:.1} ({:+.1}) | {:.4} | {:.0} | {:.0} ms |",
            gb_s(c.billed_ms, mem),
            gb_s(c.billed_ms - base.billed_ms, mem),
            usd(c, mem),
            c.splits,
            c.splits / workflows_total * model::REINVOKE_LATENCY_MS
        );
    }
    let _ = writeln!(o);
}

/// The proposed idle policy, computed from the tables.
fn proposal(o: &mut String, a: &Analysis) {
    let args = a.inp.args;
    let overhead_ms = a.overhead_ms;
    let local_grace = a.local_grace;
    let grace = a.grace;
    let break_even = a.break_even;
    let mem = args.memory_mb;
    let follow_ups = &a.follow_ups;
    let with_network = &a.with_network;
    let policies = &a.policies;
    let timer_lengths = &a.timer_lengths;
    let fp = pcts(follow_ups).unwrap_or([0.0; 4]);
    let idx = |p: Policy| policies.iter().position(|q| *q == p);
    let g0 = idx(Policy::Grace {
        grace_ms: grace,
        keep_timer_ms: 0.0,
    })
    .unwrap_or(0);
    let _ = writeln!(
        o,
        "### Proposed idle policy (computed from the tables above)\n"
    );
    let _ = writeln!(
        o,
        "1. **Grace after the last task: {}** (`TEMPORAL_LAMBDA_IDLE_EXIT` stays for a fixed \
         value). The server's immediate follow-ups (activity → workflow task, workflow task → \
         activity, child started/completed → parent) took p50 {:.0} / p90 {:.0} / p99 {:.0} / max \
         {:.0} ms over {} gaps here; {} is the smallest candidate that at most 1 % of them exceed \
         on this host ({} of {}), {} once each gets the {} ms allowance for the worker ↔ Temporal \
         round trips the rig does not have ({} of {} exceed it). A grace that splits follow-ups \
         would add ≈ {:.0} ms per step to chains (one re-invocation each), so it must clear their \
         tail; a longer one is paid at every invocation's end. Timer waits ≥ {} and signal waits \
         of a {} ms cadence are not follow-ups: they end the invocation under this grace.",
        secs(grace),
        fp[0],
        fp[1],
        fp[2],
        fp[3],
        follow_ups.len(),
        secs(local_grace),
        over(local_grace, follow_ups),
        follow_ups.len(),
        secs(grace),
        args.network_allowance_ms,
        over(grace, with_network),
        follow_ups.len(),
        model::REINVOKE_LATENCY_MS,
        secs(timer_lengths.first().copied().unwrap_or(0) as f64),
        args.signal_every_ms
    );
    let _ = writeln!(
        o,
        "2. **Timers: let the invocation exit.** Staying alive through a wait of *w* ms costs *w* \
         billed ms; exiting costs one re-invocation = {overhead_ms:.0} ms billed overhead + one \
         request (${:.2}/1M = {:.0} ms of billing at {mem} MB), so exiting is cheaper for any \
         wait above **{break_even:.0} ms** — every timer here (shortest {}) is far above it. \
         Keeping the invocation alive for cached timers ≤ 1 s would only buy latency (≈ {:.0} ms \
         per timer on a warm sandbox, more on a cold one), not money: see the `stay for timers` \
         rows.",
        model::USD_PER_REQUEST * 1e6,
        break_even - overhead_ms,
        secs(timer_lengths.first().copied().unwrap_or(0) as f64),
        model::REINVOKE_LATENCY_MS
    );
    effect(o, a, g0);
}

/// Items 3 and 4 of the proposal: what grace (policy `g0`) changes in cost and latency.
fn effect(o: &mut String, a: &Analysis, g0: usize) {
    let args = a.inp.args;
    let mem = args.memory_mb;
    let grace = a.grace;
    let five = a.five;
    let observed = a.observed;
    let kinds = &a.kinds;
    let costs = &a.costs;
    let workflows_total = a.workflows_total();
    let of = |kind: &str| a.of(kind);
    let total = |i: usize| a.total(i);
    let idx = |p: Policy| a.policies.iter().position(|q| *q == p);
    let c5 = total(five);
    let cg = total(g0);
    let cobs = total(idx(observed).unwrap_or(0));
    let _ = writeln!(
        o,
        "3. **Effect, all shapes together (1,000 workflows of each):** idle exit 5 s bills {:.1} \
         GB-s (${:.4}) with {:.0} re-invocations; grace {} bills {:.1} GB-s (${:.4}, {:+.0} %) \
         with {:.0} re-invocations (+{:.0} ms per workflow on average); the observed {} bills \
         {:.1} GB-s.",
        gb_s(c5.billed_ms, mem),
        usd(c5, mem),
        c5.splits,
        secs(grace),
        gb_s(cg.billed_ms, mem),
        usd(cg, mem),
        100.0 * (cg.billed_ms - c5.billed_ms) / c5.billed_ms.max(1.0),
        cg.splits,
        cg.splits / workflows_total * model::REINVOKE_LATENCY_MS,
        secs(args.idle_exit_ms as f64),
        gb_s(cobs.billed_ms, mem),
    );
    let per_shape: Vec<String> = kinds
        .iter()
        .map(|k| {
            let sc = &costs[k.as_str()];
            let splits = sc.by_policy[g0].splits / sc.runs.max(1) as f64;
            let added = splits * model::REINVOKE_LATENCY_MS;
            let wf: Vec<f64> = of(k).iter().map(|r| r.elapsed_ms).collect();
            let p50 = median(&wf).unwrap_or(0.0);
            format!(
                "`{k}` {splits:.1} (+{added:.0} ms on a {} workflow, {:+.1} %)",
                secs(p50.round()),
                100.0 * added / p50.max(1.0)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "4. **Latency under grace {}:** re-invocations per workflow, and the latency they add at \
         ≈ {:.0} ms each: {}. Workloads that signal or update a workflow more often than every \
         second and care about those tens of ms keep a fixed `TEMPORAL_LAMBDA_IDLE_EXIT` a bit \
         above their cadence (e.g. `1s`: see its row).",
        secs(grace),
        model::REINVOKE_LATENCY_MS,
        per_shape.join("; ")
    );
    let _ = writeln!(o);
}

/// Notes: unattributed and idle invocations, the missing network, `--note`s, wall time.
fn notes(o: &mut String, a: &Analysis) {
    let args = a.inp.args;
    let kinds = &a.kinds;
    let of = |kind: &str| a.of(kind);
    let unattributed = a
        .inp
        .all_records
        .len()
        .saturating_sub(a.inp.runs.iter().map(|r| r.records.len()).sum::<usize>());
    let _ = writeln!(o, "### Notes\n");
    let _ = writeln!(
        o,
        "- {} invocation records in all; {unattributed} not caused by a measured run (the \
         rig's set-up invocation and the discarded warm-up run).",
        a.inp.all_records.len()
    );
    let idle_invs: Vec<String> = kinds
        .iter()
        .filter_map(|k| {
            let rs = of(k);
            let all: usize = rs.iter().map(|r| r.invs.len()).sum();
            let with_task: usize = rs.iter().map(|r| r.first_task_ms.len()).sum();
            (all > with_task).then(|| format!("`{k}` {} of {all}", all - with_task))
        })
        .collect();
    if !idle_invs.is_empty() {
        let _ = writeln!(
            o,
            "- Invocations that got no task (the server invoked again while the first one was \
             busy, e.g. on the backlog of parallel activities; with concurrency 1 the emulator \
             queued them until it ended): {}. Each costs one request and an idle exit under \
             every policy (they are in the tables).",
            idle_invs.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "- One host over 127.0.0.1: no network between worker and server. On AWS each follow-up \
         gap grows by the worker ↔ Temporal round trip (a few ms in-region, tens of ms across \
         regions): size the grace to that, not to these numbers alone."
    );
    for n in &args.notes {
        let _ = writeln!(o, "- {n}");
    }
    let _ = writeln!(o, "- bench wall time {:.0} s", a.inp.wall.as_secs_f64());
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
