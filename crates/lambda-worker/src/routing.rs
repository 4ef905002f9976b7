//! Build-ID mismatch detection: is the version this function polls the one the server routes
//! new work to? Checked once per invocation in the background (one `DescribeWorkerDeployment`),
//! never delaying polling.

use temporalio_client::{tonic::Code, Client};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeWorkerDeploymentRequest;

use crate::WorkerDeploymentVersion;

/// What the server routes new work of this deployment to, compared with our version.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingCheck {
    /// Our version is the deployment's current version.
    Current,
    /// Our version is the deployment's ramping version.
    Ramping,
    /// The server routes new work elsewhere: an error is logged with the fix.
    Mismatch {
        /// The current version's build ID (`None`: unversioned workers / no current version).
        current_build_id: Option<String>,
        /// The ramping version's build ID, if any.
        ramping_build_id: Option<String>,
    },
    /// The deployment does not exist on the server.
    NoDeployment,
    /// The check itself failed (logged as a warning; polling is unaffected).
    Unknown {
        /// Why.
        reason: String,
    },
}

/// Ask the server where it routes `version`'s deployment, and log an error when it is not us.
pub(crate) async fn check(
    client: Client,
    namespace: String,
    version: WorkerDeploymentVersion,
    request_id: String,
) -> RoutingCheck {
    let req = DescribeWorkerDeploymentRequest {
        namespace,
        deployment_name: version.deployment_name.clone(),
    };
    let resp = client
        .connection()
        .workflow_service()
        .describe_worker_deployment(temporalio_client::tonic::Request::new(req))
        .await;
    let result = match resp {
        Err(s) if s.code() == Code::NotFound => RoutingCheck::NoDeployment,
        Err(s) => RoutingCheck::Unknown {
            reason: format!("DescribeWorkerDeployment failed: {}", s.message()),
        },
        Ok(r) => {
            let routing = r
                .into_inner()
                .worker_deployment_info
                .and_then(|i| i.routing_config)
                .unwrap_or_default();
            let build = |v: Option<
                temporalio_common::protos::temporal::api::deployment::v1::WorkerDeploymentVersion,
            >| v.map(|v| v.build_id).filter(|b| !b.is_empty());
            let current = build(routing.current_deployment_version);
            let ramping = build(routing.ramping_deployment_version);
            if current.as_deref() == Some(version.build_id.as_str()) {
                RoutingCheck::Current
            } else if ramping.as_deref() == Some(version.build_id.as_str()) {
                RoutingCheck::Ramping
            } else {
                RoutingCheck::Mismatch {
                    current_build_id: current,
                    ramping_build_id: ramping,
                }
            }
        }
    };
    match &result {
        RoutingCheck::Current | RoutingCheck::Ramping => {}
        RoutingCheck::Mismatch {
            current_build_id: Some(current),
            ..
        } => tracing::error!(
            request_id = %request_id,
            deployment_version = %version,
            current_build_id = %current,
            "build ID mismatch: this function polls {version} but the server routes new work of deployment {} to {}:{current}; the server may keep invoking a function that never polls the version it routes to. Fix: `temporal-lambda set-current --deployment-name {} --build-id {}` (or deploy code built with the current build ID; ignore this if {version} is only draining pinned workflows)",
            version.deployment_name,
            version.deployment_name,
            version.deployment_name,
            version.build_id,
        ),
        // Nothing current yet: the usual window between `register` and `set-current` (the
        // server may invoke a version as soon as it has a compute config), so a warning.
        RoutingCheck::Mismatch {
            current_build_id: None,
            ..
        } => tracing::warn!(
            request_id = %request_id,
            deployment_version = %version,
            "deployment {} has no current version yet, so new work is not routed to {version}. Fix, if this persists: `temporal-lambda set-current --deployment-name {} --build-id {}`",
            version.deployment_name,
            version.deployment_name,
            version.build_id,
        ),
        RoutingCheck::NoDeployment => tracing::error!(
            request_id = %request_id,
            deployment_version = %version,
            "build ID mismatch: worker deployment {} does not exist on the server, so nothing routes to {version}. Fix: `temporal-lambda register --deployment-name {} --build-id {} …` then `temporal-lambda set-current --deployment-name {} --build-id {}`",
            version.deployment_name,
            version.deployment_name,
            version.build_id,
            version.deployment_name,
            version.build_id,
        ),
        RoutingCheck::Unknown { reason } => tracing::warn!(
            request_id = %request_id,
            deployment_version = %version,
            "could not check which version the server routes to: {reason}"
        ),
    }
    result
}
