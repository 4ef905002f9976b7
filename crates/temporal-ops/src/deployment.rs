//! Worker Deployment operations over the raw WorkflowService gRPC API: register a version with an
//! `aws-lambda` compute config, make it current, describe it.

use std::collections::BTreeMap;

use serde::Serialize;
use temporalio_client::{
    tonic::{Code, Request, Status},
    Connection,
};
use temporalio_common::protos::temporal::api::{
    deployment::v1::WorkerDeploymentVersion,
    enums::v1::{RoutingConfigUpdateState, WorkerDeploymentVersionStatus},
    workflowservice::v1::{
        CreateWorkerDeploymentRequest, CreateWorkerDeploymentVersionRequest,
        DescribeWorkerDeploymentRequest, DescribeWorkerDeploymentResponse,
        DescribeWorkerDeploymentVersionRequest, DescribeWorkerDeploymentVersionResponse,
        SetWorkerDeploymentCurrentVersionRequest,
        UpdateWorkerDeploymentVersionComputeConfigRequest,
    },
};

use crate::compute::{self, LambdaTarget, ScalingGroupView};
use crate::connect::identity;

/// Errors from deployment operations. Each message is one line naming the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The role's trust policy lets the server assume it without the external ID.
    #[error(
        "the IAM role {role} does not enforce the external ID: the Temporal server could assume it \
         without `sts:ExternalId`. Fix: add the condition \
         {{\"StringEquals\": {{\"sts:ExternalId\": \"{external_id}\"}}}} to the role's trust policy, \
         then run `register` again"
    )]
    ExternalIdNotEnforced {
        /// Role ARN.
        role: String,
        /// External ID the policy must require.
        external_id: String,
    },
    /// The server could not read the function (Lambda GetFunction failed).
    #[error(
        "the Temporal server cannot access the Lambda function {function} ({detail}). Fix: check that \
         the function and this version/alias exist in that account and region, and that role {role} \
         allows lambda:GetFunction and lambda:InvokeFunction on it"
    )]
    FunctionNotAccessible {
        /// Function ARN.
        function: String,
        /// Role ARN.
        role: String,
        /// What AWS answered.
        detail: String,
    },
    /// The server could not assume the role with the external ID.
    #[error(
        "the Temporal server cannot assume the IAM role {role} with external ID {external_id} \
         ({detail}). Fix: the role's trust policy must allow the Temporal server's principal to call \
         sts:AssumeRole with exactly this external ID"
    )]
    AssumeRoleFailed {
        /// Role ARN.
        role: String,
        /// External ID.
        external_id: String,
        /// What AWS answered.
        detail: String,
    },
    /// The server could not reach AWS at all.
    #[error(
        "the Temporal server cannot reach AWS to validate the compute config ({detail}). Fix: check \
         the server's network access / AWS endpoint configuration"
    )]
    AwsUnreachable {
        /// Transport error.
        detail: String,
    },
    /// The version exists with a different compute config and `--update` was not given.
    #[error(
        "version {version} already exists with a different compute config (stored: {stored}). Fix: \
         pass --update to replace it, or register under a new build ID"
    )]
    DifferentComputeConfig {
        /// `<deployment>.<build-id>`.
        version: String,
        /// The stored config, compact JSON.
        stored: String,
    },
    /// The version does not exist.
    #[error("worker deployment version {version} does not exist in namespace {namespace}. Fix: run `temporal-lambda register` first")]
    VersionNotFound {
        /// `<deployment>.<build-id>`.
        version: String,
        /// Namespace.
        namespace: String,
    },
    /// The server refused to make a version current.
    #[error("cannot make {version} current: {detail}. Fix: {fix}")]
    SetCurrentRejected {
        /// `<deployment>.<build-id>`.
        version: String,
        /// Server message.
        detail: String,
        /// Suggested fix.
        fix: &'static str,
    },
    /// The compute provider / worker controller is not enabled on the server.
    #[error("the Temporal server rejected the compute config: {detail}. Fix: enable the worker controller with the aws-lambda compute provider (dev server: --dynamic-config-value 'workercontroller.enabled=true' --dynamic-config-value 'workercontroller.compute_providers.enabled=[\"aws-lambda\"]')")]
    ProviderDisabled {
        /// Server message.
        detail: String,
    },
    /// Any other gRPC failure.
    #[error("{operation} failed: {code:?}: {message}")]
    Rpc {
        /// The RPC.
        operation: &'static str,
        /// gRPC status code.
        code: Code,
        /// Server message.
        message: String,
    },
}

