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
//!    unrelated function (`checks::lambda_delete_refusal`);
//! 3. the qualified ARN is taken out of the invocation role's stack (`LambdaFunctionARNs`) if it
//!    was listed there by version.

use std::time::{Duration, Instant};

use serde::Serialize;
use temporalio_client::Connection;

use crate::aws::{Aws, AwsError};
use crate::deployment::{describe_deployment_raw, version_string, DeploymentError};
use crate::iam::IamError;

mod checks;
mod server;

pub(crate) use server::lambda_function_of;
pub use server::open_pinned;
#[cfg(test)]
use server::open_pinned_query;
use server::{await_gone, check_retirable, delete_version, lambda_functions_of_deployment};

pub(crate) use checks::{
    delete_refusal, drained_unrouted, invoked_by_another_build, lambda_delete_refusal,
    lambda_version_keep_reason, retirable, routed_builds, wait_or_give_up, RetirableFacts,
};

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
    #[error("worker deployment {deployment} does not exist in namespace {namespace}. Fix: check --deployment-name and --namespace (the worker's deployment name, as `register` or `ship` printed it)")]
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
    Ok(drained_unrouted(
        &d.worker_deployment_info.unwrap_or_default(),
    ))
}

/// Retires one build: waits until it is retirable and deletes its deployment version, then its
/// Lambda version, then takes it out of the invocation role.
async fn retire_one(
    conn: &Connection,
    aws: Option<&Aws>,
    o: &RetireOptions,
    build_id: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<RetiredVersion, RetireError> {
    let function = lambda_function_of(conn, &o.namespace, &o.deployment_name, build_id).await?;
    let mut out = RetiredVersion {
        build_id: build_id.to_string(),
        lambda_function: function.clone(),
        version_deleted: false,
        lambda_version_deleted: false,
        lambda_kept_because: None,
        removed_from_role: false,
        millis: 0,
    };
    out.version_deleted = delete_when_retirable(conn, o, build_id, progress).await?;
    let Some(arn) = function.filter(|_| out.version_deleted) else {
        return Ok(out);
    };
    (out.lambda_version_deleted, out.lambda_kept_because) =
        retire_lambda_version(conn, aws, o, build_id, &arn, progress).await?;
    if let (Some(stack), Some(aws)) = (&o.iam_stack, aws) {
        progress(&format!(
            "taking {arn} out of the invocation role (stack {stack})"
        ));
        out.removed_from_role =
            crate::iam::remove_function_arn(aws, stack, &arn, &|m| progress(m)).await?;
    }
    Ok(out)
}

/// Checks the build until it is retirable (waiting with `o.wait` while the refusal is
/// transient), then deletes its deployment version: `true` once deleted, `false` with
/// `dry_run` (retirable, nothing deleted).
async fn delete_when_retirable(
    conn: &Connection,
    o: &RetireOptions,
    build_id: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<bool, RetireError> {
    let version = version_string(&o.deployment_name, build_id);
    let started = Instant::now();
    loop {
        progress(&format!("checking that {version} is drained"));
        let refusal = match check_retirable(conn, o, build_id).await {
            Ok(()) if o.dry_run => return Ok(false),
            Ok(()) => {
                progress(&format!("deleting the worker deployment version {version}"));
                match delete_version(conn, o, build_id).await {
                    Ok(()) => {
                        await_gone(conn, o, build_id).await?;
                        return Ok(true);
                    }
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        let refusal = wait_or_give_up(refusal, o.wait, started.elapsed())?;
        progress(&format!("waiting: {refusal}"));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Deletes the Lambda version `arn` the retired build invoked, unless it stays
/// ([`lambda_version_keep_reason`], [`invoked_by_another_build`], [`lambda_delete_refusal`]):
/// (deleted, why kept).
async fn retire_lambda_version(
    conn: &Connection,
    aws: Option<&Aws>,
    o: &RetireOptions,
    build_id: &str,
    arn: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(bool, Option<String>), RetireError> {
    if let Some(why) = lambda_version_keep_reason(o.keep_lambda_version, arn) {
        return Ok((false, Some(why)));
    }
    let invokers = lambda_functions_of_deployment(conn, o).await?;
    if let Some(why) = invoked_by_another_build(arn, build_id, &invokers) {
        return Ok((false, Some(why)));
    }
    let aws = aws.ok_or_else(|| RetireError::NoAws {
        function: arn.to_string(),
    })?;
    let (name, qualifier) = match split_function_arn(arn) {
        Some((name, Some(qualifier))) => (name, qualifier),
        _ => unreachable!("lambda_version_keep_reason keeps an unqualified ARN"),
    };
    progress(&format!("reading Lambda version {arn}"));
    let refusal = match read_lambda_version(aws, name, qualifier).await? {
        None => Some("it was already deleted".into()),
        Some(facts) => lambda_delete_refusal(arn, &o.deployment_name, build_id, &facts),
    };
    if refusal.is_some() {
        return Ok((false, refusal));
    }
    progress(&format!("deleting Lambda version {arn}"));
    match aws
        .lambda
        .delete_function()
        .function_name(name)
        .qualifier(qualifier)
        .send()
        .await
    {
        Ok(_) => Ok((true, None)),
        Err(e) if crate::aws::error_code(&e).as_deref() == Some("ResourceNotFoundException") => {
            Ok((false, Some("it was already deleted".into())))
        }
        Err(e) => Err(AwsError::call("lambda:DeleteFunction", e).into()),
    }
}

/// What Lambda says about one published version (`GetFunctionConfiguration` with its
/// qualifier): what `lambda_delete_refusal` decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LambdaVersionFacts {
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
mod tests;
