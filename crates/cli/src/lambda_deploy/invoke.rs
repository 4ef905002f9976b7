//! Invoking the deployed code: the describe request (its build ID) and the connection check.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use super::{ConnectionCheck, DeployError, Describe, CHECK_CONNECTION_PAYLOAD, DESCRIBE_PAYLOAD};
use crate::aws::Aws;

/// Asks the function to connect with its own settings ([`CHECK_CONNECTION_PAYLOAD`]).
pub async fn check_function_connection(
    aws: &Aws,
    function: &str,
) -> Result<ConnectionCheck, DeployError> {
    let body = invoke_json(aws, function, CHECK_CONNECTION_PAYLOAD).await?;
    serde_json::from_str(&body).map_err(|_| {
        DeployError::DescribeFailed(format!(
            "unexpected answer to the connection check (a worker library older than check_connection?): {}",
            body.chars().take(200).collect::<String>()
        ))
    })
}

/// Invokes `function` (any qualifier) with the describe payload and parses the answer.
pub async fn describe_function(aws: &Aws, function: &str) -> Result<Describe, DeployError> {
    let body = invoke_json(aws, function, DESCRIBE_PAYLOAD).await?;
    serde_json::from_str(&body).map_err(|_| {
        DeployError::DescribeFailed(format!(
            "unexpected answer {}",
            body.chars().take(200).collect::<String>()
        ))
    })
}

/// Invokes `function` synchronously with `payload`; its answer, or the function error.
async fn invoke_json(aws: &Aws, function: &str, payload: &str) -> Result<String, DeployError> {
    let out = aws
        .lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload.to_owned()))
        .send()
        .await
        .map_err(|e| DeployError::DescribeFailed(crate::aws::describe_sdk_error(&e)))?;
    let body = out
        .payload()
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .unwrap_or_default();
    if let Some(fe) = out.function_error() {
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let t = v.get("errorType")?.as_str()?.to_string();
                let m = v.get("errorMessage").and_then(|m| m.as_str()).unwrap_or("");
                Some(format!("{t}: {m}"))
            })
            .unwrap_or(body.clone());
        return Err(DeployError::DescribeFailed(format!("{fe} error: {msg}")));
    }
    Ok(body)
}
