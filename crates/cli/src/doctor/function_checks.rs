//! The function and the code in it: `function-region`, `function-exists`, `function-timeout`,
//! `function-env`, `function-identity`, `secret-grant`, `function-connection`,
//! `recent-errors`.

use std::time::Duration;

use temporal_lambda_env::connection::{self as vars, API_KEY_SECRET_ARN};

use crate::iam::RoleFacts;
use temporal_lambda_env::protocol::ConnectionCheck;

use super::facts::{Facts, FunctionLookupError, NOT_CHECKED};
use super::Verdict;

/// `function-region`: the function is in the region in use.
pub(super) fn function_region(f: &Facts) -> Verdict {
    let (id, arn) = gate!(f.function_in_reach());
    if arn.region != id.region {
        return Verdict::fail(
            format!(
                "function is in {} but the AWS region in use is {}",
                arn.region, id.region
            ),
            format!("pass --region {} (or set AWS_REGION)", arn.region),
        );
    }
    Verdict::ok(arn.region.to_string())
}

/// `function-exists`: the function version exists and is Active.
pub(super) fn function_exists(f: &Facts) -> Verdict {
    let arn = gate!(f.function_in_region());
    let cfg =
        match &f.function {
            Some(Ok(cfg)) => cfg,
            Some(Err(FunctionLookupError::NotFound(msg))) => return Verdict::fail(
                format!("{arn} does not exist ({msg})"),
                "temporal-lambda deploy (or ship), then register --update with the ARN it prints",
            ),
            Some(Err(FunctionLookupError::Other(msg))) => {
                return Verdict::fail(
                    msg.clone(),
                    "check that your AWS identity may call lambda:GetFunctionConfiguration",
                )
            }
            None => return Verdict::skip(NOT_CHECKED),
        };
    let state = cfg.state.as_deref().unwrap_or("Active");
    if state == "Active" {
        Verdict::ok(format!(
            "{arn} is Active ({} MB, {})",
            cfg.memory_mb.unwrap_or_default(),
            cfg.architecture.as_deref().unwrap_or("x86_64")
        ))
    } else {
        Verdict::fail(
            format!(
                "{arn} is {state}: {}",
                cfg.state_reason.as_deref().unwrap_or("")
            ),
            "fix the reason above and redeploy (temporal-lambda deploy)",
        )
    }
}

/// `function-timeout`: long enough for work beyond the worker's shutdown buffer.
pub(super) fn function_timeout(f: &Facts) -> Verdict {
    let (_, cfg) = gate!(f.function_config());
    let min = f.inputs.min_timeout;
    let timeout = Duration::from_secs(cfg.timeout_s.unwrap_or(3).max(0) as u64);
    if timeout <= min {
        Verdict::fail(
            format!("timeout {} s leaves no time for work: the worker stops polling {} s before the deadline", timeout.as_secs(), min.as_secs().saturating_sub(1)),
            "temporal-lambda deploy --timeout 600s (the guide's value; at least 60 s)",
        )
    } else if timeout < Duration::from_secs(60) {
        Verdict::warn(
            format!(
                "timeout {} s: most of each invocation is start-up and shutdown buffer",
                timeout.as_secs()
            ),
            "temporal-lambda deploy --timeout 600s",
        )
    } else {
        Verdict::ok(format!("{} s", timeout.as_secs()))
    }
}

