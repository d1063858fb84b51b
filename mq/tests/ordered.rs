//! Ordered messages: a sharding key pins a message to one queue and an
//! orderly consumer handles each queue strictly in order, across a consumer
//! restart; a failing message blocks its own queue only.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{start_broker, wait_until};
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};

type PerKey = Arc<Mutex<HashMap<String, Vec<u32>>>>;

/// Messages the first consumer handles before it stops taking new ones.
const FIRST_CONSUMER_STOPS_AFTER: usize = 3_000;

/// An orderly member of group `ledger` recording, per key, the sequence
/// numbers it acknowledged. Once `limit` are recorded it answers "later" to
/// everything, which blocks each queue where it stands (orderly mode), so the
/// consumer is stopped mid-stream with no message half-handled.
async fn orderly_consumer(addr: &str, seen: PerKey, limit: usize) -> Consumer {
    let config = ConsumerConfig::new(addr, "ledger", "accounts")
        .orderly()
        .orderly_retry_delay(Duration::from_millis(50))
        .concurrency(16);
    Consumer::start(config, move |m| {
        let (key, seq) = m
            .body_text()
            .split_once(':')
            .map(|(k, s)| (k.to_string(), s.parse().unwrap()))
            .unwrap();
        let mut seen = seen.lock().unwrap();
        let handled = seen.values().map(Vec::len).sum::<usize>();
        let answer = if handled < limit {
            seen.entry(key).or_default().push(seq);
            ConsumeResult::Ack
        } else {
            ConsumeResult::Later
        };
        async move { answer }
    })
    .await
    .unwrap()
}

