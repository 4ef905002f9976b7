//! The Lambda Managed Instances phases: one environment runs up to
//! `PerExecutionEnvironmentMaxConcurrency` invocations at once, each taken by its own `next`
//! long poll, and is never frozen. Each invocation has its own deadline: one that passes it is
//! marked failed (a timeout in its record), while the process and the other invocations carry on
//! ("LMI does not enforce the timeout"; its late answer gets 410).
//!
//! Init is over at the first `next`; it may take max(130 s, timeout) up to 900 s. AWS's docs do
//! not say what happens after that; here the environment is killed and what it was offered
//! ends with a timeout.

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::env::trace_id;
use super::events::shutdown_requested;
use super::process::{describe_exit, kill_and_reap, max_memory_mb, wait_exit};
use super::report::{error_outcome, exit_error, Report};
use super::serial::Flow;
use super::Sandbox;
use crate::model::{Outcome, SandboxLimits};
use crate::runtime_api::{Delivered, Delivery, RuntimeEvent};
use crate::scheduler::{self, Invocation, SandboxCmd, Verdict};

/// An invocation the runtime has taken.
struct Running {
    inv: Invocation,
    started: Instant,
    deadline_at: tokio::time::Instant,
    /// The most invocations the environment ran at once while this one ran.
    peak: u32,
    cold: bool,
}

/// An invocation offered to the runtime, not taken yet.
struct Offered {
    inv: Invocation,
    /// How many invocations had ended when it was offered.
    ended_before: u64,
}

/// The invocations of one environment: offered (not taken yet) and running. Lists, not maps: an
/// injected duplicate event has the same request id, and no invocation may be lost.
#[derive(Default)]
struct Slots {
    offered: Vec<Offered>,
    running: Vec<Running>,
    /// The most invocations the runtime has run at once.
    most_at_once: u32,
    /// Invocations ended so far.
    ended: u64,
    /// The notice that the runtime serialises its invocations has been given.
    serial_noticed: bool,
    /// Retired (function deleted, emulator stopping): takes no new work, stops once what runs
    /// has ended.
    retiring: bool,
}

impl Slots {
    fn take_offered(&mut self, request_id: &str) -> Option<Offered> {
        let i = self
            .offered
            .iter()
            .position(|o| o.inv.request_id == request_id)?;
        Some(self.offered.remove(i))
    }
    fn take_running(&mut self, request_id: &str) -> Option<Running> {
        let i = self
            .running
            .iter()
            .position(|r| r.inv.request_id == request_id)?;
        Some(self.running.remove(i))
    }
    fn next_deadline(&self) -> Option<tokio::time::Instant> {
        self.running.iter().map(|r| r.deadline_at).min()
    }
}

/// What woke the environment up.
enum Wake {
    Event(RuntimeEvent),
    Ack(Delivered),
    Deadline,
    Invoke(Box<Invocation>),
    Retired,
    InitTimeout,
    Exit(String),
    Shutdown,
}

