//! End-to-end tests of the Lambda side: real `bootstrap` processes (the `emulator-test-function`
//! binary, built with lambda_runtime) behind the control plane, Invoke and Runtime APIs.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;
use temporal_lambda_emulator::{EmulatorError, FunctionSpec, InvocationType, Outcome};

#[tokio::test]
async fn create_from_zip_invoke_and_inspect_env() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let zip = zip(&[
        ("bootstrap", &bootstrap_script(), 0o755),
        ("data/readme.txt", b"hi", 0o644),
    ]);
    let body = json!({
        "FunctionName": "zipped",
        "Runtime": "provided.al2023",
        "Role": "arn:aws:iam::123456789012:role/exec",
        "Handler": "bootstrap",
        "Code": { "ZipFile": b64(&zip) },
        "Timeout": 7,
        "MemorySize": 256,
        "Environment": { "Variables": { "GREETING": "hello" } },
        "Architectures": ["x86_64"],
        "Description": "from a zip",
    });
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    assert_eq!(c["FunctionName"], "zipped");
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:zipped"
    );
    assert_eq!(c["Version"], "$LATEST");
    assert_eq!(c["State"], "Active");
    assert_eq!(c["LastUpdateStatus"], "Successful");
    assert_eq!(c["Timeout"], 7);
    assert_eq!(c["MemorySize"], 256);
    assert_eq!(c["Environment"]["Variables"]["GREETING"], "hello");
    assert_eq!(c["CodeSize"], zip.len() as u64);
    assert!(c["CodeSha256"].as_str().unwrap().ends_with('='));

    // Creating it again conflicts.
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("ResourceConflictException")
    );

    let before = now_ms();
    let r = invoke(&ep, "zipped", "RequestResponse", json!({"action": "env"})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-amz-function-error"), None);
    assert_eq!(
        r.header("x-amz-executed-version").as_deref(),
        Some("$LATEST")
    );
    let out = r.json();
    let env = &out["env"];
    assert_eq!(env["GREETING"], "hello");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "zipped");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/zipped");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["_HANDLER"], "bootstrap");
    assert_eq!(env["TZ"], ":UTC");
    let task_root = env["LAMBDA_TASK_ROOT"].as_str().unwrap();
    assert_eq!(out["cwd"].as_str().unwrap(), task_root);
    let task_root = task_root.to_string();
    let runtime_api = env["AWS_LAMBDA_RUNTIME_API"].as_str().unwrap();
    assert!(
        runtime_api.starts_with("127.0.0.1:") && !runtime_api.contains('/'),
        "{runtime_api}"
    );
    assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"]
        .as_str()
        .unwrap()
        .contains("[$LATEST]"));
    let home = env["HOME"].as_str().unwrap();
    assert_eq!(env["TMPDIR"].as_str().unwrap(), home);
    // The sandbox's own scratch dir (under the data dir; as root, in the emulator's run dir).
    assert!(home.contains("/sb-"), "{home}");
    // The emulator's own environment does not leak in (cargo sets CARGO_* for test processes).
    if std::env::var("CARGO_MANIFEST_DIR").is_ok() {
        assert!(
            env.get("CARGO_MANIFEST_DIR").is_none(),
            "host env leaked: {env}"
        );
    }
    // The deadline is a real epoch-ms deadline ≈ now + timeout.
    let deadline = out["deadline_ms"].as_u64().unwrap();
    let fn_now = out["now_ms"].as_u64().unwrap();
    assert!(
        deadline >= before + 6_000 && deadline <= now_ms() + 7_000,
        "deadline {deadline} vs now {before}"
    );
    assert!(
        (6_000..=7_000).contains(&(deadline - fn_now)),
        "deadline - now = {}",
        deadline - fn_now
    );
    assert_eq!(
        out["invoked_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:zipped"
    );

    // Records and logs.
    let recs = emu.invocations();
    assert_eq!(recs.len(), 1);
    let rec = &recs[0];
    assert_eq!(rec.outcome, Some(Outcome::Success));
    assert_eq!(rec.deadline_ms, Some(deadline));
    assert_eq!(rec.cold_start, Some(true));
    assert_eq!(rec.ended_before_deadline, Some(true));
    assert_eq!(rec.invocation_type, InvocationType::RequestResponse);
    let logs = http("GET", &format!("{ep}/_emulator/logs/zipped"), &[], "").await;
    assert_eq!(logs.status, 200);
    let text = logs.text();
    assert!(
        text.contains(&format!(
            "START RequestId: {} Version: $LATEST",
            rec.request_id
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("END RequestId: {}", rec.request_id)),
        "{text}"
    );
    assert!(
        text.contains(&format!("REPORT RequestId: {}\tDuration: ", rec.request_id)),
        "{text}"
    );
    assert!(
        text.contains("Memory Size: 256 MB\tMax Memory Used: "),
        "{text}"
    );
    assert!(
        text.contains("test-function: request"),
        "function stdout captured: {text}"
    );
    let http_recs = http("GET", &format!("{ep}/_emulator/invocations"), &[], "")
        .await
        .json();
    assert_eq!(http_recs[0]["request_id"], rec.request_id.as_str());
    // The code as the sandbox sees it (as root the emulator gives it its own view of the code).
    let readme = format!("{task_root}/data/readme.txt");
    let probe = invoke(
        &ep,
        "zipped",
        "RequestResponse",
        json!({"action": "probe", "paths": [readme.clone()]}),
    )
    .await
    .json();
    assert_eq!(probe["readable"][&readme], true, "{probe}");
    emu.shutdown().await;
}

#[tokio::test]
async fn zip_without_bootstrap_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let zip = zip(&[("main.py", b"print(1)", 0o644)]);
    let body = json!({"FunctionName": "nobootstrap", "Role": "arn:aws:iam::123456789012:role/x", "Code": {"ZipFile": b64(&zip)}});
    let r = lambda(
        "POST",
        &format!("{}/2015-03-31/functions", emu.endpoint()),
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidParameterValueException")
    );
    let j = r.json();
    assert_eq!(j["Type"], "User");
    let msg = j["message"].as_str().unwrap();
    assert!(
        msg.contains("bootstrap") && msg.contains("main.py"),
        "{msg}"
    );
    // Not a zip at all.
    let body = json!({"FunctionName": "notzip", "Code": {"ZipFile": b64(b"plain text")}});
    let r = lambda(
        "POST",
        &format!("{}/2015-03-31/functions", emu.endpoint()),
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("Could not unzip"));
    // Nothing was created.
    let r = lambda(
        "GET",
        &format!("{}/2015-03-31/functions/nobootstrap", emu.endpoint()),
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn event_invoke_is_accepted_then_runs() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("async-fn", test_function()))
        .await
        .unwrap();
    let r = invoke(
        &emu.endpoint(),
        "async-fn",
        "Event",
        json!({"action": "sleep", "ms": 200}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_empty());
    let request_id = r.header("x-amzn-requestid").unwrap();
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| {
            r.iter()
                .any(|r| r.request_id == request_id && r.is_finished())
        })
        .await
        .unwrap();
    let rec = recs.iter().find(|r| r.request_id == request_id).unwrap();
    assert_eq!(rec.outcome, Some(Outcome::Success));
    assert_eq!(rec.invocation_type, InvocationType::Event);
    assert_eq!(rec.attempt, 1);
    assert!(rec.started_at_ms.unwrap() >= rec.received_at_ms);
    assert!(rec.ended_at_ms.unwrap() >= rec.started_at_ms.unwrap() + 200);
    // DryRun only checks the function.
    let r = invoke(&emu.endpoint(), "async-fn", "DryRun", json!({})).await;
    assert_eq!(r.status, 204);
    emu.shutdown().await;
}

