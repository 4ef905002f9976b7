//! `set-current`: route new workflows to a version, and the server answers it depends on.

use super::*;

/// Options for [`set_current`].
#[derive(Debug, Clone)]
pub struct SetCurrentOptions {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment_name: String,
    /// Build ID.
    pub build_id: String,
    /// Bypass the server's "no pollers seen for this version" protection. Serverless versions
    /// (with a compute config) get this automatically when the server asks for it.
    pub allow_no_pollers: bool,
    /// Bypass the server's "task queues of the current version are not polled" protection.
    pub ignore_missing_task_queues: bool,
}

/// Result of [`set_current`].
#[derive(Debug, Clone, Serialize)]
pub struct SetCurrentReport {
    /// `<deployment>.<build-id>` now current.
    pub version: String,
    /// Previously current build ID (`None` = unversioned).
    pub previous_build_id: Option<String>,
    /// Whether it already was current.
    pub already_current: bool,
    /// Whether `allow_no_pollers` was needed.
    pub allowed_no_pollers: bool,
    /// Whether the previous version's task queues were not required (a serverless version
    /// that was never invoked has polled none).
    pub ignored_missing_task_queues: bool,
}

/// Make a version the current version of its deployment (SetWorkerDeploymentCurrentVersion),
/// guarded by the deployment's conflict token. Retries while the server throttles.
pub async fn set_current(
    conn: &Connection,
    opts: &SetCurrentOptions,
) -> Result<SetCurrentReport, DeploymentError> {
    retry_throttled(|| set_current_once(conn, opts)).await
}

async fn set_current_once(
    conn: &Connection,
    opts: &SetCurrentOptions,
) -> Result<SetCurrentReport, DeploymentError> {
    let version = version_string(&opts.deployment_name, &opts.build_id);
    let Some(described) =
        describe_version_raw(conn, &opts.namespace, &opts.deployment_name, &opts.build_id).await?
    else {
        return Err(DeploymentError::VersionNotFound {
            version,
            namespace: opts.namespace.clone(),
        });
    };
    let serverless = is_serverless(&described);
    // A serverless version that was never invoked has polled no task queue yet: the server
    // learns its task queues when it first invokes it for one.
    let never_polled = described.version_task_queues.is_empty();
    let deployment = describe_deployment_raw(conn, &opts.namespace, &opts.deployment_name).await?;
    let (conflict_token, previous) = current_routing(deployment.as_ref());
    let mut report = SetCurrentReport {
        version: version.clone(),
        previous_build_id: previous.clone(),
        already_current: previous.as_deref() == Some(opts.build_id.as_str()),
        allowed_no_pollers: opts.allow_no_pollers,
        ignored_missing_task_queues: opts.ignore_missing_task_queues,
    };
    if report.already_current {
        return Ok(report);
    }
    let mut bypass = Bypasses {
        allow_no_pollers: opts.allow_no_pollers,
        ignore_missing_task_queues: opts.ignore_missing_task_queues,
    };
    loop {
        match send_set_current(conn, opts, &conflict_token, bypass).await {
            Ok(()) => {
                report.allowed_no_pollers = bypass.allow_no_pollers;
                report.ignored_missing_task_queues = bypass.ignore_missing_task_queues;
                await_routing_propagated(
                    conn,
                    &opts.namespace,
                    &opts.deployment_name,
                    ROUTING_PROPAGATION_TIMEOUT,
                )
                .await?;
                return Ok(report);
            }
            Err(s) => bypass = after_rejection(&s, &version, serverless, never_polled, bypass)?,
        }
    }
}

async fn send_set_current(
    conn: &Connection,
    opts: &SetCurrentOptions,
    conflict_token: &[u8],
    bypass: Bypasses,
) -> Result<(), Status> {
    let req = SetWorkerDeploymentCurrentVersionRequest {
        namespace: opts.namespace.clone(),
        deployment_name: opts.deployment_name.clone(),
        build_id: opts.build_id.clone(),
        conflict_token: conflict_token.to_vec(),
        identity: identity(),
        ignore_missing_task_queues: bypass.ignore_missing_task_queues,
        allow_no_pollers: bypass.allow_no_pollers,
        ..Default::default()
    };
    conn.workflow_service()
        .set_worker_deployment_current_version(Request::new(req))
        .await
        .map(|_| ())
}

