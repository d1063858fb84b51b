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

/// Migrations whose comments were rewritten after they shipped: `(service, version, the
/// SHA-384 that sqlx stored for the former text)`. Only comments changed (references to
/// design files outside the repository became references to `docs/`), but sqlx checksums
/// each migration's whole file and refuses a database whose stored checksum differs
/// ("previously applied but has been modified"). [`accept_rewritten_migrations`] runs
/// before migrating and replaces exactly these former checksums with the current ones;
/// any other difference still stops the migration. Add a row here whenever a shipped
/// migration's text must change without changing what it does.
pub const REWRITTEN_MIGRATIONS: &[(Service, i64, &str)] = &[
    (
        Service::Order,
        1,
        "eacb05bfcaa5c337492a66966d249d36ee5ed078f9e5fe2f2e823b7dabb0d6e3ce9c805be1473287fa2f3c31fb3c605a",
    ),
    (
        Service::Goods,
        1,
        "1a285480088c26be4cbc0d1cb858befeec12ac0f231f1f019214d8e99db4c47f8f7f1d99c2b294c8d7f5c2b459a82752",
    ),
    (
        Service::Coupon,
        1,
        "1cbbbe3facabdee48a58710cf12888d59df413f51f0415da336926425f10f9eb7b0a23e35a129da931bb75fd41b40b2b",
    ),
    (
        Service::User,
        1,
        "29a3b3d4b6f7842c88742774a2c5047683856d4759a3a6e539c65a6ff8ece6ec7f27dc5332d5568a9529b54b0183b85a",
    ),
    (
        Service::User,
        2,
        "b52adce3ea0c67a37746b1a39c3bdd3c28755aa3f967a86a0a78ff29fcc612447e6d7d39f519be935f93aacdd1064992",
    ),
    (
        Service::Pay,
        1,
        "c95a145469dcafcf1ab3bbcc240f972460df847628e60ae539fc96eababe89a5a6554d56ca0dfac5447173124a9be789",
    ),
];

/// Replaces the stored checksum of each of `service`'s [`REWRITTEN_MIGRATIONS`] with the
/// current one, where it equals the former one. Does nothing on a schema never migrated.
pub async fn accept_rewritten_migrations(pool: &MySqlPool, service: Service) -> Result<()> {
    let tracked: i64 = sqlx::query_scalar(
        r"select count(*) from information_schema.tables
          where table_schema = database() and table_name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    if tracked == 0 {
        return Ok(());
    }
    for &(_, version, former) in REWRITTEN_MIGRATIONS.iter().filter(|r| r.0 == service) {
        let current = migrator(service)
            .iter()
            .find(|m| m.version == version)
            .ok_or_else(|| Error::Other(format!("{service:?} has no migration {version}")))?;
        let former = hex::decode(former).map_err(|e| Error::Other(e.to_string()))?;
        let updated = sqlx::query(
            r"update _sqlx_migrations set checksum = ? where version = ? and checksum = ?",
        )
        .bind(&*current.checksum)
        .bind(version)
        .bind(former)
        .execute(pool)
        .await?
        .rows_affected();
        if updated > 0 {
            tracing::info!(
                ?service,
                version,
                "accepted the rewritten text of a migration"
            );
        }
    }
    Ok(())
}

/// How long a request waits for a pooled connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt to reach the server (to create the schema) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A pooled connection idle at least this long is pinged before it is handed out:
/// a restart of the server or its `wait_timeout` may have closed it meanwhile. One
/// used more recently is handed out as it is (sqlx's default pings before every
/// acquire: a round trip per transaction under load, for a connection that was
/// working a moment ago and fails like any statement would if it broke since).
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The span of one local transaction, `name` saying which (`db tx <name>` in a trace):
/// run the transaction's future `.instrument(transaction_span(…))`.
pub fn transaction_span(name: &str) -> tracing::Span {
    tracing::info_span!("transaction", otel.name = %format_args!("db tx {name}"),
        otel.kind = "client", db.system.name = "mariadb", db.operation.name = "transaction",
        shop.transaction = name)
}

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
        Database::connect_lazy_with_max(database_url, 32)
    }

    /// Like [`Database::connect_lazy`], with at most `max_connections` in the pool
    /// (one lets a test count a task's statements on one session).
    pub fn connect_lazy_with_max(database_url: &str, max_connections: u32) -> Result<Database> {
        let (server_url, schema) = split_database_url(database_url)?;
        let options = MySqlConnectOptions::from_str(database_url)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
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
        accept_rewritten_migrations(&self.pool, service).await?;
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
