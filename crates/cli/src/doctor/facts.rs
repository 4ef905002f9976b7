//! What `doctor` learned, link by link, before any check runs. Every field that is read
//! remotely is an `Option`: `None` means it was not looked at (an earlier link failed, or the
//! fact does not apply), so a test builds exactly the situation it means with
//! `Facts { .., ..Default::default() }`. The gates below say why a check has nothing to look
//! at; the gathering ([`super::gather`]) uses the same gates to decide what to read.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::compute::LambdaProviderDetails;
use crate::iam::{RoleFacts, Trust};
use crate::identifiers::FunctionArn;
use crate::logs::LogActivity;
use temporal_lambda_env::protocol::{ConnectionCheck, Describe};

use super::Verdict;

/// A fact read from a remote API, or the message of the error that kept it from being read.
pub(crate) type Read<T> = Result<T, String>;

/// The skip reason of a check whose fact the gathering never reached though its gates passed
/// (cannot happen in a run; keeps hand-built facts honest).
pub(crate) const NOT_CHECKED: &str = "not checked";

/// What was asked for (from the options).
#[derive(Debug, Clone, Default)]
pub(crate) struct Inputs {
    /// Deployment name.
    pub(crate) deployment_name: String,
    /// Build ID.
    pub(crate) build_id: String,
    /// Temporal namespace.
    pub(crate) namespace: String,
    /// Temporal address.
    pub(crate) address: String,
    /// `--function`: the function the version should invoke (name, `name:qualifier`, ARN).
    pub(crate) function: Option<String>,
    /// `--trusted-principal` (or Cloud's principals, given explicitly).
    pub(crate) trust: Option<Trust>,
    /// A function timeout at or below this leaves no time for work.
    pub(crate) min_timeout: Duration,
    /// How far back the function's logs are read.
    pub(crate) log_window: Duration,
}

/// Everything gathered; see the module doc.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// What was asked for.
    pub(crate) inputs: Inputs,
    /// Connecting to Temporal.
    pub(crate) temporal: Option<Read<()>>,
    /// The Worker Deployment Version (read when Temporal is reachable).
    pub(crate) version: Option<Result<VersionFacts, VersionLookupError>>,
    /// The AWS identity.
    pub(crate) aws: Option<Result<AwsIdentity, AwsFailure>>,
    /// The deployment's versions (read with Temporal and AWS); `Ok(None)`: no deployment.
    pub(crate) deployment: Option<Read<Option<DeploymentFacts>>>,
    /// The function's configuration (read with AWS and a function ARN in the region in use).
    pub(crate) function: Option<Result<FunctionFacts, FunctionLookupError>>,
    /// The invocation role named by the compute config; `Ok(None)`: it does not exist.
    pub(crate) role: Option<Read<Option<RoleFacts>>>,
    /// What the code answered to the describe request.
    pub(crate) code: Option<Read<Describe>>,
    /// The execution role (read when the API key comes from a secret); `Ok(None)`: it does
    /// not exist.
    pub(crate) execution_role: Option<Read<Option<RoleFacts>>>,
    /// What the code answered to the connection check.
    pub(crate) connection: Option<Read<ConnectionCheck>>,
    /// The function's log activity in the window; `Ok(None)`: no log group (never invoked).
    pub(crate) logs: Option<Read<Option<LogActivity>>>,
}

/// The Worker Deployment Version as the server describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VersionFacts {
    /// `<deployment>.<build-id>`, as the server names it.
    pub(crate) version: String,
    /// e.g. `CURRENT`, `RAMPING`, `INACTIVE`.
    pub(crate) status: String,
    /// The `aws-lambda` compute config (details that do not parse read as empty), if any.
    pub(crate) lambda: Option<LambdaProviderDetails>,
}

/// Why the version could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionLookupError {
    /// The server has no such version.
    NotFound,
    /// Any other error (its message).
    Other(String),
}

/// Who AWS says we are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AwsIdentity {
    /// Account ID.
    pub(crate) account: String,
    /// The region in use.
    pub(crate) region: String,
}

/// Why there is no AWS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsFailure {
    /// The clients did not load (no region, bad profile, …): the message.
    Config(String),
    /// `sts:GetCallerIdentity` failed (expired credentials, …): the message.
    Identity(String),
}

/// The function version's configuration, as far as the checks need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FunctionFacts {
    /// Lambda's state (`Active`, `Pending`, `Failed`, …); `None` reads as Active.
    pub(crate) state: Option<String>,
    /// Why it is in that state.
    pub(crate) state_reason: Option<String>,
    /// Memory, MB.
    pub(crate) memory_mb: Option<i32>,
    /// First architecture (`x86_64` when none is given).
    pub(crate) architecture: Option<String>,
    /// Timeout, seconds (Lambda's default 3 when not given).
    pub(crate) timeout_s: Option<i32>,
    /// Its environment variables.
    pub(crate) env: BTreeMap<String, String>,
    /// Its execution role ARN.
    pub(crate) execution_role: Option<String>,
}

/// Why the function's configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FunctionLookupError {
    /// Lambda has no such function (version): the SDK message.
    NotFound(String),
    /// Any other error: the SDK message.
    Other(String),
}

