//! `GET /orders/{order_id}/timeline` end to end: the five services and the broker
//! tell one order's story; a service that is down makes it partial, never an error.

use serde_json::Value;
use shop_testkit::{eventually, json};
use testshop::{SETTLE, Shop, order_body};

async fn timeline(shop: &Shop, order_id: &str) -> Value {
    let response = shop
        .orders
        .get(&format!("/orders/{order_id}/timeline"))
        .await;
    assert_eq!(response.status(), 200, "timeline answers 200");
    json(response).await
}

fn events<'a>(t: &'a Value, service: &str, kind: &str) -> Vec<&'a Value> {
    t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["service"] == service && e["kind"] == kind)
        .collect()
}

/// The first event of `service`'s `kind`; panics showing the timeline.
fn first<'a>(t: &'a Value, service: &str, kind: &str) -> &'a Value {
    events(t, service, kind)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {service} {kind} in {t:#}"))
}

/// The message of `topic`/`tag` and the state of each group that got it.
fn message<'a>(t: &'a Value, topic: &str, tag: &str) -> &'a Value {
    events(t, "mq-broker", "message")
        .into_iter()
        .find(|e| e["detail"]["topic"] == topic && e["detail"]["tag"] == tag)
        .unwrap_or_else(|| panic!("no {topic}/{tag} message in {t:#}"))
}

fn group_state<'a>(message: &'a Value, group: &str) -> &'a Value {
    &message["detail"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == group)
        .unwrap_or_else(|| panic!("no group {group} in {message:#}"))["state"]
}

