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

use crate::{invocation::InvocationInfo, Error, LambdaWorker};

/// The payload that asks a deployed function what it is, without polling:
/// `{"temporal_lambda": "describe"}`. The server's own invocations carry no payload, so they
/// never match.
pub const DESCRIBE_REQUEST_KEY: &str = "temporal_lambda";

/// What a function answers to a describe request. Contains no secrets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DescribeResponse {
    /// Always `temporal-lambda-worker`.
    pub library: String,
    /// This crate's version.
    pub library_version: String,
    /// Deployment name compiled into the function.
    pub deployment_name: String,
    /// Build ID compiled into the function.
    pub build_id: String,
    /// Task queue it polls.
    pub task_queue: String,
    /// Namespace it connects to.
    pub namespace: String,
    /// Address it connects to.
    pub address: String,
    /// Whether TLS is used.
    pub tls: bool,
    /// Whether an API key is configured (the key itself is never returned).
    pub api_key_set: bool,
    /// Registered workflow types.
    pub workflow_types: Vec<String>,
    /// Default versioning behavior.
    pub default_versioning_behavior: String,
    /// Shutdown buffer, ms.
    pub shutdown_deadline_buffer_ms: u64,
}

impl LambdaWorker {
    /// The answer to a describe request.
    pub fn describe(&self) -> DescribeResponse {
        let c = self.config();
        DescribeResponse {
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
    pub async fn check_connection(&self, info: &InvocationInfo) -> ConnectionCheckResponse {
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
        ConnectionCheckResponse {
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
        if is_describe(&event.payload) {
            tracing::info!(request_id = %event.context.request_id, "describe request answered");
            return Ok(serde_json::to_value(self.describe()).unwrap_or(Value::Null));
        }
        if is_request(&event.payload, CHECK_CONNECTION) {
            let info = InvocationInfo::from(&event.context);
            let r = self.check_connection(&info).await;
            tracing::info!(request_id = %info.request_id, ok = r.ok, connect_ms = r.connect_ms, "connection check answered");
            return Ok(serde_json::to_value(r).unwrap_or(Value::Null));
        }
        let info = InvocationInfo::from(&event.context);
        let report = self.invoke(&info).await?;
        Ok(serde_json::to_value(report).unwrap_or_else(|_| json!({})))
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

fn is_describe(payload: &Value) -> bool {
    is_request(payload, "describe")
}

fn is_request(payload: &Value, what: &str) -> bool {
    payload.get(DESCRIBE_REQUEST_KEY).and_then(Value::as_str) == Some(what)
}

/// `{"temporal_lambda": "check_connection"}`: connect with the function's settings and report
/// ([`ConnectionCheckResponse`]), without polling.
pub const CHECK_CONNECTION: &str = "check_connection";

/// What a function answers to a connection check. Contains no secrets.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConnectionCheckResponse {
    /// Whether it connected (and the server accepted its credentials).
    pub ok: bool,
    /// Address it connected to.
    pub address: String,
    /// Namespace.
    pub namespace: String,
    /// TLS on.
    pub tls: bool,
    /// A server CA certificate is configured.
    pub server_ca_cert: bool,
    /// The server-name override, if any.
    pub server_name: Option<String>,
    /// A client certificate (mTLS) is configured.
    pub client_cert: bool,
    /// Where the API key comes from: `none`, `environment` or `secret`.
    pub api_key: String,
    /// Time to connect (and read the secret), ms.
    pub connect_ms: u64,
    /// The failure, with the setting to fix.
    pub error: Option<String>,
}

impl From<Error> for Diagnostic {
    fn from(e: Error) -> Self {
        let kind = format!("{e:?}");
        let kind = kind
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("Error")
            .to_owned();
        Diagnostic {
            error_type: format!("TemporalLambdaWorker.{kind}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_payload_is_recognised_and_server_payloads_are_not() {
        assert!(is_describe(&json!({"temporal_lambda": "describe"})));
        assert!(!is_describe(&Value::Null));
        assert!(!is_describe(&json!({})));
        assert!(!is_describe(&json!("describe")));
        assert!(!is_describe(&json!({"temporal_lambda": "run"})));
    }

    #[test]
    fn errors_become_lambda_diagnostics_with_a_type() {
        let d = Diagnostic::from(Error::NothingRegistered);
        assert_eq!(d.error_type, "TemporalLambdaWorker.NothingRegistered");
        assert!(d.error_message.contains("register at least one"));
    }
}
