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

use crate::{
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

/// The test's own broker: the real `mq` broker started in-process on free ports,
/// storing in a temporary folder that goes away with it. It can be killed (or
/// stopped) and restarted on the same folder and the same ports, so the services'
/// `MQ_ADDR` stays right across the outage.
pub struct TestBroker {
    handle: Mutex<Option<mq::BrokerHandle>>,
    addr: SocketAddr,
    admin_addr: SocketAddr,
    data: tempfile::TempDir,
}

/// How long a restarting broker waits for its old ports to be free.
const BROKER_REBIND_TIMEOUT: Duration = Duration::from_secs(10);

impl TestBroker {
    pub async fn start() -> TestBroker {
        let data = tempfile::tempdir().expect("a temporary folder for the broker");
        let config = Self::config(data.path(), "127.0.0.1:0", "127.0.0.1:0");
        let handle = mq::Broker::start(config)
            .await
            .expect("the in-process broker starts");
        TestBroker {
            addr: handle.addr,
            admin_addr: handle.admin_addr,
            handle: Mutex::new(Some(handle)),
            data,
        }
    }

    fn config(dir: &std::path::Path, listen: &str, admin: &str) -> mq::BrokerConfig {
        mq::BrokerConfig {
            listen: listen.into(),
            admin_listen: admin.into(),
            // Undecided half messages are checked back within seconds.
            txn_check_after: Duration::from_secs(1),
            txn_check_interval: Duration::from_secs(1),
            ..mq::BrokerConfig::for_tests(dir)
        }
    }

    /// `MQ_ADDR` of the services under test (the same across restarts).
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The broker's admin HTTP address (the same across restarts).
    pub fn admin_addr(&self) -> String {
        self.admin_addr.to_string()
    }

    /// The broker's data folder.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    pub fn is_running(&self) -> bool {
        self.lock_handle().is_some()
    }

    fn lock_handle(&self) -> std::sync::MutexGuard<'_, Option<mq::BrokerHandle>> {
        self.handle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Kills the broker as abruptly as an in-process broker can die: its shutdown
    /// token is cancelled and nothing of the graceful path runs (no final offset
    /// write); returns once every task of it has let go of its store, so a restart
    /// never opens the folder while the old store still writes. Connections drop at
    /// once. What was acknowledged survives (it is fsynced before the ack); what was
    /// delivered but not yet committed as an offset is delivered again.
    pub async fn kill(&self) {
        let Some(handle) = self.lock_handle().take() else {
            return;
        };
        handle.shutdown_token().cancel();
        let core = handle.core.clone();
        drop(handle);
        let deadline = tokio::time::Instant::now() + BROKER_REBIND_TIMEOUT;
        while std::sync::Arc::strong_count(&core) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            std::sync::Arc::strong_count(&core),
            1,
            "the killed broker's tasks still hold its store after {BROKER_REBIND_TIMEOUT:?}"
        );
    }

    /// Stops the broker gracefully (connections finish, offsets written).
    pub async fn stop(&self) {
        let handle = self.lock_handle().take();
        if let Some(handle) = handle {
            handle.shutdown().await;
        }
    }

    /// Starts the broker again on the same folder and the same ports (recovering
    /// its log, its pending delayed and half messages and its offsets); a no-op
    /// when it runs.
    pub async fn restart(&self) {
        if self.is_running() {
            return;
        }
        let deadline = tokio::time::Instant::now() + BROKER_REBIND_TIMEOUT;
        let handle = loop {
            let config = Self::config(
                self.data.path(),
                &self.addr.to_string(),
                &self.admin_addr.to_string(),
            );
            match mq::Broker::start(config).await {
                Ok(handle) => break handle,
                // The old listeners may take a moment to let go of the ports.
                Err(error) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%error, "broker restart: retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("the broker did not restart: {error}"),
            }
        };
        *self.lock_handle() = Some(handle);
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(handle) = self.lock_handle().take() {
            handle.shutdown_token().cancel();
        }
    }
}

