//! Delayed messages: by duration, by level and by deliver-at time; invisible
//! before their time, delivered within a second after it, many pending at
//! once, and surviving a `kill -9` of the broker.

mod common;

use std::time::{Duration, Instant};

use common::{BrokerProcess, admin_get, bodies, collect, start_broker, wait_until};
use mq::{ConsumerConfig, Message, Producer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delayed_2s_arrives_no_earlier_than_2s_and_no_later_than_3s() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "timeouts", "order")).await;
    let producer = Producer::connect(&addr).await.unwrap();

    let sent_at = Instant::now();
    let receipt = producer
        .send(Message::new("order", "late").with_delay(Duration::from_secs(2)))
        .await
        .unwrap();
    producer.send(Message::new("order", "now")).await.unwrap();

    wait_until(Duration::from_secs(4), "the delayed message", || {
        bodies(&seen).contains(&"late".to_string())
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].0.body_text(),
        "now",
        "the undelayed one comes first"
    );
    let (late, arrived) = &seen[1];
    let after = *arrived - sent_at;
    assert!(after >= Duration::from_secs(2), "arrived after {after:?}");
    assert!(after <= Duration::from_secs(3), "arrived after {after:?}");
    assert_eq!(late.id.to_string(), receipt.id, "the id stays the one sent");
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_levels_and_deliver_at_times_hold_thousands_of_messages_back_until_due() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| {
        c.delay_levels = vec![Duration::from_millis(300), Duration::from_millis(600)];
    })
    .await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let producer = Producer::connect(&addr).await.unwrap();
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "g", "jobs").concurrency(64)).await;

    // 2,000 pending at once: 1,000 at level 2 (600 ms), 1,000 at a fixed time.
    let start = mq::message::now_ms();
    let batch = |prefix: &str, f: &dyn Fn(Message) -> Message| -> Vec<Message> {
        (0..1000)
            .map(|i| f(Message::new("jobs", format!("{prefix}-{i}"))))
            .collect()
    };
    producer
        .send_batch(batch("level", &|m| m.with_delay_level(2)))
        .await
        .unwrap();
    producer
        .send_batch(batch("at", &|m| m.with_deliver_at(start + 900)))
        .await
        .unwrap();
    let pending = admin_get(&admin, "/delayed").await;
    assert!(
        pending["pending"].as_u64().unwrap() > 1000,
        "admin shows {pending}"
    );

    wait_until(Duration::from_secs(10), "all 2,000 messages", || {
        seen.lock().unwrap().len() >= 2000
    })
    .await;
    for (m, _) in seen.lock().unwrap().iter() {
        let due = if m.body_text().starts_with("level") {
            start + 600
        } else {
            start + 900
        };
        assert!(
            m.stored_at_ms >= due,
            "{} released before it was due",
            m.body_text()
        );
    }
    let refused = producer
        .send(Message::new("jobs", "x").with_delay_level(3))
        .await;
    assert!(refused.is_err(), "level 3 does not exist here");
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_due_in_3s_survives_kill_9_at_1s_and_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &[]).unwrap();
    let addr = broker.addr.clone();
    let producer = Producer::connect(&addr).await.unwrap();
    let sent_at = Instant::now();
    producer
        .send(Message::new("order", "timeout-1").with_delay(Duration::from_secs(3)))
        .await
        .unwrap();
    producer.close().await;

    tokio::time::sleep_until((sent_at + Duration::from_secs(1)).into()).await;
    broker.kill9();
    let restarted = BrokerProcess::start(dir.path(), &addr, &[]).unwrap();
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "timeouts", "order")).await;

    wait_until(Duration::from_secs(5), "the delayed message", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let arrived = seen.lock().unwrap()[0].1 - sent_at;
    assert!(
        arrived >= Duration::from_secs(3),
        "arrived after {arrived:?}"
    );
    assert!(
        arrived <= Duration::from_secs(4),
        "arrived after {arrived:?}"
    );
    // Delivered once, and no longer pending.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bodies(&seen), vec!["timeout-1".to_string()]);
    let pending = admin_get(&restarted.admin, "/delayed").await;
    assert_eq!(pending["pending"], 0);
    consumer.shutdown().await;
}