impl Sandbox<'_> {
    /// Serves invocations concurrently until the environment stops.
    pub(super) async fn serve_concurrently(&mut self) {
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
        let mut slots = Slots::default();
        if let Some(first) = self.first.take() {
            self.offer(first, &ack_tx, &mut slots);
        }
        let init_limit = crate::managed::init_timeout(self.version.config.timeout_duration());
        let init_deadline = tokio::time::Instant::from_std(self.proc.started + init_limit);
        loop {
            let next_deadline = slots.next_deadline();
            let wake = tokio::select! {
                biased;
                Some(ev) = self.events.recv() => Wake::Event(ev),
                Some(d) = ack_rx.recv() => Wake::Ack(d),
                _ = tokio::time::sleep_until(next_deadline.unwrap_or(init_deadline)), if next_deadline.is_some() => Wake::Deadline,
                cmd = self.cmd_rx.recv(), if !slots.retiring => match cmd {
                    Some(SandboxCmd::Invoke(inv)) => Wake::Invoke(Box::new(inv)),
                    None => Wake::Retired,
                },
                _ = tokio::time::sleep_until(init_deadline), if !self.warm => Wake::InitTimeout,
                st = wait_exit(&mut self.proc.child, &mut self.proc.group, &self.proc.exit) => Wake::Exit(describe_exit(st)),
                _ = shutdown_requested(&mut self.shutdown_rx) => Wake::Shutdown,
            };
            if self.on_wake(wake, &ack_tx, &mut slots).await == Flow::Stop {
                break;
            }
        }
    }

    /// Phase: deliver — offers an invocation to the runtime's concurrent `next` polls.
    fn offer(&self, inv: Invocation, ack: &mpsc::UnboundedSender<Delivered>, slots: &mut Slots) {
        self.rt.offer(Delivery {
            request_id: inv.request_id.clone(),
            payload: inv.payload.clone(),
            invoked_arn: inv.invoked_arn.clone(),
            trace_id: trace_id(),
            timeout: self.version.config.timeout_duration(),
            deadline: None,
            ack: ack.clone(),
        });
        let ended_before = slots.ended;
        slots.offered.push(Offered { inv, ended_before });
    }

    async fn on_wake(
        &mut self,
        wake: Wake,
        ack: &mpsc::UnboundedSender<Delivered>,
        slots: &mut Slots,
    ) -> Flow {
        match wake {
            Wake::Event(RuntimeEvent::Response { request_id, body }) => {
                match slots.take_running(&request_id) {
                    Some(r) => self.end_one(r, Outcome::Success, body, slots).await,
                    None => Flow::Continue,
                }
            }
            Wake::Event(RuntimeEvent::Error {
                request_id,
                error_type,
                body,
            }) => match slots.take_running(&request_id) {
                Some(r) => {
                    let (outcome, body) = error_outcome(&error_type, &body);
                    self.end_one(r, outcome, body, slots).await
                }
                None => Flow::Continue,
            },
            Wake::Event(RuntimeEvent::InitError { error_type, body }) => {
                self.log.line(format!(
                    "INIT_REPORT Init Duration: {:.2} ms Phase: init Status: error Error Type: {error_type}",
                    self.proc.started.elapsed().as_secs_f64() * 1000.0
                ));
                let (outcome, body) = error_outcome(&error_type, &body);
                for inv in drain(slots) {
                    self.report.finished(inv, outcome.clone(), body.clone());
                }
                Flow::Stop
            }
            Wake::Ack(d) => {
                if let Some(o) = slots.take_offered(&d.request_id) {
                    self.notice_serial_runtime(&o, slots);
                    self.begin_one(o.inv, &d, slots);
                }
                Flow::Continue
            }
            Wake::Deadline => self.time_out_due(slots).await,
            Wake::Invoke(inv) => {
                self.offer(*inv, ack, slots);
                Flow::Continue
            }
            Wake::Retired => self.retire(slots),
            Wake::InitTimeout => {
                let _ = kill_and_reap(&mut self.proc.child, &mut self.proc.group).await;
                self.exited = true;
                self.log.line(format!(
                    "INIT_REPORT Init Duration: {:.2} ms Phase: init Status: timeout",
                    self.proc.started.elapsed().as_secs_f64() * 1000.0
                ));
                let body = scheduler::timeout_body(self.version.config.timeout);
                for inv in drain(slots) {
                    self.report.finished(inv, Outcome::Timeout, body.clone());
                }
                Flow::Stop
            }
            Wake::Exit(why) => {
                self.exited = true;
                self.process_exited(&why, slots);
                Flow::Stop
            }
            Wake::Shutdown => {
                self.reclaim = true;
                self.stop_all(slots, "the emulator shut down during the invocation");
                Flow::Stop
            }
        }
    }

    /// A runtime built without concurrency support holds one `next` at a time: an invocation
    /// that waited while another one ended is taken only once nothing runs, and the runtime
    /// has never run two at once. Said once per environment, in its log and the emulator's.
    fn notice_serial_runtime(&mut self, o: &Offered, slots: &mut Slots) {
        if slots.serial_noticed
            || slots.ended == o.ended_before
            || !slots.running.is_empty()
            || slots.most_at_once > 1
        {
            return;
        }
        slots.serial_noticed = true;
        let c = &self.version.config;
        let max = c
            .managed_instances()
            .map(|m| crate::managed::max_concurrency(m, c.memory_size))
            .unwrap_or(1);
        let msg = format!(
            "the runtime holds one `next` at a time: it serialises the invocations Lambda Managed \
             Instances gives it at once (AWS_LAMBDA_MAX_CONCURRENCY={max}); poll `next` \
             concurrently, e.g. with lambda_runtime's concurrency-tokio feature and \
             Runtime::run_concurrent"
        );
        tracing::warn!(sandbox = %self.id, function = %c.function_name, "{msg}");
        self.log.line(format!("EMULATOR NOTICE: {msg}"));
    }

    /// Phase: run — the runtime took `inv`: its record, START line and slot.
    fn begin_one(&mut self, inv: Invocation, d: &Delivered, slots: &mut Slots) {
        let cold = !self.warm;
        if cold {
            self.init_duration = Some(self.proc.started.elapsed());
        }
        self.warm = true;
        let at_once = slots.running.len() as u32 + 1;
        slots.most_at_once = slots.most_at_once.max(at_once);
        for r in &mut slots.running {
            r.peak = r.peak.max(at_once);
        }
        let limits = (!self.inner.cgroups.effective.is_off()).then(|| SandboxLimits {
            cpu_millis: self.freezer.cgroup.cpu_millis,
            memory_limit_mb: self.freezer.cgroup.memory_limit_mb,
            frozen_ms: 0,
            freezer: "none".to_string(),
        });
        let (pid, id) = (self.proc.pid, self.id.to_string());
        self.inner.records.update(inv.record, |r| {
            r.started_at_ms = Some(d.started_ms);
            r.deadline_ms = Some(d.deadline_ms);
            r.sandbox_id = Some(id);
            r.pid = pid;
            r.cold_start = Some(cold);
            r.limits = limits;
            r.environment_concurrency = Some(at_once);
        });
        self.log.line(format!(
            "START RequestId: {} Version: {}",
            inv.request_id, self.version.config.version
        ));
        slots.running.push(Running {
            inv,
            started: Instant::now(),
            deadline_at: d.deadline_at,
            peak: at_once,
            cold,
        });
    }

    /// Marks every invocation past its deadline failed (timeout); the process keeps running
    /// them, and their late answers get 410.
    async fn time_out_due(&mut self, slots: &mut Slots) -> Flow {
        let now = tokio::time::Instant::now();
        while let Some(i) = slots.running.iter().position(|r| r.deadline_at <= now) {
            let r = slots.running.remove(i);
            self.rt.expire(&r.inv.request_id);
            self.log.line(format!(
                "{} {} Task timed out after {}.00 seconds",
                crate::store::now_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                r.inv.request_id,
                self.version.config.timeout
            ));
            let body = scheduler::timeout_body(self.version.config.timeout);
            if self.end_one(r, Outcome::Timeout, body, slots).await == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// One invocation ended: END/REPORT lines, its record, the result, its slot freed.
    async fn end_one(
        &mut self,
        r: Running,
        outcome: Outcome,
        body: Bytes,
        slots: &mut Slots,
    ) -> Flow {
        slots.ended += 1;
        let duration = r.started.elapsed();
        if let Some(m) = max_memory_mb(self.proc.pid) {
            self.last_mem = m;
        }
        Report {
            request_id: &r.inv.request_id,
            duration,
            memory_size: self.version.config.memory_size,
            max_memory_mb: self.last_mem,
            init: r.cold.then_some(self.init_duration).flatten(),
            limits: None,
            environment: Some((self.id, r.peak)),
            architecture: self.architecture.as_deref(),
        }
        .write(&self.log)
        .await;
        let peak = r.peak;
        self.inner.records.update(r.inv.record, |rec| {
            rec.environment_concurrency = Some(peak);
        });
        self.report.finished(r.inv, outcome, body);
        if self.report.idle() == Verdict::Stop || slots.retiring {
            // Retired (deleted, shutting down).
            return self.retire(slots);
        }
        Flow::Continue
    }

    /// Retired by the scheduler (the function deleted, the emulator stopping): what was offered
    /// and not taken fails; what runs may end (by its answer or its deadline); then the
    /// environment stops, with the shutdown phase (SIGTERM, grace).
    fn retire(&mut self, slots: &mut Slots) -> Flow {
        self.reclaim = true;
        slots.retiring = true;
        self.rt.withdraw();
        for Offered { inv, .. } in std::mem::take(&mut slots.offered) {
            self.report.failed(
                inv,
                "Emulator.ShuttingDown",
                "the execution environment was retired before the invocation ran",
            );
        }
        if slots.running.is_empty() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// The process exited: what it ran fails as Lambda reports it; what it had not taken yet is
    /// run elsewhere (once it had been initialised) or fails too.
    fn process_exited(&mut self, why: &str, slots: &mut Slots) {
        self.rt.withdraw();
        for r in std::mem::take(&mut slots.running) {
            let (error_type, msg) = exit_error(&self.freezer.cgroup, &r.inv.request_id, why);
            self.log.line(&msg);
            self.report.failed(r.inv, error_type, &msg);
        }
        for Offered { inv, .. } in std::mem::take(&mut slots.offered) {
            if self.warm {
                self.log.line(format!(
                    "sandbox process exited ({why}); invocation {} requeued",
                    inv.request_id
                ));
                self.report.requeue(inv);
            } else {
                let (error_type, msg) = exit_error(&self.freezer.cgroup, &inv.request_id, why);
                self.log.line(&msg);
                self.report.failed(inv, error_type, &msg);
            }
        }
    }

    /// The environment stops with invocations in it: each fails with `Emulator.ShuttingDown`.
    fn stop_all(&mut self, slots: &mut Slots, why: &str) {
        self.rt.withdraw();
        for inv in drain(slots) {
            self.report.failed(inv, "Emulator.ShuttingDown", why);
        }
    }
}

/// Every invocation of the environment, offered or running.
fn drain(slots: &mut Slots) -> Vec<Invocation> {
    let mut all: Vec<Invocation> = std::mem::take(&mut slots.running)
        .into_iter()
        .map(|r| r.inv)
        .collect();
    all.extend(
        std::mem::take(&mut slots.offered)
            .into_iter()
            .map(|o| o.inv),
    );
    all
}