impl DeploymentError {
    fn rpc(operation: &'static str, s: Status) -> Self {
        DeploymentError::Rpc {
            operation,
            code: s.code(),
            message: s.message().to_string(),
        }
    }
}

/// `<deployment>.<build-id>`, the server's display form of a version.
pub fn version_string(deployment_name: &str, build_id: &str) -> String {
    format!("{deployment_name}.{build_id}")
}

fn version_ref(deployment_name: &str, build_id: &str) -> WorkerDeploymentVersion {
    WorkerDeploymentVersion {
        deployment_name: deployment_name.to_string(),
        build_id: build_id.to_string(),
    }
}

/// Turn a compute-config validation failure into a clear error.
pub fn classify_compute_error(
    operation: &'static str,
    status: Status,
    target: &LambdaTarget,
) -> DeploymentError {
    let msg = status.message();
    // Messages look like "default: <problem>: <aws detail>"; the prefix is the scaling group.
    let detail = msg
        .strip_prefix(&format!("{}: ", compute::DEFAULT_SCALING_GROUP))
        .unwrap_or(msg);
    let aws_detail = detail
        .rfind("api error ")
        .map(|i| detail[i + "api error ".len()..].to_string())
        .unwrap_or_else(|| detail.to_string());
    let role = target.role_arn.to_string();
    let external_id = target.external_id.to_string();
    if msg.contains("does not enforce ExternalID") {
        DeploymentError::ExternalIdNotEnforced { role, external_id }
    } else if msg.contains("cannot access the compute resource") {
        DeploymentError::FunctionNotAccessible {
            function: target.function_arn.to_string(),
            role,
            detail: aws_detail,
        }
    } else if msg.contains("request send failed") || msg.contains("dial tcp") {
        let transport = detail
            .rfind("request send failed, ")
            .map(|i| detail[i + "request send failed, ".len()..].to_string())
            .unwrap_or(aws_detail);
        DeploymentError::AwsUnreachable { detail: transport }
    } else if msg.contains("failed to assume role") {
        DeploymentError::AssumeRoleFailed {
            role,
            external_id,
            detail: aws_detail,
        }
    } else if msg.contains("compute provider") && msg.contains("not enabled")
        || msg.contains("worker controller")
    {
        DeploymentError::ProviderDisabled {
            detail: msg.to_string(),
        }
    } else {
        DeploymentError::rpc(operation, status)
    }
}

/// What `register` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterOutcome {
    /// The version was created.
    Created,
    /// The version already existed with the same compute config.
    Unchanged,
    /// The version existed with another compute config, which was replaced.
    Updated,
}

/// Result of [`register`].
#[derive(Debug, Clone, Serialize)]
pub struct RegisterReport {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment_name: String,
    /// Build ID.
    pub build_id: String,
    /// `<deployment>.<build-id>`.
    pub version: String,
    /// What happened to the version.
    pub outcome: RegisterOutcome,
    /// Whether the deployment had to be created.
    pub deployment_created: bool,
    /// Result of `--set-current`, if requested.
    pub set_current: Option<SetCurrentReport>,
    /// Advice that did not stop the registration.
    pub warnings: Vec<String>,
}

/// Options for [`register`].
#[derive(Debug, Clone)]
pub struct RegisterOptions {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment_name: String,
    /// Build ID.
    pub build_id: String,
    /// Lambda target.
    pub target: LambdaTarget,
    /// Replace a different existing compute config instead of failing.
    pub update: bool,
    /// Make the version current afterwards.
    pub set_current: bool,
}

