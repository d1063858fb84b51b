//! The launcher: starts the broker and the five services as child processes, waits
//! until each is healthy, and stops them all cleanly.
//!
//! `shop up` uses it with the default ports; the whole-system scenario tests use it
//! with free ports, fresh schemas and short timeouts.

mod control;
mod preflight;
mod process;
mod servers;

pub use preflight::{check_mysql, check_redis};
pub use process::ChildProcess;
pub use servers::{Missing, PrivateServers, find_program, install_instructions};

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use shop_kit::settings::Service;

/// What went wrong while starting or stopping the system.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Preflight(String),
    #[error("binary {name} not found in {dir}: build the workspace first (cargo build --release)")]
    MissingBinary { name: String, dir: PathBuf },
    #[error("could not start {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("{name} exited before it was ready ({status}); last lines of {log}:\n{tail}")]
    ExitedEarly {
        name: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{name} was not healthy after {waited:?} ({last}); see {log}")]
    NotReady {
        name: String,
        waited: Duration,
        last: String,
        log: PathBuf,
    },
}

pub type Result<T> = std::result::Result<T, LaunchError>;

/// How the launcher runs the broker and the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Programs {
    /// Their own binaries (`mq-broker`, `order-svc`, …) in [`SystemConfig::bin_dir`].
    Binaries,
    /// One executable that runs each part as `<exe> serve <part>` (the `shop`
    /// binary): one binary to build, and never a stale one left in `bin_dir`.
    Serve(PathBuf),
}

/// Which message bus the system runs on (`SHOP_BUS` of the services).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BusKind {
    /// The embedded `mq` broker (`mq-broker`, or `shop serve broker`).
    #[default]
    Mq,
    /// RocketMQ: a `rocketmq-namesrv-rust` name server on `mq_port` and one
    /// `rocketmq-broker-rust` broker (see [`shop_testkit::RocketMq`]); the services
    /// need the cargo feature `rocketmq`.
    RocketMq,
}

impl BusKind {
    /// `mq` or `rocketmq`.
    pub fn name(self) -> &'static str {
        match self {
            BusKind::Mq => "mq",
            BusKind::RocketMq => "rocketmq",
        }
    }

    pub fn parse(text: &str) -> Option<BusKind> {
        match text {
            "mq" => Some(BusKind::Mq),
            "rocketmq" => Some(BusKind::RocketMq),
            _ => None,
        }
    }
}

/// Where and how to start the system; `Debug` redacts the internal token and the
/// values of secret variables in `extra_env`.
#[derive(Clone)]
pub struct SystemConfig {
    /// The message bus; with [`BusKind::RocketMq`], `mq_port` is the name server's.
    pub bus: BusKind,
    /// How the broker and the services are run.
    pub programs: Programs,
    /// Folder holding the binaries (`mq-broker`, `order-svc`, …) of [`Programs::Binaries`].
    pub bin_dir: PathBuf,
    /// MariaDB server URL without a schema; each service gets `<url>/shop_<service><suffix>`.
    pub mysql_url: String,
    pub redis_url: String,
    /// Host the services and the broker listen on and are called at.
    pub host: String,
    pub mq_port: u16,
    pub mq_admin_port: u16,
    /// Port of each service, in the order of [`Service::ALL`].
    pub service_ports: [u16; 5],
    /// Appended to every schema name (tests use it to isolate runs).
    pub schema_suffix: String,
    /// Broker data directory and the children's log files live under it.
    pub data_dir: PathBuf,
    /// More environment for every child (short timeouts, `SHOP_FAULTS`, …).
    pub extra_env: Vec<(String, String)>,
    /// How long to wait for each process to become healthy.
    pub ready_timeout: Duration,
    /// `SHOP_INTERNAL_TOKEN`, the service credential every service gets; when `None`
    /// (unset), [`System::start`] generates one for the run and warns.
    pub internal_token: Option<String>,
}

