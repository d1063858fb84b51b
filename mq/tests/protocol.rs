//! Protocol behaviour seen from clients: tag filtering, look-up by id and
//! key, the body limit, malformed input answered with error frames while
//! other clients keep working, the connection limit and the health ping.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BufMut;
use common::{admin_get, start_broker, wait_until};
use futures::{SinkExt, StreamExt};
use mq::protocol::{Frame, FrameBody, FrameCodec, Inbound, encode_frame};
use mq::{ConsumeResult, Consumer, ConsumerConfig, ErrorCode, Message, Producer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_expression_delivers_only_matching_tags() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    let consumer = Consumer::start(
        ConsumerConfig::new(&addr, "tags", "orders").tags("created || paid"),
        move |m| {
            g.lock().unwrap().push(m.tag.clone());
            async { ConsumeResult::Ack }
        },
    )
    .await
    .unwrap();
    let producer = Producer::connect(&addr).await.unwrap();
    for tag in ["created", "cancelled", "paid", "", "created"] {
        producer
            .send(Message::new("orders", "x").with_tag(tag))
            .await
            .unwrap();
    }

    wait_until(Duration::from_secs(5), "three matching messages", || {
        got.lock().unwrap().len() >= 3
    })
    .await;
    // Everything was dispatched once the group has no lag left.
    let admin = broker.admin_addr.to_string();
    for _ in 0..100 {
        if admin_get(&admin, "/groups/tags").await["lag"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut tags = got.lock().unwrap().clone();
    tags.sort();
    assert_eq!(tags, vec!["created", "created", "paid"]);
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_found_by_id_and_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    let r1 = producer
        .send(Message::new("orders", "one").with_key("order-7"))
        .await
        .unwrap();
    producer
        .send(Message::new("orders", "other").with_key("order-8"))
        .await
        .unwrap();
    let r3 = producer
        .send(
            Message::new("orders", "two")
                .with_key("order-7")
                .with_property("trace", "t1"),
        )
        .await
        .unwrap();

    let by_key = producer.lookup_key("orders", "order-7").await.unwrap();
    let by_id = producer
        .lookup_id(&r3.id)
        .await
        .unwrap()
        .expect("found by id");
    let admin = broker.admin_addr.to_string();
    let admin_by_key = admin_get(&admin, "/messages?topic=orders&key=order-7").await;
    let admin_by_id = admin_get(&admin, &format!("/messages/{}", r1.id)).await;
    let missing = reqwest::get(format!(
        "http://{admin}/messages/0000000000000000000000000000FFFF"
    ))
    .await
    .unwrap();

    let ids: Vec<String> = by_key.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, vec![r1.id.clone(), r3.id.clone()]);
    assert_eq!(&by_id.body[..], b"two");
    assert_eq!(by_id.properties["trace"], "t1");
    assert_eq!(admin_by_key.as_array().unwrap().len(), 2);
    assert_eq!(admin_by_id["body"], "one");
    assert_eq!(missing.status(), 404);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    let too_big = vec![0u8; 4 * 1024 * 1024 + 1];

    // The client refuses before sending…
    let err = producer
        .send(Message::new("big", too_big.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::BodyTooLarge);
    assert!(err.to_string().contains("4 MiB"), "{err}");

    // …and so does the broker for a client that does not check.
    let mut conn = Framed::new(
        TcpStream::connect(broker.addr).await.unwrap(),
        FrameCodec::new(1 << 20),
    );
    let body = FrameBody::Send {
        oneway: false,
        message: Message::new("big", too_big),
    };
    conn.send(Frame {
        request_id: 9,
        body,
    })
    .await
    .unwrap();
    let answer = conn.next().await.unwrap().unwrap();
    let Inbound::Frame(Frame {
        request_id: 9,
        body: FrameBody::Error { code, message },
    }) = answer
    else {
        panic!("expected an error frame, got {answer:?}");
    };
    assert_eq!(code, ErrorCode::BodyTooLarge);
    assert!(message.contains("limit is 4194304 bytes"), "{message}");

    // Exactly 4 MiB is fine.
    producer
        .send(Message::new("big", vec![1u8; 4 * 1024 * 1024]))
        .await
        .unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_error_frames_while_other_clients_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();

    // An unknown frame kind, then a body that does not parse: each answered
    // with an error carrying its request id; the connection stays usable.
    let mut conn = Framed::new(
        TcpStream::connect(broker.addr).await.unwrap(),
        FrameCodec::new(1 << 20),
    );
    let mut raw = bytes::BytesMut::new();
    raw.put_u32(9);
    raw.put_u8(0x6F);
    raw.put_u64(41);
    raw.put_u32(13);
    raw.put_u8(mq::protocol::kind::SEND);
    raw.put_u64(42);
    raw.put_slice(b"junk");
    raw.extend_from_slice(&encode_frame(Frame {
        request_id: 43,
        body: FrameBody::Ping,
    }));
    conn.get_mut().write_all(&raw).await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        match conn.next().await.unwrap().unwrap() {
            Inbound::Frame(f) => answers.push(f),
            other => panic!("unexpected {other:?}"),
        }
    }
    answers.sort_by_key(|f| f.request_id);
    assert!(matches!(
        answers[0].body,
        FrameBody::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    assert!(matches!(
        answers[1].body,
        FrameBody::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    assert_eq!(
        answers[2],
        Frame {
            request_id: 43,
            body: FrameBody::Pong
        }
    );

    // A frame over the size limit: error frame, then the broker closes.
    let mut huge = TcpStream::connect(broker.addr).await.unwrap();
    huge.write_all(&(1u32 << 30).to_be_bytes()).await.unwrap();
    let mut huge = Framed::new(huge, FrameCodec::new(1 << 20));
    let answer = huge.next().await.unwrap().unwrap();
    assert!(matches!(
        answer,
        Inbound::Frame(Frame {
            body: FrameBody::Error {
                code: ErrorCode::FrameTooLarge,
                ..
            },
            ..
        })
    ));
    assert!(huge.next().await.is_none(), "connection should be closed");

    // Other clients were never disturbed.
    producer
        .send(Message::new("fine", "still works"))
        .await
        .unwrap();
    mq::ping(&broker.addr.to_string(), Duration::from_secs(1))
        .await
        .unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused_with_an_error_frame() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| c.max_connections = 2).await;
    let addr = broker.addr.to_string();
    let _a = Producer::connect(&addr).await.unwrap();
    let b = Producer::connect(&addr).await.unwrap();
    b.ping().await.unwrap();

    let err = mq::ping(&addr, Duration::from_secs(2)).await.unwrap_err();

    assert!(err.to_string().contains("connection limit"), "{err}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_fails_fast_when_no_broker_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);

    let started = std::time::Instant::now();
    assert!(mq::ping(&addr, Duration::from_millis(500)).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Sends `message` on a raw connection (no client-side checks) and returns
/// the broker's answer.
async fn raw_send(addr: std::net::SocketAddr, message: Message) -> FrameBody {
    let mut conn = Framed::new(
        TcpStream::connect(addr).await.unwrap(),
        FrameCodec::new(16 << 20),
    );
    let body = FrameBody::Send {
        oneway: false,
        message,
    };
    conn.send(Frame {
        request_id: 5,
        body,
    })
    .await
    .unwrap();
    match conn.next().await.unwrap().unwrap() {
        Inbound::Frame(f) => f.body,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_keys_and_properties_overflow_a_record_is_refused_before_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    // A 4 MiB body and 3.9 MB of keys: the frame fits, the record would not
    // fit a delivery frame (nor what recovery believes).
    let mut huge = Message::new("wide", vec![7u8; 4 * 1024 * 1024]);
    for i in 0..60 {
        huge = huge.with_key(format!("{i:02}{}", "k".repeat(65_000)));
    }

    let answer = raw_send(broker.addr, huge).await;

    let FrameBody::Error { code, message } = answer else {
        panic!("stored and acknowledged: {answer:?}");
    };
    assert_eq!(code, ErrorCode::BodyTooLarge);
    assert!(message.contains("limit is 1048576 bytes"), "{message}");
    let topics = admin_get(&broker.admin_addr.to_string(), "/topics").await;
    let stored = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["topic"] == "wide" && t["messages"] != 0);
    assert!(!stored, "the refused message was stored");

    // At the limits (4 MiB body, just under 1 MiB of keys) a message is
    // stored, delivered, and still there after a restart.
    let mut widest = Message::new("wide", vec![7u8; 4 * 1024 * 1024]);
    for i in 0..15 {
        widest = widest.with_key(format!("{i:02}{}", "k".repeat(65_000)));
    }
    let answer = raw_send(broker.addr, widest).await;
    assert!(matches!(answer, FrameBody::SendOk(_)), "{answer:?}");
    broker.shutdown().await;
    let broker = start_broker(dir.path(), |_| {}).await;
    let got: Arc<Mutex<Vec<usize>>> = Arc::default();
    let g = got.clone();
    let consumer = Consumer::start(
        ConsumerConfig::new(&broker.addr.to_string(), "wide", "wide")
            .from(mq::protocol::ConsumeFrom::Earliest),
        move |m| {
            g.lock().unwrap().push(m.keys.len());
            async { ConsumeResult::Ack }
        },
    )
    .await
    .unwrap();
    wait_until(Duration::from_secs(10), "the widest message", || {
        !got.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*got.lock().unwrap(), vec![15]);
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed_after_their_timeouts() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| {
        c.handshake_timeout = Duration::from_millis(200);
        c.idle_timeout = Duration::from_millis(400);
    })
    .await;
    let closed_within = |mut s: TcpStream, limit: Duration| async move {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(limit, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        read.await.is_ok()
    };

    // Never says anything: closed after the handshake timeout.
    let silent = TcpStream::connect(broker.addr).await.unwrap();
    assert!(
        closed_within(silent, Duration::from_secs(3)).await,
        "silent connection kept"
    );

    // One ping, then nothing: closed after the idle timeout.
    let mut idle = TcpStream::connect(broker.addr).await.unwrap();
    let ping = encode_frame(Frame {
        request_id: 1,
        body: FrameBody::Ping,
    });
    idle.write_all(&ping).await.unwrap();
    assert!(
        closed_within(idle, Duration::from_secs(3)).await,
        "idle connection kept"
    );

    // A consumer listening for deliveries is not idle.
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    let consumer = Consumer::start(
        ConsumerConfig::new(&broker.addr.to_string(), "quiet", "quiet"),
        move |m| {
            g.lock().unwrap().push(m.body_text());
            async { ConsumeResult::Ack }
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    producer
        .send(Message::new("quiet", "still here"))
        .await
        .unwrap();
    wait_until(Duration::from_secs(5), "the delivery", || {
        !got.lock().unwrap().is_empty()
    })
    .await;
    consumer.shutdown().await;
    broker.shutdown().await;
}
