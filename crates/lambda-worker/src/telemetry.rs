//! OpenTelemetry export of traces and metrics over OTLP/gRPC (cargo feature `otel`).
//!
//! A Lambda sandbox is frozen as soon as an invocation returns, so anything still buffered is
//! lost or delayed until the next invocation. [`Telemetry::flush_hook`](crate::telemetry::Telemetry::flush_hook) builds a
//! [`ShutdownHook`](crate::hooks::ShutdownHook) that force-flushes traces and metrics at the end of every invocation,
//! within its time budget.
//!
//! Configuration (read from the environment map given to [`Telemetry::from_env`](crate::telemetry::Telemetry::from_env)):
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | collector, gRPC | `http://localhost:4317` (ADOT layer / collector extension) |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` | per-signal override | the above |
//! | `OTEL_EXPORTER_OTLP_TIMEOUT` | one export's timeout, ms | 1000 |
//! | `OTEL_SERVICE_NAME` | `service.name` | `AWS_LAMBDA_FUNCTION_NAME`, else `temporal-lambda-worker` |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative` or `delta` | `cumulative` |
//! | `OTEL_SDK_DISABLED` | `true`: see [`enabled`](crate::telemetry::enabled) | export on |
//!
//! `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES` are read from the process
//! environment by the OpenTelemetry SDK itself.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use opentelemetry::{
    metrics::{Counter, Histogram, Meter, MeterProvider as _},
    trace::TracerProvider as _,
    KeyValue,
};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    metrics::{PeriodicReader, SdkMeterProvider, Temporality},
    trace::SdkTracerProvider,
    Resource,
};
use temporalio_common::telemetry::{metrics::CoreMeter, TelemetryOptions};
use tracing::Subscriber;
use tracing_subscriber::{registry::LookupSpan, Layer};

use crate::{
    hooks::{HookError, ShutdownHook},
    Error,
};

/// The collector address used when `OTEL_EXPORTER_OTLP_ENDPOINT` is not set: the ADOT Lambda
/// layer / OpenTelemetry collector extension listens here.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4317";
/// `service.name` when neither `OTEL_SERVICE_NAME` nor `AWS_LAMBDA_FUNCTION_NAME` is set.
pub const DEFAULT_SERVICE_NAME: &str = "temporal-lambda-worker";
/// Timeout of one OTLP export when `OTEL_EXPORTER_OTLP_TIMEOUT` is not set. Short on purpose:
/// the collector is local, and a flush must fit in the shutdown budget.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Name of the instrumentation scope (tracer and meter) used by this crate.
pub const SCOPE_NAME: &str = "temporal-lambda-worker";
/// Name of the hook returned by [`Telemetry::flush_hook`].
pub const FLUSH_HOOK_NAME: &str = "otel-flush";

/// False when `OTEL_SDK_DISABLED=true` is in `env`: the standard OpenTelemetry switch to turn
/// export off (e.g. a function deployed without a collector layer) without rebuilding.
pub fn enabled(env: &HashMap<String, String>) -> bool {
    !env.get("OTEL_SDK_DISABLED")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// What one invocation did, in plain numbers, for [`Telemetry::record_invocation`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvocationMetrics {
    /// Wall time of the invocation up to the end of the drain (connect, poll, drain). Record
    /// before the shutdown hooks run, so the flush hook exports it in the same invocation.
    pub duration: Duration,
    /// Activities that completed successfully.
    pub activities_completed: u64,
    /// Activities that failed (including cancellation at shutdown).
    pub activities_failed: u64,
    /// False when the invocation returned an error.
    pub succeeded: bool,
    /// False when the drain overran its time (in-flight tasks abandoned).
    pub drained: bool,
}

/// The worker's own instruments.
#[derive(Clone)]
struct Instruments {
    invocations: Counter<u64>,
    errors: Counter<u64>,
    coldstarts: Counter<u64>,
    duration: Histogram<f64>,
    activities_completed: Counter<u64>,
    activities_failed: Counter<u64>,
    drain_overruns: Counter<u64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        Self {
            invocations: meter
                .u64_counter("faas.invocations")
                .with_unit("{invocation}")
                .with_description("Lambda invocations served by the Temporal worker")
                .build(),
            errors: meter
                .u64_counter("faas.errors")
                .with_unit("{error}")
                .with_description("Invocations that returned an error")
                .build(),
            coldstarts: meter
                .u64_counter("faas.coldstarts")
                .with_unit("{coldstart}")
                .with_description("First invocation of an execution environment")
                .build(),
            duration: meter
                .f64_histogram("faas.invoke_duration")
                .with_unit("s")
                .with_description("Wall time of an invocation until drained: connect, poll, drain")
                .with_boundaries(vec![
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                ])
                .build(),
            activities_completed: meter
                .u64_counter("temporal_lambda.activities.completed")
                .with_unit("{activity}")
                .with_description("Activities that completed successfully")
                .build(),
            activities_failed: meter
                .u64_counter("temporal_lambda.activities.failed")
                .with_unit("{activity}")
                .with_description("Activities that failed, including cancellation at shutdown")
                .build(),
            drain_overruns: meter
                .u64_counter("temporal_lambda.drain_overruns")
                .with_unit("{invocation}")
                .with_description("Invocations whose drain overran (tasks abandoned)")
                .build(),
        }
    }
}

