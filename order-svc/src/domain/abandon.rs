//! The abandon sweep (docs/architecture.md, "Abandoned orders"): a pre-order left
//! `unconfirmed` longer than `ORDER_ABANDON_AFTER` belongs to a confirmation that died
//! (process killed, cancel not saved). The sweep cancels it with reason `abandoned`,
//! which publishes the compensation message, so its stock, coupon and balance come back
//! without waiting for the payment timeout.
//!
//! A live confirmation takes at most a few request timeouts, far less than the
//! abandon deadline; should one still be running, its own confirm finds the order
//! cancelled (a conditional update) and answers `ORDER_CANCELLED`.

use std::time::Duration;

use shop_kit::{
    consumer_log::wait_ready, contracts::order::CancelReason, db::Database, outbox::Outbox,
    telemetry,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::cancel;
use crate::store;

/// Orders cancelled per round at most.
const BATCH: u32 = 100;

/// How often to look: a quarter of the deadline, between 100 ms and 15 s.
pub fn sweep_interval(abandon_after: Duration) -> Duration {
    (abandon_after / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
}

/// Cancels abandoned orders until `shutdown`.
pub async fn run(
    db: Database,
    outbox: Outbox,
    abandon_after: Duration,
    shutdown: CancellationToken,
) {
    if !wait_ready(&db, &shutdown).await {
        return;
    }
    let every = sweep_interval(abandon_after);
    tracing::info!(?abandon_after, ?every, "abandon sweep running");
    loop {
        match sweep_once(&db, &outbox, abandon_after).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(cancelled = n, "abandoned orders cancelled"),
            Err(error) => tracing::warn!(error = format!("{error:#}"), "abandon sweep failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                tracing::info!("abandon sweep stopped: shutting down");
                return;
            }
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One round; how many orders it cancelled.
pub async fn sweep_once(
    db: &Database,
    outbox: &Outbox,
    abandon_after: Duration,
) -> anyhow::Result<usize> {
    let orders = store::orders::abandoned_orders(db.pool()?, abandon_after, BATCH).await?;
    let mut cancelled = 0;
    for (order_id, trace) in orders {
        // The cancel and its compensation message belong to the order's trace.
        let step = telemetry::order_step("cancel abandoned order", "order-svc", trace.as_deref());
        let done = cancel::cancel(db, outbox, order_id, CancelReason::Abandoned)
            .instrument(step)
            .await?;
        if done {
            cancelled += 1;
        }
    }
    Ok(cancelled)
}
