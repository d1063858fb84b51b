//! [`TestEnv`] (one test's world: schemas, Redis prefix, broker, the apps it
//! started) and [`TestApp`] (a running service app, stoppable and restartable).

use super::*;

/// One test's world: a unique id naming its schemas and Redis prefix, its broker,
/// and the apps it started (later apps are given the URLs of earlier ones).
pub struct TestEnv {
    pub id: String,
    /// The service credential every app of this test shares (`SHOP_INTERNAL_TOKEN`).
    pub internal_token: String,
    pub broker: TestBroker,
    urls: Mutex<Vec<(Service, String)>>,
    schemas: Mutex<Vec<String>>,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        shop_kit::telemetry::init_for_tests();
        drop_stale_schemas_once().await;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let suffix: u32 = rand::rng().random_range(0..1_000_000);
        TestEnv {
            id: format!("{stamp}_{suffix:06}"),
            internal_token: shop_kit::settings::generate_internal_token(),
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
        s.internal_token = self.internal_token.clone();
        s.internal_token_generated = false;
        s.mq_admin_addr = self.broker.admin_addr();
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

    /// `POST` to an internal route with the service credential, as order-svc calls it.
    pub async fn post_internal<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.settings.internal_token)
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
