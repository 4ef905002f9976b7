//! `retire`: remove a drained build from a Worker Deployment, and the Lambda version the server
//! invoked for it.
//!
//! A build is retired only when nothing can still need it: it is neither current nor ramping,
//! no pinned workflow on it is open (counted in visibility, as the server counts for drainage),
//! and the server agrees (its drainage status is not `draining` and no worker polled it within
//! its poller history). Then, in this order, so that a failure never leaves the server invoking
//! something that is gone:
//! 1. `DeleteWorkerDeploymentVersion` (the server stops invoking the version);
//! 2. the Lambda function version (`DeleteFunction` with its qualifier), unless kept or still
//!    used by another version of the deployment — and only when Lambda confirms it is what the
//!    compute config claims: the version read back (`GetFunctionConfiguration` with the
//!    qualifier) is that function's, in the account and region in use, and carries the
//!    description `deploy` publishes for this build of this deployment
//!    ([`crate::lambda_deploy::version_description`]). Anyone who may write the namespace may write a
//!    compute config; without this check they could make `retire` delete a version of an
//!    unrelated function ([`lambda_delete_refusal`]);
//! 3. the qualified ARN is taken out of the invocation role's stack (`LambdaFunctionARNs`) if it
//!    was listed there by version.

use std::time::{Duration, Instant};

use serde::Serialize;
use temporalio_client::{
    tonic::{Code, Request},
    Connection,
};
use temporalio_common::protos::temporal::api::{
    deployment::v1::WorkerDeploymentVersion,
    enums::v1::VersionDrainageStatus,
    workflowservice::v1::{
        CountWorkflowExecutionsRequest, DeleteWorkerDeploymentVersionRequest,
        ListWorkflowExecutionsRequest,
    },
};

use crate::aws::{Aws, AwsError};
use crate::connect::identity;
use crate::deployment::{
    describe_deployment_raw, describe_version_raw, retry_throttled, version_string, DeploymentError,
};
use crate::iam::IamError;

/// What to retire.
#[derive(Debug, Clone)]
pub enum RetireTarget {
    /// One build.
    Build(String),
    /// Every version the server reports drained (and that is neither current nor ramping).
    AllDrained,
}

/// Options of [`retire`].
#[derive(Debug, Clone)]
pub struct RetireOptions {
    /// Namespace.
    pub namespace: String,
    /// Worker Deployment name.
    pub deployment_name: String,
    /// The build(s) to retire.
    pub target: RetireTarget,
    /// Keep the Lambda function version (only the deployment version is deleted).
    pub keep_lambda_version: bool,
    /// The invocation role's CloudFormation stack (`iam create --stack-name`): its
    /// `LambdaFunctionARNs` loses the retired version's ARN if it lists it.
    pub iam_stack: Option<String>,
    /// Wait up to this long for the build to drain and its pollers to expire, instead of
    /// refusing at once.
    pub wait: Option<Duration>,
    /// Check and report; change nothing.
    pub dry_run: bool,
}

/// One retired (or, with `dry_run`, retirable) build.
#[derive(Debug, Clone, Serialize)]
pub struct RetiredVersion {
    /// Build ID.
    pub build_id: String,
    /// The qualified Lambda ARN its compute config invoked, if serverless.
    pub lambda_function: Option<String>,
    /// The Worker Deployment Version was deleted.
    pub version_deleted: bool,
    /// The Lambda function version was deleted.
    pub lambda_version_deleted: bool,
    /// Why the Lambda version was kept, if it was.
    pub lambda_kept_because: Option<String>,
    /// The ARN was removed from the invocation role's stack.
    pub removed_from_role: bool,
    /// Wall time of this build's retirement, ms.
    pub millis: u128,
}

