//! A managed system: the broker and the five services started here as child
//! processes on free ports, with fresh schemas (dropped at the end), a
//! `redis-server` of its own on a free port (so killing or flushing it touches no one
//! else's data) and short timeouts. Scenarios crash and restart its parts.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::launcher::{BusKind, ChildProcess, Programs, System, SystemConfig, check_redis};
use anyhow::Context;
use rand::Rng;
use shop_kit::settings::{DEV_PAY_CALLBACK_SECRET, Service};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};

use crate::target::{Target, Timings};

/// Schemas of managed systems start `shop_<service>_scn_<unix seconds>_`; ones
/// older than this are left over by a killed run and dropped by the next one.
const STALE_AFTER: Duration = Duration::from_secs(2 * 3600);

/// The binaries a managed system runs.
pub const BINARIES: [&str; 6] = [
    "mq-broker",
    "order-svc",
    "goods-svc",
    "coupon-svc",
    "user-svc",
    "pay-svc",
];

/// A running managed system.
pub struct Managed {
    pub target: Target,
    system: System,
    redis: Option<ChildProcess>,
    redis_port: u16,
    data: Option<tempfile::TempDir>,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Folder of the binaries: beside the running executable, or its parent (a test
/// executable lives in `target/debug/deps/`).
pub fn default_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// Fails with what to run when a binary is missing from `bin_dir`.
pub fn check_binaries(bin_dir: &Path) -> anyhow::Result<()> {
    let missing: Vec<&str> = BINARIES
        .into_iter()
        .filter(|b| !bin_dir.join(b).is_file())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "{} not built in {}: run `cargo build --workspace --bins` (or `cargo test --workspace`, \
         which builds every binary) first",
        missing.join(", "),
        bin_dir.display()
    );
    Ok(())
}

impl Managed {
    /// Starts Redis, the broker and the five services on free ports against the
    /// MariaDB server at `mysql_url`, and waits until each is healthy.
    pub async fn start(
        bin_dir: &Path,
        mysql_url: &str,
        timings: Timings,
    ) -> anyhow::Result<Managed> {
        check_binaries(bin_dir)?;
        Self::start_with(Programs::Binaries, bin_dir, mysql_url, timings).await
    }

    /// Like [`Managed::start`], running the parts as `programs` says (`shop scenario`
    /// runs them as `shop serve <part>`).
    pub async fn start_with(
        programs: Programs,
        bin_dir: &Path,
        mysql_url: &str,
        timings: Timings,
    ) -> anyhow::Result<Managed> {
        Self::start_on(BusKind::Mq, programs, bin_dir, mysql_url, timings).await
    }

    /// Like [`Managed::start_with`], on the message bus `bus` (on RocketMQ, a name
    /// server and a broker of its own in place of `mq-broker`).
    ///
    /// The ports are picked free (bound, then released) before each process starts,
    /// so another process can take one in between: a start that failed on a port in
    /// use is made again, on new ports, a few times.
    pub async fn start_on(
        bus: BusKind,
        programs: Programs,
        bin_dir: &Path,
        mysql_url: &str,
        timings: Timings,
    ) -> anyhow::Result<Managed> {
        const TRIES: usize = 3;
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(bus, programs.clone(), bin_dir, mysql_url, timings.clone()).await
            {
                Err(e) if tries < TRIES && format!("{e:#}").contains("Address already in use") => {
                    tracing::warn!(error = %e, "a port was taken before its process bound it; starting again");
                }
                outcome => return outcome,
            }
        }
    }

    async fn start_once(
        bus: BusKind,
        programs: Programs,
        bin_dir: &Path,
        mysql_url: &str,
        timings: Timings,
    ) -> anyhow::Result<Managed> {
        prepare_mysql(mysql_url).await;
        let data = tempfile::Builder::new()
            .prefix("shop-scenario-")
            .tempdir()?;
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let random: u32 = rand::rng().random_range(0..1_000_000);
        let mut config = SystemConfig::local_defaults();
        config.programs = programs;
        config.bus = bus;
        config.bin_dir = bin_dir.to_path_buf();
        config.mysql_url = mysql_url.to_string();
        config.mq_port = free_port()?;
        config.mq_admin_port = free_port()?;
        for port in config.service_ports.iter_mut() {
            *port = free_port()?;
        }
        config.schema_suffix = format!("_scn_{stamp}_{random:06}");
        config.data_dir = data.path().to_path_buf();
        config.extra_env = timings.env();
        config.extra_env.push(("RUST_LOG".into(), "info".into()));
        config.ready_timeout = Duration::from_secs(60);
        config.internal_token = Some(shop_kit::settings::generate_internal_token());

        let redis_port = free_port()?;
        config.redis_url = format!("redis://127.0.0.1:{redis_port}");
        let mut managed_redis = spawn_redis(&config, redis_port).await?;
        let system = match System::start(config.clone()).await {
            Ok(system) => system,
            Err(e) => {
                managed_redis.kill().await;
                drop_schemas(&config).await;
                // Keep the logs of a start that failed.
                let kept = data.keep();
                anyhow::bail!("{e}\n(logs kept in {}/logs)", kept.display());
            }
        };
        Ok(Managed {
            target: Target {
                config,
                timings,
                callback_secret: DEV_PAY_CALLBACK_SECRET.into(),
            },
            system,
            redis: Some(managed_redis),
            redis_port,
            data: Some(data),
        })
    }

