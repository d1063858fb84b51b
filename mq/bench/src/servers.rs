//! Broker processes the benchmark starts itself, each with a fresh data directory:
//! a second nats-server (a version that has `sync_interval`) and `mq-broker`.
//!
//! A [`Server`] owns its child process and its temporary directory; it is killed by its
//! own PID when stopped or dropped, never by name, so brokers that were running before
//! the benchmark are left alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// How long a started broker may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A broker process started by the benchmark.
pub struct Server {
    name: String,
    child: Child,
    pid: u32,
    dir: TempDir,
}

impl Server {
    /// The process id, for the report.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The temporary directory holding the data and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the process (by its PID) and waits for it; the data directory goes with
    /// the value.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("kill {} (pid {})", self.name, self.pid))
    }

    async fn wait_until_listening(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before listening on {addr}; log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on {addr} within {START_TIMEOUT:?}; log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Creates a fresh directory under `root` and spawns `command` in it with its output
/// going to `server.log` there.
async fn spawn(
    name: &str,
    root: &Path,
    mut command: impl FnMut(&Path) -> anyhow::Result<Command>,
    addr: SocketAddr,
) -> anyhow::Result<Server> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("mq-bench-{name}-"))
        .tempdir_in(root)
        .with_context(|| format!("create data directory for {name} under {}", root.display()))?;
    let log = std::fs::File::create(dir.path().join("server.log")).context("create log")?;
    let mut command = command(dir.path())?;
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    let child = command
        .spawn()
        .with_context(|| format!("start {name}: {command:?}"))?;
    let pid = child.id().context("started process has no pid")?;
    let mut server = Server {
        name: name.to_owned(),
        child,
        pid,
        dir,
    };
    server.wait_until_listening(addr).await?;
    tracing::info!(name, pid, dir = %server.dir().display(), %addr, "started");
    Ok(server)
}

/// Starts `nats-server` at `bin` with JetStream on `addr`; `sync_always` sets
/// `sync_interval: always` (fsync of every write before the PubAck).
pub async fn start_nats(
    name: &str,
    bin: &Path,
    root: &Path,
    addr: SocketAddr,
    sync_always: bool,
) -> anyhow::Result<Server> {
    let make = |dir: &Path| {
        let store = dir.join("jetstream");
        let sync = if sync_always {
            "sync_interval: always"
        } else {
            ""
        };
        let config = format!(
            "listen: \"{addr}\"\njetstream {{\n  store_dir: \"{}\"\n  {sync}\n}}\n",
            store.display()
        );
        let config_path = dir.join("nats.conf");
        std::fs::write(&config_path, config).context("write nats.conf")?;
        let mut command = Command::new(bin);
        command.arg("-c").arg(config_path);
        Ok(command)
    };
    spawn(name, root, make, addr).await
}

/// Starts `mq-broker` at `bin`, listening on `addr` (admin on `admin`), with `env` on
/// top of the data directory and listen settings.
pub async fn start_mq_broker(
    name: &str,
    bin: &Path,
    root: &Path,
    addr: SocketAddr,
    admin: SocketAddr,
    env: &[(String, String)],
) -> anyhow::Result<Server> {
    let make = |dir: &Path| {
        let mut command = Command::new(bin);
        command
            .env("MQ_LISTEN", addr.to_string())
            .env("MQ_ADMIN_LISTEN", admin.to_string())
            .env("MQ_DATA_DIR", dir.join("data"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(command)
    };
    spawn(name, root, make, addr).await
}

/// The `mq-broker` binary beside this benchmark's own executable (both are built into
/// the same target directory), if there is one.
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join(name);
    path.is_file().then_some(path)
}
