//! The invocation role: CloudFormation templates (Temporal Cloud and self-hosted), stack
//! creation, external ID generation, and reading a role back to check it (`doctor`).

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use serde::Serialize;
use serde_json::Value;

use crate::aws::{describe_sdk_error, error_code, Aws, AwsError};
use crate::validate::ExternalId;

/// The AWS principals Temporal Cloud assumes the invocation role from (from the guide's template).
pub const TEMPORAL_CLOUD_PRINCIPALS: &[&str] = &[
    "arn:aws:iam::902542641901:role/wci-lambda-invoke",
    "arn:aws:iam::160190466495:role/wci-lambda-invoke",
    "arn:aws:iam::819232936619:role/wci-lambda-invoke",
    "arn:aws:iam::829909441867:role/wci-lambda-invoke",
    "arn:aws:iam::354116250941:role/wci-lambda-invoke",
];

/// The Temporal Cloud template, as published in the guide.
pub const CLOUD_TEMPLATE: &str =
    include_str!("../templates/temporal-cloud-serverless-worker-role.yaml");

/// The self-hosted template: the same role and policy, trusting a principal you choose (the AWS
/// identity your Temporal server runs as).
pub const SELF_HOSTED_TEMPLATE: &str =
    include_str!("../templates/temporal-self-hosted-serverless-worker-role.yaml");

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
    /// Timed out.
    #[error("CloudFormation stack {0} still in progress after {1:?}")]
    Timeout(String, Duration),
    /// No RoleARN output.
    #[error("stack {0} has no RoleARN output; was it created from another template?")]
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

/// The external ID an existing role stack enforces (its `AssumeRoleExternalId` parameter);
/// `Ok(None)` when the stack does not exist or has no such parameter.
pub async fn stack_external_id(aws: &Aws, stack: &str) -> Result<Option<ExternalId>, AwsError> {
    let out = match aws
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let msg = describe_sdk_error(&e);
            if error_code(&e).as_deref() == Some("ValidationError")
                && msg.contains("does not exist")
            {
                return Ok(None);
            }
            return Err(AwsError::call("cloudformation:DescribeStacks", e));
        }
    };
    Ok(out
        .stacks()
        .first()
        .and_then(|s| {
            s.parameters()
                .iter()
                .find(|p| p.parameter_key() == Some("AssumeRoleExternalId"))
        })
        .and_then(|p| p.parameter_value())
        .and_then(|v| v.parse().ok()))
}

/// Picks the external ID for a role stack without ever rotating it by accident: the one asked
/// for, else the existing stack's, else the remembered one, else a new random one. An ID asked
/// for that differs from the stack's is refused unless `rotate` is set.
pub async fn choose_external_id(
    aws: &Aws,
    stack: &str,
    requested: Option<&ExternalId>,
    remembered: Option<&ExternalId>,
    rotate: bool,
) -> Result<(ExternalId, bool), IamError> {
    let current = stack_external_id(aws, stack).await?;
    match (requested, current) {
        (Some(r), Some(c)) if r.as_str() != c.as_str() && !rotate => {
            Err(IamError::ExternalIdRotation {
                stack: stack.to_string(),
                current: c.as_str().to_string(),
                requested: r.as_str().to_string(),
            })
        }
        (Some(r), _) => Ok((r.clone(), false)),
        (None, Some(c)) => Ok((c, false)),
        (None, None) => match remembered {
            Some(m) => Ok((m.clone(), false)),
            None => Ok((generate_external_id(), true)),
        },
    }
}

/// A random external ID: 32 characters of `[A-Za-z0-9]` from `rand`'s thread RNG (ChaCha12,
/// seeded from the OS; cryptographically secure).
pub fn generate_external_id() -> ExternalId {
    use rand::Rng as _;
    let s: String = rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    s.parse().expect("generated external IDs are valid")
}