    /// Where the logs of every process are.
    pub fn log_dir(&self) -> PathBuf {
        self.target.config.data_dir.join("logs")
    }

    pub async fn kill_broker(&mut self) {
        self.system.kill_broker().await;
    }

    pub async fn restart_broker(&mut self) -> anyhow::Result<()> {
        Ok(self.system.restart_broker().await?)
    }

    pub async fn kill_service(&mut self, service: Service) {
        self.system.kill_service(service).await;
    }

    pub async fn restart_service(&mut self, service: Service) -> anyhow::Result<()> {
        Ok(self.system.restart_service(service).await?)
    }

    /// Whether `service`'s process has exited (a crash fault, say).
    pub fn service_exited(&mut self, service: Service) -> bool {
        self.system.service_exited(service)
    }

    /// Kills this system's own `redis-server` with SIGKILL.
    pub async fn kill_redis(&mut self) {
        if let Some(redis) = self.redis.as_mut() {
            redis.kill().await;
        }
    }

    /// Starts this system's `redis-server` again, empty, on the same port.
    pub async fn restart_redis(&mut self) -> anyhow::Result<()> {
        self.kill_redis().await;
        self.redis = Some(spawn_redis(&self.target.config, self.redis_port).await?);
        Ok(())
    }

    /// Stops everything, drops the schemas and removes the data folder (kept, with
    /// its logs, when `keep_logs`).
    pub async fn stop(mut self, keep_logs: bool) -> Option<PathBuf> {
        self.system.stop().await;
        if let Some(redis) = self.redis.take() {
            redis.stop(Duration::from_secs(5)).await;
        }
        drop_schemas(&self.target.config).await;
        let data = self.data.take()?;
        keep_logs.then(|| data.keep())
    }
}

async fn spawn_redis(config: &SystemConfig, port: u16) -> anyhow::Result<ChildProcess> {
    let args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
        .into_iter()
        .chain(["--save", "", "--appendonly", "no"])
        .map(String::from)
        .collect();
    let log = config.data_dir.join("logs").join("redis-server.log");
    let mut redis =
        ChildProcess::spawn_with_args("redis-server", Path::new("redis-server"), &args, &[], &log)
            .context("starting redis-server (is it installed and on PATH?)")?;
    let url = format!("redis://127.0.0.1:{port}");
    redis
        .wait_until("redis-server answers PING", Duration::from_secs(20), || {
            let url = url.clone();
            async move { check_redis(&url).await.is_ok() }
        })
        .await?;
    Ok(redis)
}

/// Raises MariaDB's connection limit (five pools of up to 32 per system) and drops
/// schemas of managed systems left over by killed runs. Best effort.
async fn prepare_mysql(mysql_url: &str) {
    let work = async {
        let mut conn = MySqlConnection::connect(mysql_url).await?;
        sqlx::query("set global max_connections = greatest(@@global.max_connections, 2000)")
            .execute(&mut conn)
            .await?;
        let names: Vec<String> = sqlx::query_scalar(
            r"select schema_name from information_schema.schemata where schema_name like 'shop\_%\_scn\_%'",
        )
        .fetch_all(&mut conn)
        .await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for name in names {
            let stamp = name
                .split("_scn_")
                .nth(1)
                .and_then(|rest| rest.split('_').next().and_then(|s| s.parse::<u64>().ok()));
            if stamp.is_some_and(|s| now.saturating_sub(s) > STALE_AFTER.as_secs()) {
                let sql = format!("drop database if exists `{name}`");
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
            }
        }
        conn.close().await
    };
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(10), work).await {
        tracing::warn!(error = %e, "preparing MariaDB for a managed system");
    }
}

async fn drop_schemas(config: &SystemConfig) {
    let work = async {
        let mut conn = MySqlConnection::connect(&config.mysql_url).await?;
        for service in Service::ALL {
            let sql = format!(
                "drop database if exists `shop_{}{}`",
                service.name(),
                config.schema_suffix
            );
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
        }
        conn.close().await
    };
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(20), work).await {
        tracing::warn!(error = %e, "dropping a managed system's schemas");
    }
}
