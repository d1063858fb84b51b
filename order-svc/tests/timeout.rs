//! The payment timeout (docs/architecture.md, "Payment timeout", issue 8): the
//! `order`/`timeout` delay message sent on confirmation cancels an order still unpaid,
//! releasing its stock, coupon and balance; a paid order is left alone; the timeout
//! survives a broker and an order-svc restart; a payment racing the timeout is decided
//! once. The whole shop runs in-process with `ORDER_PAY_TIMEOUT` of a few seconds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use shop_testkit::{BrokerProcess, eventually, json};
use testshop::{SETTLE, Shop, State, order_body};

/// The shortened `ORDER_PAY_TIMEOUT` of these tests.
const PAY_TIMEOUT: Duration = Duration::from_secs(2);

/// A confirmed, unpaid order of a new user: 120.50 × 2 = 241.00 (no shipping), a
/// 20.00 coupon and 41.00 from the balance, so 180.00 is left to pay (180 points).
struct Placed {
    user: String,
    goods: String,
    coupon: String,
    order_id: String,
    confirmed_at: DateTime<Utc>,
    /// What user, goods and coupon held before the order.
    before: State,
}

const PAY_AMOUNT: &str = "180.00";
const PAY_POINTS: u64 = 180;

impl Placed {
    /// The state once the order holds its stock, coupon and balance.
    fn reserved(&self) -> State {
        State {
            balance: "959.00".into(),
            stock: self.before.stock - 2,
            available: self.before.available - 2,
            coupon_used: true,
        }
    }
}

