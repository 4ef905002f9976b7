//! `ship`: package → deploy → invocation role → register → set current → verify, in one command.
//!
//! Resumable: every step is idempotent (the zip is deterministic, `deploy` reuses the Lambda
//! version of an unchanged build ID, the role stack is updated in place, `register` leaves an
//! identical compute config alone, `set-current` is a no-op on the current version), and the
//! choices a rerun must repeat (generated external ID, role ARN) are kept in a small state file,
//! so running `ship` again after a failure picks up where it stopped without duplicating anything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use temporalio_client::Connection;

use crate::aws::Aws;
use crate::compute::LambdaTarget;
use crate::connect::ConnectArgs;
use crate::deployment::{self, RegisterOptions, RegisterReport};
use crate::iam::{self, StackOptions, StackReport, Trust};
use crate::identifiers::{ExternalId, FunctionArn, RoleArn};
use crate::lambda_deploy::{self, DeployOptions, DeployReport};
use crate::rollout::RoutingReport;
use crate::verify::{self, VerifyOptions, VerifyReport};

/// Where the invocation role comes from.
#[derive(Debug, Clone)]
pub enum RoleSource {
    /// An existing role and its external ID.
    Existing {
        /// Role ARN.
        role_arn: RoleArn,
        /// External ID.
        external_id: ExternalId,
    },
    /// Create (or update) a CloudFormation stack.
    Stack {
        /// Stack name.
        stack_name: String,
        /// Trust variant.
        trust: Trust,
        /// External ID (generated and remembered if `None`).
        external_id: Option<ExternalId>,
    },
}

/// The workflow `verify` starts.
#[derive(Debug, Clone)]
pub struct VerifySpec {
    /// Workflow type.
    pub workflow_type: String,
    /// Arguments.
    pub input: Vec<serde_json::Value>,
    /// How long to wait.
    pub timeout: std::time::Duration,
}

/// Everything `ship` does.
#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// Build options; `None` when `zip` is given ready-made.
    pub build: Option<temporal_lambda_package::BuildOptions>,
    /// Zip path (output of packaging, or input).
    pub zip: PathBuf,
    /// Deploy options (its `zip` is overwritten with `zip`).
    pub deploy: DeployOptions,
    /// Invocation role.
    pub role: RoleSource,
    /// Temporal connection.
    pub conn: ConnectArgs,
    /// Verify with this workflow (skipped if `None`).
    pub verify: Option<VerifySpec>,
    /// State file.
    pub state_file: PathBuf,
    /// Extra files at the zip root (`temporal.toml`, certificates), as `package --include`.
    pub include: Vec<PathBuf>,
    /// Change the stack's external ID to the one given and re-register the deployment's
    /// versions that use the role; without it a different ID is refused.
    pub rotate_external_id: bool,
    /// Ramp the new build to this share of new workflows (`rollout`) instead of making it
    /// current; the current build keeps the rest. Needs a current build to ramp from.
    pub ramp_percent: Option<f32>,
}

/// Remembered between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ShipState {
    /// Generated/used external ID.
    pub external_id: Option<String>,
    /// Role ARN from the stack.
    pub role_arn: Option<String>,
    /// Last qualified function ARN.
    pub function_arn: Option<String>,
    /// Steps completed in the last run.
    pub completed: Vec<String>,
}

impl ShipState {
    /// Loads the state file (empty state if missing).
    pub(crate) fn load(path: &Path) -> ShipState {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, path: &Path) -> Result<(), ShipError> {
        // 0600 in a 0700 directory: it holds the external ID.
        temporal_lambda_package::write_private(
            path,
            &serde_json::to_vec_pretty(self).expect("state serializes"),
        )
        .map_err(|e| ShipError::State(path.into(), e))
    }
}

/// Errors: which step failed and why; rerunning resumes.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// A step failed.
    #[error("step `{step}` failed: {message}\n(fix the cause and run `temporal-lambda ship` again: finished steps are not repeated)")]
    Step {
        /// Step name.
        step: &'static str,
        /// Error.
        message: String,
    },
    /// The state file could not be written.
    #[error("cannot write the ship state file {0}: {1}")]
    State(PathBuf, std::io::Error),
}

fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> ShipError {
    move |e| ShipError::Step {
        step,
        message: e.to_string(),
    }
}

/// What `ship` did.
#[derive(Debug, Clone, Serialize)]
pub struct ShipReport {
    /// Package.
    pub package: Option<temporal_lambda_package::ZipInfo>,
    /// Deploy.
    pub deploy: DeployReport,
    /// Role stack (when created here).
    pub stack: Option<StackReport>,
    /// Role ARN used.
    pub role_arn: String,
    /// Register.
    pub register: RegisterReport,
    /// The ramp, with `ramp_percent`.
    pub ramp: Option<RoutingReport>,
    /// Verify.
    pub verify: Option<VerifyReport>,
}

/// Every AWS and Temporal call `ship` would make, for `--dry-run` (no call is made).
pub fn plan(o: &ShipOptions) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(b) = &o.build {
        out.push(format!(
            "local: cargo {} ; zip -> {}",
            b.cargo_args().join(" "),
            o.zip.display()
        ));
    }
    out.extend(
        lambda_deploy::plan(&o.deploy)
            .into_iter()
            .map(|s| format!("aws: {s}")),
    );
    match &o.role {
        RoleSource::Existing { role_arn, .. } => {
            out.push(format!("(role) use existing {role_arn}"))
        }
        RoleSource::Stack {
            stack_name,
            trust,
            external_id,
        } => {
            let so = StackOptions {
                stack_name: stack_name.clone(),
                trust: trust.clone(),
                external_id: external_id
                    .clone()
                    .unwrap_or_else(|| "generated-external-id".parse().expect("valid")),
                function_arns: vec![format!(
                    "arn:aws:lambda:<region>:<account>:function:{0}, …:{0}:*",
                    o.deploy.function_name
                )],
                role_name: None,
            };
            out.extend(iam::plan(&so).into_iter().map(|s| format!("aws: {s}")));
        }
    }
    out.push(format!(
        "temporal ({}, namespace {}): DescribeWorkerDeployment / CreateWorkerDeployment <deployment name from the code>",
        o.conn.address, o.conn.namespace
    ));
    out.push("temporal: CreateWorkerDeploymentVersion <deployment>:<build ID> with compute config aws-lambda {arn: <qualified ARN>, role, role_external_id} (or UpdateWorkerDeploymentVersionComputeConfig)".into());
    out.push(match o.ramp_percent {
        None => "temporal: SetWorkerDeploymentCurrentVersion <deployment>:<build ID>".into(),
        Some(p) => {
            format!("temporal: SetWorkerDeploymentRampingVersion <deployment>:<build ID> {p} %")
        }
    });
    if let Some(v) = &o.verify {
        out.push(format!(
            "temporal: StartWorkflowExecution {} on the code's task queue; wait up to {:?} for the result",
            v.workflow_type, v.timeout
        ));
    }
    out
}

/// Runs the whole flow, one function per numbered step; each finished step is recorded in the
/// state file so that a rerun after a failure says where it stopped.
pub async fn ship(
    aws: &Aws,
    o: &ShipOptions,
    progress: &dyn Fn(&str),
) -> Result<ShipReport, ShipError> {
    let mut state = ShipState::load(&o.state_file);
    state.completed.clear();
    let package = package_step(o, &mut state, progress)?;
    let deployed = deploy_step(aws, o, &mut state, progress).await?;
    let role = role_step(aws, o, &deployed, &mut state, progress).await?;
    progress("register: connecting to Temporal");
    let conn = o.conn.connect().await.map_err(step("register"))?;
    let register = register_step(&conn, o, &deployed, &role, &mut state, progress).await?;
    let ramp = route_step(&conn, o, &deployed, &mut state, progress).await?;
    if let Some(old) = &role.rotated_from {
        rotate_step(&conn, o, &deployed, &role, old, &mut state, progress).await?;
    }
    let verify = verify_step(&conn, o, &deployed, &mut state, progress).await?;
    Ok(ShipReport {
        package,
        deploy: deployed,
        stack: role.stack,
        role_arn: role.role_arn.to_string(),
        register,
        ramp,
        verify,
    })
}

