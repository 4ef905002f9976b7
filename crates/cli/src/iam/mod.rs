//! The invocation role: CloudFormation templates (Temporal Cloud and self-hosted), stack
//! creation, external ID generation, and reading a role back to check it (`doctor`).
//!
//! * the external ID: [`stack_external_id`], [`choose_external_id`], [`generate_external_id`];
//! * the role's stack: [`create_stack`], [`plan`], [`remove_function_arn`];
//! * reading a role back (`doctor`): `role_facts` gives a `RoleFacts`, whose `allows` is the
//!   one IAM policy evaluator of the crate (an explicit `Deny` wins).

use std::time::Duration;

use serde::Serialize;

use crate::aws::AwsError;

mod external_id;
mod policy;
mod role;
mod stack;

pub use external_id::{choose_external_id, generate_external_id, stack_external_id};
pub(crate) use policy::RoleFacts;
pub(crate) use role::role_facts;
pub use stack::{create_stack, plan, remove_function_arn, StackOptions, StackReport};

/// The AWS principals Temporal Cloud assumes the invocation role from (from the guide's template).
pub(crate) const TEMPORAL_CLOUD_PRINCIPALS: &[&str] = &[
    "arn:aws:iam::902542641901:role/wci-lambda-invoke",
    "arn:aws:iam::160190466495:role/wci-lambda-invoke",
    "arn:aws:iam::819232936619:role/wci-lambda-invoke",
    "arn:aws:iam::829909441867:role/wci-lambda-invoke",
    "arn:aws:iam::354116250941:role/wci-lambda-invoke",
];

/// The Temporal Cloud template, as published in the guide.
pub(crate) const CLOUD_TEMPLATE: &str =
    include_str!("../../templates/temporal-cloud-serverless-worker-role.yaml");

/// The self-hosted template: the same role and policy, trusting a principal you choose (the AWS
/// identity your Temporal server runs as).
pub(crate) const SELF_HOSTED_TEMPLATE: &str =
    include_str!("../../templates/temporal-self-hosted-serverless-worker-role.yaml");

/// Which template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "variant")]
pub enum Trust {
    /// Temporal Cloud's principals.
    Cloud,
    /// A self-hosted server's principal.
    SelfHosted {
        /// Principal ARN (role or user) the server uses.
        principal: String,
    },
}

impl Trust {
    /// The template body.
    pub fn template(&self) -> &'static str {
        match self {
            Trust::Cloud => CLOUD_TEMPLATE,
            Trust::SelfHosted { .. } => SELF_HOSTED_TEMPLATE,
        }
    }

    /// The principals the role must trust.
    pub fn principals(&self) -> Vec<String> {
        match self {
            Trust::Cloud => TEMPORAL_CLOUD_PRINCIPALS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Trust::SelfHosted { principal } => vec![principal.clone()],
        }
    }
}

/// Errors from `iam`.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// AWS failure.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Stack failed.
    #[error(
        "CloudFormation stack {stack} ended in {status}: {reason}. Fix the cause, then delete \
         the stack (aws cloudformation delete-stack --stack-name {stack}) and run again"
    )]
    StackFailed {
        /// Stack name.
        stack: String,
        /// Final status.
        status: String,
        /// First failure reason from the stack events.
        reason: String,
    },
    /// The stack was still changing when the wait ended.
    #[error(
        "CloudFormation stack {stack} still in progress after {waited:?}. Fix: wait until \
         `aws cloudformation describe-stacks --stack-name {stack}` shows it *_COMPLETE (or \
         failed), then run again"
    )]
    Timeout {
        /// Stack name.
        stack: String,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The stack has no `RoleARN` output.
    #[error(
        "stack {0} has no RoleARN output, so it was not created from this tool's role template. \
         Fix: pass another --stack-name, or delete that stack and run again"
    )]
    NoOutput(String),
    /// The stack already requires another external ID and rotating it was not asked for.
    #[error(
        "the role stack {stack} requires external ID {current}, not the {requested} given: changing it \
         would make sts:AssumeRole fail for every Worker Deployment Version still registered with \
         {current}, and their pinned workflows would stall. Omit --external-id to keep {current}, or \
         rotate on purpose with `temporal-lambda ship --external-id {requested} --rotate-external-id` \
         (updates the stack and re-registers every version of the deployment that uses the role)"
    )]
    ExternalIdRotation {
        /// Stack name.
        stack: String,
        /// The stack's `AssumeRoleExternalId` parameter.
        current: String,
        /// The ID asked for.
        requested: String,
    },
}

#[cfg(test)]
mod tests;
