//! `mqctl consume`: joins a group and prints each delivered message; acks it
//! (or, with `--reject`, answers "later"). Stops after `--count` messages or
//! `--idle-timeout` seconds without one. `--sql 'a > 5 AND b = \'x\''` selects
//! by properties (SQL92) instead of `--tag`. `--orderly` consumes each queue in
//! order; `--broadcast --instance NAME` joins as a broadcast member.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Args;
use mq::client::ConsumeFrom;
use mq::{ConsumeResult, Consumer, ConsumerConfig};
use serde_json::json;
use tokio::sync::mpsc;

#[derive(Args)]
pub struct ConsumeArgs {
    #[arg(long)]
    group: String,
    #[arg(long)]
    topic: String,
    /// `*` or `a || b`.
    #[arg(long, default_value = "*", conflicts_with = "sql")]
    tag: String,
    /// SQL92 filter on the message properties (`a > 5 AND b = 'x'`); the
    /// broker refuses a bad expression and mqctl exits with its reason.
    #[arg(long)]
    sql: Option<String>,
    #[arg(long)]
    count: Option<usize>,
    #[arg(long, default_value_t = 10)]
    idle_timeout: u64,
    /// Answer "later" instead of acknowledging, to watch retries.
    #[arg(long)]
    reject: bool,
    /// Only messages sent after the group first subscribed.
    #[arg(long)]
    latest: bool,
    /// Broadcasting: this member gets every message (needs `--instance`).
    #[arg(long, requires = "instance", conflicts_with = "orderly")]
    broadcast: bool,
    /// The member's name in a broadcast group (its offsets are its own).
    #[arg(long)]
    instance: Option<String>,
    /// Orderly: each queue strictly in order.
    #[arg(long)]
    orderly: bool,
}

pub async fn run(addr: &str, a: ConsumeArgs) -> anyhow::Result<()> {
    let limit = a.count.unwrap_or(usize::MAX);
    let seen = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let reject = a.reject;
    let mut config = ConsumerConfig::new(addr, &a.group, &a.topic)
        .tags(&a.tag)
        .concurrency(1)
        .from(if a.latest {
            ConsumeFrom::Latest
        } else {
            ConsumeFrom::Earliest
        });
    if let Some(sql) = &a.sql {
        config = config.sql(sql);
    }
    if let (true, Some(instance)) = (a.broadcast, &a.instance) {
        config = config.broadcast(instance);
    }
    if a.orderly {
        config = config.orderly();
    }
    let consumer = Consumer::start(config, move |m| {
        let (seen, tx) = (seen.clone(), tx.clone());
        async move {
            if seen.fetch_add(1, Ordering::SeqCst) >= limit {
                return ConsumeResult::Release;
            }
            println!(
                "{}",
                json!({ "id": m.id.to_string(), "topic": m.topic, "tag": m.tag, "keys": m.keys,
                        "body": m.body_text(), "attempt": m.attempt, "queue": m.queue, "offset": m.queue_offset,
                        "sharding_key": m.sharding_key, "properties": m.properties, "born_at_ms": m.born_at_ms, "stored_at_ms": m.stored_at_ms })
            );
            let _ = tx.send(());
            if reject { ConsumeResult::Later } else { ConsumeResult::Ack }
        }
    })
    .await?;
    let mut printed = 0;
    while printed < limit {
        match tokio::time::timeout(Duration::from_secs(a.idle_timeout), rx.recv()).await {
            Ok(Some(())) => printed += 1,
            _ => break,
        }
    }
    consumer.shutdown().await;
    Ok(())
}
