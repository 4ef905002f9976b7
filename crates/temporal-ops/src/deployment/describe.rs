//! `describe-version`: a version and its stored compute config, as printed.

use super::*;

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
