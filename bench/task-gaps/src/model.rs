//! Order statistics over the gaps, and what each idle policy would have billed for the
//! invocations the bench observed (under a long idle exit, so every gap is whole).

/// Lambda x86 price per GB-second (us-east-1, published), USD.
pub(crate) const USD_PER_GB_S: f64 = temporal_lambda_env::arch::Arch::X86_64.usd_per_gb_s();
/// Lambda price per request, USD ($0.20 per 1M).
pub(crate) const USD_PER_REQUEST: f64 = temporal_lambda_env::arch::USD_PER_REQUEST;
/// Latency a re-invocation adds to the task that triggers it on a warm sandbox, ms
/// (crates/lambda-worker/README.md, "Idle exit").
pub(crate) const REINVOKE_LATENCY_MS: f64 = 40.0;

/// Nearest-rank percentile `p` (0 < p ≤ 1) of an ascending, non-empty slice.
pub(crate) fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50 / p90 / p99 / max of `samples` (`None` when empty).
pub(crate) fn pcts(samples: &[f64]) -> Option<[f64; 4]> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Some([
        nearest_rank(&s, 0.5),
        nearest_rank(&s, 0.9),
        nearest_rank(&s, 0.99),
        s[s.len() - 1],
    ])
}

/// What kind of wait a gap was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wait {
    /// The server's next task after a completion (activity → workflow task, workflow task →
    /// activity, child started/completed → parent): nothing in the workflow waits on time.
    FollowUp,
    /// A durable timer of this many ms was pending (the `timers` shape's long gaps).
    Timer(u64),
    /// Waiting for an external signal.
    Signal,
}

/// One observed invocation, reduced to what the policies change.
#[derive(Debug, Clone)]
pub(crate) struct Inv {
    /// REPORT `Duration`, ms (observed, with the long idle exit).
    pub duration_ms: f64,
    /// Its idle gaps, in order, with what each waited for.
    pub gaps: Vec<(f64, Wait)>,
    /// Idle time when polling stopped, ms.
    pub tail_ms: f64,
}

/// An idle policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Policy {
    /// Stop polling after this long with nothing in flight (`TEMPORAL_LAMBDA_IDLE_EXIT`).
    Fixed(f64),
    /// Stop after `grace` ms idle, except while a cached workflow's durable timer of at most
    /// `keep_timer_ms` is pending: then stay until it fires.
    Grace { grace_ms: f64, keep_timer_ms: f64 },
}

impl Policy {
    /// The idle time after which the invocation stops, for a gap of this kind.
    fn stays(&self, wait: Wait) -> Option<f64> {
        match (*self, wait) {
            (Policy::Fixed(e), _) => Some(e),
            (Policy::Grace { keep_timer_ms, .. }, Wait::Timer(t)) if t as f64 <= keep_timer_ms => {
                None
            }
            (Policy::Grace { grace_ms, .. }, _) => Some(grace_ms),
        }
    }

    /// The idle exit the invocation's tail (no more work) costs.
    fn tail(&self) -> f64 {
        match *self {
            Policy::Fixed(e) => e,
            Policy::Grace { grace_ms, .. } => grace_ms,
        }
    }

    /// Short label for tables.
    pub(crate) fn label(&self) -> String {
        match *self {
            Policy::Fixed(e) => format!("idle exit {}", secs(e)),
            Policy::Grace {
                grace_ms,
                keep_timer_ms,
            } if keep_timer_ms <= 0.0 => format!("grace {}, timers exit", secs(grace_ms)),
            Policy::Grace {
                grace_ms,
                keep_timer_ms,
            } => format!(
                "grace {}, stay for timers ≤ {}",
                secs(grace_ms),
                secs(keep_timer_ms)
            ),
        }
    }
}

/// `250 ms`, `1 s`, `0.5 s`.
pub(crate) fn secs(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{} s", ms / 1000.0)
    }
}

