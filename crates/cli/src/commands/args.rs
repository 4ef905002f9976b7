//! Arguments and value parsers shared by several commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::connect::ConnectArgs;
use crate::iam::Trust;
use crate::identifiers::{ExternalId, RoleArn};
use crate::lambda_deploy::{self, DeployOptions};
use temporal_lambda_temporal::clap_args::check_secret_arn;
pub use temporal_lambda_temporal::clap_args::{parse_secret_arn, quiet, Quiet};

/// Output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout (`local watch`: one JSON line per event).
    Json,
}

/// A Worker Deployment Version: deployment name + build ID.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Worker Deployment name (must match the worker's deployment name).
    #[arg(long, env = temporal_lambda_env::connection::DEPLOYMENT_NAME)]
    pub deployment_name: String,
    /// Build ID (must match the worker's build ID).
    #[arg(long, env = temporal_lambda_env::connection::BUILD_ID)]
    pub build_id: String,
}

/// How to build the worker for Lambda.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Directory of the worker crate (or its workspace).
    #[arg(long, default_value = ".")]
    pub project_dir: PathBuf,
    /// Cargo package to build (`-p`).
    #[arg(long, short = 'p')]
    pub package: Option<String>,
    /// Binary target to ship as `bootstrap`.
    #[arg(long, default_value = "bootstrap")]
    pub bin: String,
    /// Lambda architecture: x86_64 or arm64.
    #[arg(long, default_value = "x86_64", value_parser = parse_arch)]
    pub arch: temporal_lambda_package::Arch,
    /// Cargo profile: `release` (tuned for size: stripped, thin LTO, opt-level s) or any
    /// profile of your Cargo.toml (e.g. `dev` for quick test builds).
    #[arg(long, default_value = "release")]
    pub profile: String,
    /// Cargo features to enable.
    #[arg(long)]
    pub features: Vec<String>,
    /// Extra files to put at the zip root (e.g. temporal.toml, mTLS certificates).
    #[arg(long = "include")]
    pub include: Vec<PathBuf>,
}

impl BuildArgs {
    /// The package crate's build options.
    pub fn options(&self) -> temporal_lambda_package::BuildOptions {
        let mut o =
            temporal_lambda_package::BuildOptions::new(&self.project_dir, self.arch).bin(&self.bin);
        o.package = self.package.clone();
        o.features = self.features.clone();
        if self.profile != "release" {
            o.profile = temporal_lambda_package::Profile::Named(self.profile.clone());
        }
        o
    }
}

/// The Lambda function's settings.
#[derive(Debug, clap::Args)]
pub struct FunctionArgs {
    /// Lambda function name.
    #[arg(long)]
    pub function_name: String,
    /// Execution role Lambda runs the function with (needed to create it; trusts
    /// lambda.amazonaws.com). Not the role Temporal assumes to invoke it.
    #[arg(long)]
    pub execution_role: Option<String>,
    /// Function timeout (each invocation's deadline), 1s..=900s, e.g. 600s, 10m.
    #[arg(long, value_parser = parse_function_timeout, default_value = "600s")]
    pub timeout: Duration,
    /// Memory in MB.
    #[arg(long, default_value_t = 256)]
    pub memory: i32,
    /// Task queue (sets TEMPORAL_TASK_QUEUE, overriding the code's).
    #[arg(long)]
    pub task_queue: Option<String>,
    /// Extra environment variable KEY=VALUE for the function; repeatable.
    #[arg(long = "env", value_parser = quiet(parse_kv))]
    pub env: Vec<(String, String)>,
    /// Expected build ID (checked against what the code reports).
    #[arg(long)]
    pub build_id: Option<String>,
}

/// The invocation role: an existing one, or the stack `ship` manages.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    /// Use this existing invocation role instead of creating one.
    #[arg(long, requires = "external_id")]
    pub role_arn: Option<RoleArn>,
    /// External ID (5-45 chars of [a-zA-Z0-9_+=,.@-]); generated securely if omitted.
    #[arg(long, env = temporal_lambda_env::connection::EXTERNAL_ID)]
    pub external_id: Option<ExternalId>,
    /// CloudFormation stack for the invocation role (default: `<function>-temporal-invoker`, one
    /// per function, so shipping another function never rewrites this one's role).
    #[arg(long)]
    pub stack_name: Option<String>,
    /// Self-hosted Temporal: the AWS principal (role/user ARN) your server runs as. Without it
    /// the role trusts Temporal Cloud.
    #[arg(long)]
    pub trusted_principal: Option<String>,
}

impl RoleArgs {
    /// Whom the role trusts.
    pub fn trust(&self) -> Trust {
        trust(self.trusted_principal.clone())
    }
}

/// Temporal Cloud unless a self-hosted principal is given.
pub fn trust(trusted_principal: Option<String>) -> Trust {
    match trusted_principal {
        Some(principal) => Trust::SelfHosted { principal },
        None => Trust::Cloud,
    }
}

