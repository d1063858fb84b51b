//! Prometheus metrics: one process-wide recorder, installed by the first
//! broker started in the process (or by a service calling [`install`]),
//! rendered by the admin API's `/metrics`. Services in the same process
//! share it, so one scrape shows everything.
//!
//! Names, by area:
//! - sends and deliveries: `mq_sends_total`, `mq_deliveries_total`,
//!   `mq_acks_total`, `mq_retries_total`, `mq_dead_letters_total`,
//!   `mq_visibility_timeouts_total`, `mq_connections` (gauge);
//! - backpressure: `mq_outbound_queued_bytes` (gauge: bytes queued for
//!   clients to read, all connections), `mq_delivery_backpressure_total`
//!   (times a subscription held deliveries back for a connection's full
//!   outbound queue, see `MQ_CONNECTION_BUFFER`);
//! - groups: `mq_retention_skipped_total` (messages retention deleted
//!   before a group read them, labels `group` and `topic`; each skip is
//!   also logged as a warning), `mq_broadcast_members_forgotten_total`
//!   (broadcast members gone longer than `MQ_BROADCAST_FORGET_AFTER`);
//! - storage: `mq_fsync_seconds` (histogram of fdatasync durations),
//!   `mq_group_commit_messages` (histogram of records per group commit,
//!   i.e. per write and fsync);
//! - delayed messages: `mq_delayed_pending` (gauge: not yet due),
//!   `mq_delayed_released_total` (moved to their topic when due);
//! - transactions: `mq_half_pending` (gauge: undecided half messages),
//!   `mq_txn_halves_total` (half messages stored), `mq_txn_checks_total`
//!   (check-backs sent to producers), `mq_txn_outcomes_total` (decisions
//!   stored, label `outcome` = `commit`, `rollback` or `discard`),
//!   `mq_txn_discarded_total` (halves discarded after `MQ_TXN_CHECK_MAX`
//!   check-backs without a decision).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Histogram buckets (seconds) for every histogram: fsyncs of 100 µs up to HTTP
/// requests of seconds. Without buckets the exporter renders summaries instead.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets of `mq_group_commit_messages`, a count, not seconds.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Installs the recorder once (later calls do nothing) and starts a thread
/// that drains histogram samples every 5 s, so memory stays bounded even
/// when nobody scrapes.
pub fn install() {
    let builder = PrometheusBuilder::new().set_buckets(BUCKETS).and_then(|b| {
        b.set_buckets_for_metric(
            Matcher::Full("mq_group_commit_messages".into()),
            BATCH_BUCKETS,
        )
    });
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
