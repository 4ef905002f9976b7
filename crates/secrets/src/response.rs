//! Reading an AWS JSON response: the secret value in a `GetSecretValue` / `GetParameter` answer,
//! or the [`SecretError`] a non-2xx answer names. Never shows the value in an error.

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::{Secret, SecretError, SecretSource};

/// The value of a `GetSecretValue` response, or `None` if it has neither `SecretString` nor
/// `SecretBinary`.
pub(crate) fn secrets_manager_value(
    arn: &str,
    json: &Value,
) -> Option<Result<Secret, SecretError>> {
    let wrong = |detail: &str| SecretError::WrongType {
        arn: arn.to_string(),
        detail: detail.to_string(),
    };
    match json.get("SecretString") {
        Some(Value::String(s)) => Some(secret_string_value(arn, s)),
        Some(Value::Null) | None if json.get("SecretBinary").is_some_and(|b| !b.is_null()) => {
            Some(Err(wrong(
                "binary secret; store the API key as a plain-text secret string",
            )))
        }
        Some(Value::Null) | None => None,
        Some(_) => Some(Err(wrong(
            "SecretString is not a string; store the API key as a plain-text secret string",
        ))),
    }
}

/// Keys of a JSON-object secret that hold the API key, in order of preference.
const JSON_KEYS: [&str; 2] = ["api_key", "TEMPORAL_API_KEY"];

/// A `SecretString`: plain text, or a JSON object with an `api_key` / `TEMPORAL_API_KEY` key.
fn secret_string_value(arn: &str, raw: &str) -> Result<Secret, SecretError> {
    let trimmed = raw.trim();
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) {
            let Some((key, value)) = JSON_KEYS.iter().find_map(|k| map.get(*k).map(|v| (*k, v)))
            else {
                return Err(SecretError::MissingJsonKey {
                    arn: arn.to_string(),
                    keys: map.keys().cloned().collect(),
                });
            };
            return match value {
                Value::String(s) => non_empty(arn, s),
                _ => Err(SecretError::WrongType {
                    arn: arn.to_string(),
                    detail: format!(
                        "the JSON key `{key}` is not a string; make its value the API key as a \
                         JSON string"
                    ),
                }),
            };
        }
    }
    non_empty(arn, trimmed)
}

fn non_empty(arn: &str, value: &str) -> Result<Secret, SecretError> {
    let value = value.trim();
    if value.is_empty() {
        Err(SecretError::Empty {
            arn: arn.to_string(),
        })
    } else {
        Ok(Secret::new(value))
    }
}

/// The value of a `GetParameter` response, or `None` if it has no `Parameter.Value`.
pub(crate) fn ssm_value(arn: &str, json: &Value) -> Option<Result<Secret, SecretError>> {
    let parameter = json.get("Parameter")?;
    let value = parameter.get("Value")?.as_str()?;
    let wrong = |detail: String| {
        Some(Err(SecretError::WrongType {
            arn: arn.to_string(),
            detail,
        }))
    };
    match parameter.get("Type").and_then(Value::as_str) {
        Some("SecureString" | "String") | None => Some(non_empty(arn, value)),
        Some("StringList") => {
            wrong("StringList parameter; store the API key as a SecureString parameter".to_string())
        }
        Some(other) => wrong(format!(
            "{other} parameter; store the API key as a SecureString parameter"
        )),
    }
}

/// AWS error codes meaning "these credentials may not do this".
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "NotAuthorized",
];

/// AWS error codes meaning "no such secret / parameter".
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
];

