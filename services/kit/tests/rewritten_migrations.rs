//! Migrations whose comments were rewritten after they shipped: a database migrated
//! with the former text (its stored checksums are those of the former files) migrates
//! cleanly with the current binary, while any other checksum difference still stops it.
//! Real MariaDB (`SHOP_TEST_MYSQL_URL`, default root on 127.0.0.1:3306).

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha384};
use shop_kit::{
    db::{Database, REWRITTEN_MIGRATIONS, migrator},
    settings::Service,
};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection, MySqlPool, migrate::MigrateError};

fn mysql_server_url() -> String {
    std::env::var("SHOP_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A fresh schema name that the test kit's stale-schema sweep recognises
/// (`shop_test_<unix seconds>_…`), in case this process is killed before it drops it.
fn fresh_schema(service: Service) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!(
        "shop_test_{}_{:06}_rewritten_{}",
        now.as_secs(),
        now.subsec_micros(),
        service.name()
    )
}

async fn drop_schema(schema: &str) {
    let mut conn = MySqlConnection::connect(&mysql_server_url()).await.unwrap();
    let sql = format!("drop database if exists `{schema}`");
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
}

async fn stored_checksum(pool: &MySqlPool, version: i64) -> Vec<u8> {
    sqlx::query_scalar("select checksum from _sqlx_migrations where version = ?")
        .bind(version)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn store_checksum(pool: &MySqlPool, version: i64, checksum: &[u8]) {
    sqlx::query("update _sqlx_migrations set checksum = ? where version = ?")
        .bind(checksum)
        .bind(version)
        .execute(pool)
        .await
        .unwrap();
}

fn current_checksum(service: Service, version: i64) -> Vec<u8> {
    migrator(service)
        .iter()
        .find(|m| m.version == version)
        .unwrap()
        .checksum
        .to_vec()
}

/// Every service with a rewritten migration.
fn rewritten_services() -> Vec<Service> {
    let mut services: Vec<Service> = REWRITTEN_MIGRATIONS.iter().map(|r| r.0).collect();
    services.dedup();
    services
}

#[tokio::test]
async fn a_schema_migrated_with_the_former_text_migrates_cleanly_with_the_new_binary() {
    for service in rewritten_services() {
        // Arrange: a schema migrated as a binary built from the former files left it.
        // The former files differ from the current ones in comments only, so the
        // tables are the same; what differs is the checksum sqlx stored.
        let schema = fresh_schema(service);
        let db = Database::connect_lazy(&format!("{}/{schema}", mysql_server_url())).unwrap();
        db.migrate(service).await.unwrap();
        let pool = db.raw_pool();
        for &(_, version, former) in REWRITTEN_MIGRATIONS.iter().filter(|r| r.0 == service) {
            store_checksum(pool, version, &hex::decode(former).unwrap()).await;
        }
        // Without the step, sqlx refuses this database (what the new binary would do).
        let refused = migrator(service).run(pool).await;
        assert!(
            matches!(refused, Err(MigrateError::VersionMismatch(_))),
            "{service:?}: sqlx alone should refuse the former checksums, got {refused:?}"
        );

        // Act: the service's start-up migration.
        let restarted =
            Database::connect_lazy(&format!("{}/{schema}", mysql_server_url())).unwrap();
        let migrated = restarted.migrate(service).await;

        // Assert: it migrates, and the stored checksums are the current ones.
        assert!(migrated.is_ok(), "{service:?}: {migrated:?}");
        for &(_, version, _) in REWRITTEN_MIGRATIONS.iter().filter(|r| r.0 == service) {
            assert_eq!(
                stored_checksum(pool, version).await,
                current_checksum(service, version),
                "{service:?} migration {version}"
            );
        }
        pool.close().await;
        restarted.raw_pool().close().await;
        drop_schema(&schema).await;
    }
}

#[tokio::test]
async fn a_migration_changed_in_any_other_way_still_stops_the_start_up() {
    let service = Service::Order;
    let schema = fresh_schema(service);
    let db = Database::connect_lazy(&format!("{}/{schema}", mysql_server_url())).unwrap();
    db.migrate(service).await.unwrap();
    let unknown = Sha384::digest(b"-- some other text").to_vec();
    store_checksum(db.raw_pool(), 1, &unknown).await;

    let restarted = Database::connect_lazy(&format!("{}/{schema}", mysql_server_url())).unwrap();
    let migrated = restarted.migrate(service).await;

    assert!(
        migrated.is_err(),
        "an unknown checksum must not be accepted"
    );
    assert_eq!(stored_checksum(db.raw_pool(), 1).await, unknown);
    db.raw_pool().close().await;
    restarted.raw_pool().close().await;
    drop_schema(&schema).await;
}

/// The former checksums in the table are SHA-384 digests of the former files, taken
/// with `sha384sum`; this holds only if sqlx's checksum is the SHA-384 of the file.
#[test]
fn the_checksum_sqlx_stores_is_the_sha384_of_the_migration_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    for service in [
        Service::Order,
        Service::Goods,
        Service::Coupon,
        Service::User,
        Service::Pay,
    ] {
        for migration in migrator(service).iter() {
            let dir = root.join(service.name());
            let file = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("{:04}_", migration.version))
                })
                .unwrap();
            let text = std::fs::read(&file).unwrap();
            assert_eq!(
                Sha384::digest(&text).to_vec(),
                migration.checksum.to_vec(),
                "{}",
                file.display()
            );
        }
    }
}
