//! Fault-injection suite: the REAL Temporal dev server drives the REAL `bootstrap` through the
//! local Lambda emulator while the harness SIGKILLs random sandboxes, the emulator refuses some
//! Invoke calls and fails some invocations, and the dev server restarts once (SQLite db file).
//! Every workflow must complete with the right result, exactly once; no invocation may end after
//! its deadline; the recognisable secrets given to the function must appear in no log or output.
//!
//! CI-sized by default (a few minutes on 2 cores). `FAULTS_FULL=1` runs the full size: 200
//! workflows × 3 activities and 1,000 deadline-discipline invocations. Figures are printed as
//! `FAULTS …` lines (`cargo test -p hello-worker --test it faults:: -- --nocapture`).

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use hello_worker::{SlowHello, SlowHelloWorkflow, ThreeStepWorkflow};
use temporal_lambda_cli::local_rig;
use temporal_lambda_emulator::{Faults, FunctionSpec, InvocationRecord, Outcome};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

const API_KEY: &str = "SECRET-APIKEY-7f3a9c-do-not-log";
const TLS_KEY: &str = "-----BEGIN PRIVATE KEY-----SECRET-TLSKEY-5d1e88-----END PRIVATE KEY-----";
const SESSION_TOKEN: &str = "SECRET-SESSIONTOKEN-c0ffee-do-not-log";
const MARKERS: [&str; 3] = [
    "SECRET-APIKEY-7f3a9c",
    "SECRET-TLSKEY-5d1e88",
    "SECRET-SESSIONTOKEN-c0ffee",
];

fn full() -> bool {
    std::env::var("FAULTS_FULL").is_ok_and(|v| v == "1" || v == "true")
}

/// The secrets the function gets: an API key (TLS explicitly off so the plain-text dev server
/// accepts the connection), inline TLS key data and a session token sent as gRPC metadata
/// (Lambda reserves `AWS_SESSION_TOKEN`; the emulator refuses it as a user variable).
fn secret_env() -> Vec<(String, String)> {
    vec![
        ("TEMPORAL_API_KEY".into(), API_KEY.into()),
        ("TEMPORAL_TLS".into(), "false".into()),
        ("TEMPORAL_TLS_CLIENT_KEY_DATA".into(), TLS_KEY.into()),
        (
            "TEMPORAL_GRPC_META_X_SESSION_TOKEN".into(),
            SESSION_TOKEN.into(),
        ),
    ]
}

fn assert_no_secrets(what: &str, text: &str) {
    for m in MARKERS {
        assert!(!text.contains(m), "secret {m} leaked into {what}");
    }
}

/// A small deterministic PRNG (xorshift), seeded from the clock; the seed is printed.
struct Rng(u64);
impl Rng {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("FAULTS seed {seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn overruns(records: &[InvocationRecord]) -> Vec<&InvocationRecord> {
    records
        .iter()
        .filter(|r| {
            r.ended_before_deadline == Some(false) || matches!(r.outcome, Some(Outcome::Timeout))
        })
        .collect()
}

async fn rig(
    dir: &std::path::Path,
    name: &str,
    timeout: Duration,
    concurrency: u32,
    env: Vec<(String, String)>,
) -> local_rig::Rig {
    let opts = local_rig::RigOptions {
        task_queue: format!("faults-{name}"),
        deployment_name: name.into(),
        function_timeout: timeout,
        concurrency,
        env,
        temporal_db_file: Some(dir.join("temporal.db")),
        ..local_rig::RigOptions::for_crate(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), dir, name)
    };
    local_rig::start_rig(&opts, env!("CARGO_BIN_EXE_bootstrap").as_ref(), &|_| {})
        .await
        .expect("local rig up")
}