impl std::fmt::Debug for SystemConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const REDACTED: &str = "<redacted>";
        // Every field by name: a new one must be added here before this compiles.
        let SystemConfig {
            bus,
            programs,
            bin_dir,
            mysql_url,
            redis_url,
            host,
            mq_port,
            mq_admin_port,
            service_ports,
            schema_suffix,
            data_dir,
            extra_env,
            ready_timeout,
            internal_token,
        } = self;
        let secret = |name: &str| {
            ["TOKEN", "SECRET", "PASSWORD"]
                .iter()
                .any(|word| name.to_ascii_uppercase().contains(word))
        };
        let extra_env: Vec<(&str, &str)> = extra_env
            .iter()
            .map(|(name, value)| {
                let value = if secret(name) {
                    REDACTED
                } else {
                    value.as_str()
                };
                (name.as_str(), value)
            })
            .collect();
        f.debug_struct("SystemConfig")
            .field("bus", bus)
            .field("programs", programs)
            .field("bin_dir", bin_dir)
            .field("mysql_url", mysql_url)
            .field("redis_url", redis_url)
            .field("host", host)
            .field("mq_port", mq_port)
            .field("mq_admin_port", mq_admin_port)
            .field("service_ports", service_ports)
            .field("schema_suffix", schema_suffix)
            .field("data_dir", data_dir)
            .field("extra_env", &extra_env)
            .field("ready_timeout", ready_timeout)
            .field("internal_token", &internal_token.as_ref().map(|_| REDACTED))
            .finish()
    }
}

impl SystemConfig {
    /// The defaults of docs/operations.md, "Settings": fixed ports on localhost,
    /// binaries beside this executable.
    pub fn local_defaults() -> Self {
        let bin_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        SystemConfig {
            bus: BusKind::Mq,
            programs: Programs::Binaries,
            bin_dir,
            mysql_url: "mysql://root@127.0.0.1:3306".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            host: "127.0.0.1".into(),
            mq_port: 9876,
            mq_admin_port: 9877,
            service_ports: Service::ALL.map(Service::default_port),
            schema_suffix: String::new(),
            data_dir: PathBuf::from("data"),
            extra_env: Vec::new(),
            ready_timeout: Duration::from_secs(60),
            internal_token: std::env::var("SHOP_INTERNAL_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
        }
    }

    pub fn port(&self, service: Service) -> u16 {
        let index = Service::ALL.iter().position(|s| *s == service);
        self.service_ports[index.expect("Service::ALL holds every service")]
    }

    pub fn service_url(&self, service: Service) -> String {
        format!("http://{}:{}", self.host, self.port(service))
    }

    pub fn mq_addr(&self) -> String {
        format!("{}:{}", self.host, self.mq_port)
    }

    pub fn mq_admin_url(&self) -> String {
        format!("http://{}:{}", self.host, self.mq_admin_port)
    }

    pub fn database_url(&self, service: Service) -> String {
        let base = self.mysql_url.trim_end_matches('/');
        format!("{base}/shop_{}{}", service.name(), self.schema_suffix)
    }

    /// The environment a service child gets: every variable of docs/operations.md
    /// ("Settings"), explicitly.
    fn service_env(&self, service: Service) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "LISTEN_ADDR".to_string(),
                format!("{}:{}", self.host, self.port(service)),
            ),
            ("DATABASE_URL".into(), self.database_url(service)),
            ("REDIS_URL".into(), self.redis_url.clone()),
            ("MQ_ADDR".into(), self.mq_addr()),
            (
                "MQ_ADMIN_ADDR".into(),
                format!("{}:{}", self.host, self.mq_admin_port),
            ),
        ];
        if let Some(token) = &self.internal_token {
            env.push(("SHOP_INTERNAL_TOKEN".into(), token.clone()));
        }
        env.push(("SHOP_BUS".into(), self.bus.name().into()));
        if self.bus == BusKind::RocketMq {
            env.push(("ROCKETMQ_NAMESRV_ADDR".into(), self.mq_addr()));
            // Routes and heartbeats as often as the client allows: a restarted broker
            // learns the topics and groups it lost within 10 s, not RocketMQ's 30 s.
            env.push(("ROCKETMQ_CLIENT_INTERVAL".into(), "10s".into()));
            // The 1.0.0 client's consumers rebalance every 20 s (a pull that failed
            // while the broker was down resumes at the next one); the client reads
            // this variable for it.
            env.push((
                "rocketmq.client.rebalance.waitInterval".into(),
                "3000".into(),
            ));
        }
        env.extend(
            Service::ALL
                .iter()
                .map(|s| (s.url_var().to_string(), self.service_url(*s))),
        );
        env.extend(self.extra_env.iter().cloned());
        env
    }

    fn broker_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "MQ_LISTEN".to_string(),
                format!("{}:{}", self.host, self.mq_port),
            ),
            (
                "MQ_ADMIN_LISTEN".into(),
                format!("{}:{}", self.host, self.mq_admin_port),
            ),
            (
                "MQ_DATA_DIR".into(),
                self.data_dir.join("mq").display().to_string(),
            ),
        ];
        env.extend(self.extra_env.iter().cloned());
        env
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.data_dir.join("logs").join(format!("{name}.log"))
    }

    /// The program and arguments that run `binary` (`mq-broker`, `order-svc`, …).
    fn program(&self, binary: &str) -> (PathBuf, Vec<String>) {
        match &self.programs {
            Programs::Binaries => (self.bin_dir.join(binary), Vec::new()),
            Programs::Serve(exe) => {
                let part = match binary {
                    BROKER_BINARY => "broker",
                    service => service.trim_end_matches("-svc"),
                };
                (exe.clone(), vec!["serve".into(), part.into()])
            }
        }
    }

    /// Whether `binary` can be run: always with [`Programs::Serve`].
    fn has_program(&self, binary: &str) -> bool {
        match &self.programs {
            Programs::Binaries => self.bin_dir.join(binary).is_file(),
            Programs::Serve(exe) => exe.is_file(),
        }
    }
}

