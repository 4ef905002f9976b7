//! `deploy`: create or update the Lambda function, ask it which deployment version it is, and
//! publish one Lambda version per build ID (refusing different code under a used build ID).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, Runtime};
use serde::Serialize;

use crate::aws::{error_code, Aws, AwsError};

mod decide;
mod invoke;
mod secret;

pub use invoke::{check_function_connection, describe_function};
use secret::grant_secret_read;
use secret::secret_arn;
#[cfg(test)]
use secret::secret_read_policy;
pub use secret::SECRET_POLICY_NAME;

pub(crate) use decide::{
    check_build_id, function_change, readiness, reuse_published, same_code_version, FunctionChange,
    FunctionFacts, PublishedBuild, Readiness,
};
use decide::{lambda_timeout_secs, HANDLER};

pub use temporal_lambda_env::protocol::{
    describes_build, version_description, ConnectionCheck, Describe, BUILD_ID_TAG,
    CHECK_CONNECTION_PAYLOAD, DEPLOYMENT_TAG, DESCRIBE_PAYLOAD,
};
pub use temporal_lambda_temporal::connect::{connection_files, temporal_env};

/// Errors from `deploy`.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// AWS failure.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The zip is unusable.
    #[error("{0}")]
    BadPackage(String),
    /// Creating needs an execution role.
    #[error(
        "function {0} does not exist and creating it needs an execution role: pass \
         --execution-role ARN (a role trusting lambda.amazonaws.com with the \
         AWSLambdaBasicExecutionRole policy; not the role Temporal assumes to invoke it)"
    )]
    ExecutionRoleRequired(String),
    /// The function did not become Active / updated.
    #[error("function {function} is {state} after the update: {reason}. Fix: correct what the reason names (execution role, package, settings) and deploy again")]
    NotReady {
        /// Function.
        function: String,
        /// State.
        state: String,
        /// Reason.
        reason: String,
    },
    /// Timed out waiting.
    #[error("function {0} did not become Active within {1:?}; check it in the Lambda console")]
    WaitTimeout(String, Duration),
    /// The describe invocation failed.
    #[error(
        "the deployed code did not answer the describe request ({0}). The function fails to \
         start or is not built with temporal-lambda-worker; see its logs (temporal-lambda doctor)"
    )]
    DescribeFailed(String),
    /// Flag and code disagree.
    #[error(
        "--build-id {given} does not match the build ID compiled into the code ({actual}); \
         drop the flag or change the worker's build ID"
    )]
    BuildIdMismatch {
        /// From the flag.
        given: String,
        /// From the code.
        actual: String,
    },
    /// `TEMPORAL_API_KEY_SECRET_ARN` in the function's environment (`--api-key-secret-arn`, or
    /// `--env`) is not the ARN of a secret; the value is not repeated unless it is an ARN.
    #[error("{0}; nothing was changed. Fix: pass the secret's ARN with --api-key-secret-arn")]
    SecretArn(#[from] temporal_lambda_env::secret_arn::SecretArnError),
    /// Different code under a used build ID.
    #[error(
        "build ID {build_id} is already published as Lambda version {version} of {function} with \
         different code (CodeSha256 {old_sha} vs {new_sha}). One build ID must map to one code \
         version, or workflows pinned to it could run changed code. Fix: bump the build ID in \
         the worker (e.g. {build_id}-2), package and deploy again"
    )]
    BuildIdReused {
        /// Build ID.
        build_id: String,
        /// Existing version.
        version: String,
        /// Function.
        function: String,
        /// Old hash.
        old_sha: String,
        /// New hash.
        new_sha: String,
    },
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Function name.
    pub function_name: String,
    /// The `function.zip`.
    pub zip: PathBuf,
    /// Execution role (needed to create the function).
    pub execution_role: Option<String>,
    /// Function timeout.
    pub timeout: Duration,
    /// Memory, MB.
    pub memory_mb: i32,
    /// `x86_64` or `arm64`.
    pub arch: temporal_lambda_package::Arch,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Expected build ID (checked against the code's own answer).
    pub build_id: Option<String>,
    /// Files added to the zip before upload, `(name in the zip, source)`: the connection's TLS
    /// files at [`temporal_lambda_env::connection::zip_paths`] (see [`connection_files`]).
    pub files: Vec<(String, PathBuf)>,
}

