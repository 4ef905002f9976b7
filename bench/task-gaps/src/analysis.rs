//! What the report is computed from: each run's invocations reduced to labelled gaps
//! ([`RunGaps`]), and over all runs the grace, the policies and their costs ([`Analysis`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{bail, Result};

use temporal_lambda_emulator::{Fidelity, InvocationRecord};

use crate::logs;
use crate::model::{break_even_wait_ms, cost, pcts, Cost, Inv, Policy, Wait};
use crate::{Args, Run};

/// Everything the report is made of.
pub(crate) struct Input<'a> {
    pub args: &'a Args,
    pub fidelity: Fidelity,
    pub runs: &'a [Run],
    pub logs: &'a HashMap<String, logs::Invocation>,
    pub all_records: &'a [InvocationRecord],
    pub wall: Duration,
    /// The report's time, `YYYY-MM-DD HH:MM` (UTC).
    pub started_utc: &'a str,
}

/// One run's invocations, reduced and labelled.
pub(crate) struct RunGaps {
    pub(crate) kind: String,
    pub(crate) elapsed_ms: f64,
    pub(crate) invs: Vec<Inv>,
    pub(crate) first_task_ms: Vec<f64>,
    pub(crate) stopped_by: Vec<String>,
    /// Overhead samples: Duration − polling time, ms.
    pub(crate) overhead_ms: Vec<f64>,
    /// (timer ms, worker gap ms) for matched timer gaps.
    pub(crate) timer_gaps: Vec<(u64, f64)>,
    /// Timer gaps that could not be matched to the workflow's timers.
    pub(crate) timer_mismatch: Option<String>,
    pub(crate) server_timers: Vec<(f64, f64)>,
    pub(crate) cold: usize,
}

pub(crate) fn reduce(run: &Run, logs: &HashMap<String, logs::Invocation>) -> Result<RunGaps> {
    let mut out = RunGaps {
        kind: run.shape.kind.clone(),
        elapsed_ms: run.elapsed_ms,
        invs: Vec::new(),
        first_task_ms: Vec::new(),
        stopped_by: Vec::new(),
        overhead_ms: Vec::new(),
        timer_gaps: Vec::new(),
        timer_mismatch: None,
        server_timers: run.server_timers.clone(),
        cold: 0,
    };
    let mut records: Vec<&InvocationRecord> = run.records.iter().collect();
    records.sort_by_key(|r| r.started_at_ms.unwrap_or(r.received_at_ms));
    let mut raw: Vec<(logs::Invocation, Vec<u64>)> = Vec::new();
    for rec in records {
        let Some(l) = logs.get(&rec.request_id) else {
            bail!(
                "invocation {} ({}) left no log lines",
                rec.request_id,
                run.shape.kind
            );
        };
        let (Some(duration), true) = (l.duration_ms, l.finished) else {
            bail!(
                "invocation {} ({}) has no REPORT or `invocation finished` line (outcome {:?})",
                rec.request_id,
                run.shape.kind,
                rec.outcome
            );
        };
        out.cold += usize::from(rec.cold_start == Some(true));
        if let Some(f) = l.first_task_ms {
            out.first_task_ms.push(f as f64);
        }
        out.stopped_by
            .push(l.stopped_by.clone().unwrap_or_else(|| "?".into()));
        if let (Some(p), Some(s)) = (l.polling_at_ms, l.stopped_at_ms) {
            out.overhead_ms.push(duration - (s - p));
        }
        raw.push((l.clone(), l.idle_gaps_ms.clone()));
    }
    // Label the gaps: the `timers` shape's long gaps are its timers, in order.
    let timers = run.shape.timers();
    let threshold = timers.iter().copied().min().unwrap_or(0) as f64 / 2.0;
    let long: usize = raw
        .iter()
        .flat_map(|(_, g)| g)
        .filter(|&&g| !timers.is_empty() && g as f64 >= threshold)
        .count();
    if !timers.is_empty() && long != timers.len() {
        out.timer_mismatch = Some(format!(
            "{} gaps ≥ {threshold:.0} ms for {} timers",
            long,
            timers.len()
        ));
    }
    let mut next_timer = timers.iter();
    for (l, gaps) in raw {
        let labelled = gaps
            .iter()
            .map(|&g| {
                let g_ms = g as f64;
                let wait = match run.shape.kind.as_str() {
                    "signals" => Wait::Signal,
                    "timers" if g_ms >= threshold => match next_timer.next() {
                        Some(&t) if out.timer_mismatch.is_none() => {
                            out.timer_gaps.push((t, g_ms));
                            Wait::Timer(t)
                        }
                        _ => Wait::Timer(0),
                    },
                    _ => Wait::FollowUp,
                };
                (g_ms, wait)
            })
            .collect();
        out.invs.push(Inv {
            duration_ms: l.duration_ms.unwrap_or_default(),
            gaps: labelled,
            tail_ms: l.idle_tail_ms.unwrap_or_default() as f64,
        });
    }
    Ok(out)
}

