//! Damage inside a sealed segment, found by fuzzing recovery: a record whose
//! bytes changed but whose segment kept its length and summary must not be
//! indexed as if it were intact.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use mq::message::RecordHeader;
use mq::storage::Store;
use mq::{BrokerConfig, Error, Message};

fn store_config(dir: &Path) -> mq::storage::StoreConfig {
    let mut config = BrokerConfig::for_tests(dir);
    config.segment_size = 1024;
    config.store_config()
}

/// Writes records over a few segments and waits for the sealed ones'
/// summaries; returns the first segment's path.
async fn write_sealed_segments(dir: &Path) -> std::path::PathBuf {
    let store = Store::open(store_config(dir)).unwrap();
    let topic = store.topic("orders");
    for i in 0..20 {
        let m = Message::new("orders", format!("order {i} {}", "x".repeat(40)));
        let header = RecordHeader {
            queue: 0,
            attempt: 1,
            origin_offset: None,
            deliver_at_ms: 0,
        };
        store
            .append(vec![store.prepare(&topic, header, &m)])
            .await
            .unwrap();
    }
    drop(store);
    let first_summary = dir.join("index/00000000000000000000.sum");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !first_summary.exists() {
        assert!(
            Instant::now() < deadline,
            "no summary of the sealed segment"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    dir.join("log/00000000000000000000.seg")
}

#[tokio::test]
async fn a_flipped_byte_in_a_sealed_segment_with_its_summary_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let segment = write_sealed_segments(dir.path()).await;
    let mut bytes = fs::read(&segment).unwrap();
    bytes[40] ^= 0x20; // inside the first record's body; same length
    fs::write(&segment, &bytes).unwrap();

    let Err(e) = Store::open(store_config(dir.path())) else {
        panic!("recovery indexed a record whose checksum fails");
    };
    assert!(matches!(e, Error::UntrustedDataDir(_)), "{e}");
    assert!(
        e.to_string().contains("corrupt record at log offset 0 in")
            && e.to_string().contains("(not the last segment)"),
        "{e}"
    );
}

#[tokio::test]
async fn intact_sealed_segments_still_load_from_their_summaries() {
    let dir = tempfile::tempdir().unwrap();
    write_sealed_segments(dir.path()).await;
    let store = Store::open(store_config(dir.path())).unwrap();
    assert_eq!(store.topic("orders").queue_range(0), (0, 20));
}
