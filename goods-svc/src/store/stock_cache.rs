//! The Redis cache of available stock. Per goods (the goods id in braces is the
//! keys' hash tag: on a Redis Cluster every key of one goods item is in one slot,
//! so each script below runs on one node):
//! - `<prefix>stock:{<goods_id>}`: units that can still be reserved;
//! - `<prefix>stock-gen:{<goods_id>}`: the cache's generation, new at every rebuild;
//! - `<prefix>stock-inflight:{<goods_id>}`: a hash of the reservations in flight,
//!   journal id → `"<quantity> <generation> <deadline ms>"` (plus ` c` when it
//!   committed while a rebuild held the stock), written by the decrement itself and
//!   removed when the reservation's outcome is known;
//! - `<prefix>stock-given:{<goods_id>}:<journal_id>`: the generation a cancelled
//!   journal's units were given back to (expires after a day).
//!
//! and, for the whole service, `<prefix>stock-epoch` (a counter the reconciler
//! increments, so Redis going back to older data is seen) and `<prefix>stock-changed`
//! (the set of goods the reconciler must look at).
//!
//! Every change of one goods item is one Lua script over its keys, so check-and-
//! decrement is atomic and a rebuild can count the reservations in flight: one that
//! commits after the rebuild read MySQL is charged to the new generation, one that
//! rolls back gives its units back only to the generation it took them from.

use std::{sync::LazyLock, time::Duration};

use redis::{AsyncCommands, Script};
use shop_kit::{cache::Cache, ids::Id};

/// The key of `goods_id`'s available stock.
pub fn stock_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock:{{{goods_id}}}"))
}

/// The key of the generation of `goods_id`'s cached stock.
pub fn gen_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock-gen:{{{goods_id}}}"))
}

/// The key of `goods_id`'s reservations in flight.
pub fn inflight_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock-inflight:{{{goods_id}}}"))
}

/// The key marking the give-back of cancelled journal `journal_id`.
pub fn given_key(cache: &Cache, goods_id: Id, journal_id: &str) -> String {
    cache.key(format!("stock-given:{{{goods_id}}}:{journal_id}"))
}

fn rebuild_lock_key(cache: &Cache, goods_id: Id) -> String {
    cache.key(format!("stock-rebuild:{{{goods_id}}}"))
}

/// The service's epoch counter.
pub fn epoch_key(cache: &Cache) -> String {
    cache.key("stock-epoch")
}

/// The set of goods the reconciler looks at next.
pub fn changed_key(cache: &Cache) -> String {
    cache.key("stock-changed")
}

/// How long the mark of a give-back is kept: far longer than any retry of it.
const GIVEN_TTL_SECONDS: u64 = 86_400;

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
        local left = redis.call('DECRBY', KEYS[1], q)
        redis.call('HSET', KEYS[3], ARGV[2], ARGV[1] .. ' ' .. g .. ' ' .. ARGV[3])
        return {left, g}
        ",
    )
});

// ARGV[2] = '1': the journal committed; '0': it did not and never will.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local e = redis.call('HGET', KEYS[3], ARGV[1])
        if not e then return 0 end
        if redis.call('EXISTS', KEYS[1]) == 0 then
            if ARGV[2] == '1' then
                redis.call('HSET', KEYS[3], ARGV[1], e .. ' c')
            else
                redis.call('HDEL', KEYS[3], ARGV[1])
            end
            return 2
        end
        redis.call('HDEL', KEYS[3], ARGV[1])
        local q, g = string.match(e, '^(%d+) (%S*) ')
        local current = redis.call('GET', KEYS[2]) or ''
        if ARGV[2] == '1' then
            if g ~= current then redis.call('DECRBY', KEYS[1], q) end
        elseif g == current then
            redis.call('INCRBY', KEYS[1], q)
        end
        return 1
        ",
    )
});

static GIVE_BACK_CANCELLED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        local current = redis.call('GET', KEYS[2]) or ''
        if redis.call('GET', KEYS[3]) == current then return 0 end
        redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
        redis.call('SET', KEYS[3], current, 'EX', tonumber(ARGV[2]))
        return 1
        ",
    )
});

static FREEZE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('DEL', KEYS[1])
        redis.call('SET', KEYS[2], ARGV[1])
        return redis.call('HGETALL', KEYS[3])
        ",
    )
});