/// What [`retire`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RetireReport {
    /// Deployment name.
    pub deployment_name: String,
    /// The builds retired (or retirable, with `dry_run`).
    pub retired: Vec<RetiredVersion>,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// Why a build cannot be retired (yet), or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    /// The deployment does not exist.
    #[error("worker deployment {deployment} does not exist in namespace {namespace}")]
    NoDeployment {
        /// Deployment name.
        deployment: String,
        /// Namespace.
        namespace: String,
    },
    /// No such version.
    #[error("{version} does not exist in namespace {namespace}. Fix: `temporal-lambda status --deployment-name {deployment}` lists its builds")]
    NoVersion {
        /// `<deployment>.<build-id>`.
        version: String,
        /// Deployment name.
        deployment: String,
        /// Namespace.
        namespace: String,
    },
    /// The build still gets new workflows.
    #[error("{version} is the {role} version: new workflows still go to it. Fix: `promote` (or `rollback`) another build first")]
    Routed {
        /// `<deployment>.<build-id>`.
        version: String,
        /// `current` or `ramping`.
        role: &'static str,
    },
    /// Pinned workflows on the build are still open.
    #[error("{version} still has {open} open pinned workflow(s) (e.g. {}): they run only on this build, so it must stay invocable until they finish. Fix: wait for them (`retire --wait 30m`), or move or terminate them", sample.join(", "))]
    OpenPinned {
        /// `<deployment>.<build-id>`.
        version: String,
        /// How many are open.
        open: u64,
        /// A few of their workflow IDs.
        sample: Vec<String>,
    },
    /// The server has not yet seen the build drained (it re-checks periodically).
    #[error("{version} has no open pinned workflow now, but the server still reports it draining (it re-checks drainage every few minutes; last check: {last_checked}). Fix: retry later, or `retire --wait 10m`")]
    ServerDraining {
        /// `<deployment>.<build-id>`.
        version: String,
        /// When the server last checked, RFC 3339 (or `never`).
        last_checked: String,
    },
    /// Workers of the build polled recently (the server remembers pollers for a while).
    #[error("{version} had workers polling recently: the server refuses to delete a version it saw polled within its poller history (5 min by default; a Lambda invocation polls until it ends). Fix: retry a few minutes after its last invocation, or `retire --wait 10m`")]
    RecentPollers {
        /// `<deployment>.<build-id>`.
        version: String,
    },
    /// `--wait` ran out.
    #[error("gave up after waiting {waited:?}: {last}")]
    WaitExpired {
        /// How long it waited.
        waited: Duration,
        /// The last refusal.
        last: Box<RetireError>,
    },
    /// Deleting the Lambda version needs AWS.
    #[error("deleting the Lambda version {function} needs AWS access: pass the AWS settings, or `--keep-lambda-version`")]
    NoAws {
        /// Qualified ARN.
        function: String,
    },
    /// A server call failed.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Updating the invocation role's stack failed.
    #[error(transparent)]
    Iam(#[from] IamError),
}

impl RetireError {
    /// Whether waiting can make this refusal go away.
    fn transient(&self) -> bool {
        matches!(
            self,
            RetireError::OpenPinned { .. }
                | RetireError::ServerDraining { .. }
                | RetireError::RecentPollers { .. }
        )
    }
}

