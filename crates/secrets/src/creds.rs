//! [`AwsCredentials`]: the execution role's credentials from the Lambda sandbox environment.

use std::collections::HashMap;

use temporal_lambda_env::Secret;

use crate::SecretError;

/// AWS credentials to sign requests with.
///
/// `Debug` shows the access key id (an identifier, not a secret); the secret access key and the
/// session token are [`Secret`]s.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AwsCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`. Secret.
    pub secret_access_key: Secret,
    /// `AWS_SESSION_TOKEN`, present for temporary (role) credentials such as Lambda's. Secret.
    pub session_token: Option<Secret>,
}

impl AwsCredentials {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optional) `AWS_SESSION_TOKEN`
    /// from `env` — the variables Lambda sets in the sandbox from the function's execution role.
    ///
    /// Empty values count as unset. Fails with [`SecretError::MissingCredentials`] naming the
    /// first missing variable.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, SecretError> {
        let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let access_key_id = get("AWS_ACCESS_KEY_ID").ok_or(SecretError::MissingCredentials {
            variable: "AWS_ACCESS_KEY_ID",
        })?;
        let secret_access_key =
            get("AWS_SECRET_ACCESS_KEY").ok_or(SecretError::MissingCredentials {
                variable: "AWS_SECRET_ACCESS_KEY",
            })?;
        Ok(Self {
            access_key_id,
            secret_access_key: Secret::new(secret_access_key),
            session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_lambda_variables() {
        let c = AwsCredentials::from_env(&env(&[
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"),
            ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjE"),
        ]))
        .unwrap();
        assert_eq!(c.access_key_id, "ASIAEXAMPLE");
        assert_eq!(c.secret_access_key.expose(), "wJalrXUtnFEMI/K7MDENG");
        assert_eq!(
            c.session_token.as_ref().map(Secret::expose),
            Some("IQoJb3JpZ2luX2VjE")
        );
    }

    #[test]
    fn session_token_is_optional_and_empty_means_unset() {
        let c = AwsCredentials::from_env(&env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", ""),
        ]))
        .unwrap();
        assert_eq!(c.session_token, None);
    }

    #[test]
    fn missing_variables_are_named() {
        let e = AwsCredentials::from_env(&env(&[])).unwrap_err();
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
        let e = AwsCredentials::from_env(&env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    }

    #[test]
    fn debug_redacts_secret_key_and_token() {
        let c = AwsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "super-secret-key".into(),
            session_token: Some("super-secret-token".into()),
        };
        for shown in [format!("{c:?}"), format!("{c:#?}")] {
            assert!(shown.contains("ASIAEXAMPLE"), "{shown}");
            assert!(!shown.contains("super-secret"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        let c = AwsCredentials {
            session_token: None,
            ..c
        };
        assert!(format!("{c:?}").contains("session_token: None"));
    }
}
