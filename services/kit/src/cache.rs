//! Redis set-up: a lazy, self-healing connection with our own timeouts, and the
//! service's key prefix.
//!
//! Like the database, Redis is not needed to start: the connection is made on first
//! use and remade after a failure, and `/health` reports `redis` down meanwhile.

use std::{sync::Arc, time::Duration};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{Result, Unavailable};

/// How long one Redis command may take (the crate's default of 500 ms is too tight
/// for a loaded 2-core machine, and unbounded is never right).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The service's Redis: a shared connection and the prefix of every key it owns.
#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
    prefix: Arc<str>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Cache {
    /// A connection to `redis_url` made on first use; keys start with `prefix`.
    pub fn connect_lazy(redis_url: &str, prefix: &str) -> Result<Cache> {
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Cache {
            conn,
            prefix: prefix.into(),
        })
    }

    /// A handle for commands (cheap to clone; all share one multiplexed connection).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
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
