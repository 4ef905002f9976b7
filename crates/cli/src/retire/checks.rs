//! `retire`'s decisions, as pure functions over what the server and Lambda said (gathered by
//! the parent module): which builds are drained, whether one is retirable, whether to wait,
//! how a refused delete reads, and whether its Lambda version is deleted or kept.

use std::time::Duration;

use temporalio_client::tonic::Code;
use temporalio_common::protos::temporal::api::{
    deployment::v1::{RoutingConfig, WorkerDeploymentInfo},
    enums::v1::VersionDrainageStatus,
};

use super::{split_function_arn, LambdaVersionFacts, RetireError};
use crate::deployment::{version_string, DeploymentError};

/// The builds new workflows go to, with `current` or `ramping`.
pub(crate) fn routed_builds(rc: &Option<RoutingConfig>) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if let Some(rc) = rc {
        for (v, role) in [
            (&rc.current_deployment_version, "current"),
            (&rc.ramping_deployment_version, "ramping"),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.build_id.is_empty()) {
                out.push((v.build_id.clone(), role));
            }
        }
    }
    out
}

/// The builds the server reports drained that are neither current nor ramping
/// (`retire --all-drained`).
pub(crate) fn drained_unrouted(info: &WorkerDeploymentInfo) -> Vec<String> {
    let routed = routed_builds(&info.routing_config);
    info.version_summaries
        .iter()
        .filter(|v| v.drainage_status == VersionDrainageStatus::Drained as i32)
        .filter_map(|v| v.deployment_version.as_ref().map(|d| d.build_id.clone()))
        .filter(|b| !routed.iter().any(|(r, _)| r == b))
        .collect()
}

/// What the server says about a build [`retirable`] decides on. Read in order: the routing
/// first, the version only when unrouted, its workflows only when it exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RetirableFacts {
    /// `current` or `ramping` when new workflows go to it.
    pub routed_as: Option<&'static str>,
    /// The version exists.
    pub exists: bool,
    /// Open workflows pinned to it.
    pub open_pinned: u64,
    /// A few of their workflow IDs.
    pub open_pinned_sample: Vec<String>,
    /// The server's drainage status is `draining`.
    pub draining: bool,
    /// When the server last checked drainage, Unix seconds.
    pub drainage_checked_at: Option<i64>,
}

/// Refuses while the build is routed, missing, has open pinned workflows, or the server still
/// says it is draining (`now`: Unix seconds, for how long ago it checked).
pub(crate) fn retirable(
    namespace: &str,
    deployment: &str,
    build_id: &str,
    f: &RetirableFacts,
    now: i64,
) -> Result<(), RetireError> {
    let version = version_string(deployment, build_id);
    if let Some(role) = f.routed_as {
        return Err(RetireError::Routed { version, role });
    }
    if !f.exists {
        return Err(RetireError::NoVersion {
            version,
            deployment: deployment.to_string(),
            namespace: namespace.to_string(),
        });
    }
    if f.open_pinned > 0 {
        return Err(RetireError::OpenPinned {
            version,
            open: f.open_pinned,
            sample: f.open_pinned_sample.clone(),
        });
    }
    if f.draining {
        return Err(RetireError::ServerDraining {
            version,
            last_checked: f
                .drainage_checked_at
                .map(|t| format!("{} s ago", (now - t).max(0)))
                .unwrap_or_else(|| "never".into()),
        });
    }
    Ok(())
}

/// After a refusal: `Ok(refusal)` to wait and check again (it is transient and `wait` has not
/// run out after `elapsed`), else the error to return.
pub(crate) fn wait_or_give_up(
    refusal: RetireError,
    wait: Option<Duration>,
    elapsed: Duration,
) -> Result<RetireError, RetireError> {
    match wait {
        Some(limit) if refusal.transient() => {
            if elapsed >= limit {
                Err(RetireError::WaitExpired {
                    waited: elapsed,
                    last: Box::new(refusal),
                })
            } else {
                Ok(refusal)
            }
        }
        _ => Err(refusal),
    }
}

