//! The stock journal's transactional message against the real broker: a half
//! `stock`/`deduct` message left undecided is settled by goods-svc's check-back from
//! the journal row, committed when the row exists and rolled back when it does not.

use std::time::Duration;

use goods_svc::{App, stock::publisher::PRODUCER_GROUP};
use serde_json::json;
use shop_kit::bus::{Bus, Message, TxnState};
use shop_testkit::{TestEnv, eventually, json};

async fn count(db: &sqlx::MySqlPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn an_undecided_half_is_committed_when_its_journal_exists_and_dropped_when_not() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let goods = json(
        app.post("/goods", &json!({"name": "Pen", "price": 2, "stock": 7}))
            .await,
    )
    .await;
    let goods_id: u64 = goods["goods_id"].as_str().unwrap().parse().unwrap();
    let db = app.db().await;
    // A journal whose reservation committed, as if goods-svc died before telling the
    // broker; and a half whose journal never committed.
    sqlx::query(
        r"insert into trade_stock_log (journal_id, order_id, goods_id, quantity, status)
          values ('journal-committed', 901, ?, 3, 'reserved')",
    )
    .bind(goods_id)
    .execute(&db)
    .await
    .unwrap();
    // A producer of goods-svc's group that sends halves and never decides them.
    let undecided = |_| async { TxnState::Unknown };
    let dying = Bus::embedded(&env.broker.addr()).transaction_producer(PRODUCER_GROUP, undecided);
    for (journal_id, order_id) in [("journal-committed", 901), ("journal-missing", 902)] {
        let body = json!({"journal_id": journal_id, "order_id": order_id.to_string(),
            "goods_id": goods_id.to_string(), "quantity": 3});
        let half = Message::new("stock", serde_json::to_vec(&body).unwrap())
            .with_tag("deduct")
            .with_key(journal_id);
        let half = dying.send_half(half, Duration::from_secs(5)).await.unwrap();
        drop(half);
    }
    drop(dying);

    // goods-svc's check-back commits the first: its consumer applies the journal.
    eventually(
        "the committed journal applied to MySQL stock",
        Duration::from_secs(15),
        || async {
            let read = json(app.get(&format!("/goods/{goods_id}")).await).await;
            (read["stock"] == 4).then_some(())
        },
    )
    .await;
    let admin = format!("http://{}/transactions", env.broker.admin_addr());
    eventually("no half left pending", Duration::from_secs(15), || async {
        let body: serde_json::Value = reqwest::get(&admin).await.ok()?.json().await.ok()?;
        (body["pending"] == 0).then_some(())
    })
    .await;
    // The second was rolled back: never delivered, so never logged by the consumer.
    let logged = count(
        &db,
        "select count(*) from trade_mq_consumer_log where msg_key = 'journal-missing'",
    )
    .await;
    assert_eq!(logged, 0);
    let applied = count(
        &db,
        "select count(*) from trade_stock_log where journal_id = 'journal-committed' and status = 'applied'",
    )
    .await;
    assert_eq!(applied, 1);
}

#[tokio::test]
async fn the_reconciler_repairs_a_redis_stock_that_drifted_from_mysql() {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with::<App>(|s| {
            s.stock_reconcile_interval = Duration::from_millis(300);
            s.stock_reserve_timeout = Duration::from_millis(200);
        })
        .await;
    let goods = json(
        app.post("/goods", &json!({"name": "Cup", "price": 3, "stock": 9}))
            .await,
    )
    .await;
    let goods_id = goods["goods_id"].as_str().unwrap().to_owned();
    let cache =
        shop_kit::cache::Cache::connect_lazy(&app.settings.redis_url, &app.settings.redis_prefix)
            .unwrap();
    let key = goods_svc::store::stock_cache::stock_key(&cache, goods_id.parse().unwrap());
    let mut redis = redis::Client::open(shop_testkit::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    let changed = format!("{}stock-changed", app.settings.redis_prefix);

    // Drift both ways: more than MySQL allows (would oversell), then fewer (would
    // refuse stock that exists). A pass looks at goods marked changed (as every
    // reservation marks its goods), not at the whole catalogue.
    for wrong in [500, 2] {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(wrong)
            .query_async(&mut redis)
            .await
            .unwrap();
        let _: () = redis::cmd("SADD")
            .arg(&changed)
            .arg(&goods_id)
            .query_async(&mut redis)
            .await
            .unwrap();

        eventually("the drift repaired", Duration::from_secs(10), || async {
            let read = json(app.get(&format!("/goods/{goods_id}")).await).await;
            (read["available"] == 9).then_some(())
        })
        .await;
    }
}
