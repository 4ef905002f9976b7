//! `role-not-execution`, `role-exists`, `role-trust`, `role-external-id`, `role-permissions`.

use super::*;
use crate::iam::TEMPORAL_CLOUD_PRINCIPALS;

const NEED_ROLE: &[CheckId] = &[
    CheckId::RoleTrust,
    CheckId::RoleExternalId,
    CheckId::RolePermissions,
];

fn role_mut(f: &mut Facts) -> &mut RoleFacts {
    f.role.as_mut().unwrap().as_mut().unwrap().as_mut().unwrap()
}

#[test]
fn role_not_execution() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::RoleNotExecution,
        Status::Ok,
        "invocation role differs from the execution role",
        "",
    );
    function_mut(&mut f).execution_role = Some(ROLE.into());
    assert_check(
        &f,
        CheckId::RoleNotExecution,
        Status::Fail,
        &format!("the compute config's role {ROLE} is the function's execution role"),
        "use the invocation role",
    );
    // Neither a role in the compute config nor an execution role: not the same role.
    target_mut(&mut f).role = None;
    function_mut(&mut f).execution_role = None;
    assert_check(&f, CheckId::RoleNotExecution, Status::Ok, "differs", "");
}

#[test]
fn role_checks_need_a_compute_config() {
    let mut f = healthy();
    f.version.as_mut().unwrap().as_mut().unwrap().lambda = None;
    f.inputs.function = Some(ARN.into());
    assert_skipped(
        &f,
        &[
            CheckId::RoleNotExecution,
            CheckId::RoleExists,
            CheckId::RoleTrust,
            CheckId::RoleExternalId,
            CheckId::RolePermissions,
        ],
        "no compute config",
    );
}

#[test]
fn role_exists() {
    let mut f = healthy();
    assert_check(&f, CheckId::RoleExists, Status::Ok, ROLE, "");
    f.role = Some(Ok(None));
    assert_check(
        &f,
        CheckId::RoleExists,
        Status::Fail,
        &format!("role {ROLE} does not exist"),
        "temporal-lambda iam create",
    );
    assert_skipped(&f, NEED_ROLE, "no role");
    f.role = Some(Err("AccessDenied: iam:GetRole".into()));
    assert_check(
        &f,
        CheckId::RoleExists,
        Status::Fail,
        "AccessDenied",
        "iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy",
    );
    assert_skipped(&f, NEED_ROLE, "role unreadable");
}

#[test]
fn role_trust_self_hosted() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::RoleTrust,
        Status::Ok,
        &format!("trusts {PRINCIPAL}"),
        "",
    );
    f.inputs.trust = Some(Trust::SelfHosted {
        principal: "arn:aws:iam::123456789012:role/the-real-server".into(),
    });
    assert_check(
        &f,
        CheckId::RoleTrust,
        Status::Fail,
        "the trust policy does not trust arn:aws:iam::123456789012:role/the-real-server",
        "--trusted-principal",
    );
    // No principal to check against, and not Temporal Cloud: show what it trusts.
    f.inputs.trust = None;
    assert_check(
        &f,
        CheckId::RoleTrust,
        Status::Skip,
        &format!("trusted principals: {PRINCIPAL} (pass --trusted-principal to check)"),
        "",
    );
}

#[test]
fn role_trust_temporal_cloud() {
    let mut f = healthy();
    f.inputs.trust = None;
    f.inputs.address = "ns.acct.tmprl.cloud:7233".into();
    let v = assert_check(
        &f,
        CheckId::RoleTrust,
        Status::Fail,
        "does not trust",
        "iam create",
    );
    for p in TEMPORAL_CLOUD_PRINCIPALS {
        assert!(v.detail.contains(p), "{v:?}");
    }
    role_mut(&mut f).trusted_principals = TEMPORAL_CLOUD_PRINCIPALS
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_check(
        &f,
        CheckId::RoleTrust,
        Status::Ok,
        "trusts arn:aws:iam::902542641901",
        "",
    );
    // One missing is enough to fail, and only it is named.
    role_mut(&mut f).trusted_principals.pop();
    let v = assert_check(
        &f,
        CheckId::RoleTrust,
        Status::Fail,
        TEMPORAL_CLOUD_PRINCIPALS[4],
        "",
    );
    assert!(!v.detail.contains(TEMPORAL_CLOUD_PRINCIPALS[0]), "{v:?}");
}

#[test]
fn role_external_id() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::RoleExternalId,
        Status::Ok,
        "trust policy requires the registered external ID",
        "",
    );
    target_mut(&mut f).role_external_id = Some("another-id".into());
    assert_check(
        &f,
        CheckId::RoleExternalId,
        Status::Fail,
        "not the one the role's trust policy requires",
        "register --update with the role's external ID",
    );
    target_mut(&mut f).role_external_id = None;
    assert_check(&f, CheckId::RoleExternalId, Status::Fail, "not the one", "");
    target_mut(&mut f).role_external_id = Some(EXT.into());
    role_mut(&mut f).unguarded_principals = vec!["arn:aws:iam::111111111111:root".into()];
    assert_check(
        &f,
        CheckId::RoleExternalId,
        Status::Fail,
        "without the sts:ExternalId condition (principals: arn:aws:iam::111111111111:root)",
        "on every statement that allows sts:AssumeRole",
    );
    role_mut(&mut f).external_ids.clear();
    assert_check(
        &f,
        CheckId::RoleExternalId,
        Status::Fail,
        "does not require sts:ExternalId",
        "add Condition StringEquals sts:ExternalId",
    );
}

#[test]
fn role_permissions() {
    let mut f = healthy();
    assert_check(
        &f,
        CheckId::RolePermissions,
        Status::Ok,
        &format!("allows lambda:InvokeFunction and lambda:GetFunction on {ARN}"),
        "",
    );
    let base = "arn:aws:lambda:us-east-1:123456789012:function:hello";
    role_mut(&mut f).policies.clear();
    assert_check(
        &f,
        CheckId::RolePermissions,
        Status::Fail,
        &format!("do not allow lambda:InvokeFunction and lambda:GetFunction on {ARN}"),
        &format!("temporal-lambda iam create --function-arn {base} (grants {base} and {base}:*)"),
    );
    // The one evaluator: an explicit Deny wins over the Allow.
    role_mut(&mut f).policies = invocation_role().policies;
    role_mut(&mut f).policies.push(json!({"Statement": {
        "Effect": "Deny", "Action": "lambda:GetFunction", "Resource": "*"}}));
    let v = assert_check(
        &f,
        CheckId::RolePermissions,
        Status::Fail,
        "do not allow lambda:GetFunction on",
        "",
    );
    assert!(!v.detail.contains("InvokeFunction"), "{v:?}");
    // A grant on other versions only does not cover this one.
    role_mut(&mut f).policies = vec![
        json!({"Statement": [{"Effect": "Allow", "Action": "lambda:*",
        "Resource": format!("{base}:2")}]}),
    ];
    assert_check(
        &f,
        CheckId::RolePermissions,
        Status::Fail,
        "do not allow",
        "",
    );
}
