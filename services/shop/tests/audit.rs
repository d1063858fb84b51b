//! Every invariant of `shop audit` can fail. Each test migrates the five services'
//! schemas (real MariaDB) and writes goods-svc's Redis keys (real Redis: logical
//! database 9 and goods ids of its own, since the audit reads goods-svc's fixed
//! prefix),
//! writes a small shop that holds together — a paid order with a coupon and a
//! balance part, a cancelled one that was compensated, a user, goods, payments and
//! consumer logs — checks that the audit passes on it, then breaks the data behind
//! the services' backs in one way and checks that exactly the matching invariant
//! fails.

use shop::{Target, Timings, audit, launcher::SystemConfig};
use shop_kit::{db::Database, settings::Service};
use shop_testkit as testkit;
use sqlx::{AssertSqlSafe, MySqlPool};

/// The invariants' names (beginnings), as the audit prints them.
const STOCK: &str = "stock: initial";
const REDIS: &str = "stock: Redis available";
const UNAPPLICABLE: &str = "stock: no journal that cannot be applied";
const BALANCE: &str = "balance:";
const POINTS: &str = "points:";
const COUPONS: &str = "coupons:";
const CANCELLED_AND_PAID: &str = "orders: none both cancelled and paid";
const UNCONFIRMED: &str = "orders: none unconfirmed";
const ORDER_PARTS: &str = "orders agree with";
const PAYMENTS: &str = "payments agree with";
const CHARGES: &str = "payments: money charged";
const ORPHAN_MONEY_LOGS: &str = "money logs: none without an order";
const ORPHAN_JOURNALS: &str = "stock journals: none without an order";
const ORPHAN_COUPON_USES: &str = "coupon uses: none without an order";
const ORPHAN_PAYMENTS: &str = "payments: none without an order";
const OUTBOXES: &str = "outboxes drained";
const CONSUMER_LOGS: &str = "consumer logs:";

/// A consistent shop in fresh schemas, with the target the audit reads it through.
struct Shop {
    target: Target,
    pool: MySqlPool,
    schemas: Vec<String>,
    /// Goods ids start above this (unique per test, so Redis keys are too).
    base: u64,
}

/// Redis database 9 of the test Redis.
fn redis_url() -> String {
    let url = testkit::redis_url();
    let path_given = url
        .trim_start_matches("redis://")
        .split_once('/')
        .is_some_and(|(_, path)| !path.is_empty());
    if path_given {
        url
    } else {
        format!("{}/9", url.trim_end_matches('/'))
    }
}

impl Shop {
    async fn new() -> Shop {
        let id: u32 = rand::random::<u32>() % 1_000_000_000;
        let config = SystemConfig {
            mysql_url: testkit::mysql_server_url(),
            redis_url: redis_url(),
            schema_suffix: format!("_audit_{id}"),
            ..SystemConfig::local_defaults()
        };
        let target = Target {
            config,
            timings: Timings::fast(),
            callback_secret: "unused".into(),
        };
        let mut schemas = Vec::new();
        for service in Service::ALL {
            let db = Database::connect_lazy(&target.config.database_url(service)).unwrap();
            db.migrate(service).await.unwrap();
            db.raw_pool().close().await;
            schemas.push(target.schema(service));
        }
        let pool = sqlx::MySqlPool::connect(&testkit::mysql_server_url())
            .await
            .unwrap();
        let shop = Shop {
            target,
            pool,
            schemas,
            base: 1_000_000_000 + u64::from(id) * 10,
        };
        shop.populate().await;
        shop
    }

    /// The key of goods `n` (1 or 2) in goods-svc's Redis.
    fn key(&self, n: u64) -> String {
        let cache = shop_kit::cache::Cache::connect_lazy(
            &testkit::redis_url(),
            &self.target.goods_redis_prefix(),
        )
        .unwrap();
        goods_svc::store::stock_cache::stock_key(&cache, shop_kit::ids::Id(self.base + n))
    }