impl ShipState {
    /// Records a finished step in the state file.
    fn done(&mut self, step: &str, path: &Path) -> Result<(), ShipError> {
        self.completed.push(step.to_string());
        self.save(path)
    }
}

/// 1. package: build for Lambda, check glibc, zip (skipped with a ready-made zip).
fn package_step(
    o: &ShipOptions,
    state: &mut ShipState,
    progress: &dyn Fn(&str),
) -> Result<Option<temporal_lambda_package::ZipInfo>, ShipError> {
    let Some(b) = &o.build else {
        return Ok(None);
    };
    progress("package: building for Lambda (cargo zigbuild)");
    let bin = temporal_lambda_package::build(b, &mut |line| {
        if line.starts_with("Compiling") || line.starts_with("Finished") {
            progress(&format!("package: {line}"));
        }
    })
    .map_err(step("package"))?;
    temporal_lambda_package::check_glibc(&bin, temporal_lambda_package::max_glibc(b.arch))
        .map_err(step("package"))?;
    let z = temporal_lambda_package::zip_bootstrap(&bin, &o.include, &o.zip)
        .map_err(step("package"))?;
    state.done("package", &o.state_file)?;
    Ok(Some(z))
}

/// 2. deploy: the Lambda function and the build ID's published version.
async fn deploy_step(
    aws: &Aws,
    o: &ShipOptions,
    state: &mut ShipState,
    progress: &dyn Fn(&str),
) -> Result<DeployReport, ShipError> {
    let mut dopts = o.deploy.clone();
    dopts.zip = o.zip.clone();
    let deployed = lambda_deploy::deploy(aws, &dopts, &|m| progress(&format!("deploy: {m}")))
        .await
        .map_err(step("deploy"))?;
    state.function_arn = Some(deployed.function_arn.clone());
    state.done("deploy", &o.state_file)?;
    Ok(deployed)
}

/// The invocation role `ship` registers with, and what the role step did.
struct Role {
    /// The published version's ARN.
    function_arn: FunctionArn,
    role_arn: RoleArn,
    external_id: ExternalId,
    /// The role stack, when `ship` created or updated it.
    stack: Option<StackReport>,
    /// The stack's previous external ID, when `--rotate-external-id` changed it.
    rotated_from: Option<ExternalId>,
}

/// The function's unqualified ARN (the role stack allows it and all its versions).
pub(crate) fn unqualified_function_arn(fa: &FunctionArn) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{}",
        fa.region, fa.account, fa.name
    )
}

/// The stack's external ID before this run, when the one chosen now differs (a rotation).
pub(crate) fn rotated_from(current: Option<ExternalId>, chosen: &ExternalId) -> Option<ExternalId> {
    current.filter(|c| c.as_str() != chosen.as_str())
}

/// 3. iam: an existing role, or the role stack (its external ID chosen and remembered).
async fn role_step(
    aws: &Aws,
    o: &ShipOptions,
    deployed: &DeployReport,
    state: &mut ShipState,
    progress: &dyn Fn(&str),
) -> Result<Role, ShipError> {
    let function_arn: FunctionArn = deployed.function_arn.parse().map_err(step("deploy"))?;
    let role = match &o.role {
        RoleSource::Existing {
            role_arn,
            external_id,
        } => Role {
            function_arn,
            role_arn: role_arn.clone(),
            external_id: external_id.clone(),
            stack: None,
            rotated_from: None,
        },
        RoleSource::Stack {
            stack_name,
            trust,
            external_id,
        } => {
            let remembered: Option<ExternalId> = state
                .external_id
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(step("iam"))?;
            let current = iam::stack_external_id(aws, stack_name)
                .await
                .map_err(step("iam"))?;
            let (ext, _) = iam::choose_external_id(
                aws,
                stack_name,
                external_id.as_ref(),
                remembered.as_ref(),
                o.rotate_external_id,
            )
            .await
            .map_err(step("iam"))?;
            state.external_id = Some(ext.as_str().to_string());
            state.save(&o.state_file)?;
            let base = unqualified_function_arn(&function_arn);
            let so = StackOptions {
                stack_name: stack_name.clone(),
                trust: trust.clone(),
                external_id: ext.clone(),
                function_arns: vec![base.clone(), format!("{base}:*")],
                role_name: None,
            };
            let r = iam::create_stack(aws, &so, &|m| progress(&format!("iam: {m}")))
                .await
                .map_err(step("iam"))?;
            state.role_arn = Some(r.role_arn.clone());
            Role {
                function_arn,
                role_arn: r.role_arn.parse().map_err(step("iam"))?,
                rotated_from: rotated_from(current, &ext),
                external_id: ext,
                stack: Some(r),
            }
        }
    };
    state.done("iam", &o.state_file)?;
    Ok(role)
}