/// `function-env`: the function's environment lets the worker connect (secrets redacted).
pub(super) fn function_env(f: &Facts) -> Verdict {
    let (_, cfg) = gate!(f.function_config());
    let env = &cfg.env;
    let has_file = env.contains_key(vars::CONFIG_FILE) || env.contains_key(vars::PROFILE);
    let auth = env.contains_key(vars::API_KEY)
        || env.contains_key(API_KEY_SECRET_ARN)
        || env.contains_key(vars::TLS_CLIENT_CERT_PATH)
        || env.contains_key(vars::TLS_CLIENT_CERT_DATA);
    let shown: Vec<String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("TEMPORAL_"))
        .map(|(k, v)| temporal_lambda_env::redacted_env_pair(k, v))
        .collect();
    match env.get(vars::ADDRESS) {
        None if !has_file => Verdict::fail(
            "TEMPORAL_ADDRESS is not set on the function, so the worker cannot connect",
            "temporal-lambda deploy --address <host:port> (sets TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and auth)",
        ),
        Some(a) if a.contains("tmprl.cloud") && !auth && !has_file => Verdict::fail(
            format!("TEMPORAL_ADDRESS={a} is Temporal Cloud but no TEMPORAL_API_KEY or TEMPORAL_TLS_CLIENT_CERT_PATH is set"),
            "temporal-lambda deploy --api-key … (or mTLS files inside the package)",
        ),
        _ if !env.contains_key(vars::NAMESPACE) && !has_file => Verdict::warn(
            format!("TEMPORAL_NAMESPACE is not set: the worker uses `default` ({})", shown.join(" ")),
            "temporal-lambda deploy --namespace <namespace>",
        ),
        _ => Verdict::ok(shown.join(" ")),
    }
}

/// `function-identity`: the code answers the describe request as the registered version.
pub(super) fn function_identity(f: &Facts) -> Verdict {
    let (arn, cfg) = gate!(f.function_config());
    let (dep, build) = (&f.inputs.deployment_name, &f.inputs.build_id);
    match &f.code {
        Some(Ok(d)) if &d.deployment_name == dep && &d.build_id == build => Verdict::ok(format!(
            "the code is {}:{} polling {} ({} {})",
            d.deployment_name, d.build_id, d.task_queue, d.library, d.library_version
        )),
        Some(Ok(d)) => Verdict::fail(
            format!(
                "{arn} runs code built as {}:{}, but the server invokes it for {dep}:{build}: its polls never match the tasks, so invocations end idle",
                d.deployment_name, d.build_id
            ),
            format!(
                "register the version the code declares (--deployment-name {} --build-id {}) with this ARN, or deploy the code built as {dep}:{build} and register --update the new qualified ARN",
                d.deployment_name, d.build_id
            ),
        ),
        Some(Err(e)) if cannot_exec(e) => {
            let arch = cfg.architecture.as_deref().unwrap_or("x86_64");
            Verdict::fail(
                format!(
                    "{arn} cannot start its bootstrap: it was built for another architecture than the function's Architectures [\"{arch}\"] ({e})"
                ),
                format!(
                    "package it for {arch} (temporal-lambda package --arch {arch}) and deploy it again (temporal-lambda deploy --arch {arch}); or deploy this zip to a function with its architecture"
                ),
            )
        }
        Some(Err(e)) => Verdict::fail(
            e.clone(),
            "look at the error above (config, crash at start) and the function's logs; redeploy with temporal-lambda deploy",
        ),
        None => Verdict::skip(NOT_CHECKED),
    }
}

/// Lambda's answer when it cannot exec `bootstrap` at all: `Runtime.InvalidEntrypoint` with
/// "exec format error" — an executable for the other architecture (Lambda's own wording; the
/// invoke's error type and message are all the caller gets).
fn cannot_exec(describe_error: &str) -> bool {
    describe_error.contains("Runtime.InvalidEntrypoint")
        && describe_error.contains("exec format error")
}

/// `secret-grant`: when the function reads its API key from a secret, its execution role may
/// read it (`secretsmanager:GetSecretValue`, or `ssm:GetParameter`).
pub(super) fn secret_grant(f: &Facts) -> Verdict {
    let (_, cfg) = gate!(f.function_config());
    let Some(secret) = cfg.env.get(API_KEY_SECRET_ARN) else {
        return Verdict::skip("the API key is not read from a secret");
    };
    let role = cfg.execution_role.as_deref().unwrap_or_default();
    match &f.execution_role {
        Some(Ok(facts)) => secret_grant_verdict(role, secret, facts.as_ref()),
        Some(Err(e)) => Verdict::warn(
            format!("cannot read execution role {role}: {e}"),
            "grant iam:GetRole / iam:GetRolePolicy to whoever runs doctor",
        ),
        None => Verdict::skip(NOT_CHECKED),
    }
}

