//! Prometheus metrics: one process-wide recorder, installed by the first
//! broker started in the process (or by a service calling [`install`]),
//! rendered by the admin API's `/metrics`. Services in the same process
//! share it, so one scrape shows everything.
//!
//! Names: `mq_sends_total`, `mq_deliveries_total`, `mq_acks_total`,
//! `mq_retries_total`, `mq_dead_letters_total`,
//! `mq_visibility_timeouts_total`, `mq_connections`, `mq_fsync_seconds`,
//! `mq_group_commit_messages`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Histogram buckets (seconds) for every histogram: fsyncs of 100 µs up to HTTP
/// requests of seconds. Without buckets the exporter renders summaries instead.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Installs the recorder once (later calls do nothing) and starts a thread
/// that drains histogram samples every 5 s, so memory stays bounded even
/// when nobody scrapes.
pub fn install() {
    let builder = PrometheusBuilder::new().set_buckets(BUCKETS);
    HANDLE.get_or_init(|| match builder.and_then(|b| b.install_recorder()) {
        Ok(h) => {
            let upkeep = h.clone();
            let spawned = std::thread::Builder::new().name("mq-metrics-upkeep".into()).spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started");
            }
            Some(h)
        }
        Err(e) => {
            tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty");
            None
        }
    });
}

/// The process-wide handle, if [`install`] succeeded.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get().and_then(|h| h.as_ref())
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    handle().map(|h| h.render()).unwrap_or_default()
}
