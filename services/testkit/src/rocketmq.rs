//! [`RocketMq`]: a real RocketMQ deployment on loopback for tests — the
//! `rocketmq-namesrv-rust` name server and one `rocketmq-broker-rust` master (the
//! RocketMQ Rust project's binaries, `cargo install rocketmq-namesrv rocketmq-broker`
//! at 1.0.0) as child processes on free ports, each with its own TOML configuration
//! and store folder, under `ROCKETMQ_SECURITY_PROFILE=development-insecure-loopback`
//! (every listener must be on loopback). Each is ready when its lifecycle probe
//! (`ROCKETMQ_HEALTH_BIND_ADDR`, `/readyz`) answers 200. The broker can be killed
//! (SIGKILL) and restarted on the same store and ports.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;

/// The name server's binary.
pub const NAMESRV_BINARY: &str = "rocketmq-namesrv-rust";
/// The broker's binary.
pub const BROKER_BINARY: &str = "rocketmq-broker-rust";

/// How long a name server or broker may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The broker refuses writes (and so fails to start) when its disk is more than 90%
/// full (`diskSpaceWarningLevelRatio`, capped at 90 by the 1.0.0 store), counting
/// space reserved for root as used; the test broker's files are kept small (64 MiB
/// commit log files, a small key index) so that several brokers fit.
///
/// Short test timings of the broker: check-backs of undecided half messages within
/// seconds; redeliveries one second apart.
const TEST_DELAY_LEVELS: &str = "1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s";

