//! [`SecretError`]: everything that can go wrong reading the API key, with the fix.

use std::time::Duration;

/// Why the API key could not be read.
///
/// Messages name the setting or resource involved and what to do; they never contain the
/// secret value, the AWS secret access key or the session token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// An AWS credential variable is missing from the environment.
    #[error(
        "{variable} is not set: Lambda sets it from the function's execution role; elsewhere \
         export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for \
         temporary credentials)"
    )]
    MissingCredentials {
        /// The missing variable, e.g. `AWS_ACCESS_KEY_ID`.
        variable: &'static str,
    },

    /// `TEMPORAL_API_KEY_SECRET_ARN` is not an ARN of a Secrets Manager secret or SSM parameter.
    #[error("TEMPORAL_API_KEY_SECRET_ARN is not a secret ARN: {reason}; {accepted}")]
    InvalidArn {
        /// What is wrong with it.
        reason: String,
        /// The accepted forms.
        accepted: &'static str,
    },

    /// An `AWS_ENDPOINT_URL*` variable is not a usable URL.
    #[error("{setting}=`{value}` is not a usable endpoint ({reason}): set it to e.g. http://127.0.0.1:5000 or unset it to use the regional AWS endpoint")]
    InvalidEndpoint {
        /// The variable, e.g. `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
        setting: &'static str,
        /// Its value (an endpoint URL, not a secret).
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The secret or parameter does not exist (`ResourceNotFoundException`, `ParameterNotFound`).
    #[error("secret {arn} not found: create it or fix TEMPORAL_API_KEY_SECRET_ARN")]
    NotFound {
        /// The ARN that was asked for.
        arn: String,
    },

    /// The credentials may not read the secret (`AccessDeniedException`, HTTP 403, or a
    /// rejected signature / token such as `UnrecognizedClientException`).
    #[error(
        "the function's execution role may not read {arn} (AWS said {code}): grant {grant} on it \
         (temporal-lambda deploy --api-key-secret-arn does)"
    )]
    AccessDenied {
        /// The ARN that was asked for.
        arn: String,
        /// The AWS error code, or `HTTP 403`.
        code: String,
        /// The permissions to grant: `secretsmanager:GetSecretValue` or
        /// `ssm:GetParameter + kms:Decrypt`.
        grant: &'static str,
    },

    /// The secret exists but holds something other than a text API key (a binary secret, an SSM
    /// `StringList`, a JSON value that is not a string, …).
    #[error("secret {arn} has the wrong type: {detail}")]
    WrongType {
        /// The ARN that was asked for.
        arn: String,
        /// What was found and what to store instead.
        detail: String,
    },

    /// The secret is a JSON object without an `api_key` or `TEMPORAL_API_KEY` key.
    #[error(
        "secret {arn} is a JSON object without an `api_key` or `TEMPORAL_API_KEY` key (keys \
         found: {}): add one of those keys holding the API key, or store the key as plain text",
        if keys.is_empty() { "none".to_string() } else { keys.join(", ") }
    )]
    MissingJsonKey {
        /// The ARN that was asked for.
        arn: String,
        /// The keys the object has (names only, never values).
        keys: Vec<String>,
    },

    /// The secret is empty (or only whitespace).
    #[error("secret {arn} is empty: put the Temporal API key in it")]
    Empty {
        /// The ARN that was asked for.
        arn: String,
    },

    /// Any other AWS error response.
    #[error("reading {arn} failed: AWS said {code}: {message}")]
    Other {
        /// The ARN that was asked for.
        arn: String,
        /// The AWS error code (e.g. `ThrottlingException`), or `HTTP <status>`.
        code: String,
        /// The AWS error message.
        message: String,
    },

    /// The endpoint could not be reached (DNS, connect, TLS, connection reset).
    #[error("could not reach {endpoint}: {reason}; {hint}")]
    Transport {
        /// The endpoint URL.
        endpoint: String,
        /// What failed.
        reason: String,
        /// What to check: network access, or trusted certificates for a TLS failure.
        hint: &'static str,
    },

    /// The endpoint did not answer within the per-request timeout.
    #[error(
        "{endpoint} did not answer within {after:?}; check the function's network access (VPC \
         functions need a NAT gateway or an interface VPC endpoint) or the AWS_ENDPOINT_URL* \
         settings"
    )]
    Timeout {
        /// The endpoint URL.
        endpoint: String,
        /// The timeout that expired.
        after: Duration,
    },

    /// The endpoint answered with something that is not a `GetSecretValue` / `GetParameter`
    /// response.
    #[error(
        "{endpoint} sent an unexpected response for {arn}: {reason}; is it really an AWS endpoint?"
    )]
    BadResponse {
        /// The ARN that was asked for.
        arn: String,
        /// The endpoint URL.
        endpoint: String,
        /// What was wrong (never the body itself).
        reason: String,
    },

    /// The request could not be signed (e.g. credentials with characters invalid in headers).
    #[error("could not sign the request for {arn}: {reason}; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN")]
    Signing {
        /// The ARN that was asked for.
        arn: String,
        /// What failed.
        reason: String,
    },
}