/// Describe a version; `Ok(None)` when it does not exist.
pub async fn describe_version_raw(
    conn: &Connection,
    namespace: &str,
    deployment_name: &str,
    build_id: &str,
) -> Result<Option<DescribeWorkerDeploymentVersionResponse>, DeploymentError> {
    let req = DescribeWorkerDeploymentVersionRequest {
        namespace: namespace.to_string(),
        deployment_version: Some(version_ref(deployment_name, build_id)),
        ..Default::default()
    };
    describe_or_none("DescribeWorkerDeploymentVersion", || async {
        conn.workflow_service()
            .describe_worker_deployment_version(Request::new(req.clone()))
            .await
    })
    .await
}

/// The Worker Deployment `deployment_name` as the server describes it (`None`: it does not
/// exist).
pub async fn describe_deployment_raw(
    conn: &Connection,
    namespace: &str,
    deployment_name: &str,
) -> Result<Option<DescribeWorkerDeploymentResponse>, DeploymentError> {
    let req = DescribeWorkerDeploymentRequest {
        namespace: namespace.to_string(),
        deployment_name: deployment_name.to_string(),
    };
    describe_or_none("DescribeWorkerDeployment", || async {
        conn.workflow_service()
            .describe_worker_deployment(Request::new(req.clone()))
            .await
    })
    .await
}

/// How long [`await_routing_propagated`] waits by default.
pub const ROUTING_PROPAGATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until the deployment's last routing change (current or ramping version) has reached
/// every task queue partition: the server accepts the change at once but applies it to its task
/// queues asynchronously (`routing_config_update_state` is `IN_PROGRESS` meanwhile), and until
/// then new workflows may still go to the previous build. Returns `Ok(false)`, after a warning,
/// if it has not propagated within `timeout`; the change itself stays made.
pub async fn await_routing_propagated(
    conn: &Connection,
    namespace: &str,
    deployment_name: &str,
    timeout: std::time::Duration,
) -> Result<bool, DeploymentError> {
    let start = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(50);
    loop {
        let state = retry_throttled(|| describe_deployment_raw(conn, namespace, deployment_name))
            .await?
            .and_then(|d| d.worker_deployment_info)
            .map(|i| i.routing_config_update_state())
            .unwrap_or(RoutingConfigUpdateState::Unspecified);
        // Servers before routing propagation was asynchronous report UNSPECIFIED.
        if state != RoutingConfigUpdateState::InProgress {
            tracing::debug!(deployment = deployment_name, elapsed = ?start.elapsed(), "routing propagated");
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            tracing::warn!(
                deployment = deployment_name,
                ?timeout,
                "the routing change is made but still propagating to the task queues; new \
                 workflows may go to the previous build for a while. Check with `status`"
            );
            return Ok(false);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_millis(500));
    }
}

/// Re-registers every version of `deployment_name` whose aws-lambda compute config names
/// `role_arn` with external ID `old_external_id`, so that it carries `new_external_id` (after
/// the role's trust policy was rotated on purpose). Returns how many versions were updated.
pub async fn update_role_external_id(
    conn: &Connection,
    namespace: &str,
    deployment_name: &str,
    role_arn: &str,
    old_external_id: &str,
    new_external_id: &crate::validate::ExternalId,
) -> Result<usize, DeploymentError> {
    let Some(dep) = describe_deployment_raw(conn, namespace, deployment_name).await? else {
        return Ok(0);
    };
    let build_ids: Vec<String> = dep
        .worker_deployment_info
        .map(|i| {
            i.version_summaries
                .into_iter()
                .filter_map(|v| v.deployment_version.map(|d| d.build_id))
                .collect()
        })
        .unwrap_or_default();
    let mut updated = 0;
    for build_id in build_ids {
        let Some(v) = describe_version_raw(conn, namespace, deployment_name, &build_id).await?
        else {
            continue;
        };
        let Some(details) = v
            .worker_deployment_version_info
            .and_then(|i| i.compute_config)
            .as_ref()
            .and_then(compute::lambda_details)
        else {
            continue;
        };
        if details.role.as_deref() != Some(role_arn)
            || details.role_external_id.as_deref() != Some(old_external_id)
        {
            continue;
        }
        let (Ok(function_arn), Ok(role)) = (details.arn.parse(), role_arn.parse()) else {
            continue;
        };
        register(
            conn,
            &RegisterOptions {
                namespace: namespace.to_string(),
                deployment_name: deployment_name.to_string(),
                build_id: build_id.clone(),
                target: LambdaTarget {
                    function_arn,
                    role_arn: role,
                    external_id: new_external_id.clone(),
                },
                update: true,
                set_current: false,
            },
        )
        .await?;
        updated += 1;
    }
    Ok(updated)
}

