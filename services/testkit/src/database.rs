//! The test schemas and Redis keys: dropping a test's own, and once per process
//! raising the server's limits and dropping what killed test processes left.

use super::*;

/// Drops `schemas` (test clean-up).
pub async fn drop_schemas(schemas: &[String]) -> Result<(), sqlx::Error> {
    if schemas.is_empty() {
        return Ok(());
    }
    let mut conn = MySqlConnection::connect(&mysql_server_url()).await?;
    for schema in schemas {
        let sql = format!("drop database if exists `{schema}`");
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
    }
    conn.close().await
}

/// Deletes every Redis key under `prefix`.
pub async fn delete_redis_keys(prefix: &str) -> redis::RedisResult<()> {
    delete_redis_keys_at(&redis_url(), prefix).await.map(|_| ())
}

/// Deletes every key under `prefix` in the Redis at `url`: one server, or every
/// node of a cluster URL (nodes separated by commas), as a Redis that restarted
/// empty would lose them; how many there were.
pub async fn delete_redis_keys_at(url: &str, prefix: &str) -> redis::RedisResult<usize> {
    let nodes = shop_kit::cache::cluster_nodes(url).unwrap_or_else(|| vec![url]);
    let mut deleted = 0;
    for node in nodes {
        let client = redis::Client::open(node)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await?;
        // One key a command: a cluster node refuses several keys of other slots.
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.del(key).ignore();
        }
        if !keys.is_empty() {
            pipe.query_async::<()>(&mut conn).await?;
        }
        deleted += keys.len();
    }
    Ok(deleted)
}

/// Once per test process: raises the server's connection limit and drops
/// `shop_test_<stamp>_…` schemas older than [`STALE_AFTER`] (left by killed test
/// processes).
pub(super) async fn drop_stale_schemas_once() {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.set(()).is_err() {
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let work = async {
        let mut conn = MySqlConnection::connect(&mysql_server_url()).await?;
        // Tests run several whole shops at once, each service with its own pool: the
        // server's default of 151 connections is too few.
        sqlx::query("set global max_connections = greatest(@@global.max_connections, ?)")
            .bind(TEST_MAX_CONNECTIONS)
            .execute(&mut conn)
            .await?;
        // Many schemas of a few tables each: a table definition cache smaller than
        // their sum has every statement wait in "Opening tables".
        sqlx::query(
            "set global table_definition_cache = greatest(@@global.table_definition_cache, ?)",
        )
        .bind(TEST_TABLE_DEFINITIONS)
        .execute(&mut conn)
        .await?;
        let names: Vec<String> = sqlx::query_scalar(
            r"select schema_name from information_schema.schemata where schema_name like 'shop\_test\_%'",
        )
        .fetch_all(&mut conn)
        .await?;
        conn.close().await?;
        let stale: Vec<String> = names
            .into_iter()
            .filter(|name| {
                name.split('_')
                    .nth(2)
                    .and_then(|stamp| stamp.parse::<u64>().ok())
                    .is_some_and(|stamp| now.saturating_sub(stamp) > STALE_AFTER.as_secs())
            })
            .collect();
        drop_schemas(&stale).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), work).await;
}