/// The broker and the five services, running as child processes.
pub struct System {
    pub config: SystemConfig,
    /// Started first, stopped last.
    broker: Option<ChildProcess>,
    /// The name server and broker of [`BusKind::RocketMq`], in place of `broker`.
    rocketmq: Option<shop_testkit::RocketMq>,
    services: Vec<(Service, ChildProcess)>,
}

pub const BROKER_BINARY: &str = "mq-broker";

impl System {
    /// Generates the service credential when none is set (with a warning), checks
    /// MariaDB and Redis, then starts the broker (when its binary exists) and the
    /// five services, and waits until each is healthy.
    pub async fn start(mut config: SystemConfig) -> Result<System> {
        if config.internal_token.is_none() {
            tracing::warn!(
                "SHOP_INTERNAL_TOKEN is not set: generated a service credential for this run; \
                 set it to keep one across restarts or to call internal endpoints yourself"
            );
            config.internal_token = Some(shop_kit::settings::generate_internal_token());
        }
        check_mysql(&config.mysql_url).await?;
        check_redis(&config.redis_url).await?;
        for service in Service::ALL {
            if !config.has_program(service.binary()) {
                return Err(LaunchError::MissingBinary {
                    name: service.binary().into(),
                    dir: config.bin_dir.clone(),
                });
            }
        }
        let mut system = System {
            config,
            broker: None,
            rocketmq: None,
            services: Vec::new(),
        };
        // On any failure the children started so far are stopped before returning.
        match system.start_children().await {
            Ok(()) => Ok(system),
            Err(e) => {
                system.stop().await;
                Err(e)
            }
        }
    }

