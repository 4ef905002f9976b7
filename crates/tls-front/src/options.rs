//! What a front is started with ([`TlsFrontOptions`]), and the API key and upstream values it
//! accepts.

use std::path::PathBuf;
use temporal_lambda_env::Secret;

use crate::TlsFrontError;

/// When the server certificate is valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerCertValidity {
    /// Valid now (1975 to 4096, rcgen's defaults).
    #[default]
    Valid,
    /// Expired in 2021.
    Expired,
    /// Valid only from 2090.
    NotYetValid,
}

/// What the front checks and presents.
/// `Debug` shows no secret: the API key is a [`Secret`].
#[derive(Clone, Debug)]
pub struct TlsFrontOptions {
    /// The plaintext gRPC server behind the front (`host:port`).
    pub upstream: String,
    /// Where certificates, config and logs go: the front's own directory, created or tightened
    /// to 0700; every file in it is 0600.
    pub dir: PathBuf,
    /// Require `authorization: Bearer <key>`.
    pub api_key: Option<Secret>,
    /// Require a client certificate signed by the run's CA.
    pub mtls: bool,
    /// An extra DNS name in the server certificate (clients then override the server name);
    /// the certificate is always valid for [`DEFAULT_SERVER_NAME`](crate::DEFAULT_SERVER_NAME) and `127.0.0.1` unless
    /// `only_server_name` is set.
    pub server_name: Option<String>,
    /// Issue the server certificate for `server_name` only (not `localhost`/`127.0.0.1`), so a
    /// client that does not override the server name fails verification.
    pub only_server_name: bool,
    /// The server certificate's validity window.
    pub validity: ServerCertValidity,
    /// A fixed port (default: a free one).
    pub port: Option<u16>,
}

impl TlsFrontOptions {
    /// Plain TLS in front of `upstream`, files under `dir`.
    pub fn new(upstream: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        TlsFrontOptions {
            upstream: upstream.into(),
            dir: dir.into(),
            api_key: None,
            mtls: false,
            server_name: None,
            only_server_name: false,
            validity: ServerCertValidity::Valid,
            port: None,
        }
    }
}

/// The characters an API key of the front may contain, as the error states them.
pub const API_KEY_CHARSET_RULE: &str = "[A-Za-z0-9._~+/=-] (letters, digits and . _ ~ + / = -)";

/// Checks the API key against [`API_KEY_CHARSET_RULE`]: nginx interpolates `$name` inside
/// strings (a key `k$http_x_k` would accept any `Bearer k…` plus a matching `X-K` header), and
/// quotes, backslashes, spaces or control characters do not belong in a header value. The
/// error names the rule, never the key.
pub fn check_api_key(key: &str) -> Result<(), TlsFrontError> {
    let reason = if key.is_empty() {
        "it is empty"
    } else if key.contains('$') {
        "it contains `$`"
    } else if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains whitespace or a control character"
    } else if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b))
    {
        "it contains another character"
    } else {
        return Ok(());
    };
    Err(TlsFrontError::InvalidApiKey { reason })
}

/// Checks that `upstream` is `host:port`: a host name or IPv4 address (letters, digits, `.`,
/// `-`) or a bracketed IPv6 address, and a port 1-65535; nothing nginx could read as more
/// config.
pub fn check_upstream(upstream: &str) -> Result<(), TlsFrontError> {
    let bad = |reason| {
        Err(TlsFrontError::InvalidUpstream {
            upstream: upstream.to_string(),
            reason,
        })
    };
    let Some((host, port)) = upstream.rsplit_once(':') else {
        return bad("no `:port`");
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
        _ => return bad("the port is not a number 1-65535"),
    }
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && !host.starts_with(['-', '.'])
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
    };
    if !host_ok {
        return bad("the host is not a host name, IPv4 address or [IPv6] address");
    }
    Ok(())
}
