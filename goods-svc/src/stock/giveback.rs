//! The give-back a cancel owes Redis. The cancel's transaction marks its journal
//! `giveback_pending`; this gives the units to the current Redis generation and
//! clears the mark, under the journal's row lock, so the cancel consumer (after
//! its commit) and the reconciler (for one whose process died before) never give
//! the same units twice: a Redis key per journal remembers the generation it went
//! to. A rebuild leaves pending units out of the stock it sets, so a give-back
//! applied to the old generation whose mark was not yet cleared is applied again
//! to the new one, which is right.

use shop_kit::{cache::Cache, db::Database, ids::Id};

use crate::store::{
    stock_cache::{self, GivenBack},
    stock_logs,
};

/// Gives back the units of cancelled journal `journal_id` if still owed; whether
/// Redis has them now.
pub async fn give_back(db: &Database, cache: &Cache, journal_id: &str) -> anyhow::Result<bool> {
    let pool = db.pool()?;
    let mut tx = pool.begin().await?;
    let Some((goods_id, quantity)) = stock_logs::lock_pending_giveback(&mut tx, journal_id).await?
    else {
        return Ok(true);
    };
    let goods_id = Id(goods_id);
    match stock_cache::give_back_cancelled(cache, goods_id, journal_id, quantity).await? {
        GivenBack::Now | GivenBack::Before => {
            stock_logs::mark_given_back(&mut tx, journal_id).await?;
            tx.commit().await?;
            Ok(true)
        }
        GivenBack::CacheMissing => {
            // The rebuild counts it as owed; the reconciler gives it after.
            tx.rollback().await?;
            stock_cache::mark_changed(cache, &[goods_id]).await?;
            Ok(false)
        }
    }
}

/// Gives back every owed give-back (the reconciler's sweep); the goods touched.
pub async fn give_back_owed(db: &Database, cache: &Cache) -> anyhow::Result<Vec<Id>> {
    let owed = stock_logs::pending_givebacks(db.pool()?, 500).await?;
    let mut goods = Vec::new();
    for (journal_id, goods_id) in owed {
        match give_back(db, cache, &journal_id).await {
            Ok(true) => {
                tracing::warn!(%journal_id, goods_id, "gave back a cancel's stock its consumer did not");
                goods.push(Id(goods_id));
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%journal_id, error = format!("{error:#}"), "give-back failed; retried next pass");
            }
        }
    }
    goods.dedup();
    Ok(goods)
}
