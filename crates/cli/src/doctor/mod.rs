//! `doctor`: walk the whole invocation chain (AWS credentials → function → invocation role →
//! Temporal → deployment version → the code itself → recent errors) and report each link with a
//! fix. Starts from the deployment version: its compute config names the function, role and
//! external ID, so the only inputs are the deployment name and build ID.
//!
//! Two stages: [`run_with`] first *gathers* the facts (Temporal, Lambda, IAM, CloudWatch Logs;
//! a link that fails leaves the facts that need it ungathered), then every check, one per
//! [`CheckId`], is a pure function of those facts.

use std::time::Duration;

use serde::Serialize;

use crate::aws::{Aws, AwsArgs, AwsError};
use crate::connect::ConnectArgs;
use crate::iam::Trust;

/// The value of a gate of [`Facts`], or (from the check) the skip it returns.
macro_rules! gate {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(skip) => return skip,
        }
    };
}

mod deployment_checks;
mod facts;
mod function_checks;
mod gather;
mod role_checks;
mod version_checks;

pub(crate) use facts::Facts;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something is off.
    Warn,
    /// Broken: Temporal cannot run the worker through this link.
    Fail,
    /// Not checked (an earlier link failed, or not applicable).
    Skip,
}

/// Every check, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckId {
    /// `temporal-connection`: doctor connects to Temporal.
    TemporalConnection,
    /// `version-exists`: the Worker Deployment Version exists.
    VersionExists,
    /// `version-compute`: the version has an `aws-lambda` compute config.
    VersionCompute,
    /// `version-current`: the version is current or ramping.
    VersionCurrent,
    /// `function-qualified`: the compute config names a published Lambda version.
    FunctionQualified,
    /// `function-expected`: the compute config invokes the function `--function` names (only
    /// reported when `--function` is given).
    FunctionExpected,
    /// `aws-credentials`: the AWS clients load and the identity resolves.
    AwsCredentials,
    /// `versions-invocable`: every version that still gets tasks has its Lambda version.
    VersionsInvocable,
    /// `ramping-healthy`: the ramping version's function logs no errors.
    RampingHealthy,
    /// `function-region`: the function is in the region in use.
    FunctionRegion,
    /// `function-exists`: the function version exists and is Active.
    FunctionExists,
    /// `function-timeout`: the timeout leaves time for work.
    FunctionTimeout,
    /// `function-env`: the function's environment lets the worker connect.
    FunctionEnv,
    /// `role-not-execution`: the invocation role is not the function's execution role.
    RoleNotExecution,
    /// `role-exists`: the invocation role exists and is readable.
    RoleExists,
    /// `role-trust`: the role trusts Temporal's principal(s).
    RoleTrust,
    /// `role-external-id`: every statement allowing `sts:AssumeRole` requires the external ID.
    RoleExternalId,
    /// `role-permissions`: the role may invoke and read the function version.
    RolePermissions,
    /// `function-identity`: the code is the registered deployment version.
    FunctionIdentity,
    /// `secret-grant`: the execution role may read the API key's secret.
    SecretGrant,
    /// `function-connection`: the function reaches Temporal with its own settings.
    FunctionConnection,
    /// `recent-errors`: no error lines in the function's recent logs.
    RecentErrors,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 22] = [
        CheckId::TemporalConnection,
        CheckId::VersionExists,
        CheckId::VersionCompute,
        CheckId::VersionCurrent,
        CheckId::FunctionQualified,
        CheckId::FunctionExpected,
        CheckId::AwsCredentials,
        CheckId::VersionsInvocable,
        CheckId::RampingHealthy,
        CheckId::FunctionRegion,
        CheckId::FunctionExists,
        CheckId::FunctionTimeout,
        CheckId::FunctionEnv,
        CheckId::RoleNotExecution,
        CheckId::RoleExists,
        CheckId::RoleTrust,
        CheckId::RoleExternalId,
        CheckId::RolePermissions,
        CheckId::FunctionIdentity,
        CheckId::SecretGrant,
        CheckId::FunctionConnection,
        CheckId::RecentErrors,
    ];

    /// The stable identifier printed and serialized, e.g. `role-external-id`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckId::TemporalConnection => "temporal-connection",
            CheckId::VersionExists => "version-exists",
            CheckId::VersionCompute => "version-compute",
            CheckId::VersionCurrent => "version-current",
            CheckId::FunctionQualified => "function-qualified",
            CheckId::FunctionExpected => "function-expected",
            CheckId::AwsCredentials => "aws-credentials",
            CheckId::VersionsInvocable => "versions-invocable",
            CheckId::RampingHealthy => "ramping-healthy",
            CheckId::FunctionRegion => "function-region",
            CheckId::FunctionExists => "function-exists",
            CheckId::FunctionTimeout => "function-timeout",
            CheckId::FunctionEnv => "function-env",
            CheckId::RoleNotExecution => "role-not-execution",
            CheckId::RoleExists => "role-exists",
            CheckId::RoleTrust => "role-trust",
            CheckId::RoleExternalId => "role-external-id",
            CheckId::RolePermissions => "role-permissions",
            CheckId::FunctionIdentity => "function-identity",
            CheckId::SecretGrant => "secret-grant",
            CheckId::FunctionConnection => "function-connection",
            CheckId::RecentErrors => "recent-errors",
        }
    }

    /// The pure check over the gathered facts; `None` when it does not apply (only
    /// `function-expected`, without `--function`).
    fn evaluate(self, f: &Facts) -> Option<Verdict> {
        use {
            deployment_checks as d, function_checks as fc, role_checks as r, version_checks as v,
        };
        let verdict = match self {
            CheckId::TemporalConnection => v::temporal_connection(f),
            CheckId::VersionExists => v::version_exists(f),
            CheckId::VersionCompute => v::version_compute(f),
            CheckId::VersionCurrent => v::version_current(f),
            CheckId::FunctionQualified => v::function_qualified(f),
            CheckId::FunctionExpected => return v::function_expected(f),
            CheckId::AwsCredentials => v::aws_credentials(f),
            CheckId::VersionsInvocable => d::versions_invocable(f),
            CheckId::RampingHealthy => d::ramping_healthy(f),
            CheckId::FunctionRegion => fc::function_region(f),
            CheckId::FunctionExists => fc::function_exists(f),
            CheckId::FunctionTimeout => fc::function_timeout(f),
            CheckId::FunctionEnv => fc::function_env(f),
            CheckId::RoleNotExecution => r::role_not_execution(f),
            CheckId::RoleExists => r::role_exists(f),
            CheckId::RoleTrust => r::role_trust(f),
            CheckId::RoleExternalId => r::role_external_id(f),
            CheckId::RolePermissions => r::role_permissions(f),
            CheckId::FunctionIdentity => fc::function_identity(f),
            CheckId::SecretGrant => fc::secret_grant(f),
            CheckId::FunctionConnection => fc::function_connection(f),
            CheckId::RecentErrors => fc::recent_errors(f),
        };
        Some(verdict)
    }
}

