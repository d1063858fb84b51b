//! Tracing set-up: human-readable lines on stderr, filtered by `RUST_LOG`, and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry spans exported over OTLP.
//!
//! Each request runs in a span carrying its `request_id` (see [`crate::http::observe`]),
//! so every line logged while handling it names the request. Tests stay quiet unless
//! `TEST_LOG` is set.
//!
//! One trace per order: the W3C `traceparent` travels in HTTP headers (the request
//! middleware continues the caller's trace, the clients inject the call's span) and
//! in message properties (the bus's send injects the producer's span, its consume
//! continues it; the outbox keeps the writer's context on the row until it is sent).
//! The helpers here do the injecting and extracting; outside the kit only the steps
//! of an order that start without its context call them: the order keeps its
//! context when it is created ([`current_traceparent`]) and its later steps run in
//! [`order_step`]. Without an exporter the spans are plain `tracing` spans and the
//! helpers carry nothing.

use std::{collections::BTreeMap, io::IsTerminal, sync::Once};

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Span;
use tracing::field::{Field, Visit};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer,
    field::RecordFields,
    filter::Targets,
    fmt::{self, FormatFields, format::Writer},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use crate::settings::Service;

const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,tower_http=warn";

/// The W3C trace context header and message property.
pub const TRACEPARENT: &str = "traceparent";
/// The span attribute naming the service a span belongs to (the resource's
/// `service.name` says it too, but in-process tests run the five services in one
/// process, under one resource).
pub const SERVICE_ATTRIBUTE: &str = "shop.service";

/// Fields as the terminal shows them: `name=value` (the message bare), less the
/// `otel.*` fields, which name and classify a span for the exporter only.
struct TerminalFields;

impl<'writer> FormatFields<'writer> for TerminalFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = TerminalVisitor {
            writer: &mut writer,
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TerminalVisitor<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    result: std::fmt::Result,
    first: bool,
}

impl Visit for TerminalVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("otel.") || name.starts_with("log.") {
            return;
        }
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        self.result = match name {
            "message" => write!(self.writer, "{separator}{value:?}"),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.writer, "{separator}{name}={value:?}")
            }
        };
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// What is exported: the kit's and the services' spans (and the events logged in
/// them), whatever `RUST_LOG` says for the terminal.
fn exported() -> Targets {
    Targets::new()
        .with_target("shop_kit", tracing::Level::INFO)
        .with_target("order_svc", tracing::Level::INFO)
        .with_target("goods_svc", tracing::Level::INFO)
        .with_target("coupon_svc", tracing::Level::INFO)
        .with_target("user_svc", tracing::Level::INFO)
        .with_target("pay_svc", tracing::Level::INFO)
}

/// Keeps the exporter running; dropping it flushes the spans not exported yet.
#[must_use = "dropping the guard stops exporting"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("exporting the last spans failed: {error}");
        }
    }
}

/// `OTEL_SERVICE_NAME`, else the service's binary name.
pub fn service_name(service: Service) -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| service.binary().to_owned())
}

/// Whether `OTEL_EXPORTER_OTLP_ENDPOINT` asks for spans to be exported.
pub fn otlp_enabled() -> bool {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.trim().is_empty())
}

/// For a service's `main`: logs to stderr at `RUST_LOG` (default `info`) and, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set, exports spans over OTLP/HTTP (protobuf) as
/// `OTEL_SERVICE_NAME` (default: the service's name). Keep the guard for the life of
/// the process.
pub fn init(service: Service) -> Telemetry {
    let logs = fmt::layer()
        .fmt_fields(TerminalFields)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter());
    if !otlp_enabled() {
        // A second call (or another subscriber) is not an error worth stopping for.
        let _ = tracing_subscriber::registry().with(logs).try_init();
        return Telemetry { provider: None };
    }
    let name = service_name(service);
    let provider = match otlp_provider(&name) {
        Ok(provider) => provider,
        Err(error) => {
            let _ = tracing_subscriber::registry().with(logs).try_init();
            tracing::error!(%error, "cannot export traces over OTLP; tracing stays local");
            return Telemetry { provider: None };
        }
    };
    let spans = otel_layer(&provider);
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
    tracing::info!(service_name = %name, "exporting traces over OTLP");
    Telemetry {
        provider: Some(provider),
    }
}

fn otlp_provider(name: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(name.to_owned())
                .build(),
        )
        .build())
}

/// The layer turning the exported targets' spans into OpenTelemetry spans of
/// `provider`.
fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("shop"))
        .with_filter(exported())
}

/// For tests: silent unless `TEST_LOG` is set; safe to call from every test.
pub fn init_for_tests() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = fmt::fmt()
                .fmt_fields(TerminalFields)
                .with_env_filter(filter())
                .with_test_writer()
                .try_init();
        }
    });
}

