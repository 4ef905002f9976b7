//! The `TEMPORAL_*` environment of a Temporal Serverless Worker: which variables carry secrets,
//! and how to show an environment with them redacted.
//!
//! One rule for the worker library and the CLI (`deploy`, `doctor`, `ship`, `local up` output,
//! text and JSON, the worker's errors and `Debug`), so a value the worker treats as secret is
//! never printed by a tool:
//!
//! * a secret-named variable ([`is_secret_env_name`]) is shown as [`REDACTED`];
//! * a reference-named one (`_ARN`, `_URL`, `_PATH`, `_FILE`, `_NAME`, `_ID`, `_REGION`) is
//!   shown only when its value has the shape of that reference ([`reference_placeholder`]): a
//!   key pasted into `TEMPORAL_API_KEY_SECRET_ARN` is shown as [`NOT_AN_ARN`];
//! * anything else is shown.
//!
//! ```
//! use temporal_lambda_env::{is_secret_env_name, redacted_env_value, NOT_AN_ARN, REDACTED};
//!
//! assert!(is_secret_env_name("TEMPORAL_API_KEY"));
//! assert!(is_secret_env_name("TEMPORAL_GRPC_META_X_TOKEN"));
//! assert!(is_secret_env_name("DB_PASSWORD"));
//! assert!(!is_secret_env_name("TEMPORAL_TLS_CLIENT_KEY_PATH"));
//! assert_eq!(redacted_env_value("TEMPORAL_API_KEY", "abc"), REDACTED);
//! assert_eq!(redacted_env_value("TEMPORAL_API_KEY_SECRET_ARN", "tmprl_k.abc"), NOT_AN_ARN);
//! ```
//!
//! Also here, because the worker, the CLI, the TLS front and the packager share them:
//! [`Secret`] (the one redacting wrapper of a secret value),
//! [`secret_arn`] (the one parser of `TEMPORAL_API_KEY_SECRET_ARN`), [`private_file`] (the
//! one writer of files that may hold credentials) and [`protocol`] (the describe and
//! check-connection requests a function answers, and the description its Lambda versions carry).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

pub mod arch;
pub mod connection;
pub mod lambda_names;
#[cfg(unix)]
pub mod private_file;
pub mod protocol;
mod secret;
pub mod secret_arn;

pub use secret::Secret;

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

/// What an `_ARN` value that does not start with `arn:` is shown as.
pub const NOT_AN_ARN: &str = "<redacted: not an ARN>";
/// What a `_URL` value is shown as when it is not a URL, or carries credentials or a query.
pub const NOT_A_PLAIN_URL: &str = "<redacted: not a URL without credentials or query>";
/// What a `_PATH` / `_FILE` value is shown as when it holds line breaks or PEM data.
pub const NOT_A_PATH: &str = "<redacted: not a path>";
/// What a `_NAME` / `_ID` value is shown as when it is not a single short token.
pub const NOT_A_NAME: &str = "<redacted: not a name or id>";
/// What a `_REGION` value is shown as when it is not a region name.
pub const NOT_A_REGION: &str = "<redacted: not a region>";

/// `None` when `value` has the shape of the reference `name`'s suffix promises (or `name` is
/// not reference-named); else the placeholder to show instead:
///
/// * `_ARN`: starts with `arn:` and has no whitespace, else [`NOT_AN_ARN`];
/// * `_URL`: `scheme://…` without whitespace, user info (`user:pass@`) or query, else
///   [`NOT_A_PLAIN_URL`];
/// * `_PATH`, `_FILE`: no control characters and no PEM block, else [`NOT_A_PATH`];
/// * `_NAME`, `_ID`: one token of at most 256 printable ASCII characters, no PEM block, else
///   [`NOT_A_NAME`];
/// * `_REGION`: lower-case letters, digits and `-`, else [`NOT_A_REGION`].
///
/// An empty value is always shown.
pub fn reference_placeholder(name: &str, value: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    let suffix = REFERENCE_SUFFIXES.iter().find(|s| upper.ends_with(*s))?;
    if value.is_empty() {
        return None;
    }
    let no_space = !value.chars().any(|c| c.is_whitespace() || c.is_control());
    let pem = value.contains("-----BEGIN");
    let (fits, placeholder) = match *suffix {
        "_ARN" => (value.starts_with("arn:") && no_space, NOT_AN_ARN),
        "_URL" => (plain_url(value), NOT_A_PLAIN_URL),
        "_PATH" | "_FILE" => (!value.chars().any(char::is_control) && !pem, NOT_A_PATH),
        "_NAME" | "_ID" => (
            value.len() <= 256 && value.bytes().all(|b| b.is_ascii_graphic()) && !pem,
            NOT_A_NAME,
        ),
        _ => (
            value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            NOT_A_REGION,
        ),
    };
    (!fits).then_some(placeholder)
}

