//! The invocation role the compute config names: `role-not-execution`, `role-exists`,
//! `role-trust`, `role-external-id`, `role-permissions`.

use crate::iam::Trust;

use super::facts::{Facts, NOT_CHECKED};
use super::Verdict;

/// `role-not-execution`: Temporal's role is not the one Lambda runs the function with.
pub(super) fn role_not_execution(f: &Facts) -> Verdict {
    let (_, cfg, t) = gate!(f.role_target());
    let role_arn = t.role.as_deref().unwrap_or_default();
    if cfg.execution_role.as_deref() == Some(role_arn) {
        Verdict::fail(
            format!("the compute config's role {role_arn} is the function's execution role"),
            "use the invocation role (temporal-lambda iam create → RoleARN output), not the role Lambda runs the function with",
        )
    } else {
        Verdict::ok("invocation role differs from the execution role")
    }
}

/// `role-exists`: the role exists and doctor may read it.
pub(super) fn role_exists(f: &Facts) -> Verdict {
    let (_, _, t) = gate!(f.role_target());
    match &f.role {
        Some(Ok(Some(r))) => Verdict::ok(r.role_arn.clone()),
        Some(Ok(None)) => Verdict::fail(
            format!(
                "role {} does not exist",
                t.role.as_deref().unwrap_or_default()
            ),
            "temporal-lambda iam create --function-arn … (prints the RoleARN to register)",
        ),
        Some(Err(e)) => Verdict::fail(
            e.clone(),
            "make sure your AWS identity may call iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy",
        ),
        None => Verdict::skip(NOT_CHECKED),
    }
}

/// `role-trust`: the trust policy trusts Temporal Cloud (for `*.tmprl.cloud`) or
/// `--trusted-principal`.
pub(super) fn role_trust(f: &Facts) -> Verdict {
    let (_, _, r) = gate!(f.invocation_role());
    let trust = f.inputs.trust.clone().or_else(|| {
        f.inputs
            .address
            .contains("tmprl.cloud")
            .then_some(Trust::Cloud)
    });
    let Some(tr) = trust else {
        return Verdict::skip(format!(
            "trusted principals: {} (pass --trusted-principal to check)",
            r.trusted_principals.join(", ")
        ));
    };
    let missing: Vec<String> = tr
        .principals()
        .into_iter()
        .filter(|p| !r.trusted_principals.contains(p))
        .collect();
    if missing.is_empty() {
        Verdict::ok(format!("trusts {}", r.trusted_principals.join(", ")))
    } else {
        Verdict::fail(
            format!("the trust policy does not trust {}", missing.join(", ")),
            "recreate the role from the right template: temporal-lambda iam create (--trusted-principal ARN for self-hosted)",
        )
    }
}

/// `role-external-id`: every statement that allows sts:AssumeRole requires the registered
/// external ID.
pub(super) fn role_external_id(f: &Facts) -> Verdict {
    let (_, t, r) = gate!(f.invocation_role());
    let want = t.role_external_id.as_deref().unwrap_or_default();
    if !r.unguarded_principals.is_empty() && !r.external_ids.is_empty() {
        Verdict::fail(
            format!(
                "a trust policy statement allows sts:AssumeRole without the sts:ExternalId condition (principals: {}): IAM allows when any statement allows, so the external ID is not enforced",
                r.unguarded_principals.join(", ")
            ),
            "put Condition StringEquals sts:ExternalId on every statement that allows sts:AssumeRole, or recreate the role: temporal-lambda iam create --external-id …",
        )
    } else if r.external_ids.is_empty() {
        Verdict::fail(
            "the trust policy does not require sts:ExternalId: any account that knows the role ARN could make Temporal invoke your function (confused deputy), and Temporal refuses such roles",
            "add Condition StringEquals sts:ExternalId to the trust policy: temporal-lambda iam create --external-id …",
        )
    } else if !r.external_ids.iter().any(|e| e == want) {
        Verdict::fail(
            "the external ID in the compute config is not the one the role's trust policy requires, so sts:AssumeRole is denied",
            "register --update with the role's external ID, or update the stack: temporal-lambda iam create --external-id <the registered one>",
        )
    } else {
        Verdict::ok("trust policy requires the registered external ID")
    }
}

/// `role-permissions`: the role may invoke and read the function version (decided by the one
/// policy evaluator, [`crate::iam::RoleFacts::allows`]).
pub(super) fn role_permissions(f: &Facts) -> Verdict {
    let (arn, _, r) = gate!(f.invocation_role());
    let missing: Vec<&str> = ["lambda:InvokeFunction", "lambda:GetFunction"]
        .into_iter()
        .filter(|a| !r.allows(a, arn.as_str()))
        .collect();
    if missing.is_empty() {
        return Verdict::ok(format!(
            "allows lambda:InvokeFunction and lambda:GetFunction on {arn}"
        ));
    }
    let base = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        arn.region, arn.account, arn.name
    );
    Verdict::fail(
        format!(
            "the role's policies do not allow {} on {arn}",
            missing.join(" and ")
        ),
        format!("temporal-lambda iam create --function-arn {base} (grants {base} and {base}:*)"),
    )
}
