//! AWS configuration and clients: the standard AWS config chain (profiles, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`), plus `--region` / `--aws-profile` flags.

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;

/// AWS flags shared by the AWS-side subcommands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// AWS region (default: the AWS config chain: `AWS_REGION`, profile).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// AWS named profile (default: `AWS_PROFILE` or `default`).
    #[arg(long = "aws-profile", env = "AWS_PROFILE")]
    pub aws_profile: Option<String>,
}

/// Errors from AWS calls, with what to do about them.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No credentials anywhere in the chain.
    #[error(
        "no AWS credentials found ({detail}). Fix: run `aws configure` / `aws sso login`, or set \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --aws-profile NAME"
    )]
    NoCredentials {
        /// What the chain said.
        detail: String,
    },
    /// No region configured.
    #[error(
        "no AWS region configured. Fix: pass --region (e.g. --region us-east-1) or set AWS_REGION"
    )]
    NoRegion,
    /// A resource's region differs from the configured one.
    #[error(
        "{what} {arn} is in region {resource_region}, but the AWS region in use is {configured}. \
         Fix: pass --region {resource_region}"
    )]
    WrongRegion {
        /// Kind of resource.
        what: &'static str,
        /// Its ARN.
        arn: String,
        /// Its region.
        resource_region: String,
        /// The configured region.
        configured: String,
    },
    /// Any other service error.
    #[error("{operation} failed: {message}")]
    Call {
        /// The API operation.
        operation: String,
        /// The service's message (code and text).
        message: String,
    },
}

impl AwsError {
    /// Wraps an SDK error from `operation`, keeping the service's error code and message.
    pub fn call<E>(
        operation: &str,
        err: aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::http::Response,
        >,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        AwsError::Call {
            operation: operation.to_string(),
            message: describe_sdk_error(&err),
        }
    }
}

/// `Code: message` for a service error, or the transport error chain for others.
pub fn describe_sdk_error<E>(
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("HTTP {}", s.raw().status().as_u16()),
            }
        }
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(e) = src {
                s.push_str(": ");
                s.push_str(&e.to_string());
                src = e.source();
            }
            s
        }
    }
}

/// The service error code of an SDK error, if it is a service error.
pub fn error_code<E>(
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> Option<String>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
}

/// One endpoint URL per AWS service (see [`Aws::with_endpoints`]).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Lambda.
    pub lambda: String,
    /// IAM.
    pub iam: String,
    /// CloudFormation.
    pub cloudformation: String,
    /// STS.
    pub sts: String,
    /// CloudWatch Logs.
    pub logs: String,
}

/// Loaded AWS configuration and one client per service the CLI uses.
#[derive(Debug, Clone)]
pub struct Aws {
    /// The resolved SDK config.
    pub config: aws_config::SdkConfig,
    /// Region in use.
    pub region: String,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// CloudFormation.
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// STS.
    pub sts: aws_sdk_sts::Client,
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Aws {
    /// Loads the AWS config chain and checks that credentials and a region are there.
    pub async fn load(args: &AwsArgs) -> Result<Aws, AwsError> {
        let config = Self::load_unchecked(args).await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or(AwsError::NoRegion)?;
        match config.credentials_provider() {
            None => {
                return Err(AwsError::NoCredentials {
                    detail: "no credentials provider".into(),
                })
            }
            Some(p) => {
                if let Err(e) = p.provide_credentials().await {
                    let mut detail = e.to_string();
                    if let Some(s) = std::error::Error::source(&e) {
                        detail.push_str(&format!(": {s}"));
                    }
                    return Err(AwsError::NoCredentials { detail });
                }
            }
        }
        Ok(Self::from_config(config, region))
    }

    /// Loads the config without checking credentials (for `--dry-run`).
    pub async fn load_unchecked(args: &AwsArgs) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &args.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(p) = &args.aws_profile {
            loader = loader.profile_name(p);
        }
        loader.load().await
    }

    /// Clients with explicit static credentials and one endpoint per service (local emulators,
    /// tests). Production code uses [`Aws::load`] and the standard chain, where the same is done
    /// with `AWS_ENDPOINT_URL_<SERVICE>`.
    pub async fn with_endpoints(
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        e: &Endpoints,
    ) -> Aws {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_credential_types::Credentials::new(
                access_key_id,
                secret_access_key,
                None,
                None,
                "temporal-lambda-static",
            ))
            .load()
            .await;
        Aws {
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&config)
                    .endpoint_url(&e.lambda)
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .endpoint_url(&e.iam)
                    .build(),
            ),
            cloudformation: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(&config)
                    .endpoint_url(&e.cloudformation)
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config)
                    .endpoint_url(&e.sts)
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(&config)
                    .endpoint_url(&e.logs)
                    .build(),
            ),
            region: region.to_string(),
            config,
        }
    }

    fn from_config(config: aws_config::SdkConfig, region: String) -> Aws {
        Aws {
            lambda: aws_sdk_lambda::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            region,
            config,
        }
    }

    /// Fails if `arn_region` differs from the configured region.
    pub fn check_region(
        &self,
        what: &'static str,
        arn: &str,
        arn_region: &str,
    ) -> Result<(), AwsError> {
        if arn_region != self.region {
            return Err(AwsError::WrongRegion {
                what,
                arn: arn.to_string(),
                resource_region: arn_region.to_string(),
                configured: self.region.clone(),
            });
        }
        Ok(())
    }

    /// The account ID of the caller (`sts:GetCallerIdentity`).
    pub async fn account_id(&self) -> Result<String, AwsError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| AwsError::call("sts:GetCallerIdentity", e))?;
        Ok(out.account().unwrap_or_default().to_string())
    }
}
