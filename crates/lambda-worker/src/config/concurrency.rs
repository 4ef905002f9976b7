//! Concurrent invocations (Lambda Managed Instances): how many invocations an execution
//! environment serves at once, what its shared worker does after the last one
//! ([`Residency`]), and how the worker's slots scale with the environment's vCPUs.
//!
//! On on-demand Lambda (`AWS_LAMBDA_MAX_CONCURRENCY` unset or 1) none of this applies: one
//! invocation at a time, each with its own worker.

use std::collections::HashMap;

use temporal_lambda_env::connection as vars;

use super::WorkerTuning;

/// Set by Lambda Managed Instances: how many invocations the runtime may hold at once
/// (`PerExecutionEnvironmentMaxConcurrency`). Unset or 1 on on-demand Lambda.
pub const MAX_CONCURRENCY_ENV: &str = "AWS_LAMBDA_MAX_CONCURRENCY";
/// The function's memory, MB (set by Lambda in both models).
pub const MEMORY_SIZE_ENV: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
/// Default [`ConcurrencySettings::memory_gib_per_vcpu`]: 2 GiB per vCPU. AWS's API reference does
/// not state the default ratio (LocalStack uses 2, an AWS agent skill says 4); 2 is the smaller
/// environment per vCPU, so slots are never sized for more vCPUs than the environment has at 4.
pub const DEFAULT_MEMORY_GIB_PER_VCPU: f64 = 2.0;

/// What the shared worker of an execution environment does once its last invocation (lease)
/// has answered (`TEMPORAL_LAMBDA_RESIDENCY`).
///
/// The default is [`Residency::Stop`] for now: issue 26 chooses the default from measurements
/// of both policies (throughput per vCPU, cost per 1,000 workflows), which are not made yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Residency {
    /// Drain and stop, as on on-demand Lambda: the server invokes again when work arrives.
    #[default]
    Stop,
    /// Keep polling until the environment is reclaimed (`SIGTERM`): the instances are paid for
    /// anyway, and the server's invocations then only add capacity.
    Stay,
}

impl Residency {
    /// Parse `stop` / `stay` (case-insensitive).
    pub fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "stop" => Some(Residency::Stop),
            "stay" => Some(Residency::Stay),
            _ => None,
        }
    }
}

/// A concurrency setting that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConcurrencyError {
    /// `TEMPORAL_LAMBDA_RESIDENCY` is neither `stop` nor `stay`.
    #[error("{name}={value:?} is not a residency policy; set it to `stop` (drain after the last invocation, the default) or `stay` (keep polling until the environment is reclaimed), or unset it", name = vars::RESIDENCY)]
    Residency {
        /// The value found.
        value: String,
    },
    /// `TEMPORAL_LAMBDA_MEMORY_GIB_PER_VCPU` is not a number from 2 to 8.
    #[error("{name}={value:?} is not a memory-per-vCPU ratio; set it to the capacity provider config's ExecutionEnvironmentMemoryGiBPerVCpu (2 to 8, e.g. 2 or 4), or unset it for {DEFAULT_MEMORY_GIB_PER_VCPU}", name = vars::MEMORY_GIB_PER_VCPU)]
    MemoryGibPerVcpu {
        /// The value found.
        value: String,
    },
}

/// How an execution environment serves invocations, read from its environment.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcurrencySettings {
    /// `AWS_LAMBDA_MAX_CONCURRENCY` (1 when unset or not a positive number, as `lambda_runtime`
    /// reads it).
    pub max_concurrency: u32,
    /// `TEMPORAL_LAMBDA_RESIDENCY` (default [`Residency::Stop`]).
    pub residency: Residency,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MB, if set.
    pub memory_mb: Option<u32>,
    /// `TEMPORAL_LAMBDA_MEMORY_GIB_PER_VCPU` (default [`DEFAULT_MEMORY_GIB_PER_VCPU`]).
    pub memory_gib_per_vcpu: f64,
}

impl Default for ConcurrencySettings {
    fn default() -> Self {
        Self {
            max_concurrency: 1,
            residency: Residency::default(),
            memory_mb: None,
            memory_gib_per_vcpu: DEFAULT_MEMORY_GIB_PER_VCPU,
        }
    }
}