/// The deployment's conflict token and current build ID (`None`: unversioned, or no such
/// deployment).
pub(crate) fn current_routing(
    deployment: Option<&DescribeWorkerDeploymentResponse>,
) -> (Vec<u8>, Option<String>) {
    match deployment {
        Some(d) => (
            d.conflict_token.clone(),
            d.worker_deployment_info
                .as_ref()
                .and_then(|i| i.routing_config.as_ref())
                .and_then(|r| r.current_deployment_version.as_ref())
                .map(|v| v.build_id.clone())
                .filter(|b| !b.is_empty()),
        ),
        None => (Vec::new(), None),
    }
}

/// The server protections a `SetWorkerDeploymentCurrentVersion` call bypasses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bypasses {
    /// "No pollers seen for this version".
    pub allow_no_pollers: bool,
    /// "Task queues of the current version are not polled by this one".
    pub ignore_missing_task_queues: bool,
}

/// After the server refused to make `version` current with `tried`: the bypasses to retry with
/// (a serverless version has no pollers until invoked, and a never-invoked one has polled no
/// task queue), or the error, naming the fix. Only ever adds a bypass, so retries end.
pub(crate) fn after_rejection(
    s: &Status,
    version: &str,
    serverless: bool,
    never_polled: bool,
    tried: Bypasses,
) -> Result<Bypasses, DeploymentError> {
    let rejected = |fix: &'static str| DeploymentError::SetCurrentRejected {
        version: version.to_string(),
        detail: s.message().to_string(),
        fix,
    };
    if is_no_pollers(s) {
        if serverless && !tried.allow_no_pollers {
            // A serverless version has no pollers until the server invokes the function, which
            // it only does once the version receives tasks: allow it.
            tracing::info!(%version, "version has no pollers yet (serverless): allowing");
            return Ok(Bypasses {
                allow_no_pollers: true,
                ..tried
            });
        }
        return Err(rejected(
            "start a worker for this version first, or pass --allow-no-pollers",
        ));
    }
    if is_missing_task_queues(s) {
        if serverless && never_polled && !tried.ignore_missing_task_queues {
            // The previous current version polled task queues this one has not polled yet,
            // because nothing invoked it yet: it will poll them once invoked.
            tracing::info!(
                %version,
                "version has polled no task queue yet (serverless, never invoked): not \
                 requiring the previous version's task queues"
            );
            return Ok(Bypasses {
                ignore_missing_task_queues: true,
                ..tried
            });
        }
        return Err(rejected(
            "make sure the new version polls every task queue of the current one, or \
             pass --ignore-missing-task-queues",
        ));
    }
    if s.code() == Code::FailedPrecondition || s.code() == Code::Aborted {
        return Err(rejected(
            "the deployment changed concurrently or is not ready; retry",
        ));
    }
    Err(DeploymentError::Rpc {
        operation: "SetWorkerDeploymentCurrentVersion",
        code: s.code(),
        message: s.message().to_string(),
    })
}

/// Whether a described version has a compute config (the server invokes it: serverless).
pub(crate) fn is_serverless(d: &DescribeWorkerDeploymentVersionResponse) -> bool {
    d.worker_deployment_version_info
        .as_ref()
        .and_then(|i| i.compute_config.as_ref())
        .is_some_and(|c| !c.scaling_groups.is_empty())
}

/// Whether a described version is serverless (has a compute config) and has polled no task
/// queue yet (was never invoked).
pub fn serverless_never_polled(d: &DescribeWorkerDeploymentVersionResponse) -> bool {
    d.version_task_queues.is_empty() && is_serverless(d)
}

pub(crate) fn is_missing_task_queues(s: &Status) -> bool {
    s.message().contains("task queue") && s.message().contains("missing")
}

fn is_no_pollers(s: &Status) -> bool {
    let m = s.message().to_ascii_lowercase();
    m.contains("no pollers") || m.contains("not been polled") || m.contains("has no poller")
}
