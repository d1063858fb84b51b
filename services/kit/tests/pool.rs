//! The pool pings a connection only when it was idle for [`PING_IDLE_AFTER`] or more:
//! one killed while idle that long is replaced before it is handed out, and one used a
//! moment ago is handed out without the round trip (its next statement fails, as it
//! would had it broken during the statement). Real MariaDB (`SHOP_TEST_MYSQL_URL`,
//! default root on 127.0.0.1:3306).

use std::time::{Duration, Instant};

use shop_kit::db::{Database, PING_IDLE_AFTER};
use sqlx::{Connection, MySqlConnection};

fn mysql_server_url() -> String {
    std::env::var("SHOP_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A pool of one connection on the `mysql` schema (no migrations needed).
fn one_connection_pool() -> Database {
    Database::connect_lazy_with_max(&format!("{}/mysql", mysql_server_url()), 1).unwrap()
}

async fn connection_id(db: &Database) -> sqlx::Result<u64> {
    sqlx::query_scalar("select connection_id()")
        .fetch_one(db.raw_pool())
        .await
}

/// Kills the server session `id` and waits until the server no longer lists it.
async fn kill(id: u64) {
    let mut admin = MySqlConnection::connect(&mysql_server_url()).await.unwrap();
    sqlx::query("kill ?")
        .bind(id)
        .execute(&mut admin)
        .await
        .unwrap();
    let gave_up = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 =
            sqlx::query_scalar("select count(*) from information_schema.processlist where id = ?")
                .bind(id)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < gave_up,
            "session {id} still listed after kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_connection_killed_while_idle_is_replaced_before_it_is_handed_out() {
    let db = one_connection_pool();
    let first = connection_id(&db).await.unwrap();
    kill(first).await;
    // The condition is the connection's idle time itself.
    tokio::time::sleep(PING_IDLE_AFTER + Duration::from_millis(100)).await;
    let second = connection_id(&db)
        .await
        .expect("the dead connection was pinged and replaced");
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_connection_used_a_moment_ago_is_handed_out_without_a_ping() {
    let db = one_connection_pool();
    let first = connection_id(&db).await.unwrap();
    let used_at = Instant::now();
    kill(first).await;
    assert!(
        used_at.elapsed() < PING_IDLE_AFTER,
        "the kill took longer than the ping threshold; the test cannot tell"
    );
    // No ping: the statement meets the dead session and fails.
    assert!(connection_id(&db).await.is_err());
    // The broken connection was dropped: the next one is new.
    let second = connection_id(&db).await.unwrap();
    assert_ne!(first, second);
}
