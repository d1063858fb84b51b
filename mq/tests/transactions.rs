//! Transactional messages: a half message is invisible until committed and
//! gone after rollback; undecided halves are checked back with a live
//! producer of the group, up to the maximum, then discarded; pending halves
//! survive a `kill -9` of the broker and keep being checked, their check-back
//! counts too.

mod common;

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BrokerProcess, admin_get, bodies, collect, start_broker, wait_until};
use mq::{ConsumerConfig, LocalOutcome, Message, StoredMessage, TransactionProducer, TxnState};

fn fast_checks(c: &mut mq::BrokerConfig) {
    c.txn_check_after = Duration::from_millis(300);
    c.txn_check_interval = Duration::from_millis(200);
    c.txn_check_max = 3;
}

/// A checker answering `answer`, counting the check-backs it got.
fn checker(
    answer: TxnState,
    asked: Arc<AtomicU32>,
) -> impl Fn(StoredMessage) -> std::future::Ready<TxnState> + Send + Sync + 'static {
    move |_m| {
        asked.fetch_add(1, Ordering::SeqCst);
        std::future::ready(answer)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_half_message_is_delivered_once_and_a_rolled_back_one_never() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), fast_checks).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "stock", "stock")).await;
    let asked = Arc::new(AtomicU32::new(0));
    let producer =
        TransactionProducer::connect(&addr, "goods", checker(TxnState::Unknown, asked.clone()))
            .await
            .unwrap();

    let (receipt, outcome) = producer
        .send_in_transaction(Message::new("stock", "deduct-1"), || async {
            // The half message is stored but nobody sees it yet (shorter
            // than the check-back delay).
            tokio::time::sleep(Duration::from_millis(150)).await;
            let invisible = seen.lock().unwrap().is_empty();
            LocalOutcome::Commit(invisible)
        })
        .await
        .unwrap();
    assert_eq!(outcome, LocalOutcome::Commit(true));
    let (_, outcome) = producer
        .send_in_transaction(Message::new("stock", "deduct-2"), || async {
            LocalOutcome::Rollback("refused")
        })
        .await
        .unwrap();
    assert_eq!(outcome.into_inner(), "refused");

    wait_until(Duration::from_secs(3), "the committed message", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    // Longer than a check-back cycle: no second copy, no rolled-back one.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(bodies(&seen), vec!["deduct-1".to_string()]);
    assert_eq!(seen.lock().unwrap()[0].0.id.to_string(), receipt.id);
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "decided halves are not checked"
    );
    let txns = admin_get(&admin, "/transactions").await;
    assert_eq!(txns["pending"], 0);
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_left_by_a_dead_producer_are_decided_by_another_producer_of_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), fast_checks).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "stock", "stock")).await;
    let nobody = Arc::new(AtomicU32::new(0));

    // The first producer sends two halves and dies without deciding.
    let dying = TransactionProducer::connect(&addr, "goods", checker(TxnState::Unknown, nobody))
        .await
        .unwrap();
    let commit_me = dying
        .send_half(Message::new("stock", "commit-me").with_key("j-1"))
        .await
        .unwrap();
    dying
        .send_half(Message::new("stock", "roll-me-back").with_key("j-2"))
        .await
        .unwrap();
    drop(dying);

    // A new producer of the group answers from the key.
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let a = asked.clone();
    let _heir = TransactionProducer::connect(&addr, "goods", move |m: StoredMessage| {
        a.lock().unwrap().push(m.keys[0].clone());
        let answer = if m.keys[0] == "j-1" {
            TxnState::Commit
        } else {
            TxnState::Rollback
        };
        async move { answer }
    })
    .await
    .unwrap();

    wait_until(Duration::from_secs(5), "the committed half", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let admin_ = admin.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while admin_get(&admin_, "/transactions").await["pending"] != 0 {
        assert!(std::time::Instant::now() < deadline, "halves still pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bodies(&seen), vec!["commit-me".to_string()]);
    assert_eq!(seen.lock().unwrap()[0].0.id.to_string(), commit_me.id);
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    assert_eq!(asked, vec!["j-1".to_string(), "j-2".to_string()]);
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_answers_are_asked_again_up_to_the_maximum_then_the_half_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), fast_checks).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "stock", "stock")).await;
    let asked = Arc::new(AtomicU32::new(0));
    let producer =
        TransactionProducer::connect(&addr, "goods", checker(TxnState::Unknown, asked.clone()))
            .await
            .unwrap();

    let (_, outcome) = producer
        .send_in_transaction(Message::new("stock", "limbo"), || async {
            LocalOutcome::Unknown(())
        })
        .await
        .unwrap();
    assert_eq!(outcome.state(), TxnState::Unknown);
    wait_until(
        Duration::from_secs(2),
        "the half to show in the admin API",
        || asked.load(Ordering::SeqCst) >= 1,
    )
    .await;
    let txns = admin_get(&admin, "/transactions").await;
    assert_eq!(txns["pending"], 1, "{txns}");
    assert!(txns["halves"][0]["checks"].as_u64().unwrap() >= 1);
    assert_eq!(txns["halves"][0]["producer_group"], "goods");

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while admin_get(&admin, "/transactions").await["discarded"] != 1 {
        assert!(std::time::Instant::now() < deadline, "never discarded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(asked.load(Ordering::SeqCst), 3, "asked exactly the maximum");
    assert_eq!(admin_get(&admin, "/transactions").await["pending"], 0);
    assert!(seen.lock().unwrap().is_empty());
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mq_txn_discarded_total"), "{metrics}");
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_with_pending_halves_keeps_checking_them() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MQ_TXN_CHECK_AFTER", "300ms"),
        ("MQ_TXN_CHECK_INTERVAL", "200ms"),
        ("MQ_TXN_CHECK_MAX", "1000"),
    ];
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &env).unwrap();
    let addr = broker.addr.clone();
    // Unknown (0) until the test says commit (1).
    let answer = Arc::new(AtomicU8::new(0));
    let asked = Arc::new(AtomicU32::new(0));
    let (an, ak) = (answer.clone(), asked.clone());
    let producer = TransactionProducer::connect(&addr, "goods", move |_m: StoredMessage| {
        ak.fetch_add(1, Ordering::SeqCst);
        let state = if an.load(Ordering::SeqCst) == 1 {
            TxnState::Commit
        } else {
            TxnState::Unknown
        };
        async move { state }
    })
    .await
    .unwrap();
    let receipt = producer
        .send_half(Message::new("stock", "survivor"))
        .await
        .unwrap();
    wait_until(Duration::from_secs(3), "a first check-back", || {
        asked.load(Ordering::SeqCst) >= 1
    })
    .await;

    broker.kill9();
    let restarted = BrokerProcess::start(dir.path(), &addr, &env).unwrap();
    let before = asked.load(Ordering::SeqCst);
    wait_until(
        Duration::from_secs(5),
        "check-backs after the restart",
        || asked.load(Ordering::SeqCst) > before,
    )
    .await;
    answer.store(1, Ordering::SeqCst);
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "stock", "stock")).await;
    wait_until(Duration::from_secs(5), "the committed message", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(seen.lock().unwrap()[0].0.id.to_string(), receipt.id);
    consumer.shutdown().await;

    // The commit is durable: after another kill -9 nothing is pending.
    restarted.kill9();
    let again = BrokerProcess::start(dir.path(), &addr, &env).unwrap();
    let txns = admin_get(&again.admin, "/transactions").await;
    assert_eq!(txns["pending"], 0, "{txns}");
    producer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_back_counts_survive_a_broker_restart_so_the_maximum_holds_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MQ_TXN_CHECK_AFTER", "200ms"),
        ("MQ_TXN_CHECK_INTERVAL", "300ms"),
        ("MQ_TXN_CHECK_MAX", "3"),
    ];
    let broker = BrokerProcess::start(dir.path(), "127.0.0.1:0", &env).unwrap();
    let addr = broker.addr.clone();
    let asked = Arc::new(AtomicU32::new(0));
    let producer =
        TransactionProducer::connect(&addr, "goods", checker(TxnState::Unknown, asked.clone()))
            .await
            .unwrap();
    producer
        .send_half(Message::new("stock", "asked twice already"))
        .await
        .unwrap();
    wait_until(Duration::from_secs(3), "two check-backs", || {
        asked.load(Ordering::SeqCst) >= 2
    })
    .await;

    broker.kill9();
    let restarted = BrokerProcess::start(dir.path(), &addr, &env).unwrap();
    let txns = admin_get(&restarted.admin, "/transactions").await;
    let resumed = txns["halves"][0]["checks"].as_u64().unwrap_or(0) >= 2;
    let already_discarded = txns["pending"] == 0 && txns["discarded"] == 1;
    assert!(
        resumed || already_discarded,
        "the half's count starts from where it was: {txns}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while admin_get(&restarted.admin, "/transactions").await["discarded"] != 1 {
        assert!(std::time::Instant::now() < deadline, "never discarded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        asked.load(Ordering::SeqCst) <= 3,
        "asked {} times over both runs, more than the maximum of 3",
        asked.load(Ordering::SeqCst)
    );
    let txns = admin_get(&restarted.admin, "/transactions").await;
    assert_eq!(txns["pending"], 0, "{txns}");
    producer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_and_a_rollback_sent_together_get_exactly_one_done() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let addr = broker.addr.to_string();
    let asked = Arc::new(AtomicU32::new(0));
    let producer = TransactionProducer::connect(&addr, "race", checker(TxnState::Unknown, asked))
        .await
        .unwrap();
    let (consumer, seen) = collect(ConsumerConfig::new(&addr, "race", "race")).await;

    let mut commits_won = 0;
    for i in 0..20 {
        let half = producer
            .send_half(Message::new("race", format!("h{i}")))
            .await
            .unwrap();
        // Both requests are in flight at once on one connection.
        let (commit, rollback) = tokio::join!(
            producer.end(&half.id, TxnState::Commit),
            producer.end(&half.id, TxnState::Rollback)
        );

        assert!(
            commit.is_ok() != rollback.is_ok(),
            "half {i}: commit {commit:?}, rollback {rollback:?}: exactly one must win"
        );
        let loser = commit.as_ref().err().or(rollback.as_ref().err()).unwrap();
        assert_eq!(loser.code(), mq::ErrorCode::Conflict, "{loser}");
        commits_won += commit.is_ok() as usize;
        // The same decision again is simply done.
        let again = if commit.is_ok() {
            TxnState::Commit
        } else {
            TxnState::Rollback
        };
        producer.end(&half.id, again).await.unwrap();
    }

    wait_until(Duration::from_secs(5), "every committed half", || {
        seen.lock().unwrap().len() >= commits_won
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bodies(&seen).len(), commits_won);
    consumer.shutdown().await;
    broker.shutdown().await;
}

/// `GET /transactions` pages the pending halves (`?limit=`, `?after=` the
/// previous page's `next_after`), so a pile of undecided halves does not
/// make one unbounded answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_halves_are_listed_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |_| {}).await;
    let (addr, admin) = (broker.addr.to_string(), broker.admin_addr.to_string());
    let txn = TransactionProducer::connect(&addr, "undecided", |_m| {
        std::future::ready(TxnState::Unknown)
    })
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            txn.send_half(Message::new("held", format!("h{i}")))
                .await
                .unwrap()
                .id,
        );
    }

    let mut listed = Vec::new();
    let mut path = "/transactions?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = admin_get(&admin, &path).await;
        assert_eq!(page["pending"], 5);
        let halves = page["halves"].as_array().unwrap();
        assert!(halves.len() <= 2, "{page}");
        listed.extend(halves.iter().map(|h| h["id"].as_str().unwrap().to_string()));
        pages += 1;
        match page["next_after"].as_str() {
            Some(after) => path = format!("/transactions?limit=2&after={after}"),
            None => break,
        }
        assert!(pages < 10, "pages never end");
    }

    assert_eq!(pages, 3);
    assert_eq!(listed, ids);
    let bad = reqwest::get(format!("http://{admin}/transactions?limit=0"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    txn.close().await;
    broker.shutdown().await;
}
