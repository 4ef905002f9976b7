//! Reading the facts: Temporal (the version, the deployment), Lambda, IAM and CloudWatch Logs.
//! Each read happens only when the gates of [`Facts`] say a check needs it.

use temporalio_client::Connection;

use crate::aws::{error_code, Aws, AwsError};
use crate::compute::{LambdaProviderDetails, AWS_LAMBDA_PROVIDER};
use crate::deployment::DeploymentError;
use crate::identifiers::FunctionArn;

use super::facts::{
    AwsFailure, AwsIdentity, DeploymentFacts, Facts, FunctionFacts, FunctionLookupError, Inputs,
    VersionFacts, VersionLookupError, VersionUse,
};
use super::DoctorOptions;

/// Reads every fact the checks need, link by link.
pub(super) async fn gather(opts: &DoctorOptions, aws: Result<Aws, AwsError>) -> Facts {
    let mut f = Facts {
        inputs: inputs(opts),
        ..Default::default()
    };
    let conn = match opts.conn.connect().await {
        Ok(conn) => {
            f.temporal = Some(Ok(()));
            Some(conn)
        }
        Err(e) => {
            f.temporal = Some(Err(e.to_string()));
            None
        }
    };
    if let Some(conn) = &conn {
        f.version = Some(version(conn, &f.inputs).await);
    }
    let aws = match aws {
        Ok(aws) => match aws.account_id().await {
            Ok(account) => {
                f.aws = Some(Ok(AwsIdentity {
                    account: account.to_string(),
                    region: aws.region.clone(),
                }));
                Some(aws)
            }
            Err(e) => {
                f.aws = Some(Err(AwsFailure::Identity(e.to_string())));
                None
            }
        },
        Err(e) => {
            f.aws = Some(Err(AwsFailure::Config(e.to_string())));
            None
        }
    };
    if let (Some(conn), Some(aws)) = (&conn, &aws) {
        f.deployment = Some(deployment(conn, aws, &f.inputs).await);
    }
    if let Some(aws) = &aws {
        function_side(&mut f, aws).await;
    }
    f
}

fn inputs(opts: &DoctorOptions) -> Inputs {
    Inputs {
        deployment_name: opts.deployment_name.clone(),
        build_id: opts.build_id.clone(),
        namespace: opts.conn.namespace.clone(),
        address: opts.conn.address.clone(),
        function: opts.function.clone(),
        trust: opts.trust.clone(),
        min_timeout: opts.min_timeout,
        log_window: opts.log_window,
    }
}

/// The version and its Lambda compute config.
async fn version(conn: &Connection, i: &Inputs) -> Result<VersionFacts, VersionLookupError> {
    let v =
        crate::deployment::describe_version(conn, &i.namespace, &i.deployment_name, &i.build_id)
            .await
            .map_err(|e| match e {
                DeploymentError::VersionNotFound { .. } => VersionLookupError::NotFound,
                e => VersionLookupError::Other(e.to_string()),
            })?;
    let lambda = v
        .compute_config
        .values()
        .find(|g| g.provider_type == AWS_LAMBDA_PROVIDER)
        .map(|g| {
            g.provider_details
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or(LambdaProviderDetails {
                    arn: String::new(),
                    role: None,
                    role_external_id: None,
                })
        });
    Ok(VersionFacts {
        version: v.version,
        status: v.status,
        lambda,
    })
}

/// The function, its roles, what its code answers, and its logs: each only when the gates let
/// the checks use it.
async fn function_side(f: &mut Facts, aws: &Aws) {
    let Ok(arn) = f.function_in_region() else {
        return;
    };
    f.function = Some(function(aws, &arn).await);
    let Ok((_, cfg)) = f.function_config() else {
        return;
    };
    let exec_role = cfg.execution_role.clone().unwrap_or_default();
    let reads_secret = cfg
        .env
        .contains_key(temporal_lambda_env::connection::API_KEY_SECRET_ARN);
    if let Some(t) = f.target() {
        let role = t.role.clone().unwrap_or_default();
        f.role = Some(read_role(aws, &role).await);
    }
    f.code = Some(
        crate::lambda_deploy::describe_function(aws, arn.as_str())
            .await
            .map_err(|e| e.to_string()),
    );
    if reads_secret {
        f.execution_role = Some(read_role(aws, &exec_role).await);
    }
    f.connection = Some(
        crate::lambda_deploy::check_function_connection(aws, arn.as_str())
            .await
            .map_err(|e| e.to_string()),
    );
    f.logs = Some(
        crate::logs::activity(aws, &arn.name, None, f.inputs.log_window)
            .await
            .map_err(|e| e.to_string()),
    );
}