/// The deployment's routing and the versions it still sends tasks to.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DeploymentFacts {
    /// The current version's build ID.
    pub(crate) current: Option<String>,
    /// The ramping version's build ID.
    pub(crate) ramping: Option<String>,
    /// Share of new workflows the ramping version gets.
    pub(crate) ramping_percentage: f32,
    /// Every version with a build ID.
    pub(crate) versions: Vec<VersionUse>,
    /// The qualified ARN the ramping version's compute config invokes, if any.
    pub(crate) ramping_function: Option<String>,
    /// That function's log activity in the window (read when the ARN is a Lambda one).
    pub(crate) ramping_logs: Option<Read<Option<LogActivity>>>,
}

/// One version of the deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionUse {
    /// Its build ID.
    pub(crate) build_id: String,
    /// The server says it is draining.
    pub(crate) draining: bool,
    /// Open workflows pinned to it.
    pub(crate) open_pinned: u64,
    /// Some of their IDs.
    pub(crate) pinned_sample: Vec<String>,
    /// The Lambda ARN its compute config invokes, when Lambda says it no longer exists (only
    /// looked up for versions that still get tasks).
    pub(crate) missing_function: Option<String>,
}

impl DeploymentFacts {
    /// Why `v` still gets tasks, or `None` when it does not.
    pub(crate) fn still_used(&self, v: &VersionUse) -> Option<String> {
        let b = Some(v.build_id.as_str());
        if self.current.as_deref() == b {
            Some("it is current".to_string())
        } else if self.ramping.as_deref() == b {
            Some(format!(
                "it is ramping ({} % of new workflows)",
                self.ramping_percentage
            ))
        } else if v.open_pinned > 0 {
            Some(format!(
                "{} pinned workflow(s) on it are open (e.g. {})",
                v.open_pinned,
                v.pinned_sample.join(", ")
            ))
        } else if v.draining {
            Some("it is draining".to_string())
        } else {
            None
        }
    }
}

impl Facts {
    /// The version's Lambda compute config.
    pub(crate) fn target(&self) -> Option<&LambdaProviderDetails> {
        match &self.version {
            Some(Ok(v)) => v.lambda.as_ref(),
            _ => None,
        }
    }

    /// Which function: the compute config's, else `--function` when it is an ARN.
    pub(crate) fn function_arn(&self) -> Option<FunctionArn> {
        match (self.target(), &self.inputs.function) {
            (Some(t), _) => t.arn.parse().ok(),
            (None, Some(f)) => f.parse().ok(),
            (None, None) => None,
        }
    }

    /// The version, or the skip of a check that needs it.
    pub(crate) fn version_facts(&self) -> Result<&VersionFacts, Verdict> {
        match &self.version {
            Some(Ok(v)) => Ok(v),
            Some(Err(_)) => Err(Verdict::skip("no version")),
            None => Err(Verdict::skip("Temporal not reachable")),
        }
    }

    /// The AWS identity, when the credentials work.
    pub(crate) fn aws_identity(&self) -> Option<&AwsIdentity> {
        match &self.aws {
            Some(Ok(id)) => Some(id),
            _ => None,
        }
    }

    /// AWS credentials and a function ARN, or the skip of a check on the function.
    pub(crate) fn function_in_reach(&self) -> Result<(&AwsIdentity, FunctionArn), Verdict> {
        match (self.aws_identity(), self.function_arn()) {
            (Some(id), Some(arn)) => Ok((id, arn)),
            _ => Err(Verdict::skip("needs AWS credentials and the function ARN")),
        }
    }

    /// The function ARN, when it is in the region in use; else the skip.
    pub(crate) fn function_in_region(&self) -> Result<FunctionArn, Verdict> {
        let (id, arn) = self.function_in_reach()?;
        if arn.region != id.region {
            return Err(Verdict::skip("function is in another region"));
        }
        Ok(arn)
    }

    /// The function ARN and its configuration; else the skip.
    pub(crate) fn function_config(&self) -> Result<(FunctionArn, &FunctionFacts), Verdict> {
        let arn = self.function_in_region()?;
        match &self.function {
            Some(Ok(cfg)) => Ok((arn, cfg)),
            _ => Err(Verdict::skip("no function")),
        }
    }

    /// The function, its configuration and the compute config naming the invocation role;
    /// else the skip.
    pub(crate) fn role_target(
        &self,
    ) -> Result<(FunctionArn, &FunctionFacts, &LambdaProviderDetails), Verdict> {
        let (arn, cfg) = self.function_config()?;
        let t = self
            .target()
            .ok_or_else(|| Verdict::skip("no compute config"))?;
        Ok((arn, cfg, t))
    }

    /// The invocation role's facts (and the function, and the compute config); else the skip.
    pub(crate) fn invocation_role(
        &self,
    ) -> Result<(FunctionArn, &LambdaProviderDetails, &RoleFacts), Verdict> {
        let (arn, _, t) = self.role_target()?;
        match &self.role {
            Some(Ok(Some(r))) => Ok((arn, t, r)),
            Some(Ok(None)) => Err(Verdict::skip("no role")),
            Some(Err(_)) => Err(Verdict::skip("role unreadable")),
            None => Err(Verdict::skip(NOT_CHECKED)),
        }
    }
}