/// Where a RocketMQ binary is: `ROCKETMQ_BIN_DIR`, then `PATH`, then `~/.cargo/bin`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("ROCKETMQ_BIN_DIR") {
        dirs.push(dir.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A free port `p` whose `p - 2` (the broker's fast listener) is free too.
fn free_broker_port() -> anyhow::Result<u16> {
    for _ in 0..100 {
        let port = free_port()?;
        if port > 1026 && TcpListener::bind(("127.0.0.1", port - 2)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free pair of ports for the broker")
}

/// Where a [`RocketMq`] keeps its stores, configurations and logs.
enum Folder {
    /// Removed with it.
    Temporary(tempfile::TempDir),
    /// Kept.
    Given(PathBuf),
}

impl Folder {
    fn path(&self) -> &Path {
        match self {
            Folder::Temporary(dir) => dir.path(),
            Folder::Given(dir) => dir,
        }
    }
}

/// A name server and a broker on loopback.
pub struct RocketMq {
    namesrv: Option<tokio::process::Child>,
    broker: Option<tokio::process::Child>,
    dir: Folder,
    namesrv_port: u16,
    namesrv_probe: u16,
    broker_port: u16,
    ha_port: u16,
    broker_probe: u16,
    namesrv_bin: PathBuf,
    broker_bin: PathBuf,
}

impl RocketMq {
    /// Whether both binaries can be found (see [`find_binary`]).
    pub fn available() -> bool {
        find_binary(NAMESRV_BINARY).is_some() && find_binary(BROKER_BINARY).is_some()
    }

    /// Starts the name server, then the broker, each on free ports with a store of
    /// its own, and returns once both are ready.
    pub async fn start() -> anyhow::Result<RocketMq> {
        Self::start_at(None, None).await
    }

    /// Like [`RocketMq::start`], in `folder` (kept; a temporary one when `None`) and
    /// with the name server on `namesrv_port` (a free one when `None`).
    pub async fn start_at(
        folder: Option<PathBuf>,
        namesrv_port: Option<u16>,
    ) -> anyhow::Result<RocketMq> {
        let find = |name| {
            find_binary(name).with_context(|| {
                format!(
                    "{name} not found (ROCKETMQ_BIN_DIR, PATH, ~/.cargo/bin): \
                     cargo install --locked rocketmq-namesrv@1.0.0 rocketmq-broker@1.0.0"
                )
            })
        };
        let dir = match folder {
            Some(dir) => Folder::Given(dir),
            None => Folder::Temporary(
                tempfile::Builder::new()
                    .prefix("shop-rocketmq-")
                    .tempdir()?,
            ),
        };
        let namesrv_port = match namesrv_port {
            Some(port) => port,
            None => free_port()?,
        };
        let mut rocketmq = RocketMq {
            namesrv: None,
            broker: None,
            namesrv_port,
            namesrv_probe: free_port()?,
            broker_port: free_broker_port()?,
            ha_port: free_port()?,
            broker_probe: free_port()?,
            namesrv_bin: find(NAMESRV_BINARY)?,
            broker_bin: find(BROKER_BINARY)?,
            dir,
        };
        match rocketmq.start_both().await {
            Ok(()) => Ok(rocketmq),
            Err(error) => {
                let kept = rocketmq.keep();
                Err(error.context(format!("RocketMQ's logs are kept in {}", kept.display())))
            }
        }
    }

    async fn start_both(&mut self) -> anyhow::Result<()> {
        self.write_configs()?;
        self.namesrv = Some(self.spawn_namesrv()?);
        self.wait_ready("name server", self.namesrv_probe, true)
            .await?;
        self.start_broker().await
    }

    /// `ROCKETMQ_NAMESRV_ADDR` of the clients.
    pub fn namesrv_addr(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    /// The broker's client address.
    pub fn broker_addr(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    /// The folder of both stores, configurations and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn write_configs(&self) -> anyhow::Result<()> {
        let root = self.dir.path();
        for sub in ["namesrv", "broker", "broker/store", "logs"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        let namesrv = format!(
            "rocketmqHome = \"{home}\"\n\
             kvConfigPath = \"{home}/kvConfig.json\"\n\
             configStorePath = \"{home}/namesrv.properties\"\n\
             listenPort = {port}\n\
             bindAddress = \"127.0.0.1\"\n\
             \n[runtime]\nworkerThreads = 1\nmaxBlockingThreads = 8\n",
            home = root.join("namesrv").display(),
            port = self.namesrv_port,
        );
        std::fs::write(root.join("namesrv.toml"), namesrv)?;
        let store = root.join("broker/store");
        let broker = format!(
            "[broker]\n\
             namesrvAddr = \"{namesrv}\"\n\
             brokerIp1 = \"127.0.0.1\"\n\
             listenPort = {port}\n\
             storePathRootDir = \"{store}\"\n\
             autoCreateTopicEnable = true\n\
             autoCreateSubscriptionGroup = true\n\
             transactionCheckInterval = 1000\n\
             transactionTimeout = 2000\n\
             \n[broker.brokerServerConfig]\nbindAddress = \"127.0.0.1\"\n\
             \n[broker.brokerIdentity]\nbrokerName = \"broker-a\"\nbrokerClusterName = \"DefaultCluster\"\nbrokerId = 0\n\
             \n[store]\n\
             storeType = \"LocalFile\"\n\
             brokerRole = \"ASYNC_MASTER\"\n\
             flushDiskType = \"SYNC_FLUSH\"\n\
             storePathRootDir = \"{store}\"\n\
             haListenAddress = \"127.0.0.1\"\n\
             haListenPort = {ha}\n\
             messageDelayLevel = \"{levels}\"\n\
             mappedFileSizeCommitLog = 67108864\n\
             maxHashSlotNum = 50000\n\
             maxIndexNum = 200000\n",
            namesrv = self.namesrv_addr(),
            port = self.broker_port,
            store = store.display(),
            ha = self.ha_port,
            levels = TEST_DELAY_LEVELS,
        );
        std::fs::write(root.join("broker.toml"), broker)?;
        Ok(())
    }

    fn spawn(
        &self,
        name: &str,
        binary: &Path,
        config: &Path,
        probe: u16,
        home: &Path,
    ) -> anyhow::Result<tokio::process::Child> {
        let log_path = self.dir.path().join("logs").join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let level = if std::env::var_os("TEST_LOG").is_some() {
            "info"
        } else {
            "warn"
        };
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("-c")
            .arg(config)
            .env("ROCKETMQ_HOME", home)
            .env("ROCKETMQ_SECURITY_PROFILE", "development-insecure-loopback")
            .env("ROCKETMQ_HEALTH_BIND_ADDR", format!("127.0.0.1:{probe}"))
            .env("RUST_LOG", level)
            .env_remove("NAMESRV_ADDR")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))
    }

    fn spawn_namesrv(&self) -> anyhow::Result<tokio::process::Child> {
        let home = self.dir.path().join("namesrv");
        self.spawn(
            "namesrv",
            &self.namesrv_bin,
            &self.dir.path().join("namesrv.toml"),
            self.namesrv_probe,
            &home,
        )
    }

    async fn start_broker(&mut self) -> anyhow::Result<()> {
        let home = self.dir.path().join("broker");
        let child = self.spawn(
            "broker",
            &self.broker_bin,
            &self.dir.path().join("broker.toml"),
            self.broker_probe,
            &home,
        )?;
        self.broker = Some(child);
        self.wait_ready("broker", self.broker_probe, false).await
    }

    /// Waits until the probe on `port` answers 200 on `/readyz`, failing early when
    /// the process exits.
    async fn wait_ready(&mut self, what: &str, port: u16, namesrv: bool) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{port}/readyz");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let child = if namesrv {
                self.namesrv.as_mut()
            } else {
                self.broker.as_mut()
            };
            if let Some(status) = child.and_then(|c| c.try_wait().ok().flatten()) {
                let name = if namesrv { "namesrv" } else { "broker" };
                let log = self.dir.path().join("logs").join(format!("{name}.log"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("ERROR") || l.contains("rror") || l.contains("ause"))
                    .collect();
                anyhow::bail!(
                    "the {what} exited before it was ready ({status}); its errors:\n{}",
                    tail[tail.len().saturating_sub(12)..].join("\n")
                );
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the {what} was not ready after {READY_TIMEOUT:?}; see {}",
                self.dir.path().join("logs").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL of the broker: no shutdown code runs; returns once it is gone.
    pub async fn kill_broker(&mut self) {
        if let Some(mut broker) = self.broker.take() {
            let _ = broker.kill().await;
        }
    }

    /// Starts the broker again on the same store and ports (waiting for its old
    /// ports to be free); a no-op when it runs.
    pub async fn restart_broker(&mut self) -> anyhow::Result<()> {
        if self.broker.is_some() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while [
            self.broker_port,
            self.broker_port - 2,
            self.ha_port,
            self.broker_probe,
        ]
        .iter()
        .any(|p| TcpListener::bind(("127.0.0.1", *p)).is_err())
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the broker's ports are still taken"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.start_broker().await
    }

    /// Stops the broker, then the name server (SIGKILL: their stores go with the
    /// folder).
    pub async fn stop(mut self) {
        self.kill_broker().await;
        if let Some(mut namesrv) = self.namesrv.take() {
            let _ = namesrv.kill().await;
        }
    }

    /// Whether the name server or the broker exited on its own, with its status.
    pub fn exited(&mut self) -> Option<(String, String)> {
        let namesrv = self.namesrv.as_mut().map(|c| (NAMESRV_BINARY, c));
        let broker = self.broker.as_mut().map(|c| (BROKER_BINARY, c));
        namesrv.into_iter().chain(broker).find_map(|(name, child)| {
            let status = child.try_wait().ok().flatten()?;
            Some((name.to_string(), status.to_string()))
        })
    }

    /// Keeps the folder (with the logs) instead of removing it; returns where.
    pub fn keep(self) -> PathBuf {
        let RocketMq { dir, .. } = self;
        match dir {
            Folder::Temporary(dir) => dir.keep(),
            Folder::Given(dir) => dir,
        }
    }
}