/// Maps a non-2xx AWS JSON response to a [`SecretError`].
///
/// The code comes from the `x-amzn-ErrorType` header or the body's `__type` (either may carry a
/// namespace, `ns#Code`, or a suffix, `Code:http://…`); the message from `message` / `Message`.
pub(crate) fn map_error_response(
    source: &SecretSource,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> SecretError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let code = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| field("__type"))
        .or_else(|| field("code"))
        .map(|raw| clean_code(&raw))
        .filter(|c| !c.is_empty());
    let arn = source.arn().to_string();
    let is = |list: &[&str]| code.as_deref().is_some_and(|c| list.contains(&c));
    if is(NOT_FOUND_CODES) {
        return SecretError::NotFound { arn };
    }
    if is(ACCESS_DENIED_CODES) || status == StatusCode::FORBIDDEN {
        return SecretError::AccessDenied {
            arn,
            code: code.unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
            grant: match source {
                SecretSource::SecretsManager { .. } => {
                    "secretsmanager:GetSecretValue (and kms:Decrypt if the secret uses a \
                     customer-managed KMS key)"
                }
                SecretSource::SsmParameter { .. } => "ssm:GetParameter + kms:Decrypt",
            },
        };
    }
    SecretError::Other {
        arn,
        code: code.unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
        message: field("message")
            .or_else(|| field("Message"))
            .unwrap_or_else(|| "(no message)".to_string()),
    }
}

