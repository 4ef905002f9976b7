//! The one rule for `TEMPORAL_API_KEY_SECRET_ARN`: the ARN of a Secrets Manager secret or of an
//! SSM parameter, parsed the same way by the worker (before it reads the key) and by the CLI
//! (at its argument parser, before anything is written).
//!
//! ```
//! use temporal_lambda_env::secret_arn::{SecretArn, SecretService};
//!
//! let a: SecretArn = "arn:aws:ssm:us-east-2:123456789012:parameter/temporal/api-key".parse().unwrap();
//! assert_eq!(a.service(), SecretService::SsmParameter);
//! assert_eq!(a.name(), "/temporal/api-key");
//!
//! // A key pasted into the setting is refused without being repeated.
//! let e = "tmprl_PASTEDKEY.abc".parse::<SecretArn>().unwrap_err();
//! assert!(!e.to_string().contains("PASTEDKEY"));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::connection::API_KEY_SECRET_ARN;

/// The accepted forms, quoted in every error.
pub const SECRET_ARN_FORMS: &str = "use arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx \
     (Secrets Manager) or arn:aws:ssm:REGION:ACCOUNT:parameter/NAME (SSM Parameter Store)";

/// Which service stores the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretService {
    /// A Secrets Manager secret (`GetSecretValue`).
    SecretsManager,
    /// An SSM Parameter Store parameter, normally a `SecureString` (`GetParameter`).
    SsmParameter,
}

impl SecretService {
    /// The SigV4 / ARN service name: `secretsmanager` or `ssm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretsManager => "secretsmanager",
            Self::SsmParameter => "ssm",
        }
    }
}

/// A parsed `TEMPORAL_API_KEY_SECRET_ARN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretArn {
    arn: String,
    service: SecretService,
    region: String,
    name: String,
}

/// Why a value is not a secret ARN. The message names `TEMPORAL_API_KEY_SECRET_ARN` and the
/// accepted forms; a value that does not start with `arn:` is never part of it (it may be the
/// API key pasted into the wrong setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} is not a secret ARN: {reason}; {}",
    API_KEY_SECRET_ARN,
    SECRET_ARN_FORMS
)]
pub struct SecretArnError {
    reason: String,
    not_an_arn: bool,
}

impl SecretArnError {
    /// What is wrong, without the setting's name or the accepted forms.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the value did not even start with `arn:` (and so was not shown).
    pub fn is_not_an_arn(&self) -> bool {
        self.not_an_arn
    }
}

impl SecretArn {
    /// Parses the ARN of a Secrets Manager secret
    /// (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx`) or of an SSM parameter
    /// (`arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`, whose name is `/NAME`).
    ///
    /// Surrounding whitespace is ignored; any partition starting with `aws` (`aws`, `aws-cn`,
    /// `aws-us-gov`, …) is accepted.
    pub fn parse(value: &str) -> Result<Self, SecretArnError> {
        let arn = value.trim();
        let invalid = |reason: String, not_an_arn: bool| SecretArnError { reason, not_an_arn };
        if arn.is_empty() {
            return Err(invalid(format!("{API_KEY_SECRET_ARN} is empty"), false));
        }
        if !arn.starts_with("arn:") {
            return Err(invalid(
                format!(
                    "the value of {API_KEY_SECRET_ARN} does not start with `arn:` (not shown, in \
                     case it is the API key pasted into the wrong setting: a key goes in \
                     TEMPORAL_API_KEY, or in a secret whose ARN goes here)"
                ),
                true,
            ));
        }
        let bad = |why: &str| invalid(format!("`{arn}` {why}"), false);
        if arn.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace"));
        }
        // arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (RESOURCE may not contain ':' for either
        // service, except Secrets Manager's `secret:` prefix).
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, partition, service, region, account, resource] = parts[..] else {
            return Err(bad("has fewer than six `:`-separated fields"));
        };
        if !partition.starts_with("aws") {
            return Err(bad(
                "has a partition that is not aws, aws-cn, aws-us-gov, …",
            ));
        }
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("has no valid region (e.g. us-east-1)"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("has no valid 12-digit account id"));
        }
        let (service, name) = match service {
            "secretsmanager" => {
                let Some(name) = resource.strip_prefix("secret:") else {
                    return Err(bad(
                        "is a Secrets Manager ARN but not of a secret (`secret:NAME`)",
                    ));
                };
                if name.is_empty() || name.contains(':') {
                    return Err(bad("has no valid secret name after `secret:`"));
                }
                (SecretService::SecretsManager, name.to_string())
            }
            "ssm" => {
                let Some(name) = resource.strip_prefix("parameter/") else {
                    return Err(bad(
                        "is an SSM ARN but not of a parameter (`parameter/NAME`)",
                    ));
                };
                if name.is_empty() || name.contains(':') || name.starts_with('/') {
                    return Err(bad("has no valid parameter name after `parameter/`"));
                }
                (SecretService::SsmParameter, format!("/{name}"))
            }
            other => {
                return Err(bad(&format!(
                    "names the service `{other}`, which is neither secretsmanager nor ssm"
                )))
            }
        };
        Ok(Self {
            arn: arn.to_string(),
            service,
            region: region.to_string(),
            name,
        })
    }

    /// The ARN (trimmed).
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// Secrets Manager or SSM.
    pub fn service(&self) -> SecretService {
        self.service
    }

    /// The region from the ARN.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The secret's name (Secrets Manager, with its random suffix if the ARN has one) or the
    /// parameter's name with its leading `/` (SSM).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for SecretArn {
    type Err = SecretArnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SecretArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_services() {
        let sm: SecretArn = "  arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:k-AbCdEf\n"
            .parse()
            .unwrap();
        assert_eq!(sm.service(), SecretService::SecretsManager);
        assert_eq!(
            sm.as_str(),
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:k-AbCdEf"
        );
        assert_eq!(sm.region(), "cn-north-1");
        assert_eq!(sm.name(), "k-AbCdEf");
        let ssm: SecretArn = "arn:aws:ssm:us-east-2:123456789012:parameter/a/b"
            .parse()
            .unwrap();
        assert_eq!(ssm.service().as_str(), "ssm");
        assert_eq!(ssm.name(), "/a/b");
    }

    #[test]
    fn a_pasted_key_is_refused_and_not_repeated() {
        for key in [
            "tmprl_PASTEDKEY.abc",
            "Bearer tmprl_PASTEDKEY.abc",
            "PASTEDKEY",
        ] {
            let e = SecretArn::parse(key).unwrap_err();
            assert!(e.is_not_an_arn());
            assert!(!e.to_string().contains("PASTEDKEY"), "{e}");
            assert!(!format!("{e:?}").contains("PASTEDKEY"), "{e:?}");
            assert!(e.to_string().contains(API_KEY_SECRET_ARN), "{e}");
            assert!(e.to_string().contains("TEMPORAL_API_KEY,"), "{e}");
        }
    }

    #[test]
    fn other_arns_are_refused_naming_the_forms() {
        for bad in [
            "",
            "arn:aws:kms:us-east-1:123456789012:key/1234",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:a b",
            "arn:aws:ssm:us-east-1:123456789012:parameter//x",
            "arn:gcp:ssm:us-east-1:123456789012:parameter/x",
        ] {
            let e = SecretArn::parse(bad).unwrap_err();
            assert!(!e.is_not_an_arn());
            assert!(e.to_string().contains(SECRET_ARN_FORMS), "{e}");
        }
    }
}
