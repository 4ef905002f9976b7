//! Day-two routing of a Worker Deployment: ramp a new build, promote it, roll back, and show the
//! deployment's versions. Each operation reads the deployment's routing config first, so running
//! it twice changes nothing the second time, and `dry_run` reports what would change.

use serde::Serialize;
use temporalio_client::{
    tonic::{Code, Request},
    Connection,
};
use temporalio_common::protos::temporal::api::{
    deployment::v1::{worker_deployment_info::WorkerDeploymentVersionSummary, RoutingConfig},
    workflowservice::v1::SetWorkerDeploymentRampingVersionRequest,
};

use crate::connect::identity;

mod status;

use crate::deployment::{
    await_routing_propagated, describe_deployment_raw, describe_version_raw, retry_throttled,
    set_current, version_string, DeploymentError, SetCurrentOptions, ROUTING_PROPAGATION_TIMEOUT,
};
#[cfg(test)]
use status::share_of_new_workflows;
pub use status::{
    status, status_text, status_with_logs, DeploymentStatus, VersionStatus, STATUS_LOG_WINDOW,
};

/// What a routing change did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingReport {
    /// `rollout`, `promote` or `rollback`.
    pub action: &'static str,
    /// Deployment name.
    pub deployment_name: String,
    /// Routing before.
    pub before: Routing,
    /// Routing after (what it would be, with `dry_run`).
    pub after: Routing,
    /// False when the deployment already routed this way (nothing was sent).
    pub changed: bool,
    /// Nothing was changed on the server.
    pub dry_run: bool,
}

/// A deployment's routing: the current build and the ramping build with its share of new
/// workflows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Routing {
    /// Build ID of the current version (`None`: unversioned workers get new workflows).
    pub current: Option<String>,
    /// Build ID of the ramping version.
    pub ramping: Option<String>,
    /// Percentage of new workflows that go to `ramping`.
    pub ramping_percent: f32,
}

impl Routing {
    fn of(rc: Option<&RoutingConfig>) -> Self {
        let Some(rc) = rc else {
            return Self::default();
        };
        let build = |v: &Option<
            temporalio_common::protos::temporal::api::deployment::v1::WorkerDeploymentVersion,
        >| {
            v.as_ref()
                .map(|v| v.build_id.clone())
                .filter(|b| !b.is_empty())
        };
        let ramping = build(&rc.ramping_deployment_version);
        Self {
            current: build(&rc.current_deployment_version),
            ramping_percent: if ramping.is_some() {
                rc.ramping_version_percentage
            } else {
                0.0
            },
            ramping,
        }
    }
}

/// Errors of routing changes (beyond the server's).
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The percentage is out of range.
    #[error("--percent {0}: give a share of new workflows between 0 and 100")]
    Percent(f32),
    /// The deployment does not exist.
    #[error("worker deployment {deployment} does not exist in namespace {namespace}. Fix: `temporal-lambda register` (or `ship`) a version of it first")]
    NoDeployment {
        /// Deployment name.
        deployment: String,
        /// Namespace.
        namespace: String,
    },
    /// Ramping the current build makes no sense.
    #[error("{version} is the current version: it already gets every new workflow. Fix: ramp another build, or `rollback` to the previous one")]
    RampCurrent {
        /// `<deployment>.<build-id>`.
        version: String,
    },
    /// Ramping without a current build would send the rest of new workflows to unversioned
    /// workers, which a serverless deployment does not have.
    #[error("{deployment} has no current build: the {rest} % of new workflows not ramped would go to unversioned workers, and none poll. Fix: make a build current first (`ship` without --ramp, or `promote --build-id B`)")]
    NoCurrent {
        /// Deployment name.
        deployment: String,
        /// The share that would go unversioned.
        rest: f32,
    },
    /// `promote` without a build and nothing ramping.
    #[error("no version of {deployment} is ramping. Fix: `promote --build-id B`, or `rollout --build-id B --percent N` first")]
    NothingToPromote {
        /// Deployment name.
        deployment: String,
    },
    /// `rollback` found no earlier current version.
    #[error("{deployment} has no earlier current version to roll back to. Fix: `rollback --to BUILD_ID`")]
    NothingToRollBackTo {
        /// Deployment name.
        deployment: String,
    },
    /// A server call failed.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
}

async fn routing_and_versions(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
) -> Result<(Routing, Vec<u8>, Vec<WorkerDeploymentVersionSummary>), RolloutError> {
    let d = describe_deployment_raw(conn, namespace, deployment)
        .await?
        .ok_or_else(|| RolloutError::NoDeployment {
            deployment: deployment.to_string(),
            namespace: namespace.to_string(),
        })?;
    let info = d.worker_deployment_info.unwrap_or_default();
    Ok((
        Routing::of(info.routing_config.as_ref()),
        d.conflict_token,
        info.version_summaries,
    ))
}

