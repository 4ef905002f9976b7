//! What is measured per row ([`RowResult`]) and the REPORT lines it is read from.

use std::collections::HashMap;

use temporal_lambda_env::arch::{Arch, USD_PER_REQUEST};

/// Throughput of one row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Throughput {
    pub(crate) n: usize,
    /// First start sent → last close event, ms.
    pub(crate) drain_ms: f64,
    pub(crate) invocations: usize,
    pub(crate) latency_ms: Vec<f64>,
}

/// Billing of one row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Billing {
    pub(crate) n: usize,
    pub(crate) invocations: usize,
    pub(crate) cold: usize,
    /// Billed ms per invocation (`Duration` rounded up + `Init Duration` of cold starts).
    pub(crate) billed_ms: Vec<f64>,
    pub(crate) gb_s: f64,
    /// Workflow start → completed, ms, per workflow of the workload.
    pub(crate) latency_ms: Vec<f64>,
}

impl Billing {
    /// What the workload would cost on Lambda on `arch`, per 1,000 workflows, in USD: GB-s ×
    /// the architecture's price + invocations × the request price (Lambda's published
    /// on-demand prices, `temporal_lambda_env::arch`), scaled from the workload's `n` workflows.
    /// arm64 applies its price to the GB-s measured here (x86_64): a cost at the same speed.
    pub(crate) fn cost_per_1000(&self, arch: Arch) -> Option<f64> {
        (self.n > 0).then(|| {
            let scale = 1000.0 / self.n as f64;
            (self.gb_s * arch.usd_per_gb_s() + self.invocations as f64 * USD_PER_REQUEST) * scale
        })
    }
}

/// Everything measured for one row.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowResult {
    pub(crate) cold_ms: Vec<f64>,
    pub(crate) cold_verified: usize,
    pub(crate) warm_ms: Vec<f64>,
    pub(crate) warm_verified: usize,
    /// Invoke received (emulator) → first workflow task handed to a poll (server history).
    pub(crate) cold_start_ms: Vec<f64>,
    /// Sandbox process spawn → first workflow task handed to a poll.
    pub(crate) spawn_to_poll_ms: Vec<f64>,
    /// REPORT `Init Duration`: spawn → first `next`.
    pub(crate) init_ms: Vec<f64>,
    /// Sandbox process spawn → the worker's own `worker polling` log line (our row only).
    pub(crate) spawn_to_worker_log_ms: Vec<f64>,
    pub(crate) throughput: Option<Throughput>,
    pub(crate) billing: Option<Billing>,
    pub(crate) peak_tree_rss_mb: Option<f64>,
    pub(crate) report_max_mem_mb: Option<u64>,
    pub(crate) zip_bytes: u64,
    pub(crate) raw_bytes: u64,
    pub(crate) finished: usize,
    pub(crate) overruns: usize,
    pub(crate) timeouts: usize,
    pub(crate) errors: usize,
    /// Invocation duration − (timeout − 7 s): how far past the stop-polling point it ran.
    pub(crate) past_window_ms: Vec<f64>,
    /// The limits the invocation records say were enforced (distinct values: CPU share, memory
    /// limit, freezer), and how many finished records carried limits.
    pub(crate) limits_seen: Vec<String>,
    pub(crate) with_limits: usize,
    /// `frozen_ms` of the invocations that ran in a sandbox frozen since its previous one.
    pub(crate) frozen_ms: Vec<f64>,
    pub(crate) failure: Option<String>,
}

/// The REPORT figures of one invocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Report {
    pub(crate) duration_ms: f64,
    pub(crate) init_ms: Option<f64>,
    pub(crate) max_memory_mb: u64,
}

pub(crate) fn parse_reports(logs: &str) -> HashMap<String, Report> {
    let mut out = HashMap::new();
    for line in logs.lines() {
        let Some(rest) = line.trim_start().strip_prefix("REPORT ") else {
            continue;
        };
        let (mut id, mut d, mut init, mut mem) = (None, None, None, None);
        for field in rest.split('\t') {
            let Some((k, v)) = field.split_once(": ") else {
                continue;
            };
            let num = v.split_whitespace().next().unwrap_or_default();
            match k.trim() {
                "RequestId" => id = Some(v.trim().to_string()),
                "Duration" => d = num.parse().ok(),
                "Init Duration" => init = num.parse().ok(),
                "Max Memory Used" => mem = num.parse().ok(),
                _ => {}
            }
        }
        if let (Some(id), Some(duration_ms), Some(max_memory_mb)) = (id, d, mem) {
            out.insert(
                id,
                Report {
                    duration_ms,
                    init_ms: init,
                    max_memory_mb,
                },
            );
        }
    }
    out
}
