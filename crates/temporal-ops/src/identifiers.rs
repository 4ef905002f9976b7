//! The identifiers that go into a Worker Deployment Version and its `aws-lambda` compute config
//! (function and role ARNs, external ID, deployment name, build ID), checked locally.
//!
//! The Temporal server validates the config too (by calling AWS), but its errors arrive late
//! and are hard to read; these checks catch typos before any network call.

use std::fmt;
use std::str::FromStr;
use temporal_lambda_env::lambda_names;

use serde::Serialize;

/// A locally detected problem with a user-supplied identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The Lambda function ARN is malformed.
    #[error(
        "invalid Lambda function ARN `{value}`: {reason}; expected \
         arn:aws:lambda:<region>:<12-digit account id>:function:<name>[:<version or alias>]"
    )]
    FunctionArn {
        /// The rejected input.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The IAM role ARN is malformed.
    #[error(
        "invalid IAM role ARN `{value}`: {reason}; expected arn:aws:iam::<12-digit account id>:role/<name>"
    )]
    RoleArn {
        /// The rejected input.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The external ID does not match AWS's constraints.
    #[error(
        "invalid external ID `{value}`: {reason}; it must be 5-45 characters from \
         [a-zA-Z0-9_+=,.@-]"
    )]
    ExternalId {
        /// The rejected input.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A deployment name or build ID is unusable.
    #[error("invalid {what} `{value}`: {reason}")]
    Name {
        /// `deployment name` or `build ID`.
        what: &'static str,
        /// The rejected input.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn is_partition(s: &str) -> bool {
    // aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, ...
    s == "aws"
        || (s.starts_with("aws-")
            && s[4..]
                .split('-')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase())))
}

fn is_region(s: &str) -> bool {
    // us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4 ...
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

/// A Lambda function ARN, optionally qualified with a version or alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionArn {
    raw: String,
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// 12-digit account ID.
    pub account: String,
    /// Function name.
    pub name: String,
    /// Version number, `$LATEST`, or alias; `None` for an unqualified ARN.
    pub qualifier: Option<String>,
}

impl FunctionArn {
    /// The ARN as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the ARN names a published version (e.g. `:7`), the recommended form: an alias or
    /// `$LATEST` can silently change the code the server invokes for this deployment version.
    pub fn is_published_version(&self) -> bool {
        self.qualifier
            .as_deref()
            .is_some_and(|q| q.chars().all(|c| c.is_ascii_digit()))
    }
}

impl fmt::Display for FunctionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for FunctionArn {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ValidationError::FunctionArn {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() < 7 || parts.len() > 8 {
            return Err(err(
                "wrong number of `:`-separated fields (a bare function name is not enough)",
            ));
        }
        if parts[0] != "arn" {
            return Err(err("it must start with `arn:`"));
        }
        if !is_partition(parts[1]) {
            return Err(err("unknown partition (expected `aws`)"));
        }
        if parts[2] != "lambda" {
            return Err(err("the service must be `lambda`"));
        }
        if !is_region(parts[3]) {
            return Err(err("missing or malformed region (e.g. `us-east-1`)"));
        }
        if !is_account(parts[4]) {
            return Err(err("the account ID must be exactly 12 digits"));
        }
        if parts[5] != "function" {
            return Err(err("the resource type must be `function`"));
        }
        let name = parts[6];
        if !lambda_names::is_valid_function_name(name) {
            return Err(err(
                "the function name must be 1-64 characters from [a-zA-Z0-9-_]",
            ));
        }
        let qualifier = match parts.get(7) {
            None => None,
            Some(q) if lambda_names::is_valid_qualifier(q) => Some(q.to_string()),
            Some(_) => {
                return Err(err(
                    "the qualifier must be a version number, `$LATEST`, or an alias \
                     ([a-zA-Z0-9-_], up to 128 characters)",
                ))
            }
        };
        Ok(FunctionArn {
            raw: s.to_string(),
            region: parts[3].to_string(),
            account: parts[4].to_string(),
            name: name.to_string(),
            qualifier,
        })
    }
}

