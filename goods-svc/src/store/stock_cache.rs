//! The Redis cache of available stock: per goods `<prefix>stock:<goods_id>` (units
//! that can still be reserved) and `<prefix>stock-gen:<goods_id>` (the cache's
//! generation, new at every rebuild).
//!
//! Every change is one Lua script, so check-and-decrement is atomic and a give-back
//! lands only on the generation it was taken from: after Redis lost the keys and the
//! cache was rebuilt from MySQL, a late give-back of the old generation would count
//! twice.

use std::{sync::LazyLock, time::Duration};

use redis::{AsyncCommands, Script};
use shop_kit::{cache::Cache, ids::Id};

/// The key of `goods_id`'s available stock.
pub fn stock_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock:{goods_id}"))
}

/// The key of the generation of `goods_id`'s cached stock.
pub fn gen_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock-gen:{goods_id}"))
}

fn rebuild_lock_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock-rebuild:{goods_id}"))
}

/// A new cache generation.
pub fn new_generation() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What a reservation did to the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Decremented; the generation it was taken from.
    Taken { generation: String },
    /// Not enough available: nothing changed.
    NotEnough,
    /// The cache does not hold this goods (Redis lost it): rebuild first.
    Missing,
}

static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local n = redis.call('GET', KEYS[1])
        if not n then return {-1, ''} end
        local g = redis.call('GET', KEYS[2]) or ''
        local q = tonumber(ARGV[1])
        if tonumber(n) < q then return {-2, g} end
        return {redis.call('DECRBY', KEYS[1], q), g}
        ",
    )
});

static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
        redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
        return 1
        ",
    )
});

static SET_IF_MISSING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('SET', KEYS[2], ARGV[2])
        return 1
        ",
    )
});

static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
        redis.call('SET', KEYS[1], ARGV[3])
        return 1
        ",
    )
});

/// Sets the available stock of new goods, with a new generation.
pub async fn seed(cache: &Cache, goods_id: Id, available: u32) -> redis::RedisResult<()> {
    let mut conn = cache.conn();
    redis::pipe()
        .atomic()
        .set(stock_key(cache, goods_id), available)
        .set(gen_key(cache, goods_id), new_generation())
        .query_async::<()>(&mut conn)
        .await
}

/// Sets the available stock and a new generation unless the stock key exists;
/// whether it was set.
pub async fn set_if_missing(
    cache: &Cache,
    goods_id: Id,
    available: i64,
) -> redis::RedisResult<bool> {
    let mut conn = cache.conn();
    SET_IF_MISSING
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .arg(available)
        .arg(new_generation())
        .invoke_async(&mut conn)
        .await
}

/// The available stock of `goods_id`, `None` when the key is missing (Redis lost it).
pub async fn available(cache: &Cache, goods_id: Id) -> redis::RedisResult<Option<i64>> {
    let mut conn = cache.conn();
    conn.get(stock_key(cache, goods_id)).await
}

/// The available stock and its generation.
pub async fn snapshot(cache: &Cache, goods_id: Id) -> redis::RedisResult<(Option<i64>, String)> {
    let mut conn = cache.conn();
    let (n, g): (Option<i64>, Option<String>) = redis::pipe()
        .get(stock_key(cache, goods_id))
        .get(gen_key(cache, goods_id))
        .query_async(&mut conn)
        .await?;
    Ok((n, g.unwrap_or_default()))
}

/// Checks and decrements `quantity` atomically.
pub async fn reserve(cache: &Cache, goods_id: Id, quantity: u32) -> redis::RedisResult<Reserved> {
    let mut conn = cache.conn();
    let (left, generation): (i64, String) = RESERVE
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .arg(quantity)
        .invoke_async(&mut conn)
        .await?;
    Ok(match left {
        -1 => Reserved::Missing,
        -2 => Reserved::NotEnough,
        _ => Reserved::Taken { generation },
    })
}

/// Gives `quantity` back to generation `generation` (nothing when the cache was
/// rebuilt since); whether it was given back.
pub async fn give_back(
    cache: &Cache,
    goods_id: Id,
    quantity: u32,
    generation: &str,
) -> redis::RedisResult<bool> {
    let mut conn = cache.conn();
    GIVE_BACK
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .arg(quantity)
        .arg(generation)
        .invoke_async(&mut conn)
        .await
}

/// Sets the stock to `to` only if it still is `seen` of generation `generation`.
pub async fn compare_and_set(
    cache: &Cache,
    goods_id: Id,
    seen: i64,
    generation: &str,
    to: i64,
) -> redis::RedisResult<bool> {
    let mut conn = cache.conn();
    COMPARE_AND_SET
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .arg(seen)
        .arg(generation)
        .arg(to)
        .invoke_async(&mut conn)
        .await
}

/// Takes the rebuild lock of `goods_id` for `ttl`; whether it was free.
pub async fn lock_rebuild(cache: &Cache, goods_id: Id, ttl: Duration) -> redis::RedisResult<bool> {
    let mut conn = cache.conn();
    let options = redis::SetOptions::default()
        .conditional_set(redis::ExistenceCheck::NX)
        .with_expiration(redis::SetExpiry::PX(ttl.as_millis() as u64));
    let set: Option<String> = conn
        .set_options(rebuild_lock_key(cache, goods_id), 1, options)
        .await?;
    Ok(set.is_some())
}

pub async fn unlock_rebuild(cache: &Cache, goods_id: Id) -> redis::RedisResult<()> {
    let mut conn = cache.conn();
    conn.del(rebuild_lock_key(cache, goods_id)).await
}
