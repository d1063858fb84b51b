//! Prometheus metrics: one process-wide recorder, installed by the first
//! broker started in the process, rendered by the admin API's `/metrics`.
//!
//! Names: `mq_sends_total`, `mq_deliveries_total`, `mq_acks_total`,
//! `mq_retries_total`, `mq_dead_letters_total`,
//! `mq_visibility_timeouts_total`, `mq_connections`, `mq_fsync_seconds`,
//! `mq_group_commit_messages`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once; later calls do nothing.
pub fn install() {
    HANDLE.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty");
            None
        }
    });
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    HANDLE
        .get()
        .and_then(|h| h.as_ref())
        .map(|h| h.render())
        .unwrap_or_default()
}
