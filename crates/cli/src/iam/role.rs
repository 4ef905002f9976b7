//! Reading a role and its policies back from IAM.

use crate::aws::{error_code, Aws, AwsError};

use super::policy::{decode_policy, trust_facts, RoleFacts};

/// Reads a role and its policies. `Ok(None)` if it does not exist.
pub(crate) async fn role_facts(aws: &Aws, role_arn: &str) -> Result<Option<RoleFacts>, AwsError> {
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
