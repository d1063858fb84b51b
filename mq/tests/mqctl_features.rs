//! `mqctl` for delayed, transactional, ordered and broadcast messages, as a
//! script would use it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::start_broker;
use serde_json::Value;

struct Ctl {
    addr: String,
    admin: String,
}

impl Ctl {
    /// Runs mqctl to completion (off the runtime); its stdout as JSON lines.
    async fn run(&self, args: &[&str]) -> (bool, Vec<Value>) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mqctl"));
        cmd.env("MQ_ADDR", &self.addr)
            .env("MQ_ADMIN_ADDR", &self.admin)
            .args(args);
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("mqctl runs"))
            .await
            .unwrap();
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect();
        (out.status.success(), lines)
    }

    async fn consume(&self, extra: &[&str], count: usize) -> Vec<Value> {
        let n = count.to_string();
        let mut args = vec!["consume", "--count", &n, "--idle-timeout", "3"];
        args.extend_from_slice(extra);
        let (ok, lines) = self.run(&args).await;
        assert!(ok);
        lines
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqctl_sends_delayed_transactional_ordered_and_broadcast_messages() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| {
        c.delay_levels = vec![Duration::from_millis(100), Duration::from_millis(700)];
        c.txn_check_after = Duration::from_millis(200);
        c.txn_check_interval = Duration::from_millis(200);
    })
    .await;
    let ctl = Ctl {
        addr: broker.addr.to_string(),
        admin: broker.admin_addr.to_string(),
    };

    // Delays: by duration, by level, by deliver-at time.
    let sent_from_ms = mq::message::now_ms();
    let at =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_millis(800))
            .to_string();
    for opts in [
        vec!["--delay", "700ms"],
        vec!["--delay-level", "2"],
        vec!["--deliver-at", &at],
    ] {
        let mut args = vec!["send", "--topic", "later", "--body", "d"];
        args.extend(opts);
        assert!(ctl.run(&args).await.0);
    }
    let (_, pending) = ctl.run(&["delayed"]).await;
    assert_eq!(pending[0]["pending"], 3, "{pending:?}");
    // Measured from before the first send: a deliver-at time is absolute, so
    // mqctl's start-up (slow on a loaded machine) counts against its delay.
    for m in ctl.consume(&["--group", "g", "--topic", "later"], 3).await {
        let waited = m["stored_at_ms"].as_u64().unwrap() - sent_from_ms;
        assert!(waited >= 700, "delivered after {waited} ms: {m}");
    }

    // Transactions: commit, rollback, and a half left for the responder.
    let txn = |action: &'static str, body: &'static str| {
        [
            "send",
            "--topic",
            "stock",
            "--body",
            body,
            "--txn",
            action,
            "--producer-group",
            "goods",
        ]
    };
    assert!(ctl.run(&txn("commit", "committed")).await.0);
    assert!(ctl.run(&txn("rollback", "rolled-back")).await.0);
    let (ok, left) = ctl.run(&txn("exit", "decided-later")).await;
    assert!(ok);
    let (ok, answered) = ctl
        .run(&[
            "txn-responder",
            "--producer-group",
            "goods",
            "--answer",
            "commit",
            "--count",
            "1",
        ])
        .await;
    assert!(ok);
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["id"], left[0]["id"]);
    assert_eq!(answered[0]["answer"], "commit");
    let got = ctl.consume(&["--group", "g", "--topic", "stock"], 3).await;
    let mut bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, ["committed", "decided-later"]);
    let (_, txns) = ctl.run(&["transactions"]).await;
    assert_eq!(txns[0]["pending"], 0);

    // Ordered: one sharding key, consumed in order.
    let (ok, _) = ctl
        .run(&[
            "send",
            "--topic",
            "ledger",
            "--body",
            "{n}",
            "--sharding-key",
            "acct-1",
            "--count",
            "30",
            "--concurrency",
            "1",
        ])
        .await;
    assert!(ok);
    let got = ctl
        .consume(&["--group", "g", "--topic", "ledger", "--orderly"], 30)
        .await;
    let seq: Vec<String> = got
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seq, (0..30).map(|i| i.to_string()).collect::<Vec<_>>());

    // Broadcast: two instances of one group each get both messages.
    assert!(
        ctl.run(&["send", "--topic", "news", "--count", "2"])
            .await
            .0
    );
    for instance in ["a", "b"] {
        let args = [
            "--group",
            "g",
            "--topic",
            "news",
            "--broadcast",
            "--instance",
            instance,
        ];
        assert_eq!(ctl.consume(&args, 2).await.len(), 2);
    }
    broker.shutdown().await;
}
