//! `temporal-lambda local demo` / `local up`: the local rig (`temporal-lambda-rig`, re-exported
//! here), plus AWS SDK clients for its emulator ([`aws`]), which only the CLI needs.

pub use temporal_lambda_rig::*;

/// AWS clients for the rig's emulator (Lambda, STS, CloudWatch Logs), with its credentials;
/// IAM and CloudFormation point at it too, and it serves neither.
pub async fn aws(rig: &Rig) -> crate::aws::Aws {
    let e = rig.emulator.endpoint();
    let creds = rig.emulator.credentials();
    crate::aws::Aws::with_endpoints(
        "us-east-1",
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        &crate::aws::Endpoints {
            lambda: e.clone(),
            iam: e.clone(),
            cloudformation: e.clone(),
            sts: e.clone(),
            logs: e,
        },
    )
    .await
}
