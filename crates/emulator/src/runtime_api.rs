//! The Lambda Runtime API (`/2018-06-01/runtime/...`) served to ONE sandbox on its own
//! 127.0.0.1 port, so `AWS_LAMBDA_RUNTIME_API` is a plain `host:port` every runtime client accepts.
//!
//! The sandbox actor *offers* invocations (one at a time on demand; on Lambda Managed Instances
//! up to `AWS_LAMBDA_MAX_CONCURRENCY`, taken by as many concurrent `next` long polls); each
//! `next` takes one and acks with the deadline it sent. Nothing is handed out unless the actor
//! offered it, and an offer the process never took is withdrawn (and requeued) by the actor when
//! the process dies. `/response` and `/error` are keyed by request id: one in flight is
//! accepted once; one whose deadline passed on Lambda Managed Instances gets 410.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio::task::{JoinHandle, JoinSet};

use crate::store::now_ms;

/// An invocation offered to the runtime.
pub(crate) struct Delivery {
    pub request_id: String,
    pub payload: Bytes,
    pub invoked_arn: String,
    pub trace_id: String,
    pub timeout: Duration,
    /// A deadline fixed before delivery (an init retried at the invoke runs under the function
    /// timeout from the retry's start): `(epoch ms, instant)`. `None`: now + `timeout`.
    pub deadline: Option<(u64, tokio::time::Instant)>,
    pub ack: mpsc::UnboundedSender<Delivered>,
}

/// What the `next` handler actually sent.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub request_id: String,
    pub started_ms: u64,
    pub deadline_ms: u64,
    pub deadline_at: tokio::time::Instant,
}

/// Something the runtime posted.
#[derive(Debug)]
pub(crate) enum RuntimeEvent {
    Response {
        request_id: String,
        body: Bytes,
    },
    Error {
        request_id: String,
        error_type: String,
        body: Bytes,
    },
    InitError {
        error_type: String,
        body: Bytes,
    },
}

struct Shared {
    offers: Mutex<VecDeque<Delivery>>,
    notify: Notify,
    /// Request ids delivered and not answered yet.
    current: Mutex<HashSet<String>>,
    /// Request ids whose deadline passed on Lambda Managed Instances: a late answer gets 410.
    late: Mutex<HashSet<String>>,
    events: mpsc::UnboundedSender<RuntimeEvent>,
    /// True while a `next` request waits with nothing offered (the runtime is idle).
    waiting: tokio::sync::watch::Sender<bool>,
}

