//! The API key's secret: checked before anything is written, and readable by the function's
//! execution role.

use std::collections::BTreeMap;

use super::DeployError;
use crate::aws::{Aws, AwsError};

/// The secret the function reads its API key from, checked by the one ARN rule before anything
/// is written (the argument parser already checked `--api-key-secret-arn`; this also covers
/// `--env` and callers of the library).
pub(super) fn secret_arn(
    env: &BTreeMap<String, String>,
) -> Result<Option<temporal_lambda_env::secret_arn::SecretArn>, DeployError> {
    Ok(env
        .get(temporal_lambda_env::connection::API_KEY_SECRET_ARN)
        .map(|v| temporal_lambda_env::secret_arn::SecretArn::parse(v))
        .transpose()?)
}

/// Name of the inline policy `deploy` puts on the execution role to read the API key's secret.
pub const SECRET_POLICY_NAME: &str = "temporal-lambda-api-key-secret";

/// The policy that lets a role read `secret`: `secretsmanager:GetSecretValue` on the secret,
/// or `ssm:GetParameter` on the parameter plus `kms:Decrypt` through SSM (SecureString).
pub(crate) fn secret_read_policy(
    secret: &temporal_lambda_env::secret_arn::SecretArn,
) -> serde_json::Value {
    use temporal_lambda_env::secret_arn::SecretService;
    let arn = secret.as_str();
    let statements = match secret.service() {
        SecretService::SecretsManager => serde_json::json!([{
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": arn,
        }]),
        SecretService::SsmParameter => serde_json::json!([
            {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": arn},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": format!("ssm.{}.amazonaws.com", secret.region())}}},
        ]),
    };
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// Puts [`SECRET_POLICY_NAME`] on the execution role `role_arn` so the function can read
/// `secret_arn`; returns the policy name. Idempotent.
pub(crate) async fn grant_secret_read(
    aws: &Aws,
    role_arn: &str,
    secret_arn: &temporal_lambda_env::secret_arn::SecretArn,
) -> Result<String, DeployError> {
    let doc = secret_read_policy(secret_arn);
    let role_name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    aws.iam
        .put_role_policy()
        .role_name(role_name)
        .policy_name(SECRET_POLICY_NAME)
        .policy_document(doc.to_string())
        .send()
        .await
        .map_err(|e| AwsError::call("iam:PutRolePolicy", e))?;
    Ok(SECRET_POLICY_NAME.to_string())
}
