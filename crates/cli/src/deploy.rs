//! `deploy`: create or update the Lambda function, ask it which deployment version it is, and
//! publish one Lambda version per build ID (refusing different code under a used build ID).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, InvocationType, Runtime};
use serde::{Deserialize, Serialize};

use crate::aws::{error_code, Aws, AwsError};

/// Payload the worker library answers with its [`Describe`] (see `temporal-lambda-worker`).
pub const DESCRIBE_PAYLOAD: &str = r#"{"temporal_lambda":"describe"}"#;

/// Payload that makes the worker connect with its own settings and report the outcome.
pub const CHECK_CONNECTION_PAYLOAD: &str = r#"{"temporal_lambda":"check_connection"}"#;

/// What the worker answers to [`CHECK_CONNECTION_PAYLOAD`] (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    /// Connected and the server accepted the credentials.
    pub ok: bool,
    /// Address.
    #[serde(default)]
    pub address: String,
    /// TLS on.
    #[serde(default)]
    pub tls: bool,
    /// A server CA is configured.
    #[serde(default)]
    pub server_ca_cert: bool,
    /// Server-name override.
    #[serde(default)]
    pub server_name: Option<String>,
    /// mTLS client certificate configured.
    #[serde(default)]
    pub client_cert: bool,
    /// `none`, `environment` or `secret`.
    #[serde(default)]
    pub api_key: String,
    /// Connect time, ms.
    #[serde(default)]
    pub connect_ms: u64,
    /// The failure and its fix.
    #[serde(default)]
    pub error: Option<String>,
}

/// Asks the function to connect with its own settings ([`CHECK_CONNECTION_PAYLOAD`]).
pub async fn check_function_connection(
    aws: &Aws,
    function: &str,
) -> Result<ConnectionCheck, DeployError> {
    let body = invoke_json(aws, function, CHECK_CONNECTION_PAYLOAD).await?;
    serde_json::from_str(&body).map_err(|_| {
        DeployError::DescribeFailed(format!(
            "unexpected answer to the connection check (a worker library older than check_connection?): {}",
            body.chars().take(200).collect::<String>()
        ))
    })
}

/// Prefix of the Lambda version description that records the build ID.
pub const BUILD_ID_TAG: &str = "temporal-build-id=";

/// Prefix of the Lambda version description that records the Worker Deployment name.
pub const DEPLOYMENT_TAG: &str = "temporal-deployment=";

/// The description this toolkit publishes a Lambda version with: the build ID and deployment
/// name it runs ([`BUILD_ID_TAG`], [`DEPLOYMENT_TAG`]). `deploy` finds a build's version by it,
/// and `retire` deletes only a version that carries it for the build retired.
pub fn version_description(build_id: &str, deployment_name: &str) -> String {
    format!("{BUILD_ID_TAG}{build_id} {DEPLOYMENT_TAG}{deployment_name} (temporal-lambda)")
}

/// Whether a Lambda version's description is [`version_description`]`(build_id,
/// deployment_name)`'s: both tags present, with these values.
pub fn describes_build(description: &str, build_id: &str, deployment_name: &str) -> bool {
    let words: Vec<&str> = description.split_whitespace().collect();
    words.contains(&format!("{BUILD_ID_TAG}{build_id}").as_str())
        && words.contains(&format!("{DEPLOYMENT_TAG}{deployment_name}").as_str())
}

/// What a function built with `temporal-lambda-worker` says about itself (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Describe {
    /// Library name.
    #[serde(default)]
    pub library: String,
    /// Library version.
    #[serde(default)]
    pub library_version: String,
    /// Deployment name compiled in.
    pub deployment_name: String,
    /// Build ID compiled in.
    pub build_id: String,
    /// Task queue.
    #[serde(default)]
    pub task_queue: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Address.
    #[serde(default)]
    pub address: String,
    /// Shutdown buffer, ms.
    #[serde(default)]
    pub shutdown_deadline_buffer_ms: u64,
    /// Workflow types the code registers.
    #[serde(default)]
    pub workflow_types: Vec<String>,
}

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
    #[error("function {function} is {state} after the update: {reason}")]
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

