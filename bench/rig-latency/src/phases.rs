//! The two rigs the bench measures: a cold one (sandboxes die between runs) and a warm one
//! (an idle sandbox is reused, then a burst of workflows), and what each measured.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use temporal_lambda_emulator::{InvocationRecord, SandboxInfo};
use temporal_lambda_rig::{self as local, Rig, RigOptions};
use temporal_lambda_temporal::connect::ConnectArgs;
use temporal_lambda_temporal::verify::{self, VerifyOptions};
use temporalio_client::Connection;

use crate::{logs, progress, Args};

/// One rig (dev server + emulator + deployed function) and a client connection to it.
pub(crate) struct Bench {
    pub(crate) rig: Rig,
    pub(crate) conn: Connection,
    pub(crate) function: String,
    pub(crate) function_timeout: Duration,
    pub(crate) _state: tempfile::TempDir,
}

/// One measured workflow and the invocation attempts the server made for it.
pub(crate) struct Run {
    pub(crate) elapsed_ms: f64,
    pub(crate) records: Vec<InvocationRecord>,
}

impl Run {
    /// The attempt the server made first for this workflow.
    pub(crate) fn first(&self) -> Option<&InvocationRecord> {
        self.records.iter().min_by_key(|r| r.received_at_ms)
    }
}

impl Bench {
    pub(crate) async fn start(
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
    pub(crate) async fn workflow(&self, tag: &str) -> Result<f64> {
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
    pub(crate) async fn settle(&self, min_records: usize) -> Result<Vec<InvocationRecord>> {
        self.rig
            .emulator
            .wait_for_invocations(self.function_timeout + Duration::from_secs(30), |rs| {
                rs.len() >= min_records && rs.iter().all(|r| r.is_finished())
            })
            .await
            .context("waiting for the invocations to end")
    }

    /// Waits (event-driven) until `pred` holds on the live sandboxes.
    pub(crate) async fn sandboxes_until(
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
    pub(crate) async fn measured_run(&self, tag: &str) -> Result<Run> {
        let before = self.rig.emulator.invocations().len();
        let elapsed_ms = self.workflow(tag).await?;
        let records = self.settle(before + 1).await?;
        Ok(Run {
            elapsed_ms,
            records: records[before..].to_vec(),
        })
    }

    pub(crate) fn logs(&self) -> Result<String> {
        self.rig
            .emulator
            .logs(&self.function)
            .context("reading the function logs")
    }
}

/// Deadline bookkeeping over all attempts of a rig.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Deadlines {
    pub(crate) finished: usize,
    pub(crate) before_deadline: usize,
    pub(crate) succeeded: usize,
}

impl Deadlines {
    pub(crate) fn add(&mut self, records: &[InvocationRecord]) {
        for r in records.iter().filter(|r| r.is_finished()) {
            self.finished += 1;
            self.before_deadline += usize::from(r.ended_before_deadline == Some(true));
            self.succeeded += usize::from(r.outcome.as_ref().is_some_and(|o| o.is_success()));
        }
    }
}

/// Everything the cold phase measured.
pub(crate) struct ColdPhase {
    pub(crate) workflow_ms: Vec<f64>,
    pub(crate) verified_cold: usize,
    /// Invoke received → handed to the runtime, for cold attempts (includes process init).
    pub(crate) received_to_started_ms: Vec<f64>,
    pub(crate) init_ms: Vec<f64>,
    pub(crate) connect_ms: Vec<f64>,
    /// Handed to the runtime → `worker polling`.
    pub(crate) started_to_polling_ms: Vec<f64>,
    pub(crate) spawn_to_polling_ms: Vec<f64>,
    pub(crate) max_memory_mb: Vec<f64>,
    pub(crate) invocations: usize,
    /// Attempts not caused by one of our workflows (e.g. made while the version was registered).
    pub(crate) unattributed: usize,
    pub(crate) deadlines: Deadlines,
}

pub(crate) async fn cold_phase(
    args: &Args,
    repo_root: &Path,
    bootstrap: &Path,
) -> Result<ColdPhase> {
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
pub(crate) struct WarmPhase {
    pub(crate) workflow_ms: Vec<f64>,
    pub(crate) verified_warm: usize,
    /// Invoke received → handed to the runtime, for warm attempts.
    pub(crate) overhead_ms: Vec<f64>,
    /// Handed to the runtime → `worker polling`, warm attempts.
    pub(crate) started_to_polling_ms: Vec<f64>,
    pub(crate) connect_ms: Vec<f64>,
    pub(crate) load_ms: Vec<f64>,
    pub(crate) load_wall_ms: f64,
    pub(crate) load_invocations: usize,
    pub(crate) load_sandboxes: usize,
    pub(crate) load_peak_concurrency: usize,
    pub(crate) load_max_memory_mb: Option<u64>,
    pub(crate) invocations: usize,
    /// Attempts not caused by one of our workflows (e.g. made while the version was registered).
    pub(crate) unattributed: usize,
    pub(crate) deadlines: Deadlines,
}

pub(crate) async fn warm_phase(
    args: &Args,
    repo_root: &Path,
    bootstrap: &Path,
) -> Result<WarmPhase> {
    let bench = Bench::start(repo_root, bootstrap, "warm", args, None).await?;
    let (runs, attributed) = warm_runs(&bench, args).await?;
    let warm_records: Vec<&InvocationRecord> = runs
        .iter()
        .flat_map(|r| &r.records)
        .filter(|r| r.cold_start == Some(false))
        .collect();

    let (load_ms, load_wall_ms, all, before) = burst(&bench, args).await?;
    let burst = &all[before..];
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

/// An idle warm sandbox exists (and none is busy).
fn idle(s: &[SandboxInfo]) -> bool {
    !s.is_empty() && s.iter().all(|s| !s.busy)
}

/// The warm runs (after a discarded warm-up), each on an idle warm sandbox; with the number
/// of attempts they caused, warm-up included.
async fn warm_runs(bench: &Bench, args: &Args) -> Result<(Vec<Run>, usize)> {
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
    Ok((runs, attributed))
}

/// `args.load` workflows at once on the warm rig: each one's start → completed, the wall time,
/// every attempt of the rig so far and how many there were before the burst.
async fn burst(
    bench: &Bench,
    args: &Args,
) -> Result<(Vec<f64>, f64, Vec<InvocationRecord>, usize)> {
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
    Ok((load_ms, load_wall_ms, all, before))
}

/// With `RIG_LATENCY_DUMP=1`, every invocation record of a rig goes to stderr.
pub(crate) fn dump(rig: &str, records: &[InvocationRecord]) {
    if std::env::var_os("RIG_LATENCY_DUMP").is_some() {
        for r in records {
            eprintln!("[rig-latency] {rig} rig record: {r:?}");
        }
    }
}
