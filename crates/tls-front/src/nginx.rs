//! nginx: finding the binary and writing its configuration.

use std::path::{Path, PathBuf};

use crate::{Pki, TlsFrontError, TlsFrontOptions};

/// The nginx binary: `TEMPORAL_LAMBDA_NGINX`, `nginx` on `PATH`, `/usr/sbin/nginx`, or
/// `.venv/nginx/usr/sbin/nginx` in the current directory or one above it.
pub fn find_nginx() -> Result<PathBuf, TlsFrontError> {
    if let Some(p) = std::env::var_os("TEMPORAL_LAMBDA_NGINX").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("nginx"))
        .chain([PathBuf::from("/usr/sbin/nginx")])
        // `scripts/install-nginx.sh` unpacks it into the project's `.venv`.
        .chain(std::env::current_dir().ok().into_iter().flat_map(|d| {
            d.ancestors()
                .map(|a| a.join(".venv/nginx/usr/sbin/nginx"))
                .collect::<Vec<_>>()
        }))
        .find(|p| p.is_file());
    on_path.ok_or(TlsFrontError::NginxMissing)
}

/// An nginx string literal: the value in double quotes, `"` and `\` escaped. nginx still
/// interpolates `$name` inside it, so values are checked first ([`check_api_key`](crate::check_api_key), the
/// directory).
fn nginx_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The nginx configuration of a front: TLS (and mTLS) on `port`, the API key check, `grpc_pass`
/// to the upstream; temporary files under `dir/tmp`.
pub(crate) fn config(opts: &TlsFrontOptions, pki: &Pki, port: u16, dir: &Path) -> String {
    let q = |p: &Path| nginx_quote(&p.display().to_string());
    let tmp = |sub: &str| q(&dir.join("tmp").join(sub));
    let mut auth = String::new();
    if let Some(key) = &opts.api_key {
        auth = format!(
            "            if ($http_authorization != {}) {{ return 418; }}\n",
            nginx_quote(&format!("Bearer {}", key.expose()))
        );
    }
    let mtls = if opts.mtls {
        format!(
            "        ssl_client_certificate {};\n        ssl_verify_client on;\n",
            q(&pki.ca_cert_path)
        )
    } else {
        String::new()
    };
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {pid};
events {{ worker_connections 1024; }}
http {{
access_log {access};
client_body_temp_path {body};
proxy_temp_path {proxy};
fastcgi_temp_path {fastcgi};
uwsgi_temp_path {uwsgi};
scgi_temp_path {scgi};
keepalive_timeout 600s;
keepalive_requests 1000000;
http2_max_requests 1000000;
client_max_body_size 0;
server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
{mtls}        error_page 418 = @unauthenticated;
    error_page 495 496 = @client_cert_rejected;
    location / {{
{auth}            grpc_pass grpc://{upstream};
        grpc_read_timeout 600s;
        grpc_send_timeout 600s;
    }}
    location @unauthenticated {{
        default_type application/grpc;
        add_header grpc-status 16 always;
        add_header grpc-message "invalid or missing API key" always;
        return 200 "";
    }}
    location @client_cert_rejected {{
        default_type application/grpc;
        add_header grpc-status 16 always;
        add_header grpc-message "client certificate missing or not trusted" always;
        return 200 "";
    }}
}}
}}
"#,
        pid = q(&dir.join("nginx.pid")),
        access = q(&dir.join("logs/access.log")),
        body = tmp("body"),
        proxy = tmp("proxy"),
        fastcgi = tmp("fastcgi"),
        uwsgi = tmp("uwsgi"),
        scgi = tmp("scgi"),
        cert = q(&pki.server_cert_path),
        key = q(&pki.server_key_path),
        upstream = opts.upstream,
    )
}
