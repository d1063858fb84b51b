//! The disk: pending delayed and half messages do not pin retention (they
//! are copied forward), a full or failing disk stops sends only while it
//! lasts, and a restart frees space at once.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use common::{admin_get, collect, start_broker, wait_until};
use mq::storage::faults::Fault;
use mq::{ConsumerConfig, Message, Producer, TransactionProducer, TxnState};

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("log")).unwrap().count()
}

fn small_segments(c: &mut mq::BrokerConfig) {
    c.segment_size = 4096;
    c.retention = Duration::from_millis(300);
    c.retention_check_interval = Duration::from_millis(100);
    c.txn_check_after = Duration::from_secs(3600);
}

/// Year 2100, in ms since the epoch.
const YEAR_2100_MS: u64 = 4_102_444_800_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_half_and_a_message_delayed_to_2100_do_not_stop_retention() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), small_segments).await;
    let addr = broker.addr.to_string();
    let asked = Arc::new(AtomicU32::new(0));
    let never = move |_m| {
        asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::ready(TxnState::Unknown)
    };
    let txn = TransactionProducer::connect(&addr, "gone", never)
        .await
        .unwrap();
    let half = txn.send_half(Message::new("later", "half")).await.unwrap();
    txn.close().await;
    let producer = Producer::connect(&addr).await.unwrap();
    let delayed = producer
        .send(Message::new("later", "2100").with_deliver_at(YEAR_2100_MS))
        .await
        .unwrap();

    // Act: traffic fills many segments, all older than the retention.
    for i in 0..100 {
        producer
            .send(Message::new("traffic", format!("{i}-{}", "x".repeat(200))))
            .await
            .unwrap();
    }

    // Assert: the log shrinks although both are still pending…
    wait_until(
        Duration::from_secs(10),
        "old segments to be deleted",
        || segments(dir.path()) <= 2,
    )
    .await;
    producer.close().await;
    broker.shutdown().await;
    // …and both survive a restart, under their ids.
    let broker = start_broker(dir.path(), small_segments).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    assert_eq!(admin_get(&admin, "/transactions").await["pending"], 1);
    let delayed_now = admin_get(&admin, "/delayed").await;
    assert_eq!(delayed_now["pending"], 1, "{delayed_now}");
    assert_eq!(delayed_now["soonest"][0]["id"], delayed.id.as_str());
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "g", "later")).await;
    let txn =
        TransactionProducer::connect(&addr, "gone", |_m| std::future::ready(TxnState::Unknown))
            .await
            .unwrap();
    txn.end(&half.id, TxnState::Commit).await.unwrap();
    wait_until(Duration::from_secs(5), "the committed half", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(seen.lock().unwrap()[0].0.id.to_string(), half.id);
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_recovers_when_a_full_or_failing_disk_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| c.default_queues = 1).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    let faults = || broker.core.store.faults();
    let mut acked = Vec::new();
    for i in 0..5 {
        producer
            .send(Message::new("disk", format!("a{i}")))
            .await
            .unwrap();
        acked.push(format!("a{i}"));
    }

    for fault in [Fault::Write, Fault::Sync] {
        // Act: the disk fails; sends are refused, not acknowledged…
        faults().set(Some(fault));
        assert!(
            producer
                .send(Message::new("disk", format!("{fault:?}-refused")))
                .await
                .is_err()
        );
        // …and work again once it is back.
        faults().set(None);
        let mut back = false;
        for _ in 0..100 {
            if let Ok(r) = producer
                .send(Message::new("disk", format!("{fault:?}-ok")))
                .await
            {
                assert_eq!(
                    r.queue_offset,
                    acked.len() as u64,
                    "queue offsets skipped or reused"
                );
                acked.push(format!("{fault:?}-ok"));
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(back, "the writer never recovered from {fault:?}");
    }
    producer.close().await;
    broker.shutdown().await;

    // Assert: a restart finds every acknowledged message, in order, once.
    let broker = start_broker(dir.path(), |c| c.default_queues = 1).await;
    let (consumer, seen) =
        collect(ConsumerConfig::new(&broker.addr.to_string(), "g", "disk")).await;
    wait_until(Duration::from_secs(5), "every acknowledged message", || {
        seen.lock().unwrap().len() >= acked.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut got: Vec<(u64, String)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| (m.queue_offset, m.body_text()))
        .collect();
    got.sort();
    let bodies: Vec<String> = got.into_iter().map(|g| g.1).collect();
    assert_eq!(bodies, acked);
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_runs_retention_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let keep = |c: &mut mq::BrokerConfig| {
        c.segment_size = 4096;
        c.retention = Duration::from_millis(300);
        c.retention_check_interval = Duration::from_secs(3600);
    };
    let broker = start_broker(dir.path(), keep).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for i in 0..100 {
        producer
            .send(Message::new("full", format!("{i}-{}", "x".repeat(200))))
            .await
            .unwrap();
    }
    producer.close().await;
    broker.shutdown().await;
    let before = segments(dir.path());
    tokio::time::sleep(Duration::from_millis(400)).await; // older than the retention

    let broker = start_broker(dir.path(), keep).await;

    let after = segments(dir.path());
    assert!(before > 5, "only {before} segments");
    assert_eq!(after, 1, "the restart freed nothing ({before} → {after})");
    broker.shutdown().await;
}
