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

use crate::response::{map_error_response, secrets_manager_value, ssm_value};
use crate::sign::sign_request;
use crate::{AwsCredentials, Secret, SecretError, SecretSource};

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
    ) -> Result<Secret, SecretError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SM_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf";

    fn sm() -> SecretSource {
        SecretSource::parse_arn(SM_ARN).unwrap()
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
