//! Lambda Managed Instances (LMI): the decisions of the emulator's LMI mode as pure functions —
//! defaults and limits of the settings, which execution environment takes an invocation, when an
//! invoke is throttled, the init limit, which version an invoke runs. The scheduler and the
//! sandboxes apply them; nothing here does I/O.
//!
//! Sources: AWS's LMI pages (runtimes, execution environment, scaling, version publishing) and
//! the `LambdaManagedInstancesCapacityProviderConfig` API reference, summarised with citations in
//! the repository's `docs/research/lambda-managed-instances.md`. Where AWS's docs are silent the
//! emulator's choice is marked as such.

use std::time::Duration;

use crate::model::LambdaManagedInstancesCapacityProviderConfig;

/// `PerExecutionEnvironmentMaxConcurrency`'s range (API reference).
pub(crate) const MAX_CONCURRENCY_RANGE: std::ops::RangeInclusive<u32> = 1..=1600;
/// `ExecutionEnvironmentMemoryGiBPerVCpu`'s range (API reference).
pub(crate) const GIB_PER_VCPU_RANGE: std::ops::RangeInclusive<f64> = 2.0..=8.0;
/// The smallest memory size of an LMI function (2 GB / 1 vCPU).
pub const MIN_MEMORY_MB: u32 = 2048;
/// The default `ExecutionEnvironmentMemoryGiBPerVCpu`. AWS's API docs are silent; LocalStack
/// uses 2.0, an AWS-authored agent skill says 4:1. The emulator uses 2.0.
pub const DEFAULT_GIB_PER_VCPU: f64 = 2.0;
/// The Rust runtime's default concurrency: "8 concurrent requests per vCPU" (AWS, LMI Rust page).
pub(crate) const DEFAULT_CONCURRENCY_PER_VCPU: u32 = 8;
/// An LMI init may take "the maximum of 130 seconds or the configured function timeout (up to
/// 900 seconds)".
const INIT_TIMEOUT_FLOOR: Duration = Duration::from_secs(130);
const INIT_TIMEOUT_CAP: Duration = Duration::from_secs(900);

/// The invocations one environment of a function with `memory_mb` runs at once: the configured
/// `PerExecutionEnvironmentMaxConcurrency`, else the Rust runtime's documented default of 8 per
/// vCPU (AWS's docs are silent on whether `AWS_LAMBDA_MAX_CONCURRENCY` then holds the per-vCPU
/// figure or the total: the emulator uses the total).
pub(crate) fn max_concurrency(
    cfg: &LambdaManagedInstancesCapacityProviderConfig,
    memory_mb: u32,
) -> u32 {
    cfg.per_execution_environment_max_concurrency
        .unwrap_or_else(|| DEFAULT_CONCURRENCY_PER_VCPU * environment_vcpus(cfg, memory_mb))
}

/// vCPUs of an environment with `memory_mb`: memory (GiB) /
/// `ExecutionEnvironmentMemoryGiBPerVCpu` (default [`DEFAULT_GIB_PER_VCPU`]).
pub(crate) fn environment_vcpus(
    cfg: &LambdaManagedInstancesCapacityProviderConfig,
    memory_mb: u32,
) -> u32 {
    let ratio = cfg
        .execution_environment_memory_gib_per_vcpu
        .map(|r| r.0)
        .unwrap_or(DEFAULT_GIB_PER_VCPU);
    vcpus(memory_mb, ratio)
}

/// vCPUs of an environment: memory (GiB) / GiB per vCPU, whole, at least 1.
pub fn vcpus(memory_mb: u32, gib_per_vcpu: f64) -> u32 {
    let v = (f64::from(memory_mb) / 1024.0 / gib_per_vcpu).floor();
    if v.is_finite() && v >= 1.0 {
        v as u32
    } else {
        1
    }
}

/// How long an LMI environment's init may take: max(130 s, timeout), at most 900 s.
pub(crate) fn init_timeout(function_timeout: Duration) -> Duration {
    function_timeout.clamp(INIT_TIMEOUT_FLOOR, INIT_TIMEOUT_CAP)
}

