//! `tracing` set-up for Lambda: plain text by default, one JSON object per line when the
//! function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`), which CloudWatch parses.

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// An extra layer for the global subscriber (the OpenTelemetry span exporter).
pub(crate) type ExtraLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

/// Install a global subscriber unless one is already set. Level: `RUST_LOG`, else
/// `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn init_logging() {
    init_logging_with(None);
}

pub(crate) fn init_logging_with(extra: Option<ExtraLayer>) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    let output = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_target(false)
            .boxed()
    } else {
        fmt::layer().with_ansi(false).with_target(false).boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(extra)
        .with(output)
        .with(filter)
        .try_init();
}