/// 4. register (and set current, unless ramping).
async fn register_step(
    conn: &Connection,
    o: &ShipOptions,
    deployed: &DeployReport,
    role: &Role,
    state: &mut ShipState,
    progress: &dyn Fn(&str),
) -> Result<RegisterReport, ShipError> {
    progress(&format!(
        "register: {}:{} -> {} (the server validates the role and function)",
        deployed.deployment_name, deployed.build_id, deployed.function_arn
    ));
    let register = deployment::register(
        conn,
        &RegisterOptions {
            namespace: o.conn.namespace.clone(),
            deployment_name: deployed.deployment_name.clone(),
            build_id: deployed.build_id.clone(),
            target: LambdaTarget {
                function_arn: role.function_arn.clone(),
                role_arn: role.role_arn.clone(),
                external_id: role.external_id.clone(),
            },
            update: true,
            set_current: o.ramp_percent.is_none(),
        },
    )
    .await
    .map_err(step("register"))?;
    state.done("register", &o.state_file)?;
    Ok(register)
}

/// 4b. set current (done by register) or, with `ramp_percent`, ramp the build.
async fn route_step(
    conn: &Connection,
    o: &ShipOptions,
    deployed: &DeployReport,
    state: &mut ShipState,
    progress: &dyn Fn(&str),
) -> Result<Option<RoutingReport>, ShipError> {
    let Some(percent) = o.ramp_percent else {
        state.done("set-current", &o.state_file)?;
        return Ok(None);
    };
    progress(&format!(
        "rollout: {}:{} gets {percent} % of new workflows",
        deployed.deployment_name, deployed.build_id
    ));
    let r = crate::rollout::ramp(
        conn,
        &o.conn.namespace,
        &deployed.deployment_name,
        &deployed.build_id,
        percent,
        false,
    )
    .await
    .map_err(step("rollout"))?;
    state.done("rollout", &o.state_file)?;
    Ok(Some(r))
}

/// 4c. after a rotation: the deployment's other versions that use the role get the new ID.
async fn rotate_step(
    conn: &Connection,
    o: &ShipOptions,
    deployed: &DeployReport,
    role: &Role,
    old: &ExternalId,
    state: &mut ShipState,
    progress: &dyn Fn(&str),
) -> Result<(), ShipError> {
    let n = deployment::update_role_external_id(
        conn,
        &o.conn.namespace,
        &deployed.deployment_name,
        role.role_arn.as_str(),
        old.as_str(),
        &role.external_id,
    )
    .await
    .map_err(step("rotate-external-id"))?;
    progress(&format!(
        "rotate-external-id: {n} other version(s) of {} now use the new external ID",
        deployed.deployment_name
    ));
    state.done("rotate-external-id", &o.state_file)
}

/// 5. verify: run a workflow through the server, which invokes the function.
async fn verify_step(
    conn: &Connection,
    o: &ShipOptions,
    deployed: &DeployReport,
    state: &mut ShipState,
    progress: &dyn Fn(&str),
) -> Result<Option<VerifyReport>, ShipError> {
    let Some(v) = &o.verify else {
        return Ok(None);
    };
    progress(&format!(
        "verify: starting {} on {}; the server invokes the function",
        v.workflow_type, deployed.task_queue
    ));
    let r = verify::verify(
        conn,
        &VerifyOptions {
            namespace: o.conn.namespace.clone(),
            task_queue: deployed.task_queue.clone(),
            workflow_type: v.workflow_type.clone(),
            workflow_id: None,
            input: v.input.clone(),
            timeout: v.timeout,
        },
    )
    .await
    .map_err(step("verify"))?;
    state.done("verify", &o.state_file)?;
    Ok(Some(r))
}

#[cfg(test)]
mod tests;