/// Checks an LMI configuration against the API's constraints; the message names the setting
/// and the fix.
pub(crate) fn validate(
    cfg: &LambdaManagedInstancesCapacityProviderConfig,
    memory_mb: u32,
) -> Result<(), String> {
    if !valid_capacity_provider_arn(&cfg.capacity_provider_arn) {
        return Err(format!(
            "1 validation error detected: Value '{}' at \
             'capacityProviderConfig.lambdaManagedInstancesCapacityProviderConfig.capacityProviderArn' \
             failed to satisfy constraint: give arn:aws:lambda:<region>:<account>:capacity-provider:<name> \
             (name [a-zA-Z0-9-_]+, at most 140 characters)",
            cfg.capacity_provider_arn
        ));
    }
    if let Some(n) = cfg.per_execution_environment_max_concurrency {
        if !MAX_CONCURRENCY_RANGE.contains(&n) {
            return Err(format!(
                "PerExecutionEnvironmentMaxConcurrency {n} is out of range: give 1 to 1600"
            ));
        }
    }
    if let Some(r) = cfg.execution_environment_memory_gib_per_vcpu {
        if !GIB_PER_VCPU_RANGE.contains(&r.0) {
            return Err(format!(
                "ExecutionEnvironmentMemoryGiBPerVCpu {} is out of range: give 2.0 to 8.0",
                r.0
            ));
        }
    }
    if memory_mb < MIN_MEMORY_MB {
        return Err(format!(
            "MemorySize {memory_mb} MB is too small for Lambda Managed Instances: give at least \
             {MIN_MEMORY_MB} MB (MemorySize, or FunctionSpec::memory_mb)"
        ));
    }
    Ok(())
}

/// `arn:aws[-a-z]*:lambda:<region>:<12 digits>:capacity-provider:<[a-zA-Z0-9-_]+>`, ≤ 140 chars.
fn valid_capacity_provider_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    arn.len() <= 140
        && parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "lambda"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "capacity-provider"
        && !parts[6].is_empty()
        && parts[6]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// How busy one execution environment is, as placement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EnvLoad<'a> {
    /// The environment (sandbox) id.
    pub id: &'a str,
    /// Invocations it runs now.
    pub in_flight: u32,
}

/// Where an invocation of an LMI version goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement<'a> {
    /// To this running environment (it has a free slot).
    Environment(&'a str),
    /// To a new environment (fewer than the fixed number run).
    StartEnvironment,
    /// Nowhere: every slot of every environment is taken.
    Full,
}

/// Which environment takes the next invocation: the least busy one with a free slot (the
/// first on ties); else a new one while fewer than `environments` run; else none. AWS's docs
/// say only that the router retries a busy environment on another; least-busy-first is the
/// emulator's choice. The emulator starts environments at the first invocations, not at
/// publishing as Lambda does.
pub(crate) fn place<'a>(
    envs: &[EnvLoad<'a>],
    max_concurrency: u32,
    environments: u32,
) -> Placement<'a> {
    let free = envs
        .iter()
        .filter(|e| e.in_flight < max_concurrency)
        .min_by_key(|e| e.in_flight);
    match free {
        Some(e) => Placement::Environment(e.id),
        None if (envs.len() as u64) < u64::from(environments) => Placement::StartEnvironment,
        None => Placement::Full,
    }
}

/// Whether a new invoke is throttled (429 `TooManyRequestsException`): the invocations already
/// running or waiting for a slot fill every slot of every environment. Applies to synchronous
/// and `Event` invokes alike ("Lambda Managed Instances might reject new invokes to protect
/// invokes that are already in flight").
pub(crate) fn throttled(taken: usize, max_concurrency: u32, environments: u32) -> bool {
    taken as u64 >= u64::from(max_concurrency) * u64::from(environments)
}

/// Why an invoke of an LMI function is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Invoked with the `$LATEST` qualifier.
    #[error(
        "Functions configured with capacity provider configuration can't be invoked with $LATEST qualifier. \
         To invoke this function, specify a published version qualifier or $LATEST.PUBLISHED."
    )]
    LatestQualifier,
    /// Invoked unqualified while no version is published.
    #[error(
        "The function can't be invoked because no published version exists. For functions with capacity \
         provider configuration, either publish a version to $LATEST.PUBLISHED, or specify a published \
         version qualifier."
    )]
    NoPublishedVersion,
}