/// The deploy step's options from the connection and function arguments.
pub fn deploy_options(
    conn: &ConnectArgs,
    f: &FunctionArgs,
    zip: PathBuf,
    arch: temporal_lambda_package::Arch,
) -> DeployOptions {
    DeployOptions {
        function_name: f.function_name.clone(),
        zip,
        execution_role: f.execution_role.clone(),
        timeout: f.timeout,
        memory_mb: f.memory,
        arch,
        env: lambda_deploy::temporal_env(conn, f.task_queue.as_deref(), &f.env),
        build_id: f.build_id.clone(),
        files: lambda_deploy::connection_files(conn),
    }
}

/// `x86_64` or `arm64`.
pub fn parse_arch(s: &str) -> Result<temporal_lambda_package::Arch, String> {
    temporal_lambda_package::Arch::parse(s)
        .ok_or_else(|| format!("unknown architecture `{s}` (use x86_64 or arm64)"))
}

/// `KEY=VALUE` (`--env`). The value is never repeated in an error (it may be secret), and a
/// `TEMPORAL_API_KEY_SECRET_ARN` value must pass the same ARN rule as `--api-key-secret-arn`.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => {
            if k == temporal_lambda_env::connection::API_KEY_SECRET_ARN {
                check_secret_arn("--env TEMPORAL_API_KEY_SECRET_ARN=…", v)?;
            }
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(
            "--env expects KEY=VALUE, e.g. --env RUST_LOG=info (the value given is not shown: it \
             may be secret)"
                .to_string(),
        ),
    }
}

/// A JSON value.
pub fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not valid JSON ({e}); quote strings: '\"text\"'"))
}

/// `500ms`, `60s`, `10m`, `1h` (a bare number is seconds), at most a year.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration `{s}`"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in `{s}` (use ms, s, m, h)")),
    };
    // A year is more than any timeout here needs; beyond it (or NaN/inf) is a typo.
    const MAX_SECS: f64 = 365.0 * 24.0 * 3600.0;
    if !secs.is_finite() || !(0.0..=MAX_SECS).contains(&secs) {
        return Err(format!(
            "duration `{s}` is out of range: use at most 8760h (e.g. 600s, 10m)"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// A Lambda function timeout: 1 s to 900 s (Lambda's limits), whole seconds.
pub fn parse_function_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(900) {
        return Err(format!(
            "function timeout `{s}` is outside Lambda's 1s..=900s (15m); e.g. --timeout 600s"
        ));
    }
    Ok(Duration::from_secs(d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5 parsecs").is_err());
        // Used to panic (Duration overflow) and, as a function timeout, wrap in `as i32`.
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("1e400").is_err());
        assert!(parse_function_timeout("901s").is_err());
        assert!(parse_function_timeout("0.5s").is_err());
        assert_eq!(
            parse_function_timeout("15m").unwrap(),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn key_values() {
        assert_eq!(parse_kv("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_kv("=x").is_err());
        let e = parse_kv("TEMPORAL_API_KEY tmprl_PASTEDKEY.abc").unwrap_err();
        assert!(!e.contains("PASTEDKEY"), "{e}");
        let e = parse_kv("TEMPORAL_API_KEY_SECRET_ARN=tmprl_PASTEDKEY.abc").unwrap_err();
        assert!(!e.contains("PASTEDKEY"), "{e}");
    }

    /// `--api-key-secret-arn tmprl_PASTEDKEY.abc` (or the variable) is refused by the argument
    /// parser — before `deploy` writes anything — and the value is not repeated, not even by
    /// clap's own error format or `--help`'s `[env: …]`.
    #[test]
    fn the_parser_refuses_a_key_pasted_as_the_secret_arn() {
        use clap::Parser;
        let pasted = "tmprl_PASTEDKEY.abc";
        let base = [
            "temporal-lambda",
            "deploy",
            "--function-name",
            "f",
            "--api-key-secret-arn",
        ];
        let e =
            crate::commands::Cli::try_parse_from(base.iter().copied().chain([pasted])).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        let shown = e.render().to_string();
        assert!(!shown.contains("PASTEDKEY"), "{shown}");
        assert!(shown.contains("--api-key-secret-arn"), "{shown}");
        assert!(shown.contains("TEMPORAL_API_KEY"), "{shown}");
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:temporal/key-AbCdEf";
        let ok = crate::commands::Cli::try_parse_from(base.iter().copied().chain([arn]));
        assert!(ok.is_ok(), "{:?}", ok.err());
        // The same rule for --env.
        let e = crate::commands::Cli::try_parse_from(
            base[..4]
                .iter()
                .copied()
                .chain(["--env", "TEMPORAL_API_KEY_SECRET_ARN=tmprl_PASTEDKEY.abc"]),
        )
        .unwrap_err();
        assert!(!e.render().to_string().contains("PASTEDKEY"), "{e}");
    }
}
