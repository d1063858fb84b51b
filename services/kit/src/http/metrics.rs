//! `GET /metrics`: Prometheus text of everything recorded through the `metrics` crate
//! (request counts and latency histograms from [`super::observe`], plus whatever the
//! services record).
//!
//! The recorder is process-global: it is installed once, so many apps in one test
//! process share it (each labels its series with `service`).

use axum::{http::header, response::IntoResponse};

/// Prometheus text exposition of the process's metrics.
///
/// The recorder is the process-wide one of the `mq` crate (installed on first use), so
/// a test process running the in-process broker and several services renders one
/// coherent set.
pub fn render() -> String {
    match mq::metrics::handle() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    }
}

/// Prometheus text exposition of the process's metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
pub async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(),
    )
}