/// An IAM role ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleArn {
    raw: String,
    /// 12-digit account ID.
    pub account: String,
    /// Role name (without path).
    pub name: String,
}

impl RoleArn {
    /// The ARN as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

impl FromStr for RoleArn {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ValidationError::RoleArn {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 {
            return Err(err("wrong number of `:`-separated fields"));
        }
        if parts[0] != "arn" {
            return Err(err("it must start with `arn:`"));
        }
        if !is_partition(parts[1]) {
            return Err(err("unknown partition (expected `aws`)"));
        }
        if parts[2] != "iam" {
            return Err(err("the service must be `iam`"));
        }
        if !parts[3].is_empty() {
            return Err(err("IAM ARNs have no region (`arn:aws:iam::...`)"));
        }
        if !is_account(parts[4]) {
            return Err(err("the account ID must be exactly 12 digits"));
        }
        let Some(path_and_name) = parts[5].strip_prefix("role/") else {
            return Err(err("the resource must be `role/<name>`"));
        };
        let segments: Vec<&str> = path_and_name.split('/').collect();
        let name = segments[segments.len() - 1];
        if name.is_empty() || name.len() > 64 || !name.chars().all(is_iam_name_char) {
            return Err(err(
                "the role name must be 1-64 characters from [a-zA-Z0-9_+=,.@-]",
            ));
        }
        if segments[..segments.len() - 1]
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(is_iam_name_char))
        {
            return Err(err("malformed role path"));
        }
        Ok(RoleArn {
            raw: s.to_string(),
            account: parts[4].to_string(),
            name: name.to_string(),
        })
    }
}

/// The STS external ID the server passes when assuming the invocation role.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    /// The external ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret (it is stored in plain text in the compute config), but keep it short.
        write!(f, "ExternalId({:?})", self.0)
    }
}

impl FromStr for ExternalId {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ValidationError::ExternalId {
            value: s.to_string(),
            reason,
        };
        let len = s.chars().count();
        if !(5..=45).contains(&len) {
            return Err(err(format!("it is {len} characters long")));
        }
        if let Some(bad) = s.chars().find(|&c| !is_iam_name_char(c)) {
            return Err(err(format!("character `{bad}` is not allowed")));
        }
        Ok(ExternalId(s.to_string()))
    }
}

/// Check a deployment name: non-empty, no `.` (the server joins `<deployment>.<build-id>`), no
/// control characters or leading/trailing spaces.
pub fn deployment_name(s: &str) -> Result<&str, ValidationError> {
    check_name("deployment name", s, true)
}

/// Check a build ID: non-empty, no control characters or leading/trailing spaces.
pub fn build_id(s: &str) -> Result<&str, ValidationError> {
    check_name("build ID", s, false)
}

