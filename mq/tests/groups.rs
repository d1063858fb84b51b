//! Consumer groups: clustering (each message to one member), handing queues
//! over when a member leaves, and independent groups.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{admin_get, collect, start_broker, wait_until};
use mq::client::ConsumeFrom;
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};

type Seen = Arc<Mutex<HashMap<String, Vec<&'static str>>>>;

async fn member(
    addr: &str,
    group: &str,
    name: &'static str,
    seen: &Seen,
    from: ConsumeFrom,
) -> Consumer {
    let seen = seen.clone();
    let config = ConsumerConfig::new(addr, group, "shared")
        .concurrency(4)
        .from(from);
    Consumer::start(config, move |m| {
        seen.lock()
            .unwrap()
            .entry(m.body_text())
            .or_default()
            .push(name);
        async { ConsumeResult::Ack }
    })
    .await
    .unwrap()
}

async fn send(producer: &Producer, range: std::ops::Range<usize>) {
    for i in range {
        producer
            .send(Message::new("shared", format!("m{i}")))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_share_the_queues_and_a_leaving_member_hands_over() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let producer = Producer::connect(&addr).await.unwrap();
    let seen: Seen = Arc::default();
    let a = member(&addr, "g", "a", &seen, ConsumeFrom::Earliest).await;
    let b = member(&addr, "g", "b", &seen, ConsumeFrom::Earliest).await;
    let status = broker.core.subscriptions(Some("g"))[0]
        .status()
        .await
        .unwrap();
    assert_eq!(status.members.len(), 2);

    // Act 1: both members consume.
    send(&producer, 0..200).await;
    wait_until(Duration::from_secs(10), "200 messages", || {
        seen.lock().unwrap().len() == 200
    })
    .await;

    // Assert 1: each message handled once, by one member; both took part.
    {
        let seen = seen.lock().unwrap();
        assert!(
            seen.values().all(|who| who.len() == 1),
            "a message was handled twice"
        );
        let by_a = seen.values().filter(|w| w[0] == "a").count();
        assert!(by_a > 0 && by_a < 200, "member a handled {by_a} of 200");
    }

    // Act 2: a leaves; b takes over every queue.
    a.shutdown().await;
    send(&producer, 200..300).await;
    wait_until(Duration::from_secs(10), "100 more messages", || {
        seen.lock().unwrap().len() == 300
    })
    .await;

    // Assert 2
    {
        let seen = seen.lock().unwrap();
        let late: Vec<_> = (200..300).map(|i| seen[&format!("m{i}")].clone()).collect();
        assert!(
            late.iter().all(|who| who == &vec!["b"]),
            "after a left, b should handle everything"
        );
    }
    b.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_group_sees_new_messages_without_disturbing_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let producer = Producer::connect(&addr).await.unwrap();
    let old: Seen = Arc::default();
    let old_member = member(&addr, "old", "o", &old, ConsumeFrom::Earliest).await;
    send(&producer, 0..10).await;
    wait_until(Duration::from_secs(5), "old group to consume", || {
        old.lock().unwrap().len() == 10
    })
    .await;

    let new: Seen = Arc::default();
    let new_member = member(&addr, "new", "n", &new, ConsumeFrom::Latest).await;
    send(&producer, 10..15).await;

    wait_until(
        Duration::from_secs(5),
        "both groups to see the new messages",
        || new.lock().unwrap().len() == 5 && old.lock().unwrap().len() == 15,
    )
    .await;
    let mut got: Vec<String> = new.lock().unwrap().keys().cloned().collect();
    got.sort();
    assert_eq!(got, vec!["m10", "m11", "m12", "m13", "m14"]);
    old_member.shutdown().await;
    new_member.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_rejoins_by_itself_after_the_broker_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let seen: Seen = Arc::default();
    let consumer = member(&addr, "g", "c", &seen, ConsumeFrom::Earliest).await;
    broker.shutdown().await;

    let again = start_broker(dir.path(), |c| c.listen = addr.clone()).await;
    let producer = Producer::connect(&addr).await.unwrap();
    send(&producer, 0..3).await;

    wait_until(
        Duration::from_secs(10),
        "deliveries after the restart",
        || seen.lock().unwrap().len() == 3,
    )
    .await;
    consumer.shutdown().await;
    again.shutdown().await;
}

/// RocketMQ requires every member of a group to subscribe alike; here the
/// live members' subscription stands and a member asking for another is
/// refused with CONFLICT (before, the last to join set the whole group's
/// filter, silently changing what the others received).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_subscribing_unlike_the_groups_live_members_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let (first, seen) =
        collect(ConsumerConfig::new(&addr, "alike", "orders").tags("created")).await;

    let refused = mq::Consumer::start(
        ConsumerConfig::new(&addr, "alike", "orders").tags("paid"),
        |_| async { mq::ConsumeResult::Ack },
    )
    .await;
    let orderly = mq::Consumer::start(
        ConsumerConfig::new(&addr, "alike", "orders")
            .tags("created")
            .orderly(),
        |_| async { mq::ConsumeResult::Ack },
    )
    .await;
    let (same, seen_same) =
        collect(ConsumerConfig::new(&addr, "alike", "orders").tags("created")).await;

    let Err(mq::Error::Refused { code, message }) = refused else {
        panic!("a member with another tag expression was let in");
    };
    assert_eq!(code, mq::ErrorCode::Conflict);
    assert!(
        message.contains("\"created\"") && message.contains("\"paid\""),
        "{message}"
    );
    assert!(
        matches!(
            orderly,
            Err(mq::Error::Refused {
                code: mq::ErrorCode::Conflict,
                ..
            })
        ),
        "an orderly member joined a concurrent group"
    );
    // The group still selects what its members asked for.
    let producer = Producer::connect(&addr).await.unwrap();
    for tag in ["paid", "created"] {
        producer
            .send(Message::new("orders", tag).with_tag(tag))
            .await
            .unwrap();
    }
    wait_until(Duration::from_secs(10), "the created message", || {
        seen.lock().unwrap().len() + seen_same.lock().unwrap().len() >= 1
    })
    .await;
    let group = admin_get(&broker.admin_addr.to_string(), "/groups/alike").await;
    assert_eq!(group["subscriptions"][0]["tag_expr"], "created", "{group}");

    // Once every member left, the next one sets the subscription anew.
    first.shutdown().await;
    same.shutdown().await;
    let mut joined = None;
    for _ in 0..250 {
        // The broker learns of the leaving members as their connections close.
        match mq::Consumer::start(
            ConsumerConfig::new(&addr, "alike", "orders").tags("paid"),
            |_| async { mq::ConsumeResult::Ack },
        )
        .await
        {
            Ok(c) => {
                joined = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    joined
        .expect("a new subscription once the group is empty")
        .shutdown()
        .await;
    broker.shutdown().await;
}
