//! The stock reconciler: every `STOCK_RECONCILE_INTERVAL` one pass
//! 1. checks that Redis is the one it saw last (same run id, epoch counter still
//!    going up); a restarted Redis, or one back to older data, has every goods
//!    item's cache forgotten, so each is rebuilt (see [`super::rebuild`]);
//! 2. applies journals left `reserved` longer than the interval (their message was
//!    lost or is late); one that cannot be applied is recorded on its row
//!    (`apply_error`), logged and counted in `/metrics`
//!    (`stock_journals_unapplicable`, the last pass's count, and
//!    `stock_journal_apply_failures_total`), and the pass goes on;
//! 3. gives back what cancels still owe Redis (their process died after the
//!    commit);
//! 4. looks at the goods marked changed since the last pass (and only those):
//!    settles reservations in flight past their deadline from their journal row,
//!    and when Redis differs from MySQL (counting reservations in flight) on two
//!    samples alike, rebuilds the goods' cache in a new generation. Redis is never
//!    raised in place.
//!
//! A pass costs a few statements plus one or two per goods item that changed, not
//! per goods item in the catalogue.

use std::time::Duration;

use shop_kit::{consumer_log::wait_ready, ids::Id};
use tokio_util::sync::CancellationToken;

use super::{Stock, giveback, now_ms};
use crate::store::{self, stock_cache};

/// Changed goods looked at per pass; more wait for the next one.
const CHANGED_PER_PASS: usize = 1000;

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

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub redis_changed: bool,
    pub applied: usize,
    /// Overdue journals that could not be applied.
    pub unapplicable: usize,
    pub given_back: usize,
    /// Changed goods looked at.
    pub checked: usize,
    pub rebuilt: usize,
}

/// One pass (see the module header). Every step runs even when an earlier one
/// failed; the first failure is returned after all of them.
pub async fn reconcile_once(stock: &Stock, overdue_after: Duration) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    let mut errors = Vec::new();
    match stock.check_redis_identity().await {
        Ok(changed) => pass.redis_changed = changed,
        Err(error) => errors.push(error),
    }
    if let Err(error) = apply_overdue(stock, overdue_after, &mut pass).await {
        errors.push(error);
    }
    let touched = match giveback::give_back_owed(&stock.db, &stock.cache).await {
        Ok(touched) => touched,
        Err(error) => {
            errors.push(error);
            Vec::new()
        }
    };
    pass.given_back = touched.len();
    if let Err(error) = check_changed(stock, touched, &mut pass).await {
        errors.push(error);
    }
    for error in &errors {
        tracing::warn!(
            error = format!("{error:#}"),
            "stock reconciliation step failed"
        );
    }
    errors.into_iter().next().map_or(Ok(pass), Err)
}

async fn apply_overdue(
    stock: &Stock,
    overdue_after: Duration,
    pass: &mut Pass,
) -> anyhow::Result<()> {
    let pool = stock.db.pool()?;
    for journal_id in store::stock_logs::overdue_reserved(pool, overdue_after).await? {
        let applied = async {
            let mut tx = pool.begin().await?;
            let applied = store::stock_logs::apply_journal(&mut tx, &journal_id).await?;
            tx.commit().await?;
            anyhow::Ok(applied)
        };
        match applied.await {
            Ok(true) => pass.applied += 1,
            Ok(false) => {}
            Err(error) => {
                let error = format!("{error:#}");
                tracing::error!(%journal_id, %error, "stock journal cannot be applied");
                metrics::counter!("stock_journal_apply_failures_total").increment(1);
                pass.unapplicable += 1;
                store::stock_logs::record_apply_error(pool, &journal_id, &error).await?;
            }
        }
    }
    metrics::gauge!("stock_journals_unapplicable").set(pass.unapplicable as f64);
    if pass.applied > 0 {
        tracing::warn!(
            applied = pass.applied,
            "applied journals whose message was overdue"
        );
    }
    Ok(())
}

