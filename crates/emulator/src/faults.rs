//! Fault injection for tests: the Invoke API can refuse calls (`500 ServiceException`, as Lambda
//! does when it has an internal error), accepted asynchronous invocations can fail before they
//! reach a sandbox (`Emulator.InjectedFault`, then Lambda's usual async retries), and accepted
//! asynchronous invocations can be delivered twice (Lambda's async delivery is at-least-once: a
//! function may see the same request id more than once). Set with
//! [`crate::EmulatorHandle::set_faults`] or `PUT /_emulator/faults`; counters in
//! [`crate::EmulatorHandle::fault_stats`] / `GET /_emulator/faults`.

use serde::{Deserialize, Serialize};

/// Which faults to inject, as probabilities in `0.0..=1.0` (values outside are clamped; NaN is 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of Invoke API calls answered with `500 ServiceException` without running anything.
    pub reject_invoke: f64,
    /// Share of accepted asynchronous invocations whose first attempt fails with
    /// `Emulator.InjectedFault` before reaching a sandbox (Lambda's async retries then apply).
    pub fail_invocation: f64,
    /// Share of accepted asynchronous invocations delivered twice: a second, independent
    /// delivery with the same request id (its own [`crate::InvocationRecord`], attempt 1,
    /// `duplicate: true`), as Lambda's at-least-once async delivery may do.
    pub duplicate_event: f64,
}

/// What the injected faults did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    /// Invoke API calls refused.
    pub invokes_rejected: u64,
    /// Invocation attempts failed.
    pub invocations_failed: u64,
    /// Asynchronous invocations delivered a second time (see [`Faults::duplicate_event`]).
    pub events_duplicated: u64,
}

#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub faults: Faults,
    pub stats: FaultStats,
}

fn clamp(p: f64) -> f64 {
    if p.is_nan() {
        0.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

/// A uniformly random number in `[0, 1)`.
fn roll() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

impl Faults {
    /// With probabilities clamped into `0.0..=1.0`.
    pub fn clamped(self) -> Self {
        Self {
            reject_invoke: clamp(self.reject_invoke),
            fail_invocation: clamp(self.fail_invocation),
            duplicate_event: clamp(self.duplicate_event),
        }
    }
}

impl FaultState {
    pub(crate) fn reject_invoke(&mut self) -> bool {
        let hit = self.faults.reject_invoke > 0.0 && roll() < self.faults.reject_invoke;
        if hit {
            self.stats.invokes_rejected += 1;
        }
        hit
    }

    pub(crate) fn fail_invocation(&mut self) -> bool {
        let hit = self.faults.fail_invocation > 0.0 && roll() < self.faults.fail_invocation;
        if hit {
            self.stats.invocations_failed += 1;
        }
        hit
    }

    pub(crate) fn duplicate_event(&mut self) -> bool {
        let hit = self.faults.duplicate_event > 0.0 && roll() < self.faults.duplicate_event;
        if hit {
            self.stats.events_duplicated += 1;
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_is_in_range_and_extremes_are_exact() {
        for _ in 0..1000 {
            let r = roll();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
        let mut s = FaultState {
            faults: Faults {
                reject_invoke: 1.0,
                fail_invocation: 0.0,
                duplicate_event: 1.0,
            },
            ..Default::default()
        };
        assert!((0..100).all(|_| s.reject_invoke()));
        assert!((0..100).all(|_| !s.fail_invocation()));
        assert!((0..100).all(|_| s.duplicate_event()));
        assert_eq!(s.stats.invokes_rejected, 100);
        assert_eq!(s.stats.events_duplicated, 100);
        assert_eq!(s.stats.invocations_failed, 0);
        let f = Faults {
            reject_invoke: f64::NAN,
            fail_invocation: 7.0,
            duplicate_event: -0.5,
        }
        .clamped();
        assert_eq!(
            (f.reject_invoke, f.fail_invocation, f.duplicate_event),
            (0.0, 1.0, 0.0)
        );
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;

    #[test]
    fn duplicate_event_is_optional_in_json_and_unknown_fields_are_refused() {
        let f: Faults = serde_json::from_str(r#"{"reject_invoke": 0.5}"#).unwrap();
        assert_eq!(f.duplicate_event, 0.0);
        let f: Faults = serde_json::from_str(r#"{"duplicate_event": 1.0}"#).unwrap();
        assert_eq!(f.duplicate_event, 1.0);
        assert!(serde_json::from_str::<Faults>(r#"{"duplicate_events": 1.0}"#).is_err());
        let stats = serde_json::to_value(FaultStats::default()).unwrap();
        assert_eq!(stats["events_duplicated"], 0);
    }
}