/// Stack creation request.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Stack name.
    pub stack_name: String,
    /// Trust variant.
    pub trust: Trust,
    /// External ID.
    pub external_id: ExternalId,
    /// Function ARNs the role may invoke.
    pub function_arns: Vec<String>,
    /// Role base name (the template appends `-<stack name>`).
    pub role_name: Option<String>,
}

/// The stack's result.
#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    /// Stack name.
    pub stack_name: String,
    /// Final status.
    pub status: String,
    /// The invocation role ARN (stack output `RoleARN`).
    pub role_arn: String,
    /// Whether anything changed.
    pub changed: bool,
}

fn params(o: &StackOptions) -> Vec<Parameter> {
    let p = |k: &str, v: &str| {
        Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    let mut v = vec![
        p("AssumeRoleExternalId", o.external_id.as_str()),
        p("LambdaFunctionARNs", &o.function_arns.join(",")),
    ];
    if let Some(r) = &o.role_name {
        v.push(p("RoleName", r));
    }
    if let Trust::SelfHosted { principal } = &o.trust {
        v.push(p("TrustedPrincipalArn", principal));
    }
    v
}

/// Calls `create_stack` would make, for `--dry-run`.
pub fn plan(o: &StackOptions) -> Vec<String> {
    vec![
        format!("cloudformation:DescribeStacks {}", o.stack_name),
        format!(
            "cloudformation:CreateStack {} (or UpdateStack) with the {} template, \
             LambdaFunctionARNs={}, CAPABILITY_NAMED_IAM; wait for *_COMPLETE",
            o.stack_name,
            match o.trust {
                Trust::Cloud => "Temporal Cloud",
                Trust::SelfHosted { .. } => "self-hosted",
            },
            o.function_arns.join(",")
        ),
    ]
}

/// Whether the existing stack already has this template and these parameters (then there is
/// nothing to update; CloudFormation would answer "No updates are to be performed").
async fn stack_matches(aws: &Aws, o: &StackOptions) -> Result<bool, AwsError> {
    let stacks = aws
        .cloudformation
        .describe_stacks()
        .stack_name(&o.stack_name)
        .send()
        .await
        .map_err(|e| AwsError::call("cloudformation:DescribeStacks", e))?;
    let Some(stack) = stacks.stacks().first() else {
        return Ok(false);
    };
    let mut have = pairs(stack.parameters());
    let mut want = pairs(&params(o));
    // Defaults the template fills in count as given.
    if !want.iter().any(|(k, _)| k == "RoleName") {
        have.retain(|(k, _)| k != "RoleName");
    }
    have.sort();
    want.sort();
    if have != want {
        return Ok(false);
    }
    let template = aws
        .cloudformation
        .get_template()
        .stack_name(&o.stack_name)
        .send()
        .await
        .map_err(|e| AwsError::call("cloudformation:GetTemplate", e))?;
    Ok(template.template_body().map(str::trim) == Some(o.trust.template().trim()))
}

/// (key, value) pairs of stack parameters, list values normalized.
fn pairs(ps: &[Parameter]) -> Vec<(String, String)> {
    ps.iter()
        .map(|p| {
            (
                p.parameter_key().unwrap_or_default().to_string(),
                normalize_list(p.parameter_value().unwrap_or_default()),
            )
        })
        .collect()
}

/// `['a', 'b']` (how some CloudFormation implementations echo a CommaDelimitedList) → `a,b`.
fn normalize_list(v: &str) -> String {
    match v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(inner) => inner
            .split(',')
            .map(|x| x.trim().trim_matches(|c| c == '\'' || c == '"'))
            .collect::<Vec<_>>()
            .join(","),
        None => v.to_string(),
    }
}