async fn check_changed(stock: &Stock, mut goods: Vec<Id>, pass: &mut Pass) -> anyhow::Result<()> {
    goods.extend(stock_cache::take_changed(&stock.cache, CHANGED_PER_PASS).await?);
    goods.sort_unstable_by_key(|id| id.0);
    goods.dedup();
    let mut again = Vec::new();
    let mut first_error = None;
    for goods_id in goods {
        pass.checked += 1;
        match check_goods(stock, goods_id).await {
            Ok(Checked { rebuilt, in_flight }) => {
                pass.rebuilt += usize::from(rebuilt);
                if in_flight {
                    again.push(goods_id);
                }
            }
            Err(error) => {
                again.push(goods_id);
                first_error.get_or_insert(error);
            }
        }
    }
    stock_cache::mark_changed(&stock.cache, &again).await?;
    first_error.map_or(Ok(()), Err)
}

struct Checked {
    rebuilt: bool,
    /// Reservations are still in flight: look again next pass.
    in_flight: bool,
}

async fn check_goods(stock: &Stock, goods_id: Id) -> anyhow::Result<Checked> {
    let mut snapshot = stock_cache::snapshot(&stock.cache, goods_id).await?;
    let margin = stock.reserve_timeout.as_millis() as u64;
    let now = now_ms();
    let overdue: Vec<&str> = snapshot
        .in_flight
        .iter()
        .filter(|r| r.deadline_ms + margin < now)
        .map(|r| r.journal_id.as_str())
        .collect();
    if !overdue.is_empty() {
        // Past the deadline and the margin of a commit on its way: the journal row
        // is the outcome, as for the broker's check-back.
        let committed = store::stock_logs::existing_journals(stock.db.pool()?, &overdue).await?;
        for journal_id in &overdue {
            let did_commit = committed.iter().any(|c| c == journal_id);
            stock_cache::settle(&stock.cache, goods_id, journal_id, did_commit).await?;
            tracing::warn!(%goods_id, %journal_id, committed = did_commit,
                "reservation settled from its journal after its deadline");
        }
        snapshot = stock_cache::snapshot(&stock.cache, goods_id).await?;
    }
    let in_flight = !snapshot.in_flight.is_empty();
    let Some(cached) = snapshot.available else {
        // Missing: rebuilt (with the wait a lost cache needs) on its next use.
        return Ok(Checked {
            rebuilt: false,
            in_flight,
        });
    };
    let Some(expected) = expected_for(stock, goods_id, &snapshot).await? else {
        return Ok(Checked {
            rebuilt: false,
            in_flight: false,
        });
    };
    if cached == expected {
        return Ok(Checked {
            rebuilt: false,
            in_flight,
        });
    }
    // Reservations and cancels between the two reads can make one sample differ;
    // a drift shows the same difference twice.
    let second = stock_cache::snapshot(&stock.cache, goods_id).await?;
    let again = match second.available {
        Some(cached) => expected_for(stock, goods_id, &second)
            .await?
            .map(|expected| cached - expected),
        None => None,
    };
    if again != Some(cached - expected) {
        return Ok(Checked {
            rebuilt: false,
            in_flight: true,
        });
    }
    tracing::warn!(%goods_id, redis = cached, mysql = expected,
        "redis stock drifted from mysql: rebuilding");
    let rebuilt = stock.rebuild(goods_id).await?;
    Ok(Checked { rebuilt, in_flight })
}

/// What Redis should hold at `snapshot`: MySQL's figure, minus reservations of
/// this generation without a journal yet (Redis took them, MySQL does not know
/// them), plus reservations of an older generation with a journal (MySQL counts
/// them, the rebuilt cache is charged when they settle).
async fn expected_for(
    stock: &Stock,
    goods_id: Id,
    snapshot: &stock_cache::Snapshot,
) -> anyhow::Result<Option<i64>> {
    let (current, older): (Vec<_>, Vec<_>) = snapshot
        .in_flight
        .iter()
        .partition(|r| r.generation == snapshot.generation);
    let ids = |rs: &[&stock_cache::InFlight]| -> Vec<String> {
        rs.iter().map(|r| r.journal_id.clone()).collect()
    };
    let (current_ids, older_ids) = (ids(&current), ids(&older));
    let current_refs: Vec<&str> = current_ids.iter().map(String::as_str).collect();
    let older_refs: Vec<&str> = older_ids.iter().map(String::as_str).collect();
    let Some((mysql, current_known, older_known)) =
        store::stock_logs::drift_sample(stock.db.pool()?, goods_id, &current_refs, &older_refs)
            .await?
    else {
        return Ok(None);
    };
    let current_taken: i64 = current.iter().map(|r| i64::from(r.quantity)).sum();
    Ok(Some(mysql - (current_taken - current_known) + older_known))
}
