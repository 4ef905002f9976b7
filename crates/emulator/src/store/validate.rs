//! What the store accepts: function names, timeouts, memory sizes, environment variables.

use std::collections::BTreeMap;

use crate::error::EmulatorError;

/// Environment variable names Lambda reserves (users may not set them).
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Lambda's function name rule: 1-64 characters among ASCII letters, digits, `-` and `_`.
/// The one check for every name used in a path under the data dir (code dirs, log dirs).
pub(crate) use temporal_lambda_env::lambda_names::is_valid_function_name;

pub(super) fn validate_name(name: &str) -> Result<(), EmulatorError> {
    if !is_valid_function_name(name) {
        return Err(EmulatorError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: Member must \
             have 1-64 characters among letters, digits, '-' and '_'"
        )));
    }
    Ok(())
}

pub(super) fn validate_timeout(t: u32) -> Result<(), EmulatorError> {
    if !(1..=900).contains(&t) {
        return Err(EmulatorError::InvalidParameter(format!(
            "Timeout {t} is out of range: it must be 1..=900 seconds"
        )));
    }
    Ok(())
}

pub(super) fn validate_memory(m: u32) -> Result<(), EmulatorError> {
    if !(128..=10240).contains(&m) {
        return Err(EmulatorError::InvalidParameter(format!(
            "MemorySize {m} is out of range: it must be 128..=10240 MB"
        )));
    }
    Ok(())
}

pub(super) fn validate_env(env: &BTreeMap<String, String>) -> Result<(), EmulatorError> {
    let reserved: Vec<&str> = env
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(EmulatorError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have \
             provided contains reserved keys that are currently not supported for modification. Reserved keys used \
             in this request: {}",
            reserved.join(", ")
        )));
    }
    if let Some(bad) = env.keys().find(|k| {
        k.is_empty()
            || !k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) {
        return Err(EmulatorError::InvalidParameter(format!(
            "Environment variable name '{bad}' is invalid: use letters, digits and '_', starting with a letter"
        )));
    }
    Ok(())
}
