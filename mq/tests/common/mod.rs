//! Shared helpers of the integration tests: in-process brokers, broker
//! processes (for kill -9), and waiting on conditions instead of sleeping.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mq::{Broker, BrokerConfig, BrokerHandle};

/// Quiet unless TEST_LOG is set.
pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,mq=debug")
            .try_init();
    }
}

/// An in-process broker on ephemeral ports with test settings.
pub async fn start_broker(dir: &Path, tweak: impl FnOnce(&mut BrokerConfig)) -> BrokerHandle {
    init_tracing();
    let mut config = BrokerConfig::for_tests(dir);
    tweak(&mut config);
    Broker::start(config).await.expect("broker starts")
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until<F: FnMut() -> bool>(timeout: Duration, what: &str, mut cond: F) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `mq-broker` process.
pub struct BrokerProcess {
    pub child: Child,
    pub addr: String,
    pub admin: String,
}

impl BrokerProcess {
    /// Starts the binary on `dir`; `listen` may be `127.0.0.1:0`.
    pub fn start(
        dir: &Path,
        listen: &str,
        extra_env: &[(&str, &str)],
    ) -> Result<BrokerProcess, String> {
        // MQ_TEST_BROKER_BIN runs another build (e.g. an older one, to show
        // that a test fails there).
        let bin = std::env::var("MQ_TEST_BROKER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mq-broker").to_string());
        let mut cmd = Command::new(bin);
        cmd.env("MQ_DATA_DIR", dir)
            .env("MQ_LISTEN", listen)
            .env("MQ_ADMIN_LISTEN", "127.0.0.1:0")
            .env(
                "RUST_LOG",
                if std::env::var_os("TEST_LOG").is_some() {
                    "info"
                } else {
                    "error"
                },
            )
            .stdout(Stdio::piped())
            // With TEST_LOG the broker's log shows with the test's output;
            // otherwise errors are kept to report a start that failed.
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::piped()
            });
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        // The piped log is read all along (a full pipe would block the broker's
        // next log line); its start is kept to explain a start that failed.
        let log = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                use std::io::Read;
                let (mut kept, mut chunk) = (Vec::new(), [0u8; 8192]);
                while let Ok(n) = stderr.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if kept.len() < 64 * 1024 {
                        kept.extend_from_slice(&chunk[..n]);
                    }
                }
                String::from_utf8_lossy(&kept).into_owned()
            })
        });
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            let status = child.wait().map_err(|e| e.to_string())?;
            let err = log
                .and_then(|reader| reader.join().ok())
                .unwrap_or_default();
            return Err(format!("broker exited with {status}: {err}"));
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        Ok(BrokerProcess {
            child,
            addr: v["listening"].as_str().unwrap_or_default().to_string(),
            admin: v["admin"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET on the admin API, as JSON.
pub async fn admin_get(admin: &str, path: &str) -> serde_json::Value {
    reqwest::get(format!("http://{admin}{path}"))
        .await
        .expect("admin GET")
        .json()
        .await
        .expect("admin JSON")
}

/// Deliveries seen by a [`collect`] consumer, with when each arrived.
pub type Seen = std::sync::Arc<std::sync::Mutex<Vec<(mq::StoredMessage, Instant)>>>;

/// Starts a consumer that acknowledges everything and records each delivery.
pub async fn collect(config: mq::ConsumerConfig) -> (mq::Consumer, Seen) {
    let seen: Seen = Default::default();
    let s = seen.clone();
    let consumer = mq::Consumer::start(config, move |m| {
        s.lock().unwrap().push((m, Instant::now()));
        async { mq::ConsumeResult::Ack }
    })
    .await
    .expect("consumer starts");
    (consumer, seen)
}

/// Bodies of the deliveries seen so far.
pub fn bodies(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.body_text())
        .collect()
}
