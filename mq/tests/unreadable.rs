//! A record damaged under the running broker (a failing disk; the index
//! still lists it) is skipped where it is read — counted, logged with its position —
//! and does not fail the delivery batch around it nor hang an orderly queue.

mod common;

use std::time::Duration;

use common::{collect, start_broker, wait_until};
use mq::{ConsumerConfig, Message, Producer};

fn small(c: &mut mq::BrokerConfig) {
    c.segment_size = 4096;
    c.default_queues = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_is_skipped_and_an_orderly_queue_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), small).await;
    let producer = Producer::connect(&broker.addr.to_string()).await.unwrap();
    for i in 0..40 {
        producer
            .send(
                Message::new("damaged", format!("m{i:02}-{}", "x".repeat(200)))
                    .with_sharding_key("k"),
            )
            .await
            .unwrap();
    }
    producer.close().await;
    // Damage the body of the second record of the first (sealed) segment
    // under the running broker, as a failing disk would.
    let first = dir.path().join("log").join(format!("{:020}.seg", 0));
    let data = std::fs::read(&first).unwrap();
    // The length word's top bit marks the first record of a write.
    let len_at =
        |p: usize| (u32::from_be_bytes(data[p..p + 4].try_into().unwrap()) & !(1 << 31)) as usize;
    let second = 8 + len_at(0);
    let second_len = len_at(second);
    let at = second + 8 + second_len - 10;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&first)
            .unwrap();
        f.write_all_at(&[data[at] ^ 0xFF], at as u64).unwrap();
    }
    let (consumer, seen) =
        collect(ConsumerConfig::new(&broker.addr.to_string(), "g", "damaged").orderly()).await;

    wait_until(Duration::from_secs(10), "every readable message", || {
        seen.lock().unwrap().len() >= 39
    })
    .await;
    let bodies: Vec<String> = common::bodies(&seen)
        .iter()
        .map(|b| b[..3].to_string())
        .collect();
    let expected: Vec<String> = (0..40)
        .filter(|&i| i != 1)
        .map(|i| format!("m{i:02}"))
        .collect();
    assert_eq!(bodies, expected);
    let metrics = reqwest::get(format!("http://{}/metrics", broker.admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mq_unreadable_records_total"),
        "not counted"
    );
    consumer.shutdown().await;
    broker.shutdown().await;
}
