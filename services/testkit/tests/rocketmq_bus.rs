//! The bus port's RocketMQ backend against a real RocketMQ on loopback (the
//! `rocketmq-namesrv-rust` and `rocketmq-broker-rust` binaries, started by
//! [`RocketMq`]): sends and consumes with tags, keys and properties mapped one to
//! one; a transactional message committed, rolled back, and left undecided for the
//! check-back to answer; a delivery time; retries ending in `%DLQ%<group>`.
//!
//! Run with `cargo test -p shop-testkit --features rocketmq --test rocketmq_bus`.

use std::{sync::Arc, time::Duration};

use shop_kit::bus::{
    Bus, ConsumeResult, Delivery, LocalOutcome, Message, Subscription, TxnState,
    rocketmq::{RocketMqBus, RocketMqConfig},
};
use shop_testkit::RocketMq;
use tokio::sync::mpsc;

/// How long a test waits for a delivery that must come.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

fn bus(rocketmq: &RocketMq, max_reconsume_times: i32) -> Bus {
    let mut config = RocketMqConfig::new(&rocketmq.namesrv_addr());
    config.max_reconsume_times = max_reconsume_times;
    Bus::new(RocketMqBus::new(config))
}

/// Subscribes `group` to `topic`/`tags`, passing every delivery to the returned
/// channel and answering `answer(delivery)`.
async fn consume(
    bus: &Bus,
    group: &str,
    topic: &str,
    tags: &str,
    answer: impl Fn(&Delivery) -> ConsumeResult + Send + Sync + 'static,
) -> (
    Box<dyn shop_kit::bus::Running>,
    mpsc::UnboundedReceiver<Delivery>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let answer = Arc::new(answer);
    let running = bus
        .subscribe(Subscription::new(group, topic, tags), move |delivery| {
            let result = answer(&delivery);
            let _ = tx.send(delivery);
            async move { result }
        })
        .await
        .expect("the consumer group starts");
    (running, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>, what: &str) -> Delivery {
    tokio::time::timeout(DELIVERY_TIMEOUT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} was not delivered within {DELIVERY_TIMEOUT:?}"))
        .expect("the consumer runs")
}

async fn start() -> RocketMq {
    // RUST_LOG=rocketmq_client_rust=info shows what the client does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    RocketMq::start()
        .await
        .unwrap_or_else(|e| panic!("RocketMQ did not start: {e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_through_the_port_is_consumed_with_its_tag_keys_and_properties() {
    let rocketmq = start().await;
    let bus = bus(&rocketmq, 16);
    assert!(bus.ping(Duration::from_secs(2)).await, "{}", bus.describe());
    let (running, mut rx) = consume(&bus, "proof-group", "proof", "paid || refund", |_| {
        ConsumeResult::Ack
    })
    .await;

    // A tag outside the filter is never handed over; the ones inside are.
    bus.send(Message::new("proof", "skip").with_tag("cancel"))
        .await
        .expect("send");
    let receipt = bus
        .send(
            Message::new("proof", r#"{"order":1}"#)
                .with_tag("paid")
                .with_key("order-1")
                .with_key("pay-1")
                .with_property("request-id", "r-1")
                .with_property("traceparent", "00-abc-def-01"),
        )
        .await
        .expect("send");
    let first = next(&mut rx, "the paid message").await;
    assert_eq!(first.id, receipt.id);
    assert_eq!(first.topic, "proof");
    assert_eq!(first.tag, "paid");
    assert_eq!(first.keys, ["order-1", "pay-1"]);
    assert_eq!(first.body, bytes::Bytes::from_static(br#"{"order":1}"#));
    assert_eq!(
        first.properties.into_iter().collect::<Vec<_>>(),
        [
            ("request-id".to_string(), "r-1".to_string()),
            ("traceparent".to_string(), "00-abc-def-01".to_string()),
        ]
    );
    assert_eq!(first.attempt, 1);
    assert!(first.stored_at_ms >= first.born_at_ms.saturating_sub(1000));

    bus.send(
        Message::new("proof", "r")
            .with_tag("refund")
            .with_key("order-2"),
    )
    .await
    .expect("send");
    let second = next(&mut rx, "the refund message").await;
    assert_eq!(second.tag, "refund");
    assert!(
        rx.try_recv().is_err(),
        "only the filter's tags are delivered"
    );
    running.shutdown().await;
    rocketmq.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_message_is_delivered_once_committed_never_when_rolled_back_and_the_check_back_decides_an_undecided_one()
 {
    let rocketmq = start().await;
    let bus = bus(&rocketmq, 16);
    let (running, mut rx) =
        consume(&bus, "txn-group", "stock", "deduct", |_| ConsumeResult::Ack).await;

    // The checker answers from "local state": the keys whose transactions committed.
    let committed = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    let checks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let checker = {
        let committed = committed.clone();
        let checks = checks.clone();
        move |delivery: Delivery| {
            checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let known = committed.lock().unwrap().contains(delivery.key());
            async move {
                if known {
                    TxnState::Commit
                } else {
                    TxnState::Rollback
                }
            }
        }
    };
    let producer = bus.transaction_producer("txn-producer", checker);
    producer
        .connect()
        .await
        .expect("the transactional producer starts");
    let message = |key: &str| {
        Message::new("stock", key.to_string())
            .with_tag("deduct")
            .with_key(key)
            .with_property("request-id", key)
    };
    let timeout = Duration::from_secs(10);

    let outcome = producer
        .send_in_transaction(message("commit-1"), timeout, || async {
            LocalOutcome::Commit("done")
        })
        .await
        .expect("the half message is stored");
    assert_eq!(outcome, LocalOutcome::Commit("done"));
    let delivered = next(&mut rx, "the committed message").await;
    assert_eq!(delivered.key(), "commit-1");
    assert_eq!(delivered.topic, "stock");
    assert_eq!(
        delivered.properties.get("request-id").map(String::as_str),
        Some("commit-1")
    );

    producer
        .send_in_transaction(message("rollback-1"), timeout, || async {
            LocalOutcome::Rollback(())
        })
        .await
        .expect("the half message is stored");

    // Undecided: the local transaction commits, but its outcome never reaches the
    // broker; the check-back asks the checker, which finds it committed.
    let undecided = producer
        .send_in_transaction(message("unknown-1"), timeout, || {
            let committed = committed.clone();
            async move {
                committed.lock().unwrap().insert("unknown-1".to_string());
                LocalOutcome::Unknown(())
            }
        })
        .await
        .expect("the half message is stored");
    assert_eq!(undecided, LocalOutcome::Unknown(()));
    let checked = next(&mut rx, "the message the check-back committed").await;
    assert_eq!(
        checked.key(),
        "unknown-1",
        "the rolled-back message is never delivered"
    );
    assert!(
        checks.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the check-back asked"
    );
    assert!(rx.try_recv().is_err(), "nothing else is delivered");
    running.shutdown().await;
    rocketmq.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_with_a_delivery_time_is_delivered_no_earlier() {
    let rocketmq = start().await;
    let bus = bus(&rocketmq, 16);
    let (running, mut rx) = consume(&bus, "delay-group", "order", "timeout || now", |_| {
        ConsumeResult::Ack
    })
    .await;
    let delay = Duration::from_secs(4);
    let sent = std::time::Instant::now();
    bus.send(
        Message::new("order", "t")
            .with_tag("timeout")
            .with_key("late")
            .with_delay(delay),
    )
    .await
    .expect("send");
    bus.send(Message::new("order", "n").with_tag("now").with_key("early"))
        .await
        .expect("send");
    let first = next(&mut rx, "the undelayed message").await;
    assert_eq!(first.key(), "early");
    let second = next(&mut rx, "the delayed message").await;
    let waited = sent.elapsed();
    assert_eq!(second.key(), "late");
    assert_eq!(second.tag, "timeout");
    assert_eq!(second.topic, "order");
    // The broker's timer wheel has a precision of one second.
    assert!(
        waited + Duration::from_secs(1) >= delay,
        "delivered after {waited:?}, due after {delay:?}"
    );
    running.shutdown().await;
    rocketmq.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_answered_later_is_retried_then_moved_to_the_groups_dead_letter_queue() {
    let rocketmq = start().await;
    let retries = 2;
    let bus = bus(&rocketmq, retries);
    let (running, mut rx) =
        consume(&bus, "dlq-group", "pay", "paid", |_| ConsumeResult::Later).await;
    let (dead, mut dead_rx) = consume(&bus, "dlq-reader", "%DLQ%dlq-group", "*", |_| {
        ConsumeResult::Ack
    })
    .await;
    bus.send(
        Message::new("pay", "p")
            .with_tag("paid")
            .with_key("pay-9")
            .with_property("request-id", "r-9"),
    )
    .await
    .expect("send");
    let mut attempts = Vec::new();
    for _ in 0..=retries {
        let delivery = next(&mut rx, "a delivery of the failing message").await;
        assert_eq!(delivery.key(), "pay-9");
        assert_eq!(
            delivery.topic, "pay",
            "a retry names the message's own topic"
        );
        assert_eq!(delivery.tag, "paid");
        attempts.push(delivery.attempt);
    }
    assert_eq!(attempts, [1, 2, 3]);
    let dead_letter = next(&mut dead_rx, "the dead letter").await;
    assert_eq!(dead_letter.key(), "pay-9");
    assert_eq!(
        dead_letter.properties.get("request-id").map(String::as_str),
        Some("r-9")
    );
    running.shutdown().await;
    dead.shutdown().await;
    rocketmq.stop().await;
}
