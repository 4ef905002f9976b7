//! The Temporal connection of a Serverless Worker, defined once for the worker library and the
//! CLI: the `TEMPORAL_*` variable names, the rule for when TLS is on, where `deploy` puts TLS
//! files in the function's zip, and what a TLS or authentication failure means for the user.

/// `host:port` of the Temporal frontend.
pub const ADDRESS: &str = "TEMPORAL_ADDRESS";
/// Namespace.
pub const NAMESPACE: &str = "TEMPORAL_NAMESPACE";
/// API key (sent as `authorization: Bearer <key>`); implies TLS.
pub const API_KEY: &str = "TEMPORAL_API_KEY";
/// Where the worker reads its API key from instead of [`API_KEY`]: the ARN of a Secrets Manager
/// secret (`arn:aws:secretsmanager:…`, a string secret) or of an SSM parameter
/// (`arn:aws:ssm:…:parameter/…`, a SecureString), read with the function's execution role.
pub const API_KEY_SECRET_ARN: &str = "TEMPORAL_API_KEY_SECRET_ARN";
/// `true`/`false`: TLS on or off, overriding the default rule ([`tls_enabled`]).
pub const TLS: &str = "TEMPORAL_TLS";
/// PEM CA certificate the server's certificate must chain to (default: public roots).
pub const TLS_SERVER_CA_CERT_PATH: &str = "TEMPORAL_TLS_SERVER_CA_CERT_PATH";
/// Name the server certificate is verified against (default: the address's host).
pub const TLS_SERVER_NAME: &str = "TEMPORAL_TLS_SERVER_NAME";
/// PEM client certificate for mTLS.
pub const TLS_CLIENT_CERT_PATH: &str = "TEMPORAL_TLS_CLIENT_CERT_PATH";
/// PEM client private key for mTLS.
pub const TLS_CLIENT_KEY_PATH: &str = "TEMPORAL_TLS_CLIENT_KEY_PATH";
/// Task queue the worker polls.
pub const TASK_QUEUE: &str = "TEMPORAL_TASK_QUEUE";
/// PEM client certificate for mTLS, inline (instead of [`TLS_CLIENT_CERT_PATH`]).
pub const TLS_CLIENT_CERT_DATA: &str = "TEMPORAL_TLS_CLIENT_CERT_DATA";
/// Another name for [`TLS_SERVER_CA_CERT_PATH`] (the Temporal CLI's).
pub const TLS_CA_PATH: &str = "TEMPORAL_TLS_CA_PATH";
/// Path of a Temporal client config file (TOML profiles).
pub const CONFIG_FILE: &str = "TEMPORAL_CONFIG_FILE";
/// Profile of the config file to use.
pub const PROFILE: &str = "TEMPORAL_PROFILE";
/// Worker Deployment name the function's worker registers under.
pub const DEPLOYMENT_NAME: &str = "TEMPORAL_DEPLOYMENT_NAME";
/// Build ID of the function's worker (its Worker Deployment Version).
pub const BUILD_ID: &str = "TEMPORAL_BUILD_ID";
/// The role-assumption external ID the server presents (the CLI's `iam` / `register`).
pub const EXTERNAL_ID: &str = "TEMPORAL_LAMBDA_EXTERNAL_ID";
/// What a Lambda Managed Instances environment's shared worker does once its last invocation has
/// answered: `stop` (drain and stop; the server invokes again when work arrives) or `stay` (keep
/// polling until the environment is reclaimed). Read only when `AWS_LAMBDA_MAX_CONCURRENCY` > 1.
pub const RESIDENCY: &str = "TEMPORAL_LAMBDA_RESIDENCY";
/// Memory per vCPU of a Lambda Managed Instances environment, GiB (as the capacity provider
/// config's `ExecutionEnvironmentMemoryGiBPerVCpu`, 2–8): the worker sizes its slots from
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` / this.
pub const MEMORY_GIB_PER_VCPU: &str = "TEMPORAL_LAMBDA_MEMORY_GIB_PER_VCPU";

/// Where `deploy` packages the connection's files inside the function's zip (relative to the
/// task root, `/var/task` on Lambda); the function's environment points at these paths and the
/// worker resolves relative TLS paths against `LAMBDA_TASK_ROOT`.
pub mod zip_paths {
    /// The server CA certificate.
    pub const SERVER_CA_CERT: &str = "temporal-tls/server-ca.pem";
    /// The mTLS client certificate.
    pub const CLIENT_CERT: &str = "temporal-tls/client.pem";
    /// The mTLS client key.
    pub const CLIENT_KEY: &str = "temporal-tls/client.key";
}

/// Whether the connection uses TLS: an explicit `TEMPORAL_TLS` wins; otherwise TLS is on when
/// an API key or any TLS file or server name is configured (the Temporal convention).
pub fn tls_enabled(explicit: Option<bool>, api_key: bool, tls_settings: bool) -> bool {
    explicit.unwrap_or(api_key || tls_settings)
}

/// What a connection failure's message means and how to fix it, naming the setting; `None` when
/// the message is not a recognised TLS or authentication failure. `message` is the client
/// library's error text (rustls, h2, tonic); no secret is ever part of the hint.
pub fn connect_failure_hint(message: &str) -> Option<&'static str> {
    let m = message;
    let has = |s: &str| m.contains(s);
    Some(
        if has("KeyMismatch") || has("InconsistentKeys") || has("keys may not be consistent") {
            "the client key does not belong to the client certificate: TEMPORAL_TLS_CLIENT_KEY_PATH (--tls-key-path) must be the private key of TEMPORAL_TLS_CLIENT_CERT_PATH (--tls-cert-path)"
        } else if has("UnknownIssuer") || has("unknown issuer") || has("BadSignature") {
            "the server's certificate is not issued by a CA this client trusts: set TEMPORAL_TLS_SERVER_CA_CERT_PATH (--tls-ca-path) to the CA that issued it, or unset it when the server has a publicly trusted certificate"
        } else if has("NotValidForName") || has("not valid for name") {
            "the server's certificate does not carry the name connected to: set TEMPORAL_TLS_SERVER_NAME (--tls-server-name) to a name in the certificate, or connect by that name in TEMPORAL_ADDRESS"
        } else if has("Expired") {
            "the server's certificate has expired (or this machine's clock is wrong): renew the server certificate"
        } else if has("NotValidYet") {
            "the server's certificate is not valid yet (or this machine's clock is behind): check the certificate's start date and the clock"
        } else if has("client certificate missing or not trusted")
            || has("CertificateRequired")
            || has("certificate required")
            || has("UnknownCA")
            || has("unknown ca")
            || has("BadCertificate")
            || has("bad certificate")
        {
            "the server did not accept the client certificate: TEMPORAL_TLS_CLIENT_CERT_PATH (--tls-cert-path) must be issued by a CA the namespace trusts, with its key in TEMPORAL_TLS_CLIENT_KEY_PATH (--tls-key-path)"
        } else if has("invalid or missing API key")
            || has("Unauthenticated")
            || has("UNAUTHENTICATED")
            || has("status: 16")
            || has("Request unauthenticated")
        {
            REJECTED_CREDENTIALS_FIX
        } else if has("InvalidContentType")
            || has("corrupt message")
            || has("wrong version number")
            || has("packet length too long")
        {
            "the address does not speak TLS: use the server's TLS port, or set TEMPORAL_TLS=false (--tls=false) for a plaintext server"
        } else if has("h2 protocol error")
            || has("frame with invalid size")
            || has("connection reset")
            || has("Connection reset")
            || has("broken pipe")
            || has("unexpected end of file")
            || has("connection closed")
            || has("http2 error")
        {
            "the connection was dropped during the handshake; if the server requires TLS, set TEMPORAL_TLS=true (--tls), its CA (TEMPORAL_TLS_SERVER_CA_CERT_PATH) and credentials"
        } else {
            return None;
        },
    )
}

/// The frontend's URL for `address` (`host:port` or a URL): as given when it carries a scheme,
/// else `https://address` when TLS is on and `http://address` when not. `None` when the address
/// is empty. The one rule for the worker and the CLI.
///
/// ```
/// use temporal_lambda_env::connection::server_url;
///
/// assert_eq!(server_url("ns.acct.tmprl.cloud:7233", true).unwrap(), "https://ns.acct.tmprl.cloud:7233");
/// assert_eq!(server_url(" 127.0.0.1:7233 ", false).unwrap(), "http://127.0.0.1:7233");
/// assert_eq!(server_url("http://10.0.0.1:7233", true).unwrap(), "http://10.0.0.1:7233");
/// assert_eq!(server_url("  ", true), None);
/// ```
pub fn server_url(address: &str, tls: bool) -> Option<String> {
    let address = address.trim();
    if address.is_empty() {
        None
    } else if address.contains("://") {
        Some(address.to_owned())
    } else {
        Some(format!(
            "{}://{address}",
            if tls { "https" } else { "http" }
        ))
    }
}