/// How the server's answer to `DeleteWorkerDeploymentVersion` reads: gone already is fine;
/// recent pollers, draining, routed and throttling are refusals `--wait` can outlast.
pub(crate) fn delete_refusal(version: &str, code: Code, message: &str) -> Result<(), RetireError> {
    let version = version.to_string();
    Err(match code {
        Code::NotFound => return Ok(()),
        _ if message.contains("active pollers") => RetireError::RecentPollers { version },
        _ if message.contains("draining") => RetireError::ServerDraining {
            version,
            last_checked: "just now".into(),
        },
        _ if message.contains("current or ramping") => RetireError::Routed {
            version,
            role: "current or ramping",
        },
        // Throttled: waiting helps too.
        Code::ResourceExhausted => RetireError::RecentPollers { version },
        _ => DeploymentError::Rpc {
            operation: "DeleteWorkerDeploymentVersion",
            code,
            message: message.to_string(),
        }
        .into(),
    })
}

/// Why the Lambda version `arn` stays whatever Lambda says (`--keep-lambda-version`, or the ARN
/// names no published version), or `None` to look further.
pub(crate) fn lambda_version_keep_reason(keep_flag: bool, arn: &str) -> Option<String> {
    if keep_flag {
        return Some("--keep-lambda-version".into());
    }
    match split_function_arn(arn) {
        Some((_, Some(q))) if q.chars().all(|c| c.is_ascii_digit()) => None,
        Some((_, Some(q))) => Some(format!(
            "`{q}` is an alias or $LATEST, not a published version"
        )),
        _ => Some("the ARN is unqualified (no published version)".into()),
    }
}

/// Another version of the deployment that still invokes the Lambda version `arn`, given each
/// listed build with the ARN its compute config names. The retired build itself does not
/// count: the server may still list it for a while after the delete.
pub(crate) fn invoked_by_another_build(
    arn: &str,
    retired: &str,
    builds: &[(String, Option<String>)],
) -> Option<String> {
    builds
        .iter()
        .find(|(b, a)| b != retired && a.as_deref() == Some(arn))
        .map(|(b, _)| format!("build {b} still invokes it"))
}

/// Whether `retire` may delete the Lambda version `arn` that the compute config of build
/// `build_id` of `deployment` names, given what Lambda says about it: `None` to delete it, else
/// why it stays. It is deleted only when
/// * it is the version of the function the ARN names (`FunctionName`, `Version`), and the ARN
///   Lambda reports is the compute config's (same account and region: the delete goes to the
///   account and region in use);
/// * its description is the one `deploy` publishes for this build of this deployment
///   ([`crate::lambda_deploy::version_description`]).
///
/// The compute config is written by anyone who may write the namespace; Lambda's answer is
/// what this toolkit wrote when it published the version.
pub(crate) fn lambda_delete_refusal(
    arn: &str,
    deployment: &str,
    build_id: &str,
    facts: &LambdaVersionFacts,
) -> Option<String> {
    let Some((name, Some(qualifier))) = split_function_arn(arn) else {
        return Some("the ARN does not name a published version".into());
    };
    if facts.function_name != name || facts.version != qualifier {
        return Some(format!(
            "Lambda answered for version {} of {}, not version {qualifier} of {name}",
            facts.version, facts.function_name
        ));
    }
    if facts.function_arn != arn {
        return Some(format!(
            "the compute config names {arn}, but the AWS account and region in use have {}: \
             pass the AWS settings of the function's account and region",
            facts.function_arn
        ));
    }
    if !crate::lambda_deploy::describes_build(&facts.description, build_id, deployment) {
        let shown: String = facts.description.chars().take(120).collect();
        return Some(format!(
            "its description (`{shown}`) is not the one temporal-lambda deploy publishes for \
             build {build_id} of {deployment} (`{}`), so it may be another function's version: \
             delete it yourself (aws lambda delete-function --function-name {name} --qualifier \
             {qualifier}) if it is this build's",
            crate::lambda_deploy::version_description(build_id, deployment)
        ));
    }
    None
}
