//! The scenarios' view of Shop: the typed clients of the five services, a raw
//! `POST /orders` that can carry `X-Shop-Fault`, the signed payment callback, and
//! the broker's admin HTTP.

use std::time::Duration;

use anyhow::{Context, anyhow};
use rust_decimal::Decimal;
use serde_json::Value;
use shop_kit::{
    clients::{CouponClient, GoodsClient, PayClient, UserClient},
    contracts::{
        coupon::{CouponView, CreateCoupon},
        goods::{CreateGoods, GoodsView, StockLogView},
        order::{ConfirmOrder, OrderView},
        pay::{CallbackStatus, PayCallback, PaymentView, SIGNATURE_HEADER, callback_signature},
        user::{CreateUser, MoneyLogView, UserView},
    },
    ids::Id,
    money::Money,
    settings::Service,
};

use crate::target::Target;

/// Consumer groups of the five services (docs/architecture.md, "Idempotent consumers").
pub const CONSUMER_GROUPS: [&str; 11] = [
    "order-order-cancel",
    "order-order-timeout",
    "order-pay-paid",
    "goods-stock-deduct",
    "goods-order-cancel",
    "coupon-order-cancel",
    "user-order-cancel",
    "user-pay-paid",
    "user-pay-refund",
    "pay-pay-paid",
    "pay-pay-refund",
];

/// What `POST /orders` answered.
#[derive(Debug, Clone)]
pub enum Placed {
    Confirmed(OrderView),
    /// A 4xx/5xx with its code, and the order id when a pre-order was saved.
    Refused {
        status: u16,
        code: String,
        order_id: Option<Id>,
    },
}

impl Placed {
    pub fn code(&self) -> &str {
        match self {
            Placed::Confirmed(_) => "CONFIRMED",
            Placed::Refused { code, .. } => code,
        }
    }
}

/// The RocketMQ deployment of a system on `SHOP_BUS=rocketmq`: its consumer lag and
/// key look-ups, in place of the embedded broker's admin HTTP.
#[cfg(feature = "rocketmq")]
#[derive(Clone)]
pub struct RocketMqView(pub std::sync::Arc<shop_kit::bus::rocketmq::RocketMqBus>);

#[cfg(feature = "rocketmq")]
impl std::fmt::Debug for RocketMqView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use shop_kit::bus::Backend;
        f.debug_tuple("RocketMqView")
            .field(&self.0.describe())
            .finish()
    }
}

/// Clients of one system.
#[derive(Debug, Clone)]
pub struct ShopApi {
    pub users: UserClient,
    pub goods: GoodsClient,
    pub coupons: CouponClient,
    pub pay: PayClient,
    order_url: String,
    pay_url: String,
    admin_url: String,
    /// Set when the system runs on RocketMQ.
    #[cfg(feature = "rocketmq")]
    pub rocketmq: Option<RocketMqView>,
    secret: String,
    http: reqwest::Client,
}

impl ShopApi {
    pub fn new(target: &Target) -> ShopApi {
        ShopApi {
            users: match &target.config.internal_token {
                Some(token) => {
                    UserClient::new(target.url(Service::User)).with_internal_token(token)
                }
                None => UserClient::new(target.url(Service::User)),
            },
            goods: match &target.config.internal_token {
                Some(token) => {
                    GoodsClient::new(target.url(Service::Goods)).with_internal_token(token)
                }
                None => GoodsClient::new(target.url(Service::Goods)),
            },
            coupons: match &target.config.internal_token {
                Some(token) => {
                    CouponClient::new(target.url(Service::Coupon)).with_internal_token(token)
                }
                None => CouponClient::new(target.url(Service::Coupon)),
            },
            pay: PayClient::new(target.url(Service::Pay)),
            order_url: target.url(Service::Order),
            pay_url: target.url(Service::Pay),
            admin_url: target.config.mq_admin_url(),
            #[cfg(feature = "rocketmq")]
            rocketmq: (target.config.bus == crate::launcher::BusKind::RocketMq).then(|| {
                let config = shop_kit::bus::rocketmq::RocketMqConfig::new(&target.config.mq_addr());
                RocketMqView(std::sync::Arc::new(
                    shop_kit::bus::rocketmq::RocketMqBus::new(config),
                ))
            }),
            secret: target.callback_secret.clone(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(15))
                .build()
                .expect("a plain HTTP client builds"),
        }
    }

    pub async fn user(&self, name: &str, balance: &str) -> anyhow::Result<UserView> {
        let body = CreateUser {
            name: name.into(),
            balance: money(balance),
        };
        Ok(self.users.create_user(&body).await?)
    }

    pub async fn goods_item(
        &self,
        name: &str,
        price: &str,
        stock: i64,
    ) -> anyhow::Result<GoodsView> {
        let body = CreateGoods {
            name: name.into(),
            price: money(price),
            stock,
        };
        Ok(self.goods.create_goods(&body).await?)
    }

    pub async fn coupon(&self, user: Id, value: &str) -> anyhow::Result<CouponView> {
        let body = CreateCoupon {
            user_id: user,
            value: money(value),
        };
        Ok(self.coupons.create_coupon(&body).await?)
    }

    /// `POST /orders`, with `X-Shop-Fault: fault` when given.
    pub async fn place(&self, body: &ConfirmOrder, fault: Option<&str>) -> anyhow::Result<Placed> {
        let mut request = self
            .http
            .post(format!("{}/orders", self.order_url))
            .json(body);
        if let Some(fault) = fault {
            request = request.header("x-shop-fault", fault);
        }
        let response = request.send().await.context("POST /orders")?;
        let status = response.status().as_u16();
        let text = response.text().await.context("reading the order answer")?;
        if status == 201 {
            let order = serde_json::from_str(&text).with_context(|| format!("order: {text}"))?;
            return Ok(Placed::Confirmed(order));
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Placed::Refused {
            status,
            code: body["code"].as_str().unwrap_or("?").to_string(),
            order_id: body["order_id"].as_str().and_then(Id::parse),
        })
    }

