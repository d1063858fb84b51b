//! Rebuilding a goods item's Redis stock from MySQL in a new generation.
//!
//! A rebuild holding the goods' rebuild lock
//! 1. freezes the cache in one script: the stock key goes (reservations wait), the
//!    generation is renewed, and the reservations in flight are read;
//! 2. reads in one MySQL snapshot what Redis should hold (stock − reserved journals
//!    − give-backs still owed) and which of those reservations have a journal;
//! 3. sets the stock in one script: the reservations MySQL counted leave the
//!    in-flight record, those that committed meanwhile are subtracted, and those
//!    still undecided stay in flight under their old generation, so a later commit
//!    is charged to the new one and a later rollback gives nothing back.
//!
//! The cache never goes up in place: this is the only way up. When Redis lost the
//! cache (the key is missing, or Redis restarted or went back to older data) the
//! record of reservations in flight may be lost too, so that rebuild first waits
//! twice `STOCK_RESERVE_TIMEOUT`: by then every reservation that took units from
//! the lost cache has committed its journal (MySQL counts it) or never will.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use shop_kit::{error::Unavailable, ids::Id};
use tokio::time::Instant;

use super::{ReserveError, Stock};
use crate::store::{self, stock_cache};

/// How often a reservation looks whether a rebuild finished.
const REBUILD_POLL: Duration = Duration::from_millis(20);

/// The Redis a reconciler saw last: its run id and epoch.
#[derive(Debug, Clone, Default)]
pub struct RedisIdentity(Arc<Mutex<Option<(String, i64)>>>);

impl RedisIdentity {
    /// Records what Redis says now; `true` when it is not the Redis seen before
    /// (restarted, or its data went back).
    fn changed(&self, run_id: String, epoch: i64) -> bool {
        let mut seen = self.0.lock().expect("not poisoned");
        let changed = seen
            .as_ref()
            .is_some_and(|(last_run, last_epoch)| *last_run != run_id || epoch <= *last_epoch);
        *seen = Some((run_id, epoch));
        changed
    }
}

impl Stock {
    /// Makes sure Redis holds `goods_id`'s stock: when it is missing, one caller
    /// (holding the rebuild lock) rebuilds it after the wait for reservations a
    /// lost cache cannot count; the others wait for that.
    pub async fn ensure_cached(&self, goods_id: Id) -> Result<(), ReserveError> {
        let settle = self.reserve_timeout * 2;
        let give_up = Instant::now() + settle * 2 + Duration::from_secs(2);
        loop {
            let cached = stock_cache::available(&self.cache, goods_id)
                .await
                .map_err(Unavailable::from)?;
            if cached.is_some() {
                return Ok(());
            }
            if stock_cache::lock_rebuild(&self.cache, goods_id, settle * 2)
                .await
                .map_err(Unavailable::from)?
            {
                let rebuilt = self.rebuild_locked(goods_id, Some(settle)).await;
                let _ = stock_cache::unlock_rebuild(&self.cache, goods_id).await;
                return rebuilt.map(|_| ());
            }
            if Instant::now() >= give_up {
                return Err(Unavailable::new("redis").into());
            }
            tokio::time::sleep(REBUILD_POLL).await;
        }
    }

    /// Rebuilds the stock of goods whose cache Redis still holds (the
    /// reconciler's repair); `false` when another rebuild was under way.
    pub async fn rebuild(&self, goods_id: Id) -> Result<bool, ReserveError> {
        if !stock_cache::lock_rebuild(&self.cache, goods_id, self.reserve_timeout * 4)
            .await
            .map_err(Unavailable::from)?
        {
            return Ok(false);
        }
        let rebuilt = self.rebuild_locked(goods_id, None).await;
        let _ = stock_cache::unlock_rebuild(&self.cache, goods_id).await;
        rebuilt
    }

    async fn rebuild_locked(
        &self,
        goods_id: Id,
        wait: Option<Duration>,
    ) -> Result<bool, ReserveError> {
        let generation = stock_cache::new_generation();
        let in_flight = stock_cache::freeze(&self.cache, goods_id, &generation)
            .await
            .map_err(Unavailable::from)?;
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
        let ids: Vec<&str> = in_flight.iter().map(|r| r.journal_id.as_str()).collect();
        let pool = self.db.pool()?;
        let mut tx = pool.begin().await?;
        let expected = store::stock_logs::expected_available(&mut *tx, goods_id)
            .await?
            .ok_or(ReserveError::GoodsNotFound)?;
        let counted = store::stock_logs::existing_journals(&mut *tx, &ids).await?;
        tx.commit().await?;
        let set =
            stock_cache::finish_rebuild(&self.cache, goods_id, &generation, expected, &counted)
                .await
                .map_err(Unavailable::from)?;
        if set {
            metrics::counter!("stock_rebuilds_total").increment(1);
            tracing::warn!(%goods_id, available = expected, in_flight = in_flight.len(),
                counted = counted.len(), lost = wait.is_some(), "redis stock rebuilt from mysql");
            // Looked at again next pass: a give-back racing this rebuild shows there.
            stock_cache::mark_changed(&self.cache, &[goods_id])
                .await
                .map_err(Unavailable::from)?;
        }
        Ok(set)
    }

    /// Whether Redis is another one than last time (restarted: a new run id; or
    /// back to older data: an epoch not above the last one seen). When it is,
    /// every goods item's cache is forgotten, so each is rebuilt on its next use.
    pub async fn check_redis_identity(&self) -> anyhow::Result<bool> {
        let (run_id, epoch) = stock_cache::identity(&self.cache).await?;
        if !self.redis_seen.changed(run_id.clone(), epoch) {
            return Ok(false);
        }
        tracing::warn!(%run_id, epoch, "redis restarted or went back to older data: rebuilding the stock");
        metrics::counter!("stock_redis_changes_total").increment(1);
        let pool = self.db.pool()?;
        let mut after = 0;
        loop {
            let ids = store::goods::goods_ids_after(pool, after, 500).await?;
            let Some(&last) = ids.last() else { break };
            after = last;
            let ids: Vec<Id> = ids.into_iter().map(Id).collect();
            stock_cache::forget(&self.cache, &ids).await?;
        }
        Ok(true)
    }
}
