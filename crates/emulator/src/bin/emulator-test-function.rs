//! Test fixture: a real Lambda function (lambda_runtime) whose behaviour is driven by the payload.
//!
//! Payload `{"action": ..., ...}`:
//! * `echo` (default): returns `{"echo": <payload>, ...}`
//! * `sleep` with `ms`: sleeps, then returns; with `child_pid_file` also spawns `sleep 600` in the
//!   same process group first and writes its pid there (to check group kills)
//! * `error` with `message`: returns an error of type `TestError`
//! * `exit` with `code`: exits the process mid-invocation
//! * `env`: returns the whole environment as `env`
//! * `spin` with `iters`: CPU-bound work; returns `elapsed_ms` (wall) and `cpu_ms` (thread CPU)
//! * `alloc` with `mb`: allocates and touches that many MB, keeps them, returns `allocated_mb`
//! * `ticker`: starts (once per process) a thread that counts ticks every 10 ms; returns `ticks`
//! * `probe` with `paths`: returns `uid` (the process's), `readable` (path → whether it can be
//!   read: a file's bytes or a directory's entries) and `tmp_writable` (a file in `$TMPDIR`)
//!
//! With `TEST_FUNCTION_SIGTERM_FILE=<path>` the process appends `SIGTERM` to that file when it
//! receives SIGTERM, then exits 0.
//!
//! Every result has `pid`, `request_id`, `deadline_ms` (from `Lambda-Runtime-Deadline-Ms`),
//! `now_ms`, `invoked_arn`, and `in_flight` / `max_in_flight`: how many invocations this process
//! was running when this one started, and the most it has run at once.
//!
//! With `AWS_LAMBDA_MAX_CONCURRENCY` = N > 1 (Lambda Managed Instances) it runs N pollers, each
//! its own `next` → handler → `response` loop (a plain HTTP/1.1 client, as a runtime with N
//! workers does); a late answer refused with 410 is logged (`late answer … refused: 410`) and
//! the poller carries on. `TEST_FUNCTION_SEQUENTIAL=1` keeps one poller (a runtime built without
//! concurrency support). With `TEST_FUNCTION_INIT_EXIT=<code>` in the environment the
//! process exits before asking for work; with `TEST_FUNCTION_INIT_SLEEP_MS` it sleeps first.
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
static MAX_IN_FLIGHT: AtomicU32 = AtomicU32::new(0);

/// Counts the invocations this process runs at once (see the module docs).
struct InFlight(u32);