    pub async fn order(&self, order_id: Id) -> anyhow::Result<OrderView> {
        let url = format!("{}/orders/{order_id}", self.order_url);
        let response = self.http.get(url).send().await?.error_for_status()?;
        Ok(response.json().await?)
    }

    pub async fn user_view(&self, user: Id) -> anyhow::Result<UserView> {
        self.users
            .get_user(user)
            .await?
            .ok_or_else(|| anyhow!("no user {user}"))
    }

    pub async fn goods_view(&self, goods: Id) -> anyhow::Result<GoodsView> {
        self.goods
            .get_goods(goods)
            .await?
            .ok_or_else(|| anyhow!("no goods {goods}"))
    }

    pub async fn coupon_view(&self, coupon: Id) -> anyhow::Result<CouponView> {
        let found = self.coupons.get_coupon(coupon).await?;
        found.ok_or_else(|| anyhow!("no coupon {coupon}"))
    }

    pub async fn stock_logs(&self, goods: Id) -> anyhow::Result<Vec<StockLogView>> {
        Ok(self.goods.stock_logs(goods).await?)
    }

    pub async fn money_logs(&self, user: Id) -> anyhow::Result<Vec<MoneyLogView>> {
        Ok(self.users.money_logs(user).await?)
    }

    pub async fn create_payment(&self, order: Id) -> anyhow::Result<PaymentView> {
        Ok(self.pay.create_payment(order).await?)
    }

    pub async fn payment(&self, pay_id: Id) -> anyhow::Result<PaymentView> {
        let found = self.pay.get_payment(pay_id).await?;
        found.ok_or_else(|| anyhow!("no payment {pay_id}"))
    }

    /// The payment platform's signed `paid` callback.
    pub async fn callback_paid(&self, pay_id: Id) -> anyhow::Result<()> {
        self.callback_paid_as(pay_id, &format!("SCN-{pay_id}"))
            .await
    }

    /// The signed `paid` callback of the platform's transaction `trade_no` (another
    /// one than the first is a second charge).
    pub async fn callback_paid_as(&self, pay_id: Id, trade_no: &str) -> anyhow::Result<()> {
        let trade_no = Some(trade_no.to_owned());
        self.pay
            .callback(&self.secret, pay_id, CallbackStatus::Paid, trade_no)
            .await?;
        Ok(())
    }

    /// The signed `paid` callback with `X-Shop-Fault: fault`; the answer's status.
    pub async fn callback_with_fault(&self, pay_id: Id, fault: &str) -> anyhow::Result<u16> {
        let body = serde_json::to_vec(&PayCallback {
            pay_id,
            status: CallbackStatus::Paid,
            trade_no: Some(format!("SCN-{pay_id}")),
        })?;
        let signature = callback_signature(&self.secret, &body);
        let response = self
            .http
            .post(format!("{}/payments/callback", self.pay_url))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("x-shop-fault", fault)
            .body(body)
            .send()
            .await?;
        Ok(response.status().as_u16())
    }

    /// The broker's view of a consumer group (`GET /groups/{group}`).
    pub async fn group(&self, group: &str) -> anyhow::Result<Value> {
        let url = format!("{}/groups/{group}", self.admin_url);
        Ok(self.http.get(url).send().await?.json().await?)
    }

    /// Total lag of every consumer group; `Err` when the broker cannot tell.
    pub async fn total_lag(&self) -> anyhow::Result<u64> {
        #[cfg(feature = "rocketmq")]
        if let Some(rocketmq) = &self.rocketmq {
            let mut lag = 0;
            for group in CONSUMER_GROUPS {
                lag += rocketmq.0.lag(group).await?;
            }
            return Ok(lag);
        }
        let mut lag = 0;
        for group in CONSUMER_GROUPS {
            let view = self.group(group).await?;
            lag += view["lag"].as_u64().unwrap_or(0);
        }
        Ok(lag)
    }

    /// Messages held in the broker's topics of `kind` (`retry`, `dlq`, …).
    pub async fn broker_messages(&self, kind: &str) -> anyhow::Result<u64> {
        let url = format!("{}/topics", self.admin_url);
        let topics: Value = self.http.get(url).send().await?.json().await?;
        let all = topics["topics"].as_array().cloned().unwrap_or_default();
        Ok(all
            .iter()
            .filter(|t| t["kind"] == kind)
            .map(|t| t["messages"].as_u64().unwrap_or(0))
            .sum())
    }
}

/// `text` as money (the scenarios' own constants).
pub fn money(text: &str) -> Money {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not money: {e:?}"))
}

/// A correct order: the amounts computed the way order-svc checks them.
pub fn order_body(
    user: Id,
    goods: &GoodsView,
    quantity: u32,
    coupon: Option<Id>,
    money_paid: &str,
) -> ConfirmOrder {
    let amount = goods.price.decimal() * Decimal::from(quantity);
    let shipping = if amount > Decimal::from(100) {
        Decimal::ZERO
    } else {
        Decimal::from(10)
    };
    let as_money = |d: Decimal| Money::new(d).expect("two places");
    ConfirmOrder {
        user_id: user,
        goods_id: goods.goods_id,
        quantity: quantity.into(),
        goods_price: goods.price,
        order_amount: as_money(amount),
        shipping_fee: as_money(shipping),
        coupon_id: coupon,
        money_paid: money(money_paid),
        address: "Beijing".into(),
    }
}
