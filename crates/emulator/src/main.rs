//! `lambda-emulator`: a local AWS Lambda + STS endpoint on 127.0.0.1 for Temporal Serverless Workers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use temporal_lambda_emulator::{Emulator, EmulatorConfig, Fidelity};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Local AWS Lambda (control plane, Invoke, Runtime API) + STS on one endpoint.
/// Point clients at it with AWS_ENDPOINT_URL=http://127.0.0.1:PORT.
///
/// Security: it listens on 127.0.0.1 only and verifies SigV4 signatures against this run's key
/// pair (printed at start as `export` lines, or read from --credentials-file) and the session
/// credentials its STS issues; the /_emulator API wants the bearer token in
/// <data-dir>/api-token. Run as root (for cgroups), sandboxes run as an unprivileged user. Web
/// pages are kept out by request checks: a Host other than 127.0.0.1/localhost/[::1] (with this
/// port), any Origin or Sec-Fetch-* header, and form or text/plain bodies without a SigV4
/// Authorization header are refused. See SECURITY.md.
#[derive(Parser, Debug)]
#[command(name = "lambda-emulator", version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the bound address is printed on stdout). The
    /// default is a fixed, guessable port: what protects it from web pages (cross-site requests,
    /// DNS rebinding) are the Host/Origin checks, not the port.
    #[arg(long, default_value_t = 9001)]
    port: u16,
    /// Directory for functions, versions, roles, code and logs (kept across restarts). Created
    /// 0700; its state.json (issued credentials, function environments) is 0600.
    #[arg(long, default_value = ".lambda-emulator")]
    data_dir: PathBuf,
    /// Region used in ARNs and given to functions.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// 12-digit account id used in ARNs.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
    /// A role STS may assume, as ARN=EXTERNAL_ID (or just ARN for no external id). Repeatable.
    #[arg(long = "role", value_name = "ARN=EXTERNAL_ID")]
    roles: Vec<String>,
    /// IAM query endpoint (e.g. moto server) consulted by AssumeRole for roles not given with --role.
    #[arg(long, value_name = "URL")]
    iam_endpoint: Option<String>,
    /// Concurrency limit of functions without reserved concurrency.
    #[arg(long, default_value_t = 10)]
    default_concurrency: u32,
    /// Delays before the retries of a failed Event invocation, comma-separated, each a number
    /// with `ms`, `s` or `m` (e.g. `100ms,200ms` to compress them for tests). The default is
    /// Lambda's schedule (about 1 minute, then 2). How many retries run is the function's
    /// MaximumRetryAttempts (PutFunctionEventInvokeConfig, default 2); the last delay is reused
    /// for later retries.
    #[arg(long, value_name = "DELAYS", default_value = "60s,120s", value_parser = parse_delays)]
    async_retry_delays: Delays,
    /// Seconds an idle sandbox is kept warm.
    #[arg(long, default_value_t = 600)]
    idle_ttl_secs: u64,
    /// Lambda fidelity of each sandbox: `lambda` (CPU share by memory size, memory limit, frozen
    /// between invocations; needs writable cgroups, else freezing uses SIGSTOP/SIGCONT and the
    /// rest is off with a notice), `off`, or a comma list of cpu, memory, freeze.
    #[arg(long, default_value = "lambda", value_parser = parse_fidelity)]
    fidelity: Fidelity,
    /// Milliseconds between SIGTERM and SIGKILL when a sandbox is reclaimed (shutdown phase).
    #[arg(long, default_value_t = 500)]
    shutdown_grace_ms: u64,
    /// Execution environments of each published version of a Lambda Managed Instances function
    /// (its "instances"); invokes beyond environments × PerExecutionEnvironmentMaxConcurrency
    /// get 429.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    managed_instances_environments: u32,
    /// The key pair the emulator accepts, from a file (`aws_access_key_id = …` /
    /// `aws_secret_access_key = …`, or AWS_ACCESS_KEY_ID=… / AWS_SECRET_ACCESS_KEY=… lines).
    /// Default: a new pair each run, printed at start.
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// When run as root: the user sandboxes run as, UID:GID (default SUDO_UID:SUDO_GID when set,
    /// else 65534:65534, nobody). Never 0.
    #[arg(long, value_name = "UID:GID", value_parser = parse_user)]
    sandbox_user: Option<(u32, u32)>,
    /// Log format on stderr (filter with RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

fn parse_user(s: &str) -> Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').unwrap_or((s, s));
    match (u.parse::<u32>(), g.parse::<u32>()) {
        (Ok(u), Ok(g)) if u != 0 && g != 0 => Ok((u, g)),
        (Ok(_), Ok(_)) => Err("sandboxes never run as root: give a non-zero UID:GID".into()),
        _ => Err(format!("'{s}' is not UID:GID (numbers, e.g. 65534:65534)")),
    }
}