/// The secret the function reads its API key from, checked by the one ARN rule before anything
/// is written (the argument parser already checked `--api-key-secret-arn`; this also covers
/// `--env` and callers of the library).
fn secret_arn(
    env: &BTreeMap<String, String>,
) -> Result<Option<temporal_lambda_env::secret_arn::SecretArn>, DeployError> {
    Ok(env
        .get(temporal_lambda_env::connection::API_KEY_SECRET_ARN)
        .map(|v| temporal_lambda_env::secret_arn::SecretArn::parse(v))
        .transpose()?)
}

fn env_differs(
    current: Option<&aws_sdk_lambda::types::EnvironmentResponse>,
    want: &BTreeMap<String, String>,
) -> bool {
    let have: BTreeMap<String, String> = current
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    have != *want
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
        match (state.as_str(), update.as_str()) {
            ("Active", "Successful") | ("", "Successful") => return Ok(()),
            ("Failed", _) | (_, "Failed") => {
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
            _ => {}
        }
        if start.elapsed() > limit {
            return Err(DeployError::WaitTimeout(function.into(), limit));
        }
        progress(&format!("waiting for {function}: {state}/{update}"));
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
}

/// Invokes `function` (any qualifier) with the describe payload and parses the answer.
pub async fn describe_function(aws: &Aws, function: &str) -> Result<Describe, DeployError> {
    let body = invoke_json(aws, function, DESCRIBE_PAYLOAD).await?;
    serde_json::from_str(&body).map_err(|_| {
        DeployError::DescribeFailed(format!(
            "unexpected answer {}",
            body.chars().take(200).collect::<String>()
        ))
    })
}

/// Invokes `function` synchronously with `payload`; its answer, or the function error.
async fn invoke_json(aws: &Aws, function: &str, payload: &str) -> Result<String, DeployError> {
    let out = aws
        .lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload.to_owned()))
        .send()
        .await
        .map_err(|e| DeployError::DescribeFailed(crate::aws::describe_sdk_error(&e)))?;
    let body = out
        .payload()
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .unwrap_or_default();
    if let Some(fe) = out.function_error() {
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let t = v.get("errorType")?.as_str()?.to_string();
                let m = v.get("errorMessage").and_then(|m| m.as_str()).unwrap_or("");
                Some(format!("{t}: {m}"))
            })
            .unwrap_or(body.clone());
        return Err(DeployError::DescribeFailed(format!("{fe} error: {msg}")));
    }
    Ok(body)
}

