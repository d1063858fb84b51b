//! [`TestBroker`]: the real broker in-process, killable and restartable on the same
//! folder and ports; [`BrokerProcess`]: the real `mq-broker` binary as a child
//! process, for a real `kill -9`.

use super::*;

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
