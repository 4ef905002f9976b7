//! [`SecretFetcher`]: one signed `GetSecretValue` / `GetParameter` call over a reused client.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::Value;

use crate::sign::sign_request;
use crate::{AwsCredentials, SecretError, SecretSource, SecretString};

/// The per-request timeout of [`SecretFetcher::new`]: connect, TLS, request and response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Responses larger than this are refused (a Secrets Manager secret is at most 64 KiB).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

const USER_AGENT_VALUE: &str = concat!("temporal-lambda-secrets/", env!("CARGO_PKG_VERSION"));

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTP client, built on first use.
struct Built {
    client: HttpClient,
    /// Why `https://` cannot work (no trusted roots found), if so.
    no_roots: Option<String>,
}

/// Reads secrets from Secrets Manager or SSM Parameter Store.
///
/// Holds one HTTP client (http and https, HTTP/1.1, rustls with the `ring` provider and the OS
/// root certificates), built on the first [`fetch`](Self::fetch) and reused — with its
/// connections — by later ones. Create one per execution environment. Cloning is cheap and
/// shares the client.
#[derive(Clone)]
pub struct SecretFetcher {
    built: Arc<OnceLock<Built>>,
    timeout: Duration,
}

impl Default for SecretFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SecretFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFetcher")
            .field("timeout", &self.timeout)
            .field("client_built", &self.built.get().is_some())
            .finish()
    }
}