/// One test's world: a unique id naming its schemas and Redis prefix, its broker,
/// and the apps it started (later apps are given the URLs of earlier ones).
pub struct TestEnv {
    pub id: String,
    pub broker: TestBroker,
    urls: Mutex<Vec<(Service, String)>>,
    schemas: Mutex<Vec<String>>,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        crate::telemetry::init_for_tests();
        drop_stale_schemas_once().await;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let suffix: u32 = rand::rng().random_range(0..1_000_000);
        TestEnv {
            id: format!("{stamp}_{suffix:06}"),
            broker: TestBroker::start().await,
            urls: Mutex::new(Vec::new()),
            schemas: Mutex::new(Vec::new()),
        }
    }

    /// Settings for `service` in this test: fresh schema, own Redis prefix, port 0,
    /// this test's broker, and the URLs of the apps already spawned.
    pub fn settings(&self, service: Service) -> Settings {
        let mut s = Settings::from_lookup(service, |_| None).expect("default settings are valid");
        let schema = format!("shop_test_{}_{}", self.id, service.name());
        s.listen_addr = "127.0.0.1:0".parse().expect("valid address");
        s.database_url = format!("{}/{schema}", mysql_server_url());
        s.redis_url = redis_url();
        s.redis_prefix = format!("shop_test_{}:{}:", self.id, service.name());
        s.mq_addr = self.broker.addr();
        for (other, url) in self.urls.lock().expect("not poisoned").iter() {
            match other {
                Service::Order => s.order_svc_url = url.clone(),
                Service::Goods => s.goods_svc_url = url.clone(),
                Service::Coupon => s.coupon_svc_url = url.clone(),
                Service::User => s.user_svc_url = url.clone(),
                Service::Pay => s.pay_svc_url = url.clone(),
            }
        }
        self.schemas.lock().expect("not poisoned").push(schema);
        s
    }

    /// Starts `A` with this test's settings and waits until `/health` answers 200.
    pub async fn spawn<A: ShopApp>(&self) -> TestApp {
        self.spawn_with::<A>(|_| {}).await
    }

    /// Like [`TestEnv::spawn`], with the settings adjusted first.
    pub async fn spawn_with<A: ShopApp>(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let app = self.start_with::<A>(configure).await;
        app.wait_healthy(READY_TIMEOUT).await;
        app
    }

    /// Starts `A` without waiting for it to become healthy (e.g. database down).
    pub async fn start_with<A: ShopApp>(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings(A::SERVICE);
        configure(&mut settings);
        let app = start_app::<A>(settings).await;
        self.urls
            .lock()
            .expect("not poisoned")
            .push((A::SERVICE, app.base_url.clone()));
        app
    }
}

/// Builds `A` with exactly `settings` and runs it in the background; retries the
/// bind for a while when `settings` names a fixed port that a stopped app may still
/// hold.
async fn start_app<A: ShopApp>(settings: Settings) -> TestApp {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let app = loop {
        match A::build(settings.clone()).await {
            Ok(app) => break app,
            Err(e)
                if settings.listen_addr.port() != 0 && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(error = format!("{e:#}"), "app did not build yet; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{} did not build: {e:?}", A::SERVICE.binary()),
        }
    };
    let server = app.into_server();
    let addr = server.local_addr();
    let stop = server.shutdown_token();
    let task = tokio::spawn(server.run_until(std::future::pending()));
    TestApp {
        service: A::SERVICE,
        addr,
        base_url: base_url(addr),
        settings,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client builds"),
        stop,
        task: Some(task),
    }
}

impl Drop for TestEnv {
    /// Drops this test's schemas and Redis keys, best effort, even after a panic.
    fn drop(&mut self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|e| e.into_inner()));
        let prefix = format!("shop_test_{}:", self.id);
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let _ = tokio::time::timeout(Duration::from_secs(10), async {
                    let _ = drop_schemas(&schemas).await;
                    let _ = delete_redis_keys(&prefix).await;
                })
                .await;
            });
        });
        let _ = cleanup.join();
    }
}

