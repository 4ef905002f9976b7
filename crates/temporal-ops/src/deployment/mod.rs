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
use temporalio_common::protos::temporal::api::compute::v1::ComputeConfig;

mod describe;
mod register;
mod set_current;

pub use describe::{describe_version, VersionReport};
pub use register::{register, RegisterOptions, RegisterOutcome, RegisterReport};
#[cfg(test)]
use register::{register_action, unpublished_warning, RegisterAction};
#[cfg(test)]
use set_current::{after_rejection, current_routing, is_serverless, Bypasses};
pub use set_current::{serverless_never_polled, set_current, SetCurrentOptions, SetCurrentReport};

#[cfg(test)]
mod tests;

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
    new_external_id: &crate::identifiers::ExternalId,
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
        let Some((function_arn, role)) = rotation_target(&details, role_arn, old_external_id)
        else {
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

/// Whether a version's compute config must follow the rotation of `role_arn`'s external ID
/// from `old_external_id`: it names that role with that ID. Returns its function and role,
/// parsed (a config that does not parse is left alone).
pub(crate) fn rotation_target(
    details: &compute::LambdaProviderDetails,
    role_arn: &str,
    old_external_id: &str,
) -> Option<(crate::identifiers::FunctionArn, crate::identifiers::RoleArn)> {
    if details.role.as_deref() != Some(role_arn)
        || details.role_external_id.as_deref() != Some(old_external_id)
    {
        return None;
    }
    Some((details.arn.parse().ok()?, role_arn.parse().ok()?))
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
