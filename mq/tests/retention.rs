//! Many small segments: recovery across segment boundaries, and retention
//! deleting whole old segments (never the active one).
//!
//! Every wait is on a condition (files on disk, the admin API), with
//! generous limits: background summaries and retention passes run on their
//! own time, so nothing here assumes how long they take.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{admin_get, start_broker, wait_until};
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};

/// The segment summaries in `index` (finished ones: `.sum`, not `.tmp`).
fn summaries(index: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sum"))
        .collect();
    v.sort();
    v
}

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
    wait_until(Duration::from_secs(60), "messages", || {
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
    // Summaries are written off the writer's thread (and again by a
    // restart): wait for them rather than assume they are done.
    let index = dir.path().join("index");
    wait_until(
        Duration::from_secs(60),
        "a summary for every sealed segment",
        || summaries(&index).len() == segments - 1,
    )
    .await;
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
    // Restart once so every sealed segment has its summary, then damage one.
    start_broker(dir.path(), |c| c.segment_size = 4096)
        .await
        .shutdown()
        .await;
    let segments = std::fs::read_dir(dir.path().join("log")).unwrap().count();
    let index = dir.path().join("index");
    wait_until(Duration::from_secs(60), "every summary written", || {
        summaries(&index).len() == segments - 1
    })
    .await;
    let sums = summaries(&index);
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
    wait_until(
        Duration::from_secs(60),
        "old segments to be deleted",
        || std::fs::read_dir(&log).unwrap().count() == 1,
    )
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

/// Waits (up to a minute) until `topic` has `want` messages indexed.
async fn wait_retained(admin: &str, topic: &str, want: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = retained(admin, topic).await;
        if now == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{topic} still holds {now} messages, waiting for {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sum of a counter's samples whose labels contain `labels`.
async fn counter(admin: &str, name: &str, labels: &str) -> u64 {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_retention_took_from_a_lagging_group_are_logged_and_counted() {
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
    let send = |topic: &'static str, i: usize| {
        let p = &producer;
        async move {
            p.send(Message::new(
                topic,
                format!("{topic}-{i}-{}", "x".repeat(200)),
            ))
            .await
            .unwrap()
        }
    };
    for i in 0..5 {
        send("lagged", i).await;
    }
    // The group reads five, goes away; 30 more are sent, and other traffic
    // moves the log on until retention removed all of them.
    assert_eq!(consume_topic(&addr, "lagging", "lagged", 5).await.len(), 5);
    for i in 5..35 {
        send("lagged", i).await;
    }
    for i in 0..20 {
        send("filler", i).await;
    }
    wait_retained(&admin, "lagged", 0).await;
    assert_eq!(
        counter(&admin, "mq_retention_skipped_total", "lagging").await,
        0
    );

    // The group comes back: what it never read is gone, and that is said.
    let consumer = Consumer::start(ConsumerConfig::new(&addr, "lagging", "lagged"), |_| async {
        ConsumeResult::Ack
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while counter(&admin, "mq_retention_skipped_total", "group=\"lagging\"").await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no metric for the skipped messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        counter(&admin, "mq_retention_skipped_total", "group=\"lagging\"").await,
        30,
        "the thirty messages the group never read"
    );
    consumer.shutdown().await;
    broker.shutdown().await;
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
    wait_retained(&admin, "emptied", 0).await;
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