/// Finds the published version recorded for `build_id`: (version, CodeSha256).
pub async fn version_for_build_id(
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

/// Deploys: create/update, wait, describe, publish (or reuse) the build ID's version.
pub async fn deploy(
    aws: &Aws,
    opts: &DeployOptions,
    progress: &dyn Fn(&str),
) -> Result<DeployReport, DeployError> {
    let secret = secret_arn(&opts.env)?;
    temporal_lambda_package::check_zip(&opts.zip).map_err(DeployError::BadPackage)?;
    let mut bytes = std::fs::read(&opts.zip)
        .map_err(|e| DeployError::BadPackage(format!("cannot read {}: {e}", opts.zip.display())))?;
    if !opts.files.is_empty() {
        bytes = temporal_lambda_package::zip_with_files(&bytes, &opts.zip, &opts.files)
            .map_err(|e| DeployError::BadPackage(e.to_string()))?;
    }
    let sha = temporal_lambda_package::code_sha256(&bytes);
    let arch = Architecture::from(opts.arch.lambda_name());
    let env = Environment::builder()
        .set_variables(Some(opts.env.clone().into_iter().collect()))
        .build();
    let name = &opts.function_name;
    progress(&format!("looking up function {name}"));
    let existing = match aws.lambda.get_function().function_name(name).send().await {
        Ok(f) => Some(f),
        Err(e) if error_code(&e).as_deref() == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(AwsError::call("lambda:GetFunction", e).into()),
    };
    let mut created = false;
    let mut code_updated = false;
    match existing.as_ref().and_then(|f| f.configuration()) {
        None => {
            let role = opts
                .execution_role
                .clone()
                .ok_or_else(|| DeployError::ExecutionRoleRequired(name.clone()))?;
            progress(&format!(
                "creating function {name} ({:.1} MB package)",
                bytes.len() as f64 / 1e6
            ));
            aws.lambda
                .create_function()
                .function_name(name)
                .runtime(Runtime::Providedal2023)
                .handler("bootstrap")
                .role(role)
                .architectures(arch.clone())
                .timeout(lambda_timeout_secs(opts.timeout))
                .memory_size(opts.memory_mb)
                .environment(env.clone())
                .description("Temporal serverless worker (deployed by temporal-lambda)")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(Blob::new(bytes.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| AwsError::call("lambda:CreateFunction", e))?;
            created = true;
            wait_ready(aws, name, progress).await?;
        }
        Some(cfg) => {
            if cfg.code_sha256() != Some(sha.as_str()) || cfg.architectures().first() != Some(&arch)
            {
                progress(&format!(
                    "uploading new code to {name} ({:.1} MB)",
                    bytes.len() as f64 / 1e6
                ));
                aws.lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(bytes.clone()))
                    .architectures(arch.clone())
                    .send()
                    .await
                    .map_err(|e| AwsError::call("lambda:UpdateFunctionCode", e))?;
                code_updated = true;
                wait_ready(aws, name, progress).await?;
            }
            let role_differs = opts
                .execution_role
                .as_deref()
                .is_some_and(|r| cfg.role() != Some(r));
            if cfg.timeout() != Some(lambda_timeout_secs(opts.timeout))
                || cfg.memory_size() != Some(opts.memory_mb)
                || env_differs(cfg.environment(), &opts.env)
                || cfg.handler() != Some("bootstrap")
                || role_differs
            {
                progress(&format!("updating configuration of {name}"));
                aws.lambda
                    .update_function_configuration()
                    .function_name(name)
                    .handler("bootstrap")
                    .runtime(Runtime::Providedal2023)
                    .timeout(lambda_timeout_secs(opts.timeout))
                    .memory_size(opts.memory_mb)
                    .environment(env.clone())
                    .set_role(opts.execution_role.clone())
                    .send()
                    .await
                    .map_err(|e| AwsError::call("lambda:UpdateFunctionConfiguration", e))?;
                wait_ready(aws, name, progress).await?;
            }
        }
    }
    let secret_grant = match &secret {
        Some(secret) => {
            let role = aws
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(|e| AwsError::call("lambda:GetFunctionConfiguration", e))?
                .role()
                .unwrap_or_default()
                .to_string();
            progress(&format!("letting {role} read {secret}"));
            Some(grant_secret_read(aws, &role, secret).await?)
        }
        None => None,
    };
    progress(&format!(
        "asking {name} which deployment version its code is"
    ));
    let describe = describe_function(aws, &format!("{name}:$LATEST")).await?;
    if let Some(given) = &opts.build_id {
        if *given != describe.build_id {
            return Err(DeployError::BuildIdMismatch {
                given: given.clone(),
                actual: describe.build_id,
            });
        }
    }
    let build_id = describe.build_id.clone();
    let existing = version_for_build_id(aws, name, &build_id).await?;
    // Both paths already hold the version's configuration: no extra lookup for its ARN.
    let ((version, function_arn), published) = match existing {
        Some((v, old_sha)) if old_sha == sha => {
            // Same code: reuse unless the configuration changed since (then publish a new
            // version of the same code; register --update points the deployment version at it).
            let latest = aws
                .lambda
                .get_function_configuration()
                .function_name(format!("{name}:{v}"))
                .send()
                .await
                .map_err(|e| AwsError::call("lambda:GetFunctionConfiguration", e))?;
            if latest.timeout() == Some(lambda_timeout_secs(opts.timeout))
                && latest.memory_size() == Some(opts.memory_mb)
                && !env_differs(latest.environment(), &opts.env)
            {
                let arn = latest.function_arn().unwrap_or_default().to_string();
                ((v, arn), false)
            } else {
                (publish(aws, name, &sha, &describe, progress).await?, true)
            }
        }
        Some((v, old_sha)) => {
            return Err(DeployError::BuildIdReused {
                build_id,
                version: v,
                function: name.clone(),
                old_sha,
                new_sha: sha,
            })
        }
        None => (publish(aws, name, &sha, &describe, progress).await?, true),
    };
    Ok(DeployReport {
        function_name: name.clone(),
        function_arn,
        version,
        deployment_name: describe.deployment_name,
        build_id,
        task_queue: describe.task_queue,
        code_sha256: sha,
        created,
        code_updated,
        published,
        env_keys: opts.env.keys().cloned().collect(),
        secret_grant,
    })
}

/// Name of the inline policy `deploy` puts on the execution role to read the API key's secret.
pub const SECRET_POLICY_NAME: &str = "temporal-lambda-api-key-secret";

/// The policy that lets a role read `secret`: `secretsmanager:GetSecretValue` on the secret,
/// or `ssm:GetParameter` on the parameter plus `kms:Decrypt` through SSM (SecureString).
pub fn secret_read_policy(
    secret: &temporal_lambda_env::secret_arn::SecretArn,
) -> serde_json::Value {
    use temporal_lambda_env::secret_arn::SecretService;
    let arn = secret.as_str();
    let statements = match secret.service() {
        SecretService::SecretsManager => serde_json::json!([{
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": arn,
        }]),
        SecretService::SsmParameter => serde_json::json!([
            {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": arn},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": format!("ssm.{}.amazonaws.com", secret.region())}}},
        ]),
    };
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// Puts [`SECRET_POLICY_NAME`] on the execution role `role_arn` so the function can read
/// `secret_arn`; returns the policy name. Idempotent.
pub async fn grant_secret_read(
    aws: &Aws,
    role_arn: &str,
    secret_arn: &temporal_lambda_env::secret_arn::SecretArn,
) -> Result<String, DeployError> {
    let doc = secret_read_policy(secret_arn);
    let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    aws.iam
        .put_role_policy()
        .role_name(role_name)
        .policy_name(SECRET_POLICY_NAME)
        .policy_document(doc.to_string())
        .send()
        .await
        .map_err(|e| AwsError::call("iam:PutRolePolicy", e))?;
    Ok(SECRET_POLICY_NAME.to_string())
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

/// Env for the function from Temporal connection settings (values may be secret: print keys only).
pub fn temporal_env(
    conn: &crate::connect::ConnectArgs,
    task_queue: Option<&str>,
    extra: &[(String, String)],
) -> BTreeMap<String, String> {
    use temporal_lambda_env::connection::{self as c, zip_paths};
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), "/tmp".to_string());
    env.insert(c::ADDRESS.to_string(), conn.address.clone());
    env.insert(c::NAMESPACE.to_string(), conn.namespace.clone());
    match &conn.api_key_secret_arn {
        Some(arn) => {
            env.insert(c::API_KEY_SECRET_ARN.to_string(), arn.as_str().to_string());
        }
        None => {
            if let Some(k) = &conn.api_key {
                env.insert(c::API_KEY.to_string(), k.clone());
            }
        }
    }
    if conn.tls.is_some() || conn.tls_enabled() {
        env.insert(c::TLS.to_string(), conn.tls_enabled().to_string());
    }
    if let Some(n) = &conn.tls_server_name {
        env.insert(c::TLS_SERVER_NAME.to_string(), n.clone());
    }
    // The files themselves are packaged at these paths by `deploy` (see `connection_files`).
    if conn.tls_ca_path.is_some() {
        env.insert(
            c::TLS_SERVER_CA_CERT_PATH.to_string(),
            zip_paths::SERVER_CA_CERT.to_string(),
        );
    }
    if conn.tls_cert_path.is_some() {
        env.insert(
            c::TLS_CLIENT_CERT_PATH.to_string(),
            zip_paths::CLIENT_CERT.to_string(),
        );
    }
    if conn.tls_key_path.is_some() {
        env.insert(
            c::TLS_CLIENT_KEY_PATH.to_string(),
            zip_paths::CLIENT_KEY.to_string(),
        );
    }
    if let Some(q) = task_queue {
        env.insert(c::TASK_QUEUE.to_string(), q.to_string());
    }
    for (k, v) in extra {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// The connection's TLS files to package into the function's zip, at the fixed paths
/// [`temporal_env`] points the function's environment at.
pub fn connection_files(conn: &crate::connect::ConnectArgs) -> Vec<(String, PathBuf)> {
    use temporal_lambda_env::connection::zip_paths;
    [
        (zip_paths::SERVER_CA_CERT, &conn.tls_ca_path),
        (zip_paths::CLIENT_CERT, &conn.tls_cert_path),
        (zip_paths::CLIENT_KEY, &conn.tls_key_path),
    ]
    .into_iter()
    .filter_map(|(name, p)| p.as_ref().map(|p| (name.to_string(), p.clone())))
    .collect()
}

/// A timeout in Lambda's `Timeout` field (seconds, `i32`): saturates instead of wrapping, so an
/// out-of-range value is refused by Lambda rather than silently turned into another one.
fn lambda_timeout_secs(t: Duration) -> i32 {
    i32::try_from(t.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(secret: &str) -> DeployOptions {
        DeployOptions {
            function_name: "f".into(),
            zip: "function.zip".into(),
            execution_role: None,
            timeout: Duration::from_secs(60),
            memory_mb: 256,
            arch: temporal_lambda_package::Arch::X86_64,
            env: BTreeMap::from([(
                temporal_lambda_env::connection::API_KEY_SECRET_ARN.to_string(),
                secret.to_string(),
            )]),
            build_id: None,
            files: Vec::new(),
        }
    }

    /// A key in `TEMPORAL_API_KEY_SECRET_ARN` (e.g. through `--env`) is refused before any
    /// call, and neither that error nor the `--dry-run` plan repeats it.
    #[test]
    fn a_pasted_key_is_refused_before_any_write_and_not_shown() {
        let o = opts("tmprl_PASTEDKEY.abc");
        let e = secret_arn(&o.env).unwrap_err();
        assert!(!e.to_string().contains("PASTEDKEY"), "{e}");
        assert!(e.to_string().contains("--api-key-secret-arn"), "{e}");
        let plan = plan(&o).join("\n");
        assert!(!plan.contains("PASTEDKEY"), "{plan}");
        assert!(plan.contains("<redacted: not an ARN>"), "{plan}");
        let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/temporal/key";
        let parsed = secret_arn(&opts(arn).env).unwrap().unwrap();
        assert!(plan_contains(&opts(arn), arn));
        let policy = secret_read_policy(&parsed).to_string();
        assert!(
            policy.contains("ssm:GetParameter") && policy.contains("ssm.eu-west-1.amazonaws.com")
        );
    }

    fn plan_contains(o: &DeployOptions, s: &str) -> bool {
        plan(o).iter().any(|c| c.contains(s))
    }

    #[test]
    fn version_descriptions_name_build_and_deployment() {
        let d = version_description("b-1", "app");
        assert!(describes_build(&d, "b-1", "app"));
        assert!(!describes_build(&d, "b-1", "other"));
        assert!(!describes_build(&d, "b-11", "app"));
        assert!(!describes_build("b-1", "b-1", "app"));
    }
}
