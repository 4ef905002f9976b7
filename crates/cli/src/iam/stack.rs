//! The role's CloudFormation stack: create or update it from the template, wait for it, and
//! take a retired function ARN out of it.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, StackStatus};
use serde::Serialize;

use crate::aws::{describe_sdk_error, error_code, Aws, AwsError};
use crate::identifiers::ExternalId;

use super::{IamError, Trust};

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
pub(super) fn normalize_list(v: &str) -> String {
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
    Ok(describe_stack(aws, stack).await?.map(|s| {
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
    }))
}

/// The stack, or `Ok(None)` when CloudFormation says it does not exist.
pub(super) async fn describe_stack(aws: &Aws, stack: &str) -> Result<Option<Stack>, AwsError> {
    match aws
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e)
            if error_code(&e).as_deref() == Some("ValidationError")
                && describe_sdk_error(&e).contains("does not exist") =>
        {
            Ok(None)
        }
        Err(e) => Err(AwsError::call("cloudformation:DescribeStacks", e)),
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
                return Err(IamError::Timeout {
                    stack: name.to_string(),
                    waited: limit,
                });
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