async fn stack_status(
    aws: &Aws,
    stack: &str,
) -> Result<Option<(String, Vec<(String, String)>)>, AwsError> {
    match aws
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => Ok(out.stacks().first().map(|s| {
            (
                s.stack_status()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
                s.outputs()
                    .iter()
                    .map(|o| {
                        (
                            o.output_key().unwrap_or_default().to_string(),
                            o.output_value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            )
        })),
        Err(e) => {
            let msg = describe_sdk_error(&e);
            if error_code(&e).as_deref() == Some("ValidationError")
                && msg.contains("does not exist")
            {
                Ok(None)
            } else {
                Err(AwsError::Call {
                    operation: "cloudformation:DescribeStacks".into(),
                    message: msg,
                })
            }
        }
    }
}

async fn first_failure(aws: &Aws, stack: &str) -> String {
    let Ok(out) = aws
        .cloudformation
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
    else {
        return "no stack events available".into();
    };
    out.stack_events()
        .iter()
        .rev()
        .find(|e| {
            e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        })
        .map(|e| {
            format!(
                "{} {}: {}",
                e.logical_resource_id().unwrap_or_default(),
                e.resource_status().map(|s| s.as_str()).unwrap_or_default(),
                e.resource_status_reason().unwrap_or("no reason")
            )
        })
        .unwrap_or_else(|| "no failed resource reported".into())
}

/// Creates (or updates) the stack and waits for it; returns the role ARN.
pub async fn create_stack(
    aws: &Aws,
    o: &StackOptions,
    progress: &dyn Fn(&str),
) -> Result<StackReport, IamError> {
    let name = &o.stack_name;
    progress(&format!("looking up stack {name}"));
    let existing = stack_status(aws, name).await?;
    let changed = match &existing {
        Some((status, _)) if status == "ROLLBACK_COMPLETE" || status.ends_with("_FAILED") => {
            return Err(IamError::StackFailed {
                stack: name.clone(),
                status: status.clone(),
                reason: first_failure(aws, name).await,
            })
        }
        Some(_) if stack_matches(aws, o).await? => false,
        Some(_) => {
            progress(&format!("updating stack {name}"));
            match aws
                .cloudformation
                .update_stack()
                .stack_name(name)
                .template_body(o.trust.template())
                .set_parameters(Some(params(o)))
                .capabilities(Capability::CapabilityNamedIam)
                .send()
                .await
            {
                Ok(_) => true,
                Err(e) if describe_sdk_error(&e).contains("No updates are to be performed") => {
                    false
                }
                Err(e) => return Err(AwsError::call("cloudformation:UpdateStack", e).into()),
            }
        }
        None => {
            progress(&format!("creating stack {name}"));
            aws.cloudformation
                .create_stack()
                .stack_name(name)
                .template_body(o.trust.template())
                .set_parameters(Some(params(o)))
                .capabilities(Capability::CapabilityNamedIam)
                .send()
                .await
                .map_err(|e| AwsError::call("cloudformation:CreateStack", e))?;
            true
        }
    };
    let (status, outputs) = wait_for_stack(aws, name, progress).await?;
    let role_arn = outputs
        .into_iter()
        .find(|(k, _)| k == "RoleARN")
        .map(|(_, v)| v)
        .ok_or_else(|| IamError::NoOutput(name.clone()))?;
    Ok(StackReport {
        stack_name: name.clone(),
        status,
        role_arn,
        changed,
    })
}

/// Waits until the stack leaves `*_IN_PROGRESS` (up to 10 min); its final status and outputs,
/// or the first failure reason if it did not complete.
async fn wait_for_stack(
    aws: &Aws,
    name: &str,
    progress: &dyn Fn(&str),
) -> Result<(String, Vec<(String, String)>), IamError> {
    let limit = Duration::from_secs(600);
    let start = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let Some((status, outputs)) = stack_status(aws, name).await? else {
            return Err(IamError::StackFailed {
                stack: name.to_string(),
                status: "DELETED".into(),
                reason: first_failure(aws, name).await,
            });
        };
        if status.ends_with("_IN_PROGRESS") {
            if start.elapsed() > limit {
                return Err(IamError::Timeout(name.to_string(), limit));
            }
            progress(&format!("stack {name}: {status}"));
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            continue;
        }
        let ok = status == StackStatus::CreateComplete.as_str()
            || status == StackStatus::UpdateComplete.as_str();
        if !ok {
            return Err(IamError::StackFailed {
                stack: name.to_string(),
                status,
                reason: first_failure(aws, name).await,
            });
        }
        return Ok((status, outputs));
    }
}

/// Takes `function_arn` out of the role stack's `LambdaFunctionARNs` (when a retired version
/// was listed there by its qualified ARN); every other parameter and the template stay as they
/// are. `Ok(false)` when the stack does not list it.
pub async fn remove_function_arn(
    aws: &Aws,
    stack: &str,
    function_arn: &str,
    progress: &dyn Fn(&str),
) -> Result<bool, IamError> {
    let stacks = aws
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| AwsError::call("cloudformation:DescribeStacks", e))?;
    let Some(s) = stacks.stacks().first() else {
        return Ok(false);
    };
    let have = pairs(s.parameters());
    let Some((_, arns)) = have.iter().find(|(k, _)| k == "LambdaFunctionARNs") else {
        return Ok(false);
    };
    let kept: Vec<&str> = arns
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != function_arn)
        .collect();
    if kept.len() == arns.split(',').filter(|a| !a.trim().is_empty()).count() {
        return Ok(false);
    }
    if kept.is_empty() {
        // The role would invoke nothing: leave it listed rather than break the template.
        progress(&format!(
            "stack {stack} lists only {function_arn}: kept (delete the stack when the deployment is gone)"
        ));
        return Ok(false);
    }
    // The stack's own template, and every parameter by value (a NoEcho one, shown masked, by
    // `UsePreviousValue`): `UsePreviousTemplate` is not supported everywhere CloudFormation is.
    let template = aws
        .cloudformation
        .get_template()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| AwsError::call("cloudformation:GetTemplate", e))?;
    let Some(body) = template.template_body() else {
        progress(&format!(
            "stack {stack}: CloudFormation returned no template body, so {function_arn} stays in \
             LambdaFunctionARNs; remove it with `temporal-lambda iam create --stack-name {stack}` \
             and the remaining --function-arn values"
        ));
        return Ok(false);
    };
    let params = have
        .iter()
        .map(|(k, v)| {
            let b = Parameter::builder().parameter_key(k);
            if k == "LambdaFunctionARNs" {
                b.parameter_value(kept.join(",")).build()
            } else if v.chars().all(|c| c == '*') && !v.is_empty() {
                b.use_previous_value(true).build()
            } else {
                b.parameter_value(v).build()
            }
        })
        .collect();
    progress(&format!("updating stack {stack}"));
    aws.cloudformation
        .update_stack()
        .stack_name(stack)
        .template_body(body)
        .set_parameters(Some(params))
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .map_err(|e| AwsError::call("cloudformation:UpdateStack", e))?;
    wait_for_stack(aws, stack, progress).await?;
    Ok(true)
}

