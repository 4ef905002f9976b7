//! `doctor`: walk the whole invocation chain (AWS credentials → function → invocation role →
//! Temporal → deployment version → the code itself → recent errors) and report each link with a
//! fix. Starts from the deployment version: its compute config names the function, role and
//! external ID, so the only inputs are the deployment name and build ID.

use std::time::Duration;

use serde::Serialize;
use temporalio_client::Connection;

use crate::aws::{Aws, AwsArgs};
use crate::connect::ConnectArgs;
use crate::deploy::describe_function;
use crate::iam::{role_facts, RoleFacts, Trust};
use crate::validate::FunctionArn;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something is off.
    Warn,
    /// Broken: Temporal cannot run the worker through this link.
    Fail,
    /// Not checked (an earlier link failed, or not applicable).
    Skip,
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. `role-external-id`.
    pub id: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do (for `warn` / `fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The checklist.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// `<deployment>:<build-id>`.
    pub version: String,
    /// All checks in order.
    pub checks: Vec<Check>,
    /// Number of failures.
    pub failures: usize,
    /// Number of warnings.
    pub warnings: usize,
}

impl DoctorReport {
    /// The check with `id`.
    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Human-readable checklist.
    pub fn text(&self) -> String {
        let mut s = format!("doctor: {}\n", self.version);
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            s.push_str(&format!("[{mark}] {:<22} {}\n", c.id, c.detail));
            if let Some(f) = &c.fix {
                s.push_str(&format!("       {:<22} fix: {f}\n", ""));
            }
        }
        s.push_str(&format!(
            "{} failure(s), {} warning(s)",
            self.failures, self.warnings
        ));
        s
    }
}

/// What to diagnose.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Temporal connection.
    pub conn: ConnectArgs,
    /// AWS config.
    pub aws: AwsArgs,
    /// Deployment name.
    pub deployment_name: String,
    /// Build ID.
    pub build_id: String,
    /// The function you expect the version to invoke (name or ARN); default: whatever the
    /// compute config says.
    pub function: Option<String>,
    /// Who must be trusted by the role; default: Temporal Cloud's principals when the address
    /// is a `tmprl.cloud` one, otherwise not checked.
    pub trust: Option<Trust>,
    /// The worker's shutdown buffer (default 7 s) plus minimum useful work (1 s).
    pub min_timeout: Duration,
    /// How far back to look for errors in the function's logs.
    pub log_window: Duration,
}

struct Ctx {
    checks: Vec<Check>,
}

impl Ctx {
    fn push(
        &mut self,
        id: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id,
            status,
            detail: detail.into(),
            fix,
        });
    }
    fn ok(&mut self, id: &'static str, detail: impl Into<String>) {
        self.push(id, Status::Ok, detail, None);
    }
    fn warn(&mut self, id: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(id, Status::Warn, detail, Some(fix.into()));
    }
    fn fail(&mut self, id: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(id, Status::Fail, detail, Some(fix.into()));
    }
    fn skip(&mut self, id: &'static str, why: impl Into<String>) {
        self.push(id, Status::Skip, why, None);
    }
    fn skip_all(&mut self, ids: &[&'static str], why: &str) {
        for id in ids {
            self.skip(id, why);
        }
    }
}

/// Every check id, in order (documented in the README). `function-expected` is added after
/// `function-qualified` when `--function` is given.
pub const CHECKS: &[&str] = &[
    "temporal-connection",
    "version-exists",
    "version-compute",
    "version-current",
    "function-qualified",
    "aws-credentials",
    "versions-invocable",
    "ramping-healthy",
    "function-region",
    "function-exists",
    "function-timeout",
    "function-env",
    "role-not-execution",
    "role-exists",
    "role-trust",
    "role-external-id",
    "role-permissions",
    "function-identity",
    "secret-grant",
    "function-connection",
    "recent-errors",
];

/// Runs the checks with AWS clients from the standard chain. Never fails: every problem is a
/// [`Check`].
pub async fn run(opts: &DoctorOptions) -> DoctorReport {
    let aws = Aws::load(&opts.aws).await;
    run_with(opts, aws).await
}

/// Runs the checks with the given AWS clients (or the error loading them). Each link of the
/// chain is one function below; a link that fails skips the checks that need it.
pub async fn run_with(
    opts: &DoctorOptions,
    aws: Result<Aws, crate::aws::AwsError>,
) -> DoctorReport {
    let mut c = Ctx { checks: Vec::new() };
    let version = format!("{}:{}", opts.deployment_name, opts.build_id);

    // --- Temporal side: the version and its compute config.
    let conn = temporal_connection(&mut c, opts).await;
    let target = match &conn {
        Some(conn) => version_checks(&mut c, opts, conn).await,
        None => {
            c.skip_all(
                &["version-exists", "version-compute", "version-current"],
                "Temporal not reachable",
            );
            None
        }
    };
    // Which function: the compute config's, checked against --function.
    let arn: Option<FunctionArn> = match (&target, &opts.function) {
        (Some(t), _) => t.arn.parse().ok(),
        (None, Some(f)) => f.parse().ok(),
        (None, None) => None,
    };
    function_qualified(&mut c, opts, arn.as_ref(), target.as_ref());
    if let (Some(a), Some(f), Some(_)) = (&arn, &opts.function, &target) {
        function_expected(&mut c, a, f);
    }

    // --- AWS side.
    const REST_AWS: &[&str] = &[
        "function-region",
        "function-exists",
        "function-timeout",
        "function-env",
        "role-exists",
        "role-not-execution",
        "role-trust",
        "role-external-id",
        "role-permissions",
        "function-identity",
        "secret-grant",
        "function-connection",
        "recent-errors",
    ];
    let aws = aws_credentials(&mut c, aws).await;
    // --- The deployment's other versions.
    match (&conn, &aws) {
        (Some(conn), Some(aws)) => deployment_checks(&mut c, conn, aws, opts).await,
        _ => c.skip_all(
            &["versions-invocable", "ramping-healthy"],
            "needs Temporal and AWS credentials",
        ),
    }
    let (Some(aws), Some(arn)) = (aws, arn) else {
        c.skip_all(REST_AWS, "needs AWS credentials and the function ARN");
        return finish(version, c);
    };
    if !function_region(&mut c, &aws, &arn) {
        c.skip_all(&REST_AWS[1..], "function is in another region");
        return finish(version, c);
    }
    let Some(cfg) = function_exists(&mut c, &aws, &arn).await else {
        c.skip_all(&REST_AWS[2..], "no function");
        return finish(version, c);
    };
    function_timeout(&mut c, opts, &cfg);
    function_env(&mut c, &cfg);

    // --- The invocation role.
    match &target {
        Some(t) => role_checks(&mut c, opts, &aws, &arn, &cfg, t).await,
        None => c.skip_all(
            &[
                "role-exists",
                "role-not-execution",
                "role-trust",
                "role-external-id",
                "role-permissions",
            ],
            "no compute config",
        ),
    }

    // --- The code itself, and what it logged.
    function_identity(&mut c, &aws, &arn, opts).await;
    secret_grant(&mut c, &aws, &cfg).await;
    function_connection(&mut c, &aws, &arn).await;
    recent_errors(&mut c, &aws, &arn, opts).await;
    finish(version, c)
}

fn fix_register(opts: &DoctorOptions) -> String {
    format!(
        "temporal-lambda ship (or deploy + register --deployment-name {} --build-id {} --function-arn <qualified ARN> --role-arn … --external-id …)",
        opts.deployment_name, opts.build_id
    )
}

/// `temporal-connection`.
async fn temporal_connection(c: &mut Ctx, opts: &DoctorOptions) -> Option<Connection> {
    match opts.conn.connect().await {
        Ok(conn) => {
            c.ok(
                "temporal-connection",
                format!(
                    "connected to {} (namespace {})",
                    opts.conn.address, opts.conn.namespace
                ),
            );
            Some(conn)
        }
        Err(e) => {
            c.fail(
                "temporal-connection",
                e.to_string(),
                "check --address / TEMPORAL_ADDRESS, the namespace, and the API key or mTLS files",
            );
            None
        }
    }
}

/// `version-exists`, `version-compute`, `version-current`; returns the Lambda compute config.
async fn version_checks(
    c: &mut Ctx,
    opts: &DoctorOptions,
    conn: &Connection,
) -> Option<crate::compute::LambdaProviderDetails> {
    let v = match crate::deployment::describe_version(
        conn,
        &opts.conn.namespace,
        &opts.deployment_name,
        &opts.build_id,
    )
    .await
    {
        Ok(v) => v,
        Err(e) => {
            let (detail, fix) = match e {
                crate::deployment::DeploymentError::VersionNotFound { .. } => (
                    format!(
                        "no Worker Deployment Version {}:{} in namespace {}",
                        opts.deployment_name, opts.build_id, opts.conn.namespace
                    ),
                    fix_register(opts),
                ),
                e => (
                    e.to_string(),
                    "check the namespace and your permissions".to_string(),
                ),
            };
            c.fail("version-exists", detail, fix);
            c.skip_all(&["version-compute", "version-current"], "no version");
            return None;
        }
    };
    c.ok(
        "version-exists",
        format!("{} exists (status {})", v.version, v.status),
    );
    let target = v
        .compute_config
        .values()
        .find(|g| g.provider_type == crate::compute::AWS_LAMBDA_PROVIDER)
        .map(|g| {
            g.provider_details
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or(crate::compute::LambdaProviderDetails {
                    arn: String::new(),
                    role: None,
                    role_external_id: None,
                })
        });
    match &target {
        Some(d) => c.ok(
            "version-compute",
            format!(
                "invokes {} as {}",
                d.arn,
                d.role.as_deref().unwrap_or("(no role)")
            ),
        ),
        None => c.fail(
            "version-compute",
            "the version has no aws-lambda compute config, so the server never invokes a function for it",
            fix_register(opts),
        ),
    }
    match v.status.as_str() {
        "CURRENT" | "RAMPING" => c.ok(
            "version-current",
            format!("version is {}", v.status.to_lowercase()),
        ),
        other => c.fail(
            "version-current",
            format!("version is {other}: no task is routed to it, so the server does not invoke the function"),
            format!(
                "temporal-lambda set-current --deployment-name {} --build-id {}",
                opts.deployment_name, opts.build_id
            ),
        ),
    }
    target
}

/// `function-qualified`: the compute config names a published version.
fn function_qualified(
    c: &mut Ctx,
    opts: &DoctorOptions,
    arn: Option<&FunctionArn>,
    target: Option<&crate::compute::LambdaProviderDetails>,
) {
    match (arn, target) {
        (Some(a), Some(_)) if a.is_published_version() => {
            c.ok("function-qualified", format!("{a} is a published version"))
        }
        (Some(a), Some(_)) => c.fail(
            "function-qualified",
            format!("compute config uses {a}, not a published version: the code behind build ID {} can change under it", opts.build_id),
            format!("temporal-lambda deploy (publishes a version), then temporal-lambda register --update --function-arn {a}:<version> …"),
        ),
        (None, Some(t)) => c.fail(
            "function-qualified",
            format!("compute config has an invalid function ARN {:?}", t.arn),
            fix_register(opts),
        ),
        _ => c.skip("function-qualified", "no compute config"),
    }
}

/// `function-expected`: the compute config invokes the function `--function` names
/// (`name`, `name:qualifier`, or an ARN).
fn function_expected(c: &mut Ctx, arn: &FunctionArn, expected: &str) {
    let expected = if expected.starts_with("arn:") {
        expected.split(':').nth(6).unwrap_or(expected)
    } else {
        expected.split(':').next().unwrap_or(expected)
    };
    if arn.name == expected {
        c.ok(
            "function-expected",
            format!("compute config invokes {expected}, as expected"),
        );
    } else {
        c.fail(
            "function-expected",
            format!(
                "compute config invokes function {} but you expected {expected}",
                arn.name
            ),
            "temporal-lambda register --update --function-arn <the right qualified ARN> …",
        );
    }
}

/// `aws-credentials`: the clients loaded and the identity resolves.
async fn aws_credentials(c: &mut Ctx, aws: Result<Aws, crate::aws::AwsError>) -> Option<Aws> {
    let a = match aws {
        Ok(a) => a,
        Err(e) => {
            c.fail(
                "aws-credentials",
                e.to_string(),
                "see the message: configure credentials and a region",
            );
            return None;
        }
    };
    match a.account_id().await {
        Ok(acct) => {
            c.ok(
                "aws-credentials",
                format!("account {acct}, region {}", a.region),
            );
            Some(a)
        }
        Err(e) => {
            c.fail(
                "aws-credentials",
                e.to_string(),
                "refresh your AWS credentials (aws sso login / aws configure)",
            );
            None
        }
    }
}

/// `function-region`: the function is in the region in use. False when it is not.
fn function_region(c: &mut Ctx, aws: &Aws, arn: &FunctionArn) -> bool {
    if arn.region != aws.region {
        c.fail(
            "function-region",
            format!(
                "function is in {} but the AWS region in use is {}",
                arn.region, aws.region
            ),
            format!("pass --region {} (or set AWS_REGION)", arn.region),
        );
        return false;
    }
    c.ok("function-region", arn.region.to_string());
    true
}

type FunctionConfig =
    aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;

/// `function-exists`: the function version exists and is Active; returns its configuration.
async fn function_exists(c: &mut Ctx, aws: &Aws, arn: &FunctionArn) -> Option<FunctionConfig> {
    let cfg = match aws
        .lambda
        .get_function_configuration()
        .function_name(arn.as_str())
        .send()
        .await
    {
        Ok(cfg) => cfg,
        Err(e) => {
            let msg = crate::aws::describe_sdk_error(&e);
            if crate::aws::error_code(&e).as_deref() == Some("ResourceNotFoundException") {
                c.fail("function-exists", format!("{arn} does not exist ({msg})"), "temporal-lambda deploy (or ship), then register --update with the ARN it prints");
            } else {
                c.fail(
                    "function-exists",
                    msg,
                    "check that your AWS identity may call lambda:GetFunctionConfiguration",
                );
            }
            return None;
        }
    };
    let state = cfg
        .state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| "Active".into());
    if state == "Active" {
        c.ok(
            "function-exists",
            format!(
                "{} is Active ({} MB, {})",
                arn,
                cfg.memory_size().unwrap_or_default(),
                cfg.architectures()
                    .first()
                    .map(|a| a.as_str())
                    .unwrap_or("x86_64")
            ),
        );
    } else {
        c.fail(
            "function-exists",
            format!("{arn} is {state}: {}", cfg.state_reason().unwrap_or("")),
            "fix the reason above and redeploy (temporal-lambda deploy)",
        );
    }
    Some(cfg)
}

/// `function-timeout`: long enough for work beyond the worker's shutdown buffer.
fn function_timeout(c: &mut Ctx, opts: &DoctorOptions, cfg: &FunctionConfig) {
    let timeout = Duration::from_secs(cfg.timeout().unwrap_or(3).max(0) as u64);
    if timeout <= opts.min_timeout {
        c.fail(
            "function-timeout",
            format!("timeout {} s leaves no time for work: the worker stops polling {} s before the deadline", timeout.as_secs(), opts.min_timeout.as_secs().saturating_sub(1)),
            "temporal-lambda deploy --timeout 600s (the guide's value; at least 60 s)",
        );
    } else if timeout < Duration::from_secs(60) {
        c.warn(
            "function-timeout",
            format!(
                "timeout {} s: most of each invocation is start-up and shutdown buffer",
                timeout.as_secs()
            ),
            "temporal-lambda deploy --timeout 600s",
        );
    } else {
        c.ok("function-timeout", format!("{} s", timeout.as_secs()));
    }
}

/// `function-env`: the function's environment lets the worker connect (secrets redacted).
fn function_env(c: &mut Ctx, cfg: &FunctionConfig) {
    let env: std::collections::BTreeMap<String, String> = cfg
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let has_file = env.contains_key("TEMPORAL_CONFIG_FILE") || env.contains_key("TEMPORAL_PROFILE");
    let address = env.get("TEMPORAL_ADDRESS");
    let auth = env.contains_key("TEMPORAL_API_KEY")
        || env.contains_key(temporal_lambda_env::connection::API_KEY_SECRET_ARN)
        || env.contains_key("TEMPORAL_TLS_CLIENT_CERT_PATH")
        || env.contains_key("TEMPORAL_TLS_CLIENT_CERT_DATA");
    let shown: Vec<String> = env
        .keys()
        .filter(|k| k.starts_with("TEMPORAL_"))
        .map(|k| temporal_lambda_env::redacted_env_pair(k, &env[k]))
        .collect();
    match address {
        None if !has_file => c.fail(
            "function-env",
            "TEMPORAL_ADDRESS is not set on the function, so the worker cannot connect",
            "temporal-lambda deploy --address <host:port> (sets TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and auth)",
        ),
        Some(a) if a.contains("tmprl.cloud") && !auth && !has_file => c.fail(
            "function-env",
            format!("TEMPORAL_ADDRESS={a} is Temporal Cloud but no TEMPORAL_API_KEY or TEMPORAL_TLS_CLIENT_CERT_PATH is set"),
            "temporal-lambda deploy --api-key … (or mTLS files inside the package)",
        ),
        _ if !env.contains_key("TEMPORAL_NAMESPACE") && !has_file => c.warn(
            "function-env",
            format!("TEMPORAL_NAMESPACE is not set: the worker uses `default` ({})", shown.join(" ")),
            "temporal-lambda deploy --namespace <namespace>",
        ),
        _ => c.ok("function-env", shown.join(" ")),
    }
}

/// `role-not-execution`, `role-exists`, then (with the role's facts) `role-trust`,
/// `role-external-id`, `role-permissions`.
async fn role_checks(
    c: &mut Ctx,
    opts: &DoctorOptions,
    aws: &Aws,
    arn: &FunctionArn,
    cfg: &FunctionConfig,
    t: &crate::compute::LambdaProviderDetails,
) {
    let role_arn = t.role.clone().unwrap_or_default();
    role_not_execution(c, &role_arn, cfg);
    let needs_role = ["role-trust", "role-external-id", "role-permissions"];
    match role_facts(aws, &role_arn).await {
        Ok(None) => {
            c.fail(
                "role-exists",
                format!("role {role_arn} does not exist"),
                "temporal-lambda iam create --function-arn … (prints the RoleARN to register)",
            );
            c.skip_all(&needs_role, "no role");
        }
        Err(e) => {
            c.fail("role-exists", e.to_string(), "make sure your AWS identity may call iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy");
            c.skip_all(&needs_role, "role unreadable");
        }
        Ok(Some(f)) => {
            c.ok("role-exists", f.role_arn.clone());
            role_trust(c, opts, &f);
            role_external_id(c, &f, t.role_external_id.as_deref().unwrap_or_default());
            role_permissions(c, &f, arn);
        }
    }
}

/// `role-not-execution`: Temporal's role is not the one Lambda runs the function with.
fn role_not_execution(c: &mut Ctx, role_arn: &str, cfg: &FunctionConfig) {
    if cfg.role() == Some(role_arn) {
        c.fail(
            "role-not-execution",
            format!("the compute config's role {role_arn} is the function's execution role"),
            "use the invocation role (temporal-lambda iam create → RoleARN output), not the role Lambda runs the function with",
        );
    } else {
        c.ok(
            "role-not-execution",
            "invocation role differs from the execution role",
        );
    }
}

/// `role-trust`: the trust policy trusts Temporal Cloud (for `*.tmprl.cloud`) or
/// `--trusted-principal`.
fn role_trust(c: &mut Ctx, opts: &DoctorOptions, f: &RoleFacts) {
    let trust = opts.trust.clone().or_else(|| {
        opts.conn
            .address
            .contains("tmprl.cloud")
            .then_some(Trust::Cloud)
    });
    let Some(tr) = trust else {
        c.skip(
            "role-trust",
            format!(
                "trusted principals: {} (pass --trusted-principal to check)",
                f.trusted_principals.join(", ")
            ),
        );
        return;
    };
    let missing: Vec<String> = tr
        .principals()
        .into_iter()
        .filter(|p| !f.trusted_principals.contains(p))
        .collect();
    if missing.is_empty() {
        c.ok(
            "role-trust",
            format!("trusts {}", f.trusted_principals.join(", ")),
        );
    } else {
        c.fail(
            "role-trust",
            format!("the trust policy does not trust {}", missing.join(", ")),
            "recreate the role from the right template: temporal-lambda iam create (--trusted-principal ARN for self-hosted)",
        );
    }
}

/// `role-external-id`: every statement that allows sts:AssumeRole requires the registered
/// external ID.
fn role_external_id(c: &mut Ctx, f: &RoleFacts, want: &str) {
    if !f.unguarded_principals.is_empty() && !f.external_ids.is_empty() {
        c.fail(
            "role-external-id",
            format!(
                "a trust policy statement allows sts:AssumeRole without the sts:ExternalId condition (principals: {}): IAM allows when any statement allows, so the external ID is not enforced",
                f.unguarded_principals.join(", ")
            ),
            "put Condition StringEquals sts:ExternalId on every statement that allows sts:AssumeRole, or recreate the role: temporal-lambda iam create --external-id …",
        );
    } else if f.external_ids.is_empty() {
        c.fail(
            "role-external-id",
            "the trust policy does not require sts:ExternalId: any account that knows the role ARN could make Temporal invoke your function (confused deputy), and Temporal refuses such roles",
            "add Condition StringEquals sts:ExternalId to the trust policy: temporal-lambda iam create --external-id …",
        );
    } else if !f.external_ids.iter().any(|e| e == want) {
        c.fail(
            "role-external-id",
            "the external ID in the compute config is not the one the role's trust policy requires, so sts:AssumeRole is denied",
            "register --update with the role's external ID, or update the stack: temporal-lambda iam create --external-id <the registered one>",
        );
    } else {
        c.ok(
            "role-external-id",
            "trust policy requires the registered external ID",
        );
    }
}

/// `role-permissions`: the role may invoke and read the function version.
fn role_permissions(c: &mut Ctx, f: &RoleFacts, arn: &FunctionArn) {
    let missing: Vec<&str> = ["lambda:InvokeFunction", "lambda:GetFunction"]
        .into_iter()
        .filter(|a| !f.allows(a, arn.as_str()))
        .collect();
    if missing.is_empty() {
        c.ok(
            "role-permissions",
            format!("allows lambda:InvokeFunction and lambda:GetFunction on {arn}"),
        );
    } else {
        let base = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            arn.region, arn.account, arn.name
        );
        c.fail(
            "role-permissions",
            format!(
                "the role's policies do not allow {} on {arn}",
                missing.join(" and ")
            ),
            format!(
                "temporal-lambda iam create --function-arn {base} (grants {base} and {base}:*)"
            ),
        );
    }
}

/// `function-identity`: the code answers the describe request as the registered version.
async fn function_identity(c: &mut Ctx, aws: &Aws, arn: &FunctionArn, opts: &DoctorOptions) {
    match describe_function(aws, arn.as_str()).await {
        Ok(d) if d.deployment_name == opts.deployment_name && d.build_id == opts.build_id => c.ok(
            "function-identity",
            format!("the code is {}:{} polling {} ({} {})", d.deployment_name, d.build_id, d.task_queue, d.library, d.library_version),
        ),
        Ok(d) => c.fail(
            "function-identity",
            format!(
                "{arn} runs code built as {}:{}, but the server invokes it for {}:{}: its polls never match the tasks, so invocations end idle",
                d.deployment_name, d.build_id, opts.deployment_name, opts.build_id
            ),
            format!(
                "register the version the code declares (--deployment-name {} --build-id {}) with this ARN, or deploy the code built as {}:{} and register --update the new qualified ARN",
                d.deployment_name, d.build_id, opts.deployment_name, opts.build_id
            ),
        ),
        Err(e) => c.fail(
            "function-identity",
            e.to_string(),
            "look at the error above (config, crash at start) and the function's logs; redeploy with temporal-lambda deploy",
        ),
    }
}

/// `secret-grant`: when the function reads its API key from a secret, its execution role may
/// read it (`secretsmanager:GetSecretValue`, or `ssm:GetParameter`).
async fn secret_grant(c: &mut Ctx, aws: &Aws, cfg: &FunctionConfig) {
    let id = "secret-grant";
    let Some(secret) = cfg
        .environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get(temporal_lambda_env::connection::API_KEY_SECRET_ARN))
    else {
        c.skip(id, "the API key is not read from a secret");
        return;
    };
    let role = cfg.role().unwrap_or_default();
    let facts = match crate::iam::role_facts(aws, role).await {
        Ok(f) => f,
        Err(e) => {
            return c.warn(
                id,
                format!("cannot read execution role {role}: {e}"),
                "grant iam:GetRole / iam:GetRolePolicy to whoever runs doctor",
            )
        }
    };
    let (status, detail, fix) = secret_grant_verdict(role, secret, facts.as_ref());
    c.push(id, status, detail, fix);
}

/// The `secret-grant` verdict for the execution role `role` (its facts; `None` when it does not
/// exist) and the function's `TEMPORAL_API_KEY_SECRET_ARN` value `secret`, decided by the one
/// policy evaluator ([`RoleFacts::allows`]: Deny wins, wildcards, case-insensitive actions).
/// The value is shown by the shared rule: one that is not an ARN is never printed.
fn secret_grant_verdict(
    role: &str,
    secret: &str,
    facts: Option<&RoleFacts>,
) -> (Status, String, Option<String>) {
    use temporal_lambda_env::secret_arn::{SecretArn, SecretService};
    let arn =
        match SecretArn::parse(secret) {
            Ok(a) => a,
            Err(e) => return (
                Status::Fail,
                format!("the function's {e}: the worker cannot read its API key"),
                Some(
                    "temporal-lambda deploy --api-key-secret-arn <the secret's ARN> (the API key \
                     itself belongs in a Secrets Manager secret or SSM SecureString, not in this \
                     variable)"
                        .into(),
                ),
            ),
        };
    let action = match arn.service() {
        SecretService::SsmParameter => "ssm:GetParameter",
        SecretService::SecretsManager => "secretsmanager:GetSecretValue",
    };
    let Some(f) = facts else {
        return (
            Status::Fail,
            format!("execution role {role} does not exist"),
            Some("deploy with --execution-role <an existing role>".into()),
        );
    };
    if f.allows(action, arn.as_str()) {
        (
            Status::Ok,
            format!("execution role {role} may {action} {arn}"),
            None,
        )
    } else {
        (
            Status::Fail,
            format!(
                "execution role {role} is not allowed {action} on {arn} (no policy allows it, or \
                 one denies it): the function cannot read its API key"
            ),
            Some(format!(
                "temporal-lambda deploy --api-key-secret-arn {arn} (it puts the {} inline policy \
                 on the role), or grant {action} yourself; remove any Deny that matches it",
                crate::deploy::SECRET_POLICY_NAME
            )),
        )
    }
}

/// `function-connection`: the function connects to Temporal with its own settings (TLS, CA,
/// server name, client certificate, API key or its secret) — what the server's invocations need.
async fn function_connection(c: &mut Ctx, aws: &Aws, arn: &FunctionArn) {
    let id = "function-connection";
    match crate::deploy::check_function_connection(aws, arn.as_str()).await {
        Ok(r) => {
            let how = format!(
                "{}{}{}{}, API key: {}",
                if r.tls { "TLS" } else { "plaintext" },
                if r.server_ca_cert { " + own CA" } else { "" },
                r.server_name
                    .as_ref()
                    .map(|n| format!(" (server name {n})"))
                    .unwrap_or_default(),
                if r.client_cert {
                    " + client certificate"
                } else {
                    ""
                },
                r.api_key
            );
            match (r.ok, r.error) {
                (true, _) => c.ok(id, format!("the function reached {} in {} ms ({how})", r.address, r.connect_ms)),
                (false, e) => c.fail(
                    id,
                    format!("the function cannot reach Temporal with its own settings ({how}): {}", e.unwrap_or_default()),
                    "fix the setting the error names in the function's environment (temporal-lambda deploy sets TEMPORAL_* and packages the TLS files), then deploy again",
                ),
            }
        }
        Err(e) => c.fail(
            id,
            e.to_string(),
            "look at the error above and the function's logs; redeploy with temporal-lambda deploy",
        ),
    }
}

/// `recent-errors`: error lines in the function's logs within `--log-window`.
async fn recent_errors(c: &mut Ctx, aws: &Aws, arn: &FunctionArn, opts: &DoctorOptions) {
    let group = format!("/aws/lambda/{}", arn.name);
    let minutes = opts.log_window.as_secs() / 60;
    match crate::logs::activity(aws, &arn.name, None, opts.log_window).await {
        Ok(None) => c.ok(
            "recent-errors",
            format!("{group} has no logs yet (never invoked)"),
        ),
        Ok(Some(a)) if a.errors == 0 => c.ok(
            "recent-errors",
            format!("no errors in {group} in the last {minutes} min"),
        ),
        Ok(Some(a)) => {
            let latest: Vec<&str> = a.latest_errors.iter().rev().map(String::as_str).collect();
            c.warn(
                "recent-errors",
                format!(
                    "{} error line(s) in {group} in the last {minutes} min; latest: {}",
                    a.errors,
                    latest.join(" | ")
                ),
                format!("read them: aws logs tail {group} --since {minutes}m"),
            );
        }
        Err(e) => c.warn(
            "recent-errors",
            e.to_string(),
            "allow logs:FilterLogEvents to read the function's logs",
        ),
    }
}

/// `versions-invocable`: every version that still gets tasks (current, ramping, draining, or
/// with open pinned workflows) still has its Lambda version; `ramping-healthy`: the ramping
/// version's function logs no errors.
async fn deployment_checks(c: &mut Ctx, conn: &Connection, aws: &Aws, opts: &DoctorOptions) {
    use temporalio_common::protos::temporal::api::enums::v1::VersionDrainageStatus;
    let (ns, dep) = (opts.conn.namespace.as_str(), opts.deployment_name.as_str());
    let d = match crate::deployment::describe_deployment_raw(conn, ns, dep).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            c.skip_all(&["versions-invocable", "ramping-healthy"], "no deployment");
            return;
        }
        Err(e) => {
            let e = e.to_string();
            c.warn("versions-invocable", e.clone(), "check your permissions");
            c.skip("ramping-healthy", "cannot read the deployment");
            return;
        }
    };
    let info = d.worker_deployment_info.unwrap_or_default();
    let rc = info.routing_config.unwrap_or_default();
    let build = |v: &Option<
        temporalio_common::protos::temporal::api::deployment::v1::WorkerDeploymentVersion,
    >| {
        v.as_ref()
            .map(|v| v.build_id.clone())
            .filter(|b| !b.is_empty())
    };
    let (current, ramping) = (
        build(&rc.current_deployment_version),
        build(&rc.ramping_deployment_version),
    );
    let mut needed = 0;
    let mut gone = Vec::new();
    for v in &info.version_summaries {
        let Some(b) = build(&v.deployment_version) else {
            continue;
        };
        let open = crate::retire::open_pinned(conn, ns, dep, &b, 3)
            .await
            .unwrap_or_default();
        let why = if current.as_deref() == Some(b.as_str()) {
            "it is current".to_string()
        } else if ramping.as_deref() == Some(b.as_str()) {
            format!(
                "it is ramping ({} % of new workflows)",
                rc.ramping_version_percentage
            )
        } else if open.0 > 0 {
            format!(
                "{} pinned workflow(s) on it are open (e.g. {})",
                open.0,
                open.1.join(", ")
            )
        } else if v.drainage_status == VersionDrainageStatus::Draining as i32 {
            "it is draining".to_string()
        } else {
            continue;
        };
        needed += 1;
        let Ok(Some(arn)) = crate::retire::lambda_function_of(conn, ns, dep, &b).await else {
            continue;
        };
        if let Err(e) = aws
            .lambda
            .get_function_configuration()
            .function_name(&arn)
            .send()
            .await
        {
            if crate::aws::error_code(&e).as_deref() == Some("ResourceNotFoundException") {
                gone.push(format!(
                    "{dep}:{b} invokes {arn}, which no longer exists, and {why}"
                ));
            }
        }
    }
    if gone.is_empty() {
        c.ok(
            "versions-invocable",
            format!(
                "the {needed} version(s) of {dep} that still get tasks have their Lambda versions"
            ),
        );
    } else {
        c.fail(
            "versions-invocable",
            gone.join("; "),
            "redeploy that build's code (temporal-lambda deploy) and `register --update` the build with the new ARN: its tasks stall until a function serves them",
        );
    }

    let Some(r) = ramping else {
        c.ok("ramping-healthy", format!("no version of {dep} is ramping"));
        return;
    };
    let Ok(Some(arn)) = crate::retire::lambda_function_of(conn, ns, dep, &r).await else {
        c.skip(
            "ramping-healthy",
            format!("{dep}:{r} has no Lambda function"),
        );
        return;
    };
    let Some((name, qualifier)) = crate::retire::split_function_arn(&arn) else {
        c.skip(
            "ramping-healthy",
            format!("{arn} is not a Lambda function ARN"),
        );
        return;
    };
    let minutes = opts.log_window.as_secs() / 60;
    match crate::logs::activity(aws, name, qualifier, opts.log_window).await {
        Ok(Some(a)) if a.errors > 0 => {
            let latest: Vec<&str> = a.latest_errors.iter().rev().map(String::as_str).collect();
            c.fail(
                "ramping-healthy",
                format!(
                    "{dep}:{r} gets {} % of new workflows, and {arn} logged {} error line(s) in {} invocation(s) in the last {minutes} min; latest: {}",
                    rc.ramping_version_percentage,
                    a.errors,
                    a.invocations,
                    latest.join(" | ")
                ),
                format!(
                    "temporal-lambda rollback --deployment-name {dep} (new workflows go back to {}), then fix the build and ramp it again",
                    current.as_deref().unwrap_or("the current build")
                ),
            );
        }
        Ok(a) => c.ok(
            "ramping-healthy",
            format!(
                "{dep}:{r} is ramping ({} %); {arn} logged no errors in {} invocation(s) in the last {minutes} min",
                rc.ramping_version_percentage,
                a.map(|a| a.invocations).unwrap_or(0)
            ),
        ),
        Err(e) => c.warn(
            "ramping-healthy",
            e.to_string(),
            "allow logs:FilterLogEvents to read the function's logs",
        ),
    }
}

fn finish(version: String, c: Ctx) -> DoctorReport {
    let failures = c.checks.iter().filter(|x| x.status == Status::Fail).count();
    let warnings = c.checks.iter().filter(|x| x.status == Status::Warn).count();
    DoctorReport {
        version,
        checks: c.checks,
        failures,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/exec";
    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:temporal/key-AbCdEf";

    fn facts(statements: serde_json::Value) -> RoleFacts {
        RoleFacts {
            policies: vec![serde_json::json!({ "Statement": statements })],
            ..Default::default()
        }
    }

    /// An explicit Deny beats the Allow `deploy` puts on the role (the old evaluator here
    /// ignored Deny and passed).
    #[test]
    fn secret_grant_fails_when_a_deny_applies() {
        let allow = serde_json::json!({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET});
        let deny =
            serde_json::json!({"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"});
        let (status, _, _) = secret_grant_verdict(
            ROLE,
            SECRET,
            Some(&facts(serde_json::json!([allow.clone()]))),
        );
        assert_eq!(status, Status::Ok);
        let (status, detail, fix) =
            secret_grant_verdict(ROLE, SECRET, Some(&facts(serde_json::json!([allow, deny]))));
        assert_eq!(status, Status::Fail, "{detail}");
        assert!(fix.unwrap().contains("Deny"));
        // Wildcards in the middle and any case of the action, as IAM matches them.
        let mid = serde_json::json!({"Effect": "Allow", "Action": "SecretsManager:Get*Value",
            "Resource": "arn:aws:secretsmanager:*:123456789012:secret:temporal/*"});
        let (status, detail, _) =
            secret_grant_verdict(ROLE, SECRET, Some(&facts(serde_json::json!([mid]))));
        assert_eq!(status, Status::Ok, "{detail}");
        assert_eq!(secret_grant_verdict(ROLE, SECRET, None).0, Status::Fail);
    }

    /// A key pasted into the function's `TEMPORAL_API_KEY_SECRET_ARN` fails the check without
    /// being printed.
    #[test]
    fn secret_grant_never_prints_a_pasted_key() {
        let (status, detail, fix) = secret_grant_verdict(ROLE, "tmprl_PASTEDKEY.abc", None);
        assert_eq!(status, Status::Fail);
        assert!(
            !detail.contains("PASTEDKEY") && !fix.unwrap().contains("PASTEDKEY"),
            "{detail}"
        );
        assert!(detail.contains("TEMPORAL_API_KEY_SECRET_ARN"), "{detail}");
        // Nor by `function-env`, which lists the function's TEMPORAL_* settings.
        let cfg = FunctionConfig::builder()
            .environment(
                aws_sdk_lambda::types::EnvironmentResponse::builder()
                    .variables("TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233")
                    .variables("TEMPORAL_NAMESPACE", "ns.acct")
                    .variables("TEMPORAL_API_KEY_SECRET_ARN", "tmprl_PASTEDKEY.abc")
                    .build(),
            )
            .build();
        let mut c = Ctx { checks: Vec::new() };
        function_env(&mut c, &cfg);
        let shown = serde_json::to_string(&c.checks).unwrap();
        assert!(!shown.contains("PASTEDKEY"), "{shown}");
        assert!(
            shown.contains("TEMPORAL_API_KEY_SECRET_ARN=<redacted: not an ARN>"),
            "{shown}"
        );
        assert_eq!(c.checks[0].status, Status::Ok, "{shown}");
    }
}
