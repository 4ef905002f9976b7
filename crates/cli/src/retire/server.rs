//! `retire`'s reads and writes on the Temporal server: the facts its decisions need, the delete.

use std::time::{Duration, Instant};

use temporalio_client::{tonic::Request, Connection};
use temporalio_common::protos::temporal::api::{
    deployment::v1::WorkerDeploymentVersion,
    enums::v1::VersionDrainageStatus,
    workflowservice::v1::{
        CountWorkflowExecutionsRequest, DeleteWorkerDeploymentVersionRequest,
        ListWorkflowExecutionsRequest,
    },
};

use super::{delete_refusal, retirable, routed_builds, RetirableFacts, RetireError, RetireOptions};
use crate::connect::identity;
use crate::deployment::{
    describe_deployment_raw, describe_version_raw, retry_throttled, version_string, DeploymentError,
};

/// The visibility query the server itself uses for drainage: open workflows pinned to the
/// version.
pub(crate) fn open_pinned_query(deployment: &str, build_id: &str) -> String {
    format!(
        "TemporalWorkerDeploymentVersion = '{deployment}:{build_id}' AND \
         TemporalWorkflowVersioningBehavior = 'Pinned' AND ExecutionStatus = 'Running'"
    )
}

/// How many pinned workflows on the version are open, and up to `sample` of their IDs.
pub async fn open_pinned(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    build_id: &str,
    sample: i32,
) -> Result<(u64, Vec<String>), DeploymentError> {
    let query = open_pinned_query(deployment, build_id);
    let count = retry_throttled(|| async {
        conn.workflow_service()
            .count_workflow_executions(Request::new(CountWorkflowExecutionsRequest {
                namespace: namespace.to_string(),
                query: query.clone(),
            }))
            .await
            .map(|r| r.into_inner().count.max(0) as u64)
            .map_err(|s| DeploymentError::Rpc {
                operation: "CountWorkflowExecutions",
                code: s.code(),
                message: s.message().to_string(),
            })
    })
    .await?;
    if count == 0 || sample == 0 {
        return Ok((count, Vec::new()));
    }
    let ids = conn
        .workflow_service()
        .list_workflow_executions(Request::new(ListWorkflowExecutionsRequest {
            namespace: namespace.to_string(),
            page_size: sample,
            query,
            ..Default::default()
        }))
        .await
        .map(|r| {
            r.into_inner()
                .executions
                .into_iter()
                .filter_map(|e| e.execution.map(|x| x.workflow_id))
                .collect()
        })
        .unwrap_or_default();
    Ok((count, ids))
}

/// The qualified Lambda ARN a version's compute config invokes, if it has one.
pub(crate) async fn lambda_function_of(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
    build_id: &str,
) -> Result<Option<String>, DeploymentError> {
    let described = describe_version_raw(conn, namespace, deployment, build_id).await?;
    Ok(described
        .and_then(|d| d.worker_deployment_version_info)
        .and_then(|i| i.compute_config)
        .map(|c| crate::compute::view(&c))
        .and_then(|groups| {
            groups.values().find_map(|g| {
                g.provider_details
                    .as_ref()?
                    .get("arn")
                    .and_then(|a| a.as_str())
                    .map(str::to_string)
            })
        }))
}

/// Every version the deployment lists, with the Lambda ARN its compute config invokes.
pub(super) async fn lambda_functions_of_deployment(
    conn: &Connection,
    o: &RetireOptions,
) -> Result<Vec<(String, Option<String>)>, RetireError> {
    let Some(d) = describe_deployment_raw(conn, &o.namespace, &o.deployment_name).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for v in d
        .worker_deployment_info
        .unwrap_or_default()
        .version_summaries
    {
        let Some(b) = v.deployment_version.map(|d| d.build_id) else {
            continue;
        };
        let arn = lambda_function_of(conn, &o.namespace, &o.deployment_name, &b).await?;
        out.push((b, arn));
    }
    Ok(out)
}

/// Refuses while the build is routed or has open pinned workflows, or the server still says
/// it is draining ([`retirable`] over what the server says now).
pub(super) async fn check_retirable(
    conn: &Connection,
    o: &RetireOptions,
    build_id: &str,
) -> Result<(), RetireError> {
    let (ns, dep) = (o.namespace.as_str(), o.deployment_name.as_str());
    let d = describe_deployment_raw(conn, ns, dep)
        .await?
        .ok_or_else(|| RetireError::NoDeployment {
            deployment: dep.to_string(),
            namespace: ns.to_string(),
        })?;
    let routed_as = routed_builds(&d.worker_deployment_info.unwrap_or_default().routing_config)
        .into_iter()
        .find_map(|(b, role)| (b == build_id).then_some(role));
    let mut facts = RetirableFacts {
        routed_as,
        ..Default::default()
    };
    if routed_as.is_none() {
        let described = describe_version_raw(conn, ns, dep, build_id).await?;
        facts.exists = described.is_some();
        if let Some(v) = described {
            (facts.open_pinned, facts.open_pinned_sample) =
                open_pinned(conn, ns, dep, build_id, 5).await?;
            let drainage = v
                .worker_deployment_version_info
                .and_then(|i| i.drainage_info)
                .unwrap_or_default();
            facts.draining = drainage.status == VersionDrainageStatus::Draining as i32;
            facts.drainage_checked_at = drainage.last_checked_time.map(|t| t.seconds);
        }
    }
    retirable(
        &o.namespace,
        &o.deployment_name,
        build_id,
        &facts,
        unix_now(),
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Waits (up to 30 s) until the deployment no longer lists the deleted version: the server
/// removes it from the deployment's summary shortly after the delete returns.
pub(super) async fn await_gone(
    conn: &Connection,
    o: &RetireOptions,
    build_id: &str,
) -> Result<(), RetireError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let listed = describe_deployment_raw(conn, &o.namespace, &o.deployment_name)
            .await?
            .and_then(|d| d.worker_deployment_info)
            .is_some_and(|i| {
                i.version_summaries.iter().any(|v| {
                    v.deployment_version
                        .as_ref()
                        .is_some_and(|d| d.build_id == build_id)
                })
            });
        if !listed {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            tracing::warn!(
                build_id,
                "deleted, but the deployment still lists the version after 30 s"
            );
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

pub(super) async fn delete_version(
    conn: &Connection,
    o: &RetireOptions,
    build_id: &str,
) -> Result<(), RetireError> {
    let version = version_string(&o.deployment_name, build_id);
    let res = conn
        .workflow_service()
        .delete_worker_deployment_version(Request::new(DeleteWorkerDeploymentVersionRequest {
            namespace: o.namespace.clone(),
            deployment_version: Some(WorkerDeploymentVersion {
                deployment_name: o.deployment_name.clone(),
                build_id: build_id.to_string(),
            }),
            skip_drainage: false,
            identity: identity(),
            ..Default::default()
        }))
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(s) => delete_refusal(&version, s.code(), s.message()),
    }
}
