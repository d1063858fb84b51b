//! `mqctl bench`: `--publishers` concurrent publishers, each on its own
//! connection, each waiting for every acknowledgement (durable send), send
//! `--messages` messages of `--size` bytes in total. Prints one JSON line for
//! publishing (throughput, p50/p99/max send latency) and, with
//! `--consumers`, one for publish→consume→ack (throughput and end-to-end
//! latency, measured by consumers in a fresh group).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use mq::client::ConsumeFrom;
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};
use serde_json::json;
use tokio::sync::Notify;

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 64)]
    publishers: usize,
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Consumers in a fresh group; 0 measures publishing only.
    #[arg(long, default_value_t = 0)]
    consumers: usize,
    /// Topic to use (default: a fresh `bench-<random>` topic).
    #[arg(long)]
    topic: Option<String>,
}

pub async fn run(addr: &str, a: BenchArgs) -> anyhow::Result<()> {
    let topic = a
        .topic
        .clone()
        .unwrap_or_else(|| format!("bench-{:08x}", rand::random::<u32>()));
    let started = Instant::now();
    let e2e = Arc::new(Latencies::default());
    let consumed = Arc::new(AtomicUsize::new(0));
    let all_consumed = Arc::new(Notify::new());
    let mut consumers = Vec::new();
    for _ in 0..a.consumers {
        let (e2e, consumed, all_consumed, total) = (
            e2e.clone(),
            consumed.clone(),
            all_consumed.clone(),
            a.messages,
        );
        let config = ConsumerConfig::new(addr, &format!("{topic}-group"), &topic)
            .concurrency(64)
            .from(ConsumeFrom::Latest);
        consumers.push(
            Consumer::start(config, move |m| {
                let sent_ns = u64::from_be_bytes(
                    m.body
                        .get(..8)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 8]),
                );
                let now_ns = started.elapsed().as_nanos() as u64;
                e2e.push(Duration::from_nanos(now_ns.saturating_sub(sent_ns)));
                if consumed.fetch_add(1, Ordering::Relaxed) + 1 == total {
                    all_consumed.notify_one();
                }
                async { ConsumeResult::Ack }
            })
            .await
            .context("starting consumer")?,
        );
    }

    let send_lat = Arc::new(Latencies::default());
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let publish_start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.publishers.max(1) {
        let producer = Producer::connect(addr).await?;
        let (send_lat, next, failures, topic, size, total) = (
            send_lat.clone(),
            next.clone(),
            failures.clone(),
            topic.clone(),
            a.size.max(8),
            a.messages,
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let mut body = vec![b'x'; size];
                let t = Instant::now();
                body[..8].copy_from_slice(&(started.elapsed().as_nanos() as u64).to_be_bytes());
                match producer.send(Message::new(topic.clone(), body)).await {
                    Ok(_) => send_lat.push(t.elapsed()),
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            producer.close().await;
        }));
    }
    for t in tasks {
        t.await?;
    }
    let publish_secs = publish_start.elapsed().as_secs_f64();
    let sent = send_lat.len();
    println!(
        "{}",
        json!({
            "phase": "publish", "publishers": a.publishers, "size": a.size, "messages": sent,
            "failed": failures.load(Ordering::Relaxed), "seconds": round(publish_secs),
            "msgs_per_sec": round(sent as f64 / publish_secs), "latency_ms": send_lat.summary(),
        })
    );

    if a.consumers > 0 {
        let wait = tokio::time::timeout(Duration::from_secs(120), all_consumed.notified());
        if consumed.load(Ordering::Relaxed) < sent && wait.await.is_err() {
            eprintln!(
                "{}",
                json!({ "warning": "not every message was consumed within 120 s" })
            );
        }
        let secs = publish_start.elapsed().as_secs_f64();
        let n = consumed.load(Ordering::Relaxed);
        println!(
            "{}",
            json!({
                "phase": "publish_consume_ack", "publishers": a.publishers, "consumers": a.consumers,
                "size": a.size, "messages": n, "seconds": round(secs),
                "msgs_per_sec": round(n as f64 / secs), "latency_ms": e2e.summary(),
            })
        );
        for c in consumers {
            c.shutdown().await;
        }
    }
    Ok(())
}

/// Collected latencies.
#[derive(Default)]
struct Latencies(std::sync::Mutex<Vec<Duration>>);

impl Latencies {
    fn push(&self, d: Duration) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn summary(&self) -> serde_json::Value {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if v.is_empty() {
            return json!(null);
        }
        v.sort_unstable();
        let at = |q: f64| round(v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0);
        json!({ "p50": at(0.50), "p99": at(0.99), "max": at(1.0) })
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
