//! `mqctl` as a script would use it: JSON lines out, exit status for failures.

mod common;

use std::process::Command;

use common::start_broker;
use serde_json::Value;

fn mqctl(addr: &str, admin: &str, args: &[&str]) -> (bool, Vec<Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqctl"))
        .env("MQ_ADDR", addr)
        .env("MQ_ADMIN_ADDR", admin)
        .args(args)
        .output()
        .expect("mqctl runs");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    (out.status.success(), lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqctl_sends_consumes_and_looks_up_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let run = |args: Vec<&str>| {
        let (addr, admin) = (addr.clone(), admin.clone());
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            mqctl(&addr, &admin, &args)
        })
    };

    let (ok, sent) = run(vec![
        "send",
        "--topic",
        "t",
        "--tag",
        "a",
        "--key",
        "k{n}",
        "--body",
        "b{n}",
        "--count",
        "5",
        "--concurrency",
        "2",
    ])
    .await
    .unwrap();
    assert!(ok);
    assert_eq!(sent.len(), 5);
    let mut keys: Vec<&str> = sent
        .iter()
        .map(|l| l["keys"][0].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
    for field in ["id", "topic", "tag", "keys", "queue", "offset"] {
        assert!(sent[0].get(field).is_some(), "send line lacks {field}");
    }

    let (ok, got) = run(vec![
        "consume",
        "--group",
        "cli",
        "--topic",
        "t",
        "--count",
        "5",
        "--idle-timeout",
        "5",
    ])
    .await
    .unwrap();
    assert!(ok);
    assert_eq!(got.len(), 5);
    for field in [
        "id", "topic", "tag", "keys", "body", "attempt", "queue", "offset",
    ] {
        assert!(got[0].get(field).is_some(), "consume line lacks {field}");
    }
    let (_, again) = run(vec![
        "consume",
        "--group",
        "cli",
        "--topic",
        "t",
        "--idle-timeout",
        "1",
    ])
    .await
    .unwrap();
    assert!(
        again.is_empty(),
        "acknowledged messages came again: {again:?}"
    );

    let id = sent[0]["id"].as_str().unwrap();
    let (ok, msg) = run(vec!["message", id]).await.unwrap();
    assert!(ok);
    assert_eq!(msg[0]["id"], id);
    let (ok, topics) = run(vec!["topics"]).await.unwrap();
    assert!(ok && topics.iter().any(|t| t["topic"] == "t"));
    let (ok, dlq) = run(vec!["dlq", "cli"]).await.unwrap();
    assert!(ok && dlq.is_empty());

    let (ok, bench) = run(vec![
        "bench",
        "--publishers",
        "4",
        "--messages",
        "200",
        "--size",
        "64",
        "--consumers",
        "1",
    ])
    .await
    .unwrap();
    assert!(ok);
    assert_eq!(bench[0]["phase"], "publish");
    assert_eq!(bench[0]["messages"], 200);
    assert_eq!(bench[1]["phase"], "publish_consume_ack");
    assert_eq!(bench[1]["messages"], 200);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqctl_send_exits_non_zero_when_a_send_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());

    let (ok, lines) = tokio::task::spawn_blocking(move || {
        mqctl(
            &addr,
            &admin,
            &["send", "--topic", "t", "--size", "5000000"],
        )
    })
    .await
    .unwrap();

    assert!(!ok);
    assert!(lines.is_empty());
    broker.shutdown().await;
}