/// Ensure the deployment exists; returns whether it was created.
pub async fn ensure_deployment(
    conn: &Connection,
    namespace: &str,
    deployment_name: &str,
) -> Result<bool, DeploymentError> {
    if describe_deployment_raw(conn, namespace, deployment_name)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let req = CreateWorkerDeploymentRequest {
        namespace: namespace.to_string(),
        deployment_name: deployment_name.to_string(),
        identity: identity(),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    match conn
        .workflow_service()
        .create_worker_deployment(Request::new(req))
        .await
    {
        Ok(_) => Ok(true),
        // Lost a race with another creator: fine.
        Err(s) if s.code() == Code::AlreadyExists => Ok(false),
        Err(s) => Err(DeploymentError::rpc("CreateWorkerDeployment", s)),
    }
}

/// A describe call: `None` when the server answers NotFound. A read, so it is retried while the
/// server throttles the deployment (it limits requests per deployment, and a rollout's steps
/// come in bursts).
async fn describe_or_none<T, F, Fut>(
    operation: &'static str,
    call: F,
) -> Result<Option<T>, DeploymentError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<temporalio_client::tonic::Response<T>, Status>>,
{
    retry_throttled(|| async {
        match call().await {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(DeploymentError::rpc(operation, s)),
        }
    })
    .await
}

/// Retries `op` while the server answers `ResourceExhausted` (its per-deployment rate limit,
/// e.g. "too many requests issued to Worker Deployment"), backing off up to ~10 s in total.
pub async fn retry_throttled<T, F, Fut>(mut op: F) -> Result<T, DeploymentError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DeploymentError>>,
{
    let mut delay = std::time::Duration::from_millis(200);
    for _ in 0..6 {
        match op().await {
            Err(DeploymentError::Rpc {
                code: Code::ResourceExhausted,
                operation,
                ..
            }) => {
                tracing::info!(operation, ?delay, "throttled by the server; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(3));
            }
            other => return other,
        }
    }
    op().await
}

/// Register a deployment version whose compute config invokes `opts.target`: creates the
/// deployment if missing, then the version (or verifies / updates an existing one). Retries
/// while the server throttles requests to the deployment.
pub async fn register(
    conn: &Connection,
    opts: &RegisterOptions,
) -> Result<RegisterReport, DeploymentError> {
    retry_throttled(|| register_once(conn, opts)).await
}

async fn register_once(
    conn: &Connection,
    opts: &RegisterOptions,
) -> Result<RegisterReport, DeploymentError> {
    let version = version_string(&opts.deployment_name, &opts.build_id);
    let mut warnings = Vec::new();
    if !opts.target.function_arn.is_published_version() {
        warnings.push(format!(
            "{} is not a published version: the code behind build ID {} can change without a new \
             deployment version; prefer a qualified ARN ending in :<version>",
            opts.target.function_arn, opts.build_id
        ));
    }
    let mut report = RegisterReport {
        namespace: opts.namespace.clone(),
        deployment_name: opts.deployment_name.clone(),
        build_id: opts.build_id.clone(),
        version: version.clone(),
        outcome: RegisterOutcome::Created,
        deployment_created: false,
        set_current: None,
        warnings,
    };

    let existing =
        describe_version_raw(conn, &opts.namespace, &opts.deployment_name, &opts.build_id).await?;
    if let Some(existing) = existing {
        let stored = existing
            .worker_deployment_version_info
            .and_then(|i| i.compute_config)
            .unwrap_or_default();
        if compute::matches(&stored, &opts.target) {
            report.outcome = RegisterOutcome::Unchanged;
        } else if opts.update {
            let req = UpdateWorkerDeploymentVersionComputeConfigRequest {
                namespace: opts.namespace.clone(),
                deployment_version: Some(version_ref(&opts.deployment_name, &opts.build_id)),
                compute_config_scaling_groups: opts.target.scaling_group_update(),
                remove_compute_config_scaling_groups: stored
                    .scaling_groups
                    .keys()
                    .filter(|k| k.as_str() != compute::DEFAULT_SCALING_GROUP)
                    .cloned()
                    .collect(),
                identity: identity(),
                request_id: uuid::Uuid::new_v4().to_string(),
            };
            conn.workflow_service()
                .update_worker_deployment_version_compute_config(Request::new(req))
                .await
                .map_err(|s| {
                    classify_compute_error(
                        "UpdateWorkerDeploymentVersionComputeConfig",
                        s,
                        &opts.target,
                    )
                })?;
            report.outcome = RegisterOutcome::Updated;
        } else {
            return Err(DeploymentError::DifferentComputeConfig {
                version,
                stored: match compute::lambda_details(&stored) {
                    Some(d) => serde_json::to_string(&d).unwrap_or_default(),
                    None => format!(
                        "not an aws-lambda config: {}",
                        serde_json::to_string(&compute::view(&stored)).unwrap_or_default()
                    ),
                },
            });
        }
    } else {
        report.deployment_created =
            ensure_deployment(conn, &opts.namespace, &opts.deployment_name).await?;
        let req = CreateWorkerDeploymentVersionRequest {
            namespace: opts.namespace.clone(),
            deployment_version: Some(version_ref(&opts.deployment_name, &opts.build_id)),
            compute_config: Some(opts.target.compute_config()),
            identity: identity(),
            request_id: uuid::Uuid::new_v4().to_string(),
        };
        conn.workflow_service()
            .create_worker_deployment_version(Request::new(req))
            .await
            .map_err(|s| {
                classify_compute_error("CreateWorkerDeploymentVersion", s, &opts.target)
            })?;
    }

    if opts.set_current {
        report.set_current = Some(
            set_current(
                conn,
                &SetCurrentOptions {
                    namespace: opts.namespace.clone(),
                    deployment_name: opts.deployment_name.clone(),
                    build_id: opts.build_id.clone(),
                    allow_no_pollers: false,
                    ignore_missing_task_queues: false,
                },
            )
            .await?,
        );
    }
    Ok(report)
}

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
    let serverless = described
        .worker_deployment_version_info
        .as_ref()
        .and_then(|i| i.compute_config.as_ref())
        .is_some_and(|c| !c.scaling_groups.is_empty());
    // A serverless version that was never invoked has polled no task queue yet: the server
    // learns its task queues when it first invokes it for one.
    let never_polled = described.version_task_queues.is_empty();
    let deployment = describe_deployment_raw(conn, &opts.namespace, &opts.deployment_name).await?;
    let (conflict_token, previous) = match &deployment {
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
    };
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
    let mut allow_no_pollers = opts.allow_no_pollers;
    let mut ignore_missing_task_queues = opts.ignore_missing_task_queues;
    loop {
        let req = SetWorkerDeploymentCurrentVersionRequest {
            namespace: opts.namespace.clone(),
            deployment_name: opts.deployment_name.clone(),
            build_id: opts.build_id.clone(),
            conflict_token: conflict_token.clone(),
            identity: identity(),
            ignore_missing_task_queues,
            allow_no_pollers,
            ..Default::default()
        };
        match conn
            .workflow_service()
            .set_worker_deployment_current_version(Request::new(req))
            .await
        {
            Ok(_) => {
                report.allowed_no_pollers = allow_no_pollers;
                report.ignored_missing_task_queues = ignore_missing_task_queues;
                await_routing_propagated(
                    conn,
                    &opts.namespace,
                    &opts.deployment_name,
                    ROUTING_PROPAGATION_TIMEOUT,
                )
                .await?;
                return Ok(report);
            }
            Err(s) if is_no_pollers(&s) && serverless && !allow_no_pollers => {
                // A serverless version has no pollers until the server invokes the function,
                // which it only does once the version receives tasks: allow it.
                tracing::info!(%version, "version has no pollers yet (serverless): allowing");
                allow_no_pollers = true;
            }
            Err(s) if is_no_pollers(&s) => {
                return Err(DeploymentError::SetCurrentRejected {
                    version,
                    detail: s.message().to_string(),
                    fix: "start a worker for this version first, or pass --allow-no-pollers",
                })
            }
            Err(s)
                if is_missing_task_queues(&s)
                    && serverless
                    && never_polled
                    && !ignore_missing_task_queues =>
            {
                // The previous current version polled task queues this one has not polled
                // yet, because nothing invoked it yet: it will poll them once invoked.
                tracing::info!(
                    %version,
                    "version has polled no task queue yet (serverless, never invoked): not \
                     requiring the previous version's task queues"
                );
                ignore_missing_task_queues = true;
            }
            Err(s) if is_missing_task_queues(&s) => {
                return Err(DeploymentError::SetCurrentRejected {
                    version,
                    detail: s.message().to_string(),
                    fix: "make sure the new version polls every task queue of the current one, or \
                          pass --ignore-missing-task-queues",
                })
            }
            Err(s) if s.code() == Code::FailedPrecondition || s.code() == Code::Aborted => {
                return Err(DeploymentError::SetCurrentRejected {
                    version,
                    detail: s.message().to_string(),
                    fix: "the deployment changed concurrently or is not ready; retry",
                })
            }
            Err(s) => return Err(DeploymentError::rpc("SetWorkerDeploymentCurrentVersion", s)),
        }
    }
}

/// Whether a described version is serverless (has a compute config) and has polled no task
/// queue yet (was never invoked).
pub fn serverless_never_polled(d: &DescribeWorkerDeploymentVersionResponse) -> bool {
    d.version_task_queues.is_empty()
        && d.worker_deployment_version_info
            .as_ref()
            .and_then(|i| i.compute_config.as_ref())
            .is_some_and(|c| !c.scaling_groups.is_empty())
}

pub(crate) fn is_missing_task_queues(s: &Status) -> bool {
    s.message().contains("task queue") && s.message().contains("missing")
}

fn is_no_pollers(s: &Status) -> bool {
    let m = s.message().to_ascii_lowercase();
    m.contains("no pollers") || m.contains("not been polled") || m.contains("has no poller")
}

/// A version as printed by `describe-version`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionReport {
    /// `<deployment>.<build-id>`.
    pub version: String,
    /// Deployment name.
    pub deployment_name: String,
    /// Build ID.
    pub build_id: String,
    /// Status, e.g. `CREATED`, `CURRENT`, `DRAINING`.
    pub status: String,
    /// Task queues that have polled this version.
    pub task_queues: Vec<String>,
    /// Compute config scaling groups, by name.
    pub compute_config: BTreeMap<String, ScalingGroupView>,
    /// Identity of the last modifier.
    pub last_modifier_identity: String,
}