/// `rollout`: make `build_id` the ramping version at `percent` % of new workflows (the rest go
/// to the current version). The version must be registered (`register`/`ship`).
pub async fn ramp(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    build_id: &str,
    percent: f32,
    dry_run: bool,
) -> Result<RoutingReport, RolloutError> {
    check_percent(percent)?;
    let (before, token, _) = routing_and_versions(conn, namespace, deployment).await?;
    let after = ramp_routing(&before, deployment, build_id, percent)?;
    let version = version_string(deployment, build_id);
    let Some(described) = describe_version_raw(conn, namespace, deployment, build_id).await? else {
        return Err(DeploymentError::VersionNotFound {
            version,
            namespace: namespace.to_string(),
        }
        .into());
    };
    // As for `set_current`: a serverless build never invoked has polled no task queue yet.
    let never_polled = crate::deployment::serverless_never_polled(&described);
    let changed = after != before;
    if changed && !dry_run {
        set_ramping(
            conn,
            namespace,
            deployment,
            build_id,
            percent,
            token,
            never_polled,
        )
        .await?;
    }
    Ok(RoutingReport {
        action: "rollout",
        deployment_name: deployment.to_string(),
        before,
        after,
        changed,
        dry_run,
    })
}

async fn set_ramping(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    build_id: &str,
    percent: f32,
    token: Vec<u8>,
    never_polled_serverless: bool,
) -> Result<(), DeploymentError> {
    let mut ignore_missing_task_queues = false;
    loop {
        match set_ramping_once(
            conn,
            namespace,
            deployment,
            build_id,
            percent,
            &token,
            ignore_missing_task_queues,
        )
        .await
        {
            Err(DeploymentError::SetCurrentRejected { detail, .. })
                if never_polled_serverless
                    && !ignore_missing_task_queues
                    && detail.contains("task queue")
                    && detail.contains("missing") =>
            {
                tracing::info!(
                    build_id,
                    "version has polled no task queue yet (serverless, never invoked): not \
                     requiring the current version's task queues"
                );
                ignore_missing_task_queues = true;
            }
            other => {
                other?;
                break;
            }
        }
    }
    await_routing_propagated(conn, namespace, deployment, ROUTING_PROPAGATION_TIMEOUT).await?;
    Ok(())
}

async fn set_ramping_once(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    build_id: &str,
    percent: f32,
    token: &[u8],
    ignore_missing_task_queues: bool,
) -> Result<(), DeploymentError> {
    retry_throttled(|| async {
        let req = SetWorkerDeploymentRampingVersionRequest {
            namespace: namespace.to_string(),
            deployment_name: deployment.to_string(),
            build_id: build_id.to_string(),
            percentage: percent,
            conflict_token: token.to_vec(),
            identity: identity(),
            // A serverless version has no pollers until the server invokes it for its tasks.
            allow_no_pollers: true,
            ignore_missing_task_queues,
            ..Default::default()
        };
        match conn
            .workflow_service()
            .set_worker_deployment_ramping_version(Request::new(req))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::FailedPrecondition || s.code() == Code::Aborted => {
                Err(DeploymentError::SetCurrentRejected {
                    version: version_string(deployment, build_id),
                    detail: s.message().to_string(),
                    fix: "the deployment changed concurrently or is not ready; retry",
                })
            }
            Err(s) => Err(DeploymentError::Rpc {
                operation: "SetWorkerDeploymentRampingVersion",
                code: s.code(),
                message: s.message().to_string(),
            }),
        }
    })
    .await
}

/// `promote`: make `build_id` (default: the ramping build) current; the ramp is cleared.
pub async fn promote(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    build_id: Option<&str>,
    dry_run: bool,
) -> Result<RoutingReport, RolloutError> {
    let (before, _, _) = routing_and_versions(conn, namespace, deployment).await?;
    let target = promote_target(&before, deployment, build_id)?;
    make_current(
        conn, namespace, deployment, "promote", before, target, dry_run,
    )
    .await
}

/// `rollback`: undo the last routing step. With a ramp in progress it clears the ramp (the
/// current build gets every new workflow again); otherwise the build that was current most
/// recently before this one becomes current. `to` names the build to make current instead.
pub async fn rollback(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    to: Option<&str>,
    dry_run: bool,
) -> Result<RoutingReport, RolloutError> {
    let (before, _, versions) = routing_and_versions(conn, namespace, deployment).await?;
    let target = rollback_target(&before, &versions, deployment, to)?;
    make_current(
        conn, namespace, deployment, "rollback", before, target, dry_run,
    )
    .await
}

/// Refuses a share of new workflows outside 0–100 %.
pub(crate) fn check_percent(percent: f32) -> Result<(), RolloutError> {
    if !(0.0..=100.0).contains(&percent) || percent.is_nan() {
        return Err(RolloutError::Percent(percent));
    }
    Ok(())
}

/// The routing after ramping `build_id` to `percent` % from `before`. Refused for the current
/// build, and without a current build unless it gets every new workflow (the rest would go to
/// unversioned workers, which a serverless deployment does not have).
pub(crate) fn ramp_routing(
    before: &Routing,
    deployment: &str,
    build_id: &str,
    percent: f32,
) -> Result<Routing, RolloutError> {
    if before.current.as_deref() == Some(build_id) {
        return Err(RolloutError::RampCurrent {
            version: version_string(deployment, build_id),
        });
    }
    if before.current.is_none() && percent < 100.0 {
        return Err(RolloutError::NoCurrent {
            deployment: deployment.to_string(),
            rest: 100.0 - percent,
        });
    }
    Ok(Routing {
        current: before.current.clone(),
        ramping: Some(build_id.to_string()),
        ramping_percent: percent,
    })
}