/// What it means when the server answers `UNAUTHENTICATED` (gRPC status 16), and the fix: the
/// hint for a typed rejection, and for one recognised in an error's text.
pub const REJECTED_CREDENTIALS_FIX: &str = "the server rejected the credentials: check the API key (TEMPORAL_API_KEY / --api-key, or the secret named by TEMPORAL_API_KEY_SECRET_ARN) — it may be wrong, expired or rotated";

/// An error with its sources, `: `-separated (rustls' reason is usually a few levels down),
/// for [`connect_failure_hint`] and messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_rule() {
        assert!(!tls_enabled(None, false, false));
        assert!(tls_enabled(None, true, false));
        assert!(tls_enabled(None, false, true));
        assert!(!tls_enabled(Some(false), true, true));
        assert!(tls_enabled(Some(true), false, false));
    }

    #[test]
    fn hints_name_the_setting() {
        let h = |m: &str| connect_failure_hint(m).unwrap_or("");
        assert!(h("invalid peer certificate: UnknownIssuer")
            .contains("TEMPORAL_TLS_SERVER_CA_CERT_PATH"));
        assert!(h("invalid peer certificate: NotValidForName").contains("TEMPORAL_TLS_SERVER_NAME"));
        assert!(
            h("status: Unauthenticated, message: \"invalid or missing API key\"")
                .contains("API key")
        );
        assert!(
            h("received corrupt message of type InvalidContentType").contains("TEMPORAL_TLS=false")
        );
        assert_eq!(connect_failure_hint("dns error"), None);
    }
}
