//! `shop up`: start the system, seed the demo data, print the walkthrough, and stop
//! everything on ctrl-c or SIGTERM (or when a child exits on its own). When MariaDB
//! or Redis does not answer at its configured URL, private servers are started first
//! (see [`PrivateServers`]), unless `--external`.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use shop::launcher::{BusKind, PrivateServers, System, SystemConfig};
use shop::{Target, Timings, console::Console, seed};
use shop_kit::settings::{Service, parse_duration};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::SystemArgs;

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    system: SystemArgs,
    /// How long each process may take to become healthy.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    ready_timeout: Duration,
    /// Do not create the demo user, goods item and coupon.
    #[arg(long)]
    no_seed: bool,
    /// Use only the configured MariaDB and Redis: fail when one does not answer,
    /// instead of starting a private server.
    #[arg(long)]
    external: bool,
    /// The message bus: `mq` (the embedded broker) or `rocketmq` (a RocketMQ name
    /// server on the broker's address and one broker, started here; needs the
    /// `rocketmq-namesrv-rust` and `rocketmq-broker-rust` binaries and a `shop` built
    /// with the cargo feature `rocketmq`).
    #[arg(long, env = "SHOP_BUS", default_value = "mq", value_parser = parse_bus)]
    bus: BusKind,
    /// Address of the browser console served beside the system.
    #[arg(long, env = "SHOP_CONSOLE_ADDR", default_value = shop::console::DEFAULT_ADDR)]
    console_addr: String,
}

pub async fn up(args: UpArgs) -> anyhow::Result<bool> {
    let mut config = args.system.config()?;
    config.ready_timeout = args.ready_timeout;
    config.bus = args.bus;
    if config.bus == BusKind::RocketMq && !cfg!(feature = "rocketmq") {
        bail!("--bus rocketmq: this shop was built without the cargo feature `rocketmq`");
    }
    println!(
        "Starting Shop (logs in {}/logs) …",
        config.data_dir.display()
    );
    let mut servers = match PrivateServers::ensure(&mut config, args.external).await {
        Ok(servers) => servers,
        Err(e) => bail!("{e}"),
    };
    let mut system = match System::start(config).await {
        Ok(system) => system,
        Err(e) => {
            servers.stop().await;
            bail!("{e}");
        }
    };
    print_welcome(
        &system.config,
        system.broker_addr().is_some(),
        !args.no_seed,
    );
    print_private_servers(&system.config, &servers);
    let target = Target {
        config: system.config.clone(),
        timings: Timings::defaults(),
        callback_secret: args.system.secret.clone(),
    };
    let console_stop = CancellationToken::new();
    match Console::bind(&args.console_addr, target.clone()).await {
        Ok(console) => {
            println!("  {:<11} {}", "console", console.url());
            let stop = console_stop.clone();
            tokio::spawn(async move {
                if let Err(e) = console.serve(stop).await {
                    eprintln!("console stopped: {e:#}");
                }
            });
        }
        Err(e) => println!("  (console not started: {e:#})"),
    }
    if !args.no_seed {
        match seed::seed(&target).await {
            Ok(demo) => println!("\n{}", seed::walkthrough(&target, &demo)),
            Err(e) => println!("\n(demo data not seeded: {e:#})"),
        }
    }
    println!("Press ctrl-c to stop.");

    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut watch = tokio::time::interval(Duration::from_millis(500));
    let reason = loop {
        // Signals first: a terminal's ctrl-c reaches the children too, and a child that
        // stops on it must not be taken for one that exited on its own.
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => break None,
            _ = terminate.recv() => break None,
            _ = watch.tick() => {
                if let Some((name, status)) = system.exited().or_else(|| servers.exited()) {
                    break Some(format!("{name} exited on its own ({status})"));
                }
            }
        }
    };
    println!("\nStopping …");
    console_stop.cancel();
    system.stop().await;
    servers.stop().await;
    match reason {
        None => {
            println!("Stopped.");
            Ok(true)
        }
        Some(reason) => bail!("{reason}; everything else was stopped"),
    }
}

/// Which servers are private, and the settings that reach them (for `shop seed`,
/// `shop audit` and `shop scenario --running` in another terminal).
fn print_private_servers(config: &SystemConfig, servers: &PrivateServers) {
    if !servers.any() {
        return;
    }
    println!();
    for note in &servers.notes {
        println!("{note}");
    }
    println!(
        "For shop seed, audit and scenario --running in another terminal:\n  \
         export SHOP_MYSQL_URL={} REDIS_URL={}",
        config.mysql_url, config.redis_url
    );
}

/// The URLs; without the demo data (whose walkthrough follows), a first curl to try.
fn print_welcome(config: &SystemConfig, broker: bool, seeding: bool) {
    println!("\nShop is up.");
    if broker && config.bus == BusKind::RocketMq {
        println!(
            "  {:<11} name server {} (ROCKETMQ_NAMESRV_ADDR), one broker; data and logs in {}",
            "rocketmq",
            config.mq_addr(),
            config.data_dir.join("rocketmq").display()
        );
    } else if broker {
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
    if seeding {
        return;
    }
    let user = config.service_url(Service::User);
    let goods = config.service_url(Service::Goods);
    println!(
        "\nTry:\n  \
         curl -s -X POST {user}/users -H 'content-type: application/json' -d '{{\"name\":\"alice\",\"balance\":\"10000.00\"}}'\n  \
         curl -s -X POST {goods}/goods -H 'content-type: application/json' -d '{{\"name\":\"phone\",\"price\":\"5000.00\",\"stock\":100}}'"
    );
}

fn parse_bus(text: &str) -> Result<BusKind, String> {
    BusKind::parse(text).ok_or_else(|| format!("{text:?}: expected mq or rocketmq"))
}
