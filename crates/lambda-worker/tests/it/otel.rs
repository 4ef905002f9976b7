//! OpenTelemetry export against a real in-process OTLP/gRPC collector on 127.0.0.1.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::common::env;
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            metrics_service_server::{MetricsService, MetricsServiceServer},
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
        },
        trace::v1::{
            trace_service_server::{TraceService, TraceServiceServer},
            ExportTraceServiceRequest, ExportTraceServiceResponse,
        },
    },
    common::v1::{any_value, KeyValue},
    metrics::v1::{metric, number_data_point},
};
use temporal_lambda_worker::{
    hooks::{run_hooks, HookOutcome},
    telemetry::{InvocationMetrics, Telemetry, TelemetrySettings, DEFAULT_ENDPOINT},
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Collector {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.traces.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Start a collector; the listener is bound before this returns, so there is no start-up race.
async fn start_collector() -> (Collector, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let c = Collector::default();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(c.clone()))
        .add_service(MetricsServiceServer::new(c.clone()))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(server);
    (c, addr)
}

fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// Sum of the int data points of the counter `name` across all requests.
fn counter_total(reqs: &[ExportMetricsServiceRequest], name: &str) -> Option<i64> {
    let mut found = None;
    for m in reqs
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .filter(|m| m.name == name)
    {
        if let Some(metric::Data::Sum(sum)) = &m.data {
            for dp in &sum.data_points {
                if let Some(number_data_point::Value::AsInt(v)) = dp.value {
                    *found.get_or_insert(0) += v;
                }
            }
        }
    }
    found
}

async fn run_one_hook(telemetry: &Telemetry, budget: Duration) -> (HookOutcome, Duration) {
    let hook = telemetry.flush_hook(budget);
    let started = Instant::now();
    let report = run_hooks(&[hook], Instant::now() + Duration::from_secs(30)).await;
    (report.hooks[0].1.clone(), started.elapsed())
}

#[tokio::test]
async fn spans_and_metrics_reach_the_collector_within_the_flush_budget() {
    let (collector, addr) = start_collector().await;
    let telemetry = Telemetry::from_env(&env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{addr}")),
        ("AWS_LAMBDA_FUNCTION_NAME", "orders-worker"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
    ]))
    .unwrap();

    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("invocation", request_id = "req-1");
        span.in_scope(|| tracing::info!("polling"));
    }
    telemetry.record_invocation(&InvocationMetrics {
        duration: Duration::from_millis(1234),
        activities_completed: 3,
        activities_failed: 1,
        succeeded: true,
        drained: true,
    });
    telemetry
        .meter()
        .u64_counter("app.orders")
        .build()
        .add(2, &[]);

    let budget = Duration::from_secs(3);
    let (outcome, elapsed) = run_one_hook(&telemetry, budget).await;
    assert!(
        matches!(outcome, HookOutcome::Ok { .. }),
        "flush hook: {outcome:?}"
    );
    assert!(elapsed < budget, "flush took {elapsed:?}");

    // The flush returned Ok only after the collector answered, so its records are complete.
    let traces = collector.traces.lock().unwrap().clone();
    let rs = traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .find(|rs| {
            rs.scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .any(|s| s.name == "invocation")
        })
        .expect("the span was exported");
    let res = &rs.resource.as_ref().expect("resource").attributes;
    assert_eq!(
        string_attr(res, "service.name").as_deref(),
        Some("orders-worker")
    );
    assert_eq!(
        string_attr(res, "faas.name").as_deref(),
        Some("orders-worker")
    );
    assert_eq!(string_attr(res, "faas.version").as_deref(), Some("7"));
    assert_eq!(string_attr(res, "cloud.provider").as_deref(), Some("aws"));
    let span = rs
        .scope_spans
        .iter()
        .flat_map(|s| &s.spans)
        .find(|s| s.name == "invocation")
        .unwrap();
    assert_eq!(
        string_attr(&span.attributes, "request_id").as_deref(),
        Some("req-1")
    );

    let metrics = collector.metrics.lock().unwrap().clone();
    assert!(!metrics.is_empty(), "no metrics exported");
    let res = &metrics[0].resource_metrics[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert_eq!(
        string_attr(res, "service.name").as_deref(),
        Some("orders-worker")
    );
    assert_eq!(counter_total(&metrics, "faas.invocations"), Some(1));
    assert_eq!(counter_total(&metrics, "faas.coldstarts"), Some(1));
    assert_eq!(
        counter_total(&metrics, "temporal_lambda.activities.completed"),
        Some(3)
    );
    assert_eq!(counter_total(&metrics, "app.orders"), Some(2));
    let names: Vec<&str> = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| m.name.as_str())
        .collect();
    assert!(names.contains(&"faas.invoke_duration"), "{names:?}");
    telemetry.shutdown(budget).await.unwrap();
}

