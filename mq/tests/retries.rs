//! At-least-once delivery: "later" answers and visibility timeouts lead to
//! redelivery on the (shortened) retry schedule, then to the group's dead
//! letter queue, which the admin API shows and can resend from.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{admin_get, start_broker, wait_until};
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_on_schedule_then_dead_lettered_and_resendable() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| {
        c.retry_schedule = vec![Duration::from_millis(300); 2]
    })
    .await;
    let addr = broker.addr.to_string();
    let attempts: Arc<Mutex<Vec<(u32, Instant)>>> = Arc::default();
    let succeed = Arc::new(AtomicBool::new(false));
    let (a, s) = (attempts.clone(), succeed.clone());
    let consumer = Consumer::start(
        ConsumerConfig::new(&addr, "billing", "payments"),
        move |m| {
            a.lock().unwrap().push((m.attempt, Instant::now()));
            let ok = s.load(Ordering::SeqCst);
            async move {
                if ok {
                    ConsumeResult::Ack
                } else {
                    ConsumeResult::Later
                }
            }
        },
    )
    .await
    .unwrap();
    let producer = Producer::connect(&addr).await.unwrap();
    let receipt = producer
        .send(Message::new("payments", "pay-1").with_key("order-1"))
        .await
        .unwrap();

    // Delivered 3 times (1 + 2 retries), about 300 ms apart, then dead-lettered.
    let admin = broker.admin_addr.to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let dead = admin_get(&admin, "/dlq/billing").await;
        if dead.as_array().is_some_and(|d| !d.is_empty()) {
            break dead;
        }
        assert!(
            Instant::now() < deadline,
            "message never reached the dead letter queue"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    {
        let attempts = attempts.lock().unwrap();
        let numbers: Vec<u32> = attempts.iter().map(|a| a.0).collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        for pair in attempts.windows(2) {
            let gap = pair[1].1 - pair[0].1;
            assert!(
                gap >= Duration::from_millis(280),
                "retried after only {gap:?}"
            );
        }
    }
    assert_eq!(dead[0]["id"], receipt.id);
    assert_eq!(dead[0]["attempt"], 3);
    assert_eq!(dead[0]["body"], "pay-1");
    let group = admin_get(&admin, "/groups/billing").await;
    assert_eq!(group["dead_letters"], 1);

    // Resend: delivered once more (attempt 4) and acknowledged this time.
    succeed.store(true, Ordering::SeqCst);
    let url = format!("http://{admin}/dlq/billing/{}/resend", receipt.id);
    let resp = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(resp.status().is_success());
    wait_until(Duration::from_secs(5), "the resent delivery", || {
        attempts.lock().unwrap().len() == 4
    })
    .await;
    assert_eq!(attempts.lock().unwrap()[3].0, 4);
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mq_dead_letters_total"),
        "metrics: {metrics}"
    );
    consumer.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_delivery_is_redelivered_after_the_visibility_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), |c| {
        c.visibility_timeout = Duration::from_millis(300);
        c.retry_schedule = vec![Duration::from_millis(100); 3];
    })
    .await;
    let addr = broker.addr.to_string();
    let attempts: Arc<Mutex<Vec<u32>>> = Arc::default();
    let a = attempts.clone();
    let consumer = Consumer::start(ConsumerConfig::new(&addr, "slow", "jobs"), move |m| {
        a.lock().unwrap().push(m.attempt);
        let first = m.attempt == 1;
        async move {
            if first {
                // Hangs past the visibility timeout.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            ConsumeResult::Ack
        }
    })
    .await
    .unwrap();
    Producer::connect(&addr)
        .await
        .unwrap()
        .send(Message::new("jobs", "j"))
        .await
        .unwrap();

    wait_until(Duration::from_secs(5), "a redelivery", || {
        attempts.lock().unwrap().len() >= 2
    })
    .await;

    assert_eq!(attempts.lock().unwrap()[..2], [1, 2]);
    consumer.shutdown().await;
    broker.shutdown().await;
}
