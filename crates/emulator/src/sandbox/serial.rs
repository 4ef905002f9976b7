//! The on-demand phases: one invocation at a time — wait for the next one (frozen while idle),
//! deliver it to the runtime's `next` long poll (init limits), run it to its result or deadline.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::env::trace_id;
use super::events::{shutdown_requested, wait_init_error, wait_result};
use super::freezer::group_kill_thawed;
use super::process::{describe_exit, kill_and_reap, max_memory_mb, spawn_process, wait_exit};
use super::report::{error_outcome, exit_error, Report, OUT_OF_MEMORY};
use super::Sandbox;
use crate::model::{Outcome, SandboxLimits};
use crate::runtime_api::{Delivered, Delivery, RuntimeEvent};
use crate::scheduler::{self, Invocation, SandboxCmd, Verdict};
use crate::store::now_ms;

/// Whether the sandbox takes another invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// How an invocation's run ended.
enum End {
    Done(RuntimeEvent),
    Timeout,
    Exit(String),
    Shutdown,
}

/// A delivered invocation: what `next` sent, and whether the init was retried at the invoke.
struct Taken {
    inv: Invocation,
    delivered: Delivered,
    init_retried: bool,
}

impl Sandbox<'_> {
    /// Serves invocations one at a time until the sandbox stops.
    pub(super) async fn serve_one_at_a_time(&mut self) {
        while let Some(inv) = self.next_invocation().await {
            let Some(taken) = self.deliver(inv).await else {
                break;
            };
            if self.run_invocation(taken).await == Flow::Stop {
                break;
            }
        }
    }

    /// Phase: the next invocation — the first one, else the next command, waiting frozen (once
    /// the runtime asks for work) until one comes, the idle TTL reaps the sandbox, it is
    /// retired, the process exits or the emulator shuts down (`None`).
    async fn next_invocation(&mut self) -> Option<Invocation> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        let ttl = self.inner.config.idle_sandbox_ttl;
        let mut idle_until = tokio::time::Instant::now() + ttl;
        let mut freeze_tried = false;
        let next = loop {
            tokio::select! {
                cmd = self.cmd_rx.recv() => break match cmd {
                    Some(SandboxCmd::Invoke(i)) => Some(i),
                    None => {
                        self.reclaim = true;
                        None
                    }
                },
                st = wait_exit(&mut self.proc.child, &mut self.proc.group, &self.proc.exit) => {
                    self.exited = true;
                    self.log.line(format!("sandbox process exited while idle: {}", describe_exit(st)));
                    break None;
                }
                _ = tokio::time::sleep_until(idle_until) => {
                    if self.report.idle_expired() == Verdict::Stop {
                        tracing::debug!(sandbox = %self.id, "idle sandbox reaped");
                        self.reclaim = true;
                        break None;
                    }
                    // Work was just assigned: it is in the command channel.
                    idle_until = tokio::time::Instant::now() + ttl;
                }
                _ = shutdown_requested(&mut self.shutdown_rx) => {
                    self.reclaim = true;
                    break None;
                }
                (error_type, _) = wait_init_error(&mut self.events) => {
                    self.log.line(format!("runtime reported an init error while idle: {error_type}"));
                    break None;
                }
                // The runtime asked for the next event: Lambda freezes it until there is one.
                _ = self.rt.idle(), if self.freezer.enabled() && !freeze_tried => {
                    freeze_tried = true;
                    self.freezer.freeze(self.proc.group.pgid).await;
                }
            }
        };
        self.frozen_before += self.freezer.thaw(self.proc.group.pgid);
        next
    }

    /// Phase: deliver — offers the invocation to the runtime's `next` long poll until it is
    /// taken. A cold sandbox's init is limited to `init_timeout`; on expiry Lambda retries the
    /// init once, at the invoke, under the function timeout. `None`: the sandbox stops (the
    /// invocation has been reported or requeued).
    async fn deliver(&mut self, mut inv: Invocation) -> Option<Taken> {
        let timeout = self.version.config.timeout_duration();
        let mut init_retry_deadline: Option<(u64, tokio::time::Instant)> = None;
        loop {
            let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Delivered>();
            self.rt.offer(Delivery {
                request_id: inv.request_id.clone(),
                payload: inv.payload.clone(),
                invoked_arn: inv.invoked_arn.clone(),
                trace_id: trace_id(),
                timeout,
                deadline: init_retry_deadline,
                ack: ack_tx,
            });
            let init_deadline = match init_retry_deadline {
                Some((_, at)) => at,
                None => tokio::time::Instant::from_std(
                    self.proc.started + self.inner.config.init_timeout,
                ),
            };
            tokio::select! {
                biased;
                ack = ack_rx.recv() => return match ack {
                    Some(delivered) => Some(Taken { inv, delivered, init_retried: init_retry_deadline.is_some() }),
                    None => {
                        // Cannot happen (the offer is held by the runtime state); never lose it.
                        self.report.requeue(inv);
                        None
                    }
                },
                st = wait_exit(&mut self.proc.child, &mut self.proc.group, &self.proc.exit) => {
                    self.exited = true;
                    self.rt.withdraw();
                    let why = describe_exit(st);
                    if self.warm {
                        // The invocation never reached the process: run it elsewhere.
                        self.log.line(format!("sandbox process exited while idle ({why}); invocation {} requeued", inv.request_id));
                        self.report.requeue(inv);
                    } else {
                        let (error_type, msg) = exit_error(&self.freezer.cgroup, &inv.request_id, &why);
                        self.log.line(&msg);
                        self.report.failed(inv, error_type, &msg);
                    }
                    return None;
                }
                (error_type, body) = wait_init_error(&mut self.events) => {
                    self.rt.withdraw();
                    let (outcome, body) = error_outcome(&error_type, &body);
                    self.log.line(format!("INIT_REPORT Init Duration: {:.2} ms Phase: init Status: error Error Type: {error_type}",
                        self.proc.started.elapsed().as_secs_f64() * 1000.0));
                    self.report.finished(inv, outcome, body);
                    return None;
                }
                _ = tokio::time::sleep_until(init_deadline), if !self.warm => {
                    self.rt.withdraw();
                    inv = self.init_timed_out(inv, init_retry_deadline.is_some()).await?;
                    init_retry_deadline = Some((
                        now_ms() + timeout.as_millis() as u64,
                        tokio::time::Instant::now() + timeout,
                    ));
                }
                _ = shutdown_requested(&mut self.shutdown_rx) => {
                    self.rt.withdraw();
                    self.report.failed(inv, "Emulator.ShuttingDown", "the emulator shut down before the invocation ran");
                    self.reclaim = true;
                    return None;
                }
            }
        }
    }

    /// The init did not finish in time: kills the process. The first time, starts a new one,
    /// whose init Lambda retries at the invoke under the function timeout (`Some`: offer the
    /// invocation again); else the invocation ends with a timeout (`None`).
    async fn init_timed_out(&mut self, inv: Invocation, retried: bool) -> Option<Invocation> {
        let _ = kill_and_reap(&mut self.proc.child, &mut self.proc.group).await;
        self.exited = true;
        if !retried {
            let secs = self.inner.config.init_timeout.as_secs_f64();
            self.log.line(format!(
                "INIT_REPORT Init Duration: {:.2} ms Phase: init Status: timeout",
                secs * 1000.0
            ));
            let spawned = spawn_process(
                self.inner,
                self.id,
                &self.version,
                &self.env,
                &self.log,
                &self.freezer.cgroup,
                &self.fs,
            );
            return match spawned {
                Ok(p) => {
                    self.proc = p;
                    self.exited = false;
                    self.report.started(self.proc.pid, &self.log.name);
                    Some(inv)
                }
                Err(e) => {
                    let msg = format!("RequestId: {} {e}", inv.request_id);
                    self.log.line(&msg);
                    self.report.failed(inv, "Runtime.InvalidEntrypoint", &msg);
                    None
                }
            };
        }
        self.log.line(format!(
            "INIT_REPORT Init Duration: {:.2} ms Phase: invoke Status: timeout",
            self.proc.started.elapsed().as_secs_f64() * 1000.0
        ));
        self.log.line(format!(
            "{} {} Task timed out after {}.00 seconds",
            crate::store::now_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            inv.request_id,
            self.version.config.timeout
        ));
        self.log.sync().await;
        let body = scheduler::timeout_body(self.version.config.timeout);
        self.report.finished(inv, Outcome::Timeout, body);
        None
    }

    /// Phase: run — records the start, waits for the result, the deadline (the process is then
    /// killed), the process's exit or the emulator's shutdown, and reports the outcome.
    async fn run_invocation(&mut self, taken: Taken) -> Flow {
        let Taken {
            inv,
            delivered,
            init_retried,
        } = taken;
        let cold = !self.warm;
        if cold {
            self.init_duration = Some(self.proc.started.elapsed());
            if init_retried {
                self.log.line(format!(
                    "INIT_REPORT Init Duration: {:.2} ms Phase: invoke Status: success",
                    self.proc.started.elapsed().as_secs_f64() * 1000.0
                ));
            }
        }
        self.warm = true;
        let limits = (!self.inner.cgroups.effective.is_off()).then(|| SandboxLimits {
            cpu_millis: self.freezer.cgroup.cpu_millis,
            memory_limit_mb: self.freezer.cgroup.memory_limit_mb,
            frozen_ms: self.frozen_before.as_millis() as u64,
            freezer: self.freezer.method().to_string(),
        });
        self.frozen_before = Duration::ZERO;
        let (pid, id) = (self.proc.pid, self.id.to_string());
        self.inner.records.update(inv.record, |r| {
            r.started_at_ms = Some(delivered.started_ms);
            r.deadline_ms = Some(delivered.deadline_ms);
            r.sandbox_id = Some(id);
            r.pid = pid;
            r.cold_start = Some(cold);
            r.limits = limits.clone();
        });
        self.log.line(format!(
            "START RequestId: {} Version: {}",
            inv.request_id, self.version.config.version
        ));
        let started = Instant::now();
        let end = tokio::select! {
            biased;
            ev = wait_result(&mut self.events, &inv.request_id) => End::Done(ev),
            st = wait_exit(&mut self.proc.child, &mut self.proc.group, &self.proc.exit) => End::Exit(describe_exit(st)),
            _ = tokio::time::sleep_until(delivered.deadline_at) => End::Timeout,
            _ = shutdown_requested(&mut self.shutdown_rx) => End::Shutdown,
        };
        self.rt.finish_current();
        let duration = started.elapsed();
        if let Some(m) = max_memory_mb(pid) {
            self.last_mem = m;
        }
        let init = cold.then_some(self.init_duration).flatten();
        let flow = self.finish(inv, end, duration, init, limits.as_ref()).await;
        if flow == Flow::Stop {
            return Flow::Stop;
        }
        if self.report.idle() == Verdict::Stop {
            // Retired after this invocation (stale `$LATEST`, deleted, shutting down).
            self.reclaim = true;
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// Reports how the invocation ended (REPORT line first); `Stop` unless the runtime answered.
    async fn finish(
        &mut self,
        inv: Invocation,
        end: End,
        duration: Duration,
        init: Option<Duration>,
        limits: Option<&SandboxLimits>,
    ) -> Flow {
        let memory_size = self.version.config.memory_size;
        let timeout_s = self.version.config.timeout;
        let request_id = inv.request_id.clone();
        let architecture = self.architecture.clone();
        let report_line = |mem: u64| Report {
            request_id: &request_id,
            duration,
            memory_size,
            max_memory_mb: mem,
            init,
            limits,
            environment: None,
            architecture: architecture.as_deref(),
        };
        match end {
            End::Done(RuntimeEvent::Response { body, .. }) => {
                report_line(self.last_mem).write(&self.log).await;
                self.report.finished(inv, Outcome::Success, body);
                Flow::Continue
            }
            End::Done(RuntimeEvent::Error {
                error_type, body, ..
            }) => {
                report_line(self.last_mem).write(&self.log).await;
                let (outcome, body) = error_outcome(&error_type, &body);
                self.report.finished(inv, outcome, body);
                Flow::Continue
            }
            End::Done(RuntimeEvent::InitError { error_type, body }) => {
                report_line(self.last_mem).write(&self.log).await;
                let (outcome, body) = error_outcome(&error_type, &body);
                self.report.finished(inv, outcome, body);
                Flow::Stop
            }
            End::Timeout => {
                let _ = kill_and_reap(&mut self.proc.child, &mut self.proc.group).await;
                self.exited = true;
                self.log.line(format!(
                    "{} {request_id} Task timed out after {timeout_s}.00 seconds",
                    crate::store::now_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ")
                ));
                report_line(self.last_mem).write(&self.log).await;
                self.report
                    .finished(inv, Outcome::Timeout, scheduler::timeout_body(timeout_s));
                Flow::Stop
            }
            End::Exit(why) => {
                // `wait_exit` already killed the rest of the group, before reaping.
                self.exited = true;
                let (error_type, msg) = exit_error(&self.freezer.cgroup, &request_id, &why);
                self.log.line(&msg);
                let mem = if error_type == OUT_OF_MEMORY {
                    // Killed at the limit, as Lambda reports it.
                    u64::from(memory_size)
                } else {
                    self.last_mem
                };
                report_line(mem).write(&self.log).await;
                self.report.failed(inv, error_type, &msg);
                Flow::Stop
            }
            End::Shutdown => {
                group_kill_thawed(&mut self.freezer, &self.proc.group);
                self.report.failed(
                    inv,
                    "Emulator.ShuttingDown",
                    "the emulator shut down during the invocation",
                );
                Flow::Stop
            }
        }
    }
}
