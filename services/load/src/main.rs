//! `shop-load`: posts confirm-order requests to a running Shop (`shop up`) from N
//! concurrent clients, for one hot goods item and for many items, and reports
//! confirmed orders/s, p50/p99 latency and errors; in the same run it measures two
//! references from the same number of clients: the bare SQL (insert an order and
//! decrement one hot stock row in one transaction) and the minimal transactions one
//! order needs in this design on the services' own tables ([`minimal`]); it prints
//! every run and the ratios to the references as markdown tables, and checks that a
//! sold-out item was not oversold.
//!
//! ```sh
//! cargo build --release -p shop -p shop-load && target/release/shop up &
//! target/release/shop-load --clients 1,16,64 --duration 10s
//! ```

mod count;
mod measure;
mod minimal;
mod reference;

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use shop_kit::{
    clients::{GoodsClient, OrderClient, UserClient},
    contracts::{goods::CreateGoods, user::CreateUser},
    ids::Id,
    money::Money,
};

use crate::measure::{Plan, Report};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "shop-load",
    about = "Confirm-order load against a running Shop"
)]
pub struct Args {
    /// Concurrent clients, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// How long each run lasts.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Goods items of the "many items" runs.
    #[arg(long, default_value_t = 1000)]
    items: usize,
    /// Buyers (each order picks one at random and pays 1.00 from its balance).
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Units of the item sold out at the end to check for oversell.
    #[arg(long, default_value_t = 500)]
    sellout_stock: i64,
    #[arg(long, env = "ORDER_SVC_URL", default_value = "http://127.0.0.1:8081")]
    order_url: String,
    #[arg(long, env = "GOODS_SVC_URL", default_value = "http://127.0.0.1:8082")]
    goods_url: String,
    #[arg(long, env = "USER_SVC_URL", default_value = "http://127.0.0.1:8084")]
    user_url: String,
    /// Server for the references (scratch schemas `shop_load_reference` and
    /// `shop_load_min_*`).
    #[arg(
        long,
        env = "SHOP_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    mysql_url: String,
    /// Instead of the runs: place this many orders from one client and print what one
    /// order costs MariaDB (its global status counters, minus an idle window; use a
    /// server of the system's own).
    #[arg(long)]
    count: Option<usize>,
}

/// What the runs order against.
pub struct Fixture {
    pub orders: OrderClient,
    pub goods: GoodsClient,
    pub users: Vec<Id>,
}

const PRICE: &str = "200.00";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let goods = GoodsClient::new(&args.goods_url);
    let users_client = UserClient::new(&args.user_url);
    eprintln!(
        "creating {} users and {} goods items…",
        args.users,
        args.items + 1
    );
    let mut users = Vec::with_capacity(args.users);
    for i in 0..args.users {
        let user = CreateUser {
            name: format!("load-{i}"),
            balance: "1000000.00".parse()?,
        };
        users.push(
            users_client
                .create_user(&user)
                .await
                .context("create user")?
                .user_id,
        );
    }
    let hot = create_goods(&goods, "hot", 1_000_000_000).await?;
    let mut many = Vec::with_capacity(args.items);
    for i in 0..args.items {
        many.push(create_goods(&goods, &format!("item-{i}"), 1_000_000).await?);
    }
    let fixture = Fixture {
        orders: OrderClient::new(&args.order_url),
        goods,
        users,
    };
    if let Some(orders) = args.count {
        return count::run(&fixture, &args.mysql_url, hot, orders).await;
    }
    let mut reports: Vec<Report> = Vec::new();
    for &clients in &args.clients {
        let plan = Plan {
            clients,
            duration: args.duration,
        };
        reports.push(measure::run(&fixture, "one hot item", &[hot], &plan).await);
        print_last(&reports);
        reports.push(measure::run(&fixture, "many items", &many, &plan).await);
        print_last(&reports);
        reports.push(minimal::run(&args.mysql_url, &plan).await?);
        print_last(&reports);
        reports.push(reference::run(&args.mysql_url, &plan).await?);
        print_last(&reports);
    }
    println!();
    println!("{}", measure::ratios(&reports));
    println!("{}", measure::table(&reports));
    let clients = args.clients.iter().copied().max().unwrap_or(1);
    let sold = measure::sell_out(&fixture, args.sellout_stock, clients).await?;
    println!(
        "sell-out: stock {} bought by {clients} clients: {} confirmed, MySQL stock {} and available {} after the journals applied — {}",
        args.sellout_stock,
        sold.confirmed,
        sold.stock,
        sold.available,
        if sold.confirmed as i64 == args.sellout_stock && sold.stock == 0 && sold.available == 0 {
            "no oversell"
        } else {
            "MISMATCH"
        }
    );
    Ok(())
}

async fn create_goods(goods: &GoodsClient, name: &str, stock: i64) -> anyhow::Result<Id> {
    let body = CreateGoods {
        name: name.into(),
        price: PRICE.parse::<Money>()?,
        stock,
    };
    Ok(goods
        .create_goods(&body)
        .await
        .context("create goods")?
        .goods_id)
}

fn print_last(reports: &[Report]) {
    if let Some(r) = reports.last() {
        eprintln!("{}", r.line());
    }
}
