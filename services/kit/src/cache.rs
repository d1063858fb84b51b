//! Redis set-up: a lazy, self-healing connection with our own timeouts, and the
//! service's key prefix.
//!
//! Like the database, Redis is not needed to start: the connection is made on first
//! use and remade after a failure, and `/health` reports `redis` down meanwhile.
//!
//! `REDIS_URL` names one server, or a Redis Cluster as its nodes separated by commas
//! (`redis://10.0.0.1:6379,redis://10.0.0.2:6379,…`; any reachable ones will do,
//! the rest are discovered). Every command and script goes through [`CacheConn`],
//! which routes by key on a cluster, so a script's keys must share a hash slot:
//! the keys of one goods item carry it as their hash tag (`stock:{42}`).

use std::{sync::Arc, time::Duration};

use redis::{
    Cmd, Pipeline, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};
use tokio::sync::OnceCell;

use crate::error::{Result, Unavailable};

/// How long one Redis command may take (the crate's default of 500 ms is too tight
/// for a loaded 2-core machine, and unbounded is never right).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The service's Redis: a shared connection and the prefix of every key it owns.
#[derive(Clone)]
pub struct Cache {
    conn: CacheConn,
    prefix: Arc<str>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .field("cluster", &self.is_cluster())
            .finish()
    }
}

/// A connection to one Redis server or to a Redis Cluster; both reconnect by
/// themselves. Commands, pipelines (of one hash slot on a cluster) and scripts
/// run on either.
#[derive(Clone)]
pub enum CacheConn {
    Single(ConnectionManager),
    Cluster(Box<LazyCluster>),
}

/// A cluster connection made on first use (the cluster need not be up when the
/// service starts), then shared.
#[derive(Clone)]
pub struct LazyCluster {
    client: ClusterClient,
    conn: Arc<OnceCell<ClusterConnection>>,
}

impl LazyCluster {
    async fn get(&self) -> redis::RedisResult<ClusterConnection> {
        self.conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

impl ConnectionLike for CacheConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            CacheConn::Single(conn) => conn.req_packed_command(cmd),
            CacheConn::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            CacheConn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            CacheConn::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_commands(pipeline, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The nodes of a cluster URL (several, separated by commas); `None` for one server.
pub fn cluster_nodes(redis_url: &str) -> Option<Vec<&str>> {
    let nodes: Vec<&str> = redis_url
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    (nodes.len() > 1).then_some(nodes)
}

impl Cache {
    /// A connection to `redis_url` made on first use; keys start with `prefix`.
    pub fn connect_lazy(redis_url: &str, prefix: &str) -> Result<Cache> {
        if let Some(nodes) = cluster_nodes(redis_url) {
            let client = ClusterClient::builder(nodes)
                .response_timeout(RESPONSE_TIMEOUT)
                .connection_timeout(CONNECT_TIMEOUT)
                .retries(2)
                .build()?;
            return Ok(Cache {
                conn: CacheConn::Cluster(Box::new(LazyCluster {
                    client,
                    conn: Arc::default(),
                })),
                prefix: prefix.into(),
            });
        }
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Cache {
            conn: CacheConn::Single(conn),
            prefix: prefix.into(),
        })
    }

    /// A handle for commands (cheap to clone; all share one multiplexed connection).
    pub fn conn(&self) -> CacheConn {
        self.conn.clone()
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, CacheConn::Cluster(_))
    }

    /// `prefix` + `name`: every key the service writes goes through here.
    pub fn key(&self, name: impl std::fmt::Display) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether Redis answers `PING` within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let mut conn = self.conn();
        let ping = redis::cmd("PING");
        let probe = ping.query_async::<String>(&mut conn);
        matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(_)))
    }
}

/// A Redis failure seen by a handler is the caller's 503.
impl From<redis::RedisError> for Unavailable {
    fn from(error: redis::RedisError) -> Self {
        tracing::warn!(%error, "redis unavailable");
        Unavailable::new("redis")
    }
}