/// Which version an invoke of an LMI function runs: the qualifier's (`Ok(None)`: resolve it as
/// given), or for an unqualified invoke (or `$LATEST.PUBLISHED`) the newest published version
/// (`Ok(Some(n))`), which stands in for Lambda's `$LATEST.PUBLISHED`. The texts of the refusals
/// are LocalStack's copies of AWS's (AWS's docs do not quote them).
pub(crate) fn invoke_version(
    qualifier: Option<&str>,
    newest_published: Option<u64>,
) -> Result<Option<u64>, Refusal> {
    match qualifier {
        Some("$LATEST") => Err(Refusal::LatestQualifier),
        None | Some("$LATEST.PUBLISHED") => newest_published
            .map(Some)
            .ok_or(Refusal::NoPublishedVersion),
        Some(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GibPerVcpu;

    fn env(id: &str, in_flight: u32) -> EnvLoad<'_> {
        EnvLoad { id, in_flight }
    }

    #[test]
    fn the_least_busy_environment_with_a_free_slot_takes_the_invocation() {
        let envs = [env("a", 3), env("b", 1), env("c", 4)];
        assert_eq!(place(&envs, 4, 3), Placement::Environment("b"));
        assert_eq!(
            place(&[env("a", 2), env("b", 2)], 4, 2),
            Placement::Environment("a")
        );
    }

    #[test]
    fn a_new_environment_starts_only_when_every_running_one_is_full() {
        assert_eq!(place(&[], 4, 2), Placement::StartEnvironment);
        assert_eq!(place(&[env("a", 4)], 4, 2), Placement::StartEnvironment);
        assert_eq!(place(&[env("a", 4), env("b", 4)], 4, 2), Placement::Full);
    }

    #[test]
    fn invokes_are_throttled_once_every_slot_of_every_environment_is_taken() {
        assert!(!throttled(7, 4, 2));
        assert!(throttled(8, 4, 2));
        assert!(throttled(1, 1, 1));
        assert!(!throttled(0, 1, 1));
    }

    #[test]
    fn latest_is_refused_and_unqualified_runs_the_newest_published_version() {
        assert_eq!(
            invoke_version(Some("$LATEST"), Some(2)),
            Err(Refusal::LatestQualifier)
        );
        assert_eq!(invoke_version(None, None), Err(Refusal::NoPublishedVersion));
        assert_eq!(invoke_version(None, Some(3)), Ok(Some(3)));
        assert_eq!(
            invoke_version(Some("$LATEST.PUBLISHED"), Some(3)),
            Ok(Some(3))
        );
        assert_eq!(invoke_version(Some("2"), Some(3)), Ok(None));
    }

    #[test]
    fn the_init_limit_is_130_seconds_or_the_timeout_up_to_900() {
        assert_eq!(
            init_timeout(Duration::from_secs(3)),
            Duration::from_secs(130)
        );
        assert_eq!(
            init_timeout(Duration::from_secs(600)),
            Duration::from_secs(600)
        );
        assert_eq!(
            init_timeout(Duration::from_secs(5400)),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn default_concurrency_is_eight_per_vcpu_from_memory_and_ratio() {
        let cfg = LambdaManagedInstancesCapacityProviderConfig::new(
            "arn:aws:lambda:us-east-1:123456789012:capacity-provider:cp",
        );
        assert_eq!(environment_vcpus(&cfg, 4096), 2);
        assert_eq!(max_concurrency(&cfg, 4096), 16);
        assert_eq!(max_concurrency(&cfg.clone().max_concurrency(5), 4096), 5);
        let mut wide = cfg;
        wide.execution_environment_memory_gib_per_vcpu = Some(GibPerVcpu(4.0));
        assert_eq!(environment_vcpus(&wide, 2048), 1);
        assert_eq!(environment_vcpus(&wide, 16384), 4);
    }

    #[test]
    fn settings_out_of_range_are_refused_naming_the_setting() {
        let ok = LambdaManagedInstancesCapacityProviderConfig::new(
            "arn:aws:lambda:us-east-1:123456789012:capacity-provider:my-cp_1",
        );
        assert_eq!(validate(&ok, 2048), Ok(()));
        let e = validate(&ok.clone().max_concurrency(0), 2048).unwrap_err();
        assert!(e.contains("PerExecutionEnvironmentMaxConcurrency"), "{e}");
        let e = validate(&ok.clone().max_concurrency(1601), 2048).unwrap_err();
        assert!(e.contains("1 to 1600"), "{e}");
        let mut ratio = ok.clone();
        ratio.execution_environment_memory_gib_per_vcpu = Some(GibPerVcpu(1.5));
        assert!(validate(&ratio, 2048)
            .unwrap_err()
            .contains("ExecutionEnvironmentMemoryGiBPerVCpu"));
        assert!(validate(&ok, 1024).unwrap_err().contains("MemorySize"));
        let bad = LambdaManagedInstancesCapacityProviderConfig::new(
            "arn:aws:lambda:us-east-1:1:function:f",
        );
        assert!(validate(&bad, 2048)
            .unwrap_err()
            .contains("capacityProviderArn"));
    }
}