/// Retries `f` through transient errors (the dev server restarting) until `deadline`.
async fn with_retries<T, E: std::fmt::Debug, F, Fut>(deadline: Instant, what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    try_with_retries(deadline, f)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// [`with_retries`], returning the last error (or "timed out") instead of panicking.
async fn try_with_retries<T, E: std::fmt::Debug, F, Fut>(
    deadline: Instant,
    mut f: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    loop {
        match tokio::time::timeout_at(deadline.into(), f()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(Err(e)) => return Err(format!("{e:?}")),
            Err(_) => return Err("timed out".into()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_complete_exactly_once_through_kills_failed_invocations_and_a_server_restart() {
    let _heavy = crate::common::HEAVY.lock().await;
    let n: usize = if full() { 200 } else { 24 };
    let suite_deadline = Instant::now()
        + if full() {
            Duration::from_secs(900)
        } else {
            // 64 s alone; once 240 s was not enough while other test binaries shared the
            // 2 cores.
            Duration::from_secs(420)
        };
    let dir = tempfile::tempdir().unwrap();
    let mut env = secret_env();
    env.push(("TEMPORAL_LAMBDA_IDLE_EXIT".into(), "2s".into()));
    env.push(("RUST_LOG".into(), "debug".into()));
    let mut rig = rig(dir.path(), "faults", Duration::from_secs(15), 4, env).await;
    let function = "faults";
    let task_queue = rig.function().task_queue.clone();
    rig.emulator.set_faults(Faults {
        reject_invoke: 0.1,
        fail_invocation: 0.15,
        ..Default::default()
    });
    let client = rig.server.client().await.unwrap();
    let local_rig::Rig {
        emulator, server, ..
    } = &mut rig;
    let emulator = &*emulator;

    let rng = Mutex::new(Rng::new());
    let stop = AtomicBool::new(false);
    let kills = AtomicU64::new(0);
    let started_count = AtomicU64::new(0);
    let killed_pids = Mutex::new(HashSet::new());

    // SIGKILL a random busy sandbox every 0.3–1.5 s.
    let killer = async {
        while !stop.load(Ordering::SeqCst) {
            let wait = 300 + rng.lock().unwrap().below(1_200);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let busy: Vec<u32> = emulator
                .sandboxes()
                .into_iter()
                .filter(|s| s.busy)
                .filter_map(|s| s.pid)
                .collect();
            if busy.is_empty() {
                continue;
            }
            let pid = busy[rng.lock().unwrap().below(busy.len() as u64) as usize];
            let ok = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                kills.fetch_add(1, Ordering::SeqCst);
                killed_pids.lock().unwrap().insert(pid);
            }
        }
    };

    // Start the workflows in small batches over time; restart the server once a third is in.
    let driver = async {
        let mut restarted = false;
        for i in 0..n {
            let id = format!("ft-{i}");
            let c = client.clone();
            let tq = task_queue.clone();
            with_retries(suite_deadline, "starting a workflow", || {
                let (c, tq, id) = (c.clone(), tq.clone(), id.clone());
                async move {
                    c.start_workflow(
                        ThreeStepWorkflow::run,
                        format!("w{i}"),
                        WorkflowStartOptions::new(&tq, id).build(),
                    )
                    .await
                    .map(|_| ())
                }
            })
            .await;
            started_count.fetch_add(1, Ordering::SeqCst);
            if i % 4 == 3 {
                let wait = rng.lock().unwrap().below(600);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            if !restarted && i >= n / 3 {
                restarted = true;
                server
                    .restart()
                    .await
                    .expect("dev server restarts on its db file");
                eprintln!(
                    "FAULTS dev server restarted after {} workflow starts",
                    i + 1
                );
            }
        }
        // Collect every result (retrying through transient errors).
        let mut results = Vec::new();
        for i in 0..n {
            let h = client.get_workflow_handle::<ThreeStepWorkflow>(format!("ft-{i}"));
            let r = try_with_retries(suite_deadline, || {
                h.get_result(WorkflowGetResultOptions::default())
            })
            .await;
            match r {
                Ok(r) => results.push(r),
                // What the server and the emulator know of the stuck workflow, so a failure
                // here says whether it was waiting on an invocation or on a task in one.
                Err(e) => panic!(
                    "result of ft-{i}: {e}\n{}\nlast invocations: {:#?}",
                    temporal_cli(server, &["workflow", "describe", "-w", &format!("ft-{i}")]),
                    emulator
                        .invocations()
                        .iter()
                        .rev()
                        .take(5)
                        .collect::<Vec<_>>(),
                ),
            }
        }
        stop.store(true, Ordering::SeqCst);
        results
    };
    let started = Instant::now();
    let (results, ()) = tokio::join!(driver, killer);
    let elapsed = started.elapsed();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r, &format!("w{i}:1+w{i}:2+w{i}:3"), "ft-{i}");
    }

    // Exactly once: one run per workflow ID, all completed.
    let records = emulator
        .wait_for_invocations(Duration::from_secs(60), |rs| {
            rs.iter().all(|r| r.is_finished())
        })
        .await
        .unwrap();
    let count = temporal_cli(
        server,
        &[
            "workflow",
            "count",
            "--query",
            "WorkflowType='ThreeStepWorkflow'",
        ],
    );
    let count_done = temporal_cli(
        server,
        &[
            "workflow",
            "count",
            "--query",
            "WorkflowType='ThreeStepWorkflow' AND ExecutionStatus='Completed'",
        ],
    );
    assert!(
        count.contains(&format!("Total: {n}")),
        "workflow runs: {count}"
    );
    assert!(
        count_done.contains(&format!("Total: {n}")),
        "completed runs: {count_done}"
    );

    // Deadline discipline: killed sandboxes end with Runtime.ExitError, never a timeout.
    let over = overruns(&records);
    let stats = emulator.fault_stats();
    let retries = records.iter().filter(|r| r.attempt > 1).count();
    let killed = records
        .iter()
        .filter(|r| r.outcome.as_ref().and_then(|o| o.error_type()) == Some("Runtime.ExitError"))
        .count();
    eprintln!(
        "FAULTS figures: {n} workflows × 3 activities completed once each in {:.0} s; {} invocations \
         ({} cold), {retries} async retries, {} sandboxes SIGKILLed ({killed} invocations cut by a \
         kill), {} Invoke calls refused, {} invocations failed by injection, 1 server restart, \
         {} ended after their deadline",
        elapsed.as_secs_f64(),
        records.len(),
        records.iter().filter(|r| r.cold_start == Some(true)).count(),
        kills.load(Ordering::SeqCst),
        stats.invokes_rejected,
        stats.invocations_failed,
        over.len(),
    );
    assert!(
        over.is_empty(),
        "invocations past their deadline: {over:#?}"
    );
    assert!(
        kills.load(Ordering::SeqCst) > 0 || full(),
        "the killer should have found a sandbox"
    );

    // Secrets: not in the function's logs, the server's log, the records, the describe answer.
    let logs = emulator.logs(function).unwrap_or_default();
    assert!(logs.contains("worker polling"), "function logs captured");
    assert_no_secrets("function logs", &logs);
    assert_no_secrets(
        "dev server log",
        &std::fs::read_to_string(server.log_path()).unwrap_or_default(),
    );
    assert_no_secrets("invocation records", &format!("{records:?}"));
    // The handle's Invoke goes through the fault settings too: turn them off for this call.
    emulator.set_faults(Faults::default());
    let described = emulator
        .invoke(function, br#"{"temporal_lambda":"describe"}"#)
        .await
        .unwrap();
    let described = String::from_utf8_lossy(&described.payload).into_owned();
    assert!(described.contains("\"api_key_set\":true"), "{described}");
    assert_no_secrets("describe answer", &described);
    let version = temporal_lambda_cli::deployment::describe_version(
        &temporal_lambda_cli::connect::ConnectArgs::local(server.address(), "default")
            .connect()
            .await
            .unwrap(),
        "default",
        function,
        "build-1",
    )
    .await;
    assert_no_secrets("CLI describe-version output", &format!("{version:?}"));
    let _ = started_count;
}

fn temporal_cli(server: &temporal_dev_server::DevServer, args: &[&str]) -> String {
    let out = std::process::Command::new(server.binary())
        .args(args)
        .args(["--address", &server.address(), "--namespace", "default"])
        .output()
        .expect("run temporal CLI");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secrets("temporal CLI output", &text);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_discipline_over_many_short_invocations_and_an_unreachable_server_fails_fast() {
    let _heavy = crate::common::HEAVY.lock().await;
    let (idle_n, slow_n) = if full() { (1_000, 100) } else { (60, 6) };
    let dir = tempfile::tempdir().unwrap();
    let mut env = secret_env();
    env.push(("TEMPORAL_LAMBDA_IDLE_EXIT".into(), "200ms".into()));
    let rig = rig(dir.path(), "discipline", Duration::from_secs(9), 6, env).await;
    let client = rig.server.client().await.unwrap();

    // Invocations that run to the end of their window and drain: activities longer than the
    // window, interrupted and retried.
    for i in 0..slow_n {
        client
            .start_workflow(
                SlowHelloWorkflow::run,
                SlowHello {
                    name: format!("s{i}"),
                    work_ms: 30_000,
                    start_to_close_ms: 0,
                },
                WorkflowStartOptions::new(&rig.function().task_queue, format!("slow-{i}")).build(),
            )
            .await
            .unwrap();
    }
    // Many short invocations that go idle and exit early.
    for _ in 0..idle_n {
        rig.emulator.invoke_async("discipline", b"").unwrap();
    }
    for i in 0..slow_n {
        let h = client.get_workflow_handle::<SlowHelloWorkflow>(format!("slow-{i}"));
        let r = tokio::time::timeout(
            Duration::from_secs(300),
            h.get_result(WorkflowGetResultOptions::default()),
        )
        .await
        .expect("slow workflow finished")
        .unwrap();
        assert_eq!(r, format!("Hello, s{i}!"));
    }
    let records = rig
        .emulator
        .wait_for_invocations(Duration::from_secs(600), |rs| {
            rs.len() >= idle_n && rs.iter().all(|r| r.is_finished())
        })
        .await
        .unwrap();
    let over = overruns(&records);
    let failed: Vec<_> = records
        .iter()
        .filter(|r| !r.outcome.as_ref().is_some_and(Outcome::is_success))
        .collect();
    let min_left = records
        .iter()
        .filter_map(|r| Some(r.deadline_ms? as i64 - r.ended_at_ms? as i64))
        .min()
        .unwrap_or_default();
    eprintln!(
        "FAULTS deadline discipline: {} invocations (9 s timeout; {idle_n} idle-exit, {slow_n} slow workflows \
         draining), {} ended after their deadline, {} failed, closest finish {min_left} ms before the deadline",
        records.len(),
        over.len(),
        failed.len()
    );
    assert!(over.is_empty(), "{over:#?}");
    assert!(failed.is_empty(), "{failed:#?}");
    assert_no_secrets(
        "function logs",
        &rig.emulator.logs("discipline").unwrap_or_default(),
    );

    // Server unreachable: the invocation fails fast with a clear error, well before its deadline.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut spec = FunctionSpec::new("unreachable", env!("CARGO_BIN_EXE_bootstrap"))
        .timeout(Duration::from_secs(30))
        .env("TEMPORAL_ADDRESS", format!("127.0.0.1:{port}"))
        .env("TEMPORAL_TASK_QUEUE", "nowhere");
    for (k, v) in secret_env() {
        spec = spec.env(k, v);
    }
    rig.emulator.create_function_from_path(spec).await.unwrap();
    let started = Instant::now();
    let out = rig.emulator.invoke("unreachable", b"").await.unwrap();
    let took = started.elapsed();
    let payload = String::from_utf8_lossy(&out.payload).into_owned();
    eprintln!("FAULTS unreachable server: failed in {took:?} (timeout 30 s): {payload}");
    assert!(out.function_error.is_some(), "{payload}");
    assert!(
        payload.contains("TEMPORAL_ADDRESS") && payload.contains(&port.to_string()),
        "{payload}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_no_secrets("unreachable error", &payload);
    assert_no_secrets(
        "unreachable function logs",
        &rig.emulator.logs("unreachable").unwrap_or_default(),
    );
}

/// Lambda delivers asynchronous events at least once. With every Invoke delivered twice (the
/// emulator's `duplicate_event` fault) each workflow still runs once, with one completion per
/// activity: the second invocation is just another poller on the task queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_invocations_cause_no_duplicate_workflow_effects() {
    let n = 8;
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("TEMPORAL_LAMBDA_IDLE_EXIT".into(), "1s".into())];
    let rig = rig(dir.path(), "dup", Duration::from_secs(15), 4, env).await;
    let task_queue = rig.function().task_queue.clone();
    rig.emulator.set_faults(Faults {
        duplicate_event: 1.0,
        ..Default::default()
    });
    let client = rig.server.client().await.unwrap();
    for i in 0..n {
        client
            .start_workflow(
                ThreeStepWorkflow::run,
                format!("d{i}"),
                WorkflowStartOptions::new(&task_queue, format!("dup-{i}")).build(),
            )
            .await
            .unwrap();
    }
    for i in 0..n {
        let h = client.get_workflow_handle::<ThreeStepWorkflow>(format!("dup-{i}"));
        let r: String = tokio::time::timeout(
            Duration::from_secs(120),
            h.get_result(WorkflowGetResultOptions::default()),
        )
        .await
        .expect("workflow completes")
        .unwrap();
        assert_eq!(r, format!("d{i}:1+d{i}:2+d{i}:3"));
    }
    let records = rig
        .emulator
        .wait_for_invocations(Duration::from_secs(60), |rs| {
            rs.iter().all(|r| r.is_finished())
        })
        .await
        .unwrap();
    let duplicates = records.iter().filter(|r| r.duplicate).count();
    assert!(duplicates > 0, "the server's invocations were duplicated");
    assert!(
        records.iter().filter(|r| r.duplicate).all(|d| records
            .iter()
            .any(|o| !o.duplicate && o.request_id == d.request_id)),
        "a duplicate carries its original's request id"
    );
    assert_eq!(
        rig.emulator.fault_stats().events_duplicated as usize,
        duplicates
    );
    let runs = temporal_cli(
        &rig.server,
        &[
            "workflow",
            "count",
            "--query",
            "WorkflowType='ThreeStepWorkflow'",
        ],
    );
    assert!(
        runs.contains(&format!("Total: {n}")),
        "workflow runs: {runs}"
    );
    for i in 0..n {
        let history = temporal_cli(
            &rig.server,
            &[
                "workflow",
                "show",
                "--workflow-id",
                &format!("dup-{i}"),
                "--output",
                "json",
            ],
        );
        let scheduled = history.matches("ACTIVITY_TASK_SCHEDULED").count();
        let completed = history.matches("ACTIVITY_TASK_COMPLETED").count();
        assert_eq!((scheduled, completed), (3, 3), "dup-{i}: {history}");
    }
    eprintln!(
        "FAULTS duplicates: {n} workflows, {} invocations of which {duplicates} duplicated deliveries; \
         each workflow ran once with 3 activity completions",
        records.len()
    );
}
