//! MySQL set-up: a lazy pool on the service's schema, and the background task that
//! creates the schema if missing and applies the service's embedded migrations.
//!
//! The pool never blocks start-up: the app starts and answers `/health` (503 naming
//! `database`) while MariaDB is down, and keeps retrying until the schema is ready.
//! Handlers reach the pool through [`Database::pool`], which answers
//! [`Unavailable`] until the migrations are applied.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection, MySqlPool,
    migrate::Migrator,
    mysql::{MySqlConnectOptions, MySqlPoolOptions},
};
use tokio_util::sync::CancellationToken;

use crate::{
    error::{Error, Result, Unavailable},
    settings::Service,
};

static ORDER: Migrator = sqlx::migrate!("../../migrations/order");
static GOODS: Migrator = sqlx::migrate!("../../migrations/goods");
static COUPON: Migrator = sqlx::migrate!("../../migrations/coupon");
static USER: Migrator = sqlx::migrate!("../../migrations/user");
static PAY: Migrator = sqlx::migrate!("../../migrations/pay");

/// The migrations of `service` (`migrations/<service>/`), embedded in the binary.
pub fn migrator(service: Service) -> &'static Migrator {
    match service {
        Service::Order => &ORDER,
        Service::Goods => &GOODS,
        Service::Coupon => &COUPON,
        Service::User => &USER,
        Service::Pay => &PAY,
    }
}

/// How long a request waits for a pooled connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt to reach the server (to create the schema) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The service's database: a lazy pool and whether its schema is ready.
#[derive(Clone, Debug)]
pub struct Database {
    pool: MySqlPool,
    schema: Arc<str>,
    server_url: Arc<str>,
    ready: Arc<AtomicBool>,
}

impl Database {
    /// A pool on `database_url` that connects on first use; nothing is contacted yet.
    pub fn connect_lazy(database_url: &str) -> Result<Database> {
        let (server_url, schema) = split_database_url(database_url)?;
        let options = MySqlConnectOptions::from_str(database_url)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(32)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Database {
            pool,
            schema: schema.into(),
            server_url: server_url.into(),
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The pool, once the schema is migrated; until then 503 `UNAVAILABLE`.
    pub fn pool(&self) -> Result<&MySqlPool, Unavailable> {
        if self.is_ready() {
            Ok(&self.pool)
        } else {
            Err(Unavailable::new("database"))
        }
    }

    /// The pool even before the schema is ready (tests, health).
    pub fn raw_pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The schema named in `DATABASE_URL`.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether the database answers `select 1` within `timeout` and is migrated.
    pub async fn ping(&self, timeout: Duration) -> bool {
        if !self.is_ready() {
            return false;
        }
        let probe = async {
            let mut conn = self.pool.acquire().await?;
            conn.ping().await
        };
        matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(())))
    }

    /// Creates the schema if missing and applies `service`'s migrations, once.
    pub async fn migrate(&self, service: Service) -> Result<()> {
        let server = MySqlConnectOptions::from_str(&self.server_url)?;
        let create = async {
            let mut conn = server.connect().await?;
            let sql = format!(
                "create database if not exists `{}` character set utf8mb4 collate utf8mb4_unicode_ci",
                self.schema
            );
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
            conn.close().await
        };
        tokio::time::timeout(CONNECT_TIMEOUT, create)
            .await
            .map_err(|_| Error::Other("timed out reaching the database server".into()))??;
        migrator(service).run(&self.pool).await?;
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Keeps calling [`Database::migrate`] in the background until it succeeds or
    /// `shutdown` is cancelled.
    pub fn spawn_migrations(
        &self,
        service: Service,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let db = self.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            let mut attempts = 0u32;
            loop {
                match db.migrate(service).await {
                    Ok(()) => {
                        tracing::info!(schema = %db.schema, "database ready: schema migrated");
                        return;
                    }
                    Err(error) => {
                        attempts += 1;
                        if attempts == 1 || attempts % 30 == 0 {
                            tracing::warn!(%error, attempts, schema = %db.schema,
                                "database not ready; retrying");
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        tracing::info!("migration task stopped: shutting down");
                        return;
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        })
    }
}

/// `mysql://u@h:3306/shop_user?x=y` → (`mysql://u@h:3306?x=y`, `shop_user`).
/// The schema name must be a plain identifier, since it is written into DDL.
pub fn split_database_url(url: &str) -> Result<(String, String)> {
    let bad = |reason: &str| Error::Other(format!("DATABASE_URL {url:?}: {reason}"));
    let after_scheme = url.find("://").ok_or_else(|| bad("expected mysql://…"))? + 3;
    let slash = url[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .ok_or_else(|| bad("names no schema"))?;
    let (path, query) = match url[slash + 1..].split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (&url[slash + 1..], None),
    };
    if path.is_empty() {
        return Err(bad("names no schema"));
    }
    if !path.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad("the schema name may hold only letters, digits and _"));
    }
    let mut server = url[..slash].to_owned();
    if let Some(query) = query {
        server.push('?');
        server.push_str(query);
    }
    Ok((server, path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_split_off_the_database_url() {
        let (server, schema) =
            split_database_url("mysql://root@127.0.0.1:3306/shop_user?ssl-mode=disabled").unwrap();
        assert_eq!(server, "mysql://root@127.0.0.1:3306?ssl-mode=disabled");
        assert_eq!(schema, "shop_user");
        assert!(split_database_url("mysql://root@127.0.0.1:3306").is_err());
        assert!(split_database_url("mysql://root@h/shop;drop").is_err());
    }
}
