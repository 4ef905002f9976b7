//! [`SecretSource`]: where the API key lives, parsed from an ARN, and which endpoint serves it.

use std::collections::HashMap;

use temporal_lambda_env::secret_arn::{SecretArn, SecretService, SECRET_ARN_FORMS};

use crate::SecretError;

/// The setting that names the secret: the worker reads the ARN from this environment variable.
pub const ARN_SETTING: &str = temporal_lambda_env::connection::API_KEY_SECRET_ARN;

/// Where the Temporal API key is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A Secrets Manager secret, read with `GetSecretValue`.
    SecretsManager {
        /// The secret's ARN, passed as `SecretId`.
        arn: String,
        /// The region from the ARN; requests are signed for and sent to it.
        region: String,
    },
    /// An SSM Parameter Store parameter (normally a `SecureString`), read with `GetParameter`
    /// and `WithDecryption`.
    SsmParameter {
        /// The parameter's ARN.
        arn: String,
        /// The parameter name from the ARN: `arn:…:parameter/NAME` gives `/NAME`.
        name: String,
        /// The region from the ARN; requests are signed for and sent to it.
        region: String,
    },
}

impl From<SecretArn> for SecretSource {
    fn from(a: SecretArn) -> Self {
        let (arn, region) = (a.as_str().to_string(), a.region().to_string());
        match a.service() {
            SecretService::SecretsManager => Self::SecretsManager { arn, region },
            SecretService::SsmParameter => Self::SsmParameter {
                arn,
                name: a.name().to_string(),
                region,
            },
        }
    }
}

impl SecretSource {
    /// Parses the ARN of a Secrets Manager secret
    /// (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx`) or of an SSM parameter
    /// (`arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`, whose name is `/NAME`), by the rule the
    /// CLI applies too ([`temporal_lambda_env::secret_arn::SecretArn`]).
    ///
    /// Surrounding whitespace is ignored; any partition starting with `aws` (`aws`, `aws-cn`,
    /// `aws-us-gov`, …) is accepted. Anything else is a [`SecretError::InvalidArn`] naming
    /// [`ARN_SETTING`] and the two accepted forms. A value that does not even start with `arn:`
    /// is not repeated in the error, in case it is the API key pasted into the wrong setting.
    pub fn parse_arn(arn: &str) -> Result<Self, SecretError> {
        let parsed = SecretArn::parse(arn).map_err(|e| SecretError::InvalidArn {
            reason: e.reason().to_string(),
            accepted: SECRET_ARN_FORMS,
        })?;
        Ok(Self::from(parsed))
    }

    /// The ARN this source was parsed from.
    pub fn arn(&self) -> &str {
        match self {
            Self::SecretsManager { arn, .. } | Self::SsmParameter { arn, .. } => arn,
        }
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        match self {
            Self::SecretsManager { region, .. } | Self::SsmParameter { region, .. } => region,
        }
    }