/// What a role's policies say, as far as the invocation path is concerned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoleFacts {
    /// Role ARN.
    pub role_arn: String,
    /// Principals (AWS) allowed to `sts:AssumeRole`.
    pub trusted_principals: Vec<String>,
    /// External IDs required by `StringEquals sts:ExternalId` on those statements; empty means
    /// the trust policy does not enforce one.
    pub external_ids: Vec<String>,
    /// Principals of `Allow sts:AssumeRole` statements that carry no `sts:ExternalId`
    /// condition (`"*"` when the statement names none). Any entry means the external ID is not
    /// enforced: that statement alone lets its principals assume the role.
    pub unguarded_principals: Vec<String>,
    /// All identity policy documents (inline and attached), decoded.
    #[serde(skip)]
    pub policies: Vec<Value>,
}

impl RoleFacts {
    /// Whether the role's identity policies allow `action` on `resource`.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let mut allowed = false;
        for doc in &self.policies {
            for st in statements(doc) {
                let matches = strings(st.get("Action"))
                    .iter()
                    .any(|a| wildcard(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                    && strings(st.get("Resource"))
                        .iter()
                        .any(|r| wildcard(r, resource));
                if matches {
                    match st.get("Effect").and_then(Value::as_str) {
                        Some("Deny") => return false,
                        Some("Allow") => allowed = true,
                        _ => {}
                    }
                }
            }
        }
        allowed
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => vec![],
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// IAM-style wildcard match (`*` any run, `?` one character).
pub fn wildcard(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}

fn decode_policy(s: &str) -> Value {
    let decoded = urlencoding::decode(s)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| s.to_string());
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(s))
        .unwrap_or(Value::Null)
}

/// What a trust policy says about `sts:AssumeRole`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustFacts {
    /// Principals (AWS) of every `Allow sts:AssumeRole` statement.
    pub trusted_principals: Vec<String>,
    /// External IDs required by `StringEquals`/`StringLike sts:ExternalId` conditions.
    pub external_ids: Vec<String>,
    /// Principals of `Allow sts:AssumeRole` statements with no external-ID condition.
    pub unguarded_principals: Vec<String>,
}

