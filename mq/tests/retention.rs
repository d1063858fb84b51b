//! Many small segments: recovery across segment boundaries, and retention
//! deleting whole old segments (never the active one).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{admin_get, start_broker, wait_until};
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};

async fn consume_all(addr: &str, group: &str, expect: usize) -> Vec<String> {
    consume_topic(addr, group, "small", expect).await
}

async fn consume_topic(addr: &str, group: &str, topic: &str, expect: usize) -> Vec<String> {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    let consumer = Consumer::start(ConsumerConfig::new(addr, group, topic), move |m| {
        g.lock().unwrap().push(m.body_text());
        async { ConsumeResult::Ack }
    })
    .await
    .unwrap();
    wait_until(Duration::from_secs(10), "messages", || {
        got.lock().unwrap().len() >= expect
    })
    .await;
    consumer.shutdown().await;
    let mut v = got.lock().unwrap().clone();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_spanning_many_segments_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| c.segment_size = 4096).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for i in 0..100 {
        producer
            .send(Message::new("small", format!("{i:03}-{}", "x".repeat(200))))
            .await
            .unwrap();
    }
    producer.close().await;
    broker.shutdown().await;
    let segments = std::fs::read_dir(dir.path().join("log")).unwrap().count();
    assert!(segments > 5, "only {segments} segments");

    let broker = start_broker(dir.path(), |c| c.segment_size = 4096).await;
    let got = consume_all(&broker.addr.to_string(), "g", 100).await;

    assert_eq!(got.len(), 100);
    assert!(got[0].starts_with("000-") && got[99].starts_with("099-"));
    let summaries = std::fs::read_dir(dir.path().join("index")).unwrap().count();
    assert_eq!(
        summaries,
        segments - 1,
        "every sealed segment has a summary"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_segment_summary_is_rebuilt_from_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| c.segment_size = 4096).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for i in 0..50 {
        producer
            .send(
                Message::new("small", format!("{i:03}-{}", "x".repeat(200)))
                    .with_key(format!("k{i}")),
            )
            .await
            .unwrap();
    }
    producer.close().await;
    broker.shutdown().await;
    // Restart once so every sealed segment surely has its summary, then damage one.
    start_broker(dir.path(), |c| c.segment_size = 4096)
        .await
        .shutdown()
        .await;
    let mut sums: Vec<_> = std::fs::read_dir(dir.path().join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    sums.sort();
    let mut data = std::fs::read(&sums[1]).unwrap();
    data[30] ^= 0xFF;
    std::fs::write(&sums[1], &data).unwrap();
    std::fs::remove_file(&sums[2]).unwrap();

    let broker = start_broker(dir.path(), |c| c.segment_size = 4096).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();

    for i in 0..50 {
        assert_eq!(
            producer
                .lookup_key("small", &format!("k{i}"))
                .await
                .unwrap()
                .len(),
            1,
            "k{i}"
        );
    }
    let got = consume_all(&broker.addr.to_string(), "g", 50).await;
    assert_eq!(got.len(), 50);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_segments_but_keeps_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| {
        c.segment_size = 4096;
        c.retention = Duration::from_millis(300);
        c.retention_check_interval = Duration::from_millis(100);
    })
    .await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for i in 0..60 {
        producer
            .send(Message::new("small", format!("old-{i}-{}", "x".repeat(200))).with_key("k"))
            .await
            .unwrap();
    }

    let log = dir.path().join("log");
    wait_until(Duration::from_secs(5), "old segments to be deleted", || {
        std::fs::read_dir(&log).unwrap().count() == 1
    })
    .await;
    let topics = admin_get(&broker.admin_addr.to_string(), "/topics").await;
    let small = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "small")
        .unwrap()
        .clone();
    let retained: u64 = small["messages"].as_u64().unwrap();
    let by_key = producer.lookup_key("small", "k").await.unwrap();

    assert!(retained < 60, "retention kept {retained} of 60");
    assert_eq!(
        by_key.len() as u64,
        retained,
        "key index not trimmed with the log"
    );
    producer.send(Message::new("small", "new")).await.unwrap();
    broker.shutdown().await;
}

/// Messages of `topic` still indexed, as the admin API reports them.
async fn retained(admin: &str, topic: &str) -> u64 {
    let topics = admin_get(admin, "/topics").await;
    topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == topic)
        .map_or(0, |t| t["messages"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_emptied_by_retention_keeps_its_offsets_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = |c: &mut mq::BrokerConfig| {
        c.segment_size = 4096;
        c.default_queues = 1;
        c.retention = Duration::from_millis(300);
        c.retention_check_interval = Duration::from_millis(100);
    };
    let broker = start_broker(dir.path(), settings).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let producer = Producer::connect(&addr).await.unwrap();
    for i in 0..30 {
        producer
            .send(Message::new(
                "emptied",
                format!("old-{i}-{}", "x".repeat(200)),
            ))
            .await
            .unwrap();
    }
    assert_eq!(consume_topic(&addr, "g", "emptied", 30).await.len(), 30);
    // Other traffic moves the log on until retention removed every old message.
    for i in 0..20 {
        producer
            .send(Message::new("filler", format!("f-{i}-{}", "x".repeat(200))))
            .await
            .unwrap();
    }
    let mut gone = false;
    for _ in 0..100 {
        if retained(&admin, "emptied").await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "retention never removed the consumed messages");
    producer.close().await;
    broker.shutdown().await;

    // Act: restart, send new messages, then the group comes back.
    let broker = start_broker(dir.path(), settings).await;
    let addr = broker.addr.to_string();
    let producer = Producer::connect(&addr).await.unwrap();
    let mut receipts = Vec::new();
    for i in 0..10 {
        receipts.push(
            producer
                .send(Message::new("emptied", format!("new-{i}")))
                .await
                .unwrap(),
        );
    }
    let got = consume_topic(&addr, "g", "emptied", 10).await;

    // Assert: offsets went on from 30, and the group got all ten.
    assert_eq!(receipts[0].queue_offset, 30, "queue offsets restarted");
    assert_eq!(got.len(), 10);
    broker.shutdown().await;
}
