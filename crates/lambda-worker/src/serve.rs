//! Serving invocations with `lambda_runtime`: the handler, the describe and connection-check
//! requests (their payloads and answers), and the layer that
//! retires an execution environment after an overrun.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use lambda_runtime::{
    layers::TracingLayer,
    tower::{Layer, Service},
    Diagnostic, LambdaEvent, LambdaInvocation, Runtime,
};
use serde_json::{json, Value};

use temporal_lambda_env::protocol::ToolRequest;
pub use temporal_lambda_env::protocol::{ConnectionCheck, Describe};

use crate::{
    invocation::InvocationInfo,
    shared::{SharedWorker, RECLAIM_GRACE},
    Error, LambdaWorker,
};

impl LambdaWorker {
    /// The answer to a describe request.
    pub fn describe(&self) -> Describe {
        let c = self.config();
        Describe {
            library: "temporal-lambda-worker".to_owned(),
            library_version: env!("CARGO_PKG_VERSION").to_owned(),
            deployment_name: c.version.deployment_name.clone(),
            build_id: c.version.build_id.clone(),
            task_queue: c.task_queue.clone(),
            namespace: c.connection.namespace.clone(),
            address: c.connection.address.clone(),
            tls: c.connection.uses_tls(),
            api_key_set: c.connection.api_key.is_some() || c.connection.api_key_secret.is_some(),
            workflow_types: c.workflow_types(),
            default_versioning_behavior: format!("{:?}", c.default_versioning_behavior),
            shutdown_deadline_buffer_ms: c.shutdown.deadline_buffer.as_millis() as u64,
        }
    }

    /// Connect with the function's own settings (TLS, CA, server name, client certificate, API
    /// key or its secret) and report the outcome, without polling. Never returns a secret.
    pub async fn check_connection(&self, info: &InvocationInfo) -> ConnectionCheck {
        let c = &self.config().connection;
        let left = info
            .deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let budget = left
            .saturating_sub(std::time::Duration::from_millis(500))
            .min(std::time::Duration::from_secs(10));
        let started = std::time::Instant::now();
        let result = self
            .connect_client(
                format!("connection-check@{}", info.invoked_function_arn),
                budget,
            )
            .await;
        let tls = c.tls.as_ref();
        ConnectionCheck {
            ok: result.is_ok(),
            address: c.address.clone(),
            namespace: c.namespace.clone(),
            tls: c.uses_tls(),
            server_ca_cert: tls.is_some_and(|t| t.server_ca_cert.is_some()),
            server_name: tls.and_then(|t| t.server_name.clone()),
            client_cert: tls.is_some_and(|t| t.client_cert.is_some()),
            api_key: if c.api_key_secret.is_some() {
                "secret"
            } else if c.api_key.is_some() {
                "environment"
            } else {
                "none"
            }
            .to_owned(),
            connect_ms: started.elapsed().as_millis() as u64,
            error: result.err().map(|e| e.to_string()),
        }
    }

    /// Handle one Lambda event: a describe request, a connection check, or (anything else) a
    /// polling invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        if let Some(answer) = self.answer_tool_request(&event).await {
            return Ok(answer);
        }
        let info = InvocationInfo::from(&event.context);
        let report = self.invoke(&info).await?;
        Ok(serde_json::to_value(report).unwrap_or_else(|_| json!({})))
    }

    /// The answer to a describe request or a connection check; `None` for anything else.
    async fn answer_tool_request(&self, event: &LambdaEvent<Value>) -> Option<Value> {
        match ToolRequest::from_payload(&event.payload)? {
            ToolRequest::Describe => {
                tracing::info!(request_id = %event.context.request_id, "describe request answered");
                Some(serde_json::to_value(self.describe()).unwrap_or(Value::Null))
            }
            ToolRequest::CheckConnection => {
                let info = InvocationInfo::from(&event.context);
                let r = self.check_connection(&info).await;
                tracing::info!(request_id = %info.request_id, ok = r.ok, connect_ms = r.connect_ms, "connection check answered");
                Some(serde_json::to_value(r).unwrap_or(Value::Null))
            }
        }
    }

    /// Serve invocations from the Lambda Runtime API until the process ends.
    pub async fn serve(self) -> Result<(), Error> {
        for var in [
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION",
        ] {
            if std::env::var_os(var).is_none() {
                return Err(Error::NotInLambda(var));
            }
        }
        let worker = Arc::new(self);
        if worker.config().concurrency.is_concurrent() {
            return serve_concurrently(SharedWorker::new(worker)).await;
        }
        let handler_worker = worker.clone();
        let handler = lambda_runtime::service_fn(move |event: LambdaEvent<Value>| {
            let w = handler_worker.clone();
            async move { w.handle(event).await.map_err(Diagnostic::from) }
        });
        Runtime::new(handler)
            .layer(TracingLayer::new())
            .layer(RetireIfUnhealthyLayer { worker })
            .run()
            .await
            .map_err(|e| Error::Runtime(e.to_string()))
    }
}

