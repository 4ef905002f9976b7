//! The `TEMPORAL_*` environment of a Temporal Serverless Worker: which variables carry secrets,
//! and how to show an environment with them redacted.
//!
//! One rule for the worker library and the CLI (`deploy`, `doctor`, `ship`, `local up` output,
//! text and JSON), so a value the worker treats as secret is never printed by a tool.
//!
//! ```
//! use temporal_lambda_env::{is_secret_env_name, redacted_env_value, REDACTED};
//!
//! assert!(is_secret_env_name("TEMPORAL_API_KEY"));
//! assert!(is_secret_env_name("TEMPORAL_GRPC_META_X_TOKEN"));
//! assert!(is_secret_env_name("DB_PASSWORD"));
//! assert!(!is_secret_env_name("TEMPORAL_TLS_CLIENT_KEY_PATH"));
//! assert_eq!(redacted_env_value("TEMPORAL_API_KEY", "abc"), REDACTED);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connection;

/// What a redacted value is shown as.
pub const REDACTED: &str = "<redacted>";

/// Variables that are secret whatever their name looks like.
pub const SECRET_ENV_NAMES: &[&str] = &[
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_CODEC_AUTH",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Prefixes whose every variable is secret: gRPC metadata headers the worker sends to the
/// server (`TEMPORAL_GRPC_META_AUTHORIZATION`, …) carry credentials.
pub const SECRET_ENV_PREFIXES: &[&str] = &["TEMPORAL_GRPC_META_"];

/// Words that make a name look secret (case-insensitive, anywhere in the name).
const SECRET_WORDS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "CERT_DATA",
];

/// Suffixes that name *where* a secret is, not the secret: a file path, an ARN, a name, an id.
const REFERENCE_SUFFIXES: &[&str] = &["_PATH", "_FILE", "_ARN", "_NAME", "_ID", "_URL", "_REGION"];

/// Whether the variable `name` carries a secret: a known secret name, a `TEMPORAL_GRPC_META_*`
/// header, or a name containing KEY, TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL, AUTH or
/// PRIVATE — unless it ends in `_PATH`, `_FILE`, `_ARN`, `_NAME`, `_ID`, `_URL` or `_REGION`
/// (it then names where the secret is, e.g. `TEMPORAL_TLS_CLIENT_KEY_PATH`).
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if SECRET_ENV_NAMES.contains(&upper.as_str())
        || SECRET_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
    {
        return true;
    }
    if REFERENCE_SUFFIXES.iter().any(|s| upper.ends_with(s)) {
        return false;
    }
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// `value`, or [`REDACTED`] when `name` is secret (see [`is_secret_env_name`]).
pub fn redacted_env_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_env_name(name) {
        REDACTED
    } else {
        value
    }
}

/// `NAME=value` with the value redacted when the name is secret.
pub fn redacted_env_pair(name: &str, value: &str) -> String {
    format!("{name}={}", redacted_env_value(name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for n in [
            "TEMPORAL_API_KEY",
            "TEMPORAL_TLS_CLIENT_KEY_DATA",
            "TEMPORAL_CODEC_AUTH",
            "TEMPORAL_GRPC_META_AUTHORIZATION",
            "TEMPORAL_GRPC_META_X_TENANT",
            "temporal_api_key",
            "MY_SERVICE_TOKEN",
            "DB_PASSWORD",
            "STRIPE_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "OAUTH_CLIENT_CREDENTIALS",
            "SIGNING_PRIVATE_PEM",
        ] {
            assert!(is_secret_env_name(n), "{n} must be secret");
        }
    }

    #[test]
    fn plain_names() {
        for n in [
            "TEMPORAL_ADDRESS",
            "TEMPORAL_NAMESPACE",
            "TEMPORAL_TLS_CLIENT_KEY_PATH",
            "TEMPORAL_TLS_CLIENT_CERT_PATH",
            "TEMPORAL_TLS_SERVER_NAME",
            "TEMPORAL_API_KEY_SECRET_ARN",
            "AWS_ACCESS_KEY_ID",
            "TEMPORAL_LAMBDA_IDLE_EXIT",
            "RUST_LOG",
        ] {
            assert!(!is_secret_env_name(n), "{n} must not be secret");
        }
    }

    #[test]
    fn pairs() {
        assert_eq!(
            redacted_env_pair("TEMPORAL_API_KEY", "k"),
            "TEMPORAL_API_KEY=<redacted>"
        );
        assert_eq!(
            redacted_env_pair("TEMPORAL_ADDRESS", "h:1"),
            "TEMPORAL_ADDRESS=h:1"
        );
    }
}
