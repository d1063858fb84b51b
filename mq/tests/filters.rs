//! SQL92 property filters through a real broker: only matching messages are
//! delivered (the rest are skipped, so the group has no lag left), user
//! properties arrive as sent, a bad expression is refused at subscribe time
//! with an error the client surfaces, and mqctl does both from the shell.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{admin_get, bodies, collect, start_broker, wait_until};
use futures::{SinkExt, StreamExt};
use mq::filter::MessageSelector;
use mq::protocol::{Frame, FrameBody, FrameCodec, Inbound};
use mq::{ConsumeResult, Consumer, ConsumerConfig, Error, ErrorCode, Message, Producer};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Body and properties of each message sent.
const MESSAGES: &[(&str, &[(&str, &str)])] = &[
    ("six-x", &[("a", "6"), ("b", "x")]),
    ("five-x", &[("a", "5"), ("b", "x")]),
    ("ten-y", &[("a", "10"), ("b", "y")]),
    ("missing-a", &[("b", "x")]),
    ("text-a", &[("a", "abc"), ("b", "x")]),
    ("decimal-x", &[("a", "7.5"), ("b", "x"), ("extra", "kept")]),
    ("no-properties", &[]),
];

async fn wait_for_no_lag(admin: &str, group: &str) {
    for _ in 0..250 {
        let g = admin_get(admin, &format!("/groups/{group}")).await;
        if g["lag"] == 0 && !g["queues"].as_array().is_none_or(Vec::is_empty) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("group {group} kept a lag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sql_subscription_receives_only_the_matching_messages() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let producer = Producer::connect(&addr).await.unwrap();
    for (body, props) in MESSAGES {
        let mut m = Message::new("orders", *body).with_tag("paid");
        for (k, v) in *props {
            m = m.with_property(*k, *v);
        }
        producer.send(m).await.unwrap();
    }

    let config = |group: &str| ConsumerConfig::new(&addr, group, "orders");
    let (c1, and) = collect(config("sql-and").sql("a > 5 AND b = 'x'")).await;
    let (c2, or) = collect(config("sql-or").sql("b IN ('y') OR a BETWEEN 0 AND 5")).await;
    let (c3, tags) = collect(config("sql-tags").sql("TAGS = 'paid' AND extra IS NOT NULL")).await;
    let (c4, all) = collect(config("everything").tags("*")).await;
    wait_until(Duration::from_secs(10), "every message", || {
        all.lock().unwrap().len() == MESSAGES.len()
    })
    .await;
    for g in ["sql-and", "sql-or", "sql-tags"] {
        wait_for_no_lag(&admin, g).await;
    }

    let sorted = |seen| {
        let mut b = bodies(seen);
        b.sort();
        b
    };
    assert_eq!(sorted(&and), ["decimal-x", "six-x"]);
    assert_eq!(sorted(&or), ["five-x", "ten-y"]);
    assert_eq!(sorted(&tags), ["decimal-x"]);
    // User properties travel end to end, as sent.
    let delivered = tags.lock().unwrap()[0].0.properties.clone();
    let sent: BTreeMap<String, String> = [("a", "7.5"), ("b", "x"), ("extra", "kept")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(delivered, sent);
    let group = admin_get(&admin, "/groups/sql-and").await;
    assert_eq!(
        group["subscriptions"][0]["tag_expr"],
        "SQL92: a > 5 AND b = 'x'"
    );

    for c in [c1, c2, c3, c4] {
        c.shutdown().await;
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_sql_expression_is_refused_at_subscribe_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();

    // Through the client: start fails with the broker's reason.
    let refused = Consumer::start(
        ConsumerConfig::new(&addr, "bad", "orders").sql("a > 5 AND b = "),
        |_| async { ConsumeResult::Ack },
    )
    .await;
    let Err(Error::Refused { code, message }) = refused else {
        panic!("expected a refusal");
    };
    assert_eq!(code, ErrorCode::InvalidRequest);
    assert_eq!(
        message,
        "invalid: bad SQL92 filter: column 15: expected a property name or a literal, found end of input"
    );

    // On the wire: an error frame answering the subscribe, the connection
    // still usable, and no group created.
    let stream = TcpStream::connect(&addr).await.unwrap();
    let mut framed = Framed::new(stream, FrameCodec::new(1 << 20));
    for (id, expr) in [(1, "a > 'x'"), (2, &"(".repeat(65)[..]), (3, "")] {
        framed
            .send(Frame {
                request_id: id,
                body: FrameBody::Subscribe {
                    group: "bad".into(),
                    topic: "orders".into(),
                    selector: MessageSelector::Sql92(expr.into()),
                    max_inflight: 1,
                    from: Default::default(),
                    mode: Default::default(),
                },
            })
            .await
            .unwrap();
        let reply = framed.next().await.unwrap().unwrap();
        let Inbound::Frame(Frame {
            request_id,
            body: FrameBody::Error { code, message },
        }) = reply
        else {
            panic!("expected an error frame, got {reply:?}");
        };
        assert_eq!((request_id, code), (id, ErrorCode::InvalidRequest));
        assert!(
            message.starts_with("invalid: bad SQL92 filter: column "),
            "{message}"
        );
    }
    framed
        .send(Frame {
            request_id: 9,
            body: FrameBody::Ping,
        })
        .await
        .unwrap();
    assert!(matches!(
        framed.next().await.unwrap().unwrap(),
        Inbound::Frame(Frame {
            request_id: 9,
            body: FrameBody::Pong
        })
    ));
    let status = reqwest::get(format!("http://{}/groups/bad", broker.admin_addr))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    broker.shutdown().await;
}

/// Runs mqctl to completion (off the runtime): success, stdout lines, stderr.
async fn mqctl(addr: &str, args: &[&str]) -> (bool, Vec<serde_json::Value>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mqctl"));
    cmd.env("MQ_ADDR", addr).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("mqctl runs"))
        .await
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), lines, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqctl_sends_properties_and_consumes_with_sql() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let send = ["send", "--topic", "orders", "--count", "3"];
    let plain = ["--body", "m{n}", "--property", "n={n}"];
    let (ok, _, err) = mqctl(&addr, &[&send[..], &plain].concat()).await;
    assert!(ok, "{err}");
    let eu = [
        "--body",
        "eu{n}",
        "--property",
        "n=9",
        "--property",
        "region=eu",
    ];
    let (ok, _, err) = mqctl(&addr, &[&send[..], &eu].concat()).await;
    assert!(ok, "{err}");
    let (ok, _, err) = mqctl(
        &addr,
        &["send", "--topic", "orders", "--property", "novalue"],
    )
    .await;
    assert!(!ok && err.contains("expected NAME=VALUE"), "{err}");

    let consume = [
        "consume",
        "--group",
        "g",
        "--topic",
        "orders",
        "--count",
        "10",
        "--idle-timeout",
        "2",
    ];
    let (ok, seen, err) = mqctl(
        &addr,
        &[
            &consume[..],
            &[
                "--sql",
                "n >= 1 AND region IS NULL OR region = 'eu' AND n = 9",
            ],
        ]
        .concat(),
    )
    .await;
    assert!(ok, "{err}");
    let mut got: Vec<String> = seen
        .iter()
        .map(|m| format!("{}:{}", m["body"].as_str().unwrap(), m["properties"]["n"]))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "eu0:\"9\"",
            "eu1:\"9\"",
            "eu2:\"9\"",
            "m1:\"1\"",
            "m2:\"2\""
        ]
    );

    let (ok, _, err) = mqctl(&addr, &[&consume[..], &["--sql", "n >"]].concat()).await;
    assert!(!ok);
    assert!(
        err.contains("INVALID_REQUEST") && err.contains("bad SQL92 filter: column 4"),
        "{err}"
    );
    broker.shutdown().await;
}
