//! The whole shop in one test process: user-svc, goods-svc, coupon-svc, order-svc and
//! pay-svc against real MariaDB, Redis and the real broker (in-process), with fault
//! injection on and the waits shortened; helpers that create what an order needs and
//! read back every service's state. Each [`Shop`] has its own schemas, Redis prefix
//! and broker, so tests run in parallel.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use shop_kit::settings::Settings;
use shop_testkit::{TestApp, TestEnv, eventually, json};

/// How long compensation may take in tests ("within a few seconds").
pub const SETTLE: Duration = Duration::from_secs(15);

pub struct Shop {
    pub users: TestApp,
    pub goods: TestApp,
    pub coupons: TestApp,
    pub orders: TestApp,
    pub pay: TestApp,
    // Dropped last: it owns the schemas and the broker.
    pub env: TestEnv,
}

/// The settings every test shortens.
pub fn fast(s: &mut Settings) {
    s.outbox_retry_after = Duration::from_millis(300);
    s.stock_reserve_timeout = Duration::from_millis(500);
    s.stock_reconcile_interval = Duration::from_secs(1);
}

impl Shop {
    pub async fn start() -> Shop {
        Shop::start_with(|_| {}).await
    }

    /// Starts the five services; `configure` adjusts every service's settings after
    /// the test defaults (fault injection on, short waits).
    pub async fn start_with(configure: impl Fn(&mut Settings)) -> Shop {
        let env = TestEnv::new().await;
        let setup = |s: &mut Settings| {
            fast(s);
            s.faults_enabled = true;
            configure(s);
        };
        let users = env.spawn_with::<user_svc::App>(setup).await;
        let goods = env.spawn_with::<goods_svc::App>(setup).await;
        let coupons = env.spawn_with::<coupon_svc::App>(setup).await;
        let mut orders = env.spawn_with::<order_svc::App>(setup).await;
        let pay = env.spawn_with::<pay_svc::App>(setup).await;
        // order-svc reads pay-svc's records for its timelines: restarted (same
        // address and schema) now that pay-svc's URL is known.
        let pay_url = pay.url("");
        orders
            .restart_with::<order_svc::App>(|s| s.pay_svc_url = pay_url)
            .await;
        Shop {
            users,
            goods,
            coupons,
            orders,
            pay,
            env,
        }
    }

    pub async fn user(&self, balance: &str) -> String {
        let body = json!({"name": "alice", "balance": balance});
        id(
            json(self.users.post("/users", &body).await).await,
            "user_id",
        )
    }

    pub async fn goods_item(&self, price: &str, stock: i64) -> String {
        let body = json!({"name": "phone", "price": price, "stock": stock});
        id(
            json(self.goods.post("/goods", &body).await).await,
            "goods_id",
        )
    }

    pub async fn coupon(&self, user_id: &str, value: &str) -> String {
        let body = json!({"user_id": user_id, "value": value});
        id(
            json(self.coupons.post("/coupons", &body).await).await,
            "coupon_id",
        )
    }

    /// `POST /orders`, with `X-Shop-Fault` when `fault` is given.
    pub async fn order(&self, body: &Value, fault: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(self.orders.url("/orders"))
            .json(body);
        if let Some(fault) = fault {
            request = request.header("x-shop-fault", fault);
        }
        request.send().await.expect("order-svc answers")
    }

    /// What every service holds about one user, goods item and coupon.
    pub async fn state(&self, user_id: &str, goods_id: &str, coupon_id: Option<&str>) -> State {
        let user = json(self.users.get(&format!("/users/{user_id}")).await).await;
        let goods = json(self.goods.get(&format!("/goods/{goods_id}")).await).await;
        let coupon_used = match coupon_id {
            Some(c) => json(self.coupons.get(&format!("/coupons/{c}")).await).await["used"]
                .as_bool()
                .expect("used is a bool"),
            None => false,
        };
        State {
            balance: user["balance"].as_str().expect("balance").to_owned(),
            stock: goods["stock"].as_i64().expect("stock"),
            available: goods["available"].as_i64().expect("available"),
            coupon_used,
        }
    }

