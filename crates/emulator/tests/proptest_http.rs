//! Property tests over the emulator's HTTP inputs: arbitrary methods, paths, query strings,
//! headers and bodies on every API (Lambda control plane, Invoke, STS, Runtime API-shaped paths,
//! `/_emulator`) get an HTTP answer — an error, never a dropped connection (a panicking handler)
//! — and the emulator stays healthy.

mod common;

use proptest::prelude::*;

fn path() -> impl Strategy<Value = String> {
    let name = prop_oneof![
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
        "\\?[a-zA-Z0-9=&%._-]{0,40}",
    ];
    (shape, name, query).prop_map(|(s, n, q)| format!("{}{q}", s.replace("{}", &n)))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"{}".to_vec()),
        Just(br#"{"FunctionName":"f","Runtime":"provided.al2023","Role":"arn:aws:iam::123456789012:role/r","Handler":"bootstrap","Code":{"ZipFile":"AAAA"}}"#.to_vec()),
        Just(br#"{"reject_invoke": 2.5, "fail_invocation": -1}"#.to_vec()),
        Just(br#"{"RoleArn": "not-an-arn", "ExternalId": ""}"#.to_vec()),
        Just(br#"{"ReservedConcurrentExecutions": -5}"#.to_vec()),
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
        "[a-zA-Z0-9_.]{0,30}".prop_map(|v| ("x-amz-target", v)),
    ];
    prop::collection::vec(h, 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_request_gets_an_answer_and_the_emulator_stays_up(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
        path in path(),
        headers in headers(),
        body in body(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (emu, _dir) = emulator();
        let endpoint = emu.endpoint();
        rt.block_on(async {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            // `http` panics if the connection drops without an answer.
            let r = common::http(method, &format!("{endpoint}{path}"), &hs, body).await;
            assert!((200..600).contains(&r.status), "{}", r.status);
            let health = common::http("GET", &format!("{endpoint}/_emulator/health"), &[], Vec::new()).await;
            assert_eq!(health.status, 200);
        });
    }
}

/// One emulator for all cases, on its own runtime thread (each case runs its own client runtime).
fn emulator() -> (
    &'static temporal_lambda_emulator::EmulatorHandle,
    &'static tempfile::TempDir,
) {
    use std::sync::OnceLock;
    static EMU: OnceLock<(temporal_lambda_emulator::EmulatorHandle, tempfile::TempDir)> =
        OnceLock::new();
    let (e, d) = EMU.get_or_init(|| {
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
                tx.send((emu, dir)).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    });
    (e, d)
}