#[tokio::test]
async fn a_paid_order_timeline_tells_every_step_across_the_five_services_and_the_broker() {
    let shop = Shop::start().await;
    let user = shop.user("10000.00").await;
    let goods = shop.goods_item("5000.00", 10).await;
    let coupon = shop.coupon(&user, "50.00").await;
    let body = order_body(&user, &goods, 1, "5000.00", Some((&coupon, "50")), "100.00");
    let response = shop.order(&body, None).await;
    assert_eq!(response.status(), 201);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let order_id = json(response).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, payment) = shop.create_payment(&order_id).await;
    assert_eq!(status, 201);
    let pay_id = payment["pay_id"].as_str().unwrap().to_owned();
    assert_eq!(shop.pay_callback(&pay_id, "paid").await.status(), 200);

    // Wait until everything asynchronous has happened: stock applied, points
    // earned, the paid message consumed by each of its groups.
    let t = eventually("the paid order settled", SETTLE, || async {
        let t = timeline(&shop, &order_id).await;
        let consumed = |e: &Value, group: &str| {
            e["detail"]["groups"].as_array().is_some_and(|groups| {
                groups
                    .iter()
                    .any(|g| g["group"] == group && g["state"] == "consumed")
            })
        };
        let paid_everywhere = events(&t, "mq-broker", "message").iter().any(|e| {
            e["detail"]["tag"] == "paid"
                && ["order-pay-paid", "user-pay-paid", "pay-pay-paid"]
                    .iter()
                    .all(|g| consumed(e, g))
        });
        let settled = paid_everywhere
            && !events(&t, "order-svc", "order_paid").is_empty()
            && !events(&t, "goods-svc", "stock_applied").is_empty()
            && !events(&t, "user-svc", "points").is_empty();
        settled.then_some(t)
    })
    .await;

    assert_eq!(t["order_id"], order_id.as_str());
    assert_eq!(t["complete"], true, "{t:#}");
    let all = t["events"].as_array().unwrap();
    let times: Vec<&str> = all.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by_key(|at| chrono::DateTime::parse_from_rfc3339(at).unwrap());
    assert_eq!(times, sorted, "events in time order");
    for service in [
        "order-svc",
        "goods-svc",
        "coupon-svc",
        "user-svc",
        "pay-svc",
        "mq-broker",
    ] {
        assert!(
            all.iter().any(|e| e["service"] == service),
            "{service} in {t:#}"
        );
    }

    // The pre-order and its three downstream calls, with the confirming request's id.
    let preorder = first(&t, "order-svc", "preorder_saved");
    assert_eq!(preorder["request_id"], request_id.as_str());
    let calls = events(&t, "order-svc", "call");
    let steps: Vec<&str> = calls
        .iter()
        .map(|c| c["detail"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["reserve_stock", "use_coupon", "deduct_balance"]);
    for call in &calls {
        assert_eq!(call["outcome"], "ok");
        assert_eq!(call["request_id"], request_id.as_str());
        assert!(call["detail"]["duration_ms"].is_u64());
    }
    assert_eq!(events(&t, "order-svc", "order_confirmed").len(), 1);
    assert_eq!(events(&t, "order-svc", "order_paid").len(), 1, "{t:#}");

    // Each service's own records.
    let reserved = first(&t, "goods-svc", "stock_reserved");
    assert_eq!(reserved["request_id"], request_id.as_str());
    assert_eq!(events(&t, "goods-svc", "stock_applied").len(), 1);
    assert_eq!(
        first(&t, "coupon-svc", "coupon_used")["detail"]["value"],
        "50.00"
    );
    assert_eq!(
        first(&t, "user-svc", "balance_deducted")["detail"]["amount"],
        "100.00"
    );
    assert_eq!(first(&t, "user-svc", "points")["outcome"], "earned");
    assert_eq!(
        first(&t, "pay-svc", "payment_created")["detail"]["pay_id"],
        pay_id.as_str()
    );
    assert_eq!(events(&t, "pay-svc", "payment_paid").len(), 1);

    // Messages with their delivery per group, and the consumer logs that applied them.
    let paid = message(&t, "pay", "paid");
    for group in ["order-pay-paid", "user-pay-paid", "pay-pay-paid"] {
        assert_eq!(group_state(paid, group), "consumed", "{paid:#}");
    }
    assert_eq!(group_state(paid, "pay-pay-refund"), "filtered");
    let stock = message(&t, "stock", "deduct");
    assert_eq!(group_state(stock, "goods-stock-deduct"), "consumed");
    let timeout = message(&t, "order", "timeout");
    assert_eq!(timeout["outcome"], "scheduled", "not due for 30 minutes");
    let consumed: Vec<(&str, &str)> = all
        .iter()
        .filter(|e| e["kind"] == "consumed")
        .map(|e| {
            (
                e["service"].as_str().unwrap(),
                e["detail"]["group"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("goods-svc", "goods-stock-deduct"),
        ("order-svc", "order-pay-paid"),
        ("user-svc", "user-pay-paid"),
        ("pay-svc", "pay-pay-paid"),
    ] {
        assert!(consumed.contains(&expected), "{expected:?} in {consumed:?}");
    }
    assert!(
        all.iter()
            .filter(|e| e["kind"] == "consumed")
            .all(|e| e["outcome"] == "success")
    );
}

#[tokio::test]
async fn a_compensated_order_timeline_shows_the_failed_step_and_every_compensation() {
    let shop = Shop::start().await;
    let user = shop.user("1000.00").await;
    let goods = shop.goods_item("100.00", 10).await;
    let coupon = shop.coupon(&user, "20.00").await;
    let body = order_body(&user, &goods, 2, "100.00", Some((&coupon, "20")), "30.00");
    let response = shop.order(&body, Some("after-balance")).await;
    assert_eq!(response.status(), 409);
    let order_id = json(response).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let t = eventually("every service compensated", SETTLE, || async {
        let t = timeline(&shop, &order_id).await;
        let done = ["goods-svc", "coupon-svc", "user-svc"]
            .iter()
            .all(|s| !events(&t, s, "compensation").is_empty())
            && !events(&t, "goods-svc", "stock_cancelled").is_empty()
            && !events(&t, "user-svc", "balance_refunded").is_empty();
        let cancel = events(&t, "mq-broker", "message")
            .into_iter()
            .any(|m| m["detail"]["tag"] == "cancel" && m["outcome"] == "delivered");
        (done && cancel).then_some(t)
    })
    .await;

    assert_eq!(t["complete"], true, "{t:#}");
    let cancelled = first(&t, "order-svc", "order_cancelled");
    assert_eq!(cancelled["detail"]["cancel_reason"], "confirm_failed");
    let calls = events(&t, "order-svc", "call");
    assert_eq!(calls.len(), 3, "the three steps ran before the fault");
    for service in ["goods-svc", "coupon-svc", "user-svc"] {
        let compensation = &events(&t, service, "compensation")[0];
        assert_eq!(compensation["outcome"], "compensated", "{service}");
    }
    assert_eq!(
        first(&t, "goods-svc", "stock_cancelled")["outcome"],
        "cancelled"
    );
    assert_eq!(
        first(&t, "user-svc", "balance_refunded")["detail"]["amount"],
        "30.00"
    );
    let cancel = message(&t, "order", "cancel");
    for group in [
        "goods-order-cancel",
        "coupon-order-cancel",
        "user-order-cancel",
        "order-order-cancel",
    ] {
        assert_eq!(group_state(cancel, group), "consumed", "{cancel:#}");
    }
    // The compensation follows the cancellation.
    let at = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
    let refunded = first(&t, "user-svc", "balance_refunded");
    assert!(at(refunded) >= at(cancelled));
}

#[tokio::test]
async fn a_service_or_the_broker_down_makes_the_timeline_partial_not_an_error() {
    let mut shop = Shop::start().await;
    let user = shop.user("1000.00").await;
    let goods = shop.goods_item("10.00", 10).await;
    let body = order_body(&user, &goods, 1, "10.00", None, "5.00");
    let response = shop.order(&body, None).await;
    assert_eq!(response.status(), 201);
    let order_id = json(response).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();

    shop.coupons.halt().await;
    let t = timeline(&shop, &order_id).await;
    assert_eq!(t["complete"], false);
    let missing: Vec<&str> = t["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["service"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["coupon-svc"]);
    assert!(!events(&t, "order-svc", "preorder_saved").is_empty());
    assert!(!events(&t, "goods-svc", "stock_reserved").is_empty());
    assert!(!events(&t, "mq-broker", "message").is_empty());

    shop.env.broker.stop().await;
    let t = timeline(&shop, &order_id).await;
    let missing: Vec<&str> = t["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["service"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["coupon-svc", "mq-broker"]);
    assert!(!events(&t, "user-svc", "balance_deducted").is_empty());

    let unknown = shop.orders.get("/orders/999999999/timeline").await;
    assert_eq!(unknown.status(), 404);
    let not_an_id = shop.orders.get("/orders/abc/timeline").await;
    assert_eq!(not_an_id.status(), 400);
}