fn parse_fidelity(s: &str) -> Result<Fidelity, String> {
    s.parse()
}

#[derive(Clone, Debug)]
struct Delays(Vec<Duration>);

fn parse_delay(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        return Err(format!(
            "--async-retry-delays: '{s}' has no unit; write e.g. 100ms, 60s or 2m"
        ));
    };
    let n: u64 = num.trim().parse().map_err(|_| {
        format!("--async-retry-delays: '{s}' is not a whole number with ms, s or m (e.g. 100ms, 60s, 2m)")
    })?;
    Ok(Duration::from_millis(n.saturating_mul(unit)))
}

fn parse_delays(s: &str) -> Result<Delays, String> {
    if s.trim().is_empty() {
        return Ok(Delays(Vec::new()));
    }
    s.split(',')
        .map(parse_delay)
        .collect::<Result<_, _>>()
        .map(Delays)
}

fn parse_role(s: &str) -> Result<(String, Option<String>), String> {
    let (arn, ext) = match s.split_once('=') {
        Some((a, e)) => (a.to_string(), Some(e.to_string())),
        None => (s.to_string(), None),
    };
    if !arn.starts_with("arn:aws:iam::") || !arn.contains(":role/") {
        return Err(format!(
            "--role {s}: expected arn:aws:iam::<account>:role/<name>=<external id>"
        ));
    }
    Ok((arn, ext.filter(|e| !e.is_empty())))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }

    // Install signal handlers before announcing the address, so a prompt SIGTERM is handled.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };

    let mut config = EmulatorConfig::new(&args.data_dir);
    config.bind = SocketAddr::from(([127, 0, 0, 1], args.port));
    config.region = args.region;
    config.account_id = args.account_id;
    config.default_concurrency = args.default_concurrency;
    config.idle_sandbox_ttl = Duration::from_secs(args.idle_ttl_secs);
    config.async_retry_delays = args.async_retry_delays.0;
    config.iam_endpoint = args.iam_endpoint.clone();
    config.fidelity = args.fidelity;
    config.shutdown_grace = std::time::Duration::from_millis(args.shutdown_grace_ms);
    config.managed_instances_environments = args.managed_instances_environments;
    config.sandbox_user = args.sandbox_user;
    if let Some(file) = &args.credentials_file {
        match temporal_lambda_emulator::Credentials::from_file(file) {
            Ok(c) => config.credentials = c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for r in &args.roles {
        match parse_role(r) {
            Ok(role) => config.roles.push(role),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let handle = match Emulator::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // One write: the address first (scripts read that line), then what clients need; the
    // secret only when this run made it up (else it is in your file).
    let creds = handle.credentials();
    let secret = match &args.credentials_file {
        Some(f) => format!("# AWS_SECRET_ACCESS_KEY: the one in {}", f.display()),
        None => format!(
            "export AWS_SECRET_ACCESS_KEY={}",
            creds.secret_access_key.expose()
        ),
    };
    let banner = format!(
        "listening on {ep}\nexport AWS_ENDPOINT_URL={ep}\nexport AWS_ACCESS_KEY_ID={id}\n{secret}\n\
         # /_emulator API: Authorization: Bearer $(cat {token})\n",
        ep = handle.endpoint(),
        id = creds.access_key_id,
        token = handle
            .config()
            .data_dir
            .join(temporal_lambda_emulator::API_TOKEN_FILE)
            .display()
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // A reader that went away (EPIPE) must not stop the emulator.
        let _ = out.write_all(banner.as_bytes());
        let _ = out.flush();
    }

    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: stopping all sandboxes");
    handle.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_retry_delays() {
        let d = parse_delays("100ms,200ms").unwrap().0;
        assert_eq!(d, [Duration::from_millis(100), Duration::from_millis(200)]);
        let d = parse_delays("60s, 2m").unwrap().0;
        assert_eq!(d, [Duration::from_secs(60), Duration::from_secs(120)]);
        assert!(parse_delays("").unwrap().0.is_empty());
        let e = parse_delays("100").unwrap_err();
        assert!(
            e.contains("--async-retry-delays") && e.contains("100ms"),
            "{e}"
        );
        assert!(parse_delays("1.5s").is_err());
        let a = Args::try_parse_from(["lambda-emulator"]).unwrap();
        assert_eq!(
            a.async_retry_delays.0,
            temporal_lambda_emulator::DEFAULT_ASYNC_RETRY_DELAYS
        );
    }
}
