//! The Temporal side and the AWS identity: `temporal-connection`, `version-exists`,
//! `version-compute`, `version-current`, `function-qualified`, `function-expected`,
//! `aws-credentials`.

use super::facts::{AwsFailure, Facts, Inputs, VersionLookupError};
use super::Verdict;

/// The fix for a missing version or compute config.
fn fix_register(i: &Inputs) -> String {
    format!(
        "temporal-lambda ship (or deploy + register --deployment-name {} --build-id {} --function-arn <qualified ARN> --role-arn … --external-id …)",
        i.deployment_name, i.build_id
    )
}

/// `temporal-connection`.
pub(super) fn temporal_connection(f: &Facts) -> Verdict {
    match &f.temporal {
        Some(Ok(())) => Verdict::ok(format!(
            "connected to {} (namespace {})",
            f.inputs.address, f.inputs.namespace
        )),
        Some(Err(e)) => Verdict::fail(
            e.clone(),
            "check --address / TEMPORAL_ADDRESS, the namespace, and the API key or mTLS files",
        ),
        None => Verdict::skip(super::facts::NOT_CHECKED),
    }
}

/// `version-exists`.
pub(super) fn version_exists(f: &Facts) -> Verdict {
    let i = &f.inputs;
    match &f.version {
        Some(Ok(v)) => Verdict::ok(format!("{} exists (status {})", v.version, v.status)),
        Some(Err(VersionLookupError::NotFound)) => Verdict::fail(
            format!(
                "no Worker Deployment Version {}:{} in namespace {}",
                i.deployment_name, i.build_id, i.namespace
            ),
            fix_register(i),
        ),
        Some(Err(VersionLookupError::Other(e))) => {
            Verdict::fail(e.clone(), "check the namespace and your permissions")
        }
        None => Verdict::skip("Temporal not reachable"),
    }
}

/// `version-compute`: the version has an `aws-lambda` compute config.
pub(super) fn version_compute(f: &Facts) -> Verdict {
    let v = gate!(f.version_facts());
    match &v.lambda {
        Some(d) => Verdict::ok(format!(
            "invokes {} as {}",
            d.arn,
            d.role.as_deref().unwrap_or("(no role)")
        )),
        None => Verdict::fail(
            "the version has no aws-lambda compute config, so the server never invokes a function for it",
            fix_register(&f.inputs),
        ),
    }
}

/// `version-current`: tasks are routed to the version.
pub(super) fn version_current(f: &Facts) -> Verdict {
    let v = gate!(f.version_facts());
    match v.status.as_str() {
        "CURRENT" | "RAMPING" => Verdict::ok(format!("version is {}", v.status.to_lowercase())),
        other => Verdict::fail(
            format!("version is {other}: no task is routed to it, so the server does not invoke the function"),
            format!(
                "temporal-lambda set-current --deployment-name {} --build-id {}",
                f.inputs.deployment_name, f.inputs.build_id
            ),
        ),
    }
}

/// `function-qualified`: the compute config names a published version.
pub(super) fn function_qualified(f: &Facts) -> Verdict {
    match (f.function_arn(), f.target()) {
        (Some(a), Some(_)) if a.is_published_version() => {
            Verdict::ok(format!("{a} is a published version"))
        }
        (Some(a), Some(_)) => Verdict::fail(
            format!("compute config uses {a}, not a published version: the code behind build ID {} can change under it", f.inputs.build_id),
            format!("temporal-lambda deploy (publishes a version), then temporal-lambda register --update --function-arn {a}:<version> …"),
        ),
        (None, Some(t)) => Verdict::fail(
            format!("compute config has an invalid function ARN {:?}", t.arn),
            fix_register(&f.inputs),
        ),
        _ => Verdict::skip("no compute config"),
    }
}

/// `function-expected`: the compute config invokes the function `--function` names
/// (`name`, `name:qualifier`, or an ARN). `None` (not reported) without `--function`, a
/// compute config, or a valid ARN in it.
pub(super) fn function_expected(f: &Facts) -> Option<Verdict> {
    let (arn, expected, _) = (
        f.function_arn()?,
        f.inputs.function.as_deref()?,
        f.target()?,
    );
    let expected = if expected.starts_with("arn:") {
        expected.split(':').nth(6).unwrap_or(expected)
    } else {
        expected.split(':').next().unwrap_or(expected)
    };
    Some(if arn.name == expected {
        Verdict::ok(format!("compute config invokes {expected}, as expected"))
    } else {
        Verdict::fail(
            format!(
                "compute config invokes function {} but you expected {expected}",
                arn.name
            ),
            "temporal-lambda register --update --function-arn <the right qualified ARN> …",
        )
    })
}

/// `aws-credentials`: the clients loaded and the identity resolves.
pub(super) fn aws_credentials(f: &Facts) -> Verdict {
    match &f.aws {
        Some(Ok(id)) => Verdict::ok(format!("account {}, region {}", id.account, id.region)),
        Some(Err(AwsFailure::Config(e))) => Verdict::fail(
            e.clone(),
            "see the message: configure credentials and a region",
        ),
        Some(Err(AwsFailure::Identity(e))) => Verdict::fail(
            e.clone(),
            "refresh your AWS credentials (aws sso login / aws configure)",
        ),
        None => Verdict::skip(super::facts::NOT_CHECKED),
    }
}
