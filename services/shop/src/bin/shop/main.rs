//! `shop`: the launcher and the hands-on tool of Shop.
//!
//! - `shop up` starts the broker and the five services against the configured
//!   MariaDB and Redis, waits until each is healthy, seeds the demo data, prints a
//!   walkthrough, and stops them all on ctrl-c or SIGTERM.
//! - `shop console` serves the browser console (broker and shop pages) for a running
//!   system; `shop up` serves it too.
//! - `shop pay <pay_id>` plays the payment platform: it sends pay-svc the callback of
//!   a successful (or `--failed`) payment, signed with `PAY_CALLBACK_SECRET`.
//! - `shop seed` creates (or finds) the demo data on a running system.
//! - `shop audit` checks the global invariants of a running system.
//! - `shop timeline <order_id>` prints one order's steps across the services and the
//!   broker.
//! - `shop scenario <name>|all|list` runs the whole-system scenarios, on a managed
//!   system of their own or (`--running`) against the one `shop up` started.

mod commands;
mod console;
mod serve;
mod timeline;
mod up;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use shop::launcher::{Programs, SystemConfig};
use shop::{Target, Timings};
use shop_kit::settings::{DEV_PAY_CALLBACK_SECRET, Service, parse_duration};

#[derive(Parser)]
#[command(
    name = "shop",
    version,
    about = "Run, try and check the Shop order system"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the broker and the five services, seed the demo data, and stop them on ctrl-c.
    Up(up::UpArgs),
    /// Serve the browser console (broker, messages, dead letters, shop, order timelines).
    Console(console::ConsoleArgs),
    /// Send pay-svc a correctly signed `paid` callback for a payment, as the payment
    /// platform would.
    Pay(commands::PayArgs),
    /// Create (or find) the demo user, goods item and coupon, and print the walkthrough.
    Seed(SystemArgs),
    /// Check the global invariants of a running system; exit code 1 when one fails.
    Audit(commands::AuditArgs),
    /// Run a whole-system scenario (`list` shows them, `all` runs them all).
    Scenario(commands::ScenarioArgs),
    /// Run one part (the broker or a service) in this process, as its own binary
    /// would; `shop up` starts its children this way.
    Serve(serve::ServeArgs),
    /// Print one order's timeline: every step across the services and the broker.
    Timeline(timeline::TimelineArgs),
}

/// Where the system is (the settings of `shop up`).
#[derive(Args, Clone)]
pub struct SystemArgs {
    /// MariaDB/MySQL server (no schema: each service uses shop_<service><suffix>).
    #[arg(
        long,
        env = "SHOP_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    mysql_url: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Broker client address.
    #[arg(long, env = "MQ_ADDR", default_value = "127.0.0.1:9876")]
    mq_addr: String,
    /// Broker admin HTTP address.
    #[arg(long, env = "MQ_ADMIN_ADDR", default_value = "127.0.0.1:9877")]
    mq_admin_addr: String,
    /// The broker's data and the processes' logs go here.
    #[arg(long, env = "SHOP_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Folder of the binaries `mq-broker`, `order-svc`, … to run (default: this
    /// executable runs each part as `shop serve <part>`).
    #[arg(long, env = "SHOP_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Appended to every schema name (`shop_order<suffix>`), to run beside another system.
    #[arg(long, env = "SHOP_SCHEMA_SUFFIX", default_value = "")]
    schema_suffix: String,
    /// The secret pay-svc checks callbacks with.
    #[arg(long = "callback-secret", env = "PAY_CALLBACK_SECRET", default_value = DEV_PAY_CALLBACK_SECRET, hide_default_value = true)]
    secret: String,
}

fn port_of(addr: &str, what: &str) -> anyhow::Result<u16> {
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok());
    port.with_context(|| format!("{what}={addr:?} has no port"))
}

impl SystemArgs {
    fn config(&self) -> anyhow::Result<SystemConfig> {
        let mut config = SystemConfig::local_defaults();
        // Given a folder of binaries, run those; else this executable runs every part.
        match &self.bin_dir {
            Some(dir) => config.bin_dir = dir.clone(),
            None => {
                let exe = std::env::current_exe().context("locating the shop executable")?;
                config.programs = Programs::Serve(exe);
            }
        }
        config.mysql_url = self.mysql_url.clone();
        config.redis_url = self.redis_url.clone();
        config.mq_port = port_of(&self.mq_addr, "MQ_ADDR")?;
        config.mq_admin_port = port_of(&self.mq_admin_addr, "MQ_ADMIN_ADDR")?;
        for (i, service) in Service::ALL.into_iter().enumerate() {
            if let Ok(url) = std::env::var(service.url_var()) {
                config.service_ports[i] = port_of(&url, service.url_var())?;
            }
        }
        config.data_dir = self.data_dir.clone();
        config.schema_suffix = self.schema_suffix.clone();
        Ok(config)
    }

    /// The running system these settings point at, with its timings.
    fn target(&self, pay_timeout: Duration, abandon_after: Duration) -> anyhow::Result<Target> {
        let timings = Timings {
            pay_timeout,
            abandon_after,
            ..Timings::defaults()
        };
        Ok(Target {
            config: self.config()?,
            timings,
            callback_secret: self.secret.clone(),
        })
    }
}

/// `ORDER_PAY_TIMEOUT` / `ORDER_ABANDON_AFTER` as the running system reads them.
#[derive(Args, Clone)]
pub struct TimingArgs {
    /// The system's ORDER_PAY_TIMEOUT.
    #[arg(long, env = "ORDER_PAY_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pay_timeout: Duration,
    /// The system's ORDER_ABANDON_AFTER.
    #[arg(long, env = "ORDER_ABANDON_AFTER", default_value = "60s", value_parser = parse_duration)]
    abandon_after: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command;
    // A served part sets up its own logging, as its binary does.
    if !matches!(command, Command::Serve(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_target(false)
            .init();
    }
    let outcome = match command {
        Command::Up(args) => up::up(args).await,
        Command::Console(args) => console::console(args).await,
        Command::Pay(args) => commands::pay(args).await,
        Command::Seed(args) => commands::seed(args).await,
        Command::Audit(args) => commands::audit(args).await,
        Command::Scenario(args) => commands::scenario(args).await,
        Command::Serve(args) => serve::serve(args).await,
        Command::Timeline(args) => timeline::timeline(args).await,
    };
    // Errors are for people: the message and its causes, no backtrace.
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
