//! [`ServiceProcess`]: a service binary as a child process (for faults that abort
//! the process), configured from [`Settings`] through [`settings_env`].

use super::*;

/// The environment variables that give a service process `settings` (docs/operations.md,
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
        ("SHOP_INTERNAL_TOKEN", settings.internal_token.clone()),
        ("OUTBOX_RETRY_AFTER", ms(settings.outbox_retry_after)),
        ("OUTBOX_RETRY_MAX", ms(settings.outbox_retry_max)),
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
