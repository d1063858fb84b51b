//! `GET /metrics`: Prometheus text of everything recorded through the `metrics` crate
//! (request counts and latency histograms from [`super::observe`], plus whatever the
//! services record).
//!
//! Before rendering, the scrape reads the service's local message table, so the
//! outbox's depth and the age of its oldest pending row are current
//! (`shop_outbox_depth`, `shop_outbox_oldest_age_seconds`).
//!
//! The recorder is process-global: it is installed once, so many apps in one test
//! process share it (each labels its series with `service`).

use std::time::Duration;

use axum::{extract::State, http::header, response::IntoResponse};

use crate::db::Database;

/// What the scrape reads besides the recorder.
#[derive(Clone, Debug)]
pub struct MetricsProbe {
    pub service: &'static str,
    pub db: Database,
}

/// The outbox query may take this long; a slow database leaves the gauges as they were.
const OUTBOX_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

impl MetricsProbe {
    /// Sets the outbox gauges from `trade_mq_producer_temp` (services without one, or
    /// a database not ready, leave them unset).
    async fn outbox_gauges(&self) {
        let Ok(pool) = self.db.pool() else {
            return;
        };
        let query = sqlx::query_as::<_, (i64, Option<i64>)>(
            r"select count(*),
                     timestampdiff(microsecond, min(created_at), now(3))
              from trade_mq_producer_temp where status = 'pending'",
        )
        .fetch_one(pool);
        if let Ok(Ok((depth, age_us))) = tokio::time::timeout(OUTBOX_QUERY_TIMEOUT, query).await {
            let service = self.service;
            metrics::gauge!("shop_outbox_depth", "service" => service).set(depth as f64);
            let age = age_us.unwrap_or(0).max(0) as f64 / 1e6;
            metrics::gauge!("shop_outbox_oldest_age_seconds", "service" => service).set(age);
        }
    }
}

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
pub async fn metrics(State(probe): State<MetricsProbe>) -> impl IntoResponse {
    probe.outbox_gauges().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(),
    )
}
