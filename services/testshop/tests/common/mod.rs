//! What the trace tests share: an in-memory exporter that owns the process's tracing,
//! and the reading of the spans it collected.

use std::collections::{BTreeSet, HashSet};

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use shop_kit::telemetry::SERVICE_ATTRIBUTE;

/// A tracer provider exporting to memory, installed as the process's tracing (each
/// trace test is its own process).
pub fn in_memory_tracing() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    assert!(
        shop_kit::telemetry::init_for_tests_with(&provider),
        "this test owns the process's tracing"
    );
    (exporter, provider)
}

/// The span's attribute `key` as text (empty when it has none).
pub fn text(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
        .unwrap_or_default()
}

/// One line naming the span, for failure messages.
pub fn describe(span: &SpanData) -> String {
    format!(
        "{} [{:?}] {} trace {} parent {}",
        span.name,
        span.span_kind,
        text(span, SERVICE_ATTRIBUTE),
        span.span_context.trace_id(),
        span.parent_span_id
    )
}

/// The spans of `trace` once every one of `groups` consumed in it and every span's
/// parent is there (a consumer may finish before its producer's send span closes).
pub fn trace_reaching(
    exporter: &InMemorySpanExporter,
    trace: TraceId,
    groups: &[&str],
) -> Option<Vec<SpanData>> {
    let spans: Vec<SpanData> = exporter
        .get_finished_spans()
        .expect("the exporter answers")
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect();
    let consumed: BTreeSet<String> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Consumer)
        .map(|s| text(s, "messaging.consumer.group.name"))
        .collect();
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let connected = spans
        .iter()
        .all(|s| s.parent_span_id == SpanId::INVALID || ids.contains(&s.parent_span_id));
    (groups.iter().all(|g| consumed.contains(*g)) && connected).then_some(spans)
}
