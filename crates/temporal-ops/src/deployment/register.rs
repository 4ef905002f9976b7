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

/// What `register` does to the version, decided from what the server stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegisterAction {
    /// The version does not exist: create the deployment if missing, then the version.
    Create,
    /// The version exists with this compute config already.
    Unchanged,
    /// The version exists with another compute config: replace it (`update`), removing these
    /// other scaling groups.
    Update {
        /// Scaling groups other than the default one, removed by the update.
        remove_scaling_groups: Vec<String>,
    },
}

/// Decides [`RegisterAction`] from the stored compute config (`None`: no such version; a version
/// without a compute config stores the empty one). A different config without `update` is
/// refused, showing the stored one.
pub(crate) fn register_action(
    version: &str,
    stored: Option<&ComputeConfig>,
    target: &LambdaTarget,
    update: bool,
) -> Result<RegisterAction, DeploymentError> {
    let Some(stored) = stored else {
        return Ok(RegisterAction::Create);
    };
    if compute::matches(stored, target) {
        return Ok(RegisterAction::Unchanged);
    }
    if !update {
        return Err(DeploymentError::DifferentComputeConfig {
            version: version.to_string(),
            stored: match compute::lambda_details(stored) {
                Some(d) => serde_json::to_string(&d).unwrap_or_default(),
                None => format!(
                    "not an aws-lambda config: {}",
                    serde_json::to_string(&compute::view(stored)).unwrap_or_default()
                ),
            },
        });
    }
    Ok(RegisterAction::Update {
        remove_scaling_groups: stored
            .scaling_groups
            .keys()
            .filter(|k| k.as_str() != compute::DEFAULT_SCALING_GROUP)
            .cloned()
            .collect(),
    })
}

/// The advice given when the function ARN is not a published version (its code can change
/// under the same build ID).
pub(crate) fn unpublished_warning(opts: &RegisterOptions) -> Option<String> {
    (!opts.target.function_arn.is_published_version()).then(|| {
        format!(
            "{} is not a published version: the code behind build ID {} can change without a new \
             deployment version; prefer a qualified ARN ending in :<version>",
            opts.target.function_arn, opts.build_id
        )
    })
}

async fn register_once(
    conn: &Connection,
    opts: &RegisterOptions,
) -> Result<RegisterReport, DeploymentError> {
    let version = version_string(&opts.deployment_name, &opts.build_id);
    let stored = describe_version_raw(conn, &opts.namespace, &opts.deployment_name, &opts.build_id)
        .await?
        .map(|v| {
            v.worker_deployment_version_info
                .and_then(|i| i.compute_config)
                .unwrap_or_default()
        });
    let action = register_action(&version, stored.as_ref(), &opts.target, opts.update)?;
    let mut report = RegisterReport {
        namespace: opts.namespace.clone(),
        deployment_name: opts.deployment_name.clone(),
        build_id: opts.build_id.clone(),
        version,
        outcome: RegisterOutcome::Created,
        deployment_created: false,
        set_current: None,
        warnings: unpublished_warning(opts).into_iter().collect(),
    };
    match action {
        RegisterAction::Create => {
            report.deployment_created =
                ensure_deployment(conn, &opts.namespace, &opts.deployment_name).await?;
            create_version(conn, opts).await?;
        }
        RegisterAction::Unchanged => report.outcome = RegisterOutcome::Unchanged,
        RegisterAction::Update {
            remove_scaling_groups,
        } => {
            update_compute_config(conn, opts, remove_scaling_groups).await?;
            report.outcome = RegisterOutcome::Updated;
        }
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

async fn create_version(conn: &Connection, opts: &RegisterOptions) -> Result<(), DeploymentError> {
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
        .map_err(|s| classify_compute_error("CreateWorkerDeploymentVersion", s, &opts.target))?;
    Ok(())
}

async fn update_compute_config(
    conn: &Connection,
    opts: &RegisterOptions,
    remove_scaling_groups: Vec<String>,
) -> Result<(), DeploymentError> {
    let req = UpdateWorkerDeploymentVersionComputeConfigRequest {
        namespace: opts.namespace.clone(),
        deployment_version: Some(version_ref(&opts.deployment_name, &opts.build_id)),
        compute_config_scaling_groups: opts.target.scaling_group_update(),
        remove_compute_config_scaling_groups: remove_scaling_groups,
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
    Ok(())
}
