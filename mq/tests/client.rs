//! The producer's send modes and what it reports when the broker is gone.

mod common;

use std::time::Duration;

use common::start_broker;
use mq::storage::FlushMode;
use mq::{Error, Message, Producer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_async_and_one_way_sends_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();

    let batch = producer
        .send_batch(
            (0..10)
                .map(|i| Message::new("modes", format!("b{i}")).with_key("batch"))
                .collect(),
        )
        .await
        .unwrap();
    let pending: Vec<_> =
        futures::future::join_all((0..10).map(|i| {
            producer.send_async(Message::new("modes", format!("a{i}")).with_key("async"))
        }))
        .await;
    let mut receipts = Vec::new();
    for p in pending {
        receipts.push(p.unwrap().receipt().await.unwrap());
    }
    producer
        .send_oneway(Message::new("modes", "o").with_key("oneway"))
        .await
        .unwrap();

    assert_eq!(batch.len(), 10);
    assert_eq!(receipts.len(), 10);
    assert_eq!(
        producer.lookup_key("modes", "batch").await.unwrap().len(),
        10
    );
    assert_eq!(
        producer.lookup_key("modes", "async").await.unwrap().len(),
        10
    );
    let mut oneway = Vec::new();
    for _ in 0..100 {
        oneway = producer.lookup_key("modes", "oneway").await.unwrap();
        if !oneway.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(oneway.len(), 1);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_several_topics_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();

    let err = producer
        .send_batch(vec![Message::new("a", "1"), Message::new("b", "2")])
        .await
        .unwrap_err();

    assert!(err.to_string().contains("one topic"), "{err}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_flush_mode_stores_and_recovers_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mode = |c: &mut mq::BrokerConfig| {
        c.flush = FlushMode::Async {
            interval: Duration::from_millis(20),
        }
    };
    let broker = start_broker(dir.path(), mode).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for i in 0..20 {
        producer
            .send(Message::new("fast", format!("f{i}")).with_key("k"))
            .await
            .unwrap();
    }
    broker.shutdown().await;

    let broker = start_broker(dir.path(), mode).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();

    assert_eq!(producer.lookup_key("fast", "k").await.unwrap().len(), 20);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_fail_clearly_while_the_broker_is_down_and_work_again_after_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let producer = Producer::connect(&addr).await.unwrap();
    producer.send(Message::new("t", "before")).await.unwrap();
    broker.shutdown().await;

    let err = producer
        .send(Message::new("t", "during"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unreachable { .. } | Error::NotAcknowledged),
        "unexpected error {err}"
    );

    let again = start_broker(dir.path(), |c| c.listen = addr.clone()).await;
    let receipt = producer.send(Message::new("t", "after")).await.unwrap();

    assert!(producer.lookup_id(&receipt.id).await.unwrap().is_some());
    again.shutdown().await;
}