/// The `secret-grant` verdict for the execution role `role` (its facts; `None` when it does not
/// exist) and the function's `TEMPORAL_API_KEY_SECRET_ARN` value `secret`, decided by the one
/// policy evaluator ([`RoleFacts::allows`]: Deny wins, wildcards, case-insensitive actions).
/// The value is shown by the shared rule: one that is not an ARN is never printed.
pub(super) fn secret_grant_verdict(role: &str, secret: &str, facts: Option<&RoleFacts>) -> Verdict {
    use temporal_lambda_env::secret_arn::{SecretArn, SecretService};
    let arn = match SecretArn::parse(secret) {
        Ok(a) => a,
        Err(e) => {
            return Verdict::fail(
                format!("the function's {e}: the worker cannot read its API key"),
                "temporal-lambda deploy --api-key-secret-arn <the secret's ARN> (the API key \
                 itself belongs in a Secrets Manager secret or SSM SecureString, not in this \
                 variable)",
            )
        }
    };
    let action = match arn.service() {
        SecretService::SsmParameter => "ssm:GetParameter",
        SecretService::SecretsManager => "secretsmanager:GetSecretValue",
    };
    let Some(f) = facts else {
        return Verdict::fail(
            format!("execution role {role} does not exist"),
            "deploy with --execution-role <an existing role>",
        );
    };
    if f.allows(action, arn.as_str()) {
        return Verdict::ok(format!("execution role {role} may {action} {arn}"));
    }
    Verdict::fail(
        format!(
            "execution role {role} is not allowed {action} on {arn} (no policy allows it, or \
             one denies it): the function cannot read its API key"
        ),
        format!(
            "temporal-lambda deploy --api-key-secret-arn {arn} (it puts the {} inline policy \
             on the role), or grant {action} yourself; remove any Deny that matches it",
            crate::lambda_deploy::SECRET_POLICY_NAME
        ),
    )
}

/// How the function connects, as its connection check reports it.
fn connection_settings(r: &ConnectionCheck) -> String {
    format!(
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
    )
}

/// `function-connection`: the function connects to Temporal with its own settings (TLS, CA,
/// server name, client certificate, API key or its secret) — what the server's invocations need.
pub(super) fn function_connection(f: &Facts) -> Verdict {
    gate!(f.function_config());
    match &f.connection {
        Some(Ok(r)) if r.ok => Verdict::ok(format!(
            "the function reached {} in {} ms ({})",
            r.address,
            r.connect_ms,
            connection_settings(r)
        )),
        Some(Ok(r)) => Verdict::fail(
            format!(
                "the function cannot reach Temporal with its own settings ({}): {}",
                connection_settings(r),
                r.error.as_deref().unwrap_or_default()
            ),
            "fix the setting the error names in the function's environment (temporal-lambda deploy sets TEMPORAL_* and packages the TLS files), then deploy again",
        ),
        Some(Err(e)) => Verdict::fail(
            e.clone(),
            "look at the error above and the function's logs; redeploy with temporal-lambda deploy",
        ),
        None => Verdict::skip(NOT_CHECKED),
    }
}

/// `recent-errors`: error lines in the function's logs within `--log-window`.
pub(super) fn recent_errors(f: &Facts) -> Verdict {
    let (arn, _) = gate!(f.function_config());
    let group = format!("/aws/lambda/{}", arn.name);
    let minutes = f.inputs.log_window.as_secs() / 60;
    match &f.logs {
        Some(Ok(None)) => Verdict::ok(format!("{group} has no logs yet (never invoked)")),
        Some(Ok(Some(a))) if a.errors == 0 => {
            Verdict::ok(format!("no errors in {group} in the last {minutes} min"))
        }
        Some(Ok(Some(a))) => {
            let latest: Vec<&str> = a.latest_errors.iter().rev().map(String::as_str).collect();
            Verdict::warn(
                format!(
                    "{} error line(s) in {group} in the last {minutes} min; latest: {}",
                    a.errors,
                    latest.join(" | ")
                ),
                format!("read them: aws logs tail {group} --since {minutes}m"),
            )
        }
        Some(Err(e)) => Verdict::warn(
            e.clone(),
            "allow logs:FilterLogEvents to read the function's logs",
        ),
        None => Verdict::skip(NOT_CHECKED),
    }
}