/// Result of a deploy.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// Function name.
    pub function_name: String,
    /// Qualified ARN of the published version: use it in the compute config.
    pub function_arn: String,
    /// Lambda version number.
    pub version: String,
    /// Deployment name the code reports.
    pub deployment_name: String,
    /// Build ID the code reports.
    pub build_id: String,
    /// Task queue the code polls.
    pub task_queue: String,
    /// base64 SHA-256 of the package.
    pub code_sha256: String,
    /// Whether the function was created.
    pub created: bool,
    /// Whether new code was uploaded.
    pub code_updated: bool,
    /// Whether a new Lambda version was published (false: the build ID's version was reused).
    pub published: bool,
    /// Env var names set (values not shown).
    pub env_keys: Vec<String>,
    /// The execution role's inline policy that lets the function read its API key's secret.
    pub secret_grant: Option<String>,
}

/// Calls `deploy` would make, for `--dry-run`.
pub fn plan(opts: &DeployOptions) -> Vec<String> {
    let mut calls = vec![
        format!("lambda:GetFunction {}", opts.function_name),
        format!(
            "lambda:CreateFunction {} (runtime provided.al2023, handler bootstrap, {}, timeout {} s, \
             {} MB, env {}) if missing, else lambda:UpdateFunctionCode + \
             lambda:UpdateFunctionConfiguration when changed",
            opts.function_name,
            opts.arch.lambda_name(),
            opts.timeout.as_secs(),
            opts.memory_mb,
            opts.env.keys().cloned().collect::<Vec<_>>().join(",")
        ),
        format!(
            "lambda:Invoke {}:$LATEST RequestResponse {DESCRIBE_PAYLOAD} (read the build ID from the code)",
            opts.function_name
        ),
        format!("lambda:ListVersionsByFunction {}", opts.function_name),
        format!(
            "lambda:PublishVersion {} (description {BUILD_ID_TAG}<build-id>) unless that build ID's version has this code",
            opts.function_name
        ),
    ];
    if let Some(secret) = opts
        .env
        .get(temporal_lambda_env::connection::API_KEY_SECRET_ARN)
    {
        let secret = temporal_lambda_env::redacted_env_value(
            temporal_lambda_env::connection::API_KEY_SECRET_ARN,
            secret,
        );
        calls.insert(
            2,
            format!("iam:PutRolePolicy on the function's execution role ({SECRET_POLICY_NAME}: read {secret})"),
        );
    }
    calls
}

/// Waits until the function's `$LATEST` is Active with a successful last update.
pub async fn wait_ready(
    aws: &Aws,
    function: &str,
    progress: &dyn Fn(&str),
) -> Result<(), DeployError> {
    let limit = Duration::from_secs(300);
    let start = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let c = aws
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| AwsError::call("lambda:GetFunctionConfiguration", e))?;
        let state = c
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let update = c
            .last_update_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "Successful".into());
        match readiness(&state, &update) {
            Readiness::Ready => return Ok(()),
            Readiness::Failed => {
                return Err(DeployError::NotReady {
                    function: function.into(),
                    state: format!("{state}/{update}"),
                    reason: c
                        .last_update_status_reason()
                        .or(c.state_reason())
                        .unwrap_or("no reason given")
                        .to_string(),
                })
            }
            Readiness::Pending => {}
        }
        if start.elapsed() > limit {
            return Err(DeployError::WaitTimeout(function.into(), limit));
        }
        progress(&format!("waiting for {function}: {state}/{update}"));
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
}

/// Finds the published version recorded for `build_id`: (version, CodeSha256).
pub(crate) async fn version_for_build_id(
    aws: &Aws,
    function: &str,
    build_id: &str,
) -> Result<Option<(String, String)>, AwsError> {
    let tag = format!("{BUILD_ID_TAG}{build_id}");
    let mut marker: Option<String> = None;
    let mut found = None;
    loop {
        let out = aws
            .lambda
            .list_versions_by_function()
            .function_name(function)
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| AwsError::call("lambda:ListVersionsByFunction", e))?;
        for v in out.versions() {
            let ver = v.version().unwrap_or_default();
            if ver == "$LATEST" {
                continue;
            }
            let desc = v.description().unwrap_or_default();
            if desc.split_whitespace().any(|w| w == tag) {
                // Keep the newest.
                found = Some((
                    ver.to_string(),
                    v.code_sha256().unwrap_or_default().to_string(),
                ));
            }
        }
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    Ok(found)
}

