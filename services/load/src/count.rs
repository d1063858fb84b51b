//! `--count N`: what one order costs MariaDB. Reads the server's global status
//! counters (statements by kind, transactions, InnoDB fsyncs) around `N` orders
//! placed one after the other by one client, after the system settled (the journals
//! applied), and subtracts what the same server counted while the system stood idle
//! for as long: on a server of its own, the rest is what the orders cost.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::Context;
use sqlx::{Connection, MySqlConnection};

use crate::{Fixture, measure};

/// The counters read, in the order printed.
const COUNTERS: [&str; 16] = [
    "Questions",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    "Com_begin",
    "Com_commit",
    "Com_rollback",
    "Com_stmt_prepare",
    "Com_stmt_execute",
    "Com_stmt_close",
    "Handler_commit",
    "Innodb_data_fsyncs",
    "Innodb_os_log_fsyncs",
    "Bytes_received",
    "Bytes_sent",
];

async fn status(conn: &mut MySqlConnection) -> anyhow::Result<BTreeMap<String, f64>> {
    let rows: Vec<(String, String)> = sqlx::query_as("show global status")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(name, _)| COUNTERS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name, value.parse().ok()?)))
        .collect())
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

/// Places `orders` orders of the item `goods` one after the other and prints the
/// counters per order as a markdown table.
pub async fn run(
    fixture: &Fixture,
    mysql_url: &str,
    goods: shop_kit::ids::Id,
    orders: usize,
) -> anyhow::Result<()> {
    let mut conn = MySqlConnection::connect(mysql_url)
        .await
        .context("connect for the status counters")?;
    settle(fixture, goods).await?;
    // The orders' window first, then an idle window of the same length.
    let before = status(&mut conn).await?;
    let start = Instant::now();
    for i in 0..orders {
        let user = fixture.users[i % fixture.users.len()];
        fixture
            .orders
            .confirm_order(&measure::order(user, goods))
            .await
            .context("confirm order")?;
    }
    settle(fixture, goods).await?;
    let busy = start.elapsed();
    let after = status(&mut conn).await?;
    tokio::time::sleep(busy).await;
    let idle_after = status(&mut conn).await?;
    let used = delta(&after, &before);
    let idle = delta(&idle_after, &after);
    println!(
        "\n{orders} orders in {:.1} s, one client; per order (minus an idle window of the same length):\n",
        busy.as_secs_f64()
    );
    println!("| counter | per order | orders' window | idle window |\n|---|---|---|---|");
    for name in COUNTERS {
        let (u, i) = (used.get(name).copied(), idle.get(name).copied());
        if let (Some(u), Some(i)) = (u, i) {
            println!(
                "| {name} | {:.2} | {u:.0} | {i:.0} |",
                (u - i) / orders as f64
            );
        }
    }
    conn.close().await?;
    Ok(())
}

/// Waits until every journal of `goods` is applied (MySQL stock = available).
async fn settle(fixture: &Fixture, goods: shop_kit::ids::Id) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = fixture
            .goods
            .get_goods(goods)
            .await?
            .context("the item exists")?;
        if view.stock == view.available {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "journals not applied within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