/// A running Runtime API listener; dropping it stops the listener and all its connections.
pub(crate) struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Binds a fresh 127.0.0.1 port and starts serving.
    pub(crate) async fn start() -> std::io::Result<(Self, mpsc::UnboundedReceiver<RuntimeEvent>)> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            offers: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            current: Mutex::new(HashSet::new()),
            late: Mutex::new(HashSet::new()),
            events: tx,
            waiting: tokio::sync::watch::Sender::new(false),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .fallback(|| async {
                (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"errorType":"NotFound","errorMessage":"unknown Runtime API path"})))
            })
            .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
            // Host/Origin/Sec-Fetch checks only: runtime clients may send any content type.
            .layer(axum::middleware::from_fn_with_state(
                crate::guard::Guard::runtime_api(addr.port()),
                crate::guard::layer,
            ))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let stream = match listener.accept().await {
                    Ok((s, _)) => s,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = hyper_util::service::TowerToHyperService::new(router.clone());
                conns.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .title_case_headers(true)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok((Self { addr, shared, task }, rx))
    }

    /// Offers the next invocation to the runtime's `next` poll.
    pub(crate) fn offer(&self, d: Delivery) {
        self.shared.offers.lock().expect("offer lock").push_back(d);
        self.shared.notify.notify_one();
    }

    /// Takes back the offers the runtime did not take.
    pub(crate) fn withdraw(&self) -> Vec<Delivery> {
        self.shared
            .offers
            .lock()
            .expect("offer lock")
            .drain(..)
            .collect()
    }

    /// Resolves once the runtime has asked for the next invocation and nothing is offered: from
    /// here until the next offer the runtime is idle (Lambda freezes it then).
    pub(crate) async fn idle(&self) {
        let mut rx = self.shared.waiting.subscribe();
        let _ = rx.wait_for(|w| *w).await;
    }

    /// Forgets the in-flight request ids (late responses then get 400).
    pub(crate) fn finish_current(&self) {
        self.shared.current.lock().expect("current lock").clear();
    }

    /// Lambda Managed Instances: invocation `request_id` passed its deadline and was marked
    /// failed; the runtime keeps running it, and its late `/response` or `/error` gets 410.
    pub(crate) fn expire(&self, request_id: &str) {
        self.shared
            .current
            .lock()
            .expect("current lock")
            .remove(request_id);
        self.shared
            .late
            .lock()
            .expect("late lock")
            .insert(request_id.to_string());
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

async fn next(State(sh): State<Arc<Shared>>) -> Response {
    loop {
        let notified = sh.notify.notified();
        let taken = sh.offers.lock().expect("offer lock").pop_front();
        if let Some(d) = taken {
            sh.waiting.send_replace(false);
            let now = now_ms();
            let (deadline_ms, deadline_at) = d.deadline.unwrap_or_else(|| {
                (
                    now + d.timeout.as_millis() as u64,
                    tokio::time::Instant::now() + d.timeout,
                )
            });
            sh.current
                .lock()
                .expect("current lock")
                .insert(d.request_id.clone());
            if d.ack
                .send(Delivered {
                    request_id: d.request_id.clone(),
                    started_ms: now,
                    deadline_ms,
                    deadline_at,
                })
                .is_err()
            {
                sh.current
                    .lock()
                    .expect("current lock")
                    .remove(&d.request_id);
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "sandbox is shutting down",
                )
                    .into_response();
            }
            let mut resp = (StatusCode::OK, d.payload).into_response();
            let h = resp.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            h.insert("lambda-runtime-aws-request-id", hv(&d.request_id));
            h.insert("lambda-runtime-deadline-ms", hv(&deadline_ms.to_string()));
            h.insert("lambda-runtime-invoked-function-arn", hv(&d.invoked_arn));
            h.insert("lambda-runtime-trace-id", hv(&d.trace_id));
            return resp;
        }
        sh.waiting.send_replace(true);
        notified.await;
    }
}

fn invalid_request_id(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({
            "errorType": "InvalidRequestID",
            "errorMessage": format!("Invalid request ID: {id} is not the invocation in progress"),
        })),
    )
        .into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response()
}

/// 410 to an answer whose invocation timed out on Lambda Managed Instances (the request id was
/// marked failed at its deadline). The status is what runtime clients expect (the .NET client's
/// `ErrorRuntimeInvokeTimeout`); AWS's docs do not give the body: this one is the emulator's.
fn gone(id: &str) -> Response {
    (
        StatusCode::GONE,
        axum::Json(serde_json::json!({
            "errorType": "InvocationTimedOut",
            "errorMessage": format!("Invocation {id} passed its deadline and was marked failed: this late answer is discarded"),
        })),
    )
        .into_response()
}

/// Takes `id` out of the in-flight set; else the refusal to answer.
fn take_current(sh: &Shared, id: &str) -> Option<Response> {
    if sh.current.lock().expect("current lock").remove(id) {
        None
    } else if sh.late.lock().expect("late lock").contains(id) {
        Some(gone(id))
    } else {
        Some(invalid_request_id(id))
    }
}

async fn response(State(sh): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    if let Some(refused) = take_current(&sh, &id) {
        return refused;
    }
    let _ = sh.events.send(RuntimeEvent::Response {
        request_id: id,
        body,
    });
    accepted()
}

/// Error type from the JSON body's `errorType`, else the `Lambda-Runtime-Function-Error-Type` header.
fn error_type(headers: &HeaderMap, body: &[u8], default: &str) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty())
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| default.to_string())
}

async fn error(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = take_current(&sh, &id) {
        return refused;
    }
    let error_type = error_type(&headers, &body, "Unhandled");
    let _ = sh.events.send(RuntimeEvent::Error {
        request_id: id,
        error_type,
        body,
    });
    accepted()
}

async fn init_error(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let error_type = error_type(&headers, &body, "Runtime.InitError");
    let _ = sh.events.send(RuntimeEvent::InitError { error_type, body });
    accepted()
}
