//! `shop serve <part>`: runs one part of the system — the broker or one of the five
//! services — in this process, exactly as its own binary (`mq-broker`, `order-svc`, …)
//! would, with settings from the environment. `shop up` starts its children this way,
//! so that running Shop needs one binary built: `cargo run --release -p shop -- up`.

use clap::{Args, ValueEnum};

#[derive(Args)]
pub struct ServeArgs {
    /// The part to run.
    part: Part,
}

#[derive(Clone, Copy, ValueEnum)]
enum Part {
    Broker,
    Order,
    Goods,
    Coupon,
    User,
    Pay,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<bool> {
    use shop_kit::server::run_main;
    match args.part {
        Part::Broker => mq::process::run_from_env().await?,
        Part::Order => run_main::<order_svc::App>().await?,
        Part::Goods => run_main::<goods_svc::App>().await?,
        Part::Coupon => run_main::<coupon_svc::App>().await?,
        Part::User => run_main::<user_svc::App>().await?,
        Part::Pay => run_main::<pay_svc::App>().await?,
    }
    Ok(true)
}
