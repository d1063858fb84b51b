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

    bus.send(Message::new("proof", "r").with_tag("refund").with_key("order-2"))
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