/// The build `promote` makes current: the one named, else the ramping one.
pub(crate) fn promote_target(
    before: &Routing,
    deployment: &str,
    build_id: Option<&str>,
) -> Result<String, RolloutError> {
    match build_id {
        Some(b) => Ok(b.to_string()),
        None => before
            .ramping
            .clone()
            .ok_or_else(|| RolloutError::NothingToPromote {
                deployment: deployment.to_string(),
            }),
    }
}

/// The build `rollback` makes current: the one named (`to`); with a ramp in progress the current
/// one (clearing the ramp); else the one current most recently before it ([`previous_current`]).
pub(crate) fn rollback_target(
    before: &Routing,
    versions: &[WorkerDeploymentVersionSummary],
    deployment: &str,
    to: Option<&str>,
) -> Result<String, RolloutError> {
    match (to, &before.ramping, &before.current) {
        (Some(b), _, _) => Ok(b.to_string()),
        (None, Some(_), Some(current)) => Ok(current.clone()),
        (None, _, _) => previous_current(versions, before.current.as_deref()).ok_or_else(|| {
            RolloutError::NothingToRollBackTo {
                deployment: deployment.to_string(),
            }
        }),
    }
}

/// The build that was current (or ramping) most recently, other than `current`: by
/// `last_current_time`, else (servers that do not fill it) `last_deactivation_time`, else
/// `routing_update_time`, else `first_activation_time`. Never-activated versions are skipped.
pub(crate) fn previous_current(
    versions: &[WorkerDeploymentVersionSummary],
    current: Option<&str>,
) -> Option<String> {
    versions
        .iter()
        .filter_map(|v| {
            let build = v.deployment_version.as_ref()?.build_id.clone();
            let t = v
                .last_current_time
                .as_ref()
                .or(v.last_deactivation_time.as_ref())
                .or(v.routing_update_time.as_ref())
                .or(v.first_activation_time.as_ref())?;
            (Some(build.as_str()) != current).then_some(((t.seconds, t.nanos), build))
        })
        .max()
        .map(|(_, b)| b)
}

/// What making `target` current does to the routing `before`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CurrentChange {
    /// The routing after: `target` current, no ramp.
    pub after: Routing,
    /// The routing differs from `before` (else nothing is sent).
    pub changed: bool,
    /// `target` is not current yet: `SetWorkerDeploymentCurrentVersion` (the ramp, if another
    /// build's, is cleared after).
    pub set_current: bool,
}

/// Making a build current clears the ramp when it was the ramping one; otherwise the ramp is
/// cleared explicitly, so that new work goes to the target only.
pub(crate) fn current_change(before: &Routing, target: &str) -> CurrentChange {
    let after = Routing {
        current: Some(target.to_string()),
        ramping: None,
        ramping_percent: 0.0,
    };
    CurrentChange {
        changed: after != *before,
        set_current: before.current.as_deref() != Some(target),
        after,
    }
}

async fn make_current(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    action: &'static str,
    before: Routing,
    target: String,
    dry_run: bool,
) -> Result<RoutingReport, RolloutError> {
    let change = current_change(&before, &target);
    let (after, changed) = (change.after, change.changed);
    if changed && !dry_run {
        if change.set_current {
            set_current(
                conn,
                &SetCurrentOptions {
                    namespace: namespace.to_string(),
                    deployment_name: deployment.to_string(),
                    build_id: target,
                    allow_no_pollers: false,
                    ignore_missing_task_queues: false,
                },
            )
            .await?;
        }
        let (now, token, _) = routing_and_versions(conn, namespace, deployment).await?;
        if now.ramping.is_some() {
            // An empty build ID with 0 % unsets the ramping version.
            set_ramping(conn, namespace, deployment, "", 0.0, token, false).await?;
        }
    }
    Ok(RoutingReport {
        action,
        deployment_name: deployment.to_string(),
        before,
        after,
        changed,
        dry_run,
    })
}

/// One line per routing change.
pub(crate) fn routing_text(r: &RoutingReport) -> String {
    let show = |x: &Routing| match &x.ramping {
        Some(b) => format!(
            "current {} ({:.1} %), ramping {b} ({:.1} %)",
            x.current.as_deref().unwrap_or("unversioned"),
            100.0 - x.ramping_percent,
            x.ramping_percent
        ),
        None => format!(
            "current {} (100 %)",
            x.current.as_deref().unwrap_or("unversioned")
        ),
    };
    let verb = match (r.dry_run, r.changed) {
        (_, false) => "unchanged:",
        (true, true) => "would change to:",
        (false, true) => "now:",
    };
    format!(
        "{} {}: {} {}\n  (was {})",
        r.action,
        r.deployment_name,
        verb,
        show(&r.after),
        show(&r.before)
    )
}

#[cfg(test)]
mod tests;
