//! Security properties (issue 15): no path traversal in the logs API, no requests from web pages
//! (foreign Host, Origin/Sec-Fetch, form content types), well-formed signatures, private files,
//! zip limits, no external-ID downgrade, a bounded STS call log, no secrets on `/_emulator`.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::json;
use temporal_lambda_emulator::{EmulatorError, FunctionSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A sibling directory of `data_dir` holding `canary.log` with a random marker.
fn canary(data_dir: &std::path::Path) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir_in(data_dir.parent().unwrap()).unwrap();
    let marker = format!("CANARY-{}", uuid_like());
    std::fs::write(dir.path().join("canary.log"), &marker).unwrap();
    (dir, marker)
}

fn uuid_like() -> String {
    format!("{:x}{:x}", now_ms(), std::process::id())
}

#[tokio::test]
async fn logs_api_refuses_path_traversal() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let emu = start(&data).await;
    let ep = emu.endpoint();
    let (canary_dir, marker) = canary(&data);
    let canary_name = canary_dir.path().file_name().unwrap().to_str().unwrap();
    let abs: String =
        form_urlencoded::byte_serialize(canary_dir.path().to_str().unwrap().as_bytes()).collect();
    // Every form of "leave <data>/logs/<function>" must be refused with 400, naming the problem.
    let urls = [
        format!("/_emulator/logs/..%2F..%2F{canary_name}"),
        format!("/_emulator/logs/..%2F..%2F{canary_name}/streams"),
        format!("/_emulator/logs/{abs}"),
        format!("/_emulator/logs/{abs}/streams"),
        "/_emulator/logs/..".to_string(),
        "/_emulator/logs/%2E%2E".to_string(),
        "/_emulator/logs/..%2F..%2F..%2F..%2F..%2Fetc".to_string(),
        format!("/_emulator/logs/f?stream=..%2F..%2F..%2F{canary_name}%2Fcanary.log"),
        format!("/_emulator/logs/f?stream={abs}%2Fcanary.log"),
    ];
    for url in &urls {
        let r = http("GET", &format!("{ep}{url}"), &[], "").await;
        assert!(!r.text().contains(&marker), "{url} leaked the canary");
        assert_eq!(r.status, 400, "{url}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains("invalid function name") || msg.contains("invalid log stream name"),
            "{url}: {msg}"
        );
    }
    // The library API is protected the same way.
    for bad in [format!("../../{canary_name}"), "..".into(), "/etc".into()] {
        match emu.logs(&bad) {
            Err(EmulatorError::Validation(m)) => {
                assert!(m.contains("invalid function name"), "{m}")
            }
            other => panic!("{bad}: {other:?}"),
        }
        assert!(emu.log_dir(&bad).is_err());
    }
    // CloudWatch Logs' log group name is refused too.
    let r = http(
        "POST",
        &format!("{ep}/"),
        &[
            ("authorization", &sigv4_for("AKIAEMULATORTEST", "logs")),
            ("x-amz-target", "Logs_20140328.FilterLogEvents"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        json!({"logGroupName": format!("/aws/lambda/{abs}")}).to_string(),
    )
    .await;
    assert!(!r.text().contains(&marker));
    assert_eq!(r.status, 400, "{}", r.text());
    emu.shutdown().await;
}

#[tokio::test]
async fn foreign_hosts_and_browser_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let port = emu.addr().port();
    let role = json!({"RoleArn": ROLE}).to_string();
    let roles_url = format!("{ep}/_emulator/roles");

    // Loopback names with the right port (or none) are fine.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
    ] {
        let r = http(
            "GET",
            &format!("{ep}/_emulator/health"),
            &[("host", &host)],
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{host}: {}", r.text());
    }
    // A DNS-rebound page sends its own host name; the wrong port is refused too.
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let r = http("POST", &roles_url, &[("host", &host)], role.clone()).await;
        assert_eq!(r.status, 403, "{host}: {}", r.text());
        assert_eq!(
            r.header("x-amzn-errortype").as_deref(),
            Some("AccessDeniedException")
        );
        let msg = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains(&host) && msg.contains("DNS-rebinding"),
            "{msg}"
        );
    }
    // Browser-shaped requests.
    for (k, v) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "no-cors"),
    ] {
        let r = http("POST", &roles_url, &[(k, v)], role.clone()).await;
        assert_eq!(r.status, 403, "{k}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap().to_string();
        assert!(msg.contains("web browser"), "{msg}");
    }
    // Bodies a page can POST without a preflight.
    for ct in [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = http("POST", &roles_url, &[("content-type", ct)], role.clone()).await;
        assert_eq!(r.status, 415, "{ct}: {}", r.text());
        assert!(r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Content-Type"));
        let r = http(
            "PUT",
            &format!("{ep}/_emulator/faults"),
            &[("content-type", ct)],
            r#"{"reject_invoke": 1.0}"#,
        )
        .await;
        assert_eq!(r.status, 415);
    }
    // Nothing of that got through.
    let roles = http("GET", &roles_url, &[], "").await.json();
    assert_eq!(roles, json!([]));
    assert_eq!(emu.fault_stats(), Default::default());
    assert_eq!(emu.sts_stats().assume_role_calls, 0);
    // No Host header at all (HTTP/1.0 over a raw socket).
    let mut s = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    s.write_all(b"GET /_emulator/health HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    tokio::time::timeout(TIMEOUT, s.read_to_string(&mut raw))
        .await
        .expect("answer to a Host-less request")
        .unwrap();
    assert!(raw.starts_with("HTTP/1.0 403"), "{raw}");
    assert!(raw.contains("no Host header"), "{raw}");

    // STS's query protocol (form body + SigV4 header) and JSON without a content type still work.
    let r = http("POST", &roles_url, &[], role.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = http(
        "POST",
        &format!("{ep}/"),
        &[
            ("authorization", &sigv4_for("AKIAEMULATORTEST", "sts")),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ],
        form(&[
            ("Action", "AssumeRole"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "s"),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The per-sandbox Runtime API: Host/Origin/Sec-Fetch checks, any content type.
    emu.create_function_from_path(FunctionSpec::new("f", test_function()))
        .await
        .unwrap();
    let out = emu.invoke("f", br#"{"action":"env"}"#).await.unwrap();
    let env: serde_json::Value = serde_json::from_slice(&out.payload).unwrap();
    let rt = env["env"]["AWS_LAMBDA_RUNTIME_API"]
        .as_str()
        .unwrap()
        .to_string();
    let rt_port = rt.rsplit(':').next().unwrap();
    let next = format!("http://{rt}/2018-06-01/runtime/invocation/next");
    for h in [
        ("host", format!("evil.example:{rt_port}")),
        ("host", format!("127.0.0.1:{port}")),
        ("origin", "http://evil.example".to_string()),
        ("sec-fetch-mode", "cors".to_string()),
    ] {
        let r = http("GET", &next, &[(h.0, &h.1)], "").await;
        assert_eq!(r.status, 403, "{h:?}: {}", r.text());
        assert_eq!(r.json()["errorType"], "AccessDeniedException");
    }
    let r = http(
        "POST",
        &format!("http://{rt}/2018-06-01/runtime/invocation/not-current/response"),
        &[("content-type", "text/plain")],
        "x",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["errorType"], "InvalidRequestID");
    // The sandbox is unharmed.
    assert!(emu
        .invoke("f", br#"{"action":"echo"}"#)
        .await
        .unwrap()
        .function_error
        .is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn signatures_must_be_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let cred = "Credential=AKIAEMULATORTEST/20250101/us-east-1/lambda/aws4_request";
    for (auth, needle) in [
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host, Signature=ab"),
            "64 lowercase hex",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, Signature={}", "0".repeat(64)),
            "'SignedHeaders'",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host"),
            "'Signature'",
        ),
    ] {
        let r = http(
            "GET",
            &format!("{ep}/2015-03-31/functions/"),
            &[("authorization", &auth)],
            "",
        )
        .await;
        assert_eq!(r.status, 400, "{auth}: {}", r.text());
        assert_eq!(
            r.header("x-amzn-errortype").as_deref(),
            Some("IncompleteSignatureException")
        );
        assert!(
            r.json()["message"].as_str().unwrap().contains(needle),
            "{}",
            r.text()
        );
    }
    // Presigned (query) form: all five parameters.
    let q = |sig: &str| {
        format!(
            "{ep}/?Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAEMULATORTEST%2F20250101%2Fus-east-1%2Fsts%2Faws4_request\
             &X-Amz-Date=20250101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}"
        )
    };
    // Well-formed but not the HMAC of this request: refused as AWS refuses it.
    let r = http("GET", &q(&"0".repeat(64)), &[], "").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("SignatureDoesNotMatch"), "{}", r.text());
    let r = http("GET", &q("1"), &[], "").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("IncompleteSignature"), "{}", r.text());
    let r = http(
        "GET",
        &format!(
            "{ep}/?Action=GetCallerIdentity&X-Amz-Credential=AKIAEMULATORTEST%2F20250101%2Fus-east-1%2Fsts%2Faws4_request"
        ),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    // The test helper's signature is valid.
    assert_eq!(
        lambda("GET", &format!("{ep}/2015-03-31/functions/"), "")
            .await
            .status,
        200
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn emulator_api_never_returns_secret_env_values() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let secrets = [
        ("TEMPORAL_API_KEY", "secret-api-key-value-1"),
        ("TEMPORAL_GRPC_META_AUTHORIZATION", "secret-bearer-value-2"),
        ("DB_PASSWORD", "secret-password-value-3"),
    ];
    let mut spec = FunctionSpec::new("f", test_function());
    for (k, v) in secrets {
        spec = spec.env(k, v);
    }
    emu.create_function_from_path(spec).await.unwrap();
    emu.register_role(ROLE, Some(EXTERNAL_ID)).unwrap();
    emu.invoke("f", br#"{"action":"echo"}"#).await.unwrap();
    emu.invoke_async("f", br#"{"action":"error"}"#).unwrap();
    emu.wait_for_invocations(TIMEOUT, |r| {
        r.len() >= 2 && r.iter().all(|r| r.is_finished())
    })
    .await
    .unwrap();
    for route in [
        "/_emulator/health",
        "/_emulator/invocations",
        "/_emulator/invocations?function=f",
        "/_emulator/sandboxes",
        "/_emulator/logs/f",
        "/_emulator/logs/f/streams",
        "/_emulator/roles",
        "/_emulator/sts",
        "/_emulator/faults",
    ] {
        let r = http("GET", &format!("{ep}{route}"), &[], "").await;
        assert_eq!(r.status, 200, "{route}: {}", r.text());
        for (_, v) in secrets {
            assert!(
                !r.text().contains(v),
                "{route} returned a secret: {}",
                r.text()
            );
        }
        assert!(!r.text().contains(EXTERNAL_ID) || route == "/_emulator/sts");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn credentials_and_code_are_private_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let emu = start(&data).await;
    emu.register_role(ROLE, Some(EXTERNAL_ID)).unwrap();
    emu.create_function_from_path(FunctionSpec::new("f", test_function()))
        .await
        .unwrap();
    emu.invoke("f", br#"{"action":"echo"}"#).await.unwrap();
    assert_eq!(mode(&data), 0o700);
    for sub in ["functions", "logs", "sandboxes"] {
        assert_eq!(mode(&data.join(sub)), 0o700, "{sub}");
    }
    assert_eq!(mode(&data.join("state.json")), 0o600);
    // A symlink planted at the temp path is replaced, never written through.
    let victim = root.path().join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, data.join("state.json.tmp")).unwrap();
    emu.register_role("arn:aws:iam::123456789012:role/second", None)
        .unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    let meta = std::fs::symlink_metadata(data.join("state.json")).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(!data.join("state.json.tmp").exists());
    emu.shutdown().await;

    // An older data dir with default-umask modes is tightened on start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("state.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(data.join("logs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let emu = start(&data).await;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("state.json")), 0o600);
    assert_eq!(mode(&data.join("logs")), 0o700);
    emu.shutdown().await;
}

/// Rewrites the uncompressed size every zip header declares.
fn declare_size(zip: &mut [u8], size: u32) {
    let le = size.to_le_bytes();
    for i in 0..zip.len().saturating_sub(4) {
        match zip[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => zip[i + 22..i + 26].copy_from_slice(&le),
            [0x50, 0x4b, 0x01, 0x02] => zip[i + 24..i + 28].copy_from_slice(&le),
            _ => {}
        }
    }
}

/// Sets the unix mode of every entry in the central directory (the zip writer masks to 0o777).
fn set_modes(zip: &mut [u8], mode: u32) {
    for i in 0..zip.len().saturating_sub(4) {
        if zip[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            zip[i + 38..i + 42].copy_from_slice(&((0o100000 | mode) << 16).to_le_bytes());
        }
    }
}

#[tokio::test]
async fn zips_are_size_capped_and_lose_special_mode_bits() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let create = |name: &str, zip: &[u8]| {
        json!({"FunctionName": name, "Role": "arn:aws:iam::123456789012:role/exec", "Code": {"ZipFile": b64(zip)}})
            .to_string()
    };
    // Declared over 250 MB: Lambda's error, nothing unpacked.
    let mut big = zip(&[("bootstrap", &bootstrap_script(), 0o755)]);
    declare_size(&mut big, 262_144_001);
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        create("big", &big),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidParameterValueException")
    );
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Unzipped size must be smaller than 262144000 bytes"));
    assert!(!dir.path().join("functions/big").exists());
    // setuid/setgid/sticky bits in the zip are dropped.
    let mut suid = zip(&[
        ("bootstrap", &bootstrap_script(), 0o755),
        ("helper", b"x", 0o755),
    ]);
    set_modes(&mut suid, 0o6755);
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        create("suid", &suid),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let code_root = dir.path().join("functions/suid/code");
    let code = std::fs::read_dir(&code_root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&code.join("bootstrap")), 0o755);
    assert_eq!(mode(&code.join("helper")), 0o755);
    let out = emu.invoke("suid", br#"{"action":"echo"}"#).await.unwrap();
    assert!(out.function_error.is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn registering_a_role_over_http_cannot_drop_its_external_id() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let url = format!("{ep}/_emulator/roles");
    let r = http(
        "POST",
        &url,
        &[],
        json!({"RoleArn": ROLE, "ExternalId": EXTERNAL_ID}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = http("POST", &url, &[], json!({"RoleArn": ROLE}).to_string()).await;
    assert_eq!(r.status, 409, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("required external ID") && msg.contains("ExternalId"),
        "{msg}"
    );
    let roles = http("GET", &url, &[], "").await.json();
    assert_eq!(roles[0]["ExternalIdRequired"], true);
    // AssumeRole without the ID is still denied; changing the ID is allowed.
    let assume = |ext: Option<&'static str>| {
        let mut p = vec![
            ("Action", "AssumeRole"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "s"),
        ];
        if let Some(e) = ext {
            p.push(("ExternalId", e));
        }
        let ep = ep.clone();
        async move {
            http(
                "POST",
                &format!("{ep}/"),
                &[
                    ("authorization", &sigv4_for("AKIAEMULATORTEST", "sts")),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                form(&p),
            )
            .await
            .status
        }
    };
    assert_eq!(assume(None).await, 403);
    let r = http(
        "POST",
        &url,
        &[],
        json!({"RoleArn": ROLE, "ExternalId": "new-ext-id"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(assume(Some("new-ext-id")).await, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn sts_call_log_keeps_the_last_1000_calls() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let auth = sigv4_for("AKIAEMULATORTEST", "sts");
    let n = temporal_lambda_emulator::MAX_STS_CALLS + 5;
    for i in 0..n {
        let session = format!("s{i}");
        let r = http(
            "POST",
            &format!("{ep}/"),
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            form(&[
                ("Action", "AssumeRole"),
                ("RoleArn", "arn:aws:iam::123456789012:role/unknown"),
                ("RoleSessionName", &session),
            ]),
        )
        .await;
        assert_eq!(r.status, 403);
    }
    let stats = emu.sts_stats();
    assert_eq!(stats.assume_role_calls, n as u64);
    assert_eq!(stats.assume_role_denied, n as u64);
    assert_eq!(stats.calls.len(), 1000);
    assert_eq!(stats.calls[0].role_session_name, "s5");
    assert_eq!(stats.calls[999].role_session_name, format!("s{}", n - 1));
    emu.shutdown().await;
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0)
}

/// Review item 1: with the emulator running as root (Lambda fidelity needs it), a sandbox runs
/// as an unprivileged user, reads its own code and writes its own `/tmp`, and cannot read the
/// emulator's state or another function's code.
#[tokio::test]
async fn sandboxes_never_run_as_root_and_see_only_their_own_code() {
    if !running_as_root() {
        assert!(
            std::env::var("TEMPORAL_LAMBDA_REQUIRE_CGROUPS").as_deref() != Ok("1"),
            "TEMPORAL_LAMBDA_REQUIRE_CGROUPS=1 but the tests do not run as root"
        );
        eprintln!("skipped: the privilege drop happens only when the emulator runs as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    for name in ["other", "probe"] {
        let zip = zip(&[
            ("bootstrap", &bootstrap_script(), 0o755),
            ("secret.txt", name.as_bytes(), 0o644),
        ]);
        let body = json!({"FunctionName": name, "Role": "arn:aws:iam::123456789012:role/exec",
            "Code": {"ZipFile": b64(&zip)}});
        let r = lambda(
            "POST",
            &format!("{ep}/2015-03-31/functions"),
            body.to_string(),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // The other function's code, found as root in the data dir.
    let mut other_secret = None;
    let mut stack = vec![dir.path().join("functions")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with("secret.txt") && std::fs::read(&p).unwrap() == b"other" {
                other_secret = Some(p);
            }
        }
    }
    let other_secret = other_secret.expect("the other function's code is in the data dir");
    let other_dir = other_secret.parent().unwrap().to_path_buf();
    let state = dir.path().join("state.json");
    let paths = [
        state.display().to_string(),
        other_secret.display().to_string(),
        other_dir.display().to_string(),
        dir.path().display().to_string(),
        "secret.txt".to_string(),
        "bootstrap".to_string(),
    ];
    let r = invoke(
        &ep,
        "probe",
        "RequestResponse",
        json!({"action": "probe", "paths": paths}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let uid = v["uid"].as_u64().unwrap();
    assert_ne!(uid, 0, "the sandbox ran as root: {v}");
    let expected = std::env::var("SUDO_UID")
        .ok()
        .and_then(|u| u.parse().ok())
        .unwrap_or(65534);
    assert_eq!(uid, expected, "{v}");
    let readable = &v["readable"];
    for denied in &paths[..4] {
        assert_eq!(
            readable[denied], false,
            "the sandbox could read {denied}: {v}"
        );
    }
    assert_eq!(readable["secret.txt"], true, "its own code: {v}");
    assert_eq!(readable["bootstrap"], true, "its own code: {v}");
    assert_eq!(v["tmp_writable"], true, "its own /tmp: {v}");
    // Its code is read-only, as /var/task is on Lambda.
    let env = invoke(&ep, "probe", "RequestResponse", json!({"action": "env"}))
        .await
        .json();
    let task_root = env["env"]["LAMBDA_TASK_ROOT"].as_str().unwrap().to_string();
    assert!(
        !task_root.starts_with(&dir.path().display().to_string()),
        "{task_root}"
    );
    emu.shutdown().await;
    // Nothing of the sandbox's own view is left behind.
    assert!(
        !std::path::Path::new(&task_root).exists(),
        "{task_root} left behind"
    );
}

/// Review item 1: the emulator verifies SigV4 signatures against credentials it knows, and the
/// `/_emulator` API wants this run's bearer token.
#[tokio::test]
async fn only_the_runs_credentials_and_token_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    // The right key with the wrong secret: AWS's SignatureDoesNotMatch / InvalidSignatureException.
    remember_secret("AKIAWRONGSECRET00000", "wrong");
    let forged = forged_sigv4(ACCESS_KEY, "sts");
    let r = http(
        "POST",
        &format!("{ep}/"),
        &[("authorization", &forged), ("x-amz-date", &chrono_now())],
        "Action=GetCallerIdentity&Version=2011-06-15",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        r.text()
    );
    let forged = forged_sigv4(ACCESS_KEY, "lambda");
    let r = http(
        "GET",
        &format!("{ep}/2015-03-31/functions/"),
        &[("authorization", &forged), ("x-amz-date", &chrono_now())],
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidSignatureException")
    );
    // A key the emulator does not know, validly signed.
    let r = http(
        "GET",
        &format!("{ep}/2015-03-31/functions/"),
        &[("authorization", &sigv4("AKIAWRONGSECRET00000"))],
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("UnrecognizedClientException")
    );
    // Unsigned.
    let r = http("GET", &format!("{ep}/2015-03-31/functions/"), &[], "").await;
    assert_eq!(r.status, 403, "{}", r.text());
    // Properly signed: accepted.
    assert_eq!(
        lambda("GET", &format!("{ep}/2015-03-31/functions/"), "")
            .await
            .status,
        200
    );
    // `/_emulator` without the token, with another, with this run's (also in the 0600 file).
    let url = format!("{ep}/_emulator/invocations");
    let r = http("GET", &url, &[("authorization", "NOAUTH")], "").await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text().contains("api-token"),
        "the error says where the token is: {}",
        r.text()
    );
    let wrong = format!("Bearer {}", "0".repeat(64));
    assert_eq!(
        http("GET", &url, &[("authorization", &wrong)], "")
            .await
            .status,
        401
    );
    let file = dir.path().join(temporal_lambda_emulator::API_TOKEN_FILE);
    let token = std::fs::read_to_string(&file).unwrap();
    assert_eq!(token, emu.api_token());
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let right = format!("Bearer {token}");
    assert_eq!(
        http("GET", &url, &[("authorization", &right)], "")
            .await
            .status,
        200
    );
    emu.shutdown().await;
}

fn chrono_now() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}