#[tokio::test]
async fn flush_with_no_collector_listening_fails_fast_within_budget() {
    // Reserve a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let telemetry = Telemetry::from_env(&env(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &format!("http://127.0.0.1:{port}"),
    )]))
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("lost").in_scope(|| {});
    });
    telemetry.record_invocation(&InvocationMetrics::default());

    let budget = Duration::from_millis(1500);
    let (outcome, elapsed) = run_one_hook(&telemetry, budget).await;
    assert!(
        matches!(outcome, HookOutcome::Failed { .. }),
        "flush hook: {outcome:?}"
    );
    assert!(elapsed < budget, "flush took {elapsed:?}");
    // Shut down while the runtime can still drive the channel (see `Telemetry::shutdown`).
    let _ = telemetry.shutdown(budget).await;
}

#[tokio::test]
async fn flush_to_a_collector_that_never_answers_returns_within_budget() {
    // Bound but never accepted: the TCP connect succeeds (kernel backlog) and the gRPC
    // handshake then hangs, as with a wedged collector. The export timeout (5 s) is longer
    // than the budget, so only the hook's own deadline can end it.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = blackhole.local_addr().unwrap();
    let telemetry = Telemetry::from_env(&env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
    ]))
    .unwrap();
    telemetry.record_invocation(&InvocationMetrics::default());

    let budget = Duration::from_millis(500);
    let (outcome, elapsed) = run_one_hook(&telemetry, budget).await;
    match &outcome {
        HookOutcome::Failed { error } => assert!(error.contains("did not finish"), "{error}"),
        other => panic!("expected a reported timeout, got {other:?}"),
    }
    assert!(elapsed < budget, "flush took {elapsed:?}");

    // A second flush while the first is still stuck does not pile up another one.
    let (outcome, elapsed) = run_one_hook(&telemetry, budget).await;
    match &outcome {
        HookOutcome::Failed { error } => assert!(error.contains("still running"), "{error}"),
        other => panic!("expected a refused flush, got {other:?}"),
    }
    assert!(elapsed < budget, "second flush took {elapsed:?}");
    drop(blackhole);
}

#[test]
fn settings_follow_the_documented_precedence() {
    let s = TelemetrySettings::from_env(&HashMap::new());
    assert_eq!(s.traces_endpoint, DEFAULT_ENDPOINT);
    assert_eq!(s.metrics_endpoint, "http://localhost:4317");
    assert_eq!(s.service_name, "temporal-lambda-worker");
    assert!(!s.delta_temporality);

    let s = TelemetrySettings::from_env(&env(&[("AWS_LAMBDA_FUNCTION_NAME", "fn-a")]));
    assert_eq!(s.service_name, "fn-a");

    let s = TelemetrySettings::from_env(&env(&[
        ("AWS_LAMBDA_FUNCTION_NAME", "fn-a"),
        ("OTEL_SERVICE_NAME", "svc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4317"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "250"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ]));
    assert_eq!(s.service_name, "svc");
    assert_eq!(s.traces_endpoint, "http://collector:4317");
    assert_eq!(s.metrics_endpoint, "http://metrics:4317");
    assert_eq!(s.export_timeout, Duration::from_millis(250));
    assert!(s.delta_temporality);
    assert!(s
        .resource
        .contains(&("faas.version".to_owned(), "$LATEST".to_owned())));
    assert!(s
        .resource
        .contains(&("faas.name".to_owned(), "fn-a".to_owned())));
}

#[test]
fn otel_sdk_disabled_turns_export_off() {
    assert!(temporal_lambda_worker::telemetry::enabled(&HashMap::new()));
    assert!(temporal_lambda_worker::telemetry::enabled(&env(&[(
        "OTEL_SDK_DISABLED",
        "false"
    )])));
    assert!(!temporal_lambda_worker::telemetry::enabled(&env(&[(
        "OTEL_SDK_DISABLED",
        "TRUE"
    )])));
}

#[test]
fn from_env_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let err = Telemetry::from_env(&HashMap::new()).unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

#[tokio::test]
async fn temporal_sdk_metrics_are_exported_through_the_same_provider() {
    use temporalio_common::telemetry::metrics::{MetricKeyValue, MetricParameters, NewAttributes};

    let (collector, addr) = start_collector().await;
    let telemetry = Telemetry::from_env(&env(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &format!("http://{addr}"),
    )]))
    .unwrap();
    let meter = telemetry.temporal_core_meter();
    let base = meter.new_attributes(NewAttributes::new(vec![MetricKeyValue::new(
        "namespace",
        "default",
    )]));
    let attrs = meter.extend_attributes(
        base,
        NewAttributes::new(vec![MetricKeyValue::new("task_queue", "q")]),
    );
    let polls = meter.counter(MetricParameters::from("temporal_worker_task_polls"));
    polls.add(4, &attrs);
    let latency = meter.histogram_duration(MetricParameters::from(
        "temporal_activity_execution_latency",
    ));
    latency.record(Duration::from_millis(120), &attrs);
    assert!(telemetry.temporal_telemetry_options().metrics.is_some());

    telemetry.flush(Duration::from_secs(3)).await.unwrap();
    let metrics = collector.metrics.lock().unwrap().clone();
    assert_eq!(
        counter_total(&metrics, "temporal_worker_task_polls"),
        Some(4)
    );
    let polls = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .find(|m| m.name == "temporal_worker_task_polls")
        .unwrap();
    let Some(metric::Data::Sum(sum)) = &polls.data else {
        panic!("not a sum: {polls:?}")
    };
    let dp = &sum.data_points[0];
    assert_eq!(
        string_attr(&dp.attributes, "namespace").as_deref(),
        Some("default")
    );
    assert_eq!(
        string_attr(&dp.attributes, "task_queue").as_deref(),
        Some("q")
    );
    let latency = metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .find(|m| m.name == "temporal_activity_execution_latency")
        .expect("duration histogram exported");
    assert_eq!(latency.unit, "s");
    let Some(metric::Data::Histogram(h)) = &latency.data else {
        panic!("not a histogram: {latency:?}")
    };
    assert_eq!(h.data_points[0].count, 1);
    assert_eq!(h.data_points[0].explicit_bounds[0], 0.05);
    telemetry.shutdown(Duration::from_secs(3)).await.unwrap();
}

