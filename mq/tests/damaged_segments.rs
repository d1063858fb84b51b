//! Damage inside a sealed segment, found by fuzzing recovery: a record whose
//! bytes changed but whose segment kept its length and summary must not be
//! indexed as if it were intact; nor must it stop the broker from starting.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use mq::message::RecordHeader;
use mq::storage::Store;
use mq::{BrokerConfig, Message};

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

/// Which of the 20 records the store can read after opening.
async fn readable(store: &Store) -> Vec<usize> {
    let topic = store.topic("orders");
    let mut ok = Vec::new();
    for i in 0..20u64 {
        let entry = topic.entry(0, i).expect("every queue offset indexed");
        if store.read(entry.log_offset).await.is_ok() {
            ok.push(i as usize);
        }
    }
    ok
}

/// A sealed segment was written and fsynced in full: damage in it is a
/// failing disk, not a torn write. The broker starts anyway: the damaged
/// record is skipped (its queue offset stays, reading it fails, and
/// delivery skips and counts it), every other record is kept.
#[tokio::test]
async fn a_flipped_byte_in_a_sealed_segment_with_its_summary_does_not_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let segment = write_sealed_segments(dir.path()).await;
    let mut bytes = fs::read(&segment).unwrap();
    bytes[40] ^= 0x20; // inside the first record's body; same length
    fs::write(&segment, &bytes).unwrap();

    let store = Store::open(store_config(dir.path())).expect("the store opens");

    assert_eq!(store.topic("orders").queue_range(0), (0, 20));
    assert_eq!(readable(&store).await, (1..20).collect::<Vec<_>>());
    assert_eq!(store.damaged_at_open, 1);
}

/// Without a summary, and with the damage in a length word (so the records
/// after it can only be found by looking for them): the same.
#[tokio::test]
async fn a_damaged_length_in_a_sealed_segment_without_its_summary_does_not_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let segment = write_sealed_segments(dir.path()).await;
    fs::remove_file(dir.path().join("index/00000000000000000000.sum")).unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    // The third record's length word.
    let mut pos = 0;
    for _ in 0..2 {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) & !(1 << 31);
        pos += 8 + len as usize;
    }
    bytes[pos..pos + 4].copy_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF]);
    fs::write(&segment, &bytes).unwrap();

    let store = Store::open(store_config(dir.path())).expect("the store opens");

    assert_eq!(store.topic("orders").queue_range(0), (0, 20));
    let expected: Vec<usize> = (0..20).filter(|&i| i != 2).collect();
    assert_eq!(readable(&store).await, expected);
}

#[tokio::test]
async fn intact_sealed_segments_still_load_from_their_summaries() {
    let dir = tempfile::tempdir().unwrap();
    write_sealed_segments(dir.path()).await;
    let store = Store::open(store_config(dir.path())).unwrap();
    assert_eq!(store.topic("orders").queue_range(0), (0, 20));
}