impl InFlight {
    fn enter() -> Self {
        let n = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
        MAX_IN_FLIGHT.fetch_max(n, Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, TestError> {
    let in_flight = InFlight::enter();
    let mut out = handle(event).await?;
    out["in_flight"] = json!(in_flight.0);
    out["max_in_flight"] = json!(MAX_IN_FLIGHT.load(Ordering::SeqCst));
    Ok(out)
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, TestError> {
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
        "sleep" => sleep(&payload, &mut out).await?,
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
        "spin" => spin(&payload, &mut out),
        "probe" => probe(&payload, &mut out),
        "alloc" => {
            let mb = payload.get("mb").and_then(Value::as_u64).unwrap_or(64);
            let mut held = KEPT.lock().expect("kept lock");
            for _ in 0..mb {
                // Touch every page so it is really resident.
                held.push(vec![0xa5u8; 1 << 20]);
            }
            out["allocated_mb"] = json!(held.len());
        }
        "ticker" => {
            if !TICKER.swap(true, Ordering::SeqCst) {
                std::thread::spawn(|| loop {
                    std::thread::sleep(Duration::from_millis(10));
                    TICKS.fetch_add(1, Ordering::SeqCst);
                });
            }
            out["ticks"] = json!(TICKS.load(Ordering::SeqCst));
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

/// `sleep`: sleeps `ms`; with `child_pid_file`, first spawns `sleep 600` in the process group and
/// writes its pid there.
async fn sleep(payload: &Value, out: &mut Value) -> Result<(), TestError> {
    if let Some(file) = payload.get("child_pid_file").and_then(Value::as_str) {
        let child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .map_err(|e| TestError(e.to_string()))?;
        std::fs::write(file, child.id().to_string()).map_err(|e| TestError(e.to_string()))?;
        std::mem::forget(child);
    }
    let n = payload.get("ms").and_then(Value::as_u64).unwrap_or(100);
    tokio::time::sleep(Duration::from_millis(n)).await;
    out["slept_ms"] = json!(n);
    Ok(())
}

/// `spin`: `iters` rounds of CPU-bound work; wall and thread CPU time.
fn spin(payload: &Value, out: &mut Value) {
    let iters = payload
        .get("iters")
        .and_then(Value::as_u64)
        .unwrap_or(10_000_000);
    let t = Instant::now();
    let cpu0 = thread_cpu_ms();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..iters {
        x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01b3);
    }
    out["elapsed_ms"] = json!(t.elapsed().as_secs_f64() * 1000.0);
    out["cpu_ms"] = json!(thread_cpu_ms() - cpu0);
    out["result"] = json!(x);
}

/// `probe`: the process's uid, which of `paths` it can read, whether `$TMPDIR` is writable.
fn probe(payload: &Value, out: &mut Value) {
    use std::os::unix::fs::MetadataExt;
    out["uid"] = json!(std::fs::metadata("/proc/self").map(|m| m.uid()).ok());
    let mut readable = serde_json::Map::new();
    for p in payload
        .get("paths")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let ok = std::fs::read(p).is_ok() || std::fs::read_dir(p).is_ok();
        readable.insert(p.to_string(), json!(ok));
    }
    out["readable"] = Value::Object(readable);
    let tmp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into());
    out["tmp_writable"] = json!(std::fs::write(format!("{tmp}/probe"), b"x").is_ok());
}

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static TICKER: AtomicBool = AtomicBool::new(false);
static TICKS: AtomicU64 = AtomicU64::new(0);
static SIGTERM_FD: AtomicI32 = AtomicI32::new(-1);

fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

extern "C" fn on_sigterm(_: libc::c_int) {
    let fd = SIGTERM_FD.load(Ordering::SeqCst);
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        if fd >= 0 {
            libc::write(fd, b"SIGTERM\n".as_ptr().cast(), 8);
        }
        libc::_exit(0);
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    if let Ok(path) = std::env::var("TEST_FUNCTION_SIGTERM_FILE") {
        use std::os::fd::IntoRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        SIGTERM_FD.store(f.into_raw_fd(), Ordering::SeqCst);
        // SAFETY: installs a handler that only calls async-signal-safe functions.
        unsafe {
            libc::signal(
                libc::SIGTERM,
                on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
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
    let pollers = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|_| std::env::var_os("TEST_FUNCTION_SEQUENTIAL").is_none())
        .unwrap_or(1);
    if pollers > 1 {
        return concurrent::run(pollers).await;
    }
    lambda_runtime::run(service_fn(handler)).await
}

/// N pollers against the Runtime API, each with its own connection per request.
mod concurrent {
    use serde_json::{json, Value};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub(super) async fn run(pollers: u32) -> Result<(), lambda_runtime::Error> {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
        println!("test-function: {pollers} concurrent pollers");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..pollers {
            let api = api.clone();
            tasks.spawn(async move { poll(&api).await });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        Ok(())
    }

    async fn poll(api: &str) -> Result<(), lambda_runtime::Error> {
        loop {
            let (status, headers, body) =
                http(api, "GET", "/2018-06-01/runtime/invocation/next", b"").await?;
            if status != 200 {
                return Err(format!("next answered {status}").into());
            }
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let mut ctx = lambda_runtime::Context::default();
            ctx.request_id = header("lambda-runtime-aws-request-id");
            ctx.deadline = header("lambda-runtime-deadline-ms").parse().unwrap_or(0);
            ctx.invoked_function_arn = header("lambda-runtime-invoked-function-arn");
            let id = ctx.request_id.clone();
            let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (path, answer) =
                match super::handler(lambda_runtime::LambdaEvent::new(payload, ctx)).await {
                    Ok(v) => (format!("/2018-06-01/runtime/invocation/{id}/response"), v),
                    Err(e) => (
                        format!("/2018-06-01/runtime/invocation/{id}/error"),
                        json!({"errorType": "TestError", "errorMessage": e.0}),
                    ),
                };
            let (status, _, _) = http(api, "POST", &path, answer.to_string().as_bytes()).await?;
            if status == 410 {
                println!("test-function: late answer to {id} refused: 410");
            } else if status != 202 {
                return Err(format!("answer to {id} got {status}").into());
            }
        }
    }

    type Answer = (u16, Vec<(String, String)>, Vec<u8>);

    /// One HTTP/1.1 request on a new connection (`Connection: close`).
    async fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<Answer> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad HTTP answer");
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(bad)?;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(bad)?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok((status, headers, buf[end + 4..].to_vec()))
    }
}
