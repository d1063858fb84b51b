//! Many buyers at once for one hot goods item (docs/architecture.md, "Stock
//! reservation"): the Redis check-and-decrement never oversells, also when Redis loses
//! the cache mid-run; on one Redis server and on a Redis Cluster of three masters.

use futures::future::join_all;
use serde_json::Value;
use shop_testkit::RedisCluster;
use shop_testkit::eventually;
use testshop::{SETTLE, Shop, State, order_body};

/// Places the orders of `bodies` at once; the answers' statuses and codes.
async fn buy_at_once(shop: &Shop, bodies: &[Value]) -> Vec<(u16, String)> {
    let orders = bodies.iter().map(|body| async move {
        let response = shop.order(body, None).await;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or_default();
        let code = answer["code"].as_str().unwrap_or("").to_owned();

        (status, code)
    });
    join_all(orders).await
}

/// How many of the answers confirmed; every other one refused for lack of stock.
fn confirmed(answers: &[(u16, String)]) -> usize {
    for (status, code) in answers {
        assert!(
            *status == 201 || code == "STOCK_NOT_ENOUGH" || code == "ORDER_CANCELLED",
            "unexpected answer {status} {code}"
        );
    }
    answers.iter().filter(|(status, _)| *status == 201).count()
}

/// A whole shop whose goods-svc (the only Redis user) caches stock at `redis_url`.
async fn shop_on(redis_url: Option<String>) -> Shop {
    Shop::start_with(|s| {
        if let Some(url) = &redis_url {
            s.redis_url = url.clone();
        }
    })
    .await
}

#[tokio::test]
async fn two_hundred_buyers_for_fifty_units_confirm_exactly_fifty() {
    two_hundred_buyers_for_fifty_units(None).await;
}

#[tokio::test]
async fn two_hundred_buyers_for_fifty_units_confirm_exactly_fifty_on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    two_hundred_buyers_for_fifty_units(Some(cluster.url())).await;
}

async fn two_hundred_buyers_for_fifty_units(redis_url: Option<String>) {
    // Exactly 50 confirm only when no reservation runs out of time: the test
    // default (500 ms for a journal's commit) is short for 200 at once on a busy
    // machine, and a reservation past it rolls back (its order is cancelled).
    let shop = Shop::start_with(|s| {
        s.stock_reserve_timeout = std::time::Duration::from_secs(10);
        if let Some(url) = &redis_url {
            s.redis_url = url.clone();
        }
    })
    .await;
    let goods = shop.goods_item("10.00", 50).await;
    // 200 buyers, each with a coupon and paying 1.00 from the balance.
    let mut buyers = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..200 {
        let user = shop.user("100.00").await;
        let coupon = shop.coupon(&user, "1.00").await;
        bodies.push(order_body(
            &user,
            &goods,
            1,
            "10.00",
            Some((&coupon, "1")),
            "1.00",
        ));
        buyers.push((user, coupon));
    }

    let answers = buy_at_once(&shop, &bodies).await;

    assert_eq!(confirmed(&answers), 50);
    let rows = "select count(*) from trade_order where status = 'confirmed'";
    assert_eq!(shop.count(&shop.orders, rows).await, 50);
    let sold_out = State {
        balance: "99.00".into(),
        stock: 0,
        available: 0,
        coupon_used: true,
    };
    let not_sold = State {
        balance: "100.00".into(),
        ..sold_out.clone()
    };
    // A buyer who got a unit paid once and used the coupon; the others (compensated)
    // have their balance and coupon back.
    for ((user, coupon), (status, _)) in buyers.iter().zip(&answers) {
        let expected = if *status == 201 {
            sold_out.clone()
        } else {
            State {
                coupon_used: false,
                ..not_sold.clone()
            }
        };
        shop.settles_to(&expected, user, &goods, Some(coupon)).await;
    }
}

#[tokio::test]
async fn twenty_orders_racing_for_one_coupon_use_it_and_the_balance_once() {
    let shop = Shop::start().await;
    let goods = shop.goods_item("10.00", 100).await;
    let user = shop.user("100.00").await;
    let coupon = shop.coupon(&user, "5.00").await;
    let body = order_body(&user, &goods, 1, "10.00", Some((&coupon, "5")), "3.00");

    let answers = buy_at_once(&shop, &vec![body; 20]).await;

    assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 1);
    for (status, code) in &answers {
        assert!(*status == 201 || code == "COUPON_USED" || code == "ORDER_CANCELLED");
    }
    let once = State {
        balance: "97.00".into(),
        stock: 99,
        available: 99,
        coupon_used: true,
    };
    shop.settles_to(&once, &user, &goods, Some(&coupon)).await;
}

#[tokio::test]
async fn redis_losing_the_stock_mid_run_neither_oversells_nor_loses_units() {
    redis_losing_the_stock_mid_run(None).await;
}

#[tokio::test]
async fn a_redis_cluster_losing_the_stock_mid_run_neither_oversells_nor_loses_units() {
    let cluster = RedisCluster::start().await;
    redis_losing_the_stock_mid_run(Some(cluster.url())).await;
}

async fn redis_losing_the_stock_mid_run(redis_url: Option<String>) {
    let shop = shop_on(redis_url).await;
    let user = shop.user("100000.00").await;
    let goods = shop.goods_item("10.00", 50).await;
    let body = order_body(&user, &goods, 1, "10.00", None, "0");
    let flush = async {
        // Once some units are reserved, drop every key of goods-svc, as a Redis
        // restarted empty would.
        let what = "ten units reserved";
        eventually(what, SETTLE, || async {
            let now = shop.state(&user, &goods, None).await;
            (now.available <= 40).then_some(())
        })
        .await;
        let settings = &shop.goods.settings;
        let deleted =
            shop_testkit::delete_redis_keys_at(&settings.redis_url, &settings.redis_prefix)
                .await
                .unwrap();
        // The stock lives where goods-svc was told (the cluster, in its variant).
        assert!(deleted > 0, "no stock keys at {}", settings.redis_url);
    };

    let bodies = vec![body.clone(); 120];
    let (answers, ()) = tokio::join!(buy_at_once(&shop, &bodies), flush);
    let mut sold = confirmed(&answers);
    // Reservations whose outcome a busy machine left unknown hold their units until
    // the reconciler settles them from their journal: wait until every confirmed
    // unit is applied and Redis holds exactly the rest.
    let left = 50 - sold as i64;
    eventually("the burst's reservations settled", SETTLE, || async {
        let now = shop.state(&user, &goods, None).await;
        (now.stock == left && now.available == left).then_some(())
    })
    .await;
    // Buy the rest one by one: exactly the 50 units can be sold, no more, no fewer.
    loop {
        let response = shop.order(&body, None).await;
        if response.status() != 201 {
            let answer: Value = response.json().await.unwrap();
            assert_eq!(answer["code"], "STOCK_NOT_ENOUGH");
            break;
        }
        sold += 1;
        assert!(sold <= 50, "oversold");
    }

    assert_eq!(sold, 50);
    let sold_out = State {
        balance: "100000.00".into(),
        stock: 0,
        available: 0,
        coupon_used: false,
    };
    shop.settles_to(&sold_out, &user, &goods, None).await;
}