/// The visibility query the server itself uses for drainage: open workflows pinned to the
/// version.
pub fn open_pinned_query(deployment: &str, build_id: &str) -> String {
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

/// `(function name, qualifier)` of a Lambda ARN (`…:function:NAME[:QUALIFIER]`).
pub fn split_function_arn(arn: &str) -> Option<(&str, Option<&str>)> {
    let rest = arn.split_once(":function:")?.1;
    Some(match rest.split_once(':') {
        Some((name, q)) => (name, Some(q)),
        None => (rest, None),
    })
}

/// Retires the target build(s); see the module doc for the checks and the order of deletions.
/// `aws` is needed unless the Lambda version is kept and no stack is given. `progress` is told
/// about each step.
pub async fn retire(
    conn: &Connection,
    aws: Option<&Aws>,
    o: &RetireOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RetireReport, RetireError> {
    let builds = match &o.target {
        RetireTarget::Build(b) => vec![b.clone()],
        RetireTarget::AllDrained => drained_builds(conn, o).await?,
    };
    let mut retired = Vec::new();
    for b in builds {
        let start = Instant::now();
        let mut r = retire_one(conn, aws, o, &b, progress).await?;
        r.millis = start.elapsed().as_millis();
        retired.push(r);
    }
    Ok(RetireReport {
        deployment_name: o.deployment_name.clone(),
        retired,
        dry_run: o.dry_run,
    })
}

async fn drained_builds(conn: &Connection, o: &RetireOptions) -> Result<Vec<String>, RetireError> {
    let d = describe_deployment_raw(conn, &o.namespace, &o.deployment_name)
        .await?
        .ok_or_else(|| RetireError::NoDeployment {
            deployment: o.deployment_name.clone(),
            namespace: o.namespace.clone(),
        })?;
    let info = d.worker_deployment_info.unwrap_or_default();
    let routed = routed_builds(&info.routing_config);
    Ok(info
        .version_summaries
        .iter()
        .filter(|v| v.drainage_status == VersionDrainageStatus::Drained as i32)
        .filter_map(|v| v.deployment_version.as_ref().map(|d| d.build_id.clone()))
        .filter(|b| !routed.iter().any(|(r, _)| r == b))
        .collect())
}

fn routed_builds(
    rc: &Option<temporalio_common::protos::temporal::api::deployment::v1::RoutingConfig>,
) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if let Some(rc) = rc {
        for (v, role) in [
            (&rc.current_deployment_version, "current"),
            (&rc.ramping_deployment_version, "ramping"),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.build_id.is_empty()) {
                out.push((v.build_id.clone(), role));
            }
        }
    }
    out
}

