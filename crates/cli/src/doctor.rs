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
use crate::iam::{role_facts, Trust};
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
    "recent-errors",
];

/// Runs the checks with AWS clients from the standard chain. Never fails: every problem is a
/// [`Check`].
pub async fn run(opts: &DoctorOptions) -> DoctorReport {
    let aws = Aws::load(&opts.aws).await;
    run_with(opts, aws).await
}

/// Runs the checks with the given AWS clients (or the error loading them).
pub async fn run_with(
    opts: &DoctorOptions,
    aws: Result<Aws, crate::aws::AwsError>,
) -> DoctorReport {
    let mut c = Ctx { checks: Vec::new() };
    let version = format!("{}:{}", opts.deployment_name, opts.build_id);
    let fix_register = format!(
        "temporal-lambda ship (or deploy + register --deployment-name {} --build-id {} --function-arn <qualified ARN> --role-arn … --external-id …)",
        opts.deployment_name, opts.build_id
    );

    // --- Temporal side: the version and its compute config.
    let conn: Option<Connection> = match opts.conn.connect().await {
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
    };
    let mut target: Option<crate::compute::LambdaProviderDetails> = None;
    if let Some(conn) = &conn {
        match crate::deployment::describe_version(
            conn,
            &opts.conn.namespace,
            &opts.deployment_name,
            &opts.build_id,
        )
        .await
        {
            Ok(v) => {
                c.ok(
                    "version-exists",
                    format!("{} exists (status {})", v.version, v.status),
                );
                let lambda = v
                    .compute_config
                    .values()
                    .find(|g| g.provider_type == crate::compute::AWS_LAMBDA_PROVIDER);
                match lambda {
                    Some(g) => {
                        let d: crate::compute::LambdaProviderDetails = g
                            .provider_details
                            .clone()
                            .and_then(|v| serde_json::from_value(v).ok())
                            .unwrap_or(crate::compute::LambdaProviderDetails {
                                arn: String::new(),
                                role: None,
                                role_external_id: None,
                            });
                        c.ok("version-compute", format!("invokes {} as {}", d.arn, d.role.as_deref().unwrap_or("(no role)")));
                        target = Some(d);
                    }
                    None => c.fail(
                        "version-compute",
                        "the version has no aws-lambda compute config, so the server never invokes a function for it",
                        fix_register.clone(),
                    ),
                }
                match v.status.as_str() {
                    "CURRENT" | "RAMPING" => c.ok("version-current", format!("version is {}", v.status.to_lowercase())),
                    other => c.fail(
                        "version-current",
                        format!("version is {other}: no task is routed to it, so the server does not invoke the function"),
                        format!(
                            "temporal-lambda set-current --deployment-name {} --build-id {}",
                            opts.deployment_name, opts.build_id
                        ),
                    ),
                }
            }
            Err(crate::deployment::DeploymentError::VersionNotFound { .. }) => {
                c.fail(
                    "version-exists",
                    format!(
                        "no Worker Deployment Version {version} in namespace {}",
                        opts.conn.namespace
                    ),
                    fix_register.clone(),
                );
                c.skip("version-compute", "no version");
                c.skip("version-current", "no version");
            }
            Err(e) => {
                c.fail(
                    "version-exists",
                    e.to_string(),
                    "check the namespace and your permissions",
                );
                c.skip("version-compute", "no version");
                c.skip("version-current", "no version");
            }
        }
    } else {
        for id in ["version-exists", "version-compute", "version-current"] {
            c.skip(id, "Temporal not reachable");
        }
    }

    // Which function: the compute config's, checked against --function.
    let arn: Option<FunctionArn> = match (&target, &opts.function) {
        (Some(t), _) => t.arn.parse().ok(),
        (None, Some(f)) => f.parse().ok(),
        (None, None) => None,
    };
    match (&arn, &target) {
        (Some(a), Some(_)) if a.is_published_version() => {
            c.ok("function-qualified", format!("{} is a published version", a))
        }
        (Some(a), Some(_)) => c.fail(
            "function-qualified",
            format!("compute config uses {a}, not a published version: the code behind build ID {} can change under it", opts.build_id),
            format!("temporal-lambda deploy (publishes a version), then temporal-lambda register --update --function-arn {a}:<version> …"),
        ),
        (None, Some(t)) => c.fail("function-qualified", format!("compute config has an invalid function ARN {:?}", t.arn), fix_register.clone()),
        _ => c.skip("function-qualified", "no compute config"),
    }
    if let (Some(a), Some(f), Some(_)) = (&arn, &opts.function, &target) {
        // `name`, `name:qualifier`, or an ARN.
        let expected = if f.starts_with("arn:") {
            f.split(':').nth(6).unwrap_or(f)
        } else {
            f.split(':').next().unwrap_or(f)
        };
        if a.name == expected {
            c.ok(
                "function-expected",
                format!("compute config invokes {expected}, as expected"),
            );
        } else {
            c.fail(
                "function-expected",
                format!(
                    "compute config invokes function {} but you expected {expected}",
                    a.name
                ),
                "temporal-lambda register --update --function-arn <the right qualified ARN> …",
            );
        }
    }

    // --- AWS side.
    let aws = match aws {
        Ok(a) => match a.account_id().await {
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
        },
        Err(e) => {
            c.fail(
                "aws-credentials",
                e.to_string(),
                "see the message: configure credentials and a region",
            );
            None
        }
    };
    let rest_aws = [
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
        "recent-errors",
    ];
    let (Some(aws), Some(arn)) = (aws, arn) else {
        for id in rest_aws {
            c.skip(id, "needs AWS credentials and the function ARN");
        }
        return finish(version, c);
    };
    if arn.region != aws.region {
        c.fail(
            "function-region",
            format!(
                "function is in {} but the AWS region in use is {}",
                arn.region, aws.region
            ),
            format!("pass --region {} (or set AWS_REGION)", arn.region),
        );
        for id in &rest_aws[1..] {
            c.skip(id, "function is in another region");
        }
        return finish(version, c);
    }
    c.ok("function-region", arn.region.to_string());

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
            for id in &rest_aws[2..] {
                c.skip(id, "no function");
            }
            return finish(version, c);
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
    let env: std::collections::BTreeMap<String, String> = cfg
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let has_file = env.contains_key("TEMPORAL_CONFIG_FILE") || env.contains_key("TEMPORAL_PROFILE");
    let address = env.get("TEMPORAL_ADDRESS");
    let auth = env.contains_key("TEMPORAL_API_KEY")
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

    // --- The invocation role.
    let Some(t) = &target else {
        for id in [
            "role-exists",
            "role-not-execution",
            "role-trust",
            "role-external-id",
            "role-permissions",
        ] {
            c.skip(id, "no compute config");
        }
        return identity_and_logs(&mut c, &aws, &arn, opts, version).await;
    };
    let role_arn = t.role.clone().unwrap_or_default();
    if cfg.role() == Some(role_arn.as_str()) {
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
    match role_facts(&aws, &role_arn).await {
        Ok(None) => {
            c.fail(
                "role-exists",
                format!("role {role_arn} does not exist"),
                "temporal-lambda iam create --function-arn … (prints the RoleARN to register)",
            );
            for id in ["role-trust", "role-external-id", "role-permissions"] {
                c.skip(id, "no role");
            }
        }
        Err(e) => {
            c.fail("role-exists", e.to_string(), "make sure your AWS identity may call iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy");
            for id in ["role-trust", "role-external-id", "role-permissions"] {
                c.skip(id, "role unreadable");
            }
        }
        Ok(Some(f)) => {
            c.ok("role-exists", f.role_arn.clone());
            let trust = opts.trust.clone().or_else(|| {
                opts.conn
                    .address
                    .contains("tmprl.cloud")
                    .then_some(Trust::Cloud)
            });
            match trust {
                None => c.skip(
                    "role-trust",
                    format!(
                        "trusted principals: {} (pass --trusted-principal to check)",
                        f.trusted_principals.join(", ")
                    ),
                ),
                Some(tr) => {
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
            }
            let want = t.role_external_id.clone().unwrap_or_default();
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
            } else if !f.external_ids.contains(&want) {
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
                    format!("the role's policies do not allow {} on {arn}", missing.join(" and ")),
                    format!("temporal-lambda iam create --function-arn {base} (grants {base} and {base}:*)"),
                );
            }
        }
    }
    identity_and_logs(&mut c, &aws, &arn, opts, version).await
}