async fn read_role(aws: &Aws, role_arn: &str) -> Result<Option<crate::iam::RoleFacts>, String> {
    crate::iam::role_facts(aws, role_arn)
        .await
        .map_err(|e| e.to_string())
}

/// The function version's configuration.
async fn function(aws: &Aws, arn: &FunctionArn) -> Result<FunctionFacts, FunctionLookupError> {
    let cfg = aws
        .lambda
        .get_function_configuration()
        .function_name(arn.as_str())
        .send()
        .await
        .map_err(|e| {
            let msg = crate::aws::describe_sdk_error(&e);
            if error_code(&e).as_deref() == Some("ResourceNotFoundException") {
                FunctionLookupError::NotFound(msg)
            } else {
                FunctionLookupError::Other(msg)
            }
        })?;
    Ok(FunctionFacts {
        state: cfg.state().map(|s| s.as_str().to_string()),
        state_reason: cfg.state_reason().map(str::to_string),
        memory_mb: cfg.memory_size(),
        architecture: cfg.architectures().first().map(|a| a.as_str().to_string()),
        timeout_s: cfg.timeout(),
        env: cfg
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        execution_role: cfg.role().map(str::to_string),
    })
}

/// The deployment's routing, its versions and the ramping version's logs.
async fn deployment(
    conn: &Connection,
    aws: &Aws,
    i: &Inputs,
) -> Result<Option<DeploymentFacts>, String> {
    use temporalio_common::protos::temporal::api::deployment::v1::WorkerDeploymentVersion;
    use temporalio_common::protos::temporal::api::enums::v1::VersionDrainageStatus;
    let (ns, dep) = (i.namespace.as_str(), i.deployment_name.as_str());
    let Some(d) = crate::deployment::describe_deployment_raw(conn, ns, dep)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let info = d.worker_deployment_info.unwrap_or_default();
    let rc = info.routing_config.unwrap_or_default();
    let build = |v: &Option<WorkerDeploymentVersion>| {
        v.as_ref()
            .map(|v| v.build_id.clone())
            .filter(|b| !b.is_empty())
    };
    let mut facts = DeploymentFacts {
        current: build(&rc.current_deployment_version),
        ramping: build(&rc.ramping_deployment_version),
        ramping_percentage: rc.ramping_version_percentage,
        ..Default::default()
    };
    for v in &info.version_summaries {
        let Some(build_id) = build(&v.deployment_version) else {
            continue;
        };
        let (open_pinned, pinned_sample) = crate::retire::open_pinned(conn, ns, dep, &build_id, 3)
            .await
            .unwrap_or_default();
        let mut version = VersionUse {
            build_id,
            draining: v.drainage_status == VersionDrainageStatus::Draining as i32,
            open_pinned,
            pinned_sample,
            missing_function: None,
        };
        if facts.still_used(&version).is_some() {
            version.missing_function = missing_function(conn, aws, i, &version.build_id).await;
        }
        facts.versions.push(version);
    }
    if let Some(r) = facts.ramping.clone() {
        facts.ramping_function = crate::retire::lambda_function_of(conn, ns, dep, &r)
            .await
            .ok()
            .flatten();
        if let Some((name, qualifier)) = facts
            .ramping_function
            .as_deref()
            .and_then(crate::retire::split_function_arn)
        {
            facts.ramping_logs = Some(
                crate::logs::activity(aws, name, qualifier, i.log_window)
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
    }
    Ok(Some(facts))
}

/// The Lambda ARN `build_id`'s compute config invokes, when Lambda says it does not exist.
async fn missing_function(
    conn: &Connection,
    aws: &Aws,
    i: &Inputs,
    build_id: &str,
) -> Option<String> {
    let Ok(Some(arn)) =
        crate::retire::lambda_function_of(conn, &i.namespace, &i.deployment_name, build_id).await
    else {
        return None;
    };
    let err = aws
        .lambda
        .get_function_configuration()
        .function_name(&arn)
        .send()
        .await
        .err()?;
    (error_code(&err).as_deref() == Some("ResourceNotFoundException")).then_some(arn)
}
