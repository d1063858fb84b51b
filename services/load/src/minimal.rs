//! The minimal-transactions reference: the five local transactions one order needs in
//! this design, issued straight from this process over one pool, with the same number
//! of clients as the confirm-order runs and no HTTP, Redis or broker in between:
//!
//! 1. the pre-order (`trade_order` insert, autocommit);
//! 2. the stock journal (`trade_stock_log` insert, autocommit);
//! 3. the balance (`trade_user_money_log` insert and `trade_user` update, one transaction);
//! 4. the confirmation (`trade_order` update and its `trade_mq_producer_temp` row);
//! 5. the journal's application (`trade_stock_log` update, hot `trade_goods` update and
//!    its `trade_goods_number_log` row).
//!
//! It runs on the services' own tables: the real migrations are applied to scratch
//! schemas `shop_load_min_{order,goods,user}` (dropped and made again each run). That
//! is the structural limit of the design: what the services add on top (checks read
//! over HTTP, the Redis decrement, the transactional message, the consumer log, the
//! outbox's send) is what the confirm-order runs pay beyond it.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use futures::future::join_all;
use rand::Rng;
use shop_kit::{db::migrator, settings::Service};
use sqlx::{
    AssertSqlSafe, Connection, MySqlConnection, MySqlPool,
    mysql::{MySqlConnectOptions, MySqlPoolOptions},
};

use crate::measure::{Plan, Report};

/// The scratch schemas, by service.
const SCHEMAS: [(Service, &str); 3] = [
    (Service::Order, "shop_load_min_order"),
    (Service::Goods, "shop_load_min_goods"),
    (Service::User, "shop_load_min_user"),
];
/// Buyers in the scratch user schema (each order picks one at random).
const USERS: u64 = 1000;

/// Makes the scratch schemas with one hot goods item and [`USERS`] buyers.
pub async fn prepare(mysql_url: &str) -> anyhow::Result<()> {
    let mut admin = MySqlConnection::connect(mysql_url).await?;
    for (service, schema) in SCHEMAS {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "drop database if exists {schema}; create database {schema}
             character set utf8mb4 collate utf8mb4_unicode_ci"
        )))
        .execute(&mut admin)
        .await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{mysql_url}/{schema}"))
            .await?;
        migrator(service).run(&pool).await?;
        pool.close().await;
    }
    sqlx::query(
        r"insert into shop_load_min_goods.trade_goods
              (goods_id, goods_name, goods_price, goods_number, initial_number)
          values (1, 'hot', 200.00, 4000000000, 4000000000)",
    )
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "insert into shop_load_min_user.trade_user (user_id, user_name, user_money, initial_balance)
         with recursive n(i) as (select 1 union all select i + 1 from n where i < {USERS})
         select i, concat('load-', i), 1000000.00, 1000000.00 from n"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    Ok(())
}

/// Runs the five transactions of one order back to back from `plan.clients` clients
/// for `plan.duration`.
pub async fn run(mysql_url: &str, plan: &Plan) -> anyhow::Result<Report> {
    prepare(mysql_url).await?;
    let options: MySqlConnectOptions = mysql_url.parse()?;
    let pool = MySqlPoolOptions::new()
        .max_connections(plan.clients as u32)
        .connect_with(options)
        .await?;
    let start = Instant::now();
    let deadline = start + plan.duration;
    let clients = (0..plan.clients).map(|_| {
        let pool = pool.clone();
        async move {
            let mut latencies: Vec<Duration> = Vec::new();
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            while Instant::now() < deadline {
                let user_id = rand::rng().random_range(1..=USERS);
                let sent = Instant::now();
                match one_order(&pool, user_id).await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(e) => *errors.entry(e.to_string()).or_default() += 1,
                }
            }
            (latencies, errors)
        }
    });
    let results = join_all(clients).await;
    let elapsed = start.elapsed();
    pool.close().await;
    let mut latencies = Vec::new();
    let mut errors = BTreeMap::new();
    for (l, e) in results {
        latencies.extend(l);
        for (code, n) in e {
            *errors.entry(code).or_default() += n;
        }
    }
    Ok(Report::new(
        crate::measure::MINIMAL,
        plan,
        latencies,
        errors,
        elapsed,
    ))
}

/// One order's five transactions: one unit of the hot item, 1.00 from the balance.
async fn one_order(pool: &MySqlPool, user_id: u64) -> sqlx::Result<()> {
    let order_id = sqlx::query(
        r"insert into shop_load_min_order.trade_order (user_id, goods_id, quantity, goods_price,
              order_amount, shipping_fee, coupon_id, coupon_paid, money_paid, pay_amount,
              address, request_id)
          values (?, 1, 1, 200.00, 200.00, 0.00, null, 0.00, 1.00, 199.00, 'load', null)",
    )
    .bind(user_id)
    .execute(pool)
    .await?
    .last_insert_id();

    let journal_id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        r"insert into shop_load_min_goods.trade_stock_log
              (journal_id, order_id, goods_id, quantity, status, cache_gen, request_id)
          values (?, ?, 1, 1, 'reserved', 'g', null)",
    )
    .bind(&journal_id)
    .bind(order_id)
    .execute(pool)
    .await?;

    let mut tx = pool.begin().await?;
    sqlx::query(
        r"insert into shop_load_min_user.trade_user_money_log
              (user_id, order_id, money_log_type, use_money, request_id)
          values (?, ?, 'paid', 1.00, null)",
    )
    .bind(user_id)
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r"update shop_load_min_user.trade_user set user_money = user_money - 1.00
          where user_id = ? and user_money >= 1.00",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut tx = pool.begin().await?;
    sqlx::query(
        r"update shop_load_min_order.trade_order
          set status = 'confirmed', confirmed_at = now(3), pay_status = 'unpaid'
          where order_id = ? and status = 'unconfirmed'",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r"insert into shop_load_min_order.trade_mq_producer_temp
              (group_name, msg_topic, msg_tag, msg_key, msg_body, properties, delay_ms,
               next_attempt_at)
          values ('order', 'order', 'timeout', ?, '{}', '{}', 1800000, now(3))",
    )
    .bind(order_id.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut tx = pool.begin().await?;
    sqlx::query(
        r"update shop_load_min_goods.trade_stock_log
          set status = 'applied', applied = 1, applied_at = now(3)
          where journal_id = ? and status = 'reserved'",
    )
    .bind(&journal_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r"update shop_load_min_goods.trade_goods set goods_number = goods_number - 1
          where goods_id = 1 and goods_number >= 1",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        r"insert into shop_load_min_goods.trade_goods_number_log
              (goods_id, order_id, change_type, goods_number)
          values (1, ?, 'deduct', -1)",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