/// `com.amazonaws.secretsmanager#ResourceNotFoundException` or
/// `AccessDeniedException:http://internal.amazon.com/…` -> the bare code.
fn clean_code(raw: &str) -> String {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "tmprl-sekrit-value-1234";
    const SM_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf";
    const SSM_ARN: &str = "arn:aws:ssm:us-east-1:123456789012:parameter/temporal/key";

    fn sm() -> SecretSource {
        SecretSource::parse_arn(SM_ARN).unwrap()
    }
    fn ssm() -> SecretSource {
        SecretSource::parse_arn(SSM_ARN).unwrap()
    }
    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    // moto does not enforce IAM by default, so access denied cannot be provoked against it; the
    // mapping is tested here from canned AWS error responses instead.
    #[test]
    fn access_denied_from_json_type() {
        let body = br#"{"__type":"AccessDeniedException","Message":"User: arn:aws:sts::123456789012:assumed-role/fn/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: k because no identity-based policy allows the secretsmanager:GetSecretValue action"}"#;
        let e = map_error_response(&sm(), StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert!(
            matches!(&e, SecretError::AccessDenied { code, .. } if code == "AccessDeniedException"),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("the function's execution role may not read"),
            "{msg}"
        );
        assert!(msg.contains(SM_ARN), "{msg}");
        assert!(msg.contains("secretsmanager:GetSecretValue"), "{msg}");
        assert!(
            msg.contains("temporal-lambda deploy --api-key-secret-arn"),
            "{msg}"
        );
    }

    #[test]
    fn access_denied_from_header_with_suffix_and_for_ssm_names_kms() {
        let h = headers(&[(
            "x-amzn-errortype",
            "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        )]);
        let body = br#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}"#;
        let e = map_error_response(&ssm(), StatusCode::BAD_REQUEST, &h, body);
        assert!(
            matches!(&e, SecretError::AccessDenied { code, .. } if code == "UnrecognizedClientException"),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("ssm:GetParameter + kms:Decrypt"),
            "{e}"
        );
    }

    #[test]
    fn access_denied_from_bare_403_and_signature_errors() {
        let e = map_error_response(&sm(), StatusCode::FORBIDDEN, &HeaderMap::new(), b"<html/>");
        assert!(
            matches!(&e, SecretError::AccessDenied { code, .. } if code == "HTTP 403"),
            "{e:?}"
        );
        let body = br#"{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"The request signature we calculated does not match"}"#;
        let e = map_error_response(&sm(), StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert!(matches!(e, SecretError::AccessDenied { .. }), "{e:?}");
    }

    #[test]
    fn not_found_for_both_services() {
        let body = br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}"#;
        let e = map_error_response(&sm(), StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert!(matches!(e, SecretError::NotFound { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("secret {SM_ARN} not found: create it or fix TEMPORAL_API_KEY_SECRET_ARN")
        );
        let body = br#"{"__type":"ParameterNotFound","message":""}"#;
        let e = map_error_response(&ssm(), StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert!(matches!(e, SecretError::NotFound { .. }), "{e:?}");
    }

    #[test]
    fn other_errors_keep_code_and_message() {
        let body = br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
        let e = map_error_response(&sm(), StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        let SecretError::Other { code, message, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("ThrottlingException", "Rate exceeded")
        );
        let e = map_error_response(&sm(), StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"oops");
        assert!(
            matches!(&e, SecretError::Other { code, .. } if code == "HTTP 502"),
            "{e:?}"
        );
    }

    #[test]
    fn secrets_manager_plain_and_json_values() {
        let v = |j: Value| secrets_manager_value(SM_ARN, &j).unwrap();
        assert_eq!(
            v(serde_json::json!({"SecretString": SECRET}))
                .unwrap()
                .expose(),
            SECRET
        );
        assert_eq!(
            v(serde_json::json!({"SecretString": format!("{SECRET}\n")}))
                .unwrap()
                .expose(),
            SECRET
        );
        let json = serde_json::json!({"api_key": SECRET, "TEMPORAL_API_KEY": "other"}).to_string();
        assert_eq!(
            v(serde_json::json!({"SecretString": json}))
                .unwrap()
                .expose(),
            SECRET
        );
        let json = serde_json::json!({"TEMPORAL_API_KEY": SECRET}).to_string();
        assert_eq!(
            v(serde_json::json!({"SecretString": json}))
                .unwrap()
                .expose(),
            SECRET
        );
        // Not a JSON object after all: used as is.
        let raw = format!("{{{SECRET}");
        assert_eq!(
            v(serde_json::json!({"SecretString": raw}))
                .unwrap()
                .expose(),
            raw
        );
        assert!(secrets_manager_value(SM_ARN, &serde_json::json!({"Name": "k"})).is_none());
    }

    #[test]
    fn secrets_manager_errors_never_show_the_value() {
        let v = |j: Value| secrets_manager_value(SM_ARN, &j).unwrap().unwrap_err();
        let cases = [
            v(
                serde_json::json!({"SecretString": serde_json::json!({"token": SECRET, "user": "u"}).to_string()}),
            ),
            v(
                serde_json::json!({"SecretString": serde_json::json!({"api_key": [SECRET]}).to_string()}),
            ),
            v(serde_json::json!({"SecretString": serde_json::json!({"api_key": " "}).to_string()})),
            v(serde_json::json!({"SecretString": "  \n"})),
            v(serde_json::json!({"SecretBinary": "dG1wcmwtc2Vrcml0"})),
            v(serde_json::json!({"SecretString": null, "SecretBinary": "dG1wcmwtc2Vrcml0"})),
        ];
        assert!(
            matches!(&cases[0], SecretError::MissingJsonKey { keys, .. } if keys == &["token", "user"]),
            "{:?}",
            cases[0]
        );
        assert!(
            cases[0].to_string().contains("keys found: token, user"),
            "{}",
            cases[0]
        );
        assert!(matches!(cases[1], SecretError::WrongType { .. }));
        assert!(matches!(cases[2], SecretError::Empty { .. }));
        assert!(matches!(cases[3], SecretError::Empty { .. }));
        for e in &cases[4..] {
            assert!(
                e.to_string().contains(
                    "wrong type: binary secret; store the API key as a plain-text secret string"
                ),
                "{e}"
            );
        }
        for e in &cases {
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(SECRET) && !shown.contains("dG1wcmwtc2Vrcml0"),
                "{shown}"
            );
        }
    }

    #[test]
    fn ssm_types() {
        let v = |t: &str, value: &str| {
            ssm_value(
                SSM_ARN,
                &serde_json::json!({"Parameter": {"Type": t, "Value": value}}),
            )
            .unwrap()
        };
        assert_eq!(v("SecureString", SECRET).unwrap().expose(), SECRET);
        assert_eq!(v("String", SECRET).unwrap().expose(), SECRET);
        let e = v("StringList", &format!("{SECRET},b")).unwrap_err();
        assert!(
            e.to_string().contains("wrong type: StringList parameter"),
            "{e}"
        );
        assert!(!e.to_string().contains(SECRET));
        assert!(ssm_value(SSM_ARN, &serde_json::json!({"Parameter": {}})).is_none());
    }

    #[test]
    fn error_codes_are_cleaned() {
        assert_eq!(
            clean_code("com.amazonaws.secretsmanager#ResourceNotFoundException"),
            "ResourceNotFoundException"
        );
        assert_eq!(
            clean_code("AccessDeniedException:http://internal.amazon.com/coral/"),
            "AccessDeniedException"
        );
        assert_eq!(clean_code("ParameterNotFound"), "ParameterNotFound");
    }
}
