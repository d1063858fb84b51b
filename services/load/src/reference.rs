//! The reference ceiling: the bare SQL one order needs (insert an order row and
//! decrement one hot stock row, in one transaction), from the same number of
//! clients, in a scratch schema `shop_load_reference`.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use futures::future::join_all;
use sqlx::{Connection, MySqlConnection, mysql::MySqlPoolOptions};

use crate::measure::{Plan, Report};

const SCHEMA: &str = "shop_load_reference";

/// Runs the bare SQL from `plan.clients` connections for `plan.duration`.
pub async fn run(mysql_url: &str, plan: &Plan) -> anyhow::Result<Report> {
    let mut admin = MySqlConnection::connect(mysql_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "drop database if exists {SCHEMA}; create database {SCHEMA};
         create table {SCHEMA}.ref_order (order_id bigint unsigned not null auto_increment primary key,
             user_id bigint unsigned not null, goods_id bigint unsigned not null,
             quantity int unsigned not null, pay_amount decimal(12,2) not null,
             status varchar(16) not null, created_at datetime(3) not null default current_timestamp(3));
         create table {SCHEMA}.ref_goods (goods_id bigint unsigned primary key, goods_number int unsigned not null);
         insert into {SCHEMA}.ref_goods values (1, 4000000000);"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    let pool = MySqlPoolOptions::new()
        .max_connections(plan.clients as u32)
        .connect(&format!("{mysql_url}/{SCHEMA}"))
        .await?;
    let start = Instant::now();
    let deadline = start + plan.duration;
    let clients = (0..plan.clients).map(|i| {
        let pool = pool.clone();
        async move {
            let mut latencies: Vec<Duration> = Vec::new();
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let done = async {
                    let mut tx = pool.begin().await?;
                    sqlx::query(
                        r"insert into ref_order (user_id, goods_id, quantity, pay_amount, status)
                          values (?, 1, 1, 199.00, 'confirmed')",
                    )
                    .bind(i as u64)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        r"update ref_goods set goods_number = goods_number - 1
                          where goods_id = 1 and goods_number >= 1",
                    )
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await
                };
                match done.await {
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
        crate::measure::BARE_SQL,
        plan,
        latencies,
        errors,
        elapsed,
    ))
}
