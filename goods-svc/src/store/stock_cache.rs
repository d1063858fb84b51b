//! The Redis cache of available stock: one key per goods, `<prefix>stock:<goods_id>`,
//! holding how many units can still be reserved.
//!
//! Seeded when goods are created; reservations (a Lua check-and-decrement) and the
//! rebuild from MySQL after Redis lost it come with the confirm-order flow.

use redis::AsyncCommands;
use services::{cache::Cache, ids::Id};

/// The key of `goods_id`'s available stock.
pub fn stock_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock:{goods_id}"))
}

/// Sets the available stock of `goods_id`.
pub async fn seed(cache: &Cache, goods_id: Id, available: u32) -> redis::RedisResult<()> {
    let mut conn = cache.conn();
    conn.set::<_, _, ()>(stock_key(cache, goods_id), available)
        .await
}

/// Sets the available stock of `goods_id` unless the key exists.
pub async fn seed_if_missing(
    cache: &Cache,
    goods_id: Id,
    available: u32,
) -> redis::RedisResult<()> {
    let mut conn = cache.conn();
    conn.set_nx::<_, _, ()>(stock_key(cache, goods_id), available)
        .await
}

/// The available stock of `goods_id`, `None` when the key is missing (Redis lost it).
pub async fn available(cache: &Cache, goods_id: Id) -> redis::RedisResult<Option<i64>> {
    let mut conn = cache.conn();
    conn.get(stock_key(cache, goods_id)).await
}
