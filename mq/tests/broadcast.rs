//! Broadcasting: every member of a group gets every message once, with
//! offsets kept per member (a restarted member resumes where it stopped).

mod common;

use std::time::Duration;

use common::{admin_get, bodies, collect, start_broker, wait_until};
use mq::{ConsumerConfig, Message, Producer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_broadcast_members_each_receive_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let mut members = Vec::new();
    for name in ["a", "b", "c"] {
        let config = ConsumerConfig::new(&addr, "caches", "prices").broadcast(name);
        members.push(collect(config).await);
    }
    let producer = Producer::connect(&addr).await.unwrap();
    let sent: Vec<String> = (0..50).map(|i| format!("price-{i}")).collect();
    for body in &sent {
        producer
            .send(Message::new("prices", body.clone()))
            .await
            .unwrap();
    }

    for (_, seen) in &members {
        wait_until(
            Duration::from_secs(5),
            "every message at every member",
            || seen.lock().unwrap().len() >= sent.len(),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (_, seen) in &members {
        let mut got = bodies(seen);
        got.sort();
        let mut want = sent.clone();
        want.sort();
        assert_eq!(got, want, "each message once");
    }

    let group = admin_get(&broker.admin_addr.to_string(), "/groups/caches").await;
    assert_eq!(
        group["broadcast_members"].as_array().unwrap().len(),
        3,
        "{group}"
    );

    // Member "a" restarts: it resumes from its own offsets.
    let (a, _) = members.remove(0);
    a.shutdown().await;
    producer
        .send(Message::new("prices", "price-late"))
        .await
        .unwrap();
    let (a, seen_a) = collect(ConsumerConfig::new(&addr, "caches", "prices").broadcast("a")).await;
    wait_until(Duration::from_secs(5), "the late message at a", || {
        !seen_a.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bodies(&seen_a), vec!["price-late".to_string()]);
    a.shutdown().await;
    for (c, _) in members {
        c.shutdown().await;
    }
    broker.shutdown().await;
}

/// Each broadcast member keeps offsets of its own (`group@instance`); one
/// that goes away for longer than `MQ_BROADCAST_FORGET_AFTER` is forgotten
/// (subscription stopped, offsets deleted), so members that come and go do
/// not grow the offsets file for ever. A live member is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_member_gone_longer_than_the_setting_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| {
        c.broadcast_forget_after = Duration::from_millis(300);
    })
    .await;
    let addr = broker.addr.to_string();
    let admin = broker.admin_addr.to_string();
    let (gone, seen_gone) =
        collect(ConsumerConfig::new(&addr, "caches", "prices").broadcast("gone")).await;
    let (stays, seen_stays) =
        collect(ConsumerConfig::new(&addr, "caches", "prices").broadcast("stays")).await;
    let producer = Producer::connect(&addr).await.unwrap();
    producer.send(Message::new("prices", "p1")).await.unwrap();
    wait_until(Duration::from_secs(10), "p1 at both members", || {
        !seen_gone.lock().unwrap().is_empty() && !seen_stays.lock().unwrap().is_empty()
    })
    .await;
    let offsets = dir.path().join("offsets.json");
    wait_until(
        Duration::from_secs(10),
        "both members' offsets on disk",
        || {
            let text = std::fs::read_to_string(&offsets).unwrap_or_default();
            text.contains("caches@gone") && text.contains("caches@stays")
        },
    )
    .await;

    gone.shutdown().await;

    wait_until(
        Duration::from_secs(30),
        "the gone member forgotten on disk",
        || {
            let text = std::fs::read_to_string(&offsets).unwrap_or_default();
            !text.contains("caches@gone")
        },
    )
    .await;
    let text = std::fs::read_to_string(&offsets).unwrap();
    assert!(
        text.contains("caches@stays"),
        "the live member was forgotten: {text}"
    );
    let group = admin_get(&admin, "/groups/caches").await;
    let names: Vec<&str> = group["broadcast_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["instance"].as_str())
        .collect();
    assert_eq!(names, vec!["stays"], "{group}");
    // The live member still gets messages.
    producer.send(Message::new("prices", "p2")).await.unwrap();
    wait_until(Duration::from_secs(10), "p2 at the live member", || {
        seen_stays.lock().unwrap().len() >= 2
    })
    .await;
    stays.shutdown().await;
    broker.shutdown().await;
}