/// Where and as what telemetry is exported; resolved from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// Traces collector endpoint (gRPC).
    pub traces_endpoint: String,
    /// Metrics collector endpoint (gRPC).
    pub metrics_endpoint: String,
    /// `service.name`.
    pub service_name: String,
    /// Timeout of one export.
    pub export_timeout: Duration,
    /// Metrics temporality: delta when true, cumulative otherwise.
    pub delta_temporality: bool,
    /// Resource attributes besides `service.name`.
    pub resource: Vec<(String, String)>,
}

impl TelemetrySettings {
    /// Resolve the settings from `env` (see the [module docs](crate::telemetry) for the variables).
    pub fn from_env(env: &HashMap<String, String>) -> Self {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let endpoint =
            get("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let service_name = get("OTEL_SERVICE_NAME")
            .or_else(|| get("AWS_LAMBDA_FUNCTION_NAME"))
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.into());
        let export_timeout = get("OTEL_EXPORTER_OTLP_TIMEOUT")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_EXPORT_TIMEOUT);
        let delta_temporality = get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            .is_some_and(|v| v.eq_ignore_ascii_case("delta"));
        let mut resource = vec![("cloud.provider".to_owned(), "aws".to_owned())];
        if get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            resource.push(("cloud.platform".to_owned(), "aws_lambda".to_owned()));
        }
        for (attr, var) in [
            ("faas.name", "AWS_LAMBDA_FUNCTION_NAME"),
            ("faas.version", "AWS_LAMBDA_FUNCTION_VERSION"),
            // The log stream name identifies the execution environment.
            ("faas.instance", "AWS_LAMBDA_LOG_STREAM_NAME"),
            ("cloud.region", "AWS_REGION"),
        ] {
            if let Some(v) = get(var) {
                resource.push((attr.to_owned(), v));
            }
        }
        if let Some(mb) = get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|v| v.parse::<u64>().ok())
        {
            resource.push(("faas.max_memory".to_owned(), (mb * 1024 * 1024).to_string()));
        }
        Self {
            traces_endpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .unwrap_or_else(|| endpoint.clone()),
            metrics_endpoint: get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").unwrap_or(endpoint),
            service_name,
            export_timeout,
            delta_temporality,
            resource,
        }
    }
}

