//! `mqctl send`: sends `--count` messages with up to `--concurrency` in
//! flight; `{n}` in key, body and sharding key becomes the message's index.
//! `--property k=v` (repeatable) sets user properties, which SQL92
//! subscriptions filter on. Messages may be delayed (`--delay 2s`, `--delay-level 16`,
//! `--deliver-at RFC3339`), pinned to a queue (`--sharding-key K`) or sent
//! in a transaction (`--txn commit|rollback|exit --producer-group PG`;
//! `exit` leaves the half message undecided, for the check-back).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::{Args, ValueEnum};
use mq::{LocalOutcome, Message, Producer, TransactionProducer, TxnState};
use serde_json::json;

#[derive(Args)]
pub struct SendArgs {
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "")]
    tag: String,
    #[arg(long)]
    key: Option<String>,
    /// A user property `name=value` (repeatable; `{n}` in the value is
    /// replaced by the index).
    #[arg(long = "property", value_name = "NAME=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
    /// Body text (`{n}` is replaced by the index).
    #[arg(long, conflicts_with = "size")]
    body: Option<String>,
    /// Body of this many bytes instead of text.
    #[arg(long)]
    size: Option<usize>,
    #[arg(long, default_value_t = 1)]
    count: usize,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Deliver after this long (`2s`, `1500ms`, `7days`).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with_all = ["delay_level", "deliver_at"])]
    delay: Option<std::time::Duration>,
    /// Deliver after the broker's delay level (1-18; 16 = 30 min by default).
    #[arg(long, conflicts_with = "deliver_at")]
    delay_level: Option<u8>,
    /// Deliver at this time (RFC 3339, e.g. `2026-11-30T12:00:00Z`).
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    deliver_at: Option<std::time::SystemTime>,
    /// Pin to one queue (ordered messages).
    #[arg(long)]
    sharding_key: Option<String>,
    /// Send as a transactional message and then commit, roll back, or exit
    /// without deciding.
    #[arg(long, requires = "producer_group")]
    txn: Option<TxnAction>,
    #[arg(long)]
    producer_group: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TxnAction {
    Commit,
    Rollback,
    Exit,
}

pub async fn run(addr: &str, a: SendArgs) -> anyhow::Result<()> {
    if let (Some(action), Some(group)) = (a.txn, &a.producer_group) {
        return run_txn(addr, &a, action, group).await;
    }
    let producer = Arc::new(Producer::connect(addr).await?);
    let a = Arc::new(a);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let (producer, a, next, failed) =
            (producer.clone(), a.clone(), next.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= a.count {
                    break;
                }
                let m = message(&a, n);
                let keys = m.keys.clone();
                match producer.send(m).await {
                    Ok(r) => println!(
                        "{}",
                        json!({ "id": r.id, "topic": a.topic, "tag": a.tag, "keys": keys, "queue": r.queue, "offset": r.queue_offset })
                    ),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        eprintln!("{}", json!({ "error": e.to_string(), "index": n }));
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    if failed.load(Ordering::Relaxed) {
        anyhow::bail!("some sends were not acknowledged");
    }
    Ok(())
}

fn message(a: &SendArgs, n: usize) -> Message {
    let body: Vec<u8> = match (a.size, &a.body) {
        (Some(size), _) => vec![b'x'; size],
        (None, Some(b)) => b.replace("{n}", &n.to_string()).into_bytes(),
        (None, None) => format!("message {n}").into_bytes(),
    };
    let mut m = Message::new(a.topic.clone(), body).with_tag(a.tag.clone());
    if let Some(k) = &a.key {
        m = m.with_key(k.replace("{n}", &n.to_string()));
    }
    for (name, value) in &a.properties {
        m = m.with_property(name.clone(), value.replace("{n}", &n.to_string()));
    }
    if let Some(k) = &a.sharding_key {
        m = m.with_sharding_key(k.replace("{n}", &n.to_string()));
    }
    if let Some(d) = a.delay {
        m = m.with_delay(d);
    }
    if let Some(level) = a.delay_level {
        m = m.with_delay_level(level);
    }
    if let Some(at) = a.deliver_at {
        let ms = at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        m = m.with_deliver_at(ms);
    }
    m
}

fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// Transactional sends, one after the other. The checker answers
/// "unknown": `mqctl txn-responder` is the tool that answers check-backs.
async fn run_txn(addr: &str, a: &SendArgs, action: TxnAction, group: &str) -> anyhow::Result<()> {
    let checker = |_m: mq::StoredMessage| async { TxnState::Unknown };
    let producer = TransactionProducer::connect(addr, group, checker).await?;
    for n in 0..a.count {
        let m = message(a, n);
        let keys = m.keys.clone();
        let (id, decided) = match action {
            TxnAction::Exit => (producer.send_half(m).await?.id, "none"),
            TxnAction::Commit | TxnAction::Rollback => {
                let commit = matches!(action, TxnAction::Commit);
                let (r, outcome) = producer
                    .send_in_transaction(m, || async move {
                        if commit {
                            LocalOutcome::Commit(())
                        } else {
                            LocalOutcome::Rollback(())
                        }
                    })
                    .await?;
                (r.id, outcome.state().name())
            }
        };
        println!(
            "{}",
            json!({ "id": id, "topic": a.topic, "tag": a.tag, "keys": keys, "txn": decided, "producer_group": group })
        );
    }
    if matches!(action, TxnAction::Exit) {
        // Gone without deciding, as a crashed producer would be.
        std::process::exit(0);
    }
    producer.close().await;
    Ok(())
}