pub(crate) fn fmt_pcts(p: Option<[f64; 4]>) -> String {
    match p {
        Some([a, b, c, d]) => format!("{a:.0} | {b:.0} | {c:.0} | {d:.0}"),
        None => "– | – | – | –".into(),
    }
}

pub(crate) fn median(v: &[f64]) -> Option<f64> {
    pcts(v).map(|p| p[0])
}

/// Per shape: the sum over its runs of each policy's cost, and the number of runs.
pub(crate) struct ShapeCosts {
    pub(crate) runs: usize,
    pub(crate) by_policy: Vec<Cost>,
}

/// What the report's sections are computed from.
pub(crate) struct Analysis<'a> {
    pub(crate) inp: &'a Input<'a>,
    pub(crate) reduced: Vec<RunGaps>,
    /// The shapes, in the order they ran.
    pub(crate) kinds: Vec<String>,
    /// Gaps that were the server's immediate follow-ups (no timer or signal wait).
    pub(crate) follow_ups: Vec<f64>,
    /// Per-invocation overhead samples, and their median.
    pub(crate) overhead_all: Vec<f64>,
    pub(crate) overhead_ms: f64,
    /// The idle exits to try, ascending.
    pub(crate) candidates: Vec<f64>,
    /// The smallest candidate ≤ 1 % of the follow-ups exceed, here and with the network
    /// allowance added to each.
    pub(crate) local_grace: f64,
    pub(crate) with_network: Vec<f64>,
    pub(crate) grace: f64,
    pub(crate) break_even: f64,
    pub(crate) policies: Vec<Policy>,
    /// The idle exit the bench ran with.
    pub(crate) observed: Policy,
    pub(crate) timer_lengths: Vec<u64>,
    /// Index of the 5 s idle exit in `policies`.
    pub(crate) five: usize,
    pub(crate) costs: BTreeMap<String, ShapeCosts>,
}