impl ConcurrencySettings {
    /// Read the settings from `env`. The Temporal-side settings are checked even on on-demand
    /// Lambda (a typo there is an error, not a silent default).
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, ConcurrencyError> {
        let max_concurrency = env
            .get(MAX_CONCURRENCY_ENV)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1);
        let residency = match env.get(vars::RESIDENCY).filter(|v| !v.trim().is_empty()) {
            None => Residency::default(),
            Some(v) => Residency::parse(v)
                .ok_or_else(|| ConcurrencyError::Residency { value: v.clone() })?,
        };
        let memory_gib_per_vcpu = match env
            .get(vars::MEMORY_GIB_PER_VCPU)
            .filter(|v| !v.trim().is_empty())
        {
            None => DEFAULT_MEMORY_GIB_PER_VCPU,
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (2.0..=8.0).contains(r))
                .ok_or_else(|| ConcurrencyError::MemoryGibPerVcpu { value: v.clone() })?,
        };
        let memory_mb = env
            .get(MEMORY_SIZE_ENV)
            .and_then(|v| v.trim().parse::<u32>().ok());
        Ok(Self {
            max_concurrency,
            residency,
            memory_mb,
            memory_gib_per_vcpu,
        })
    }

    /// Whether invocations run concurrently over one shared worker (max concurrency > 1).
    pub fn is_concurrent(&self) -> bool {
        self.max_concurrency > 1
    }

    /// The environment's vCPUs: memory (GiB) / memory per vCPU, rounded down, at least 1.
    pub fn vcpus(&self) -> usize {
        let gib = f64::from(self.memory_mb.unwrap_or(0)) / 1024.0;
        ((gib / self.memory_gib_per_vcpu).floor() as usize).max(1)
    }

    /// `tuning` for the shared worker: every slot count and the sticky cache still at its
    /// on-demand default is multiplied by [`Self::vcpus`]; a value the `configure` closure set
    /// is kept as it is. Unchanged when not concurrent.
    pub fn scale(&self, tuning: &WorkerTuning) -> WorkerTuning {
        if !self.is_concurrent() {
            return tuning.clone();
        }
        let n = self.vcpus();
        let d = WorkerTuning::default();
        let scaled = |v: usize, default: usize| if v == default { v * n } else { v };
        WorkerTuning {
            max_concurrent_activities: scaled(
                tuning.max_concurrent_activities,
                d.max_concurrent_activities,
            ),
            max_concurrent_workflow_tasks: scaled(
                tuning.max_concurrent_workflow_tasks,
                d.max_concurrent_workflow_tasks,
            ),
            max_concurrent_local_activities: scaled(
                tuning.max_concurrent_local_activities,
                d.max_concurrent_local_activities,
            ),
            max_concurrent_nexus_tasks: scaled(
                tuning.max_concurrent_nexus_tasks,
                d.max_concurrent_nexus_tasks,
            ),
            max_cached_workflows: scaled(tuning.max_cached_workflows, d.max_cached_workflows),
            ..tuning.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn on_demand_lambda_is_not_concurrent_and_keeps_its_tuning() {
        for e in [
            env(&[]),
            env(&[(MAX_CONCURRENCY_ENV, "1")]),
            env(&[(MAX_CONCURRENCY_ENV, "0")]),
            env(&[(MAX_CONCURRENCY_ENV, "lots")]),
        ] {
            let s = ConcurrencySettings::from_env(&e).unwrap();
            assert!(!s.is_concurrent(), "{e:?}");
            assert_eq!(s.scale(&WorkerTuning::default()), WorkerTuning::default());
        }
    }

    #[test]
    fn slots_scale_with_vcpus_from_memory_and_the_ratio() {
        let s = ConcurrencySettings::from_env(&env(&[
            (MAX_CONCURRENCY_ENV, "16"),
            (MEMORY_SIZE_ENV, "8192"),
        ]))
        .unwrap();
        assert_eq!((s.max_concurrency, s.residency), (16, Residency::Stop));
        assert_eq!(s.vcpus(), 4);
        let t = s.scale(&WorkerTuning::default());
        assert_eq!(t.max_concurrent_activities, 8);
        assert_eq!(t.max_concurrent_workflow_tasks, 40);
        assert_eq!(t.max_cached_workflows, 120);
        assert_eq!(t.workflow_task_pollers, 2, "pollers are not slots");

        let at_4 = ConcurrencySettings {
            memory_gib_per_vcpu: 4.0,
            ..s.clone()
        };
        assert_eq!(at_4.vcpus(), 2);
        let tiny = ConcurrencySettings {
            memory_mb: Some(1024),
            ..s.clone()
        };
        assert_eq!(tiny.vcpus(), 1, "never below one vCPU");
    }

    #[test]
    fn a_slot_count_set_in_code_is_kept() {
        let s = ConcurrencySettings {
            max_concurrency: 8,
            memory_mb: Some(4096),
            ..Default::default()
        };
        let mine = WorkerTuning {
            max_concurrent_activities: 50,
            ..Default::default()
        };
        let t = s.scale(&mine);
        assert_eq!(t.max_concurrent_activities, 50);
        assert_eq!(t.max_concurrent_workflow_tasks, 20);
    }

    #[test]
    fn residency_and_ratio_settings_are_checked_with_the_fix_named() {
        let s = ConcurrencySettings::from_env(&env(&[(vars::RESIDENCY, "Stay")])).unwrap();
        assert_eq!(s.residency, Residency::Stay);
        let e = ConcurrencySettings::from_env(&env(&[(vars::RESIDENCY, "forever")])).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("TEMPORAL_LAMBDA_RESIDENCY") && msg.contains("`stay`"),
            "{msg}"
        );
        for bad in ["1", "9", "two", "NaN"] {
            let e = ConcurrencySettings::from_env(&env(&[(vars::MEMORY_GIB_PER_VCPU, bad)]))
                .unwrap_err();
            assert!(
                e.to_string()
                    .contains("TEMPORAL_LAMBDA_MEMORY_GIB_PER_VCPU"),
                "{e}"
            );
        }
        let s = ConcurrencySettings::from_env(&env(&[(vars::MEMORY_GIB_PER_VCPU, "4")])).unwrap();
        assert_eq!(s.memory_gib_per_vcpu, 4.0);
    }
}
