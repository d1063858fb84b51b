//! `mqctl send`: sends `--count` messages with up to `--concurrency` in
//! flight; `{n}` in key and body becomes the message's index.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::Args;
use mq::{Message, Producer};
use serde_json::json;

#[derive(Args)]
pub struct SendArgs {
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "")]
    tag: String,
    #[arg(long)]
    key: Option<String>,
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
}

pub async fn run(addr: &str, a: SendArgs) -> anyhow::Result<()> {
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
    m
}
