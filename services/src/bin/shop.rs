//! `shop`: the launcher and the hands-on tool of Shop.
//!
//! `shop up` starts the broker and the five services against the configured MariaDB
//! and Redis, waits until each is healthy, prints what to curl, and stops them all on
//! ctrl-c or SIGTERM. `shop pay <pay_id>` plays the payment platform: it sends
//! pay-svc the callback of a successful (or `--failed`) payment, signed with
//! `PAY_CALLBACK_SECRET` as pay-svc checks it.

use std::{process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use services::{
    clients::PayClient,
    contracts::pay::CallbackStatus,
    ids::Id,
    launcher::{System, SystemConfig},
    settings::{DEV_PAY_CALLBACK_SECRET, Service},
};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(name = "shop", version, about = "Run and try the Shop order system")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the broker and the five services, and stop them on ctrl-c.
    Up(UpArgs),
    /// Send pay-svc a correctly signed `paid` callback for a payment, as the payment
    /// platform would.
    Pay(PayArgs),
}

#[derive(Args)]
struct PayArgs {
    /// The payment (`pay_id` of `POST /payments`).
    pay_id: String,
    /// Report the payment as failed instead of paid.
    #[arg(long)]
    failed: bool,
    /// The platform's transaction number (default: made up).
    #[arg(long)]
    trade_no: Option<String>,
    #[arg(long, env = "PAY_SVC_URL", default_value = "http://127.0.0.1:8085")]
    pay_svc_url: String,
    /// The secret pay-svc checks callbacks with.
    #[arg(long, env = "PAY_CALLBACK_SECRET", default_value = DEV_PAY_CALLBACK_SECRET, hide_default_value = true)]
    secret: String,
}

#[derive(Args)]
struct UpArgs {
    /// MariaDB/MySQL server (no schema: each service uses shop_<service>).
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
    data_dir: std::path::PathBuf,
    /// Folder of the binaries (default: beside this executable).
    #[arg(long, env = "SHOP_BIN_DIR")]
    bin_dir: Option<std::path::PathBuf>,
    /// Appended to every schema name (`shop_order<suffix>`), to run beside another system.
    #[arg(long, env = "SHOP_SCHEMA_SUFFIX", default_value = "")]
    schema_suffix: String,
    /// How long each process may take to become healthy.
    #[arg(long, default_value = "60s", value_parser = services::settings::parse_duration)]
    ready_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    let outcome = match Cli::parse().command {
        Command::Up(args) => up(args).await,
        Command::Pay(args) => pay(args).await,
    };
    // Errors are for people: the message and its causes, no backtrace.
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn port_of(addr: &str, what: &str) -> anyhow::Result<u16> {
    let port = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok());
    port.with_context(|| format!("{what}={addr:?} has no port"))
}

fn config_from(args: UpArgs) -> anyhow::Result<SystemConfig> {
    let mut config = SystemConfig::local_defaults();
    if let Some(dir) = args.bin_dir {
        config.bin_dir = dir;
    }
    config.mysql_url = args.mysql_url;
    config.redis_url = args.redis_url;
    config.mq_port = port_of(&args.mq_addr, "MQ_ADDR")?;
    config.mq_admin_port = port_of(&args.mq_admin_addr, "MQ_ADMIN_ADDR")?;
    for (i, service) in Service::ALL.into_iter().enumerate() {
        if let Ok(url) = std::env::var(service.url_var()) {
            config.service_ports[i] = port_of(&url, service.url_var())?;
        }
    }
    config.data_dir = args.data_dir;
    config.schema_suffix = args.schema_suffix;
    config.ready_timeout = args.ready_timeout;
    Ok(config)
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let config = config_from(args)?;
    println!(
        "Starting Shop (logs in {}/logs) …",
        config.data_dir.display()
    );
    let mut system = match System::start(config).await {
        Ok(system) => system,
        Err(e) => bail!("{e}"),
    };
    print_welcome(&system.config, system.broker_addr().is_some());

    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut watch = tokio::time::interval(Duration::from_millis(500));
    let reason = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break None,
            _ = terminate.recv() => break None,
            _ = watch.tick() => {
                if let Some((name, status)) = system.exited() {
                    break Some(format!("{name} exited on its own ({status})"));
                }
            }
        }
    };
    println!("\nStopping …");
    system.stop().await;
    match reason {
        None => {
            println!("Stopped.");
            Ok(())
        }
        Some(reason) => bail!("{reason}; everything else was stopped"),
    }
}

async fn pay(args: PayArgs) -> anyhow::Result<()> {
    let pay_id = Id::parse(&args.pay_id)
        .with_context(|| format!("{:?} is not a payment id", args.pay_id))?;
    let status = if args.failed {
        CallbackStatus::Failed
    } else {
        CallbackStatus::Paid
    };
    let trade_no = args.trade_no.unwrap_or_else(|| {
        let now = chrono::Utc::now().format("%Y%m%d%H%M%S");
        format!("SHOP{now}{pay_id}")
    });
    let client = PayClient::new(&args.pay_svc_url);
    client
        .callback(&args.secret, pay_id, status, Some(trade_no.clone()))
        .await
        .with_context(|| format!("callback to {}", args.pay_svc_url))?;
    println!("callback sent: payment {pay_id} {status:?}, trade_no {trade_no}");
    if let Some(payment) = client.get_payment(pay_id).await? {
        println!("{}", serde_json::to_string(&payment)?);
    }
    Ok(())
}

fn print_welcome(config: &SystemConfig, broker: bool) {
    println!("\nShop is up.");
    if broker {
        println!(
            "  {:<11} {}  (admin and dashboard: {})",
            "mq-broker",
            config.mq_addr(),
            config.mq_admin_url()
        );
    }
    for service in Service::ALL {
        println!("  {:<11} {}", service.binary(), config.service_url(service));
    }
    let user = config.service_url(Service::User);
    let goods = config.service_url(Service::Goods);
    println!(
        "\nTry:\n  \
         curl -s -X POST {user}/users -H 'content-type: application/json' -d '{{\"name\":\"alice\",\"balance\":\"10000.00\"}}'\n  \
         curl -s -X POST {goods}/goods -H 'content-type: application/json' -d '{{\"name\":\"phone\",\"price\":\"5000.00\",\"stock\":100}}'\n\
         \nPress ctrl-c to stop."
    );
}