/// A running service app under test.
pub struct TestApp {
    pub service: Service,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    pub settings: Settings,
    pub http: reqwest::Client,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn post<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `POST` of a raw body with `Content-Type: application/json` (for malformed JSON).
    pub async fn post_raw(&self, path: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// A pool on this app's schema, for asserting on state.
    pub async fn db(&self) -> MySqlPool {
        MySqlPool::connect(&self.settings.database_url)
            .await
            .expect("connect to the test schema")
    }

    /// Waits until `/health` answers 200, or panics with the last answer.
    pub async fn wait_healthy(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            match self.http.get(self.url("/health")).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => last = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} not healthy after {timeout:?}: {last}",
            self.service.binary()
        );
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    /// Stops the app like [`TestApp::stop`] (in-flight requests finish, background
    /// tasks stop, the port is released) but keeps this handle, its settings and its
    /// address, e.g. to [`TestApp::restart`] it or to run the service another way on
    /// the same schema.
    pub async fn halt(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }

    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// A restart of the service: halts it (if it runs) and starts `A` again with the
    /// same settings (schema, Redis prefix) on the same address, so the other
    /// services' URLs stay right; waits until it is healthy.
    pub async fn restart<A: ShopApp>(&mut self) {
        self.restart_with::<A>(|_| {}).await
    }

    /// Like [`TestApp::restart`], with the settings adjusted first.
    pub async fn restart_with<A: ShopApp>(&mut self, configure: impl FnOnce(&mut Settings)) {
        assert_eq!(A::SERVICE, self.service, "restart as the same service");
        self.halt().await;
        let mut settings = self.settings.clone();
        settings.listen_addr = self.addr;
        configure(&mut settings);
        *self = start_app::<A>(settings).await;
        self.wait_healthy(READY_TIMEOUT).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The environment variables that give a service process `settings` (API.md,
/// "Settings"); the Redis key prefix is not among them (a process uses its default).
pub fn settings_env(settings: &Settings) -> Vec<(&'static str, String)> {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let on_off = |on: bool| if on { "on" } else { "off" }.to_owned();
    let mut vars = vec![
        ("LISTEN_ADDR", settings.listen_addr.to_string()),
        ("DATABASE_URL", settings.database_url.clone()),
        ("REDIS_URL", settings.redis_url.clone()),
        ("MQ_ADDR", settings.mq_addr.clone()),
        ("ORDER_SVC_URL", settings.order_svc_url.clone()),
        ("GOODS_SVC_URL", settings.goods_svc_url.clone()),
        ("COUPON_SVC_URL", settings.coupon_svc_url.clone()),
        ("USER_SVC_URL", settings.user_svc_url.clone()),
        ("PAY_SVC_URL", settings.pay_svc_url.clone()),
        ("ORDER_PAY_TIMEOUT", ms(settings.order_pay_timeout)),
        ("ORDER_ABANDON_AFTER", ms(settings.order_abandon_after)),
        ("SHOP_FAULTS", on_off(settings.faults_enabled)),
        ("OUTBOX_RETRY_AFTER", ms(settings.outbox_retry_after)),
        ("STOCK_RESERVE_TIMEOUT", ms(settings.stock_reserve_timeout)),
        (
            "STOCK_RECONCILE_INTERVAL",
            ms(settings.stock_reconcile_interval),
        ),
    ];
    if let Some(secret) = &settings.pay_callback_secret {
        vars.push(("PAY_CALLBACK_SECRET", secret.clone()));
    }
    vars
}

/// A service run as a child process of the test, from its binary, for what an
/// in-process app cannot do: abort (`crash-after-stock`) or be killed with SIGKILL.
/// The test kills it when dropped; it never touches a process it did not start.
pub struct ServiceProcess {
    child: std::process::Child,
    pub settings: Settings,
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    pub http: reqwest::Client,
}

impl ServiceProcess {
    /// Starts `binary` (in a service's tests, `env!("CARGO_BIN_EXE_<service>")`) with
    /// `settings` as its environment; port 0 in `LISTEN_ADDR` is replaced by a free
    /// port. Its logs go to the test's output only when `TEST_LOG` is set.
    pub fn start(binary: &str, mut settings: Settings) -> ServiceProcess {
        if settings.listen_addr.port() == 0 {
            let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            settings.listen_addr = free.local_addr().expect("bound address");
        }
        let quiet = std::env::var_os("TEST_LOG").is_none();
        let output = || {
            if quiet {
                std::process::Stdio::null()
            } else {
                std::process::Stdio::inherit()
            }
        };
        let child = std::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(settings_env(&settings))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(std::process::Stdio::null())
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} did not start: {e}"));
        ServiceProcess {
            child,
            base_url: base_url(settings.listen_addr),
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client builds"),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Waits until `/health` answers 200, or panics (also when the process exits).
    pub async fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited before it was healthy: {status}", self.base_url);
            }
            match self.http.get(self.url("/health")).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => last = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} not healthy after {timeout:?}: {last}", self.base_url);
    }

    /// Waits until the process has exited; its exit status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let child = &mut self.child;
        let mut status = None;
        eventually("the service process exits", timeout, || {
            status = status.or_else(|| child.try_wait().ok().flatten());
            std::future::ready(status.map(|_| ()))
        })
        .await;
        status.expect("exited")
    }

