//! `deploy`'s decisions, as pure functions over what Lambda said (gathered first by the steps in
//! the parent module): create, update or leave the function; reuse the build ID's published
//! version, publish a new one, or refuse; whether the function is ready.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DeployError, DeployOptions, Describe};

/// The handler every function `deploy` manages runs (`provided.al2023` custom runtime).
pub(crate) const HANDLER: &str = "bootstrap";

/// What Lambda reports about a function's configuration (`$LATEST`, or one published
/// version), as far as `deploy` decides on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FunctionFacts {
    /// `FunctionArn` (qualified for a published version).
    pub function_arn: String,
    /// `CodeSha256`.
    pub code_sha256: Option<String>,
    /// The first of `Architectures` (`x86_64` or `arm64`).
    pub architecture: Option<String>,
    /// `Timeout`, seconds.
    pub timeout_secs: Option<i32>,
    /// `MemorySize`, MB.
    pub memory_mb: Option<i32>,
    /// `Environment.Variables`.
    pub env: BTreeMap<String, String>,
    /// `Handler`.
    pub handler: Option<String>,
    /// `Role` (the execution role).
    pub role: Option<String>,
}

/// What `deploy` does to the function before asking it for its build ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FunctionChange {
    /// It does not exist: create it with this execution role.
    Create {
        /// Execution role ARN.
        execution_role: String,
    },
    /// It exists: upload the code and/or update the configuration (both `false`: leave it).
    Update {
        /// The code or architecture differ: `UpdateFunctionCode`.
        code: bool,
        /// Timeout, memory, environment, handler or a given execution role differ:
        /// `UpdateFunctionConfiguration`.
        configuration: bool,
    },
}

/// Creates the function when Lambda has none (refused without an execution role), else updates
/// what differs from `opts` (code `sha`).
pub(crate) fn function_change(
    existing: Option<&FunctionFacts>,
    opts: &DeployOptions,
    sha: &str,
) -> Result<FunctionChange, DeployError> {
    let Some(cfg) = existing else {
        let execution_role = opts
            .execution_role
            .clone()
            .ok_or_else(|| DeployError::ExecutionRoleRequired(opts.function_name.clone()))?;
        return Ok(FunctionChange::Create { execution_role });
    };
    let code = cfg.code_sha256.as_deref() != Some(sha)
        || cfg.architecture.as_deref() != Some(opts.arch.lambda_name());
    let role_differs = opts
        .execution_role
        .as_deref()
        .is_some_and(|r| cfg.role.as_deref() != Some(r));
    let configuration =
        !same_settings(cfg, opts) || cfg.handler.as_deref() != Some(HANDLER) || role_differs;
    Ok(FunctionChange::Update {
        code,
        configuration,
    })
}

/// Refuses when the flag `--build-id` names another build than the code reports.
pub(crate) fn check_build_id(given: Option<&str>, describe: &Describe) -> Result<(), DeployError> {
    match given {
        Some(given) if given != describe.build_id => Err(DeployError::BuildIdMismatch {
            given: given.to_string(),
            actual: describe.build_id.clone(),
        }),
        _ => Ok(()),
    }
}

/// The Lambda version already published for a build ID: its number and `CodeSha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublishedBuild {
    /// Lambda version number.
    pub version: String,
    /// Its `CodeSha256`.
    pub code_sha256: String,
}

/// Whether the build ID's published version (if any) holds the code `sha`: `Ok(None)` when
/// none is published, `Ok(Some(version))` when it holds this code (reuse it if its configuration
/// is unchanged: [`reuse_published`]), and a refusal when it holds other code (one build ID must
/// map to one code version).
pub(crate) fn same_code_version(
    function: &str,
    build_id: &str,
    published: Option<PublishedBuild>,
    sha: &str,
) -> Result<Option<String>, DeployError> {
    match published {
        None => Ok(None),
        Some(p) if p.code_sha256 == sha => Ok(Some(p.version)),
        Some(p) => Err(DeployError::BuildIdReused {
            build_id: build_id.to_string(),
            version: p.version,
            function: function.to_string(),
            old_sha: p.code_sha256,
            new_sha: sha.to_string(),
        }),
    }
}

/// Whether the published version `version` (same code) can be reused: its timeout, memory and
/// environment are `opts`'. Otherwise a new version of the same code is published (and
/// `register --update` points the deployment version at it).
pub(crate) fn reuse_published(version: &FunctionFacts, opts: &DeployOptions) -> bool {
    same_settings(version, opts)
}

fn same_settings(cfg: &FunctionFacts, opts: &DeployOptions) -> bool {
    cfg.timeout_secs == Some(lambda_timeout_secs(opts.timeout))
        && cfg.memory_mb == Some(opts.memory_mb)
        && cfg.env == opts.env
}

/// Where a function is after a create or update, from its `State` and `LastUpdateStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Active (or no state reported) with a successful last update.
    Ready,
    /// The create or update failed.
    Failed,
    /// Still pending or in progress.
    Pending,
}

/// [`Readiness`] from `State` (empty when not reported) and `LastUpdateStatus` (`Successful`
/// when not reported).
pub(crate) fn readiness(state: &str, last_update: &str) -> Readiness {
    match (state, last_update) {
        ("Active", "Successful") | ("", "Successful") => Readiness::Ready,
        ("Failed", _) | (_, "Failed") => Readiness::Failed,
        _ => Readiness::Pending,
    }
}

/// A timeout in Lambda's `Timeout` field (seconds, `i32`): saturates instead of wrapping, so an
/// out-of-range value is refused by Lambda rather than silently turned into another one.
pub(crate) fn lambda_timeout_secs(t: Duration) -> i32 {
    i32::try_from(t.as_secs()).unwrap_or(i32::MAX)
}