/// OpenTelemetry traces and metrics for a Lambda worker, exported over OTLP/gRPC. Cloning is
/// cheap: clones share the providers.
///
/// Build it once per process (inside the Tokio runtime), add [`Telemetry::layer`] to the
/// `tracing` subscriber, register [`Telemetry::flush_hook`] as the last shutdown hook, and call
/// [`Telemetry::record_invocation`] after each invocation.
#[derive(Clone)]
pub struct Telemetry {
    settings: Arc<TelemetrySettings>,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    meter: Meter,
    instruments: Instruments,
    cold: Arc<AtomicBool>,
    traces_flushing: Arc<AtomicBool>,
    metrics_flushing: Arc<AtomicBool>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Set up the OTLP/gRPC trace and metric exporters from `env` (see the
    /// [module docs](crate::telemetry)). Nothing is sent yet: the connection is made lazily, so a missing
    /// collector is reported by the first flush, not here. Must be called inside a Tokio runtime
    /// (the gRPC channel is driven by it).
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, Error> {
        Self::new(TelemetrySettings::from_env(env))
    }

    /// Set up the exporters from explicit settings.
    pub fn new(settings: TelemetrySettings) -> Result<Self, Error> {
        let fail = |what: &str, endpoint: &str, e: &dyn fmt::Display| {
            Error::Runtime(format!(
                "cannot set up OpenTelemetry {what} export to {endpoint}: {e}; check OTEL_EXPORTER_OTLP_ENDPOINT (a gRPC URL such as {DEFAULT_ENDPOINT})"
            ))
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Runtime(
                "Telemetry must be created inside a Tokio runtime (it drives the OTLP gRPC channel)"
                    .into(),
            ));
        }
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attributes(
                settings
                    .resource
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();

        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(settings.traces_endpoint.clone())
            .with_timeout(settings.export_timeout);
        let span_exporter = with_tls(span_exporter, &settings.traces_endpoint)
            .build()
            .map_err(|e| fail("trace", &settings.traces_endpoint, &e))?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(span_exporter)
            .with_resource(resource.clone())
            .build();

        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(settings.metrics_endpoint.clone())
            .with_timeout(settings.export_timeout);
        let metric_exporter = with_tls(metric_exporter, &settings.metrics_endpoint)
            .with_temporality(if settings.delta_temporality {
                Temporality::Delta
            } else {
                Temporality::Cumulative
            })
            .build()
            .map_err(|e| fail("metric", &settings.metrics_endpoint, &e))?;
        // The periodic export is a fallback; the flush hook exports every invocation.
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metric_exporter).build())
            .with_resource(resource)
            .build();
        let meter = meter_provider.meter(SCOPE_NAME);
        let instruments = Instruments::new(&meter);
        Ok(Self {
            settings: Arc::new(settings),
            tracer_provider,
            meter_provider,
            meter,
            instruments,
            cold: Arc::new(AtomicBool::new(true)),
            traces_flushing: Arc::new(AtomicBool::new(false)),
            metrics_flushing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The resolved settings.
    pub fn settings(&self) -> &TelemetrySettings {
        &self.settings
    }

    /// The trace provider (e.g. for `opentelemetry::global::set_tracer_provider`).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider (e.g. for `opentelemetry::global::set_meter_provider`).
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// A meter for application metrics; exported and flushed with the worker's own.
    pub fn meter(&self) -> Meter {
        self.meter.clone()
    }

    /// Make these providers the process-wide OpenTelemetry globals, so code using
    /// `opentelemetry::global::meter(..)` / `tracer(..)` exports through them too.
    pub fn install_global(&self) {
        opentelemetry::global::set_tracer_provider(self.tracer_provider.clone());
        opentelemetry::global::set_meter_provider(self.meter_provider.clone());
    }

    /// A `tracing` layer exporting spans (and the events inside them) as OpenTelemetry traces.
    /// Add it to the subscriber, e.g.
    /// `tracing_subscriber::registry().with(telemetry.layer()).with(fmt::layer()).init()`.
    /// Spans from the exporter's own gRPC stack (`h2`, `hyper`, `tonic`, `tower`) are left out so
    /// exporting never feeds itself.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let tracer = self.tracer_provider.tracer(SCOPE_NAME);
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                let t = m.target();
                ![
                    "h2",
                    "hyper",
                    "hyper_util",
                    "tonic",
                    "tower",
                    "opentelemetry",
                ]
                .iter()
                .any(|p| t == *p || t.starts_with(&format!("{p}::")))
            }))
    }

    /// Record one invocation: `faas.invocations`, `faas.errors`, `faas.coldstarts` (first
    /// invocation of this process), `faas.invoke_duration` (s),
    /// `temporal_lambda.activities.completed` / `.failed` and `temporal_lambda.drain_overruns`.
    pub fn record_invocation(&self, m: &InvocationMetrics) {
        let i = &self.instruments;
        i.invocations.add(1, &[]);
        if !m.succeeded {
            i.errors.add(1, &[]);
        }
        if self.cold.swap(false, Ordering::Relaxed) {
            i.coldstarts.add(1, &[]);
        }
        i.duration.record(m.duration.as_secs_f64(), &[]);
        i.activities_completed.add(m.activities_completed, &[]);
        i.activities_failed.add(m.activities_failed, &[]);
        if !m.drained {
            i.drain_overruns.add(1, &[]);
        }
    }

    /// Force-flush traces and metrics to the collector, giving up after `budget`. Both flushes
    /// run in parallel on their own threads (the SDK calls block); on timeout they are left to
    /// finish in the background and an error is returned. A flush still running from an
    /// earlier call is not started again.
    pub async fn flush(&self, budget: Duration) -> Result<(), HookError> {
        let traces = {
            let p = self.tracer_provider.clone();
            flush_on_thread("traces", &self.traces_flushing, move || p.force_flush())
        };
        let metrics = {
            let p = self.meter_provider.clone();
            flush_on_thread("metrics", &self.metrics_flushing, move || p.force_flush())
        };
        let (t, m) = match tokio::time::timeout(budget, futures::future::join(traces, metrics)).await
        {
            Ok(r) => r,
            Err(_) => {
                return Err(format!(
                    "OpenTelemetry flush to {} did not finish within {budget:?}; is the collector reachable?",
                    self.settings.traces_endpoint
                )
                .into())
            }
        };
        let errors: Vec<String> = [t, m].into_iter().filter_map(Result::err).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "OpenTelemetry flush failed ({}); is a collector listening at {}?",
                errors.join("; "),
                self.settings.traces_endpoint
            )
            .into())
        }
    }

    /// A shutdown hook that [flushes](Telemetry::flush) traces and metrics within `budget`.
    /// Register it last so it exports what earlier hooks recorded. It reports its own timeout
    /// a little before `budget` (as a failure, not an overrun), so an unreachable collector
    /// does not make the worker discard a healthy execution environment.
    pub fn flush_hook(&self, budget: Duration) -> ShutdownHook {
        let telemetry = self.clone();
        let margin = (budget / 10).min(Duration::from_millis(50));
        let inner = budget.saturating_sub(margin);
        ShutdownHook::new(FLUSH_HOOK_NAME, budget, move || {
            let telemetry = telemetry.clone();
            async move { telemetry.flush(inner).await }
        })
    }

    /// A meter for the Temporal SDK's own worker metrics (`temporal_*`: poll latencies, task
    /// slots, activity/workflow task counts and latencies…) that records into this
    /// telemetry's meter provider, so they are exported and flushed with everything else.
    /// Pass it via [`Telemetry::temporal_telemetry_options`].
    pub fn temporal_core_meter(&self) -> Arc<dyn CoreMeter> {
        Arc::new(core_meter::OtelCoreMeter::new(
            self.meter_provider.meter("temporal-core"),
        ))
    }

    /// Temporal SDK telemetry options that route its worker metrics to this telemetry (see
    /// [`Telemetry::temporal_core_meter`]). Use them for the SDK runtime:
    /// `RuntimeOptions::builder().telemetry_options(t.temporal_telemetry_options()).build()`.
    /// The `service_name` metric label is left off: `service.name` is on the resource.
    pub fn temporal_telemetry_options(&self) -> TelemetryOptions {
        TelemetryOptions::builder()
            .metrics(self.temporal_core_meter())
            .attach_service_name(false)
            .build()
    }

    /// Flush, then shut the exporters down (at most `budget`). Later recordings are dropped.
    ///
    /// Call this rather than just dropping the last clone when a current-thread Tokio runtime
    /// drives the exporter: the SDK's drop blocks the calling thread while it exports, and if
    /// that thread is the one the gRPC channel runs on, the drop stalls for the SDK's 5 s
    /// timeout.
    pub async fn shutdown(&self, budget: Duration) -> Result<(), HookError> {
        let flushed = self.flush(budget).await;
        let t = self.tracer_provider.clone();
        let m = self.meter_provider.clone();
        let done = Arc::new(AtomicBool::new(false));
        let down = flush_on_thread("shutdown", &done, move || {
            let r1 = t.shutdown_with_timeout(budget);
            let r2 = m.shutdown_with_timeout(budget);
            r1.and(r2)
        });
        let _ = tokio::time::timeout(budget, down).await;
        flushed
    }
}

/// `https://` endpoints (a collector outside the sandbox) verify against the system roots.
fn with_tls<B: WithTonicConfig>(builder: B, endpoint: &str) -> B {
    if endpoint.starts_with("https://") {
        builder.with_tls_config(
            opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_native_roots(),
        )
    } else {
        builder
    }
}

/// Run a blocking SDK call on a detached thread (never `spawn_blocking`: a stuck export would
/// hold up Tokio runtime shutdown). `busy` guards against piling up flushes behind a stuck one.
async fn flush_on_thread(
    what: &'static str,
    busy: &Arc<AtomicBool>,
    f: impl FnOnce() -> OTelSdkResult + Send + 'static,
) -> Result<(), String> {
    if busy.swap(true, Ordering::AcqRel) {
        return Err(format!("{what}: an earlier flush is still running"));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let guard = busy.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("otel-flush-{what}"))
        .spawn(move || {
            let r = f();
            guard.store(false, Ordering::Release);
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        busy.store(false, Ordering::Release);
        return Err(format!("{what}: cannot start flush thread: {e}"));
    }
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: flush thread panicked")),
    }
}

/// Adapter from the Temporal core SDK's metric interface to an OpenTelemetry [`Meter`].
mod core_meter;
