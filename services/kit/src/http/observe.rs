//! The middleware around every request: the `x-request-id` (taken from the request or
//! made up, echoed on the response), the tracing span that carries it into every log
//! line of the request (and, exported, continues the caller's trace named by its
//! `traceparent` header), and the request count and latency metrics per route.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, header::HeaderName},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

/// The header carrying the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled by this task, if any; outgoing calls and
/// messages carry it on.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `future` as part of the request `id` (for work a handler hands to a task).
pub async fn with_request_id<F: Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// A client's id is kept when it is short, visible ASCII; else one is made up.
fn accept(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let ok = !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.to_owned())
}

/// The middleware; its state is the service's name (a metrics label).
pub async fn observe(
    State(service): State<&'static str>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    let id = accept(req.headers().get(&header)).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let id_value = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    req.headers_mut().insert(header.clone(), id_value.clone());

    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!("request", request_id = %id, %method, path = %req.uri().path(),
        otel.name = %format_args!("{method} {route}"), otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty);
    crate::telemetry::continue_from_headers(&span, req.headers());
    crate::telemetry::mark_service(&span, service);

    let mut response = REQUEST_ID
        .scope(id, next.run(req))
        .instrument(span.clone())
        .await;
    response.headers_mut().insert(header, id_value);

    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if response.status().is_server_error() {
        span.record("otel.status_code", "error");
    }
    let elapsed = started.elapsed();
    let labels = [
        ("service", service.to_owned()),
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());

    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if matches!(route.as_str(), "/health" | "/metrics") {
            tracing::debug!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, route, "request finished");
        }
    });
    response
}
