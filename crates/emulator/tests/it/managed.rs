//! Lambda Managed Instances mode: concurrent invocations in one environment, per-invocation
//! deadlines that do not stop the environment, throttling, published versions only, the
//! environment variables, and records that name the environment.

use std::time::Duration;

use serde_json::{json, Value};
use temporal_lambda_emulator::{
    Emulator, EmulatorError, EmulatorHandle, Fidelity, FunctionSpec,
    LambdaManagedInstancesCapacityProviderConfig, Outcome,
};

use crate::common::*;

const PROVIDER: &str = "arn:aws:lambda:us-east-1:123456789012:capacity-provider:test-cp";

/// An emulator whose LMI versions get `environments` execution environments.
async fn start_lmi(dir: &std::path::Path, environments: u32) -> EmulatorHandle {
    let mut c = config(dir);
    c.fidelity = Fidelity::LAMBDA;
    c.managed_instances_environments = environments;
    started(Emulator::start(c).await.expect("emulator starts"))
}

/// Creates LMI function `name` (2048 MB, `max` per environment) and publishes version 1.
async fn create_lmi(emu: &EmulatorHandle, name: &str, max: u32, timeout: Duration) {
    emu.create_function_from_path(
        FunctionSpec::new(name, test_function())
            .memory_mb(2048)
            .timeout(timeout)
            .managed_instances(
                LambdaManagedInstancesCapacityProviderConfig::new(PROVIDER).max_concurrency(max),
            ),
    )
    .await
    .unwrap();
    emu.publish_version(name, None).unwrap();
}

fn payload(out: &temporal_lambda_emulator::InvokeOutput) -> Value {
    serde_json::from_slice(&out.payload).unwrap()
}

