//! The request guard in front of every HTTP route (the main endpoint and each sandbox's Runtime
//! API): the emulator serves local tools and SDKs, never web pages.
//!
//! A page in a browser can send requests to `127.0.0.1` (cross-site "simple" requests) or, by
//! DNS rebinding, make its own origin resolve to `127.0.0.1`. Neither gets through:
//!
//! * **Host** must be `127.0.0.1`, `localhost` or `[::1]`, optionally with the bound port (a
//!   rebound page sends its own host name). A request without one is refused too: every
//!   HTTP/1.1 client (hyper, reqwest, the AWS SDKs, Go's net/http, curl) sends it.
//! * **Browser-shaped** requests, i.e. any `Origin` or `Sec-Fetch-*` header, are refused.
//! * On the main endpoint (not the Runtime API, whose clients in other languages may send odd
//!   content types), the content types a page may POST without a CORS preflight
//!   (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`) are refused unless
//!   the request carries `Authorization: AWS4-HMAC-SHA256 …`, which a page cannot send without a
//!   preflight (never granted: the emulator sends no CORS headers). STS's query protocol needs that
//!   exception: SDKs POST form bodies with a SigV4 header.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http_error::ApiError;

/// Which checks a router gets and how it words refusals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Guard {
    /// The port the router's listener is bound to (the only one a `Host` may name).
    pub port: u16,
    /// Refuse CORS-safelisted content types without a SigV4 `Authorization` header.
    pub check_content_type: bool,
    /// Runtime API (`{"errorType","errorMessage"}`) rather than AWS-shaped errors.
    pub runtime_api: bool,
}

impl Guard {
    /// The main endpoint (Lambda, STS, CloudWatch Logs, `/_emulator`).
    pub(crate) fn api(port: u16) -> Self {
        Self {
            port,
            check_content_type: true,
            runtime_api: false,
        }
    }

