//! `mqctl txn-responder`: stays connected as a producer of a group and
//! answers the broker's transaction check-backs with a fixed answer,
//! printing one JSON line per check-back answered. Stops after `--count`
//! answers, or on ctrl-c.

use std::time::Duration;

use clap::{Args, ValueEnum};
use mq::{TransactionProducer, TxnState};
use serde_json::json;
use tokio::sync::mpsc;

#[derive(Args)]
pub struct TxnResponderArgs {
    #[arg(long)]
    producer_group: String,
    #[arg(long)]
    answer: Answer,
    /// Exit after answering this many check-backs.
    #[arg(long)]
    count: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Answer {
    Commit,
    Rollback,
    Unknown,
}

pub async fn run(addr: &str, a: TxnResponderArgs) -> anyhow::Result<()> {
    let state = match a.answer {
        Answer::Commit => TxnState::Commit,
        Answer::Rollback => TxnState::Rollback,
        Answer::Unknown => TxnState::Unknown,
    };
    let (tx, mut answered) = mpsc::unbounded_channel::<()>();
    let group = a.producer_group.clone();
    let checker = move |m: mq::StoredMessage| {
        println!(
            "{}",
            json!({ "id": m.id.to_string(), "topic": m.topic, "tag": m.tag, "keys": m.keys,
                    "body": m.body_text(), "producer_group": group, "answer": state.name() })
        );
        let _ = tx.send(());
        async move { state }
    };
    let producer = TransactionProducer::connect(addr, &a.producer_group, checker).await?;
    eprintln!(
        "{}",
        json!({ "ready": true, "producer_group": a.producer_group })
    );
    let limit = a.count.unwrap_or(usize::MAX);
    let mut n = 0;
    while n < limit {
        tokio::select! {
            got = answered.recv() => match got {
                Some(()) => n += 1,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Let the last answer reach the broker before closing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    producer.close().await;
    Ok(())
}
