//! Property tests over the emulator's HTTP inputs: arbitrary methods, paths, query strings,
//! headers and bodies on every API (Lambda control plane, Invoke, STS, Runtime API-shaped paths,
//! `/_emulator`) get an HTTP answer — an error, never a dropped connection (a panicking handler)
//! — and the emulator stays healthy; no answer ever contains a byte of a file outside the data
//! dir (traversal); and a request with a foreign `Host`, an `Origin`/`Sec-Fetch-*` header or a
//! form content type without SigV4 is refused and changes nothing.

use crate::common;

use std::sync::OnceLock;

use proptest::prelude::*;
use temporal_lambda_emulator::EmulatorHandle;

/// A file outside the data dir (in a sibling temp dir) whose contents must never be served.
struct Canary {
    _dir: tempfile::TempDir,
    /// The sibling dir's name (reachable as `<data>/logs/<f>/../../<name>`).
    name: String,
    /// Its absolute path, URL-encoded.
    abs: String,
    marker: String,
}

fn canary() -> &'static Canary {
    static CANARY: OnceLock<Canary> = OnceLock::new();
    CANARY.get_or_init(|| {
        let (_, data) = emulator(&MAIN);
        let dir = tempfile::tempdir_in(data.path().parent().unwrap()).unwrap();
        let marker = format!("CANARY-{:x}-{:x}", common::now_ms(), std::process::id());
        // The marker is in file contents and in a file name (what `…/streams` would list).
        std::fs::write(dir.path().join("canary.log"), &marker).unwrap();
        std::fs::write(dir.path().join(format!("{marker}.log")), &marker).unwrap();
        Canary {
            name: dir.path().file_name().unwrap().to_str().unwrap().to_owned(),
            abs: form_urlencoded::byte_serialize(dir.path().to_str().unwrap().as_bytes()).collect(),
            _dir: dir,
            marker,
        }
    })
}

fn traversal() -> impl Strategy<Value = String> {
    let c = canary();
    let (name, abs) = (c.name.clone(), c.abs.clone());
    prop_oneof![
        Just(format!("..%2F..%2F{name}")),
        Just(format!("..%2F..%2F{name}%2F")),
        Just(format!("..%2F..%2F..%2F{name}")),
        Just(format!("%2E%2E%2F%2E%2E%2F{name}")),
        Just(abs.clone()),
        Just(format!("{abs}%2F")),
        Just(format!("..%2F..%2F..%2F..%2F..%2F..%2F..%2F..{abs}")),
        Just("..".to_owned()),
        Just("%2E%2E".to_owned()),
    ]
}

fn traversal_query() -> impl Strategy<Value = String> {
    let c = canary();
    let (name, abs) = (c.name.clone(), c.abs.clone());
    prop_oneof![
        Just(format!("?stream=..%2F..%2F..%2F{name}%2Fcanary.log")),
        Just(format!("?stream=..%2F..%2F{name}%2Fcanary.log")),
        Just(format!("?stream={abs}%2Fcanary.log")),
        Just(format!(
            "?stream=%2E%2E%2F%2E%2E%2F%2E%2E%2F{name}%2Fcanary"
        )),
        Just(format!("?function=..%2F..%2F{name}")),
    ]
}

