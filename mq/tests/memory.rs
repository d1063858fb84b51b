//! The broker's resident memory with many pending delayed messages and with
//! many distinct retained keys, measured on a broker process (VmRSS). The
//! suite runs 100,000 of each and enforces a bound per entry; the long form
//! (`MQ_MEMORY_ENTRIES=1000000 cargo test --release -p mq --test memory --
//! --ignored --nocapture`) measures a million.

mod common;

use std::time::Duration;

use common::BrokerProcess;
use mq::{Message, Producer};

/// Resident memory bound per pending delayed message.
const DELAYED_BYTES_EACH: u64 = 250;
/// Resident memory bound per distinct retained key (one message each).
const KEY_BYTES_EACH: u64 = 600;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Sends `n` messages built by `make` in batches; returns the RSS growth in bytes.
async fn growth(n: usize, make: impl Fn(usize) -> Message) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let producer = Producer::connect(&broker.addr).await.unwrap();
    producer.send(make(n)).await.unwrap(); // warm up
    let before = rss_kib(broker.child.id());
    for start in (0..n).step_by(1000) {
        let batch = (start..(start + 1000).min(n)).map(&make).collect();
        producer.send_batch(batch).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(broker.child.id());
    eprintln!("{n} entries: RSS {before} KiB → {after} KiB");
    (after.saturating_sub(before)) * 1024
}

async fn delayed(n: usize) -> u64 {
    let bytes = growth(n, |i| {
        Message::new("later", format!("{i}")).with_delay(Duration::from_secs(3600))
    })
    .await;
    eprintln!("pending delayed: {} bytes each", bytes / n as u64);
    bytes
}

async fn keys(n: usize) -> u64 {
    let bytes = growth(n, |i| {
        Message::new("keyed", "x").with_key(format!("order-{i:09}"))
    })
    .await;
    eprintln!("distinct keys: {} bytes each", bytes / n as u64);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_delayed_messages_stay_within_their_memory_bound() {
    let n = 100_000;
    assert!(delayed(n).await <= DELAYED_BYTES_EACH * n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_keys_stay_within_their_memory_bound() {
    let n = 100_000;
    assert!(keys(n).await <= KEY_BYTES_EACH * n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long form: MQ_MEMORY_ENTRIES=1000000"]
async fn a_million_of_each() {
    let n: usize = std::env::var("MQ_MEMORY_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let d = delayed(n).await;
    let k = keys(n).await;
    assert!(d <= DELAYED_BYTES_EACH * n as u64, "delayed: {d} bytes");
    assert!(k <= KEY_BYTES_EACH * n as u64, "keys: {k} bytes");
}