async fn identity_and_logs(
    c: &mut Ctx,
    aws: &Aws,
    arn: &FunctionArn,
    opts: &DoctorOptions,
    version: String,
) -> DoctorReport {
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
    let group = format!("/aws/lambda/{}", arn.name);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(opts.log_window);
    match aws
        .logs
        .filter_log_events()
        .log_group_name(&group)
        .start_time(since.as_millis() as i64)
        .filter_pattern(r#"?ERROR ?"Task timed out" ?"Runtime." ?"Sandbox.Timedout""#)
        .limit(50)
        .send()
        .await
    {
        Ok(out) => {
            let lines: Vec<String> = out
                .events()
                .iter()
                .filter_map(|e| e.message())
                .map(|m| m.trim().chars().take(240).collect())
                .collect();
            if lines.is_empty() {
                c.ok(
                    "recent-errors",
                    format!(
                        "no errors in {group} in the last {} min",
                        opts.log_window.as_secs() / 60
                    ),
                );
            } else {
                let last: Vec<String> = lines.iter().rev().take(3).cloned().collect();
                c.warn(
                    "recent-errors",
                    format!(
                        "{} error line(s) in {group} in the last {} min; latest: {}",
                        lines.len(),
                        opts.log_window.as_secs() / 60,
                        last.join(" | ")
                    ),
                    format!(
                        "read them: aws logs tail {group} --since {}m",
                        opts.log_window.as_secs() / 60
                    ),
                );
            }
        }
        Err(e) if crate::aws::error_code(&e).as_deref() == Some("ResourceNotFoundException") => c
            .ok(
                "recent-errors",
                format!("{group} has no logs yet (never invoked)"),
            ),
        Err(e) => c.warn(
            "recent-errors",
            crate::aws::describe_sdk_error(&e),
            "allow logs:FilterLogEvents to read the function's logs",
        ),
    }
    finish(version, std::mem::replace(c, Ctx { checks: Vec::new() }))
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