impl SecretFetcher {
    /// A fetcher with the [`DEFAULT_TIMEOUT`] per request. Cheap: the client (and the OS root
    /// certificates) are loaded on the first fetch.
    pub fn new() -> Self {
        Self {
            built: Arc::new(OnceLock::new()),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same fetcher with a different per-request timeout (connect, TLS, request and
    /// response together). Call before the first fetch: the connect timeout is fixed when the
    /// client is built.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads the API key from `source`, signing with `creds`.
    ///
    /// The endpoint comes from `env`: `AWS_ENDPOINT_URL_SECRETS_MANAGER` /
    /// `AWS_ENDPOINT_URL_SSM`, else `AWS_ENDPOINT_URL`, else
    /// `https://secretsmanager.{region}.amazonaws.com` / `https://ssm.{region}.amazonaws.com`
    /// (see [`SecretSource::endpoint`]).
    ///
    /// * Secrets Manager: `GetSecretValue`; the secret must be a `SecretString`. If that string
    ///   is a JSON object, its `api_key` (or else `TEMPORAL_API_KEY`) key is used.
    /// * SSM: `GetParameter` with `WithDecryption`; `SecureString` and `String` parameters are
    ///   accepted, `StringList` is refused.
    ///
    /// Surrounding whitespace (e.g. a trailing newline from `file://key.txt`) is removed; an
    /// empty value is an error.
    pub async fn fetch(
        &self,
        source: &SecretSource,
        creds: &AwsCredentials,
        env: &HashMap<String, String>,
    ) -> Result<SecretString, SecretError> {
        let endpoint = source.endpoint(env)?;
        let (target, body) = match source {
            SecretSource::SecretsManager { arn, .. } => (
                "secretsmanager.GetSecretValue",
                serde_json::json!({ "SecretId": arn }),
            ),
            SecretSource::SsmParameter { name, .. } => (
                "AmazonSSM.GetParameter",
                serde_json::json!({ "Name": name, "WithDecryption": true }),
            ),
        };
        let (status, headers, body) = self
            .call(
                source,
                &endpoint,
                target,
                body.to_string().into_bytes(),
                creds,
            )
            .await?;
        if !status.is_success() {
            return Err(map_error_response(source, status, &headers, &body));
        }
        let bad = |reason: String| SecretError::BadResponse {
            arn: source.arn().to_string(),
            endpoint: endpoint.clone(),
            reason,
        };
        let json: Value = serde_json::from_slice(&body).map_err(|e| {
            bad(format!(
                "HTTP {status} body is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        match source {
            SecretSource::SecretsManager { arn, .. } => secrets_manager_value(arn, &json)
                .unwrap_or_else(|| Err(bad("no SecretString or SecretBinary in it".into()))),
            SecretSource::SsmParameter { arn, .. } => {
                ssm_value(arn, &json).unwrap_or_else(|| Err(bad("no Parameter.Value in it".into())))
            }
        }
    }

    fn client(&self) -> &Built {
        self.built.get_or_init(|| build_client(self.timeout))
    }

    /// Sends one signed AWS JSON 1.1 `POST` and returns status, headers and body.
    async fn call(
        &self,
        source: &SecretSource,
        endpoint: &str,
        target: &str,
        body: Vec<u8>,
        creds: &AwsCredentials,
    ) -> Result<(StatusCode, HeaderMap, Bytes), SecretError> {
        let built = self.client();
        let transport = |reason: String| SecretError::Transport {
            endpoint: endpoint.to_string(),
            hint: transport_hint(&reason),
            reason,
        };
        if endpoint.starts_with("https://") {
            if let Some(why) = &built.no_roots {
                return Err(transport(why.clone()));
            }
        }
        // `endpoint` was validated by `SecretSource::endpoint`: it has a scheme and a host.
        let uri: http::Uri = if endpoint.matches('/').count() <= 2 {
            format!("{endpoint}/").parse()
        } else {
            endpoint.parse()
        }
        .map_err(|_| transport("invalid endpoint URL".into()))?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| transport("endpoint URL has no host".into()))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(HOST, authority)
            .header(CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .body(body)
            .map_err(|e| transport(format!("could not build the request: {e}")))?;
        sign_request(
            &mut request,
            creds,
            source.region(),
            source.service(),
            SystemTime::now(),
        )
        .map_err(|reason| SecretError::Signing {
            arn: source.arn().to_string(),
            reason,
        })?;
        let request = request.map(|b| Full::new(Bytes::from(b)));

        let exchange = async {
            let response = built
                .client
                .request(request)
                .await
                .map_err(|e| transport(temporal_lambda_env::connection::error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| transport(format!("reading the response failed: {e}")))?
                .to_bytes();
            Ok((parts.status, parts.headers, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SecretError::Timeout {
                endpoint: endpoint.to_string(),
                after: self.timeout,
            })?
    }
}

fn build_client(timeout: Duration) -> Built {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(loaded.certs);
    let no_roots = (added == 0).then(|| {
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        format!(
            "no trusted root certificates found in the OS store{}: install ca-certificates or \
             set SSL_CERT_FILE to a PEM bundle",
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        )
    });
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("the ring provider supports TLS 1.2 and 1.3")
    .with_root_certificates(roots)
    .with_no_client_auth();

    let mut http = HttpConnector::new();
    http.enforce_http(false); // the TLS layer above handles https://
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector);
    Built { client, no_roots }
}

/// What to check after a transport failure described by `reason`.
fn transport_hint(reason: &str) -> &'static str {
    if reason.contains("certificate") {
        "the server's TLS certificate is not trusted: check the OS CA bundle (or SSL_CERT_FILE) \
         and the AWS_ENDPOINT_URL* settings"
    } else {
        "check the function's network access (VPC functions need a NAT gateway or an interface \
         VPC endpoint) and the AWS_ENDPOINT_URL* settings"
    }
}

/// The value of a `GetSecretValue` response, or `None` if it has neither `SecretString` nor
/// `SecretBinary`.
fn secrets_manager_value(arn: &str, json: &Value) -> Option<Result<SecretString, SecretError>> {
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
fn secret_string_value(arn: &str, raw: &str) -> Result<SecretString, SecretError> {
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

fn non_empty(arn: &str, value: &str) -> Result<SecretString, SecretError> {
    let value = value.trim();
    if value.is_empty() {
        Err(SecretError::Empty {
            arn: arn.to_string(),
        })
    } else {
        Ok(SecretString::new(value))
    }
}

/// The value of a `GetParameter` response, or `None` if it has no `Parameter.Value`.
fn ssm_value(arn: &str, json: &Value) -> Option<Result<SecretString, SecretError>> {
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

    #[test]
    fn fetcher_debug_and_builds_lazily() {
        let f = SecretFetcher::new().with_timeout(Duration::from_secs(2));
        assert_eq!(
            format!("{f:?}"),
            "SecretFetcher { timeout: 2s, client_built: false }"
        );
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_a_transport_error_naming_it() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let env: HashMap<String, String> =
            [("AWS_ENDPOINT_URL".to_string(), endpoint.clone())].into();
        let creds = AwsCredentials {
            access_key_id: "AKIA".into(),
            secret_access_key: "secret-key-xyz".into(),
            session_token: Some("token-xyz".into()),
        };
        let e = SecretFetcher::new()
            .fetch(&sm(), &creds, &env)
            .await
            .unwrap_err();
        assert!(matches!(e, SecretError::Transport { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&endpoint), "{msg}");
        assert!(
            !msg.contains("secret-key-xyz") && !msg.contains("token-xyz"),
            "{msg}"
        );
    }
}