// ARGV: generation, value, then the journal ids MySQL counted.
static REBUILD_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        for i = 3, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
        local v = tonumber(ARGV[2])
        local all = redis.call('HGETALL', KEYS[3])
        for i = 1, #all, 2 do
            local e = all[i + 1]
            if string.sub(e, -2) == ' c' then
                v = v - tonumber(string.match(e, '^(%d+)'))
                redis.call('HDEL', KEYS[3], all[i])
            end
        end
        redis.call('SET', KEYS[1], v)
        return 1
        ",
    )
});

static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '',
                redis.call('HGETALL', KEYS[3])}
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

/// The available stock of `goods_id`, `None` when the key is missing (Redis lost it).
pub async fn available(cache: &Cache, goods_id: Id) -> redis::RedisResult<Option<i64>> {
    let mut conn = cache.conn();
    conn.get(stock_key(cache, goods_id)).await
}

/// One reservation in flight, as the cache holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub journal_id: String,
    pub quantity: u32,
    pub generation: String,
    /// Milliseconds since the epoch by which its journal commits or never does.
    pub deadline_ms: u64,
    /// It committed while a rebuild held the stock.
    pub committed: bool,
}

fn parse_inflight(pairs: Vec<String>) -> Vec<InFlight> {
    pairs
        .chunks_exact(2)
        .filter_map(|pair| {
            let mut parts = pair[1].split(' ');
            Some(InFlight {
                journal_id: pair[0].clone(),
                quantity: parts.next()?.parse().ok()?,
                generation: parts.next()?.to_owned(),
                deadline_ms: parts.next()?.parse().ok()?,
                committed: parts.next() == Some("c"),
            })
        })
        .collect()
}

/// The cache of one goods item at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `None`: missing (Redis lost it, or a rebuild holds it).
    pub available: Option<i64>,
    pub generation: String,
    pub in_flight: Vec<InFlight>,
}

/// The available stock, its generation and the reservations in flight, atomically.
pub async fn snapshot(cache: &Cache, goods_id: Id) -> redis::RedisResult<Snapshot> {
    let mut conn = cache.conn();
    let (available, generation, pairs): (String, String, Vec<String>) = SNAPSHOT
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .key(inflight_key(cache, goods_id))
        .invoke_async(&mut conn)
        .await?;
    Ok(Snapshot {
        available: available.parse().ok(),
        generation,
        in_flight: parse_inflight(pairs),
    })
}

/// Checks and decrements `quantity` atomically, recording reservation `journal_id`
/// as in flight until `deadline_ms`.
pub async fn reserve(
    cache: &Cache,
    goods_id: Id,
    quantity: u32,
    journal_id: &str,
    deadline_ms: u64,
) -> redis::RedisResult<Reserved> {
    let mut conn = cache.conn();
    let (left, generation): (i64, String) = RESERVE
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .key(inflight_key(cache, goods_id))
        .arg(quantity)
        .arg(journal_id)
        .arg(deadline_ms)
        .invoke_async(&mut conn)
        .await?;
    Ok(match left {
        -1 => Reserved::Missing,
        -2 => Reserved::NotEnough,
        _ => Reserved::Taken { generation },
    })
}

/// Ends reservation `journal_id`'s time in flight: `committed` keeps its units
/// taken (charging them to a generation rebuilt since), otherwise they go back to
/// the generation they came from. Nothing when it was settled before.
pub async fn settle(
    cache: &Cache,
    goods_id: Id,
    journal_id: &str,
    committed: bool,
) -> redis::RedisResult<()> {
    let mut conn = cache.conn();
    SETTLE
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .key(inflight_key(cache, goods_id))
        .arg(journal_id)
        .arg(if committed { "1" } else { "0" })
        .invoke_async::<i64>(&mut conn)
        .await?;
    Ok(())
}

/// What giving a cancelled journal's units back did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GivenBack {
    Now,
    /// Given back to this generation before: nothing changed.
    Before,
    /// The cache is missing (lost, or being rebuilt): the rebuild leaves the units
    /// out while the give-back is pending, so it is done later.
    CacheMissing,
}

