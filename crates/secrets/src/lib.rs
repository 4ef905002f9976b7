//! Read the Temporal API key of a Serverless Worker from **AWS Secrets Manager** or **SSM
//! Parameter Store** (`SecureString`), once per Lambda execution environment, without the AWS
//! SDK.
//!
//! The whole AWS SDK costs megabytes of binary and milliseconds of cold start for what is one
//! signed JSON `POST`. This crate signs that request with [`aws-sigv4`](https://docs.rs/aws-sigv4)
//! and sends it over a small hyper 1 + rustls (`ring`) client:
//!
//! * [`SecretSource::parse_arn`] turns the value of `TEMPORAL_API_KEY_SECRET_ARN` into a
//!   [`SecretSource`] — a Secrets Manager secret
//!   (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx`) or an SSM parameter
//!   (`arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`);
//! * [`AwsCredentials::from_env`] reads the execution role's credentials that Lambda puts in the
//!   sandbox (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`);
//! * [`SecretFetcher::fetch`] calls `GetSecretValue` / `GetParameter` and returns a
//!   [`Secret`], whose `Debug` and `Display` never show the value.
//!
//! Failures are [`SecretError`]s whose messages name the setting or resource and the fix, and
//! never contain the secret value (nor the AWS secret key or session token).
//!
//! ```no_run
//! use std::collections::HashMap;
//! use temporal_lambda_secrets::{AwsCredentials, SecretFetcher, SecretSource};
//!
//! # async fn run() -> Result<(), temporal_lambda_secrets::SecretError> {
//! let env: HashMap<String, String> = std::env::vars().collect();
//! let source = SecretSource::parse_arn(&env["TEMPORAL_API_KEY_SECRET_ARN"])?;
//! let creds = AwsCredentials::from_env(&env)?;
//! let fetcher = SecretFetcher::new();
//! let api_key = fetcher.fetch(&source, &creds, &env).await?;
//! // Use `api_key.expose()` where the key is needed; `{api_key:?}` prints `<redacted>`.
//! # let _ = api_key.expose();
//! # Ok(())
//! # }
//! ```
//!
//! Endpoints: `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL_SSM`, else
//! `AWS_ENDPOINT_URL`, else the regional endpoint (`https://secretsmanager.{region}.amazonaws.com`,
//! `https://ssm.{region}.amazonaws.com`; `.amazonaws.com.cn` for `cn-*` regions). Plain `http://`
//! endpoints work too (local emulators such as moto or LocalStack).
#![warn(missing_docs)]

mod creds;
mod error;
mod fetch;
mod response;
mod sign;
mod source;

pub use creds::AwsCredentials;
pub use error::SecretError;
pub use fetch::{SecretFetcher, DEFAULT_TIMEOUT};
pub use source::{SecretSource, ARN_SETTING};
/// The secret value read: the toolkit's one redacting type.
pub use temporal_lambda_env::Secret;