    /// A sandbox's Runtime API listener.
    pub(crate) fn runtime_api(port: u16) -> Self {
        Self {
            port,
            check_content_type: false,
            runtime_api: true,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    /// AWS-style error code (`x-amzn-ErrorType`).
    pub code: &'static str,
    pub message: String,
}

/// Content types a web page can POST cross-site without a CORS preflight.
const SIMPLE_CONTENT_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

/// At most 100 characters of a header value, for messages.
fn shown(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out: String = s.chars().take(100).collect();
    if s.chars().count() > 100 {
        out.push('…');
    }
    out
}

/// True for `127.0.0.1`, `localhost`, `[::1]`, each optionally with `:<port>`.
fn loopback_host(host: &str, port: u16) -> bool {
    let (name, host_port) = if host.starts_with('[') {
        let Some(end) = host.find(']') else {
            return false;
        };
        let (name, rest) = host.split_at(end + 1);
        match rest {
            "" => (name, None),
            r => match r.strip_prefix(':') {
                Some(p) => (name, Some(p)),
                None => return false,
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, p)) => (name, Some(p)),
            None => (host, None),
        }
    };
    let name_ok = name == "127.0.0.1" || name == "[::1]" || name.eq_ignore_ascii_case("localhost");
    let port_ok = match host_port {
        None => true,
        Some(p) => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse() == Ok(port),
    };
    name_ok && port_ok
}

impl Guard {
    /// Checks one request's headers; `Err` says why it is refused.
    pub(crate) fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Refusal> {
        let port = self.port;
        let forbidden = |message: String| Refusal {
            status: StatusCode::FORBIDDEN,
            code: "AccessDeniedException",
            message,
        };
        // Host (the request target's authority if an absolute-form URI carries it).
        let mut hosts = headers.get_all(header::HOST).iter();
        let host = match (hosts.next(), hosts.next()) {
            (Some(h), None) => Some(h.as_bytes().to_vec()),
            (Some(_), Some(_)) => {
                return Err(forbidden(
                    "Refused: the request has more than one Host header; send exactly one".into(),
                ))
            }
            (None, _) => uri.authority().map(|a| a.as_str().as_bytes().to_vec()),
        };
        let Some(host) = host else {
            return Err(forbidden(format!(
                "Refused: the request has no Host header; send Host: 127.0.0.1:{port} (every HTTP/1.1 \
                 client does)"
            )));
        };
        if !std::str::from_utf8(&host).is_ok_and(|h| loopback_host(h, port)) {
            return Err(forbidden(format!(
                "Refused: Host '{}' is not this emulator: it answers only requests addressed to \
                 127.0.0.1:{port}, localhost:{port} or [::1]:{port} (this blocks DNS-rebinding attacks \
                 from web pages); use http://127.0.0.1:{port} as the endpoint",
                shown(&host)
            )));
        }
        // Browser-shaped requests.
        if let Some(origin) = headers.get(header::ORIGIN) {
            return Err(forbidden(format!(
                "Refused: the request carries an Origin header ('{}'), so a web browser sent it; the \
                 emulator serves local tools and AWS SDKs only (drop the Origin header)",
                shown(origin.as_bytes())
            )));
        }
        if let Some(name) = headers
            .keys()
            .find(|k| k.as_str().starts_with("sec-fetch-"))
        {
            return Err(forbidden(format!(
                "Refused: the request carries a {name} header, so a web browser sent it; the emulator \
                 serves local tools and AWS SDKs only"
            )));
        }
        // Bodies a page can POST without a preflight, unless SigV4-signed.
        if self.check_content_type {
            let sigv4 = headers
                .get(header::AUTHORIZATION)
                .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-HMAC-SHA256 "));
            if !sigv4 {
                for ct in headers.get_all(header::CONTENT_TYPE) {
                    let media = String::from_utf8_lossy(ct.as_bytes())
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    if SIMPLE_CONTENT_TYPES.contains(&media.as_str()) {
                        return Err(Refusal {
                            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                            code: "UnsupportedMediaTypeException",
                            message: format!(
                                "Refused: Content-Type {media} without a SigV4 Authorization header is what a \
                                 web page can send cross-site; send JSON (application/json) to the emulator's \
                                 own routes, or sign the request (AWS SDKs do)"
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn refuse(&self, r: Refusal) -> Response {
        if self.runtime_api {
            (
                r.status,
                axum::Json(serde_json::json!({"errorType": r.code, "errorMessage": r.message})),
            )
                .into_response()
        } else {
            ApiError::new(r.status, r.code, r.message).into_response()
        }
    }
}

/// The middleware: `middleware::from_fn_with_state(Guard::api(port), guard::layer)`.
pub(crate) async fn layer(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    match guard.check(req.headers(), req.uri()) {
        Ok(()) => next.run(req).await,
        Err(r) => {
            tracing::warn!(method = %req.method(), path = %req.uri().path(), reason = %r.message,
                "request refused");
            guard.refuse(r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    fn check(g: Guard, pairs: &[(&'static str, &str)]) -> Result<(), Refusal> {
        g.check(&headers(pairs), &Uri::from_static("/"))
    }

    #[test]
    fn hosts() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:9001",
            "localhost",
            "LOCALHOST:9001",
            "[::1]",
            "[::1]:9001",
        ] {
            assert!(loopback_host(ok, 9001), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:9001",
            "127.0.0.1:9002",
            "127.0.0.1:",
            "127.0.0.1:+9001",
            "127.0.0.1.nip.io:9001",
            "localhost.evil.example:9001",
            "[::1]9001",
            "[::2]:9001",
            "0.0.0.0:9001",
            "",
        ] {
            assert!(!loopback_host(bad, 9001), "{bad}");
        }
        let g = Guard::api(9001);
        assert!(check(g, &[("host", "127.0.0.1:9001")]).is_ok());
        let e = check(g, &[("host", "evil.example:9001")]).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("evil.example:9001"), "{}", e.message);
        let e = check(g, &[]).unwrap_err();
        assert!(e.message.contains("no Host header"), "{}", e.message);
        assert!(check(g, &[("host", "127.0.0.1:9001"), ("host", "evil.example")]).is_err());
        // An absolute-form target without a Host header.
        assert!(g
            .check(
                &HeaderMap::new(),
                &Uri::from_static("http://127.0.0.1:9001/")
            )
            .is_ok());
    }

    #[test]
    fn browser_headers_and_simple_content_types() {
        let host = ("host", "127.0.0.1:9001");
        for g in [Guard::api(9001), Guard::runtime_api(9001)] {
            for h in [
                ("origin", "http://evil.example"),
                ("origin", "null"),
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "no-cors"),
            ] {
                let e = check(g, &[host, h]).unwrap_err();
                assert_eq!(e.status, StatusCode::FORBIDDEN);
                assert!(e.message.contains(h.0) || e.message.contains("Origin"));
            }
        }
        let api = Guard::api(9001);
        for ct in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
            "multipart/form-data; boundary=x",
        ] {
            let e = check(api, &[host, ("content-type", ct)]).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
            // The Runtime API accepts any content type.
            assert!(check(Guard::runtime_api(9001), &[host, ("content-type", ct)]).is_ok());
        }
        // STS query protocol: form body + SigV4 header.
        assert!(check(
            api,
            &[
                host,
                ("content-type", "application/x-www-form-urlencoded"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=a/b/c/sts/aws4_request"
                )
            ]
        )
        .is_ok());
        assert!(check(
            api,
            &[
                host,
                ("content-type", "text/plain"),
                ("authorization", "Basic Zm9v")
            ]
        )
        .is_err());
        assert!(check(api, &[host, ("content-type", "application/json")]).is_ok());
    }
}