#[tokio::test]
async fn one_environment_runs_max_concurrency_invocations_at_once_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    create_lmi(&emu, "lmi", 4, Duration::from_secs(20)).await;
    let sleep = json!({"action": "sleep", "ms": 1500}).to_string();
    let (a, b, c, d) = tokio::join!(
        emu.invoke("lmi", sleep.as_bytes()),
        emu.invoke("lmi", sleep.as_bytes()),
        emu.invoke("lmi", sleep.as_bytes()),
        emu.invoke("lmi", sleep.as_bytes()),
    );
    let outs = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    for o in &outs {
        assert_eq!(o.function_error, None, "{:?}", o.payload);
        assert_eq!(o.executed_version, "1");
    }
    let pids: std::collections::BTreeSet<_> =
        outs.iter().map(|o| payload(o)["pid"].as_u64()).collect();
    assert_eq!(pids.len(), 1, "one process served them all: {pids:?}");
    let most = outs
        .iter()
        .map(|o| payload(o)["max_in_flight"].as_u64().unwrap())
        .max();
    assert_eq!(most, Some(4), "the process ran 4 at once");
    let recs = emu.invocations();
    assert_eq!(recs.len(), 4);
    let env = recs[0].sandbox_id.clone();
    assert!(env.is_some());
    for r in &recs {
        assert_eq!(r.sandbox_id, env, "records name the one environment");
        assert_eq!(r.outcome, Some(Outcome::Success));
        assert_eq!(r.environment_concurrency, Some(4));
        // Never frozen; with cgroups, the environment's CPU is its vCPUs (2 GiB at 2 GiB/vCPU).
        if let Some(l) = &r.limits {
            assert_eq!(l.freezer, "none");
            assert_eq!(l.frozen_ms, 0);
            if emu.fidelity().cpu {
                assert_eq!(l.cpu_millis, Some(1000));
            }
        }
    }
    // Measured overlap: the last start came before the first end.
    let last_start = recs.iter().filter_map(|r| r.started_at_ms).max().unwrap();
    let first_end = recs.iter().filter_map(|r| r.ended_at_ms).min().unwrap();
    let first_start = recs.iter().filter_map(|r| r.started_at_ms).min().unwrap();
    let last_end = recs.iter().filter_map(|r| r.ended_at_ms).max().unwrap();
    eprintln!(
        "4 invocations of 1500 ms in one environment: all running together for {} ms, {} ms from first start to last end",
        first_end as i64 - last_start as i64,
        last_end - first_start
    );
    assert!(
        last_start < first_end,
        "overlap {} ms",
        first_end as i64 - last_start as i64
    );
    assert_eq!(
        recs.iter().filter(|r| r.cold_start == Some(true)).count(),
        1
    );
    assert_eq!(emu.sandboxes().len(), 1);
    let logs = emu.logs("lmi").unwrap();
    let env = env.unwrap();
    assert!(
        logs.contains(&format!(
            "Execution Environment: {env}\tConcurrent Invocations: 4"
        )),
        "{logs}"
    );
    assert!(!logs.contains("EMULATOR NOTICE"), "{logs}");
    // The variables Lambda sets on Lambda Managed Instances.
    let out = emu.invoke("lmi", br#"{"action":"env"}"#).await.unwrap();
    let vars = &payload(&out)["env"];
    assert_eq!(vars["AWS_LAMBDA_MAX_CONCURRENCY"], "4");
    assert_eq!(
        vars["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "lambda-managed-instances"
    );
    assert_eq!(vars["AWS_LAMBDA_FUNCTION_VERSION"], "1");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_late_invocation_fails_while_its_environment_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    create_lmi(&emu, "late", 2, Duration::from_secs(1)).await;
    let late = emu
        .invoke("late", br#"{"action":"sleep","ms":2500}"#)
        .await
        .unwrap();
    assert_eq!(late.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        payload(&late),
        json!({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 1.00 seconds"})
    );
    let rec = emu.invocations().pop().unwrap();
    assert_eq!(rec.outcome, Some(Outcome::Timeout));
    let pid = rec.pid.unwrap();
    assert!(process_alive(pid), "the environment was not killed");
    // The environment serves the next invocation while the late one still runs.
    let next = emu.invoke("late", br#"{"action":"echo"}"#).await.unwrap();
    assert_eq!(next.function_error, None);
    assert_eq!(payload(&next)["pid"].as_u64(), Some(u64::from(pid)));
    assert_eq!(
        payload(&next)["in_flight"],
        2,
        "the late one was still running"
    );
    // Its late answer is refused with 410; the runtime carries on.
    let t = std::time::Instant::now();
    while !emu.logs("late").unwrap().contains("refused: 410") {
        assert!(t.elapsed() < TIMEOUT, "{}", emu.logs("late").unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = emu.invoke("late", br#"{"action":"echo"}"#).await.unwrap();
    assert_eq!(after.function_error, None);
    assert_eq!(emu.sandboxes().len(), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn invokes_are_throttled_with_429_when_every_slot_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    create_lmi(&emu, "full", 2, Duration::from_secs(20)).await;
    let endpoint = emu.endpoint();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let ep = endpoint.clone();
            tokio::spawn(async move {
                invoke(
                    &ep,
                    "full",
                    "RequestResponse",
                    json!({"action":"sleep","ms":3000}),
                )
                .await
            })
        })
        .collect();
    emu.wait_for_invocations(TIMEOUT, |r| {
        r.iter().filter(|x| x.started_at_ms.is_some()).count() == 2
    })
    .await
    .unwrap();
    for kind in ["RequestResponse", "Event"] {
        let r = invoke(&endpoint, "full", kind, json!({})).await;
        assert_eq!(r.status, 429, "{kind}: {}", r.text());
        assert_eq!(
            r.header("x-amzn-errortype").as_deref(),
            Some("TooManyRequestsException")
        );
        assert!(
            r.text().contains("PerExecutionEnvironmentMaxConcurrency"),
            "{}",
            r.text()
        );
    }
    for b in busy {
        assert_eq!(b.await.unwrap().status, 200);
    }
    // A slot is free again.
    let r = invoke(&endpoint, "full", "RequestResponse", json!({})).await;
    assert_eq!(r.status, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn latest_is_refused_and_only_published_versions_run() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    emu.create_function_from_path(
        FunctionSpec::new("pub", test_function())
            .memory_mb(2048)
            .managed_instances(LambdaManagedInstancesCapacityProviderConfig::new(PROVIDER)),
    )
    .await
    .unwrap();
    let endpoint = emu.endpoint();
    let r = invoke(&endpoint, "pub", "RequestResponse", json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("NoPublishedVersionException")
    );
    let r = invoke(&endpoint, "pub:$LATEST", "Event", json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("InvalidParameterValueException")
    );
    assert!(
        r.text().contains("can't be invoked with $LATEST qualifier"),
        "{}",
        r.text()
    );
    assert!(matches!(
        emu.invoke("pub:$LATEST", b"{}").await,
        Err(EmulatorError::InvalidParameter(_))
    ));
    assert!(emu.invocations().is_empty(), "nothing ran");
    emu.publish_version("pub", None).unwrap();
    let out = emu.invoke("pub", b"{}").await.unwrap();
    assert_eq!(out.executed_version, "1");
    assert_eq!(
        emu.invoke("pub:1", b"{}").await.unwrap().function_error,
        None
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn capacity_provider_config_round_trips_through_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    let ep = emu.endpoint();
    let zip = b64(&zip(&[("bootstrap", &bootstrap_script(), 0o755)]));
    let create = |name: &str, memory: u32, cp: Value| {
        json!({
            "FunctionName": name, "Runtime": "provided.al2023", "Role": ROLE, "Handler": "bootstrap",
            "MemorySize": memory, "Code": {"ZipFile": zip}, "CapacityProviderConfig": cp,
        })
        .to_string()
    };
    let cp = json!({"LambdaManagedInstancesCapacityProviderConfig": {
        "CapacityProviderArn": PROVIDER, "PerExecutionEnvironmentMaxConcurrency": 3,
        "ExecutionEnvironmentMemoryGiBPerVCpu": 4.0}});
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        create("cp", 4096, cp.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["CapacityProviderConfig"], cp);
    assert_eq!(r.json()["State"], "ActiveNonInvocable");
    let r = lambda(
        "GET",
        &format!("{ep}/2015-03-31/functions/cp/configuration"),
        "",
    )
    .await;
    assert_eq!(r.json()["CapacityProviderConfig"], cp);
    // Out of range, too little memory, a null member: refused, naming the setting.
    let bad = json!({"LambdaManagedInstancesCapacityProviderConfig": {
        "CapacityProviderArn": PROVIDER, "PerExecutionEnvironmentMaxConcurrency": 0}});
    let r = lambda(
        "PUT",
        &format!("{ep}/2015-03-31/functions/cp/configuration"),
        json!({"CapacityProviderConfig": bad}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("PerExecutionEnvironmentMaxConcurrency"),
        "{}",
        r.text()
    );
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        create("small", 1024, cp.clone()),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("MemorySize"), "{}", r.text());
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        create("null", 2048, json!({})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .contains("lambdaManagedInstancesCapacityProviderConfig"),
        "{}",
        r.text()
    );
    // An on-demand function cannot be moved onto a capacity provider.
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions"),
        create("od", 2048, Value::Null),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json().get("CapacityProviderConfig").is_none());
    let r = lambda(
        "PUT",
        &format!("{ep}/2015-03-31/functions/od/configuration"),
        json!({"CapacityProviderConfig": cp}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .contains("isn't supported for Lambda Default functions"),
        "{}",
        r.text()
    );
    // Published versions carry the settings and are invocable.
    let r = lambda(
        "POST",
        &format!("{ep}/2015-03-31/functions/cp/versions"),
        "{}",
    )
    .await;
    assert_eq!(r.json()["State"], "Active");
    assert_eq!(r.json()["CapacityProviderConfig"], cp);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_version_spreads_over_its_fixed_environments_which_get_sigterm_when_retired() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 2).await;
    let marks = shared_tempdir();
    let term = marks.path().join("sigterm");
    emu.create_function_from_path(
        FunctionSpec::new("two", test_function())
            .memory_mb(2048)
            .timeout(Duration::from_secs(20))
            .env("TEST_FUNCTION_SIGTERM_FILE", term.to_str().unwrap())
            .managed_instances(
                LambdaManagedInstancesCapacityProviderConfig::new(PROVIDER).max_concurrency(2),
            ),
    )
    .await
    .unwrap();
    emu.publish_version("two", None).unwrap();
    let sleep = json!({"action": "sleep", "ms": 1500}).to_string();
    let (a, b, c, d) = tokio::join!(
        emu.invoke("two", sleep.as_bytes()),
        emu.invoke("two", sleep.as_bytes()),
        emu.invoke("two", sleep.as_bytes()),
        emu.invoke("two", sleep.as_bytes()),
    );
    let outs = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    let pids: std::collections::BTreeSet<_> = outs
        .iter()
        .map(|o| payload(o)["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "two environments, two processes");
    let recs = emu.invocations();
    for env in recs.iter().map(|r| r.sandbox_id.clone()) {
        let mine: Vec<_> = recs.iter().filter(|r| r.sandbox_id == env).collect();
        assert_eq!(mine.len(), 2, "two invocations in {env:?}");
        assert!(mine.iter().all(|r| r.environment_concurrency == Some(2)));
    }
    // Deleting the function retires its environments: SIGTERM, then they are gone.
    emu.delete_function("two").unwrap();
    emu.wait_for_sandboxes(TIMEOUT, |s| s.is_empty())
        .await
        .unwrap();
    // The slots go first; each environment then runs its shutdown phase.
    let t = std::time::Instant::now();
    while pids.iter().any(|p| process_alive(*p as u32)) {
        assert!(
            t.elapsed() < TIMEOUT,
            "an environment outlived its retirement"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&term).unwrap(),
        "SIGTERM\nSIGTERM\n"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_runtime_that_polls_next_one_at_a_time_is_called_out() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    emu.create_function_from_path(
        FunctionSpec::new("serial", test_function())
            .memory_mb(2048)
            .timeout(Duration::from_secs(20))
            .env("TEST_FUNCTION_SEQUENTIAL", "1")
            .managed_instances(
                LambdaManagedInstancesCapacityProviderConfig::new(PROVIDER).max_concurrency(4),
            ),
    )
    .await
    .unwrap();
    emu.publish_version("serial", None).unwrap();
    let sleep = json!({"action": "sleep", "ms": 700}).to_string();
    let (a, b) = tokio::join!(
        emu.invoke("serial", sleep.as_bytes()),
        emu.invoke("serial", sleep.as_bytes()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.function_error, None);
    assert_eq!(b.function_error, None);
    assert_eq!(payload(&a)["max_in_flight"], 1);
    assert_eq!(payload(&b)["max_in_flight"], 1);
    assert!(emu
        .invocations()
        .iter()
        .all(|r| r.environment_concurrency == Some(1)));
    let logs = emu.logs("serial").unwrap();
    assert_eq!(
        logs.matches("EMULATOR NOTICE: the runtime holds one `next` at a time")
            .count(),
        1,
        "{logs}"
    );
    assert!(logs.contains("AWS_LAMBDA_MAX_CONCURRENCY=4"), "{logs}");
    emu.shutdown().await;
}

#[tokio::test]
async fn deleting_the_function_lets_running_invocations_finish_before_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    let marks = shared_tempdir();
    let term = marks.path().join("sigterm");
    emu.create_function_from_path(
        FunctionSpec::new("del", test_function())
            .memory_mb(2048)
            .timeout(Duration::from_secs(20))
            .env("TEST_FUNCTION_SIGTERM_FILE", term.to_str().unwrap())
            .managed_instances(
                LambdaManagedInstancesCapacityProviderConfig::new(PROVIDER).max_concurrency(2),
            ),
    )
    .await
    .unwrap();
    emu.publish_version("del", None).unwrap();
    let ep = emu.endpoint();
    let running = tokio::spawn(async move {
        invoke(
            &ep,
            "del:1",
            "RequestResponse",
            json!({"action":"sleep","ms":1000}),
        )
        .await
    });
    emu.wait_for_invocations(TIMEOUT, |r| r.iter().any(|x| x.started_at_ms.is_some()))
        .await
        .unwrap();
    emu.delete_function("del").unwrap();
    let r = running.await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-amz-function-error"), None, "{}", r.text());
    let pid = emu.invocations()[0].pid.unwrap();
    let t = std::time::Instant::now();
    while process_alive(pid) {
        assert!(
            t.elapsed() < TIMEOUT,
            "the retired environment outlived its invocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(&term).unwrap(), "SIGTERM\n");
    emu.shutdown().await;
}

#[tokio::test]
async fn capacity_providers_are_created_listed_read_and_deleted_after_their_functions() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_lmi(dir.path(), 1).await;
    let ep = emu.endpoint();
    let base = format!("{ep}/2025-11-30/capacity-providers");
    let create = json!({
        "CapacityProviderName": "test-cp",
        "VpcConfig": {"SubnetIds": ["subnet-1", "subnet-2", "subnet-3"], "SecurityGroupIds": ["sg-1"]},
        "PermissionsConfig": {"CapacityProviderOperatorRoleArn": "arn:aws:iam::123456789012:role/op"},
    });
    let r = lambda("POST", &base, create.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cp = &r.json()["CapacityProvider"];
    assert_eq!(cp["CapacityProviderArn"], PROVIDER);
    assert_eq!(cp["State"], "Active");
    assert_eq!(cp["VpcConfig"]["SecurityGroupIds"], json!(["sg-1"]));
    assert_eq!(lambda("POST", &base, create.to_string()).await.status, 409);
    let r = lambda(
        "POST",
        &base,
        json!({"CapacityProviderName": "x"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("VpcConfig.SubnetIds"), "{}", r.text());
    let r = lambda("GET", &base, "").await;
    assert_eq!(
        r.json()["CapacityProviders"][0]["CapacityProviderArn"],
        PROVIDER
    );
    let r = lambda("GET", &format!("{base}/test-cp"), "").await;
    assert_eq!(r.json()["CapacityProvider"]["State"], "Active");
    assert_eq!(lambda("GET", &format!("{base}/nope"), "").await.status, 404);
    // In use by a function: refused until the function is deleted.
    create_lmi(&emu, "user", 2, Duration::from_secs(3)).await;
    let r = lambda("DELETE", &format!("{base}/test-cp"), "").await;
    assert_eq!(r.status, 409);
    assert!(
        r.text().contains("delete the function first"),
        "{}",
        r.text()
    );
    emu.delete_function("user").unwrap();
    let r = lambda("DELETE", &format!("{base}/test-cp"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["CapacityProvider"]["State"], "Deleting");
    assert_eq!(
        lambda("GET", &format!("{base}/test-cp"), "").await.status,
        404
    );
    emu.shutdown().await;
}