    /// The SigV4 service name: `secretsmanager` or `ssm`.
    pub fn service(&self) -> &'static str {
        match self {
            Self::SecretsManager { .. } => "secretsmanager",
            Self::SsmParameter { .. } => "ssm",
        }
    }

    /// The endpoint URL requests for this source go to, chosen from `env`:
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` (Secrets Manager) or `AWS_ENDPOINT_URL_SSM` (SSM),
    /// else `AWS_ENDPOINT_URL`, else `https://secretsmanager.{region}.amazonaws.com` /
    /// `https://ssm.{region}.amazonaws.com` (`amazonaws.com.cn` for `cn-*` regions).
    ///
    /// Empty values count as unset. A configured value must be an `http://` or `https://` URL
    /// with a host, else [`SecretError::InvalidEndpoint`] names the variable. Trailing `/` is
    /// removed.
    pub fn endpoint(&self, env: &HashMap<String, String>) -> Result<String, SecretError> {
        let specific = match self {
            Self::SecretsManager { .. } => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            Self::SsmParameter { .. } => "AWS_ENDPOINT_URL_SSM",
        };
        let configured = [specific, "AWS_ENDPOINT_URL"].into_iter().find_map(|name| {
            env.get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        });
        let Some((setting, value)) = configured else {
            let domain = if self.region().starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            return Ok(format!(
                "https://{}.{}.{domain}",
                self.service(),
                self.region()
            ));
        };
        let invalid = |reason: &str| SecretError::InvalidEndpoint {
            setting,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = value.parse().map_err(|_| invalid("it is not a URL"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(invalid("it must start with http:// or https://")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if uri.query().is_some() {
            return Err(invalid("it must not have a query string"));
        }
        Ok(value.trim_end_matches('/').to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SM_ARN: &str =
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:temporal/api-key-AbCdEf";
    const SSM_ARN: &str = "arn:aws:ssm:us-east-2:123456789012:parameter/temporal/api-key";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_secrets_manager_arn() {
        assert_eq!(
            SecretSource::parse_arn(SM_ARN).unwrap(),
            SecretSource::SecretsManager {
                arn: SM_ARN.into(),
                region: "eu-west-1".into()
            }
        );
        // Partial ARN (no random suffix) and other partitions are accepted too.
        let partial = "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:key";
        let s = SecretSource::parse_arn(&format!("  {partial}\n")).unwrap();
        assert_eq!(s.arn(), partial);
        assert_eq!(s.region(), "cn-north-1");
        assert_eq!(s.service(), "secretsmanager");
    }

    #[test]
    fn parses_ssm_arn_with_leading_slash_name() {
        assert_eq!(
            SecretSource::parse_arn(SSM_ARN).unwrap(),
            SecretSource::SsmParameter {
                arn: SSM_ARN.into(),
                name: "/temporal/api-key".into(),
                region: "us-east-2".into()
            }
        );
        let s =
            SecretSource::parse_arn("arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/k")
                .unwrap();
        assert!(matches!(&s, SecretSource::SsmParameter { name, .. } if name == "/k"));
        assert_eq!(s.service(), "ssm");
    }

    #[test]
    fn rejects_other_arns_naming_setting_and_forms() {
        for bad in [
            "",
            "   ",
            "arn:aws:kms:us-east-1:123456789012:key/1234",
            "arn:aws:secretsmanager:us-east-1:123456789012:other:x",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:",
            "arn:aws:secretsmanager:us-east-1:123456789012",
            "arn:aws:secretsmanager::123456789012:secret:x",
            "arn:aws:secretsmanager:US_EAST:123456789012:secret:x",
            "arn:aws:secretsmanager:us-east-1:12345:secret:x",
            "arn:aws:ssm:us-east-1:123456789012:parameter/",
            "arn:aws:ssm:us-east-1:123456789012:parameter//x",
            "arn:aws:ssm:us-east-1:123456789012:document/x",
            "arn:gcp:ssm:us-east-1:123456789012:parameter/x",
            "secretsmanager:us-east-1:123456789012:secret:x",
        ] {
            let err = SecretSource::parse_arn(bad).unwrap_err();
            assert!(
                matches!(err, SecretError::InvalidArn { .. }),
                "{bad}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(ARN_SETTING), "{msg}");
            assert!(
                msg.contains("arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx"),
                "{msg}"
            );
            assert!(
                msg.contains("arn:aws:ssm:REGION:ACCOUNT:parameter/NAME"),
                "{msg}"
            );
        }
    }

    #[test]
    fn a_pasted_api_key_is_not_echoed() {
        let key = "tmprl_abcdefghijklmnop.qrstuvwxyz";
        let err = SecretSource::parse_arn(key).unwrap_err();
        assert!(!err.to_string().contains(key), "{err}");
        assert!(!format!("{err:?}").contains(key), "{err:?}");
    }

    #[test]
    fn default_endpoints_are_regional() {
        let sm = SecretSource::parse_arn(SM_ARN).unwrap();
        let ssm = SecretSource::parse_arn(SSM_ARN).unwrap();
        let cn =
            SecretSource::parse_arn("arn:aws-cn:ssm:cn-north-1:123456789012:parameter/k").unwrap();
        let none = env(&[]);
        assert_eq!(
            sm.endpoint(&none).unwrap(),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            ssm.endpoint(&none).unwrap(),
            "https://ssm.us-east-2.amazonaws.com"
        );
        assert_eq!(
            cn.endpoint(&none).unwrap(),
            "https://ssm.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn service_specific_endpoint_beats_global_which_beats_default() {
        let sm = SecretSource::parse_arn(SM_ARN).unwrap();
        let ssm = SecretSource::parse_arn(SSM_ARN).unwrap();
        let both = env(&[
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4000/"),
            ("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL", "http://localhost:4566"),
        ]);
        assert_eq!(sm.endpoint(&both).unwrap(), "http://127.0.0.1:4000");
        assert_eq!(ssm.endpoint(&both).unwrap(), "http://127.0.0.1:5000");

        let global = env(&[
            ("AWS_ENDPOINT_URL", "https://vpce-1.secretsmanager.example"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", ""),
        ]);
        assert_eq!(
            sm.endpoint(&global).unwrap(),
            "https://vpce-1.secretsmanager.example"
        );
        assert_eq!(
            ssm.endpoint(&global).unwrap(),
            "https://vpce-1.secretsmanager.example"
        );
        // The other service's variable does not apply.
        let other = env(&[("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:5000")]);
        assert_eq!(
            sm.endpoint(&other).unwrap(),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn invalid_endpoint_names_the_variable() {
        let sm = SecretSource::parse_arn(SM_ARN).unwrap();
        for bad in [
            "localhost:4566",
            "ftp://x",
            "http://",
            "not a url",
            "http://h/?a=b",
        ] {
            let e = sm
                .endpoint(&env(&[("AWS_ENDPOINT_URL_SECRETS_MANAGER", bad)]))
                .unwrap_err();
            assert!(
                matches!(e, SecretError::InvalidEndpoint { .. }),
                "{bad}: {e:?}"
            );
            assert!(
                e.to_string().contains("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
                "{e}"
            );
        }
    }
}