    async fn start_children(&mut self) -> Result<()> {
        let config = self.config.clone();
        if config.bus == BusKind::RocketMq {
            let folder = config.data_dir.join("rocketmq");
            std::fs::create_dir_all(&folder).map_err(|source| LaunchError::Spawn {
                name: "rocketmq".into(),
                source,
            })?;
            let started = shop_testkit::RocketMq::start_at(Some(folder), Some(config.mq_port))
                .await
                .map_err(|e| LaunchError::Preflight(format!("RocketMQ: {e:#}")))?;
            self.rocketmq = Some(started);
        } else if config.has_program(BROKER_BINARY) {
            self.broker = Some(Self::spawn_broker(&config)?);
            let broker = self.broker.as_mut().expect("just set");
            let admin = format!("{}/topics", config.mq_admin_url());
            broker.wait_http_ok(&admin, config.ready_timeout).await?;
        } else {
            tracing::warn!(
                "{BROKER_BINARY} not found in {}: services will report the broker down",
                config.bin_dir.display()
            );
        }
        for service in Service::ALL {
            let child = Self::spawn_service(&config, service)?;
            self.services.push((service, child));
        }
        for (service, child) in &mut self.services {
            let health = format!("{}/health", config.service_url(*service));
            child.wait_http_ok(&health, config.ready_timeout).await?;
        }
        Ok(())
    }

    fn spawn_broker(config: &SystemConfig) -> Result<ChildProcess> {
        let (program, args) = config.program(BROKER_BINARY);
        ChildProcess::spawn_with_args(
            BROKER_BINARY,
            &program,
            &args,
            &config.broker_env(),
            &config.log_path(BROKER_BINARY),
        )
    }

    fn spawn_service(config: &SystemConfig, service: Service) -> Result<ChildProcess> {
        let (program, args) = config.program(service.binary());
        ChildProcess::spawn_with_args(
            service.binary(),
            &program,
            &args,
            &config.service_env(service),
            &config.log_path(service.binary()),
        )
    }

    /// The broker's address for clients, when the broker runs.
    pub fn broker_addr(&self) -> Option<SocketAddr> {
        if self.broker.is_none() && self.rocketmq.is_none() {
            return None;
        }
        self.config.mq_addr().parse().ok()
    }

    /// The first child that has exited on its own, with its exit status.
    pub fn exited(&mut self) -> Option<(String, String)> {
        let broker = self.broker.iter_mut();
        let services = self.services.iter_mut().map(|(_, c)| c);
        let exited = broker
            .chain(services)
            .find_map(|c| c.try_exit_status().map(|s| (c.name().to_string(), s)));
        exited.or_else(|| self.rocketmq.as_mut()?.exited())
    }

    /// Stops the services (SIGTERM, then SIGKILL after a grace period), then the broker.
    pub async fn stop(&mut self) {
        let services: Vec<_> = self.services.drain(..).map(|(_, c)| c).collect();
        futures_stop_all(services).await;
        if let Some(broker) = self.broker.take() {
            broker.stop(Duration::from_secs(10)).await;
        }
        if let Some(rocketmq) = self.rocketmq.take() {
            rocketmq.stop().await;
        }
    }
}

async fn futures_stop_all(children: Vec<ChildProcess>) {
    let stops = children
        .into_iter()
        .map(|c| tokio::spawn(c.stop(Duration::from_secs(10))));
    for stop in stops {
        let _ = stop.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_internal_token_and_secret_variables() {
        let mut config = SystemConfig::local_defaults();
        config.internal_token = Some("t0ken-that-must-not-show".into());
        config.extra_env = vec![
            (
                "PAY_CALLBACK_SECRET".into(),
                "secret-that-must-not-show".into(),
            ),
            ("SHOP_FAULTS".into(), "on".into()),
        ];
        let text = format!("{config:?}");
        assert!(!text.contains("must-not-show"), "{text}");
        assert!(text.contains("SHOP_FAULTS"), "{text}");
        assert!(text.contains("\"on\""), "other variables show: {text}");
        assert_eq!(text.matches("<redacted>").count(), 2, "{text}");
    }
}
