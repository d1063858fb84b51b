//! `shop console`: serves the browser console for a running system (the one `shop up`
//! started, or any reached through the same settings) until ctrl-c.

use clap::Args;
use shop::{Target, Timings, console::Console};
use tokio_util::sync::CancellationToken;

use crate::SystemArgs;

#[derive(Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    system: SystemArgs,
    /// Address the console listens on.
    #[arg(long = "addr", env = "SHOP_CONSOLE_ADDR", default_value = shop::console::DEFAULT_ADDR)]
    addr: String,
}

pub async fn console(args: ConsoleArgs) -> anyhow::Result<bool> {
    let target = Target {
        config: args.system.config()?,
        timings: Timings::defaults(),
        callback_secret: args.system.secret.clone(),
    };
    let console = Console::bind(&args.addr, target).await?;
    println!("Shop console: {}  (ctrl-c to stop)", console.url());
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        shop_kit::server::shutdown_signal().await;
        on_signal.cancel();
    });
    console.serve(stop).await?;
    Ok(true)
}
