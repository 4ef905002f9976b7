//! What a sandbox reports of an invocation: error outcomes as Lambda words them, REPORT lines.

use std::time::Duration;

use bytes::Bytes;

use crate::fidelity::SandboxCgroup;
use crate::logs::LogStream;
use crate::model::{Outcome, SandboxLimits};

pub(super) fn error_outcome(error_type: &str, body: &[u8]) -> (Outcome, Bytes) {
    let parsed = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(|v| v.is_object());
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let body = match parsed {
        Some(_) => Bytes::copy_from_slice(body),
        None => Bytes::from(
            serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string(),
        ),
    };
    (
        Outcome::Error {
            error_type: error_type.to_string(),
            error_message: message,
        },
        body,
    )
}

pub(super) const OUT_OF_MEMORY: &str = "Runtime.OutOfMemory";

/// The error of a runtime that exited: `Runtime.OutOfMemory` if the memory cgroup's OOM killer
/// did it, else `Runtime.ExitError`; the message as Lambda words it.
pub(super) fn exit_error(
    cgroup: &SandboxCgroup,
    request_id: &str,
    why: &str,
) -> (&'static str, String) {
    if cgroup.oom_killed() {
        (
            OUT_OF_MEMORY,
            format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
        )
    } else {
        (
            "Runtime.ExitError",
            format!("RequestId: {request_id} Error: Runtime exited with error: {why}"),
        )
    }
}

/// One REPORT line.
pub(super) struct Report<'a> {
    pub(super) request_id: &'a str,
    pub(super) duration: Duration,
    pub(super) memory_size: u32,
    pub(super) max_memory_mb: u64,
    pub(super) init: Option<Duration>,
    pub(super) limits: Option<&'a SandboxLimits>,
    /// Lambda Managed Instances: the execution environment and the most invocations it ran at
    /// once during this one.
    pub(super) environment: Option<(&'a str, u32)>,
    /// An arm64 function: its architecture, and the emulator that ran it on this host.
    pub(super) architecture: Option<&'a str>,
}

impl Report<'_> {
    fn text(&self) -> String {
        let ms = self.duration.as_secs_f64() * 1000.0;
        let billed = (ms.ceil() as u64).max(1);
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            self.request_id, self.memory_size, self.max_memory_mb
        );
        if let Some(i) = self.init {
            line.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                i.as_secs_f64() * 1000.0
            ));
        }
        // Not in Lambda's REPORT: what the emulator enforced (fidelity on only).
        if let Some(l) = self.limits {
            if let Some(c) = l.cpu_millis {
                line.push_str(&format!("\tCPU Share: {:.3} vCPU", f64::from(c) / 1000.0));
            }
            if let Some(m) = l.memory_limit_mb {
                line.push_str(&format!("\tMemory Limit: {m} MB"));
            }
            line.push_str(&format!("\tFrozen Before: {} ms", l.frozen_ms));
        }
        // Not in Lambda's REPORT either (AWS's docs are silent on the REPORT line on Lambda
        // Managed Instances): which environment ran it and how many ran there at once.
        if let Some((env, n)) = self.environment {
            line.push_str(&format!(
                "\tExecution Environment: {env}\tConcurrent Invocations: {n}"
            ));
        }
        // Not in Lambda's REPORT: an arm64 function says so (and that its timings are emulated).
        if let Some(a) = self.architecture {
            line.push_str(&format!("\tArchitecture: {a}"));
        }
        line
    }

    pub(super) async fn write(&self, log: &LogStream) {
        log.line(format!("END RequestId: {}", self.request_id));
        log.line(self.text());
        // The REPORT line is in the file before the caller hears the result.
        log.sync().await;
    }
}