pub struct EchoActivities;

#[temporalio_macros::activities]
impl EchoActivities {
    #[activity]
    pub async fn echo(
        _ctx: temporalio_sdk::activities::ActivityContext,
        s: String,
    ) -> Result<String, temporalio_sdk::activities::ActivityError> {
        Ok(s)
    }
}

fn metric_names(reqs: &[ExportMetricsServiceRequest]) -> Vec<String> {
    reqs.iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| m.name.clone())
        .collect()
}

/// The wiring: a worker built with telemetry, invoked against the REAL dev server, exports its
/// invocation metrics and the Temporal SDK's worker metrics through the flush hook, inside the
/// invocation's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_flushes_its_metrics_before_returning() {
    use temporal_lambda_worker::{
        invocation::InvocationInfo, LambdaWorker, LambdaWorkerConfig, WorkerDeploymentVersion,
    };
    let (collector, addr) = start_collector().await;
    let server = temporal_dev_server::DevServer::start(Default::default())
        .await
        .expect("dev server");
    let telemetry = Telemetry::from_env(&env(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &format!("http://{addr}"),
    )]))
    .unwrap();
    let mut cfg = LambdaWorkerConfig::from_env(
        WorkerDeploymentVersion::new("otel-app", "b1"),
        &env(&[("TEMPORAL_TASK_QUEUE", "otel-q")]),
    )
    .unwrap();
    cfg.connection.address = server.address();
    cfg.register_activities(EchoActivities);
    let worker = LambdaWorker::with_telemetry(cfg, telemetry, Duration::from_secs(1)).unwrap();
    let timeout = Duration::from_millis(9_500);
    let started = Instant::now();
    let report = worker
        .invoke(&InvocationInfo {
            request_id: "req-otel".into(),
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f:1".into(),
            deadline: std::time::SystemTime::now() + timeout,
        })
        .await
        .unwrap();
    assert!(started.elapsed() < timeout);
    assert_eq!(
        report
            .hooks
            .hooks
            .last()
            .map(|(n, o)| (n.as_str(), matches!(o, HookOutcome::Ok { .. }))),
        Some((temporal_lambda_worker::telemetry::FLUSH_HOOK_NAME, true)),
        "{report:?}"
    );
    // The flush hook returned Ok, so the collector has answered every export already.
    let metrics = collector.metrics.lock().unwrap().clone();
    assert_eq!(counter_total(&metrics, "faas.invocations"), Some(1));
    let names = metric_names(&metrics);
    assert!(
        names.iter().any(|n| n.starts_with("temporal_")),
        "Temporal SDK worker metrics should be exported too: {names:?}"
    );
}