/// Every check id reported on every run, in order (documented in the README):
/// [`CheckId::ALL`] but `function-expected`, which follows `function-qualified` only when
/// `--function` is given.
pub const CHECKS: &[&str] = &always_reported();

const fn always_reported() -> [&'static str; CheckId::ALL.len() - 1] {
    let mut out = [""; CheckId::ALL.len() - 1];
    let (mut i, mut j) = (0, 0);
    while i < CheckId::ALL.len() {
        if !matches!(CheckId::ALL[i], CheckId::FunctionExpected) {
            out[j] = CheckId::ALL[i].as_str();
            j += 1;
        }
        i += 1;
    }
    out
}

/// What one check found: its status, what was found, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Outcome.
    pub(crate) status: Status,
    /// What was found (for a skip: why it was not checked).
    pub(crate) detail: String,
    /// What to do; set exactly for `warn` and `fail`.
    pub(crate) fix: Option<String>,
}

impl Verdict {
    /// Fine.
    pub(crate) fn ok(detail: impl Into<String>) -> Self {
        Self::new(Status::Ok, detail, None)
    }
    /// Works, but something is off; `fix` says what to do.
    pub(crate) fn warn(detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Status::Warn, detail, Some(fix.into()))
    }
    /// Broken; `fix` says what to do.
    pub(crate) fn fail(detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(Status::Fail, detail, Some(fix.into()))
    }
    /// Not checked, and why.
    pub(crate) fn skip(why: impl Into<String>) -> Self {
        Self::new(Status::Skip, why, None)
    }
    fn new(status: Status, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            fix,
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. `role-external-id` ([`CheckId::as_str`]).
    pub id: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do (for `warn` / `fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The checklist.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// `<deployment>:<build-id>`.
    pub version: String,
    /// All checks in order.
    pub checks: Vec<Check>,
    /// Number of failures.
    pub failures: usize,
    /// Number of warnings.
    pub warnings: usize,
}

impl DoctorReport {
    /// The check with `id` (a [`CheckId::as_str`]).
    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The check `id`, if reported.
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.get(id.as_str())
    }

    /// Human-readable checklist.
    pub fn text(&self) -> String {
        let mut s = format!("doctor: {}\n", self.version);
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            s.push_str(&format!("[{mark}] {:<22} {}\n", c.id, c.detail));
            if let Some(f) = &c.fix {
                s.push_str(&format!("       {:<22} fix: {f}\n", ""));
            }
        }
        s.push_str(&format!(
            "{} failure(s), {} warning(s)",
            self.failures, self.warnings
        ));
        s
    }
}

/// What to diagnose.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Temporal connection.
    pub conn: ConnectArgs,
    /// AWS config.
    pub aws: AwsArgs,
    /// Deployment name.
    pub deployment_name: String,
    /// Build ID.
    pub build_id: String,
    /// The function you expect the version to invoke (name or ARN); default: whatever the
    /// compute config says.
    pub function: Option<String>,
    /// Who must be trusted by the role; default: Temporal Cloud's principals when the address
    /// is a `tmprl.cloud` one, otherwise not checked.
    pub trust: Option<Trust>,
    /// The worker's shutdown buffer (default 7 s) plus minimum useful work (1 s).
    pub min_timeout: Duration,
    /// How far back to look for errors in the function's logs.
    pub log_window: Duration,
}

/// Runs the checks with AWS clients from the standard chain. Never fails: every problem is a
/// [`Check`].
pub async fn run(opts: &DoctorOptions) -> DoctorReport {
    let aws = Aws::load(&opts.aws).await;
    run_with(opts, aws).await
}

/// Runs the checks with the given AWS clients (or the error loading them): gathers the facts,
/// then evaluates every check over them.
pub async fn run_with(opts: &DoctorOptions, aws: Result<Aws, AwsError>) -> DoctorReport {
    let facts = gather::gather(opts, aws).await;
    report(&facts)
}

/// The checklist for `facts`: every [`CheckId`] that applies, in order.
pub(crate) fn report(f: &Facts) -> DoctorReport {
    let checks: Vec<Check> = CheckId::ALL
        .into_iter()
        .filter_map(|id| {
            id.evaluate(f).map(|v| Check {
                id: id.as_str(),
                status: v.status,
                detail: v.detail,
                fix: v.fix,
            })
        })
        .collect();
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    DoctorReport {
        version: format!("{}:{}", f.inputs.deployment_name, f.inputs.build_id),
        failures: count(Status::Fail),
        warnings: count(Status::Warn),
        checks,
    }
}

#[cfg(test)]
mod tests;