/// Deploys, one step per function below: read the package; create or update the function
/// (`function_change`); let its execution role read the API key's secret; ask the code for its
/// build ID (`check_build_id`); publish the build ID's version or reuse it
/// (`same_code_version`, `reuse_published`).
pub async fn deploy(
    aws: &Aws,
    opts: &DeployOptions,
    progress: &dyn Fn(&str),
) -> Result<DeployReport, DeployError> {
    let secret = secret_arn(&opts.env)?;
    let package = read_package(opts)?;
    let change = put_function(aws, opts, &package, progress).await?;
    let secret_grant = match &secret {
        Some(secret) => {
            Some(grant_function_secret(aws, &opts.function_name, secret, progress).await?)
        }
        None => None,
    };
    let name = &opts.function_name;
    progress(&format!(
        "asking {name} which deployment version its code is"
    ));
    let describe = describe_function(aws, &format!("{name}:$LATEST")).await?;
    check_build_id(opts.build_id.as_deref(), &describe)?;
    let (version, function_arn, published) =
        publish_or_reuse(aws, opts, &package.sha, &describe, progress).await?;
    Ok(DeployReport {
        function_name: name.clone(),
        function_arn,
        version,
        deployment_name: describe.deployment_name,
        build_id: describe.build_id,
        task_queue: describe.task_queue,
        code_sha256: package.sha,
        created: matches!(change, FunctionChange::Create { .. }),
        code_updated: matches!(change, FunctionChange::Update { code: true, .. }),
        published,
        env_keys: opts.env.keys().cloned().collect(),
        secret_grant,
    })
}

/// The bytes uploaded (the zip plus `opts.files`) and their `CodeSha256`.
struct Package {
    bytes: Vec<u8>,
    sha: String,
}

impl Package {
    fn megabytes(&self) -> f64 {
        self.bytes.len() as f64 / 1e6
    }
}

/// Step 1: checks and reads the zip, adds the connection's files.
fn read_package(opts: &DeployOptions) -> Result<Package, DeployError> {
    temporal_lambda_package::check_zip_arch(&opts.zip, opts.arch)
        .map_err(DeployError::BadPackage)?;
    let mut bytes = std::fs::read(&opts.zip)
        .map_err(|e| DeployError::BadPackage(format!("cannot read {}: {e}", opts.zip.display())))?;
    if !opts.files.is_empty() {
        bytes = temporal_lambda_package::zip_with_files(&bytes, &opts.zip, &opts.files)
            .map_err(|e| DeployError::BadPackage(e.to_string()))?;
    }
    let sha = temporal_lambda_package::code_sha256(&bytes);
    Ok(Package { bytes, sha })
}

/// Step 2: reads the function, then creates it or updates what differs; waits until it is ready
/// after each change.
async fn put_function(
    aws: &Aws,
    opts: &DeployOptions,
    package: &Package,
    progress: &dyn Fn(&str),
) -> Result<FunctionChange, DeployError> {
    let name = &opts.function_name;
    progress(&format!("looking up function {name}"));
    let existing = function_facts(aws, name).await?;
    let change = function_change(existing.as_ref(), opts, &package.sha)?;
    match &change {
        FunctionChange::Create { execution_role } => {
            create_function(aws, opts, package, execution_role, progress).await?
        }
        FunctionChange::Update {
            code,
            configuration,
        } => {
            if *code {
                update_code(aws, opts, package, progress).await?;
            }
            if *configuration {
                update_configuration(aws, opts, progress).await?;
            }
        }
    }
    Ok(change)
}

/// The facts of a function configuration (`GetFunction`'s or `GetFunctionConfiguration`'s: the
/// same accessors on two types).
macro_rules! function_facts_of {
    ($c:expr) => {{
        let c = $c;
        FunctionFacts {
            function_arn: c.function_arn().unwrap_or_default().to_string(),
            code_sha256: c.code_sha256().map(str::to_string),
            architecture: c.architectures().first().map(|a| a.as_str().to_string()),
            timeout_secs: c.timeout(),
            memory_mb: c.memory_size(),
            env: c
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            handler: c.handler().map(str::to_string),
            role: c.role().map(str::to_string),
        }
    }};
}

/// `$LATEST`'s configuration; `None` when the function does not exist.
async fn function_facts(aws: &Aws, name: &str) -> Result<Option<FunctionFacts>, DeployError> {
    match aws.lambda.get_function().function_name(name).send().await {
        Ok(f) => Ok(f.configuration().map(|c| function_facts_of!(c))),
        Err(e) if error_code(&e).as_deref() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(AwsError::call("lambda:GetFunction", e).into()),
    }
}

/// `GetFunctionConfiguration` of `function` (any qualifier).
async fn configuration_facts(aws: &Aws, function: &str) -> Result<FunctionFacts, DeployError> {
    let c = aws
        .lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| AwsError::call("lambda:GetFunctionConfiguration", e))?;
    Ok(function_facts_of!(&c))
}

