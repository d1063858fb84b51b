//! The named scenarios and what runs them: each drives the system through one flow,
//! printing its checks as it goes, and ends with an audit that must pass.

mod basic;
mod concurrent;
mod duplicates;
mod pay;
mod restarts;

use std::{path::PathBuf, time::Duration};

use anyhow::bail;
use shop_kit::{
    contracts::{coupon::CouponView, goods::GoodsView, order::OrderView, user::UserView},
    ids::Id,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::{
    api::ShopApi,
    audit::settled_audit,
    chaos::{self, ChaosOptions},
    managed::Managed,
    report::Report,
    target::Target,
};

/// A scenario's name, what it shows, and whether it must crash or restart parts of
/// the system (then it needs a managed one).
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub managed_only: bool,
}

const fn scenario(name: &'static str, about: &'static str, managed_only: bool) -> Scenario {
    Scenario {
        name,
        about,
        managed_only,
    }
}

/// Every scenario, in the order `shop scenario all` runs them.
pub const SCENARIOS: [Scenario; 11] = [
    scenario(
        "success",
        "an order with a coupon and balance is confirmed and every service records its part",
        false,
    ),
    scenario(
        "rollback",
        "a failure after each step (stock, coupon, balance) cancels the order and gives everything back",
        false,
    ),
    scenario(
        "pay",
        "a payment and its signed callback pay the order once, points once, replays change nothing",
        false,
    ),
    scenario(
        "pay-timeout",
        "an unpaid order is cancelled at the payment timeout; a payment arriving later is refunded",
        false,
    ),
    scenario(
        "abandoned",
        "order-svc crashes mid-confirm; after its restart the abandon sweep cancels the order",
        true,
    ),
    scenario(
        "duplicates",
        "every message delivered again and every step repeated changes nothing",
        false,
    ),
    scenario(
        "broker-restart",
        "kill -9 of the broker mid-flow; after its restart nothing is lost",
        true,
    ),
    scenario(
        "service-restart",
        "kill -9 of goods-svc and user-svc, pay-svc stopping between commit and send",
        true,
    ),
    scenario(
        "redis-flush",
        "Redis loses the stock cache; it is rebuilt from MySQL and nothing is oversold",
        false,
    ),
    scenario(
        "concurrent-buyers",
        "many buyers race for little stock and one coupon: no oversell, one use",
        false,
    ),
    scenario(
        "chaos",
        "clients order and pay while the broker, a service and Redis are killed at random",
        true,
    ),
];

/// Looks a scenario up by name.
pub fn find(name: &str) -> Option<Scenario> {
    SCENARIOS.into_iter().find(|s| s.name == name)
}

/// What a scenario runs against.
pub struct Ctx {
    pub target: Target,
    pub api: ShopApi,
    pub report: Report,
    pub chaos: ChaosOptions,
    managed: Option<Mutex<Managed>>,
}

impl Ctx {
    /// A system already running (`shop up`); scenarios that crash parts refuse it.
    pub fn running(target: Target) -> Ctx {
        Ctx {
            api: ShopApi::new(&target),
            target,
            report: Report,
            chaos: ChaosOptions::default(),
            managed: None,
        }
    }

    /// A system started by the scenarios.
    pub fn managed(system: Managed) -> Ctx {
        let mut ctx = Ctx::running(system.target.clone());
        ctx.managed = Some(Mutex::new(system));
        ctx
    }

    pub fn is_managed(&self) -> bool {
        self.managed.is_some()
    }

