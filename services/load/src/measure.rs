//! The confirm-order runs: `clients` tasks post orders back to back for `duration`;
//! each answer's latency is recorded, and the run reports confirmed orders/s,
//! p50/p99/max latency and the failed answers by code.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use futures::future::join_all;
use rand::Rng;
use shop_kit::{clients::ClientError, contracts::order::ConfirmOrder, ids::Id, money::Money};

use crate::{Fixture, PRICE};

/// One run's shape.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub clients: usize,
    pub duration: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub clients: usize,
    pub ok: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub errors: BTreeMap<String, usize>,
}

impl Report {
    pub fn new(
        name: &str,
        plan: &Plan,
        mut latencies: Vec<Duration>,
        errors: BTreeMap<String, usize>,
        elapsed: Duration,
    ) -> Report {
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        let ok = latencies.len();
        Report {
            name: name.into(),
            clients: plan.clients,
            ok,
            per_second: ok as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            errors,
        }
    }

    pub fn line(&self) -> String {
        let errors: usize = self.errors.values().sum();
        format!(
            "{:<28} {:>3} clients: {:>8.1}/s  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  errors {} {:?}",
            self.name,
            self.clients,
            self.per_second,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            errors,
            self.errors
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The summary table of every run.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| run | clients | confirmed | per s | p50 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let errors: usize = r.errors.values().sum();
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} |\n",
            r.name,
            r.clients,
            r.ok,
            r.per_second,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            errors
        ));
    }
    out
}

/// Names of the reference runs, as [`ratios`] finds them.
pub const MINIMAL: &str = "minimal transactions (reference)";
pub const BARE_SQL: &str = "bare SQL (reference)";

/// Confirmed orders/s of each confirm-order run as a share of the two references
/// measured with the same number of clients in the same run.
pub fn ratios(reports: &[Report]) -> String {
    let mut out = String::from(
        "| run | clients | per s | of minimal transactions | of bare SQL |\n|---|---|---|---|---|\n",
    );
    let reference = |name: &str, clients: usize| {
        reports
            .iter()
            .find(|r| r.name == name && r.clients == clients)
            .map(|r| r.per_second)
    };
    let share = |value: f64, of: Option<f64>| match of {
        Some(of) if of > 0.0 => format!("{:.0}%", 100.0 * value / of),
        _ => "–".into(),
    };
    for r in reports
        .iter()
        .filter(|r| r.name != MINIMAL && r.name != BARE_SQL)
    {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} |\n",
            r.name,
            r.clients,
            r.per_second,
            share(r.per_second, reference(MINIMAL, r.clients)),
            share(r.per_second, reference(BARE_SQL, r.clients)),
        ));
    }
    out
}

/// A correct order of one unit of `goods_id` by `user_id`, paying 1.00 from the balance.
pub fn order(user_id: Id, goods_id: Id) -> ConfirmOrder {
    let price: Money = PRICE.parse().expect("a price");
    ConfirmOrder {
        user_id,
        goods_id,
        quantity: 1,
        goods_price: price,
        order_amount: price,
        shipping_fee: Money::ZERO,
        coupon_id: None,
        money_paid: Money::from_cents(100),
        address: "load".into(),
    }
}

/// The code of a failed answer.
fn code(error: &ClientError) -> String {
    match error {
        ClientError::Rejected { body, .. } => body.code.clone(),
        ClientError::Unavailable { .. } => "UNAVAILABLE".into(),
        ClientError::Protocol { .. } => "PROTOCOL".into(),
    }
}

/// Orders `goods` (one picked at random per order) from `plan.clients` clients.
pub async fn run(fixture: &Fixture, name: &str, goods: &[Id], plan: &Plan) -> Report {
    let start = Instant::now();
    let deadline = start + plan.duration;
    let clients = (0..plan.clients).map(|_| async move {
        let mut latencies = Vec::new();
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        while Instant::now() < deadline {
            let (user, item) = {
                let mut rng = rand::rng();
                (
                    fixture.users[rng.random_range(0..fixture.users.len())],
                    goods[rng.random_range(0..goods.len())],
                )
            };
            let sent = Instant::now();
            match fixture.orders.confirm_order(&order(user, item)).await {
                Ok(_) => latencies.push(sent.elapsed()),
                Err(e) => *errors.entry(code(&e)).or_default() += 1,
            }
        }
        (latencies, errors)
    });
    let results = join_all(clients).await;
    let elapsed = start.elapsed();
    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    for (l, e) in results {
        latencies.extend(l);
        for (code, n) in e {
            *errors.entry(code).or_default() += n;
        }
    }
    Report::new(name, plan, latencies, errors, elapsed)
}

/// The end of a sell-out.
pub struct SoldOut {
    pub confirmed: usize,
    pub stock: i64,
    pub available: i64,
}

/// Creates an item of `stock` units, lets `clients` clients buy it until every client
/// was refused for stock, waits for the journals to be applied, and reads it back.
pub async fn sell_out(fixture: &Fixture, stock: i64, clients: usize) -> anyhow::Result<SoldOut> {
    let item = crate::create_goods(&fixture.goods, "sell-out", stock).await?;
    let buyers = (0..clients).map(|i| async move {
        let user = fixture.users[i % fixture.users.len()];
        let mut confirmed = 0;
        let mut refused_in_a_row = 0;
        while refused_in_a_row < 3 {
            match fixture.orders.confirm_order(&order(user, item)).await {
                Ok(_) => {
                    confirmed += 1;
                    refused_in_a_row = 0;
                }
                Err(e) if code(&e) == "STOCK_NOT_ENOUGH" => refused_in_a_row += 1,
                Err(_) => {}
            }
        }
        confirmed
    });
    let confirmed: usize = join_all(buyers).await.into_iter().sum();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let goods = fixture
            .goods
            .get_goods(item)
            .await?
            .expect("the item exists");
        let settled = goods.stock == goods.available;
        if settled || Instant::now() > deadline {
            return Ok(SoldOut {
                confirmed,
                stock: goods.stock,
                available: goods.available,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