/// Describe a version and its compute config (retrying while the server throttles).
pub async fn describe_version(
    conn: &Connection,
    namespace: &str,
    deployment_name: &str,
    build_id: &str,
) -> Result<VersionReport, DeploymentError> {
    retry_throttled(|| describe_version_once(conn, namespace, deployment_name, build_id)).await
}

async fn describe_version_once(
    conn: &Connection,
    namespace: &str,
    deployment_name: &str,
    build_id: &str,
) -> Result<VersionReport, DeploymentError> {
    let version = version_string(deployment_name, build_id);
    let resp = describe_version_raw(conn, namespace, deployment_name, build_id)
        .await?
        .ok_or_else(|| DeploymentError::VersionNotFound {
            version: version.clone(),
            namespace: namespace.to_string(),
        })?;
    let info = resp.worker_deployment_version_info.unwrap_or_default();
    let status = WorkerDeploymentVersionStatus::try_from(info.status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("WORKER_DEPLOYMENT_VERSION_STATUS_")
                .to_string()
        })
        .unwrap_or_else(|_| info.status.to_string());
    let mut task_queues: Vec<String> = resp
        .version_task_queues
        .iter()
        .map(|q| q.name.clone())
        .collect();
    task_queues.sort();
    task_queues.dedup();
    Ok(VersionReport {
        version,
        deployment_name: deployment_name.to_string(),
        build_id: build_id.to_string(),
        status,
        task_queues,
        compute_config: info
            .compute_config
            .as_ref()
            .map(compute::view)
            .unwrap_or_default(),
        last_modifier_identity: info.last_modifier_identity,
    })
}
