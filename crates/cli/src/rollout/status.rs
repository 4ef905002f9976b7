//! `status`: a deployment's versions with their routing, drainage, pinned workflows and
//! Lambda function (and its recent invocations, with AWS access).

use serde::Serialize;
use temporalio_client::Connection;
use temporalio_common::protos::temporal::api::enums::v1::{
    VersionDrainageStatus, WorkerDeploymentVersionStatus,
};

use super::{routing_and_versions, RolloutError, Routing};

/// One version in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    /// Build ID.
    pub build_id: String,
    /// `current`, `ramping`, `draining`, `drained` or `inactive`.
    pub state: String,
    /// Share of new workflows, in % (100 for current, the ramp for ramping, else 0).
    pub percent: f32,
    /// Drainage as the server last computed it (`draining`, `drained`, or empty).
    pub drainage: String,
    /// Open workflows pinned to this build (they run only on it).
    pub open_pinned: u64,
    /// The Lambda function (qualified ARN) its compute config invokes, if serverless.
    pub lambda_function: Option<String>,
    /// Its function version's invocations and errors in the status window (with AWS access).
    pub logs: Option<crate::logs::LogActivity>,
}

/// `status`: the deployment's versions, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentStatus {
    /// Deployment name.
    pub deployment_name: String,
    /// Routing now.
    pub routing: Routing,
    /// Every version the server knows.
    pub versions: Vec<VersionStatus>,
}

/// Reads the deployment's routing and versions (without log activity).
pub async fn status(
    conn: &Connection,
    namespace: &str,
    deployment: &str,
) -> Result<DeploymentStatus, RolloutError> {
    status_with_logs(conn, None, namespace, deployment, STATUS_LOG_WINDOW).await
}

/// How far back `status` reads the functions' logs.
pub const STATUS_LOG_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// [`status`], plus each version's invocations, errors and last invocation in the last
/// `window` from its function's CloudWatch Logs when `aws` is given.
pub async fn status_with_logs(
    conn: &Connection,
    aws: Option<&crate::aws::Aws>,
    namespace: &str,
    deployment: &str,
    window: std::time::Duration,
) -> Result<DeploymentStatus, RolloutError> {
    let (routing, _, mut summaries) = routing_and_versions(conn, namespace, deployment).await?;
    summaries.sort_by_key(|v| {
        std::cmp::Reverse(
            v.create_time
                .as_ref()
                .map(|t| (t.seconds, t.nanos))
                .unwrap_or_default(),
        )
    });
    let mut versions = Vec::new();
    for v in summaries {
        let build_id = v
            .deployment_version
            .as_ref()
            .map(|d| d.build_id.clone())
            .unwrap_or_default();
        let state = version_state(v.status);
        let drainage = drainage_name(v.drainage_status);
        let percent = share_of_new_workflows(&routing, &build_id);
        // The summary has no provider details: the version's own description does.
        let lambda_function =
            crate::retire::lambda_function_of(conn, namespace, deployment, &build_id).await?;
        let (open_pinned, _) =
            crate::retire::open_pinned(conn, namespace, deployment, &build_id, 0).await?;
        let logs = match (
            aws,
            lambda_function
                .as_deref()
                .and_then(crate::retire::split_function_arn),
        ) {
            (Some(aws), Some((name, qualifier))) => {
                match crate::logs::activity(aws, name, qualifier, window).await {
                    Ok(a) => Some(a.unwrap_or_default()),
                    Err(e) => {
                        tracing::warn!("cannot read the logs of {name}: {e}");
                        None
                    }
                }
            }
            _ => None,
        };
        versions.push(VersionStatus {
            logs,
            build_id,
            state,
            percent,
            drainage,
            open_pinned,
            lambda_function,
        });
    }
    Ok(DeploymentStatus {
        deployment_name: deployment.to_string(),
        routing,
        versions,
    })
}

/// `status` as a table.
pub fn status_text(s: &DeploymentStatus) -> String {
    let mut out = format!("deployment {}\n", s.deployment_name);
    let have_logs = s.versions.iter().any(|v| v.logs.is_some());
    out.push_str(&format!(
        "{:<20} {:<9} {:>6} {:<9} {:>6} {:>7} {:>6} {:<20} {}\n",
        "BUILD ID",
        "STATE",
        "NEW %",
        "DRAINAGE",
        "PINNED",
        "INVOKED",
        "ERRORS",
        "LAST INVOCATION",
        "LAMBDA FUNCTION"
    ));
    for v in &s.versions {
        out.push_str(&format!(
            "{:<20} {:<9} {:>6.1} {:<9} {:>6} {:>7} {:>6} {:<20} {}\n",
            v.build_id,
            v.state,
            v.percent,
            if v.drainage.is_empty() {
                "-"
            } else {
                &v.drainage
            },
            v.open_pinned,
            v.logs
                .as_ref()
                .map_or("-".into(), |l| l.invocations.to_string()),
            v.logs.as_ref().map_or("-".into(), |l| l.errors.to_string()),
            v.logs
                .as_ref()
                .and_then(|l| l.last_invocation_ms)
                .map_or("-".into(), |ms| {
                    aws_smithy_types::DateTime::from_millis(ms)
                        .fmt(aws_smithy_types::date_time::Format::DateTime)
                        .map(|t| t.chars().take(19).collect::<String>())
                        .unwrap_or_else(|_| ms.to_string())
                }),
            v.lambda_function.as_deref().unwrap_or("-")
        ));
    }
    out.push_str(if have_logs {
        "PINNED: open pinned workflows; INVOKED, ERRORS, LAST INVOCATION (UTC): the last hour of each Lambda version's logs\n"
    } else {
        "PINNED: open pinned workflows (INVOKED/ERRORS need AWS access to the functions' logs)\n"
    });
    out
}

/// A version's status as `status` shows it: `current`, `ramping`, `draining`, `drained`,
/// `inactive` (or the number of a status this build does not know).
pub(crate) fn version_state(status: i32) -> String {
    WorkerDeploymentVersionStatus::try_from(status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("WORKER_DEPLOYMENT_VERSION_STATUS_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| status.to_string())
}

/// Drainage as `status` shows it: `draining`, `drained`, or empty when unspecified.
pub(crate) fn drainage_name(drainage: i32) -> String {
    VersionDrainageStatus::try_from(drainage)
        .ok()
        .filter(|d| *d != VersionDrainageStatus::Unspecified)
        .map(|d| {
            d.as_str_name()
                .trim_start_matches("VERSION_DRAINAGE_STATUS_")
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The share of new workflows, in %, `routing` sends to `build_id`.
pub(crate) fn share_of_new_workflows(routing: &Routing, build_id: &str) -> f32 {
    if routing.current.as_deref() == Some(build_id) {
        100.0 - routing.ramping_percent
    } else if routing.ramping.as_deref() == Some(build_id) {
        routing.ramping_percent
    } else {
        0.0
    }
}