async fn place_order(shop: &Shop, goods: &str) -> Placed {
    let user = shop.user("1000.00").await;
    let coupon = shop.coupon(&user, "20.00").await;
    let before = shop.state(&user, goods, Some(&coupon)).await;
    let body = order_body(&user, goods, 2, "120.50", Some((&coupon, "20")), "41.00");
    let order = json(shop.order(&body, None).await).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(order["pay_status"], "unpaid", "{order}");
    assert_eq!(order["pay_amount"], PAY_AMOUNT, "{order}");
    let confirmed_at = order["confirmed_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("confirmed_at in {order}"));
    Placed {
        user,
        goods: goods.to_owned(),
        coupon,
        order_id: order["order_id"].as_str().expect("order_id").to_owned(),
        confirmed_at,
        before,
    }
}

/// Keys of the delayed messages the broker holds.
async fn delayed_keys(shop: &Shop) -> Vec<String> {
    let url = format!("http://{}/delayed", shop.env.broker.admin_addr());
    let Ok(response) = reqwest::get(&url).await else {
        return Vec::new();
    };
    let body: Value = response.json().await.unwrap_or_default();
    body["soonest"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|m| m["topic"] == "order" && m["tag"] == "timeout")
                .filter_map(|m| m["keys"][0].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the order's timeout message is held by the broker (sent by the
/// outbox, not yet due).
async fn timeout_is_pending_at_the_broker(shop: &Shop, order_id: &str) {
    eventually(
        "the timeout message pending at the broker",
        SETTLE,
        || async {
            delayed_keys(shop)
                .await
                .iter()
                .any(|k| k == order_id)
                .then_some(())
        },
    )
    .await;
}

/// The order's row read from order-svc's schema (works while order-svc is down).
async fn order_row(shop: &Shop, order_id: &str) -> (String, String, Option<String>) {
    sqlx::query_as(
        "select status, pay_status, cancel_reason from trade_order where order_id = cast(? as unsigned)",
    )
    .bind(order_id)
    .fetch_one(&shop.orders.db().await)
    .await
    .expect("the order row")
}

/// Whether order-svc's timeout consumer has handled the order's timeout message.
async fn timeout_consumed(shop: &Shop, order_id: &str) -> bool {
    let done: i64 = sqlx::query_scalar(
        r"select count(*) from trade_mq_consumer_log
          where group_name = 'order-order-timeout' and msg_key = ? and status = 'success'",
    )
    .bind(order_id)
    .fetch_one(&shop.orders.db().await)
    .await
    .expect("read the consumer log");
    done == 1
}

/// Waits until the order is cancelled; its view.
async fn cancelled(shop: &Shop, order_id: &str) -> Value {
    eventually(&format!("order {order_id} cancelled"), SETTLE, || async {
        let order = shop.order_json(order_id).await;
        (order["status"] == "cancelled").then_some(order)
    })
    .await
}

/// The timeout's cancel released everything and left nothing behind.
async fn everything_came_back(shop: &Shop, placed: &Placed) {
    shop.settles_to(
        &placed.before,
        &placed.user,
        &placed.goods,
        Some(&placed.coupon),
    )
    .await;
    let journals = json(
        shop.goods
            .get(&format!("/goods/{}/stock-logs", placed.goods))
            .await,
    )
    .await;
    let journal = journals
        .as_array()
        .expect("journals")
        .iter()
        .find(|j| j["order_id"] == placed.order_id.as_str())
        .cloned()
        .expect("the order's journal");
    assert_eq!(journal["status"], "cancelled", "{journal}");
    let logs = json(
        shop.users
            .get(&format!("/users/{}/money-logs", placed.user))
            .await,
    )
    .await;
    let kinds: Vec<&str> = logs
        .as_array()
        .expect("money logs")
        .iter()
        .filter_map(|l| l["type"].as_str())
        .collect();
    assert_eq!(kinds.len(), 2, "{logs}");
    assert!(
        kinds.contains(&"paid") && kinds.contains(&"refund"),
        "{logs}"
    );
    let outbox = "select count(*) from trade_mq_producer_temp";
    eventually("order-svc's outbox is empty", SETTLE, || async {
        (shop.count(&shop.orders, outbox).await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_unpaid_order_is_cancelled_at_its_pay_timeout_and_stock_coupon_and_balance_come_back() {
    let shop = Shop::start_with(|s| s.order_pay_timeout = PAY_TIMEOUT).await;
    let goods = shop.goods_item("120.50", 10).await;
    let started = tokio::time::Instant::now();

    let placed = place_order(&shop, &goods).await;

    timeout_is_pending_at_the_broker(&shop, &placed.order_id).await;
    assert_eq!(
        shop.order_json(&placed.order_id).await["status"],
        "confirmed"
    );
    shop.settles_to(
        &placed.reserved(),
        &placed.user,
        &placed.goods,
        Some(&placed.coupon),
    )
    .await;
    let order = cancelled(&shop, &placed.order_id).await;
    let waited = started.elapsed();
    assert!(waited >= PAY_TIMEOUT, "cancelled after {waited:?}");
    assert_eq!(order["cancel_reason"], "pay_timeout", "{order}");
    assert_eq!(order["pay_status"], "unpaid", "{order}");
    everything_came_back(&shop, &placed).await;
    // A payment can no longer be created for it.
    let (status, refused) = shop.create_payment(&placed.order_id).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("ORDER_CANCELLED"))
    );
}

#[tokio::test]
async fn an_order_paid_before_its_timeout_stays_confirmed_and_paid_after_it() {
    let shop = Shop::start_with(|s| s.order_pay_timeout = PAY_TIMEOUT).await;
    let goods = shop.goods_item("120.50", 10).await;
    let placed = place_order(&shop, &goods).await;
    let (status, payment) = shop.create_payment(&placed.order_id).await;
    assert_eq!(status, 201, "{payment}");
    let pay_id = payment["pay_id"].as_str().expect("pay_id").to_owned();

    assert_eq!(shop.pay_callback(&pay_id, "paid").await.status(), 200);

    eventually("the order is paid", SETTLE, || async {
        (shop.order_json(&placed.order_id).await["pay_status"] == "paid").then_some(())
    })
    .await;
    eventually("the timeout message is consumed", SETTLE, || async {
        timeout_consumed(&shop, &placed.order_id)
            .await
            .then_some(())
    })
    .await;
    let order = shop.order_json(&placed.order_id).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(order["pay_status"], "paid", "{order}");
    assert!(order["cancel_reason"].is_null(), "{order}");
    assert_eq!(shop.payment_json(&pay_id).await["status"], "paid");
    for group in ["order-order-timeout", "order-pay-paid", "user-pay-paid"] {
        shop.drained(group).await;
    }
    let reserved = placed.reserved();
    assert_eq!(
        shop.state(&placed.user, &placed.goods, Some(&placed.coupon))
            .await,
        reserved
    );
    assert_eq!(shop.points(&placed.user).await, PAY_POINTS);
    let cancels = "select count(*) from trade_mq_consumer_log where msg_tag = 'cancel'";
    assert_eq!(shop.count(&shop.goods, cancels).await, 0, "no cancel sent");
}

/// The in-process broker is killed (its shutdown token: no graceful path) while the
/// timeout is pending and stays down past the due moment; the restarted broker
/// recovers the delayed message from its log and delivers it.
#[tokio::test]
async fn a_broker_killed_while_the_timeout_is_pending_fires_it_after_its_restart() {
    let shop = Shop::start_with(|s| s.order_pay_timeout = PAY_TIMEOUT).await;
    let goods = shop.goods_item("120.50", 10).await;
    let placed = place_order(&shop, &goods).await;
    timeout_is_pending_at_the_broker(&shop, &placed.order_id).await;
    shop.settles_to(
        &placed.reserved(),
        &placed.user,
        &placed.goods,
        Some(&placed.coupon),
    )
    .await;

    shop.env.broker.kill().await;
    // Down across the due moment: nothing can cancel the order meanwhile.
    let due = placed.confirmed_at + PAY_TIMEOUT;
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_due + Duration::from_millis(500)).await;
    assert_eq!(
        shop.order_json(&placed.order_id).await["status"],
        "confirmed"
    );
    shop.env.broker.restart().await;

    let order = cancelled(&shop, &placed.order_id).await;
    assert_eq!(order["cancel_reason"], "pay_timeout", "{order}");
    everything_came_back(&shop, &placed).await;
}

/// The same with a real `mq-broker` process and a real `kill -9` (the binary cargo
/// built beside order-svc's, rebuilt if stale): the services use it instead of the
/// in-process broker.
#[tokio::test]
async fn a_real_broker_process_killed_with_sigkill_while_the_timeout_is_pending_fires_it_after_its_restart()
 {
    let binary = BrokerProcess::built_binary(env!("CARGO_BIN_EXE_order-svc")).await;
    let mut broker = BrokerProcess::start(binary).await;
    let mq_addr = broker.addr.to_string();
    let shop = Shop::start_with(|s| {
        s.order_pay_timeout = PAY_TIMEOUT;
        s.mq_addr = mq_addr.clone();
    })
    .await;
    let goods = shop.goods_item("120.50", 10).await;
    let placed = place_order(&shop, &goods).await;
    let delayed = format!("http://{}/delayed", broker.admin_addr);
    eventually(
        "the timeout message pending at the broker",
        SETTLE,
        || async {
            let body: Value = reqwest::get(&delayed).await.ok()?.json().await.ok()?;
            let keys = body["soonest"].as_array()?.iter().map(|m| &m["keys"][0]);
            keys.clone()
                .any(|k| k == placed.order_id.as_str())
                .then_some(())
        },
    )
    .await;

    broker.kill9().await;
    // Down across the due moment: nothing can cancel the order meanwhile.
    let due = placed.confirmed_at + PAY_TIMEOUT;
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_due + Duration::from_millis(500)).await;
    assert_eq!(
        shop.order_json(&placed.order_id).await["status"],
        "confirmed"
    );
    broker.restart().await;

    let order = cancelled(&shop, &placed.order_id).await;
    assert_eq!(order["cancel_reason"], "pay_timeout", "{order}");
    shop.settles_to(
        &placed.before,
        &placed.user,
        &placed.goods,
        Some(&placed.coupon),
    )
    .await;
}

/// order-svc is stopped while the timeout is pending, the broker releases the due
/// message while no consumer of the group runs, and the restarted order-svc (same
/// schema, same address) consumes it.
#[tokio::test]
async fn order_svc_stopped_while_the_timeout_is_pending_cancels_the_order_after_its_restart() {
    let mut shop = Shop::start_with(|s| s.order_pay_timeout = PAY_TIMEOUT).await;
    let goods = shop.goods_item("120.50", 10).await;
    let placed = place_order(&shop, &goods).await;
    timeout_is_pending_at_the_broker(&shop, &placed.order_id).await;

    shop.orders.halt().await;
    eventually("the broker releases the due timeout", SETTLE, || async {
        let keys = delayed_keys(&shop).await;
        (!keys.contains(&placed.order_id)).then_some(())
    })
    .await;
    let (status, _, _) = order_row(&shop, &placed.order_id).await;
    assert_eq!(status, "confirmed", "no order-svc ran to cancel it");
    shop.restart_orders().await;

    let order = cancelled(&shop, &placed.order_id).await;
    assert_eq!(order["cancel_reason"], "pay_timeout", "{order}");
    everything_came_back(&shop, &placed).await;
}

/// One order of the race and its payment.
struct Raced {
    placed: Placed,
    pay_id: String,
}

/// How each order of the race ended.
#[derive(Debug, Default)]
struct Outcomes {
    paid: usize,
    refunded: usize,
}

/// The race of docs/architecture.md, "Payment", 50 times: each order's paid callback is
/// aimed at its timeout's due moment (spread over ±150 ms around it). Each order must
/// end in one of the two consistent outcomes, with every service agreeing: confirmed
/// and paid, payment paid, stock, coupon and balance kept, points earned; or cancelled
/// by the timeout with pay status refunded, payment refunded, everything given back and
/// no points. Which outcome each order gets is up to the timing, so only that is
/// asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_callback_racing_the_timeout_fifty_times_ends_each_order_paid_or_cancelled_and_refunded()
 {
    const ORDERS: usize = 50;
    let timeout = Duration::from_secs(4);
    let shop = Shop::start_with(|s| s.order_pay_timeout = timeout).await;
    let goods = shop.goods_item("120.50", 1000).await;
    let shop = std::sync::Arc::new(shop);

    let mut callbacks = Vec::new();
    let mut raced = Vec::new();
    for i in 0..ORDERS {
        let placed = place_order(&shop, &goods).await;
        let (status, payment) = shop.create_payment(&placed.order_id).await;
        assert_eq!(status, 201, "{payment}");
        let pay_id = payment["pay_id"].as_str().expect("pay_id").to_owned();
        let offset_ms = (i % 7) as i64 * 50 - 150;
        let aim = placed.confirmed_at + timeout + chrono::Duration::milliseconds(offset_ms);
        let (shop, id) = (shop.clone(), pay_id.clone());
        callbacks.push(tokio::spawn(async move {
            let wait = (aim - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let response = shop.pay_callback(&id, "paid").await;
            assert_eq!(response.status(), 200, "callback of {id}");
        }));
        raced.push(Raced { placed, pay_id });
    }
    for callback in callbacks {
        callback.await.expect("the callback task");
    }

    let mut outcomes = Outcomes::default();
    for race in &raced {
        let order_id = &race.placed.order_id;
        let (order, payment) = eventually(&format!("order {order_id} settles"), SETTLE, || async {
            let order = shop.order_json(order_id).await;
            let payment = shop.payment_json(&race.pay_id).await["status"].clone();
            let settled = match (order["status"].as_str(), order["pay_status"].as_str()) {
                (Some("confirmed"), Some("paid")) => payment == "paid",
                (Some("cancelled"), Some("refunded")) => payment == "refunded",
                _ => false,
            };
            settled.then_some((order, payment))
        })
        .await;
        if order["status"] == "confirmed" {
            outcomes.paid += 1;
            assert!(order["cancel_reason"].is_null(), "{order}");
        } else {
            outcomes.refunded += 1;
            assert_eq!(order["cancel_reason"], "pay_timeout", "{order}");
            assert!(order["paid_at"].is_null(), "{order}");
        }
        assert!(payment == "paid" || payment == "refunded");
    }
    eprintln!("race outcomes of {ORDERS} orders: {outcomes:?}");
    for group in [
        "order-order-timeout",
        "order-pay-paid",
        "user-pay-paid",
        "user-pay-refund",
        "user-order-cancel",
        "coupon-order-cancel",
        "goods-order-cancel",
        "pay-pay-refund",
    ] {
        shop.drained(group).await;
    }
    for race in &raced {
        let placed = &race.placed;
        let paid = shop.order_json(&placed.order_id).await["status"] == "confirmed";
        let user = json(shop.users.get(&format!("/users/{}", placed.user)).await).await;
        let coupon = json(
            shop.coupons
                .get(&format!("/coupons/{}", placed.coupon))
                .await,
        )
        .await;
        let expected = if paid {
            ("959.00", PAY_POINTS, true)
        } else {
            ("1000.00", 0, false)
        };
        let got = (
            user["balance"].as_str().unwrap_or_default(),
            user["points"].as_u64().unwrap_or(u64::MAX),
            coupon["used"].as_bool().unwrap_or_default(),
        );
        assert_eq!(got, expected, "order {} (paid: {paid})", placed.order_id);
    }
    let kept = 1000 - 2 * outcomes.paid as i64;
    eventually("the stock matches the paid orders", SETTLE, || async {
        let item = json(shop.goods.get(&format!("/goods/{goods}")).await).await;
        (item["stock"] == kept && item["available"] == kept).then_some(())
    })
    .await;
    let outbox = "select count(*) from trade_mq_producer_temp";
    assert_eq!(shop.count(&shop.orders, outbox).await, 0);
    assert_eq!(shop.count(&shop.pay, outbox).await, 0);
}
