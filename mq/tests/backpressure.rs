//! Backpressure: a client that stops reading cannot grow the broker's
//! memory past a bound. Each connection's outbound queue holds about
//! `MQ_CONNECTION_BUFFER` bytes; past it the broker stops handing that
//! connection deliveries and stops reading its requests. Measured on a
//! broker process (VmRSS) and through the admin API.

mod common;

use std::time::{Duration, Instant};

use common::{BrokerProcess, admin_get};
use futures::SinkExt;
use mq::filter::MessageSelector;
use mq::protocol::{ConsumeFrom, ConsumeMode, Frame, FrameBody, FrameCodec, encode_frame};
use mq::{Message, Producer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const BUFFER: u64 = 4 << 20;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

async fn metric(admin: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What members of `group` hold in flight, summed.
async fn inflight(admin: &str, group: &str) -> u64 {
    let g = admin_get(admin, &format!("/groups/{group}")).await;
    g["subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["members"].as_array().cloned().unwrap_or_default())
        .map(|m| m["inflight"].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_holds_a_bounded_share_of_the_brokers_memory() {
    let dir = tempfile::tempdir().unwrap();
    let buffer = BUFFER.to_string();
    let broker = BrokerProcess::start(
        dir.path(),
        "127.0.0.1:0",
        &[("MQ_CONNECTION_BUFFER", buffer.as_str())],
    )
    .unwrap();
    let pid = broker.child.id();
    // 160 MiB waiting for the group: far more than the bound.
    let producer = Producer::connect(&broker.addr).await.unwrap();
    let body = vec![b'x'; 1 << 20];
    for _ in 0..40 {
        let batch = (0..4).map(|_| Message::new("big", body.clone())).collect();
        producer.send_batch(batch).await.unwrap();
    }
    let before = rss_bytes(pid);

    // A member that takes up to 10,000 deliveries and never reads one.
    let socket = TcpStream::connect(&broker.addr).await.unwrap();
    let mut raw = Framed::new(socket, FrameCodec::new(64 << 20));
    raw.send(Frame {
        request_id: 1,
        body: FrameBody::Subscribe {
            group: "stalled".into(),
            topic: "big".into(),
            selector: MessageSelector::Tag("*".into()),
            max_inflight: 10_000,
            from: ConsumeFrom::Earliest,
            mode: ConsumeMode::Clustering,
        },
    })
    .await
    .unwrap();

    // Either everything was handed to the connection (no bound) or the
    // broker held back for want of room.
    let admin = broker.admin.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while inflight(&admin, "stalled").await < 160
        && metric(&admin, "mq_delivery_backpressure_total").await < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "neither delivered nor held back after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Room taken while it waited is given back only as the client reads:
    // the queue stays near the bound.
    let queued = metric(&admin, "mq_outbound_queued_bytes").await as u64;
    let after = rss_bytes(pid);
    let held = inflight(&admin, "stalled").await;
    eprintln!(
        "RSS {} MiB → {} MiB, {held} deliveries handed out, {queued} bytes queued",
        before >> 20,
        after >> 20
    );
    assert!(
        held < 160,
        "every message was pushed to a client that reads nothing"
    );
    assert!(
        queued <= BUFFER + (2 << 20),
        "{queued} bytes queued for one connection"
    );
    // The bound, the socket buffers and a delivery round of slack.
    assert!(
        after.saturating_sub(before) <= 64 << 20,
        "RSS grew by {} MiB",
        (after - before) >> 20
    );
    drop(raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_requests_without_reading_replies_is_no_longer_read() {
    let dir = tempfile::tempdir().unwrap();
    let buffer = BUFFER.to_string();
    let broker = BrokerProcess::start(
        dir.path(),
        "127.0.0.1:0",
        &[("MQ_CONNECTION_BUFFER", buffer.as_str())],
    )
    .unwrap();
    let pid = broker.child.id();
    let before = rss_bytes(pid);
    let mut socket = TcpStream::connect(&broker.addr).await.unwrap();
    // Pings in chunks; 3 million of them would queue ~200 MiB of pongs.
    let mut chunk = bytes::BytesMut::new();
    for i in 0..10_000u64 {
        chunk.extend_from_slice(&encode_frame(Frame {
            request_id: i + 1,
            body: FrameBody::Ping,
        }));
    }
    let mut stalled = false;
    for _ in 0..300 {
        // A write that cannot finish in 2 s: the broker stopped reading.
        match tokio::time::timeout(Duration::from_secs(2), socket.write_all(&chunk)).await {
            Ok(r) => r.unwrap(),
            Err(_) => {
                stalled = true;
                break;
            }
        }
    }
    let queued = metric(&broker.admin, "mq_outbound_queued_bytes").await as u64;
    let after = rss_bytes(pid);
    eprintln!(
        "stalled: {stalled}, RSS {} MiB → {} MiB, {queued} bytes queued",
        before >> 20,
        after >> 20
    );
    assert!(
        stalled,
        "the broker read 3 million requests whose replies nobody read"
    );
    assert!(queued <= BUFFER + (1 << 20), "{queued} bytes queued");
    assert!(
        after.saturating_sub(before) <= 48 << 20,
        "RSS grew by {} MiB",
        (after - before) >> 20
    );
    // Another client is served meanwhile.
    let producer = Producer::connect(&broker.addr).await.unwrap();
    producer
        .send(Message::new("t", "still here"))
        .await
        .unwrap();
}
