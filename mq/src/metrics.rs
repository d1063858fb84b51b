//! Prometheus metrics: one process-wide recorder, installed by the first
//! broker started in the process, rendered by the admin API's `/metrics`.
//!
//! Names: `mq_sends_total`, `mq_deliveries_total`, `mq_acks_total`,
//! `mq_retries_total`, `mq_dead_letters_total`,
//! `mq_visibility_timeouts_total`, `mq_connections`, `mq_fsync_seconds`,
//! `mq_group_commit_messages`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets in seconds, 100 µs to 10 s: fits fsync and request latencies.
const BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 7.5, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls do nothing. A process that
/// runs a broker and services (the tests do) shares this one recorder.
pub fn install() {
    handle();
}

/// The process-wide recorder's handle, installing the recorder on first use; `None`
/// when another recorder was installed first (then nothing here is recorded).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .expect("the bucket list is not empty");
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    handle().map(|h| h.render()).unwrap_or_default()
}
