//! `register`: create the Worker Deployment (if missing) and a version whose compute config
//! invokes a Lambda function, or verify / update an existing one.

use super::*;

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