/// `scheme://authority…` with no whitespace, no user info and no query.
fn plain_url(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme_ok
        && !authority.is_empty()
        && !authority.contains('@')
        && !v.contains('?')
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// How the value of the variable `name` may be shown: [`REDACTED`] when `name` is secret (see
/// [`is_secret_env_name`]), a placeholder when `name` names a reference and the value does not
/// have its shape (see [`reference_placeholder`]), else `value`.
pub fn redacted_env_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_env_name(name) {
        REDACTED
    } else {
        reference_placeholder(name, value).unwrap_or(value)
    }
}

/// `NAME=value` with the value shown by [`redacted_env_value`].
pub fn redacted_env_pair(name: &str, value: &str) -> String {
    format!("{name}={}", redacted_env_value(name, value))
}

/// A setting's value that shows itself by the rule ([`redacted_env_value`]) in `Display` and
/// `Debug`, for errors and configuration structs that must name the value they are about
/// (e.g. the worker's `ApiKeySecret` error).
#[derive(Clone, PartialEq, Eq)]
pub struct EnvValue {
    name: &'static str,
    value: String,
}

impl EnvValue {
    /// The value of the variable `name`.
    pub fn new(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            name,
            value: value.into(),
        }
    }

    /// The variable's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The real value. Never log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// How the value may be shown.
    pub fn shown(&self) -> &str {
        redacted_env_value(self.name, &self.value)
    }
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.shown(), f)
    }
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
    fn a_key_pasted_into_a_reference_setting_is_not_shown() {
        let key = "tmprl_PASTEDKEY.abc";
        assert_eq!(
            redacted_env_value("TEMPORAL_API_KEY_SECRET_ARN", key),
            NOT_AN_ARN
        );
        assert_eq!(
            redacted_env_pair("TEMPORAL_API_KEY_SECRET_ARN", key),
            "TEMPORAL_API_KEY_SECRET_ARN=<redacted: not an ARN>"
        );
        let v = EnvValue::new("TEMPORAL_API_KEY_SECRET_ARN", key);
        assert!(!v.to_string().contains("PASTEDKEY"));
        assert!(!format!("{v:?}").contains("PASTEDKEY"));
        assert_eq!(v.expose(), key);
        for (name, value) in [
            ("AWS_ENDPOINT_URL", "tmprl_PASTEDKEY"),
            ("AWS_ENDPOINT_URL", "https://user:PASTEDKEY@host"),
            ("OTEL_COLLECTOR_URL", "https://host/?token=PASTEDKEY"),
            (
                "TEMPORAL_TLS_CLIENT_KEY_PATH",
                "-----BEGIN PRIVATE KEY-----\nPASTEDKEY",
            ),
            ("TEMPORAL_TLS_CLIENT_KEY_FILE", "line\nPASTEDKEY"),
            ("SERVICE_ACCOUNT_NAME", "two PASTEDKEY words"),
            ("AWS_REGION", "PASTEDKEY"),
        ] {
            let shown = redacted_env_value(name, value);
            assert!(!shown.contains("PASTEDKEY"), "{name}: {shown}");
            assert!(shown.starts_with("<redacted: "), "{name}: {shown}");
        }
    }

    #[test]
    fn references_with_their_shape_are_shown() {
        for (name, value) in [
            (
                "TEMPORAL_API_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf",
            ),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            (
                "AWS_ENDPOINT_URL_SSM",
                "https://ssm.us-east-1.amazonaws.com/",
            ),
            ("TEMPORAL_TLS_CLIENT_KEY_PATH", "temporal-tls/client.key"),
            ("TEMPORAL_CONFIG_FILE", "/var/task/my config.toml"),
            ("TEMPORAL_TLS_SERVER_NAME", "ns.acct.tmprl.cloud"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_REGION", "eu-west-1"),
            ("TEMPORAL_API_KEY_SECRET_ARN", ""),
        ] {
            assert_eq!(redacted_env_value(name, value), value, "{name}");
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
