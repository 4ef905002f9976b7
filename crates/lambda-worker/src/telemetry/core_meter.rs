//! Adapter from the Temporal core SDK's metric interface to an OpenTelemetry [`Meter`].
//!
//! `temporalio-common` has its own OpenTelemetry meter only behind its `otel` feature, which
//! also pulls an HTTP exporter and `reqwest`, and that meter owns a private meter provider that
//! cannot be flushed from outside. Instead, attributes are kept in the SDK's label-carrying
//! `MetricAttributes::NoOp` form (the same as the SDK's own test meters) and turned into
//! OpenTelemetry key-values when an instrument is bound.

use std::{collections::HashMap, sync::Arc, time::Duration};

use opentelemetry::{metrics::Meter, KeyValue};
use temporalio_common::telemetry::metrics::{
    default_buckets_for, CoreMeter, Counter, CounterBase, Gauge, GaugeBase, GaugeF64, GaugeF64Base,
    Histogram, HistogramBase, HistogramDuration, HistogramDurationBase, HistogramF64,
    HistogramF64Base, MetricAttributable, MetricAttributes, MetricParameters, NewAttributes,
    UpDownCounter, UpDownCounterBase,
};

#[derive(Debug)]
pub(super) struct OtelCoreMeter {
    meter: Meter,
}

impl OtelCoreMeter {
    pub(super) fn new(meter: Meter) -> Self {
        Self { meter }
    }
}

fn labels(a: &MetricAttributes) -> HashMap<String, String> {
    match a {
        MetricAttributes::NoOp(l) => (**l).clone(),
        _ => HashMap::new(),
    }
}

fn kvs(a: &MetricAttributes) -> Arc<Vec<KeyValue>> {
    let mut v: Vec<KeyValue> = labels(a)
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    Arc::new(v)
}

/// An OpenTelemetry instrument bound to a fixed attribute set.
struct Bound<I> {
    inner: I,
    kvs: Arc<Vec<KeyValue>>,
}

/// An unbound instrument; binding converts the attributes once.
struct Unbound<I>(I);

macro_rules! bridge {
    ($otel:ty, $base:ident, $method:ident, $value:ty, |$i:ident, $v:ident, $k:ident| $body:expr) => {
        impl MetricAttributable<Box<dyn $base>> for Unbound<$otel> {
            fn with_attributes(
                &self,
                attributes: &MetricAttributes,
            ) -> Result<Box<dyn $base>, Box<dyn std::error::Error>> {
                Ok(Box::new(Bound {
                    inner: self.0.clone(),
                    kvs: kvs(attributes),
                }))
            }
        }
        impl $base for Bound<$otel> {
            fn $method(&self, $v: $value) {
                let $i = &self.inner;
                let $k: &[KeyValue] = &self.kvs;
                $body
            }
        }
    };
}

type OCounter = opentelemetry::metrics::Counter<u64>;
type OHistU = opentelemetry::metrics::Histogram<u64>;
type OHistF = opentelemetry::metrics::Histogram<f64>;
type OGaugeU = opentelemetry::metrics::Gauge<u64>;
type OGaugeF = opentelemetry::metrics::Gauge<f64>;
type OUpDown = opentelemetry::metrics::UpDownCounter<i64>;

bridge!(OCounter, CounterBase, adds, u64, |i, v, k| i.add(v, k));
bridge!(OHistU, HistogramBase, records, u64, |i, v, k| i
    .record(v, k));
bridge!(OHistF, HistogramF64Base, records, f64, |i, v, k| i
    .record(v, k));
bridge!(OGaugeU, GaugeBase, records, u64, |i, v, k| i.record(v, k));
bridge!(OGaugeF, GaugeF64Base, records, f64, |i, v, k| i
    .record(v, k));
bridge!(OUpDown, UpDownCounterBase, adds, i64, |i, v, k| i.add(v, k));
// Durations are exported in seconds, the OpenTelemetry convention.
bridge!(
    OHistF,
    HistogramDurationBase,
    records,
    Duration,
    |i, v, k| i.record(v.as_secs_f64(), k)
);

impl CoreMeter for OtelCoreMeter {
    fn new_attributes(&self, attribs: NewAttributes) -> MetricAttributes {
        MetricAttributes::NoOp(Arc::new(attribs.into()))
    }

    fn extend_attributes(
        &self,
        existing: MetricAttributes,
        attribs: NewAttributes,
    ) -> MetricAttributes {
        let mut l = labels(&existing);
        l.extend::<HashMap<String, String>>(attribs.into());
        MetricAttributes::NoOp(Arc::new(l))
    }

    fn counter(&self, p: MetricParameters) -> Counter {
        let c = self
            .meter
            .u64_counter(p.name)
            .with_description(p.description)
            .with_unit(p.unit)
            .build();
        Counter::new(Arc::new(Unbound(c)))
    }

    fn histogram(&self, p: MetricParameters) -> Histogram {
        let h = self
            .meter
            .u64_histogram(p.name)
            .with_description(p.description)
            .with_unit(p.unit)
            .build();
        Histogram::new(Arc::new(Unbound(h)))
    }

    fn histogram_f64(&self, p: MetricParameters) -> HistogramF64 {
        let h = self
            .meter
            .f64_histogram(p.name)
            .with_description(p.description)
            .with_unit(p.unit)
            .build();
        HistogramF64::new(Arc::new(Unbound(h)))
    }

    fn histogram_duration(&self, p: MetricParameters) -> HistogramDuration {
        // The SDK's own latency buckets, in seconds (its names come with a prefix).
        let base = p.name.rsplit_once("temporal_").map_or(&*p.name, |(_, n)| n);
        let buckets = default_buckets_for(base, true).to_vec();
        let h = self
            .meter
            .f64_histogram(p.name)
            .with_description(p.description)
            .with_unit("s")
            .with_boundaries(buckets)
            .build();
        HistogramDuration::new(Arc::new(Unbound(h)))
    }

    fn gauge(&self, p: MetricParameters) -> Gauge {
        let g = self
            .meter
            .u64_gauge(p.name)
            .with_description(p.description)
            .with_unit(p.unit)
            .build();
        Gauge::new(Arc::new(Unbound(g)))
    }

    fn gauge_f64(&self, p: MetricParameters) -> GaugeF64 {
        let g = self
            .meter
            .f64_gauge(p.name)
            .with_description(p.description)
            .with_unit(p.unit)
            .build();
        GaugeF64::new(Arc::new(Unbound(g)))
    }

    fn up_down_counter(&self, p: MetricParameters) -> UpDownCounter {
        let c = self
            .meter
            .i64_up_down_counter(p.name)
            .with_description(p.description)
            .with_unit(p.unit)
            .build();
        UpDownCounter::new(Arc::new(Unbound(c)))
    }
}
