//! Test fixture: a real Lambda function (lambda_runtime) whose behaviour is driven by the payload.
//!
//! Payload `{"action": ..., ...}`:
//! * `echo` (default): returns `{"echo": <payload>, ...}`
//! * `sleep` with `ms`: sleeps, then returns; with `child_pid_file` also spawns `sleep 600` in the
//!   same process group first and writes its pid there (to check group kills)
//! * `error` with `message`: returns an error of type `TestError`
//! * `exit` with `code`: exits the process mid-invocation
//! * `env`: returns the whole environment as `env`
//!
//! Every result has `pid`, `request_id`, `deadline_ms` (from `Lambda-Runtime-Deadline-Ms`),
//! `now_ms` and `invoked_arn`. With `TEST_FUNCTION_INIT_EXIT=<code>` in the environment the
//! process exits before asking for work; with `TEST_FUNCTION_INIT_SLEEP_MS` it sleeps first.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

#[derive(Debug)]
struct TestError(String);

impl From<TestError> for Diagnostic {
    fn from(e: TestError) -> Self {
        Diagnostic {
            error_type: "TestError".to_string(),
            error_message: e.0,
        }
    }
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, TestError> {
    let (payload, ctx) = event.into_parts();
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("echo")
        .to_string();
    println!("test-function: request {} action {action}", ctx.request_id);
    let mut out = json!({
        "pid": std::process::id(),
        "request_id": ctx.request_id,
        "deadline_ms": ctx.deadline,
        "now_ms": ms(SystemTime::now()),
        "invoked_arn": ctx.invoked_function_arn,
    });
    match action.as_str() {
        "sleep" => {
            if let Some(file) = payload.get("child_pid_file").and_then(Value::as_str) {
                let child = std::process::Command::new("sleep")
                    .arg("600")
                    .spawn()
                    .map_err(|e| TestError(e.to_string()))?;
                std::fs::write(file, child.id().to_string())
                    .map_err(|e| TestError(e.to_string()))?;
                std::mem::forget(child);
            }
            let n = payload.get("ms").and_then(Value::as_u64).unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(n)).await;
            out["slept_ms"] = json!(n);
        }
        "error" => {
            let m = payload
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("requested failure");
            return Err(TestError(m.to_string()));
        }
        "exit" => {
            let code = payload.get("code").and_then(Value::as_i64).unwrap_or(1);
            eprintln!("test-function: exiting with {code}");
            std::process::exit(code as i32);
        }
        "env" => {
            out["env"] = json!(std::env::vars().collect::<std::collections::BTreeMap<_, _>>());
            out["cwd"] = json!(std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default());
        }
        _ => {
            out["echo"] = payload;
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    if let Ok(code) = std::env::var("TEST_FUNCTION_INIT_EXIT") {
        eprintln!("test-function: exiting during init");
        std::process::exit(code.parse().unwrap_or(3));
    }
    if let Some(ms) = std::env::var("TEST_FUNCTION_INIT_SLEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    lambda_runtime::run(service_fn(handler)).await
}
