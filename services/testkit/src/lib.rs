//! Test support: start a service's real app on port 0 against the real MariaDB and
//! Redis, each test in its own fresh schemas and Redis key prefix, so tests run in
//! parallel and leave nothing behind.
//!
//! ```ignore
//! let env = TestEnv::new().await;
//! let users = env.spawn::<user_svc::App>().await;
//! let coupons = env.spawn::<coupon_svc::App>().await; // USER_SVC_URL → `users`
//! let res = users.post("/users", &json!({"name": "Ann", "balance": "10"})).await;
//! ```
//!
//! A test's services share one [`TestBroker`]: the real `mq` broker, in-process.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rand::Rng;
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection, MySqlConnection, MySqlPool};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use shop_kit::{
    server::{ShopApp, base_url},
    settings::{Service, Settings},
};

/// The MariaDB server tests use (no schema); `SHOP_TEST_MYSQL_URL` overrides it.
pub fn mysql_server_url() -> String {
    std::env::var("SHOP_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The Redis tests use; `SHOP_TEST_REDIS_URL` overrides it.
pub fn redis_url() -> String {
    std::env::var("SHOP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Test schemas older than this are dropped when a later test run starts (left over
/// by a test process that was killed).
const STALE_AFTER: Duration = Duration::from_secs(2 * 3600);

/// The MariaDB connection limit the tests raise the server to (if lower).
const TEST_MAX_CONNECTIONS: u32 = 2000;

/// The table definition cache the tests raise the server to (if lower).
const TEST_TABLE_DEFINITIONS: u32 = 4000;

/// How long a spawned app may take to become healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

mod broker;
pub mod checks;
mod database;
mod env;
mod process;
mod redis_cluster;
pub mod rocketmq;

pub use broker::{BrokerProcess, TestBroker};
use database::drop_stale_schemas_once;
pub use database::{delete_redis_keys, delete_redis_keys_at, drop_schemas};
pub use env::{TestApp, TestEnv};
pub use process::{ServiceProcess, settings_env};
pub use redis_cluster::RedisCluster;
pub use rocketmq::RocketMq;

/// Shared handle type for tests that keep several apps.
pub type SharedApp = Arc<TestApp>;

/// A local address nothing listens on (bound, then released).
pub async fn closed_port_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port to release");
    listener.local_addr().expect("bound address")
}

/// A `DATABASE_URL` whose port is closed: the app must start and report `database`
/// down.
pub async fn closed_port_database_url() -> String {
    format!("mysql://root@{}/shop_test_closed", closed_port_addr().await)
}

/// Reads a JSON answer, panicking with the body when it is not JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.expect("read the body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts `response` is `status` with error `code`; returns the error body.
pub async fn assert_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    let got = response.status().as_u16();
    let body = json(response).await;
    assert_eq!(got, status, "status; body {body}");
    assert_eq!(body["code"], code, "code; body {body}");
    assert!(body["message"].is_string(), "message; body {body}");
    body
}

/// Asserts `response` is 400 `INVALID_REQUEST` naming `field`.
pub async fn assert_invalid_field(response: reqwest::Response, field: &str) {
    let body = assert_error(response, 400, "INVALID_REQUEST").await;
    assert_eq!(body["field"], field, "field; body {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "message names {field}: {body}");
}

/// Polls `check` every 50 ms until it gives `Some`, or panics naming `what` after
/// `timeout`: the way tests wait for asynchronous effects instead of sleeping.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("gave up after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