    /// SIGKILL, then reaps it: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The real `mq-broker` binary as a child process of the test, for a real
/// `kill -9`: started on its own data folder, stoppable with SIGKILL and
/// restartable on the same folder and the same ports. Killed when dropped.
pub struct BrokerProcess {
    binary: std::path::PathBuf,
    child: Option<tokio::process::Child>,
    data: tempfile::TempDir,
    /// `MQ_ADDR` (the same across restarts).
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
}

impl BrokerProcess {
    /// The `mq-broker` binary beside `service_binary` (in a service's tests,
    /// `env!("CARGO_BIN_EXE_<service>")`), built first with cargo so that it is not
    /// older than the `mq` sources (cargo builds the binaries of a dependency only
    /// for that crate's own tests); a no-op build when it is fresh.
    pub async fn built_binary(service_binary: &str) -> std::path::PathBuf {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = tokio::process::Command::new(&cargo)
            .args(["build", "--quiet", "-p", "mq", "--bin", "mq-broker"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(std::process::Stdio::null())
            .status()
            .await
            .unwrap_or_else(|e| panic!("{cargo} did not run: {e}"));
        assert!(status.success(), "cargo build of mq-broker: {status}");
        let dir = std::path::Path::new(service_binary)
            .parent()
            .expect("a binary lives in a folder");
        let broker = dir.join("mq-broker");
        assert!(
            broker.is_file(),
            "mq-broker is not in {} after its build",
            dir.display()
        );
        broker
    }

    /// Starts `binary` on a fresh data folder and free ports, with the test
    /// broker's short retry and check-back settings; returns once it listens.
    pub async fn start(binary: std::path::PathBuf) -> BrokerProcess {
        let data = tempfile::tempdir().expect("a folder for the broker");
        let (child, addr, admin_addr) =
            Self::spawn(&binary, data.path(), "127.0.0.1:0", "127.0.0.1:0").await;
        BrokerProcess {
            binary,
            child: Some(child),
            data,
            addr,
            admin_addr,
        }
    }

    async fn spawn(
        binary: &std::path::Path,
        dir: &std::path::Path,
        listen: &str,
        admin: &str,
    ) -> (tokio::process::Child, SocketAddr, SocketAddr) {
        use tokio::io::AsyncBufReadExt;
        let log = if std::env::var_os("TEST_LOG").is_some() {
            "info"
        } else {
            "error"
        };
        let mut child = tokio::process::Command::new(binary)
            .env("MQ_DATA_DIR", dir)
            .env("MQ_LISTEN", listen)
            .env("MQ_ADMIN_LISTEN", admin)
            .env("MQ_RETRY_SCHEDULE", "200ms 200ms")
            .env("MQ_VISIBILITY_TIMEOUT", "5s")
            .env("MQ_TXN_CHECK_AFTER", "1s")
            .env("MQ_TXN_CHECK_INTERVAL", "1s")
            .env("RUST_LOG", log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", binary.display()));
        // Its first stdout line names the bound addresses.
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let _ = tokio::time::timeout(READY_TIMEOUT, reader.read_line(&mut line)).await;
        let started: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("mq-broker did not start ({e}): {line:?}"));
        let addr = |key: &str| -> SocketAddr {
            started[key]
                .as_str()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("{key} in {started}"))
        };
        (child, addr("listening"), addr("admin"))
    }

    /// SIGKILL: no shutdown code runs; returns once the process is gone.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the binary again on the same folder and ports.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart a killed broker");
        let (child, _, _) = Self::spawn(
            &self.binary,
            self.data.path(),
            &self.addr.to_string(),
            &self.admin_addr.to_string(),
        )
        .await;
        self.child = Some(child);
    }
}

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
    let client = redis::Client::open(redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut conn)
            .await?;
    }
    Ok(())
}

