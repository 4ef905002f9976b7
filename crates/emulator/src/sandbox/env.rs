//! The environment variables Lambda sets in a sandbox, and X-Ray trace ids.

use std::collections::BTreeMap;

use crate::state::Inner;
use crate::store::{now_ms, StoredVersion};

pub(super) fn trace_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now_ms() / 1000,
        &u[..24],
        &u[16..32]
    )
}

pub(super) fn lambda_env(
    inner: &Inner,
    v: &StoredVersion,
    runtime_api: &str,
    stream: &str,
    fs: &crate::isolation::SandboxFs,
    creds: Option<&(String, String, String)>,
) -> BTreeMap<String, String> {
    let c = &v.config;
    let code = fs.task_root.to_string_lossy().into_owned();
    let scratch = &fs.tmp;
    let mut env = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        env.insert(k.to_string(), val);
    };
    set("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string());
    set("AWS_LAMBDA_FUNCTION_NAME", c.function_name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", c.version.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_size.to_string());
    set(
        "AWS_LAMBDA_LOG_GROUP_NAME",
        c.logging_config.log_group.clone(),
    );
    set("AWS_LAMBDA_LOG_STREAM_NAME", stream.to_string());
    match c.managed_instances() {
        // Lambda Managed Instances: the runtime may hold this many concurrent `next` requests
        // (AWS, Runtime API page). The init type's value is not on an AWS docs page: it is what
        // LocalStack sets and observability agents test for.
        Some(m) => {
            set(
                "AWS_LAMBDA_INITIALIZATION_TYPE",
                "lambda-managed-instances".to_string(),
            );
            set(
                "AWS_LAMBDA_MAX_CONCURRENCY",
                crate::managed::max_concurrency(m, c.memory_size).to_string(),
            );
        }
        None => set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
    }
    set("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", c.runtime));
    set("AWS_REGION", inner.config.region.clone());
    set("AWS_DEFAULT_REGION", inner.config.region.clone());
    set("LAMBDA_TASK_ROOT", code.clone());
    set("LAMBDA_RUNTIME_DIR", code.clone());
    set("_HANDLER", c.handler.clone());
    set("TZ", ":UTC".to_string());
    set("LANG", "en_US.UTF-8".to_string());
    set(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()
        }),
    );
    let mut ld = format!("{code}:{code}/lib");
    if let Ok(host) = std::env::var("LD_LIBRARY_PATH") {
        if !host.is_empty() {
            ld = format!("{ld}:{host}");
        }
    }
    set("LD_LIBRARY_PATH", ld);
    set("HOME", scratch.to_string_lossy().into_owned());
    set("TMPDIR", scratch.to_string_lossy().into_owned());
    // The execution role's session credentials, as Lambda puts them in every sandbox.
    if let Some((akid, secret, token)) = creds {
        set("AWS_ACCESS_KEY_ID", akid.clone());
        set("AWS_SECRET_ACCESS_KEY", secret.clone());
        set("AWS_SESSION_TOKEN", token.clone());
    }
    for (k, val) in c.env_vars() {
        env.insert(k, val);
    }
    env
}
