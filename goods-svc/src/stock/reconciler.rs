//! The stock reconciler: every `STOCK_RECONCILE_INTERVAL` it
//! 1. applies journals left `reserved` longer than the interval (their message was
//!    lost or is late), so MySQL stock follows the reservations;
//! 2. repairs drift between the Redis stock and MySQL (stock minus unapplied
//!    journals). Reservations in flight make the two differ for a moment, so a
//!    difference is repaired only when it is still the same after
//!    `STOCK_RESERVE_TIMEOUT` on both sides, and with a compare-and-set, so a
//!    reservation in between wins.

use std::time::Duration;

use shop_kit::{consumer_log::wait_ready, ids::Id};
use sqlx::Acquire;
use tokio_util::sync::CancellationToken;

use super::Stock;
use crate::store::{self, stock_cache};

/// Goods read per page.
const PAGE: u32 = 500;

/// Runs until `shutdown`.
pub async fn run(stock: Stock, interval: Duration, shutdown: CancellationToken) {
    if !wait_ready(&stock.db, &shutdown).await {
        return;
    }
    tracing::info!(every = ?interval, "stock reconciler running");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                tracing::info!("stock reconciler stopped: shutting down");
                return;
            }
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = reconcile_once(&stock, interval).await {
            tracing::warn!(error = format!("{error:#}"), "stock reconciliation failed");
        }
    }
}

/// One pass: overdue journals, then drift.
pub async fn reconcile_once(stock: &Stock, overdue_after: Duration) -> anyhow::Result<()> {
    let applied = apply_overdue(stock, overdue_after).await?;
    if applied > 0 {
        tracing::warn!(applied, "applied journals whose message was overdue");
    }
    repair_drift(stock).await
}

async fn apply_overdue(stock: &Stock, overdue_after: Duration) -> anyhow::Result<usize> {
    let pool = stock.db.pool()?;
    let mut applied = 0;
    for journal_id in store::stock_logs::overdue_reserved(pool, overdue_after).await? {
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin().await?;
        if store::stock_logs::apply_journal(&mut tx, &journal_id).await? {
            applied += 1;
        }
        tx.commit().await?;
    }
    Ok(applied)
}

struct Sample {
    goods_id: Id,
    expected: i64,
    cached: i64,
    generation: String,
}

async fn repair_drift(stock: &Stock) -> anyhow::Result<()> {
    let pool = stock.db.pool()?;
    let mut differing = Vec::new();
    let mut after = 0;
    loop {
        let ids = store::goods::goods_ids_after(pool, after, PAGE).await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        for id in ids {
            let goods_id = Id(id);
            // MySQL first: a journal committed after this read has already
            // decremented Redis, so in-flight work never looks like a surplus.
            let Some(expected) = store::stock_logs::expected_available(pool, goods_id).await?
            else {
                continue;
            };
            let (cached, generation) = stock_cache::snapshot(&stock.cache, goods_id).await?;
            match cached {
                Some(cached) if cached != expected => differing.push(Sample {
                    goods_id,
                    expected,
                    cached,
                    generation,
                }),
                _ => {}
            }
        }
    }
    if differing.is_empty() {
        return Ok(());
    }
    tokio::time::sleep(stock.reserve_timeout).await;
    for sample in differing {
        let expected = store::stock_logs::expected_available(pool, sample.goods_id).await?;
        if expected != Some(sample.expected) {
            continue;
        }
        let repaired = stock_cache::compare_and_set(
            &stock.cache,
            sample.goods_id,
            sample.cached,
            &sample.generation,
            sample.expected,
        )
        .await?;
        if repaired {
            tracing::warn!(goods_id = %sample.goods_id, was = sample.cached, now = sample.expected,
                "redis stock drifted from mysql: repaired");
        }
    }
    Ok(())
}