/// Once per test process: raises the server's connection limit and drops
/// `shop_test_<stamp>_…` schemas older than [`STALE_AFTER`] (left by killed test
/// processes).
async fn drop_stale_schemas_once() {
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

/// Checks every service passes the same way (called from each service's tests).
pub mod checks {
    use std::time::{Duration, Instant};

    use super::{ShopApp, TestApp, TestEnv, closed_port_database_url, json};

    /// A client's `x-request-id` comes back unchanged; without one, one is made up.
    pub async fn request_id_is_echoed_or_generated(app: &TestApp) {
        let given = app
            .http
            .get(app.url("/health"))
            .header("x-request-id", "test-req-42")
            .send()
            .await
            .expect("GET /health");
        assert_eq!(given.headers()["x-request-id"], "test-req-42");

        let made = app.get("/no-such-endpoint").await;
        assert_eq!(made.status(), 404);
        let id = made.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(id.len() >= 16, "a generated id: {id:?}");
        let other = app.get("/no-such-endpoint").await;
        assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
    }

    /// `/metrics` holds the request counter and latency histogram of `route`, which
    /// the caller has just requested (any status).
    pub async fn metrics_show_route(app: &TestApp, route: &str) {
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("metrics text");
        let service = format!("service=\"{}\"", app.service.binary());
        let route = format!("route=\"{route}\"");
        let has = |name: &str| {
            text.lines()
                .any(|l| l.starts_with(name) && l.contains(&service) && l.contains(&route))
        };
        assert!(
            has("http_requests_total{"),
            "request count of {route}:\n{text}"
        );
        assert!(
            has("http_request_duration_seconds_bucket{"),
            "latency histogram of {route}:\n{text}"
        );
    }

    /// `/openapi.json` describes exactly `paths` plus the shared endpoints.
    pub async fn openapi_lists_exactly(app: &TestApp, paths: &[&str]) {
        let doc = json(app.get("/openapi.json").await).await;
        let mut listed: Vec<String> = doc["paths"]
            .as_object()
            .expect("paths object")
            .keys()
            .cloned()
            .collect();
        listed.sort();
        let mut expected: Vec<String> = paths
            .iter()
            .chain(&["/health", "/metrics", "/openapi.json"])
            .map(|p| p.to_string())
            .collect();
        expected.sort();
        assert_eq!(listed, expected);
        assert_eq!(doc["info"]["title"], app.service.binary());
    }

    /// `/health` answers 200 naming every check `up`.
    pub async fn health_is_ok(app: &TestApp) {
        let response = app.get("/health").await;
        assert_eq!(response.status(), 200);
        let body = json(response).await;
        assert_eq!(body["status"], "ok");
        for check in ["database", "redis", "broker"] {
            assert_eq!(body["checks"][check], "up", "{body}");
        }
    }

    /// With `DATABASE_URL` on a closed port the app still starts, and `/health`
    /// answers 503 naming `database` within 2 s.
    pub async fn health_names_database_when_its_port_is_closed<A: ShopApp>(env: &TestEnv) {
        let url = closed_port_database_url().await;
        let app = env.start_with::<A>(move |s| s.database_url = url).await;
        for _ in 0..2 {
            let started = Instant::now();
            let response = app.get("/health").await;
            let took = started.elapsed();
            assert!(took < Duration::from_secs(2), "answered in {took:?}");
            assert_eq!(response.status(), 503);
            let body = json(response).await;
            assert_eq!(body["code"], "UNAVAILABLE");
            assert_eq!(body["down"], serde_json::json!(["database"]), "{body}");
            assert_eq!(body["checks"]["redis"], "up");
            assert_eq!(body["checks"]["broker"], "up");
        }
        app.stop().await;
    }
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