    /// Waits until the state is `expected` (compensation and journals are asynchronous).
    pub async fn settles_to(
        &self,
        expected: &State,
        user: &str,
        goods: &str,
        coupon: Option<&str>,
    ) {
        let what = format!("state {expected:?}");
        eventually(&what, SETTLE, || async {
            let now = self.state(user, goods, coupon).await;
            (now == *expected).then_some(())
        })
        .await;
    }

    pub async fn order_json(&self, order_id: &str) -> Value {
        json(self.orders.get(&format!("/orders/{order_id}")).await).await
    }

    /// Rows of `sql` (a `count(*)`) in `app`'s schema.
    pub async fn count(&self, app: &TestApp, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&app.db().await)
            .await
            .expect("count query")
    }
}

/// One service's view of the things an order touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub balance: String,
    pub stock: i64,
    pub available: i64,
    pub coupon_used: bool,
}

/// A correct order body: amounts computed the way order-svc checks them.
pub fn order_body(
    user_id: &str,
    goods_id: &str,
    quantity: i64,
    price: &str,
    coupon: Option<(&str, &str)>,
    money_paid: &str,
) -> Value {
    let price: Decimal = price.parse().expect("price");
    let amount = price * Decimal::from(quantity);
    let shipping = if amount > Decimal::from(100) {
        Decimal::ZERO
    } else {
        Decimal::from(10)
    };
    json!({
        "user_id": user_id,
        "goods_id": goods_id,
        "quantity": quantity,
        "goods_price": format!("{price:.2}"),
        "order_amount": format!("{amount:.2}"),
        "shipping_fee": format!("{shipping:.2}"),
        "coupon_id": coupon.map(|(id, _)| id),
        "money_paid": money_paid,
        "address": "Beijing",
    })
}

pub fn id(value: Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"))
        .to_owned()
}

impl Shop {
    /// Waits until consumer group `group` has acknowledged everything on its topics.
    pub async fn drained(&self, group: &str) {
        let url = format!("http://{}/groups/{group}", self.env.broker.admin_addr());
        eventually(&format!("group {group} drained"), SETTLE, || async {
            let answer = reqwest::get(&url).await.ok()?;
            let body: Value = answer.json().await.ok()?;
            (body["lag"] == 0 && !body["queues"].as_array()?.is_empty()).then_some(())
        })
        .await;
    }
}

/// Payments (docs/architecture.md, "Payment") as the payment platform and a client
/// drive them.
impl Shop {
    /// `POST /payments` for `order_id`: the answer's status and body.
    pub async fn create_payment(&self, order_id: &str) -> (u16, Value) {
        let response = self
            .pay
            .post("/payments", &json!({ "order_id": order_id }))
            .await;
        (response.status().as_u16(), json(response).await)
    }

    /// The platform's callback reporting `status` (`paid`, `failed`) for `pay_id`,
    /// signed with pay-svc's secret.
    pub async fn pay_callback(&self, pay_id: &str, status: &str) -> reqwest::Response {
        use shop_kit::contracts::pay::{SIGNATURE_HEADER, callback_signature};
        let body = json!({"pay_id": pay_id, "status": status, "trade_no": format!("T-{pay_id}")})
            .to_string();
        let signature =
            callback_signature(self.pay.settings.pay_callback_secret(), body.as_bytes());
        self.pay
            .http
            .post(self.pay.url("/payments/callback"))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .expect("pay-svc answers")
    }

    pub async fn payment_json(&self, pay_id: &str) -> Value {
        json(self.pay.get(&format!("/payments/{pay_id}")).await).await
    }

    pub async fn points(&self, user_id: &str) -> u64 {
        json(self.users.get(&format!("/users/{user_id}")).await).await["points"]
            .as_u64()
            .expect("points")
    }

    /// Restarts order-svc on the same schema and address (see [`TestApp::restart`]).
    pub async fn restart_orders(&mut self) {
        self.orders.restart::<order_svc::App>().await;
    }
}