/// Gives the `quantity` units of cancelled journal `journal_id` back, once per
/// generation.
pub async fn give_back_cancelled(
    cache: &Cache,
    goods_id: Id,
    journal_id: &str,
    quantity: u32,
) -> redis::RedisResult<GivenBack> {
    let mut conn = cache.conn();
    let done: i64 = GIVE_BACK_CANCELLED
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .key(given_key(cache, goods_id, journal_id))
        .arg(quantity)
        .arg(GIVEN_TTL_SECONDS)
        .invoke_async(&mut conn)
        .await?;
    Ok(match done {
        1 => GivenBack::Now,
        0 => GivenBack::Before,
        _ => GivenBack::CacheMissing,
    })
}

/// Starts a rebuild: removes the available stock (reservations wait for the
/// rebuild), sets generation `generation`, and returns the reservations in flight.
pub async fn freeze(
    cache: &Cache,
    goods_id: Id,
    generation: &str,
) -> redis::RedisResult<Vec<InFlight>> {
    let mut conn = cache.conn();
    let pairs: Vec<String> = FREEZE
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .key(inflight_key(cache, goods_id))
        .arg(generation)
        .invoke_async(&mut conn)
        .await?;
    Ok(parse_inflight(pairs))
}

/// Ends a rebuild: sets the stock to `available` (what MySQL counted, `counted`
/// being the reservations in flight its read already saw) minus the reservations
/// that committed since; `false` when another rebuild took over.
pub async fn finish_rebuild(
    cache: &Cache,
    goods_id: Id,
    generation: &str,
    available: i64,
    counted: &[String],
) -> redis::RedisResult<bool> {
    let mut conn = cache.conn();
    let mut invocation = REBUILD_SET.prepare_invoke();
    invocation
        .key(stock_key(cache, goods_id))
        .key(gen_key(cache, goods_id))
        .key(inflight_key(cache, goods_id))
        .arg(generation)
        .arg(available);
    for journal_id in counted {
        invocation.arg(journal_id);
    }
    let done: i64 = invocation.invoke_async(&mut conn).await?;
    Ok(done == 1)
}

/// Marks `goods_ids` for the reconciler's next pass.
pub async fn mark_changed(cache: &Cache, goods_ids: &[Id]) -> redis::RedisResult<()> {
    if goods_ids.is_empty() {
        return Ok(());
    }
    let mut conn = cache.conn();
    let ids: Vec<u64> = goods_ids.iter().map(|id| id.0).collect();
    conn.sadd(changed_key(cache), ids).await
}

/// Takes up to `count` goods marked changed.
pub async fn take_changed(cache: &Cache, count: usize) -> redis::RedisResult<Vec<Id>> {
    let mut conn = cache.conn();
    let ids: Vec<u64> = redis::cmd("SPOP")
        .arg(changed_key(cache))
        .arg(count)
        .query_async(&mut conn)
        .await?;
    Ok(ids.into_iter().map(Id).collect())
}

/// Removes the available stock of `goods_ids`, so each is rebuilt (with the wait
/// for reservations a lost cache cannot count) on its next use.
pub async fn forget(cache: &Cache, goods_ids: &[Id]) -> redis::RedisResult<()> {
    if goods_ids.is_empty() {
        return Ok(());
    }
    let mut conn = cache.conn();
    // One DEL: a cluster connection splits it by slot.
    let keys: Vec<String> = goods_ids.iter().map(|id| stock_key(cache, *id)).collect();
    conn.del(keys).await
}

/// Who Redis is: its `run_id` (new at every start; on a cluster, every master's,
/// so any node restarted or failed over shows) and the epoch counter, which this
/// call increments.
pub async fn identity(cache: &Cache) -> redis::RedisResult<(String, i64)> {
    let mut conn = cache.conn();
    // One server answers with its text; a cluster with each master's.
    let info: redis::Value = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    let texts: Vec<String> = match info {
        redis::Value::Map(nodes) => nodes
            .into_iter()
            .filter_map(|(_, text)| redis::from_redis_value(text).ok())
            .collect(),
        single => vec![redis::from_redis_value(single)?],
    };
    let mut run_ids: Vec<&str> = texts
        .iter()
        .filter_map(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("run_id:"))
                .map(str::trim)
        })
        .collect();
    run_ids.sort_unstable();
    let run_id = run_ids.join(",");
    let epoch: i64 = conn.incr(epoch_key(cache), 1).await?;
    Ok((run_id, epoch))
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