async fn retire_one(
    conn: &Connection,
    aws: Option<&Aws>,
    o: &RetireOptions,
    build_id: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RetiredVersion, RetireError> {
    let version = version_string(&o.deployment_name, build_id);
    let function = lambda_function_of(conn, &o.namespace, &o.deployment_name, build_id).await?;
    let started = Instant::now();
    loop {
        progress(&format!("checking that {version} is drained"));
        let refusal = match check_retirable(conn, o, build_id).await {
            Ok(()) if o.dry_run => {
                return Ok(RetiredVersion {
                    build_id: build_id.to_string(),
                    lambda_function: function,
                    version_deleted: false,
                    lambda_version_deleted: false,
                    lambda_kept_because: None,
                    removed_from_role: false,
                    millis: 0,
                })
            }
            Ok(()) => {
                progress(&format!("deleting the worker deployment version {version}"));
                match delete_version(conn, o, build_id).await {
                    Ok(()) => {
                        await_gone(conn, o, build_id).await?;
                        break;
                    }
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        match o.wait {
            Some(limit) if refusal.transient() => {
                if started.elapsed() >= limit {
                    return Err(RetireError::WaitExpired {
                        waited: started.elapsed(),
                        last: Box::new(refusal),
                    });
                }
                progress(&format!("waiting: {refusal}"));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            _ => return Err(refusal),
        }
    }
    let mut out = RetiredVersion {
        build_id: build_id.to_string(),
        lambda_function: function.clone(),
        version_deleted: true,
        lambda_version_deleted: false,
        lambda_kept_because: None,
        removed_from_role: false,
        millis: 0,
    };
    let Some(arn) = function else {
        return Ok(out);
    };
    out.lambda_kept_because = lambda_keep_reason(conn, o, &arn).await?;
    if out.lambda_kept_because.is_none() {
        let aws = aws.ok_or_else(|| RetireError::NoAws {
            function: arn.clone(),
        })?;
        let (name, qualifier) = split_function_arn(&arn).expect("checked by lambda_keep_reason");
        let qualifier = qualifier.expect("checked by lambda_keep_reason");
        progress(&format!("reading Lambda version {arn}"));
        out.lambda_kept_because = match read_lambda_version(aws, name, qualifier).await? {
            None => Some("it was already deleted".into()),
            Some(facts) => lambda_delete_refusal(&arn, &o.deployment_name, build_id, &facts),
        };
        if out.lambda_kept_because.is_none() {
            progress(&format!("deleting Lambda version {arn}"));
            match aws
                .lambda
                .delete_function()
                .function_name(name)
                .qualifier(qualifier)
                .send()
                .await
            {
                Ok(_) => out.lambda_version_deleted = true,
                Err(e)
                    if crate::aws::error_code(&e).as_deref()
                        == Some("ResourceNotFoundException") =>
                {
                    out.lambda_kept_because = Some("it was already deleted".into());
                }
                Err(e) => return Err(AwsError::call("lambda:DeleteFunction", e).into()),
            }
        }
    }
    if let (Some(stack), Some(aws)) = (&o.iam_stack, aws) {
        progress(&format!(
            "taking {arn} out of the invocation role (stack {stack})"
        ));
        out.removed_from_role =
            crate::iam::remove_function_arn(aws, stack, &arn, &|m| progress(m)).await?;
    }
    Ok(out)
}

/// What Lambda says about one published version (`GetFunctionConfiguration` with its
/// qualifier): what [`lambda_delete_refusal`] decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaVersionFacts {
    /// `FunctionArn` (qualified with the version).
    pub function_arn: String,
    /// `FunctionName`.
    pub function_name: String,
    /// `Version`.
    pub version: String,
    /// `Description`.
    pub description: String,
}

/// Reads the version `qualifier` of function `name` in the account and region in use, with the
/// same identifiers `DeleteFunction` would get; `None` when it does not exist.
async fn read_lambda_version(
    aws: &Aws,
    name: &str,
    qualifier: &str,
) -> Result<Option<LambdaVersionFacts>, RetireError> {
    match aws
        .lambda
        .get_function_configuration()
        .function_name(name)
        .qualifier(qualifier)
        .send()
        .await
    {
        Ok(c) => Ok(Some(LambdaVersionFacts {
            function_arn: c.function_arn().unwrap_or_default().to_string(),
            function_name: c.function_name().unwrap_or_default().to_string(),
            version: c.version().unwrap_or_default().to_string(),
            description: c.description().unwrap_or_default().to_string(),
        })),
        Err(e) if crate::aws::error_code(&e).as_deref() == Some("ResourceNotFoundException") => {
            Ok(None)
        }
        Err(e) => Err(AwsError::call("lambda:GetFunctionConfiguration", e).into()),
    }
}

/// Whether `retire` may delete the Lambda version `arn` that the compute config of build
/// `build_id` of `deployment` names, given what Lambda says about it: `None` to delete it, else
/// why it stays. It is deleted only when
/// * it is the version of the function the ARN names (`FunctionName`, `Version`), and the ARN
///   Lambda reports is the compute config's (same account and region: the delete goes to the
///   account and region in use);
/// * its description is the one `deploy` publishes for this build of this deployment
///   ([`crate::lambda_deploy::version_description`]).
///
/// The compute config is written by anyone who may write the namespace; Lambda's answer is
/// what this toolkit wrote when it published the version.
pub fn lambda_delete_refusal(
    arn: &str,
    deployment: &str,
    build_id: &str,
    facts: &LambdaVersionFacts,
) -> Option<String> {
    let Some((name, Some(qualifier))) = split_function_arn(arn) else {
        return Some("the ARN does not name a published version".into());
    };
    if facts.function_name != name || facts.version != qualifier {
        return Some(format!(
            "Lambda answered for version {} of {}, not version {qualifier} of {name}",
            facts.version, facts.function_name
        ));
    }
    if facts.function_arn != arn {
        return Some(format!(
            "the compute config names {arn}, but the AWS account and region in use have {}: \
             pass the AWS settings of the function's account and region",
            facts.function_arn
        ));
    }
    if !crate::lambda_deploy::describes_build(&facts.description, build_id, deployment) {
        let shown: String = facts.description.chars().take(120).collect();
        return Some(format!(
            "its description (`{shown}`) is not the one temporal-lambda deploy publishes for \
             build {build_id} of {deployment} (`{}`), so it may be another function's version: \
             delete it yourself (aws lambda delete-function --function-name {name} --qualifier \
             {qualifier}) if it is this build's",
            crate::lambda_deploy::version_description(build_id, deployment)
        ));
    }
    None
}

/// Why the Lambda version stays, or `None` to delete it.
async fn lambda_keep_reason(
    conn: &Connection,
    o: &RetireOptions,
    arn: &str,
) -> Result<Option<String>, RetireError> {
    if o.keep_lambda_version {
        return Ok(Some("--keep-lambda-version".into()));
    }
    match split_function_arn(arn) {
        Some((_, Some(q))) if q.chars().all(|c| c.is_ascii_digit()) => {}
        Some((_, Some(q))) => {
            return Ok(Some(format!(
                "`{q}` is an alias or $LATEST, not a published version"
            )))
        }
        _ => return Ok(Some("the ARN is unqualified (no published version)".into())),
    }
    // Another version of the deployment may invoke the same Lambda version.
    let Some(d) = describe_deployment_raw(conn, &o.namespace, &o.deployment_name).await? else {
        return Ok(None);
    };
    for v in d
        .worker_deployment_info
        .unwrap_or_default()
        .version_summaries
    {
        let Some(b) = v.deployment_version.map(|d| d.build_id) else {
            continue;
        };
        if lambda_function_of(conn, &o.namespace, &o.deployment_name, &b)
            .await?
            .as_deref()
            == Some(arn)
        {
            return Ok(Some(format!("build {b} still invokes it")));
        }
    }
    Ok(None)
}

/// Refuses while the build is routed or has open pinned workflows, or the server still says
/// it is draining.
async fn check_retirable(
    conn: &Connection,
    o: &RetireOptions,
    build_id: &str,
) -> Result<(), RetireError> {
    let (ns, dep) = (o.namespace.as_str(), o.deployment_name.as_str());
    let version = version_string(dep, build_id);
    let d = describe_deployment_raw(conn, ns, dep)
        .await?
        .ok_or_else(|| RetireError::NoDeployment {
            deployment: dep.to_string(),
            namespace: ns.to_string(),
        })?;
    let info = d.worker_deployment_info.unwrap_or_default();
    if let Some((_, role)) = routed_builds(&info.routing_config)
        .into_iter()
        .find(|(b, _)| b == build_id)
    {
        return Err(RetireError::Routed { version, role });
    }
    let Some(v) = describe_version_raw(conn, ns, dep, build_id).await? else {
        return Err(RetireError::NoVersion {
            version,
            deployment: dep.to_string(),
            namespace: ns.to_string(),
        });
    };
    let (open, sample) = open_pinned(conn, ns, dep, build_id, 5).await?;
    if open > 0 {
        return Err(RetireError::OpenPinned {
            version,
            open,
            sample,
        });
    }
    let drainage = v
        .worker_deployment_version_info
        .and_then(|i| i.drainage_info)
        .unwrap_or_default();
    if drainage.status == VersionDrainageStatus::Draining as i32 {
        return Err(RetireError::ServerDraining {
            version,
            last_checked: drainage
                .last_checked_time
                .map(|t| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(t.seconds);
                    format!("{} s ago", (now - t.seconds).max(0))
                })
                .unwrap_or_else(|| "never".into()),
        });
    }
    Ok(())
}

/// Waits (up to 30 s) until the deployment no longer lists the deleted version: the server
/// removes it from the deployment's summary shortly after the delete returns.
async fn await_gone(
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

async fn delete_version(
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
        Err(s) if s.code() == Code::NotFound => Ok(()),
        Err(s) if s.message().contains("active pollers") => {
            Err(RetireError::RecentPollers { version })
        }
        Err(s) if s.message().contains("draining") => Err(RetireError::ServerDraining {
            version,
            last_checked: "just now".into(),
        }),
        Err(s) if s.message().contains("current or ramping") => Err(RetireError::Routed {
            version,
            role: "current or ramping",
        }),
        Err(s) if s.code() == Code::ResourceExhausted => Err(RetireError::RecentPollers {
            // Throttled: waiting helps too.
            version,
        }),
        Err(s) => Err(DeploymentError::Rpc {
            operation: "DeleteWorkerDeploymentVersion",
            code: s.code(),
            message: s.message().to_string(),
        }
        .into()),
    }
}

/// One line per retired build.
pub fn retire_text(r: &RetireReport) -> String {
    if r.retired.is_empty() {
        return format!("{}: nothing to retire", r.deployment_name);
    }
    let mut out = String::new();
    for v in &r.retired {
        let lambda = match (
            &v.lambda_function,
            v.lambda_version_deleted,
            &v.lambda_kept_because,
        ) {
            (None, _, _) => "no Lambda function".to_string(),
            (Some(a), true, _) => format!("Lambda version {a} deleted"),
            (Some(a), false, Some(why)) => format!("Lambda version {a} kept: {why}"),
            (Some(a), false, None) => format!("Lambda version {a} would be deleted"),
        };
        let verb = if r.dry_run {
            "can be retired"
        } else {
            "retired"
        };
        out.push_str(&format!(
            "{}.{} {verb} ({} ms): {lambda}{}\n",
            r.deployment_name,
            v.build_id,
            v.millis,
            if v.removed_from_role {
                "; removed from the invocation role"
            } else {
                ""
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_function_arns() {
        assert_eq!(
            split_function_arn("arn:aws:lambda:us-east-1:1:function:f:3"),
            Some(("f", Some("3")))
        );
        assert_eq!(
            split_function_arn("arn:aws:lambda:us-east-1:1:function:f"),
            Some(("f", None))
        );
        assert_eq!(split_function_arn("nope"), None);
    }

    /// `retire` deletes a Lambda version only when Lambda confirms it is this build's: a
    /// compute config that names a version of an unrelated function (anyone who may write
    /// the namespace can register one) keeps it.
    #[test]
    fn a_version_is_deleted_only_when_lambda_confirms_it_is_this_builds() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:hello:3";
        let ours = LambdaVersionFacts {
            function_arn: arn.into(),
            function_name: "hello".into(),
            version: "3".into(),
            description: crate::lambda_deploy::version_description("b1", "app"),
        };
        assert_eq!(lambda_delete_refusal(arn, "app", "b1", &ours), None);
        let refused = |f: LambdaVersionFacts, arn: &str| {
            lambda_delete_refusal(arn, "app", "b1", &f).expect("must be kept")
        };
        // An unrelated function's version (no description, or another build's).
        let why = refused(
            LambdaVersionFacts {
                description: String::new(),
                ..ours.clone()
            },
            arn,
        );
        assert!(why.contains("description"), "{why}");
        refused(
            LambdaVersionFacts {
                description: crate::lambda_deploy::version_description("b2", "app"),
                ..ours.clone()
            },
            arn,
        );
        refused(
            LambdaVersionFacts {
                description: crate::lambda_deploy::version_description("b1", "other-app"),
                ..ours.clone()
            },
            arn,
        );
        // The rig's old bare build-ID description is not the toolkit's.
        refused(
            LambdaVersionFacts {
                description: "b1".into(),
                ..ours.clone()
            },
            arn,
        );
        // Lambda answered for another function or version.
        refused(
            LambdaVersionFacts {
                function_name: "payroll".into(),
                ..ours.clone()
            },
            arn,
        );
        refused(
            LambdaVersionFacts {
                version: "4".into(),
                ..ours.clone()
            },
            arn,
        );
        // The ARN is in another account: the delete would hit the same-named function here.
        let why = refused(
            ours.clone(),
            "arn:aws:lambda:us-east-1:999999999999:function:hello:3",
        );
        assert!(why.contains("account and region"), "{why}");
        refused(ours, "arn:aws:lambda:us-east-1:123456789012:function:hello");
    }

    #[test]
    fn the_query_is_the_servers_drainage_query() {
        assert_eq!(
            open_pinned_query("app", "b1"),
            "TemporalWorkerDeploymentVersion = 'app:b1' AND TemporalWorkflowVersioningBehavior = \
             'Pinned' AND ExecutionStatus = 'Running'"
        );
    }
}