/// For a test that looks at spans: the process's spans go to `provider` (an
/// in-memory exporter's, say), and log lines to the test's output when `TEST_LOG`
/// is set. Call it before anything else sets up tracing; `false` when something did.
pub fn init_for_tests_with(provider: &SdkTracerProvider) -> bool {
    let logs = std::env::var_os("TEST_LOG").is_some().then(|| {
        fmt::layer()
            .fmt_fields(TerminalFields)
            .with_test_writer()
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(otel_layer(provider))
        .try_init()
        .is_ok()
}

/// Makes `span` continue the trace of `parent` when that names a remote span (an
/// incoming `traceparent`); otherwise `span` keeps its place under the current span.
fn continue_trace(span: &Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The span context of `span`, as a W3C `traceparent` (none without an exporter).
fn inject(span: &Span, carrier: &mut dyn Injector) {
    let context = span.context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, carrier);
    }
}

struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut axum::http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(key.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct Properties<'a>(&'a BTreeMap<String, String>);

impl Extractor for Properties<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct PropertiesMut<'a>(&'a mut BTreeMap<String, String>);

impl Injector for PropertiesMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// An incoming request: `span` continues the caller's trace (`traceparent`).
pub fn continue_from_headers(span: &Span, headers: &axum::http::HeaderMap) {
    continue_trace(
        span,
        TraceContextPropagator::new().extract(&Headers(headers)),
    );
}

/// An outgoing call: its `traceparent` names `span`.
pub fn inject_headers(span: &Span, headers: &mut axum::http::HeaderMap) {
    inject(span, &mut HeadersMut(headers));
}

/// A delivered message: `span` continues the producer's trace.
pub fn continue_from_properties(span: &Span, properties: &BTreeMap<String, String>) {
    continue_trace(
        span,
        TraceContextPropagator::new().extract(&Properties(properties)),
    );
}

/// A message to send (or to keep until it is sent): its `traceparent` names `span`.
pub fn inject_properties(span: &Span, properties: &mut BTreeMap<String, String>) {
    inject(span, &mut PropertiesMut(properties));
}

/// The current span's context as a W3C `traceparent` (none without an exporter): what
/// an order keeps on its row when it is created, so that its later steps continue its
/// trace (see [`order_step`]).
pub fn current_traceparent() -> Option<String> {
    let mut properties = BTreeMap::new();
    inject_properties(&Span::current(), &mut properties);
    properties.remove(TRACEPARENT)
}

/// The span context a stored `traceparent` names, if it is a valid one.
fn remote_context(traceparent: &str) -> Option<Context> {
    let properties = BTreeMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&Properties(&properties));
    context.span().span_context().is_valid().then_some(context)
}

/// A span for a later step of an order (its payment, the payment platform's
/// callback, an abandoned order's cancel) that runs in a request or task of its own:
/// `order_trace` is the `traceparent` the order kept when it was created
/// ([`current_traceparent`]).
///
/// The step is part of the order's work, so its span is a child of the order's
/// context and everything under it (transactions, messages and their consumers)
/// joins the order's trace: one order, one trace, without the client sending
/// anything. The request that started the step keeps its own span, as OpenTelemetry's
/// HTTP conventions want of a server span (parented by the caller's `traceparent`,
/// or a root without one), and the step's span *links* to it: a link is how
/// OpenTelemetry relates a span to a causing span in another trace (as a batch
/// consumer links the messages it took), so the viewer leads from the order's trace
/// to the request and back. When the request already is in the order's trace (a
/// client that sent the order's `traceparent`), the step is a plain child of it.
/// Without a stored context (an order from before traces were kept) or without an
/// exporter, it is a plain child of the current span.
///
/// In `tracing` the step stays under the current span, so its log lines keep the
/// request's `request_id`.
pub fn order_step(name: &'static str, service: &'static str, order_trace: Option<&str>) -> Span {
    let span = tracing::info_span!("order step", otel.name = name, step = name);
    mark_service(&span, service);
    let Some(order) = order_trace.and_then(remote_context) else {
        return span;
    };
    let current = Span::current().context();
    let current = current.span().span_context().clone();
    let order_trace_id = order.span().span_context().trace_id();
    if current.is_valid() && current.trace_id() == order_trace_id {
        return span;
    }
    let _ = span.set_parent(order);
    if current.is_valid() {
        span.add_link(current);
    }
    span
}

/// Names the service `span` belongs to (an attribute of the exported span).
pub fn mark_service(span: &Span, service: &'static str) {
    span.set_attribute(SERVICE_ATTRIBUTE, service);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporter_nothing_is_carried_and_nothing_breaks() {
        let span = tracing::info_span!("call");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(TRACEPARENT, "not a traceparent".parse().unwrap());
        continue_from_headers(&span, &headers);
        let mut out = axum::http::HeaderMap::new();
        inject_headers(&span, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let mut properties = BTreeMap::new();
        inject_properties(&span, &mut properties);
        assert!(properties.is_empty(), "{properties:?}");
    }
}