#[tokio::test]
async fn timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(
        FunctionSpec::new("slow", test_function()).timeout(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    // Written by the sandbox (an unprivileged user when the emulator is root).
    let shared = shared_tempdir();
    let child_file = shared.path().join("child.pid");
    let t0 = std::time::Instant::now();
    let r = invoke(
        &emu.endpoint(),
        "slow",
        "RequestResponse",
        json!({"action": "sleep", "ms": 20_000, "child_pid_file": child_file}),
    )
    .await;
    let took = t0.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    assert_eq!(
        r.json(),
        json!({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 1.00 seconds"})
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let rec = emu.invocations().pop().unwrap();
    assert_eq!(rec.outcome, Some(Outcome::Timeout));
    assert_eq!(rec.ended_before_deadline, Some(false));
    let pid = rec.pid.unwrap();
    assert!(
        !process_alive(pid),
        "bootstrap {pid} still alive after timeout"
    );
    let child: u32 = std::fs::read_to_string(&child_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILLed with the group; it ends when next scheduled, which on a busy machine (the other
    // tests of this binary run beside it) can be a moment after the invoke returned.
    let t = std::time::Instant::now();
    while process_alive(child) && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !process_alive(child),
        "grandchild {child} survived the process-group kill"
    );
    // The dead sandbox is gone; the next invocation cold-starts a new one and works.
    let r = invoke(
        &emu.endpoint(),
        "slow",
        "RequestResponse",
        json!({"action": "echo"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-amz-function-error"), None);
    let rec2 = emu.invocations().pop().unwrap();
    assert_eq!(rec2.cold_start, Some(true));
    assert_ne!(rec2.sandbox_id, rec.sandbox_id);
    let logs = emu.logs("slow").unwrap();
    assert!(logs.contains("Task timed out after 1.00 seconds"), "{logs}");
    emu.shutdown().await;
}

#[tokio::test]
async fn warm_sandbox_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("warm", test_function()))
        .await
        .unwrap();
    let a = emu.invoke("warm", br#"{"action":"echo"}"#).await.unwrap();
    let b = emu.invoke("warm", br#"{"action":"echo"}"#).await.unwrap();
    let pa: serde_json::Value = serde_json::from_slice(&a.payload).unwrap();
    let pb: serde_json::Value = serde_json::from_slice(&b.payload).unwrap();
    assert_eq!(pa["pid"], pb["pid"]);
    let recs = emu.invocations();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].cold_start, Some(true));
    assert_eq!(recs[1].cold_start, Some(false));
    assert_eq!(recs[0].sandbox_id, recs[1].sandbox_id);
    assert_eq!(emu.sandboxes().len(), 1);
    // Updating the code retires the warm sandbox: the next call is cold again.
    emu.update_function_code_from_path("warm", test_function())
        .await
        .unwrap();
    emu.invoke("warm", b"").await.unwrap();
    let last = emu.invocations().pop().unwrap();
    assert_eq!(last.cold_start, Some(true));
    assert_ne!(last.sandbox_id, recs[0].sandbox_id);
    emu.shutdown().await;
}

#[tokio::test]
async fn concurrency_limit_queues_async_events() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("limited", test_function()).concurrency(2))
        .await
        .unwrap();
    let ep = emu.endpoint();
    for _ in 0..6 {
        let r = invoke(
            &ep,
            "limited",
            "Event",
            json!({"action": "sleep", "ms": 300}),
        )
        .await;
        assert_eq!(r.status, 202);
    }
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| {
            r.len() == 6 && r.iter().all(|r| r.is_finished())
        })
        .await
        .unwrap();
    assert!(
        recs.iter().all(|r| r.outcome == Some(Outcome::Success)),
        "{recs:#?}"
    );
    assert_eq!(emu.peak_concurrency("limited"), 2);
    // Cross-check from the records: at no start instant were more than 2 executions running.
    for r in &recs {
        let t = r.started_at_ms.unwrap();
        let running = recs
            .iter()
            .filter(|o| o.started_at_ms.unwrap() <= t && t < o.ended_at_ms.unwrap())
            .count();
        assert!(running <= 2, "{running} running at {t}: {recs:#?}");
    }
    let sandboxes: std::collections::HashSet<_> =
        recs.iter().map(|r| r.sandbox_id.clone()).collect();
    assert_eq!(sandboxes.len(), 2, "warm sandboxes are reused");
    // A synchronous call beyond the limit is throttled like Lambda (429).
    emu.set_concurrency("limited", Some(0)).unwrap();
    let r = invoke(&ep, "limited", "RequestResponse", json!({})).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("TooManyRequestsException")
    );
    // PutFunctionConcurrency over HTTP.
    let r = lambda(
        "PUT",
        &format!("{ep}/2017-10-31/functions/limited/concurrency"),
        r#"{"ReservedConcurrentExecutions":3}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ReservedConcurrentExecutions"], 3);
    let r = lambda("GET", &format!("{ep}/2015-03-31/functions/limited"), "").await;
    assert_eq!(r.json()["Concurrency"]["ReservedConcurrentExecutions"], 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn async_errors_are_retried_twice() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("failing", test_function()))
        .await
        .unwrap();
    let id = emu
        .invoke_async("failing", br#"{"action":"error","message":"boom"}"#)
        .unwrap();
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| {
            r.iter().filter(|r| r.is_finished()).count() == 3
        })
        .await
        .unwrap();
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.request_id, id);
        assert_eq!(r.attempt, i as u32 + 1);
        assert_eq!(
            r.outcome,
            Some(Outcome::Error {
                error_type: "TestError".into(),
                error_message: "boom".into()
            })
        );
    }
    assert!(recs[1].received_at_ms >= recs[0].ended_at_ms.unwrap() + 50);
    // No 4th attempt.
    let more = emu
        .wait_for_invocations(Duration::from_millis(400), |r| r.len() > 3)
        .await;
    assert!(
        matches!(more, Err(EmulatorError::WaitTimeout { .. })),
        "{more:?}"
    );
    // A synchronous error is returned to the caller with X-Amz-Function-Error, not retried.
    let r = invoke(
        &emu.endpoint(),
        "failing",
        "RequestResponse",
        json!({"action": "error", "message": "sync boom"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    assert_eq!(r.json()["errorType"], "TestError");
    assert_eq!(r.json()["errorMessage"], "sync boom");
    emu.shutdown().await;
}

#[tokio::test]
async fn process_exit_mid_invocation_is_reported_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("crashy", test_function()))
        .await
        .unwrap();
    // Warm up a sandbox first so the crash happens in a warm one.
    emu.invoke("crashy", b"{}").await.unwrap();
    let r = invoke(
        &emu.endpoint(),
        "crashy",
        "RequestResponse",
        json!({"action": "exit", "code": 7}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-amz-function-error").as_deref(),
        Some("Unhandled")
    );
    let j = r.json();
    assert_eq!(j["errorType"], "Runtime.ExitError");
    assert!(
        j["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exit status 7"),
        "{j}"
    );
    // Async: each attempt fails with Runtime.ExitError; all 3 recorded.
    let id = emu
        .invoke_async("crashy", br#"{"action":"exit","code":1}"#)
        .unwrap();
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| {
            r.iter()
                .filter(|r| r.request_id == id && r.is_finished())
                .count()
                == 3
        })
        .await
        .unwrap();
    assert!(recs.iter().filter(|r| r.request_id == id).all(|r| r
        .outcome
        .as_ref()
        .and_then(|o| o.error_type())
        == Some("Runtime.ExitError")));
    // The function still works afterwards (fresh sandbox).
    let ok = emu.invoke("crashy", b"{}").await.unwrap();
    assert!(ok.function_error.is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn init_failure_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(
        FunctionSpec::new("badinit", test_function()).env("TEST_FUNCTION_INIT_EXIT", "3"),
    )
    .await
    .unwrap();
    let out = emu.invoke("badinit", b"{}").await.unwrap();
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    let j: serde_json::Value = serde_json::from_slice(&out.payload).unwrap();
    assert_eq!(j["errorType"], "Runtime.ExitError");
    emu.wait_for_sandboxes(TIMEOUT, |s| s.is_empty())
        .await
        .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn errors_are_aws_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    emu.create_function_from_path(FunctionSpec::new("exists", test_function()))
        .await
        .unwrap();

    let r = invoke(&ep, "nope", "RequestResponse", json!({})).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("ResourceNotFoundException")
    );
    assert_eq!(r.json()["Type"], "User");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"));

    let r = lambda("GET", &format!("{ep}/2015-03-31/functions/exists:9"), "").await;
    assert_eq!(r.status, 404, "unknown version");

    let r = lambda(
        "GET",
        &format!("{ep}/2015-03-31/functions/arn%3Aaws%3As3%3A%3A%3Abucket"),
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("ValidationException")
    );

    let r = invoke(&ep, "bad%20name", "RequestResponse", json!({})).await;
    assert_eq!(r.status, 400);

    let r = lambda(
        "GET",
        &format!("{ep}/2015-03-31/functions/exists:1?Qualifier=2"),
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidParameterValueException")
    );

    // No credentials at all.
    let r = http(
        "POST",
        &format!("{ep}/2015-03-31/functions/exists/invocations"),
        &[],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("MissingAuthenticationTokenException")
    );
    let r = http("GET", &format!("{ep}/2015-03-31/functions/exists"), &[], "").await;
    assert_eq!(r.status, 403);
    // A temporary key STS never issued.
    let auth = sigv4("ASIANOTISSUEDBYSTS00");
    let r = http(
        "POST",
        &format!("{ep}/2015-03-31/functions/exists/invocations"),
        &[("authorization", &auth)],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("UnrecognizedClientException")
    );

    // Invalid JSON payload.
    let auth = sigv4("AKIAEMULATORTEST");
    let r = http(
        "POST",
        &format!("{ep}/2015-03-31/functions/exists/invocations"),
        &[("authorization", &auth)],
        "not json",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidRequestContentException")
    );
    // Bad timeout in CreateFunction.
    let body = json!({"FunctionName": "t", "Timeout": 0, "Code": {"ZipFile": b64(&zip(&[("bootstrap", b"x", 0o755)]))}});
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    // Reserved env var.
    let r = lambda(
        "PUT",
        &format!("{ep}/2015-03-31/functions/exists/configuration"),
        r#"{"Environment":{"Variables":{"AWS_REGION":"x"}}}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("AWS_REGION"));
    emu.shutdown().await;
}

#[tokio::test]
async fn versions_and_qualified_arns() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    emu.create_function_from_path(FunctionSpec::new("ver", test_function()).env("V", "one"))
        .await
        .unwrap();
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions/ver/versions"),
        r#"{"Description":"first"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v1 = r.json();
    assert_eq!(v1["Version"], "1");
    assert_eq!(v1["Description"], "first");
    assert_eq!(
        v1["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:ver:1"
    );
    // Publishing without changes returns the same version.
    assert_eq!(emu.publish_version("ver", None).unwrap().version, "1");
    let r = lambda(
        "PUT",
        &format!("{ep}/2015-03-31/functions/ver/configuration"),
        r#"{"Environment":{"Variables":{"V":"two"}},"Timeout":5}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Timeout"], 5);
    let v2 = emu.publish_version("ver", Some("second")).unwrap();
    assert_eq!(v2.version, "2");

    // GetFunction on the URL-encoded qualified ARN, as the Temporal server sends it.
    let arn1 = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aver%3A1";
    let r = lambda("GET", &format!("{ep}/2015-03-31/functions/{arn1}"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let g = r.json();
    assert_eq!(g["Configuration"]["Version"], "1");
    assert_eq!(g["Configuration"]["Environment"]["Variables"]["V"], "one");
    assert_eq!(
        g["Configuration"]["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:ver:1"
    );
    let r = lambda(
        "GET",
        &format!("{ep}/2015-03-31/functions/ver?Qualifier=2"),
        "",
    )
    .await;
    assert_eq!(r.json()["Configuration"]["Timeout"], 5);
    let r = lambda(
        "GET",
        &format!("{ep}/2015-03-31/functions/ver:%24LATEST/configuration"),
        "",
    )
    .await;
    assert_eq!(r.json()["Version"], "$LATEST");
    let r = lambda(
        "GET",
        &format!("{ep}/2015-03-31/functions/ver/versions"),
        "",
    )
    .await;
    let versions: Vec<_> = r.json()["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Version"].clone())
        .collect();
    assert_eq!(versions, vec![json!("$LATEST"), json!("1"), json!("2")]);

    // Invoking each version runs that version's config, and the runtime sees the invoked ARN.
    let r = invoke(&ep, arn1, "RequestResponse", json!({"action": "env"})).await;
    assert_eq!(r.header("x-amz-executed-version").as_deref(), Some("1"));
    let j = r.json();
    assert_eq!(j["env"]["V"], "one");
    assert_eq!(j["env"]["AWS_LAMBDA_FUNCTION_VERSION"], "1");
    assert_eq!(
        j["invoked_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:ver:1"
    );
    let out = emu.invoke("ver:2", br#"{"action":"env"}"#).await.unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.payload).unwrap();
    assert_eq!(j["env"]["V"], "two");
    assert_eq!(out.executed_version, "2");

    // Delete a version, then the function.
    let r = lambda(
        "DELETE",
        &format!("{ep}/2015-03-31/functions/ver?Qualifier=1"),
        "",
    )
    .await;
    assert_eq!(r.status, 204);
    let r = lambda("GET", &format!("{ep}/2015-03-31/functions/{arn1}"), "").await;
    assert_eq!(r.status, 404);
    let r = lambda("DELETE", &format!("{ep}/2015-03-31/functions/ver"), "").await;
    assert_eq!(r.status, 204);
    let r = lambda("GET", &format!("{ep}/2015-03-31/functions/ver"), "").await;
    assert_eq!(r.status, 404);
    emu.wait_for_sandboxes(TIMEOUT, |s| s.is_empty())
        .await
        .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let emu = start(dir.path()).await;
        let zip = zip(&[("bootstrap", &bootstrap_script(), 0o755)]);
        emu.create_function_from_zip(FunctionSpec::new("persist", "unused").env("K", "v1"), zip)
            .await
            .unwrap();
        emu.publish_version("persist", None).unwrap();
        emu.update_function_code_from_path("persist", test_function())
            .await
            .unwrap();
        emu.publish_version("persist", None).unwrap();
        emu.set_concurrency("persist", Some(4)).unwrap();
        emu.register_role(ROLE, Some(EXTERNAL_ID)).unwrap();
        emu.shutdown().await;
    }
    let emu = start(dir.path()).await;
    let v2 = emu
        .get_function("arn:aws:lambda:us-east-1:123456789012:function:persist:2")
        .unwrap();
    assert_eq!(v2.version, "2");
    let ep = emu.endpoint();
    let r = lambda(
        "GET",
        &format!("{ep}/2015-03-31/functions/persist/versions"),
        "",
    )
    .await;
    assert_eq!(r.json()["Versions"].as_array().unwrap().len(), 3);
    let r = lambda("GET", &format!("{ep}/2015-03-31/functions/persist"), "").await;
    assert_eq!(r.json()["Concurrency"]["ReservedConcurrentExecutions"], 4);
    // Both versions still run after the restart (version 1 is the zip's shell bootstrap).
    for q in ["persist:1", "persist:2"] {
        let out = emu.invoke(q, br#"{"action":"env"}"#).await.unwrap();
        assert!(
            out.function_error.is_none(),
            "{}",
            String::from_utf8_lossy(&out.payload)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.payload).unwrap();
        assert_eq!(j["env"]["K"], "v1");
    }
    // The role too.
    let roles = http("GET", &format!("{ep}/_emulator/roles"), &[], "")
        .await
        .json();
    assert_eq!(roles[0]["RoleArn"], ROLE);
    emu.shutdown().await;
}

#[tokio::test]
async fn shutdown_kills_all_sandboxes_and_idle_ones_are_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.idle_sandbox_ttl = Duration::from_millis(300);
    let emu = common::started(
        temporal_lambda_emulator::Emulator::start(cfg)
            .await
            .unwrap(),
    );
    emu.create_function_from_path(FunctionSpec::new("reap", test_function()))
        .await
        .unwrap();
    emu.invoke("reap", b"{}").await.unwrap();
    let pid = emu.invocations()[0].pid.unwrap();
    emu.wait_for_sandboxes(TIMEOUT, |s| s.is_empty())
        .await
        .unwrap();
    assert!(!process_alive(pid), "idle sandbox {pid} was not reaped");

    // Busy sandboxes at shutdown are killed, their invocations failed (not lost).
    emu.create_function_from_path(
        FunctionSpec::new("busy", test_function()).timeout(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        emu.invoke_async("busy", br#"{"action":"sleep","ms":30000}"#)
            .unwrap();
    }
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| {
            r.iter()
                .filter(|r| r.function_name == "busy" && r.started_at_ms.is_some())
                .count()
                == 3
        })
        .await
        .unwrap();
    let pids: Vec<u32> = recs
        .iter()
        .filter(|r| r.function_name == "busy")
        .map(|r| r.pid.unwrap())
        .collect();
    assert!(pids.iter().all(|p| process_alive(*p)));
    let t0 = std::time::Instant::now();
    emu.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    for p in pids {
        assert!(!process_alive(p), "sandbox {p} survived shutdown");
    }
}

fn error_type(r: &Resp) -> String {
    r.header("x-amzn-errortype").unwrap_or_default()
}

#[tokio::test]
async fn event_invoke_config_round_trip_validation_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("eic", test_function()))
        .await
        .unwrap();
    emu.publish_version("eic", None).unwrap();
    let ep = emu.endpoint();
    let url = |name: &str| format!("{ep}/2019-09-25/functions/{name}/event-invoke-config");
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:eic";

    // No config yet.
    let r = lambda("GET", &url("eic"), "").await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(error_type(&r), "ResourceNotFoundException");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("PutFunctionEventInvokeConfig"));

    let before = now_ms() as f64 / 1000.0;
    let r = lambda(
        "PUT",
        &url("eic"),
        json!({"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 120}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert_eq!(c["FunctionArn"], format!("{arn}:$LATEST"));
    assert_eq!(c["MaximumRetryAttempts"], 1);
    assert_eq!(c["MaximumEventAgeInSeconds"], 120);
    assert_eq!(
        c["DestinationConfig"],
        json!({"OnSuccess": {}, "OnFailure": {}})
    );
    let modified = c["LastModified"].as_f64().unwrap();
    assert!(modified >= before - 1.0 && modified <= now_ms() as f64 / 1000.0 + 1.0);
    let r = lambda("GET", &url("eic"), "").await;
    assert_eq!(r.json(), c);

    // Update changes only what it is given; Put replaces (unset fields show the defaults).
    let r = lambda(
        "POST",
        &url("eic"),
        json!({"MaximumRetryAttempts": 0}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (
            r.json()["MaximumRetryAttempts"].clone(),
            r.json()["MaximumEventAgeInSeconds"].clone()
        ),
        (json!(0), json!(120))
    );
    let r = lambda(
        "PUT",
        &url("eic"),
        json!({"MaximumRetryAttempts": 2}).to_string(),
    )
    .await;
    assert_eq!(r.json()["MaximumEventAgeInSeconds"], 21600);

    // Per version, by ?Qualifier= or name:qualifier.
    let r = lambda(
        "PUT",
        &format!("{}?Qualifier=1", url("eic")),
        json!({"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["FunctionArn"], format!("{arn}:1"));
    let r = lambda("GET", &url("eic:1"), "").await;
    assert_eq!(r.json()["MaximumEventAgeInSeconds"], 60);
    let r = lambda(
        "GET",
        &format!("{ep}/2019-09-25/functions/eic/event-invoke-config/list"),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["FunctionEventInvokeConfigs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Validation: AWS-shaped, naming the setting and its range.
    for (body, needle) in [
        (
            json!({"MaximumRetryAttempts": 3}),
            "MaximumRetryAttempts 3 is out of range: it must be 0..=2",
        ),
        (
            json!({"MaximumRetryAttempts": -1}),
            "MaximumRetryAttempts -1",
        ),
        (
            json!({"MaximumEventAgeInSeconds": 59}),
            "MaximumEventAgeInSeconds 59 is out of range: it must be 60..=21600",
        ),
        (
            json!({"MaximumEventAgeInSeconds": 21601}),
            "MaximumEventAgeInSeconds 21601",
        ),
        (
            json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:dlq"}}}),
            "DestinationConfig.OnFailure.Destination is not supported",
        ),
    ] {
        for method in ["PUT", "POST"] {
            let r = lambda(method, &url("eic"), body.to_string()).await;
            assert_eq!(r.status, 400, "{method} {body}: {}", r.text());
            assert_eq!(error_type(&r), "InvalidParameterValueException");
            let j = r.json();
            assert_eq!(j["Type"], "User");
            assert!(j["message"].as_str().unwrap().contains(needle), "{j}");
        }
    }
    let r = lambda("PUT", &url("eic"), "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(error_type(&r), "InvalidRequestContentException");
    // The rejected calls changed nothing.
    let r = lambda("GET", &url("eic"), "").await;
    assert_eq!(r.json()["MaximumRetryAttempts"], 2);

    // Unknown functions and versions.
    for (method, u) in [
        ("PUT", url("nope")),
        ("POST", url("nope")),
        ("GET", url("nope")),
        ("DELETE", url("nope")),
        ("PUT", format!("{}?Qualifier=9", url("eic"))),
        ("GET", url("eic:9")),
    ] {
        let r = lambda(method, &u, json!({"MaximumRetryAttempts": 1}).to_string()).await;
        assert_eq!(r.status, 404, "{method} {u}: {}", r.text());
        assert_eq!(error_type(&r), "ResourceNotFoundException");
    }

    // Survives a restart.
    emu.shutdown().await;
    let emu = start(dir.path()).await;
    let ep = emu.endpoint();
    let url = |name: &str| format!("{ep}/2019-09-25/functions/{name}/event-invoke-config");
    let r = lambda("GET", &url("eic:1"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["MaximumRetryAttempts"], 0);
    // Delete, then Get/Delete find nothing.
    let r = lambda("DELETE", &url("eic"), "").await;
    assert_eq!(r.status, 204, "{}", r.text());
    for method in ["GET", "DELETE"] {
        let r = lambda(method, &url("eic"), "").await;
        assert_eq!(r.status, 404, "{method}: {}", r.text());
        assert_eq!(error_type(&r), "ResourceNotFoundException");
    }
    // The version's config stays until the version is deleted ...
    let r = lambda("GET", &url("eic:1"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = lambda(
        "DELETE",
        &format!("{ep}/2015-03-31/functions/eic?Qualifier=1"),
        "",
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    // ... and goes with it.
    let r = lambda("GET", &url("eic:1"), "").await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = lambda(
        "GET",
        &format!("{ep}/2019-09-25/functions/eic/event-invoke-config/list"),
        "",
    )
    .await;
    assert_eq!(r.json()["FunctionEventInvokeConfigs"], json!([]));
    emu.shutdown().await;
}

/// How many attempts of one request id have finished.
fn finished_of(recs: &[temporal_lambda_emulator::InvocationRecord], id: &str) -> usize {
    recs.iter()
        .filter(|r| r.request_id == id && r.is_finished())
        .count()
}

#[tokio::test]
async fn maximum_retry_attempts_limits_async_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("retries", test_function()))
        .await
        .unwrap();
    emu.publish_version("retries", None).unwrap();
    let ep = emu.endpoint();
    let url = format!("{ep}/2019-09-25/functions/retries/event-invoke-config");
    // Unqualified: 1 retry; version 1: none.
    let r = lambda("PUT", &url, json!({"MaximumRetryAttempts": 1}).to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = lambda(
        "PUT",
        &format!("{url}?Qualifier=1"),
        json!({"MaximumRetryAttempts": 0}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let fail = br#"{"action":"error","message":"boom"}"#;

    for (target, attempts) in [("retries:1", 1), ("retries", 2), ("retries:$LATEST", 2)] {
        let id = emu.invoke_async(target, fail).unwrap();
        let recs = emu
            .wait_for_invocations(TIMEOUT, |r| finished_of(r, &id) == attempts)
            .await
            .unwrap();
        let mine: Vec<_> = recs.iter().filter(|r| r.request_id == id).collect();
        for (i, r) in mine.iter().enumerate() {
            assert_eq!(r.attempt, i as u32 + 1, "{target}");
            assert_eq!(r.outcome.as_ref().unwrap().error_type(), Some("TestError"));
        }
        // No further attempt (the retry delays are 50 ms / 100 ms).
        let more = emu
            .wait_for_invocations(Duration::from_millis(400), |r| {
                r.iter().filter(|r| r.request_id == id).count() > attempts
            })
            .await;
        assert!(
            matches!(more, Err(EmulatorError::WaitTimeout { .. })),
            "{target}: {more:?}"
        );
    }

    // Without a config Lambda's default of 2 retries applies again.
    let r = lambda("DELETE", &format!("{url}?Qualifier=1"), "").await;
    assert_eq!(r.status, 204);
    let r = lambda("DELETE", &url, "").await;
    assert_eq!(r.status, 204);
    let id = emu.invoke_async("retries:1", fail).unwrap();
    emu.wait_for_invocations(TIMEOUT, |r| finished_of(r, &id) == 3)
        .await
        .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn events_older_than_maximum_event_age_are_dropped_with_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    // One "second" of MaximumEventAgeInSeconds is 1 ms: the API minimum of 60 is 60 ms, shorter
    // than the first retry delay.
    cfg.event_age_unit = Duration::from_millis(1);
    cfg.async_retry_delays = vec![Duration::from_millis(150)];
    let emu = common::started(
        temporal_lambda_emulator::Emulator::start(cfg)
            .await
            .unwrap(),
    );
    emu.create_function_from_path(FunctionSpec::new("aging", test_function()).concurrency(1))
        .await
        .unwrap();
    let ep = emu.endpoint();
    let r = lambda(
        "PUT",
        &format!("{ep}/2019-09-25/functions/aging/event-invoke-config"),
        json!({"MaximumEventAgeInSeconds": 60}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["MaximumEventAgeInSeconds"], 60);

    // A failed event's retry is due after 150 ms, when the event is older than 60 ms: dropped.
    let id = emu
        .invoke_async("aging", br#"{"action":"error","message":"boom"}"#)
        .unwrap();
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| finished_of(r, &id) == 2)
        .await
        .unwrap();
    let mine: Vec<_> = recs.iter().filter(|r| r.request_id == id).collect();
    assert_eq!(
        mine[0].outcome.as_ref().unwrap().error_type(),
        Some("TestError")
    );
    assert_eq!(mine[1].attempt, 2);
    assert_eq!(mine[1].started_at_ms, None, "the dropped retry never ran");
    match mine[1].outcome.as_ref().unwrap() {
        Outcome::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "Emulator.EventAgeExceeded");
            assert!(
                error_message.contains("MaximumEventAgeInSeconds 60"),
                "{error_message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let more = emu
        .wait_for_invocations(Duration::from_millis(400), |r| {
            r.iter().filter(|r| r.request_id == id).count() > 2
        })
        .await;
    assert!(
        matches!(more, Err(EmulatorError::WaitTimeout { .. })),
        "{more:?}"
    );

    // Behind the concurrency limit (1): the second event waits 300 ms in the queue, older than
    // 60 ms when it would leave it, so it never runs.
    let busy = emu
        .invoke_async("aging", br#"{"action":"sleep","ms":300}"#)
        .unwrap();
    let queued = emu.invoke_async("aging", b"{}").unwrap();
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| {
            finished_of(r, &busy) == 1 && finished_of(r, &queued) == 1
        })
        .await
        .unwrap();
    let b = recs.iter().find(|r| r.request_id == busy).unwrap();
    assert_eq!(b.outcome, Some(Outcome::Success));
    let q: Vec<_> = recs.iter().filter(|r| r.request_id == queued).collect();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].attempt, 1);
    assert_eq!(q[0].started_at_ms, None);
    assert_eq!(
        q[0].outcome.as_ref().unwrap().error_type(),
        Some("Emulator.EventAgeExceeded")
    );
    // Synchronous invocations have no event age.
    let out = emu.invoke("aging", b"{}").await.unwrap();
    assert!(out.function_error.is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn duplicate_event_fault_delivers_each_event_twice_with_the_same_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    emu.create_function_from_path(FunctionSpec::new("dup", test_function()))
        .await
        .unwrap();
    let ep = emu.endpoint();
    // Through the HTTP route; the handle's set_faults does the same.
    let r = http(
        "PUT",
        &format!("{ep}/_emulator/faults"),
        &[("content-type", "application/json")],
        json!({"duplicate_event": 1.0}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["faults"]["duplicate_event"], 1.0);

    let r = invoke(&ep, "dup", "Event", json!({"n": 1})).await;
    assert_eq!(r.status, 202);
    let first = r.header("x-amzn-requestid").unwrap();
    let second = emu.invoke_async("dup", br#"{"n":2}"#).unwrap();
    let recs = emu
        .wait_for_invocations(TIMEOUT, |r| {
            finished_of(r, &first) == 2 && finished_of(r, &second) == 2
        })
        .await
        .unwrap();
    for id in [&first, &second] {
        let mine: Vec<_> = recs.iter().filter(|r| &r.request_id == id).collect();
        assert_eq!(mine.len(), 2);
        assert!(mine
            .iter()
            .all(|r| r.attempt == 1 && r.outcome == Some(Outcome::Success)));
        assert_eq!(mine.iter().filter(|r| r.duplicate).count(), 1, "{mine:?}");
    }
    // The function saw each request id twice.
    let logs = emu.logs("dup").unwrap();
    for id in [&first, &second] {
        assert_eq!(
            logs.matches(&format!("test-function: request {id}"))
                .count(),
            2,
            "{logs}"
        );
    }
    assert_eq!(emu.fault_stats().events_duplicated, 2);
    let f = http("GET", &format!("{ep}/_emulator/faults"), &[], "")
        .await
        .json();
    assert_eq!(f["stats"]["events_duplicated"], 2);

    // Synchronous invocations are never duplicated; turning the fault off stops it.
    emu.invoke("dup", b"{}").await.unwrap();
    emu.set_faults(temporal_lambda_emulator::Faults::default());
    let third = emu.invoke_async("dup", b"{}").unwrap();
    emu.wait_for_invocations(TIMEOUT, |r| finished_of(r, &third) == 1)
        .await
        .unwrap();
    assert_eq!(emu.fault_stats().events_duplicated, 2);
    assert_eq!(emu.invocations().iter().filter(|r| r.duplicate).count(), 2);
    emu.shutdown().await;
}

/// A `bootstrap` built for the other architecture than the function's `Architectures` fails at
/// invoke as Lambda fails it (`Runtime.InvalidEntrypoint`, exec format error), naming both
/// architectures and the fix.
#[tokio::test]
async fn a_bootstrap_for_the_other_architecture_fails_naming_both() {
    use temporal_lambda_env::arch::Arch;
    let dir = tempfile::tempdir().unwrap();
    let emu = start(dir.path()).await;
    let host = Arch::host().expect("a Lambda architecture");
    let other = match host {
        Arch::X86_64 => Arch::Arm64,
        Arch::Arm64 => Arch::X86_64,
    };
    // The test function is built for this host; the function says the other architecture.
    emu.create_function_from_path(FunctionSpec::new("wrong-arch", test_function()).arch(other))
        .await
        .unwrap();
    let out = emu.invoke("wrong-arch", b"{}").await.unwrap();
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    let j: serde_json::Value = serde_json::from_slice(&out.payload).unwrap();
    assert_eq!(j["errorType"], "Runtime.InvalidEntrypoint", "{j}");
    let msg = j["errorMessage"].as_str().unwrap();
    assert!(msg.contains("exec format error"), "{msg}");
    assert!(msg.contains(&format!("an {host} executable")), "{msg}");
    assert!(
        msg.contains(&format!("Architectures is [\"{other}\"]")),
        "{msg}"
    );
    assert!(msg.contains(&format!("--arch {other}")), "{msg}");
    emu.shutdown().await;
}