fn environment(opts: &DeployOptions) -> Environment {
    Environment::builder()
        .set_variables(Some(opts.env.clone().into_iter().collect()))
        .build()
}

async fn create_function(
    aws: &Aws,
    opts: &DeployOptions,
    package: &Package,
    execution_role: &str,
    progress: &dyn Fn(&str),
) -> Result<(), DeployError> {
    let name = &opts.function_name;
    progress(&format!(
        "creating function {name} ({:.1} MB package)",
        package.megabytes()
    ));
    aws.lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler(HANDLER)
        .role(execution_role)
        .architectures(Architecture::from(opts.arch.lambda_name()))
        .timeout(lambda_timeout_secs(opts.timeout))
        .memory_size(opts.memory_mb)
        .environment(environment(opts))
        .description("Temporal serverless worker (deployed by temporal-lambda)")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(package.bytes.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::call("lambda:CreateFunction", e))?;
    wait_ready(aws, name, progress).await
}

async fn update_code(
    aws: &Aws,
    opts: &DeployOptions,
    package: &Package,
    progress: &dyn Fn(&str),
) -> Result<(), DeployError> {
    let name = &opts.function_name;
    progress(&format!(
        "uploading new code to {name} ({:.1} MB)",
        package.megabytes()
    ));
    aws.lambda
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(package.bytes.clone()))
        .architectures(Architecture::from(opts.arch.lambda_name()))
        .send()
        .await
        .map_err(|e| AwsError::call("lambda:UpdateFunctionCode", e))?;
    wait_ready(aws, name, progress).await
}

async fn update_configuration(
    aws: &Aws,
    opts: &DeployOptions,
    progress: &dyn Fn(&str),
) -> Result<(), DeployError> {
    let name = &opts.function_name;
    progress(&format!("updating configuration of {name}"));
    aws.lambda
        .update_function_configuration()
        .function_name(name)
        .handler(HANDLER)
        .runtime(Runtime::Providedal2023)
        .timeout(lambda_timeout_secs(opts.timeout))
        .memory_size(opts.memory_mb)
        .environment(environment(opts))
        .set_role(opts.execution_role.clone())
        .send()
        .await
        .map_err(|e| AwsError::call("lambda:UpdateFunctionConfiguration", e))?;
    wait_ready(aws, name, progress).await
}

/// Step 3: lets the function's execution role read the API key's secret.
async fn grant_function_secret(
    aws: &Aws,
    name: &str,
    secret: &temporal_lambda_env::secret_arn::SecretArn,
    progress: &dyn Fn(&str),
) -> Result<String, DeployError> {
    let role = configuration_facts(aws, name)
        .await?
        .role
        .unwrap_or_default();
    progress(&format!("letting {role} read {secret}"));
    grant_secret_read(aws, &role, secret).await
}

/// Step 5: reuses the build ID's version when it holds this code and configuration, refuses
/// when it holds other code, else publishes one. (version, qualified ARN, published).
async fn publish_or_reuse(
    aws: &Aws,
    opts: &DeployOptions,
    sha: &str,
    describe: &Describe,
    progress: &dyn Fn(&str),
) -> Result<(String, String, bool), DeployError> {
    let name = &opts.function_name;
    let published = version_for_build_id(aws, name, &describe.build_id)
        .await?
        .map(|(version, code_sha256)| PublishedBuild {
            version,
            code_sha256,
        });
    if let Some(v) = same_code_version(name, &describe.build_id, published, sha)? {
        // Its configuration holds its ARN too: no extra lookup.
        let facts = configuration_facts(aws, &format!("{name}:{v}")).await?;
        if reuse_published(&facts, opts) {
            return Ok((v, facts.function_arn, false));
        }
    }
    let (version, arn) = publish(aws, name, sha, describe, progress).await?;
    Ok((version, arn, true))
}

/// Publishes `$LATEST` (guarded by `sha`) for `d`'s build ID; returns (version, qualified ARN).
async fn publish(
    aws: &Aws,
    name: &str,
    sha: &str,
    d: &Describe,
    progress: &dyn Fn(&str),
) -> Result<(String, String), DeployError> {
    progress(&format!(
        "publishing a Lambda version for build ID {}",
        d.build_id
    ));
    let out = aws
        .lambda
        .publish_version()
        .function_name(name)
        .code_sha256(sha)
        .description(version_description(&d.build_id, &d.deployment_name))
        .send()
        .await
        .map_err(|e| AwsError::call("lambda:PublishVersion", e))?;
    Ok((
        out.version().unwrap_or_default().to_string(),
        out.function_arn().unwrap_or_default().to_string(),
    ))
}

#[cfg(test)]
mod tests;
