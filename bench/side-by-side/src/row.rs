//! One row's bench ([`RowBench`]): cold, warm, throughput and billing phases on its function,
//! and the deadline and memory figures of all its invocations.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use temporal_lambda_emulator::{InvocationRecord, Outcome, SandboxInfo};

use crate::results::{parse_reports, Billing, RowResult, Throughput};
use crate::rig::{Rig, RowSpec};
use crate::{progress, sys, wf, worker_logs, Args};

/// One row's bench context.
pub(crate) struct RowBench<'a> {
    pub(crate) rig: &'a Rig,
    pub(crate) spec: &'a RowSpec,
    pub(crate) args: &'a Args,
    pub(crate) function: String,
    pub(crate) out: RowResult,
}

/// A cold run's raw figures, resolved against the REPORT lines at the end of the phase.
pub(crate) struct ColdSample {
    pub(crate) request_id: String,
    pub(crate) received_ms: f64,
    pub(crate) started_ms: f64,
    pub(crate) first_task_ms: f64,
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
    pub(crate) async fn stop_sandboxes(&mut self) -> Result<()> {
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
    pub(crate) fn finish(&mut self) -> Result<()> {
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

    pub(crate) async fn run_all(&mut self) -> Result<()> {
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