fn check_name<'a>(
    what: &'static str,
    s: &'a str,
    forbid_dot: bool,
) -> Result<&'a str, ValidationError> {
    let err = |reason: &str| ValidationError::Name {
        what,
        value: s.to_string(),
        reason: reason.to_string(),
    };
    if s.is_empty() {
        return Err(err("it must not be empty"));
    }
    if s.trim() != s {
        return Err(err("it must not start or end with whitespace"));
    }
    if s.chars().any(char::is_control) {
        return Err(err("it must not contain control characters"));
    }
    if forbid_dot && s.contains('.') {
        return Err(err("it must not contain `.`"));
    }
    if s.len() > 255 {
        return Err(err("it is longer than 255 bytes"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_arns() {
        let a: FunctionArn = "arn:aws:lambda:us-east-1:123456789012:function:hello:7"
            .parse()
            .unwrap();
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.name, "hello");
        assert_eq!(a.qualifier.as_deref(), Some("7"));
        assert!(a.is_published_version());

        let a: FunctionArn = "arn:aws:lambda:eu-west-3:123456789012:function:my_fn-2"
            .parse()
            .unwrap();
        assert_eq!(a.qualifier, None);
        assert!(!a.is_published_version());
        let a: FunctionArn = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"
            .parse()
            .unwrap();
        assert!(!a.is_published_version());
        let a: FunctionArn = "arn:aws:lambda:us-east-1:123456789012:function:f:live"
            .parse()
            .unwrap();
        assert_eq!(a.qualifier.as_deref(), Some("live"));
        assert!(
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:1"
                .parse::<FunctionArn>()
                .is_ok()
        );
    }

    #[test]
    fn bad_function_arns() {
        for (bad, needle) in [
            ("hello", "number of"),
            (
                "arn:aws:lambda:us-east-1:12345678901:function:f",
                "12 digits",
            ),
            (
                "arn:aws:lambda:us-east-1:1234567890123:function:f",
                "12 digits",
            ),
            ("arn:aws:lambda::123456789012:function:f", "region"),
            ("arn:aws:lambda:useast1:123456789012:function:f", "region"),
            ("arn:aws:s3:us-east-1:123456789012:function:f", "lambda"),
            ("arn:aws:lambda:us-east-1:123456789012:layer:f", "function"),
            ("arn:aws:lambda:us-east-1:123456789012:function:", "name"),
            ("arn:aws:lambda:us-east-1:123456789012:function:a b", "name"),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f:",
                "qualifier",
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f:1:2",
                "number of",
            ),
            ("ARN:aws:lambda:us-east-1:123456789012:function:f", "arn:"),
            (
                "arn:gcp:lambda:us-east-1:123456789012:function:f",
                "partition",
            ),
        ] {
            let e = bad.parse::<FunctionArn>().unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(needle), "{bad}: {msg}");
            assert!(msg.contains("expected arn:aws:lambda:"), "{msg}");
        }
        let long = format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            "a".repeat(65)
        );
        assert!(long.parse::<FunctionArn>().is_err());
    }

    #[test]
    fn role_arns() {
        let r: RoleArn = "arn:aws:iam::123456789012:role/temporal-invoker"
            .parse()
            .unwrap();
        assert_eq!(r.name, "temporal-invoker");
        let r: RoleArn = "arn:aws:iam::123456789012:role/service/x+y=z,a.b@c-d_e"
            .parse()
            .unwrap();
        assert_eq!(r.name, "x+y=z,a.b@c-d_e");
        for (bad, needle) in [
            ("arn:aws:iam:us-east-1:123456789012:role/r", "no region"),
            ("arn:aws:iam::12345:role/r", "12 digits"),
            ("arn:aws:iam::123456789012:user/r", "role/<name>"),
            ("arn:aws:iam::123456789012:role/", "role name"),
            ("arn:aws:iam::123456789012:role/a b", "role name"),
            ("arn:aws:sts::123456789012:role/r", "iam"),
            ("arn:aws:iam::123456789012:role//r", "path"),
            ("role/r", "number of"),
        ] {
            let msg = bad.parse::<RoleArn>().unwrap_err().to_string();
            assert!(msg.contains(needle), "{bad}: {msg}");
            assert!(msg.contains("expected arn:aws:iam::"), "{msg}");
        }
    }

    #[test]
    fn external_ids() {
        for ok in ["abcde", "a_b+c=d,e.f@g-h", &"x".repeat(45), "Temporal-1234"] {
            assert!(ok.parse::<ExternalId>().is_ok(), "{ok}");
        }
        for (bad, needle) in [
            ("abcd", "4 characters"),
            (&"x".repeat(46) as &str, "46 characters"),
            ("abc def", "` `"),
            ("abc/def", "`/`"),
            ("abc:def", "`:`"),
            ("", "0 characters"),
        ] {
            let msg = bad.parse::<ExternalId>().unwrap_err().to_string();
            assert!(msg.contains(needle), "{bad}: {msg}");
            assert!(msg.contains("5-45 characters"), "{msg}");
        }
    }

    #[test]
    fn names() {
        assert!(deployment_name("my-app").is_ok());
        assert!(deployment_name("my.app").is_err());
        assert!(deployment_name("").is_err());
        assert!(build_id("1.2.3").is_ok());
        assert!(build_id(" x").is_err());
        assert!(build_id("a\nb").is_err());
    }
}