fn handled(seen: &PerKey) -> usize {
    seen.lock().unwrap().values().map(Vec::len).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_over_100_keys_keep_per_key_order_across_a_consumer_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| c.default_queues = 8).await;
    let addr = broker.addr.to_string();
    let producer = Producer::connect(&addr).await.unwrap();
    let first: PerKey = Arc::default();
    let second: PerKey = Arc::default();

    let consumer = orderly_consumer(&addr, first.clone(), FIRST_CONSUMER_STOPS_AFTER).await;
    for batch in 0..20 {
        let messages: Vec<Message> = (0..500)
            .map(|i| batch * 500 + i)
            .map(|n| {
                let key = format!("k{}", n % 100);
                Message::new("accounts", format!("{key}:{}", n / 100)).with_sharding_key(key)
            })
            .collect();
        producer.send_batch(messages).await.unwrap();
    }
    wait_until(
        Duration::from_secs(20),
        "the first consumer's share",
        || handled(&first) >= FIRST_CONSUMER_STOPS_AFTER,
    )
    .await;
    consumer.shutdown().await;
    let handled_before_restart = handled(&first);
    assert!(
        0 < handled_before_restart && handled_before_restart < 10_000,
        "the restart happens mid-stream, after {handled_before_restart} messages"
    );

    let consumer = orderly_consumer(&addr, second.clone(), usize::MAX).await;
    // Every key's sequence must end with its last message, 99.
    wait_until(Duration::from_secs(30), "every key's last message", || {
        let second = second.lock().unwrap();
        let first = first.lock().unwrap();
        (0..100).all(|k| {
            let key = format!("k{k}");
            let last = |s: &HashMap<String, Vec<u32>>| s.get(&key).and_then(|v| v.last().copied());
            last(&second) == Some(99) || (last(&first) == Some(99) && !second.contains_key(&key))
        })
    })
    .await;
    consumer.shutdown().await;

    // Per key: the first consumer saw 0..a in order; the second went on from
    // some b ≤ a (re-delivering the suffix b..a it may not have seen acked)
    // to 99, in order. Nothing skipped, nothing out of order.
    let first = first.lock().unwrap().clone();
    let second = second.lock().unwrap().clone();
    for k in 0..100 {
        let key = format!("k{k}");
        let before = first.get(&key).cloned().unwrap_or_default();
        let after = second.get(&key).cloned().unwrap_or_default();
        let a = before.len() as u32;
        assert_eq!(
            before,
            (0..a).collect::<Vec<u32>>(),
            "order of {key} before the restart"
        );
        let b = after.first().copied().unwrap_or(a);
        assert!(b <= a, "{key}: the second consumer skipped from {a} to {b}");
        assert_eq!(
            after,
            (b..100).collect::<Vec<u32>>(),
            "order of {key} after the restart"
        );
    }
    let redelivered =
        handled_before_restart + second.values().map(Vec::len).sum::<usize>() - 10_000;
    assert!(
        redelivered <= 16 * 2,
        "only messages in flight at the stop come again, not {redelivered}"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_blocks_its_queue_while_other_queues_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| c.default_queues = 4).await;
    let addr = broker.addr.to_string();
    let producer = Producer::connect(&addr).await.unwrap();
    // Two keys on different queues.
    let mut queue_of = HashMap::new();
    let mut keys = Vec::new();
    for i in 0.. {
        let key = format!("k{i}");
        let r = producer
            .send(Message::new("probe", "x").with_sharding_key(key.clone()))
            .await
            .unwrap();
        if !queue_of.values().any(|&q| q == r.queue) {
            queue_of.insert(key.clone(), r.queue);
            keys.push(key);
        }
        if keys.len() == 2 {
            break;
        }
    }
    let (stuck, free) = (keys[0].clone(), keys[1].clone());
    let log: Arc<Mutex<Vec<(String, u32, Instant)>>> = Arc::default();
    let l = log.clone();
    let stuck_ = stuck.clone();
    let config = ConsumerConfig::new(&addr, "g", "jobs")
        .orderly()
        .orderly_retry_delay(Duration::from_millis(300));
    let consumer = Consumer::start(config, move |m| {
        let key = m.sharding_key.clone().unwrap();
        l.lock()
            .unwrap()
            .push((m.body_text(), m.attempt, Instant::now()));
        // The first message of the stuck key fails twice.
        let fail = key == stuck_ && m.body_text().ends_with(":0") && m.attempt < 3;
        async move {
            if fail {
                ConsumeResult::Later
            } else {
                ConsumeResult::Ack
            }
        }
    })
    .await
    .unwrap();
    for i in 0..3 {
        for key in [&stuck, &free] {
            producer
                .send(Message::new("jobs", format!("{key}:{i}")).with_sharding_key(key.clone()))
                .await
                .unwrap();
        }
    }
    wait_until(Duration::from_secs(5), "all six handled", || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|e| e.0.starts_with(&stuck))
            .count()
            >= 5
            && log
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.0.starts_with(&free))
                .count()
                >= 3
    })
    .await;
    let log = log.lock().unwrap().clone();
    let of = |key: &str| -> Vec<(String, u32)> {
        log.iter()
            .filter(|e| e.0.starts_with(&format!("{key}:")))
            .map(|e| (e.0.clone(), e.1))
            .collect()
    };
    let s = |k: &str, i: u32, a: u32| (format!("{k}:{i}"), a);
    assert_eq!(
        of(&stuck),
        vec![
            s(&stuck, 0, 1),
            s(&stuck, 0, 2),
            s(&stuck, 0, 3),
            s(&stuck, 1, 1),
            s(&stuck, 2, 1)
        ]
    );
    assert_eq!(
        of(&free),
        vec![s(&free, 0, 1), s(&free, 1, 1), s(&free, 2, 1)]
    );
    // The free queue finished while the stuck one was still retrying.
    let free_done = log
        .iter()
        .filter(|e| e.0 == format!("{free}:2"))
        .map(|e| e.2)
        .next()
        .unwrap();
    let stuck_ok = log
        .iter()
        .filter(|e| e.0 == format!("{stuck}:0") && e.1 == 3)
        .map(|e| e.2)
        .next()
        .unwrap();
    assert!(
        free_done < stuck_ok,
        "the other queue waited for the failing one"
    );
    consumer.shutdown().await;
    broker.shutdown().await;
}
