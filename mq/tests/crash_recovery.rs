//! Durability across `kill -9` and damaged files, with the broker as a real
//! process on a real data directory.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BrokerProcess, wait_until};
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};

/// Consumes `topic` in a fresh group until `expected` distinct bodies arrived
/// (or `timeout`); returns how often each body was delivered.
async fn drain(
    addr: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> HashMap<String, usize> {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let s = seen.clone();
    let consumer = Consumer::start(
        ConsumerConfig::new(addr, "drain", topic).concurrency(32),
        move |m| {
            *s.lock().unwrap().entry(m.body_text()).or_default() += 1;
            async { ConsumeResult::Ack }
        },
    )
    .await
    .expect("consumer starts");
    let deadline = tokio::time::Instant::now() + timeout;
    while seen.lock().unwrap().len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A little longer, so that duplicates would show up too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    consumer.shutdown().await;
    seen.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_16_concurrent_producers_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let addr = broker.addr.clone();

    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let unacked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..16 {
        let (acked, unacked, stop, addr) =
            (acked.clone(), unacked.clone(), stop.clone(), addr.clone());
        producers.push(tokio::spawn(async move {
            let producer = Producer::connect(&addr).await.unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("p{p}-{i}");
                i += 1;
                match producer.send(Message::new("crash", body.clone())).await {
                    Ok(_) => acked.lock().unwrap().insert(body),
                    Err(_) => {
                        unacked.lock().unwrap().insert(body);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        true
                    }
                };
            }
        }));
    }

    // Act: kill in the middle of the traffic, restart on the same address.
    wait_until(Duration::from_secs(30), "500 acknowledged sends", || {
        acked.lock().unwrap().len() >= 500
    })
    .await;
    broker.kill9();
    let acked_at_kill = acked.lock().unwrap().len();
    wait_until(
        Duration::from_secs(10),
        "producers to notice the kill",
        || unacked.lock().unwrap().len() >= 16,
    )
    .await;
    let restarted = BrokerProcess::start(dir.path(), &addr, &[]).unwrap();
    wait_until(
        Duration::from_secs(30),
        "sends to succeed after the restart",
        || acked.lock().unwrap().len() >= acked_at_kill + 300,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }

    // Assert: every acknowledged message is delivered; nothing twice.
    let acked = acked.lock().unwrap().clone();
    let unacked = unacked.lock().unwrap().clone();
    let delivered = drain(
        &restarted.addr,
        "crash",
        acked.len(),
        Duration::from_secs(30),
    )
    .await;
    let lost: Vec<&String> = acked
        .iter()
        .filter(|b| !delivered.contains_key(*b))
        .collect();
    let duplicated = delivered.values().filter(|&&n| n > 1).count();
    let unknown: Vec<&String> = delivered
        .keys()
        .filter(|b| !acked.contains(*b) && !unacked.contains(*b))
        .collect();
    let stored_unacked = delivered.keys().filter(|b| unacked.contains(*b)).count();
    eprintln!(
        "acked={} unacked={} delivered={} lost={} duplicated={} unacked-but-stored={}",
        acked.len(),
        unacked.len(),
        delivered.len(),
        lost.len(),
        duplicated,
        stored_unacked
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(duplicated, 0, "messages delivered twice");
    assert!(
        unknown.is_empty(),
        "delivered messages nobody sent: {unknown:?}"
    );
}

fn segment_of(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

/// Where the records of a segment end (the writer zero-fills ahead).
fn data_end(seg: &std::path::Path) -> u64 {
    let data = std::fs::read(seg).unwrap();
    data.iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// Sends `n` messages `m0..` and stops the broker with kill -9.
async fn store_messages(dir: &std::path::Path, n: usize) {
    let broker = BrokerProcess::start(dir, "127.0.0.1:0", &[]).unwrap();
    let producer = Producer::connect(&broker.addr).await.unwrap();
    for i in 0..n {
        producer
            .send(Message::new("tail", format!("m{i}")).with_key(format!("k{i}")))
            .await
            .unwrap();
    }
    broker.kill9();
}

async fn bodies_after_restart(dir: &std::path::Path, expect: usize) -> Vec<String> {
    let broker = BrokerProcess::start(dir, "127.0.0.1:0", &[]).unwrap();
    let got = drain(&broker.addr, "tail", expect, Duration::from_secs(5)).await;
    // The broker still takes new messages after cutting its tail.
    let producer = Producer::connect(&broker.addr).await.unwrap();
    producer.send(Message::new("tail", "after")).await.unwrap();
    let mut bodies: Vec<String> = got.into_keys().collect();
    bodies.sort_by_key(|b| b[1..].parse::<u32>().unwrap_or(u32::MAX));
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_last_record_is_cut_off_and_earlier_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    store_messages(dir.path(), 10).await;
    let seg = segment_of(dir.path());
    let len = data_end(&seg);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let bodies = bodies_after_restart(dir.path(), 9).await;

    let expected: Vec<String> = (0..9).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_record_torn_inside_zero_filled_space_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    store_messages(dir.path(), 10).await;
    let seg = segment_of(dir.path());
    let mut data = std::fs::read(&seg).unwrap();
    let n = data_end(&seg) as usize;
    data[n - 30..n].fill(0); // the write of the last record's end never happened
    std::fs::write(&seg, &data).unwrap();

    let bodies = bodies_after_restart(dir.path(), 9).await;

    let expected: Vec<String> = (0..9).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_last_record_is_cut_off_and_earlier_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    store_messages(dir.path(), 10).await;
    let seg = segment_of(dir.path());
    let mut data = std::fs::read(&seg).unwrap();
    let n = data_end(&seg) as usize;
    data[n - 2] ^= 0xFF; // inside the last record's body
    std::fs::write(&seg, &data).unwrap();

    let bodies = bodies_after_restart(dir.path(), 9).await;

    let expected: Vec<String> = (0..9).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_before_valid_records_makes_the_broker_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    store_messages(dir.path(), 10).await;
    let seg = segment_of(dir.path());
    let mut data = std::fs::read(&seg).unwrap();
    data[20] ^= 0xFF; // inside the first record
    std::fs::write(&seg, &data).unwrap();

    let err = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[])
        .err()
        .expect("broker refuses");

    assert!(err.contains("cannot be trusted"), "unclear refusal: {err}");
    assert!(
        err.contains("followed by a valid record"),
        "unclear refusal: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let producer = Producer::connect(&broker.addr).await.unwrap();
    for i in 0..20 {
        producer
            .send(Message::new("offsets", format!("o{i}")))
            .await
            .unwrap();
    }
    let first = drain(&broker.addr, "offsets", 20, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 20);
    // Offsets are written every 200 ms: wait for the admin API to show lag 0.
    let admin = broker.admin.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while common::admin_get(&admin, "/groups/drain").await["lag"] != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lag never reached 0"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // two offset flush intervals
    broker.kill9();

    let restarted = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let consumer = Consumer::start(
        ConsumerConfig::new(&restarted.addr, "drain", "offsets"),
        move |_| {
            c.fetch_add(1, Ordering::Relaxed);
            async { ConsumeResult::Ack }
        },
    )
    .await
    .unwrap();
    let producer = Producer::connect(&restarted.addr).await.unwrap();
    producer.send(Message::new("offsets", "new")).await.unwrap();
    wait_until(Duration::from_secs(5), "the new message", || {
        counter.load(Ordering::Relaxed) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    consumer.shutdown().await;

    assert_eq!(
        counter.load(Ordering::Relaxed),
        1,
        "already consumed messages were delivered again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_id_is_handed_out_twice_after_an_async_flush_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let never_flushed = [("MQ_FLUSH", "async"), ("MQ_ASYNC_FLUSH_INTERVAL", "1h")];
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &never_flushed).unwrap();
    let producer = Producer::connect(&broker.addr).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = producer
            .send(Message::new("ids", format!("m{i}")))
            .await
            .unwrap();
        ids.push(r.id);
    }
    broker.kill9();
    // Power loss: the last two acknowledged writes never reached the disk.
    let seg = segment_of(dir.path());
    let base: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let lost_at = ids[3].parse::<mq::MessageId>().unwrap().offset - base;
    let mut data = std::fs::read(&seg).unwrap();
    data[lost_at as usize..].fill(0);
    std::fs::write(&seg, &data).unwrap();

    let restarted = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let producer = Producer::connect(&restarted.addr).await.unwrap();
    let new = producer.send(Message::new("ids", "new")).await.unwrap();

    assert!(
        !ids.contains(&new.id),
        "the new message got the id {} of an acknowledged one",
        new.id
    );
    assert!(producer.lookup_id(&ids[3]).await.unwrap().is_none());
    let first = producer.lookup_id(&ids[0]).await.unwrap().unwrap();
    assert_eq!(first.body_text(), "m0");
}

/// A power loss during a batch's write: its later pages reached the disk,
/// its earlier ones did not (zeros, as the writer fills ahead). Nothing of
/// that write was acknowledged (its fsync never returned), and no later
/// write began; so the broker starts by itself, cutting it, with no
/// operator setting. Damage followed by a later write is still refused
/// (`damage_before_valid_records_makes_the_broker_refuse_to_start`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_torn_by_a_power_loss_is_cut_without_any_setting() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let producer = Producer::connect(&broker.addr).await.unwrap();
    let mut acked = Vec::new();
    for i in 0..5 {
        let r = producer
            .send(Message::new("torn", format!("m{i}")))
            .await
            .unwrap();
        acked.push(r.id);
    }
    let batch = (0..20)
        .map(|i| Message::new("torn", format!("b{i}-{}", "x".repeat(300))))
        .collect();
    let batch: Vec<String> = producer
        .send_batch(batch)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    broker.kill9();
    // Its first ten records never reached the disk; the last ten did.
    let seg = segment_of(dir.path());
    let base: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let offset = |id: &str| id.parse::<mq::MessageId>().unwrap().offset - base;
    let mut data = std::fs::read(&seg).unwrap();
    data[offset(&batch[0]) as usize..offset(&batch[10]) as usize].fill(0);
    std::fs::write(&seg, &data).unwrap();

    let restarted = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[])
        .expect("the broker starts without MQ_RECOVERY");

    let producer = Producer::connect(&restarted.addr).await.unwrap();
    for (i, id) in acked.iter().enumerate() {
        let m = producer.lookup_id(id).await.unwrap();
        assert_eq!(m.map(|m| m.body_text()), Some(format!("m{i}")));
    }
    for id in &batch {
        assert!(
            producer.lookup_id(id).await.unwrap().is_none(),
            "a record of the torn write was kept: {id}"
        );
    }
    let got = drain(&restarted.addr, "torn", 5, Duration::from_secs(10)).await;
    let mut bodies: Vec<String> = got.into_keys().collect();
    bodies.sort();
    assert_eq!(bodies, vec!["m0", "m1", "m2", "m3", "m4"]);
    let new = producer.send(Message::new("torn", "new")).await.unwrap();
    assert!(!batch.contains(&new.id) && !acked.contains(&new.id));
}

/// Consumer offsets are written every `MQ_OFFSET_FLUSH_INTERVAL` (200 ms by
/// default): acknowledgements not yet written when the broker is killed
/// are lost, and those messages are delivered again — at-least-once, never
/// skipped. Shown with an interval so long that no write happens before the
/// kill: every acknowledged message comes again, none is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_not_yet_written_are_delivered_again_after_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let never = [("MQ_OFFSET_FLUSH_INTERVAL", "1h")];
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &never).unwrap();
    let producer = Producer::connect(&broker.addr).await.unwrap();
    for i in 0..20 {
        producer
            .send(Message::new("redo", format!("r{i}")))
            .await
            .unwrap();
    }
    let first = drain(&broker.addr, "redo", 20, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 20);
    let admin = broker.admin.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while common::admin_get(&admin, "/groups/drain").await["lag"] != 0 {
        assert!(tokio::time::Instant::now() < deadline, "acks never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.kill9();

    let restarted = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let again = drain(&restarted.addr, "redo", 20, Duration::from_secs(10)).await;

    assert_eq!(
        again.len(),
        20,
        "acknowledged but unwritten: delivered again"
    );
}

/// The broker logs on stderr: its first stdout line names its addresses
/// even when it logs at info level from the start (scripts and tests read
/// that line; an info line before it made every start fail).
#[test]
fn the_first_stdout_line_names_the_addresses_even_with_info_logs() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[("RUST_LOG", "info")])
        .expect("the broker starts and names its addresses");
    assert!(
        broker.addr.parse::<std::net::SocketAddr>().is_ok(),
        "{}",
        broker.addr
    );
    broker.kill9();
}