impl TrustFacts {
    /// True when every statement that allows `sts:AssumeRole` requires an external ID.
    pub fn enforces_external_id(&self) -> bool {
        !self.external_ids.is_empty() && self.unguarded_principals.is_empty()
    }
}

/// Reads a trust policy statement by statement: an external ID is enforced only if *every*
/// statement that allows `sts:AssumeRole` carries the condition (IAM allows when any one
/// statement allows, so one unconditioned statement beside a guarded one defeats it).
pub fn trust_facts(trust: &Value) -> TrustFacts {
    let mut out = TrustFacts::default();
    for st in statements(trust) {
        let assumes = strings(st.get("Action"))
            .iter()
            .any(|a| wildcard(&a.to_ascii_lowercase(), "sts:assumerole"));
        if !assumes || st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let principals = match st.get("Principal") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(p) => strings(p.get("AWS")),
            None => vec![],
        };
        let mut ids = Vec::new();
        if let Some(cond) = st.get("Condition") {
            for op in ["StringEquals", "StringLike"] {
                ids.extend(strings(cond.get(op).and_then(|c| c.get("sts:ExternalId"))));
            }
        }
        if ids.is_empty() {
            if principals.is_empty() {
                out.unguarded_principals.push("*".into());
            } else {
                out.unguarded_principals.extend(principals.iter().cloned());
            }
        }
        out.trusted_principals.extend(principals);
        out.external_ids.extend(ids);
    }
    out
}