/// `(method, path + query)`.
fn request() -> impl Strategy<Value = (&'static str, String)> {
    let name = prop_oneof![
        traversal(),
        Just("f".to_owned()),
        Just("arn:aws:lambda:us-east-1:123456789012:function:f:1".to_owned()),
        Just("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af".to_owned()),
        Just("%ZZ".to_owned()),
        Just("".to_owned()),
        "[a-zA-Z0-9:%_.-]{0,70}",
    ];
    let shape = prop_oneof![
        Just("/2015-03-31/functions/{}"),
        Just("/2015-03-31/functions/{}/invocations"),
        Just("/2015-03-31/functions/{}/code"),
        Just("/2015-03-31/functions/{}/configuration"),
        Just("/2015-03-31/functions/{}/versions"),
        Just("/2017-10-31/functions/{}/concurrency"),
        Just("/2015-03-31/functions"),
        Just("/2015-03-31/functions/{}/policy"),
        Just("/_emulator/invocations"),
        Just("/_emulator/logs/{}"),
        Just("/_emulator/logs/{}/streams"),
        Just("/_emulator/roles"),
        Just("/_emulator/faults"),
        Just("/_emulator/sandboxes"),
        Just("/2018-06-01/runtime/invocation/{}/response"),
        Just("/"),
        Just("/{}"),
    ];
    let query = prop_oneof![
        Just(String::new()),
        Just("?Qualifier=1".to_owned()),
        Just("?Action=AssumeRole&RoleArn=x&RoleSessionName=s".to_owned()),
        Just("?Action=GetCallerIdentity".to_owned()),
        Just("?function=f&stream=..%2F..%2Fetc%2Fpasswd".to_owned()),
        traversal_query(),
        "\\?[a-zA-Z0-9=&%._-]{0,40}",
    ];
    let any_route =
        (shape, name, query).prop_map(|(s, n, q)| format!("{}{q}", s.replace("{}", &n)));
    // A quarter of the cases aim straight at the logs routes with traversal names/streams.
    let logs = prop_oneof![
        Just("/_emulator/logs/{}"),
        Just("/_emulator/logs/{}/streams"),
    ];
    let logs_name = prop_oneof![traversal(), Just("f".to_owned())];
    let logs_query = prop_oneof![traversal_query(), Just(String::new())];
    let traversing =
        (logs, logs_name, logs_query).prop_map(|(s, n, q)| format!("{}{q}", s.replace("{}", &n)));
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]);
    prop_oneof![
        3 => (method, any_route),
        1 => (Just("GET"), traversing),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"{}".to_vec()),
        Just(br#"{"FunctionName":"f","Runtime":"provided.al2023","Role":"arn:aws:iam::123456789012:role/r","Handler":"bootstrap","Code":{"ZipFile":"AAAA"}}"#.to_vec()),
        Just(br#"{"reject_invoke": 2.5, "fail_invocation": -1}"#.to_vec()),
        Just(br#"{"RoleArn": "not-an-arn", "ExternalId": ""}"#.to_vec()),
        Just(br#"{"ReservedConcurrentExecutions": -5}"#.to_vec()),
        Just(format!(r#"{{"logGroupName": "/aws/lambda/../../{}"}}"#, canary().name).into_bytes()),
        Just(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&RoleSessionName=s&DurationSeconds=99999999999".to_vec()),
        "\\PC{0,200}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let h = prop_oneof![
        Just(("authorization", common::sigv4("AKIAEMULATORTEST"))),
        Just((
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ASIAFAKE/x".to_owned()
        )),
        Just(("authorization", "garbage".to_owned())),
        Just(("x-amz-invocation-type", "Event".to_owned())),
        Just(("x-amz-invocation-type", "DryRun".to_owned())),
        "[a-zA-Z]{0,12}".prop_map(|v| ("x-amz-invocation-type", v)),
        Just(("x-amz-security-token", "tok".to_owned())),
        Just((
            "content-type",
            "application/x-www-form-urlencoded".to_owned()
        )),
        Just(("x-amz-target", "Logs_20140328.PutLogEvents".to_owned())),
        Just(("x-amz-target", "Logs_20140328.FilterLogEvents".to_owned())),
        Just(("content-type", "application/x-amz-json-1.1".to_owned())),
        "[a-zA-Z0-9_.]{0,30}".prop_map(|v| ("x-amz-target", v)),
    ];
    prop::collection::vec(h, 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_request_gets_an_answer_and_the_emulator_stays_up(
        (method, path) in request(),
        headers in headers(),
        body in body(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (emu, _dir) = emulator(&MAIN);
        let endpoint = emu.endpoint();
        let marker = &canary().marker;
        rt.block_on(async {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            // `http` panics if the connection drops without an answer.
            let r = common::http(method, &format!("{endpoint}{path}"), &hs, body).await;
            assert!((200..600).contains(&r.status), "{}", r.status);
            assert!(
                !r.text().contains(marker.as_str()),
                "{method} {path} served a file outside the data dir"
            );
            let health = common::http("GET", &format!("{endpoint}/_emulator/health"), &[], Vec::new()).await;
            assert_eq!(health.status, 200);
        });
    }
}

/// A request that would change state if it got through.
fn mutating_request() -> impl Strategy<Value = (&'static str, &'static str, Vec<u8>)> {
    let create = serde_json::json!({
        "FunctionName": "g",
        "Role": "arn:aws:iam::123456789012:role/exec",
        "Code": {"ZipFile": common::b64(&common::zip(&[("bootstrap", &common::bootstrap_script(), 0o755)]))},
    })
    .to_string()
    .into_bytes();
    prop_oneof![
        Just(("POST", "/_emulator/roles", br#"{"RoleArn": "arn:aws:iam::123456789012:role/temporal-invoker"}"#.to_vec())),
        Just(("POST", "/_emulator/roles", br#"{"RoleArn": "arn:aws:iam::123456789012:role/new"}"#.to_vec())),
        Just(("PUT", "/_emulator/faults", br#"{"reject_invoke": 1.0, "fail_invocation": 1.0}"#.to_vec())),
        Just(("POST", "/2015-03-31/functions", create)),
        Just(("DELETE", "/2015-03-31/functions/f", Vec::new())),
        Just(("PUT", "/2017-10-31/functions/f/concurrency", br#"{"ReservedConcurrentExecutions": 0}"#.to_vec())),
        Just(("POST", "/2015-03-31/functions/f/versions", Vec::new())),
        Just(("POST", "/2015-03-31/functions/f/invocations", br#"{"action":"echo"}"#.to_vec())),
        Just(("POST", "/", b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ftemporal-invoker&RoleSessionName=s&ExternalId=ext-id-12345".to_vec())),
    ]
}

/// What makes a request refused: a foreign Host or a browser header (403, signed or not, with or
/// without a form content type), or a form content type without SigV4 (415). Returns the extra
/// headers, whether to add a SigV4 header, and the expected status.
fn refusal() -> impl Strategy<Value = (Vec<(&'static str, String)>, bool, u16)> {
    let host = prop_oneof![
        Just("evil.example:{port}".to_owned()),
        Just("evil.example".to_owned()),
        Just("127.0.0.1.nip.io:{port}".to_owned()),
        Just("localhost.evil.example:{port}".to_owned()),
        Just("127.0.0.1:1".to_owned()),
        Just("[::1]:1".to_owned()),
        "[a-z]{1,10}\\.[a-z]{2,3}(:[0-9]{1,5})?",
    ]
    .prop_map(|h| ("host", h));
    let browser = prop_oneof![
        Just(("origin", "http://evil.example".to_owned())),
        Just(("origin", "null".to_owned())),
        Just(("origin", "http://127.0.0.1:{port}".to_owned())),
        Just(("sec-fetch-site", "cross-site".to_owned())),
        Just(("sec-fetch-site", "same-origin".to_owned())),
        Just(("sec-fetch-mode", "no-cors".to_owned())),
    ];
    let form = prop_oneof![
        Just("text/plain;charset=UTF-8"),
        Just("application/x-www-form-urlencoded"),
        Just("multipart/form-data; boundary=----x"),
    ];
    prop_oneof![
        (prop_oneof![host, browser], any::<bool>(), any::<bool>()).prop_map(
            |(h, sign, with_form)| {
                let mut hs = vec![h];
                if with_form {
                    hs.push(("content-type", "text/plain".to_owned()));
                }
                (hs, sign, 403u16)
            }
        ),
        form.prop_map(|ct| (vec![("content-type", ct.to_owned())], false, 415u16)),
    ]
}

/// Everything a refused request could have changed.
async fn snapshot(endpoint: &str) -> Vec<String> {
    let mut out = Vec::new();
    for url in [
        "/2015-03-31/functions/",
        "/2015-03-31/functions/f",
        "/2015-03-31/functions/f/versions",
        "/2019-09-30/functions/f/concurrency",
    ] {
        let r = common::lambda("GET", &format!("{endpoint}{url}"), Vec::new()).await;
        out.push(format!("{url} {} {}", r.status, r.text()));
    }
    for url in [
        "/_emulator/roles",
        "/_emulator/faults",
        "/_emulator/sts",
        "/_emulator/invocations",
    ] {
        let r = common::http("GET", &format!("{endpoint}{url}"), &[], Vec::new()).await;
        out.push(format!("{url} {} {}", r.status, r.text()));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn refused_requests_change_nothing(
        (method, path, body) in mutating_request(),
        (extra, sign, status) in refusal(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (emu, _dir) = emulator(&GUARDED);
        let endpoint = emu.endpoint();
        let port = emu.addr().port().to_string();
        rt.block_on(async {
            let before = snapshot(&endpoint).await;
            let auth = common::sigv4("AKIAEMULATORTEST");
            let mut hs: Vec<(&str, String)> = extra
                .iter()
                .map(|(k, v)| (*k, v.replace("{port}", &port)))
                .collect();
            if sign {
                hs.push(("authorization", auth));
            }
            let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = common::http(method, &format!("{endpoint}{path}"), &hs, body).await;
            assert_eq!(r.status, status, "{method} {path} {hs:?}: {}", r.text());
            assert!(r.text().contains("Refused"), "{}", r.text());
            assert_eq!(snapshot(&endpoint).await, before, "{method} {path} {hs:?} changed state");
        });
    }
}

/// Credentials that must not get a request through: none, a forged signature of the emulator's
/// own key, a valid signature by a key it does not know, a bearer token that is not this run's.
fn bad_credentials() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("NOAUTH".to_owned()),
        Just(common::forged_sigv4(common::ACCESS_KEY, "lambda")),
        Just(common::forged_sigv4(common::ACCESS_KEY, "sts")),
        Just(common::sigv4("AKIANOTTHEEMULATORS")),
        Just(common::sigv4_for("ASIANOTISSUED0000000", "sts")),
        Just("Bearer 0000000000000000000000000000000000000000000000000000000000000000".to_owned()),
        "Bearer [a-f0-9]{0,64}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn requests_without_valid_credentials_change_nothing(
        (method, path, body) in mutating_request(),
        auth in bad_credentials(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (emu, _dir) = emulator(&GUARDED);
        let endpoint = emu.endpoint();
        rt.block_on(async {
            let before = snapshot(&endpoint).await;
            let hs = [("authorization", auth.as_str())];
            let r = common::http(method, &format!("{endpoint}{path}"), &hs, body).await;
            assert!(
                [400, 401, 403].contains(&r.status),
                "{method} {path} with {auth:?} got {}: {}", r.status, r.text()
            );
            assert_eq!(snapshot(&endpoint).await, before, "{method} {path} {auth:?} changed state");
        });
    }
}

static MAIN: EmulatorSlot = OnceLock::new();
/// A separate emulator for `refused_requests_change_nothing`, so the other property's
/// (accepted) requests cannot change its state concurrently.
static GUARDED: EmulatorSlot = OnceLock::new();

type EmulatorSlot = OnceLock<(EmulatorHandle, tempfile::TempDir)>;

/// One emulator per slot for all cases, on its own runtime thread (each case runs its own client
/// runtime). `GUARDED` gets a function `f` (invoked once) and a role with an external ID.
fn emulator(slot: &'static EmulatorSlot) -> (&'static EmulatorHandle, &'static tempfile::TempDir) {
    let guarded = std::ptr::eq(slot, &GUARDED);
    let (e, d) = slot.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let dir = tempfile::tempdir().unwrap();
                let emu = common::start(dir.path()).await;
                emu.register_role(common::ROLE, Some(common::EXTERNAL_ID))
                    .unwrap();
                if guarded {
                    emu.create_function_from_path(temporal_lambda_emulator::FunctionSpec::new(
                        "f",
                        common::test_function(),
                    ))
                    .await
                    .unwrap();
                    emu.invoke("f", br#"{"action":"echo"}"#).await.unwrap();
                }
                tx.send((emu, dir)).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    });
    (e, d)
}
