//! SigV4 signing of an `http::Request` with [`aws_sigv4`].

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::AwsCredentials;

/// Signs `request` (all of its headers and its body) for `service` in `region`, adding
/// `Authorization`, `X-Amz-Date` and, for temporary credentials, `X-Amz-Security-Token`.
///
/// The error is a description without any credential material.
pub(crate) fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    creds: &AwsCredentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), String> {
    let identity: Identity = Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose().to_owned(),
        creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "temporal-lambda-secrets",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let mut headers = Vec::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        let value = value
            .to_str()
            .map_err(|_| format!("header {name} is not ASCII"))?;
        headers.push((name.as_str(), value));
    }
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    // `apply_to_request_http1x` panics on a header value that is not valid; the only values it
    // adds that we do not control are the credentials, so check those first.
    for part in [
        Some(creds.access_key_id.as_str()),
        creds.session_token.as_ref().map(|t| t.expose()),
    ]
    .into_iter()
    .flatten()
    {
        if http::HeaderValue::from_str(part).is_err() {
            return Err("credentials contain characters invalid in an HTTP header".into());
        }
    }
    instructions.apply_to_request_http1x(request);
    Ok(())
}