/// Reads a role and its policies. `Ok(None)` if it does not exist.
pub async fn role_facts(aws: &Aws, role_arn: &str) -> Result<Option<RoleFacts>, AwsError> {
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let role = match aws.iam.get_role().role_name(name).send().await {
        Ok(r) => r,
        Err(e) if error_code(&e).as_deref() == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(AwsError::call("iam:GetRole", e)),
    };
    let mut facts = RoleFacts {
        role_arn: role_arn.to_string(),
        ..Default::default()
    };
    if let Some(r) = role.role() {
        facts.role_arn = r.arn().to_string();
        let trust = decode_policy(r.assume_role_policy_document().unwrap_or_default());
        let t = trust_facts(&trust);
        facts.trusted_principals = t.trusted_principals;
        facts.external_ids = t.external_ids;
        facts.unguarded_principals = t.unguarded_principals;
    }
    let inline = aws
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| AwsError::call("iam:ListRolePolicies", e))?;
    for p in inline.policy_names() {
        let doc = aws
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .map_err(|e| AwsError::call("iam:GetRolePolicy", e))?;
        facts.policies.push(decode_policy(doc.policy_document()));
    }
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| AwsError::call("iam:ListAttachedRolePolicies", e))?;
    for p in attached.attached_policies() {
        let Some(arn) = p.policy_arn() else { continue };
        let Ok(pol) = aws.iam.get_policy().policy_arn(arn).send().await else {
            continue;
        };
        let Some(v) = pol.policy().and_then(|p| p.default_version_id()) else {
            continue;
        };
        if let Ok(ver) = aws
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(v)
            .send()
            .await
        {
            if let Some(doc) = ver.policy_version().and_then(|v| v.document()) {
                facts.policies.push(decode_policy(doc));
            }
        }
    }
    Ok(Some(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconditioned_allow_beside_a_guarded_one_does_not_enforce_the_external_id() {
        let guarded = serde_json::json!({
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::902542641901:role/wci-lambda-invoke"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "ext-12345"}}
        });
        let open = serde_json::json!({
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": ["sts:AssumeRole", "sts:TagSession"]
        });
        let only_guarded = trust_facts(&serde_json::json!({"Statement": [guarded.clone()]}));
        assert!(only_guarded.enforces_external_id());
        let both = trust_facts(&serde_json::json!({"Statement": [guarded, open]}));
        assert_eq!(both.external_ids, vec!["ext-12345"]);
        assert_eq!(
            both.unguarded_principals,
            vec!["arn:aws:iam::111111111111:root"]
        );
        assert!(!both.enforces_external_id());
        // A Deny without the condition does not grant anything.
        let deny = trust_facts(&serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "a"}, "Action": "sts:*",
             "Condition": {"StringEquals": {"sts:ExternalId": "x1234"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}
        ]}));
        assert!(deny.enforces_external_id());
        // "Principal": "*" without a condition.
        let star = trust_facts(
            &serde_json::json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}),
        );
        assert_eq!(star.unguarded_principals, vec!["*"]);
    }

    #[test]
    fn generated_external_ids_are_valid_and_distinct() {
        let a = generate_external_id();
        let b = generate_external_id();
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn list_parameters_compare_in_either_form() {
        assert_eq!(normalize_list("['a:1', 'b:*']"), "a:1,b:*");
        assert_eq!(normalize_list("a:1,b:*"), "a:1,b:*");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("lambda:*", "lambda:invokefunction"));
        assert!(wildcard(
            "arn:aws:lambda:us-east-1:1:function:hello:*",
            "arn:aws:lambda:us-east-1:1:function:hello:3"
        ));
        assert!(!wildcard(
            "arn:aws:lambda:us-east-1:1:function:hello",
            "arn:aws:lambda:us-east-1:1:function:hello:3"
        ));
        assert!(wildcard("*", "anything"));
        assert!(wildcard("a?c", "abc"));
    }

    #[test]
    fn policy_evaluation_with_deny() {
        let f = RoleFacts {
            policies: vec![serde_json::json!({
                "Statement": [
                    {"Effect": "Allow", "Action": ["lambda:InvokeFunction", "lambda:GetFunction"], "Resource": "arn:x:function:f:*"},
                    {"Effect": "Deny", "Action": "lambda:GetFunction", "Resource": "arn:x:function:f:2"}
                ]
            })],
            ..Default::default()
        };
        assert!(f.allows("lambda:InvokeFunction", "arn:x:function:f:2"));
        assert!(f.allows("lambda:GetFunction", "arn:x:function:f:3"));
        assert!(!f.allows("lambda:GetFunction", "arn:x:function:f:2"));
        assert!(!f.allows("lambda:InvokeFunction", "arn:x:function:g:1"));
    }

    #[test]
    fn templates_carry_the_guides_parameters() {
        for t in [CLOUD_TEMPLATE, SELF_HOSTED_TEMPLATE] {
            for p in [
                "AssumeRoleExternalId",
                "LambdaFunctionARNs",
                "RoleName",
                "lambda:InvokeFunction",
                "lambda:GetFunction",
                "sts:ExternalId",
                "RoleARN",
            ] {
                assert!(t.contains(p), "{p}");
            }
        }
        for p in TEMPORAL_CLOUD_PRINCIPALS {
            assert!(CLOUD_TEMPLATE.contains(p));
        }
        assert!(SELF_HOSTED_TEMPLATE.contains("TrustedPrincipalArn"));
    }
}