    /// Runs `sql` with `{order}`, `{goods}`, … naming this shop's schemas and
    /// `{g1}`, `{g2}` its goods ids.
    async fn exec(&self, sql: &str) {
        let sql = sql
            .replace("{g1}", &(self.base + 1).to_string())
            .replace("{g2}", &(self.base + 2).to_string());
        let sql = Service::ALL.iter().fold(sql, |sql, s| {
            sql.replace(
                &format!("{{{}}}", s.name()),
                &format!("`{}`", self.target.schema(*s)),
            )
        });
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn redis_set(&self, goods: u64, value: i64) {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("SET")
            .arg(self.key(goods))
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    async fn redis_del(&self, goods: u64) {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("DEL")
            .arg(self.key(goods))
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    /// Order 1: user 1 buys 2 of goods 1 (price 50) with coupon 1 (10) and 30 of
    /// balance, pays 70 (payment 1), earns 70 points. Order 2: user 1's order of 1
    /// of goods 1 with coupon 2 and 55 of balance, cancelled and compensated.
    async fn populate(&self) {
        self.exec(
            r"insert into {user}.trade_user (user_id, user_name, user_money, initial_balance, user_score)
                  values (1, 'alice', 970.00, 1000.00, 70);
              insert into {user}.trade_user_money_log (user_id, order_id, money_log_type, use_money)
                  values (1, 1, 'paid', 30.00), (1, 2, 'paid', 55.00), (1, 2, 'refund', 55.00);
              insert into {user}.trade_user_points_log (pay_id, user_id, order_id, points, status)
                  values (1, 1, 1, 70, 'earned');
              insert into {goods}.trade_goods (goods_id, goods_name, goods_price, goods_number, initial_number)
                  values ({g1}, 'phone', 50.00, 8, 10), ({g2}, 'case', 5.00, 5, 5);
              insert into {goods}.trade_stock_log (journal_id, order_id, goods_id, quantity, status, applied)
                  values ('journal-1', 1, {g1}, 2, 'applied', 1), ('journal-2', 2, {g1}, 1, 'cancelled', 1);
              insert into {goods}.trade_goods_number_log (goods_id, order_id, change_type, goods_number)
                  values ({g1}, 1, 'deduct', -2), ({g1}, 2, 'deduct', -1), ({g1}, 2, 'return', 1);
              insert into {coupon}.trade_coupon (coupon_id, user_id, coupon_price, is_used, order_id)
                  values (1, 1, 10.00, 1, 1), (2, 1, 10.00, 0, null), (3, 1, 10.00, 0, null);
              insert into {order}.trade_order (order_id, user_id, goods_id, quantity, goods_price,
                      order_amount, shipping_fee, coupon_id, coupon_paid, money_paid, pay_amount,
                      status, pay_status)
                  values (1, 1, {g1}, 2, 50.00, 100.00, 10.00, 1, 10.00, 30.00, 70.00, 'confirmed', 'paid'),
                         (2, 1, {g1}, 1, 50.00, 50.00, 10.00, 2, 5.00, 55.00, 0.00, 'cancelled', 'unpaid');
              insert into {pay}.trade_pay (pay_id, order_id, user_id, pay_amount, status, trade_no)
                  values (1, 1, 1, 70.00, 'paid', 'T-1');
              insert into {pay}.trade_pay_log (pay_id, order_id, event, amount, trade_no)
                  values (1, 1, 'paid', 70.00, 'T-1');
              insert into {pay}.trade_pay_charge (pay_id, trade_no, amount) values (1, 'T-1', 70.00);
              insert into {user}.trade_mq_consumer_log (group_name, msg_tag, msg_key, msg_topic, msg_id, status)
                  values ('user-pay-paid', 'paid', '1', 'pay', '00000000000000010000000000000001', 'success');",
        )
        .await;
        self.redis_set(1, 8).await;
        self.redis_set(2, 5).await;
    }

    /// The names of the invariants that fail.
    async fn failing(&self) -> Vec<String> {
        let report = audit::audit(&self.target).await;
        assert!(
            report.invariants.len() >= 17,
            "every invariant is checked: {report:?}"
        );
        report
            .failures()
            .iter()
            .map(|i| format!("{}: {}", i.name, i.detail))
            .collect()
    }

    /// Asserts that exactly the invariant named `expected` fails.
    async fn only_fails(&self, expected: &str) {
        let failing = self.failing().await;
        assert!(
            failing.len() == 1 && failing[0].starts_with(expected),
            "expected only {expected:?} to fail, got {failing:#?}"
        );
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let schemas = self.schemas.clone();
        let keys = [self.key(1), self.key(2)];
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let _ = testkit::drop_schemas(&schemas).await;
                if let Ok(client) = redis::Client::open(redis_url())
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let _: redis::RedisResult<()> =
                        redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A fresh shop on which the audit passes, as the start of every test.
async fn shop() -> Shop {
    let shop = Shop::new().await;
    assert_eq!(
        shop.failing().await,
        Vec::<String>::new(),
        "a sound shop passes"
    );
    shop
}

#[tokio::test]
async fn mysql_stock_that_does_not_add_up_fails_the_stock_invariant() {
    let shop = shop().await;
    shop.exec("update {goods}.trade_goods set initial_number = 11 where goods_id = {g1}")
        .await;
    shop.only_fails(STOCK).await;
}

#[tokio::test]
async fn redis_stock_above_mysql_fails_the_redis_invariant() {
    let shop = shop().await;
    shop.redis_set(1, 9).await;
    shop.only_fails(REDIS).await;
}

#[tokio::test]
async fn a_give_back_still_owed_to_redis_is_not_counted_twice_by_the_redis_invariant() {
    let shop = shop().await;
    // Order 2's cancel owes Redis its unit: Redis holding it already is a surplus.
    shop.exec(
        "update {goods}.trade_stock_log set giveback_pending = 1 where journal_id = 'journal-2'",
    )
    .await;
    shop.only_fails(REDIS).await;
    shop.redis_set(1, 7).await;
    assert_eq!(shop.failing().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_journal_the_reconciler_could_not_apply_fails_its_invariant() {
    let shop = shop().await;
    shop.exec(
        r"insert into {goods}.trade_stock_log (journal_id, order_id, goods_id, quantity, status, apply_error)
              values ('journal-3', 1, {g2}, 50, 'reserved', 'goods cannot give 50 units')",
    )
    .await;
    // Redis lost goods 2 (rebuilt on use), so only the report can see it.
    shop.redis_del(2).await;
    shop.only_fails(UNAPPLICABLE).await;
}

#[tokio::test]
async fn a_balance_that_does_not_match_its_money_logs_fails_the_balance_invariant() {
    let shop = shop().await;
    shop.exec("update {user}.trade_user set user_money = 971.00 where user_id = 1")
        .await;
    shop.only_fails(BALANCE).await;
}

#[tokio::test]
async fn points_nobody_earned_fail_the_points_invariant() {
    let shop = shop().await;
    shop.exec("update {user}.trade_user set user_score = 71 where user_id = 1")
        .await;
    shop.only_fails(POINTS).await;
}

#[tokio::test]
async fn a_coupon_held_by_a_cancelled_order_fails_the_coupon_invariant() {
    let shop = shop().await;
    shop.exec("update {coupon}.trade_coupon set is_used = 1, order_id = 2 where coupon_id = 2")
        .await;
    shop.only_fails(COUPONS).await;
}

#[tokio::test]
async fn a_cancelled_order_marked_paid_fails_its_invariant() {
    let shop = shop().await;
    shop.exec("update {order}.trade_order set pay_status = 'paid' where order_id = 2")
        .await;
    shop.only_fails(CANCELLED_AND_PAID).await;
}

#[tokio::test]
async fn an_order_left_unconfirmed_past_the_deadline_fails_its_invariant() {
    let shop = shop().await;
    shop.exec(
        r"insert into {order}.trade_order (order_id, user_id, goods_id, quantity, goods_price,
                  order_amount, shipping_fee, pay_amount, status, created_at)
              values (3, 1, {g2}, 1, 5.00, 5.00, 10.00, 15.00, 'unconfirmed', now(3) - interval 1 hour)",
    )
    .await;
    shop.only_fails(UNCONFIRMED).await;
}

#[tokio::test]
async fn an_order_whose_journal_disagrees_fails_the_order_parts_invariant() {
    let shop = shop().await;
    shop.exec("update {order}.trade_order set quantity = 3 where order_id = 1")
        .await;
    shop.only_fails(ORDER_PARTS).await;
}

#[tokio::test]
async fn a_payment_that_disagrees_with_its_order_fails_the_payment_invariant() {
    let shop = shop().await;
    shop.exec("update {order}.trade_order set pay_status = 'unpaid' where order_id = 1")
        .await;
    shop.only_fails(PAYMENTS).await;
}

#[tokio::test]
async fn a_second_charge_kept_without_a_refund_fails_the_charges_invariant() {
    let shop = shop().await;
    shop.exec(
        "insert into {pay}.trade_pay_charge (pay_id, trade_no, amount) values (1, 'T-2', 70.00)",
    )
    .await;
    shop.only_fails(CHARGES).await;
}

#[tokio::test]
async fn money_taken_for_an_order_nobody_placed_fails_the_orphan_money_log_invariant() {
    let shop = shop().await;
    // What `POST /internal/users/1/deduct` for a made-up order did: balance and log agree.
    shop.exec(
        r"update {user}.trade_user set user_money = user_money - 500 where user_id = 1;
          insert into {user}.trade_user_money_log (user_id, order_id, money_log_type, use_money)
              values (1, 999, 'paid', 500.00)",
    )
    .await;
    shop.only_fails(ORPHAN_MONEY_LOGS).await;
}

#[tokio::test]
async fn a_reservation_for_an_order_nobody_placed_fails_the_orphan_journal_invariant() {
    let shop = shop().await;
    shop.exec(
        r"update {goods}.trade_goods set goods_number = goods_number - 3 where goods_id = {g2};
          insert into {goods}.trade_stock_log (journal_id, order_id, goods_id, quantity, status, applied)
              values ('journal-fake', 999, {g2}, 3, 'applied', 1)",
    )
    .await;
    shop.redis_set(2, 2).await;
    shop.only_fails(ORPHAN_JOURNALS).await;
}

#[tokio::test]
async fn a_coupon_used_by_an_order_nobody_placed_fails_the_orphan_coupon_invariant() {
    let shop = shop().await;
    shop.exec("update {coupon}.trade_coupon set is_used = 1, order_id = 999 where coupon_id = 3")
        .await;
    shop.only_fails(ORPHAN_COUPON_USES).await;
}

#[tokio::test]
async fn a_payment_for_an_order_nobody_placed_fails_the_orphan_payment_invariant() {
    let shop = shop().await;
    shop.exec(
        r"insert into {pay}.trade_pay (pay_id, order_id, user_id, pay_amount, status)
              values (2, 999, 1, 20.00, 'unpaid')",
    )
    .await;
    shop.only_fails(ORPHAN_PAYMENTS).await;
}

#[tokio::test]
async fn a_message_left_in_an_outbox_fails_the_outbox_invariant() {
    let shop = shop().await;
    shop.exec(
        r"insert into {pay}.trade_mq_producer_temp (group_name, msg_topic, msg_tag, msg_key, msg_body)
              values ('pay', 'pay', 'paid', '1', '{}')",
    )
    .await;
    shop.only_fails(OUTBOXES).await;
}

#[tokio::test]
async fn a_dead_lettered_message_fails_the_consumer_log_invariant_naming_its_id() {
    let shop = shop().await;
    shop.exec(
        r"insert into {goods}.trade_mq_consumer_log (group_name, msg_tag, msg_key, msg_topic, msg_id,
                  status, attempts, last_error)
              values ('goods-order-cancel', 'cancel', '7', 'order', '0000000000000001000000000000ABCD',
                      'failed', 4, 'deadlock found')",
    )
    .await;
    shop.only_fails(CONSUMER_LOGS).await;
    let failing = shop.failing().await;
    assert!(
        failing[0].contains("0000000000000001000000000000ABCD"),
        "{failing:?}"
    );
}