    /// The managed system, to crash and restart its parts.
    pub async fn system(&self) -> anyhow::Result<MutexGuard<'_, Managed>> {
        match &self.managed {
            Some(m) => Ok(m.lock().await),
            None => bail!(
                "this scenario crashes and restarts processes: it needs a managed system (run it without --running)"
            ),
        }
    }

    /// How long asynchronous effects may take.
    pub fn settle(&self) -> Duration {
        self.target.timings.settle()
    }

    /// Stops a managed system; the logs folder when kept.
    pub async fn stop(self, keep_logs: bool) -> Option<PathBuf> {
        match self.managed {
            Some(m) => m.into_inner().stop(keep_logs).await,
            None => None,
        }
    }

    /// A user, goods item and (optionally) coupon of the user, made for one check.
    pub async fn fixture(
        &self,
        balance: &str,
        price: &str,
        stock: i64,
        coupon: Option<&str>,
    ) -> anyhow::Result<Fixture> {
        let user = self.api.user("scenario-buyer", balance).await?;
        let goods = self.api.goods_item("scenario-item", price, stock).await?;
        let coupon = match coupon {
            Some(value) => Some(self.api.coupon(user.user_id, value).await?),
            None => None,
        };
        Ok(Fixture {
            user,
            goods,
            coupon,
        })
    }

    /// What the services hold about a fixture now.
    pub async fn state(&self, f: &Fixture) -> anyhow::Result<State> {
        let user = self.api.user_view(f.user.user_id).await?;
        let goods = self.api.goods_view(f.goods.goods_id).await?;
        let coupon_used = match &f.coupon {
            Some(c) => self.api.coupon_view(c.coupon_id).await?.used,
            None => false,
        };
        Ok(State {
            balance: user.balance.to_string(),
            stock: goods.stock,
            available: goods.available,
            coupon_used,
            points: user.points,
        })
    }

    /// Waits until the fixture's state is `want`.
    pub async fn settles_to(&self, what: &str, f: &Fixture, want: &State) -> anyhow::Result<()> {
        self.report
            .eventually(what, self.settle(), || async {
                match self.state(f).await {
                    Ok(now) if now == *want => Ok(()),
                    Ok(now) => Err(format!("{now:?}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            })
            .await
    }

    /// Waits until order `id` satisfies `test`; returns it.
    pub async fn order_becomes(
        &self,
        what: &str,
        id: Id,
        timeout: Duration,
        test: impl Fn(&OrderView) -> bool,
    ) -> anyhow::Result<OrderView> {
        let test = &test;
        self.report
            .eventually(what, timeout, || async move {
                match self.api.order(id).await {
                    Ok(order) if test(&order) => Ok(order),
                    Ok(order) => Err(format!("{:?}/{:?}", order.status, order.pay_status)),
                    Err(e) => Err(format!("{e:#}")),
                }
            })
            .await
    }
}

/// A user, goods item and coupon a scenario works with.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub user: UserView,
    pub goods: GoodsView,
    pub coupon: Option<CouponView>,
}

impl Fixture {
    pub fn coupon_id(&self) -> Option<Id> {
        self.coupon.as_ref().map(|c| c.coupon_id)
    }
}

/// One fixture's state across user-svc, goods-svc and coupon-svc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub balance: String,
    pub stock: i64,
    pub available: i64,
    pub coupon_used: bool,
    pub points: u64,
}

/// Runs scenario `name` and then the audit, which must pass.
pub async fn run(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let Some(scenario) = find(name) else {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        bail!("no scenario {name:?}; there are: {}", names.join(", "));
    };
    println!("\n▶ {}: {}", scenario.name, scenario.about);
    if scenario.managed_only && !ctx.is_managed() {
        bail!(
            "{name} crashes and restarts processes: it needs a managed system (run it without --running)"
        );
    }
    let started = std::time::Instant::now();
    match name {
        "success" => basic::success(ctx).await?,
        "rollback" => basic::rollback(ctx).await?,
        "pay" => pay::pay(ctx).await?,
        "pay-timeout" => pay::pay_timeout(ctx).await?,
        "abandoned" => basic::abandoned(ctx).await?,
        "duplicates" => duplicates::duplicates(ctx).await?,
        "broker-restart" => restarts::broker_restart(ctx).await?,
        "service-restart" => restarts::service_restart(ctx).await?,
        "redis-flush" => restarts::redis_flush(ctx).await?,
        "concurrent-buyers" => concurrent::concurrent_buyers(ctx).await?,
        "chaos" => chaos::run(ctx).await?,
        _ => unreachable!("every scenario of SCENARIOS is dispatched"),
    }
    settled_audit(&ctx.target, ctx.settle(), &ctx.report).await?;
    println!("✔ {name} passed in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