/// What an invocation would have cost under a policy.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cost {
    /// Billed ms (Duration summed over the invocation and the re-invocations it splits into).
    pub billed_ms: f64,
    /// Invocations (1 + re-invocations).
    pub invocations: f64,
    /// Gaps that would have ended the invocation.
    pub splits: f64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Self) {
        self.billed_ms += o.billed_ms;
        self.invocations += o.invocations;
        self.splits += o.splits;
    }
}

/// Billed time under `policy`: the observed invocation minus its gaps and tail, plus each gap
/// up to where the policy stops (a gap longer than that ends the invocation: the rest of it is
/// not billed, and the re-invocation costs `overhead_ms`, the measured billed time of an
/// invocation outside its polling: start-up, connect, drain, return), plus the tail up to the
/// policy's exit.
pub(crate) fn cost(inv: &Inv, policy: Policy, overhead_ms: f64) -> Cost {
    let gaps: f64 = inv.gaps.iter().map(|g| g.0).sum();
    let mut c = Cost {
        billed_ms: (inv.duration_ms - gaps - inv.tail_ms).max(0.0),
        invocations: 1.0,
        splits: 0.0,
    };
    for &(g, wait) in &inv.gaps {
        match policy.stays(wait) {
            Some(exit) if g > exit => {
                c.billed_ms += exit + overhead_ms;
                c.invocations += 1.0;
                c.splits += 1.0;
            }
            _ => c.billed_ms += g,
        }
    }
    c.billed_ms += inv.tail_ms.min(policy.tail());
    c
}

/// GB-s of `billed_ms` at `memory_mb`.
pub(crate) fn gb_s(billed_ms: f64, memory_mb: u32) -> f64 {
    billed_ms / 1000.0 * f64::from(memory_mb) / 1024.0
}

/// USD of a cost at `memory_mb`.
pub(crate) fn usd(c: Cost, memory_mb: u32) -> f64 {
    gb_s(c.billed_ms, memory_mb) * USD_PER_GB_S + c.invocations * USD_PER_REQUEST
}

/// The wait, ms, above which exiting and being invoked again is cheaper than staying: a
/// re-invocation costs `overhead_ms` of billed time plus one request.
pub(crate) fn break_even_wait_ms(overhead_ms: f64, memory_mb: u32) -> f64 {
    let gb = f64::from(memory_mb) / 1024.0;
    overhead_ms + USD_PER_REQUEST / (USD_PER_GB_S * gb) * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inv {
        Inv {
            duration_ms: 20_000.0,
            gaps: vec![
                (10.0, Wait::FollowUp),
                (1_020.0, Wait::Timer(1_000)),
                (5_030.0, Wait::Timer(5_000)),
            ],
            tail_ms: 13_000.0,
        }
    }

    #[test]
    fn policies_bill_gaps_up_to_their_exit() {
        // busy + first task + overhead = 20000 − 6060 − 13000 = 940.
        let c = cost(&inv(), Policy::Fixed(15_000.0), 50.0);
        assert_eq!((c.billed_ms, c.invocations), (20_000.0, 1.0));
        let c = cost(&inv(), Policy::Fixed(2_000.0), 50.0);
        assert_eq!(c.billed_ms, 940.0 + 10.0 + 1_020.0 + 2_050.0 + 2_000.0);
        assert_eq!((c.invocations, c.splits), (2.0, 1.0));
        let c = cost(
            &inv(),
            Policy::Grace {
                grace_ms: 100.0,
                keep_timer_ms: 2_000.0,
            },
            50.0,
        );
        assert_eq!(c.billed_ms, 940.0 + 10.0 + 1_020.0 + 150.0 + 100.0);
        assert_eq!(c.splits, 1.0);
    }

    #[test]
    fn percentiles_and_break_even() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(pcts(&s), Some([50.0, 90.0, 99.0, 100.0]));
        // 256 MB: a request costs as much as 48 ms billed.
        let w = break_even_wait_ms(0.0, 256);
        assert!((w - 48.0).abs() < 0.01, "{w}");
    }
}