/// Reduces the runs and computes the grace, the policies and their costs.
pub(crate) fn analyse<'a>(inp: &'a Input<'a>) -> Result<Analysis<'a>> {
    let args = inp.args;
    let mem = args.memory_mb;
    let reduced = inp
        .runs
        .iter()
        .map(|r| reduce(r, inp.logs))
        .collect::<Result<Vec<_>>>()?;
    let kinds: Vec<String> = {
        let mut k: Vec<String> = Vec::new();
        for r in &reduced {
            if !k.contains(&r.kind) {
                k.push(r.kind.clone());
            }
        }
        k
    };
    let follow_ups = gaps_of(&reduced, &|_, w| w == Wait::FollowUp);
    let overhead_all: Vec<f64> = reduced
        .iter()
        .flat_map(|r| r.overhead_ms.iter().copied())
        .collect();
    let overhead_ms = median(&overhead_all).unwrap_or(0.0);

    // The grace: the smallest candidate that ≤ 1 % of the follow-ups exceed, here and with the
    // network allowance added to each.
    let mut candidates: Vec<f64> = args.what_if_ms.iter().map(|&m| m as f64).collect();
    candidates.sort_by(f64::total_cmp);
    let smallest_catching = |v: &[f64]| {
        candidates
            .iter()
            .copied()
            .find(|&c| over(c, v) as f64 <= 0.01 * v.len() as f64)
            .unwrap_or(*candidates.last().unwrap_or(&5000.0))
    };
    let local_grace = smallest_catching(&follow_ups);
    let allowance = args.network_allowance_ms as f64;
    let with_network: Vec<f64> = follow_ups.iter().map(|g| g + allowance).collect();
    let grace = smallest_catching(&with_network);
    let break_even = break_even_wait_ms(overhead_ms, mem);

    let mut policies: Vec<Policy> = candidates.iter().map(|&e| Policy::Fixed(e)).collect();
    let observed = Policy::Fixed(args.idle_exit_ms as f64);
    policies.push(observed);
    let mut timer_lengths: Vec<u64> = args.timer_ms.clone();
    timer_lengths.sort_unstable();
    timer_lengths.dedup();
    policies.push(Policy::Grace {
        grace_ms: grace,
        keep_timer_ms: 0.0,
    });
    for &t in timer_lengths.iter().take(2) {
        policies.push(Policy::Grace {
            grace_ms: grace,
            keep_timer_ms: t as f64,
        });
    }
    let five = policies
        .iter()
        .position(|p| *p == Policy::Fixed(5000.0))
        .unwrap_or(0);
    let mut costs: BTreeMap<String, ShapeCosts> = BTreeMap::new();
    for r in &reduced {
        let e = costs.entry(r.kind.clone()).or_insert_with(|| ShapeCosts {
            runs: 0,
            by_policy: vec![Cost::default(); policies.len()],
        });
        e.runs += 1;
        for (i, p) in policies.iter().enumerate() {
            for inv in &r.invs {
                e.by_policy[i] += cost(inv, *p, overhead_ms);
            }
        }
    }

    Ok(Analysis {
        inp,
        reduced,
        kinds,
        follow_ups,
        overhead_all,
        overhead_ms,
        candidates,
        local_grace,
        with_network,
        grace,
        break_even,
        policies,
        observed,
        timer_lengths,
        five,
        costs,
    })
}

impl Analysis<'_> {
    /// The runs of shape `kind`.
    pub(crate) fn of(&self, kind: &str) -> Vec<&RunGaps> {
        self.reduced.iter().filter(|r| r.kind == kind).collect()
    }

    /// The gaps (of any shape) `pred` selects by shape and wait.
    pub(crate) fn gaps_where(&self, pred: &dyn Fn(&str, Wait) -> bool) -> Vec<f64> {
        gaps_of(&self.reduced, pred)
    }

    /// Policy `i`'s cost over all shapes, 1,000 workflows of each.
    pub(crate) fn total(&self, i: usize) -> Cost {
        let mut c = Cost::default();
        for sc in self.costs.values() {
            c += per_1000(sc.by_policy[i], sc.runs);
        }
        c
    }

    /// Workflows in [`Self::total`].
    pub(crate) fn workflows_total(&self) -> f64 {
        1000.0 * self.costs.len() as f64
    }
}

/// The gaps of `reduced` that `pred` selects by shape and wait.
pub(crate) fn gaps_of(reduced: &[RunGaps], pred: &dyn Fn(&str, Wait) -> bool) -> Vec<f64> {
    reduced
        .iter()
        .flat_map(|r| {
            r.invs
                .iter()
                .flat_map(move |i| i.gaps.iter().map(move |g| (r.kind.as_str(), *g)))
        })
        .filter(|(k, (_, w))| pred(k, *w))
        .map(|(_, (g, _))| g)
        .collect()
}

/// How many of `v` exceed `e`.
pub(crate) fn over(e: f64, v: &[f64]) -> usize {
    v.iter().filter(|&&g| g > e).count()
}

/// A shape's cost over `runs` runs, scaled to 1,000 workflows.
pub(crate) fn per_1000(c: Cost, runs: usize) -> Cost {
    let f = 1000.0 / runs.max(1) as f64;
    Cost {
        billed_ms: c.billed_ms * f,
        invocations: c.invocations * f,
        splits: c.splits * f,
    }
}