impl SharedWorker {
    /// Handle one Lambda event of an environment that serves invocations concurrently: a
    /// describe request, a connection check, or (anything else) a lease on the shared worker.
    pub async fn handle(self: &Arc<Self>, event: LambdaEvent<Value>) -> Result<Value, Error> {
        if let Some(answer) = self.worker().answer_tool_request(&event).await {
            return Ok(answer);
        }
        let info = InvocationInfo::from(&event.context);
        let report = self.lease(&info).await?;
        Ok(serde_json::to_value(report).unwrap_or_else(|_| json!({})))
    }
}

/// Serve up to `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once (`lambda_runtime`'s concurrent
/// mode: one `/next` loop per slot, each with a clone of this service), all leasing `shared`;
/// `SIGTERM` drains it ([`SharedWorker::reclaim`]) and exits.
async fn serve_concurrently(shared: Arc<SharedWorker>) -> Result<(), Error> {
    let c = &shared.worker().config().concurrency;
    tracing::info!(
        max_concurrency = c.max_concurrency,
        residency = ?c.residency,
        vcpus = c.vcpus(),
        "serving invocations concurrently over one shared worker"
    );
    spawn_reclaim_on_sigterm(shared.clone());
    let handler_shared = shared.clone();
    let handler = lambda_runtime::service_fn(move |event: LambdaEvent<Value>| {
        let s = handler_shared.clone();
        async move { s.handle(event).await.map_err(Diagnostic::from) }
    });
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(RetireWhenIdleIfUnhealthyLayer { shared })
        .run_concurrent()
        .await
        .map_err(|e| Error::Runtime(e.to_string()))
}

/// On `SIGTERM` (the environment is reclaimed): drain the shared worker within
/// [`RECLAIM_GRACE`], run the shutdown hooks, exit.
fn spawn_reclaim_on_sigterm(shared: Arc<SharedWorker>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(
                "cannot listen for SIGTERM ({e}): a reclaimed environment will not drain"
            );
            return;
        }
    };
    tokio::spawn(async move {
        if term.recv().await.is_some() {
            let hooks = shared.reclaim(RECLAIM_GRACE).await;
            tracing::info!(
                overran = hooks.overran(),
                "SIGTERM: shared worker drained, shutdown hooks ran; exiting"
            );
            std::process::exit(0);
        }
    });
}

impl From<Error> for Diagnostic {
    fn from(e: Error) -> Self {
        Diagnostic {
            error_type: format!("TemporalLambdaWorker.{}", e.kind()),
            error_message: e.to_string(),
        }
    }
}

/// Exits the process after the response of an invocation that left the worker unhealthy has been
/// sent, so Lambda starts a fresh execution environment for the next one.
struct RetireIfUnhealthyLayer {
    worker: Arc<LambdaWorker>,
}

impl<S> Layer<S> for RetireIfUnhealthyLayer {
    type Service = RetireIfUnhealthy<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetireIfUnhealthy {
            inner,
            worker: self.worker.clone(),
        }
    }
}

struct RetireIfUnhealthy<S> {
    inner: S,
    worker: Arc<LambdaWorker>,
}

impl<S> Service<LambdaInvocation> for RetireIfUnhealthy<S>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
    S::Future: 'static,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: LambdaInvocation) -> Self::Future {
        let fut = self.inner.call(req);
        let worker = self.worker.clone();
        Box::pin(async move {
            let r = fut.await;
            if !worker.is_healthy() {
                tracing::error!("a drain or shutdown hook overran, or an invocation was interrupted: exiting so Lambda starts a fresh execution environment");
                std::process::exit(1);
            }
            r
        })
    }
}

/// Like [`RetireIfUnhealthyLayer`] for concurrent invocations: exits after the response of an
/// invocation that left the worker unhealthy, once no other lease is live.
#[derive(Clone)]
struct RetireWhenIdleIfUnhealthyLayer {
    shared: Arc<SharedWorker>,
}

impl<S> Layer<S> for RetireWhenIdleIfUnhealthyLayer {
    type Service = RetireWhenIdleIfUnhealthy<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetireWhenIdleIfUnhealthy {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
struct RetireWhenIdleIfUnhealthy<S> {
    inner: S,
    shared: Arc<SharedWorker>,
}

impl<S> Service<LambdaInvocation> for RetireWhenIdleIfUnhealthy<S>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: LambdaInvocation) -> Self::Future {
        let fut = self.inner.call(req);
        let shared = self.shared.clone();
        Box::pin(async move {
            let r = fut.await;
            if !shared.worker().is_healthy() && shared.live_leases() == 0 {
                tracing::error!("a drain or shutdown hook of the shared worker overran: exiting so Lambda starts a fresh execution environment");
                std::process::exit(1);
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_lambda_diagnostics_with_a_type() {
        let d = Diagnostic::from(Error::NothingRegistered);
        assert_eq!(d.error_type, "TemporalLambdaWorker.NothingRegistered");
        assert!(d.error_message.contains("register at least one"));
    }
}
