//! Order statistics over a handful of samples (nearest-rank percentiles).

/// p50 / p95 / min / max of a sample set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median (nearest rank: the ⌈0.50·n⌉-th smallest sample).
    pub p50: f64,
    /// 95th percentile (nearest rank: the ⌈0.95·n⌉-th smallest sample; the 19th of 20).
    pub p95: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean. For durations recorded with 1 ms resolution (the emulator's epoch-ms
    /// timestamps), the mean of the rounded differences still estimates sub-millisecond values.
    pub mean: f64,
}

/// Nearest-rank percentile `p` (0 < p ≤ 1) of an ascending, non-empty slice.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises `samples`; `None` when there are none.
pub(crate) fn summarize(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Summary {
        n: sorted.len(),
        p50: nearest_rank(&sorted, 0.50),
        p95: nearest_rank(&sorted, 0.95),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_twenty_samples() {
        let samples: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        let s = summarize(&samples).unwrap();
        assert_eq!(
            (s.n, s.p50, s.p95, s.min, s.max),
            (20, 10.0, 19.0, 1.0, 20.0)
        );
        assert_eq!(summarize(&[7.0]).unwrap().p95, 7.0);
        assert!(summarize(&[]).is_none());
    }
}
