//! Fuzz check of recovery over damaged logs.
//!
//! A template data directory is written once per process by the real store
//! (several sealed segments with their summaries and an active one; plain,
//! keyed, delayed and half messages and records that resolve them). Each
//! input then lays the template out afresh, damages it and recovers it.
//!
//! Input: one flags byte (bit 0: recover with `MQ_RECOVERY=truncate`), then
//! up to eight damage operations of `file, mode, u32 position, n, n bytes`
//! (missing bytes read as zeros). `file` picks among the template's files
//! (meta, segments, summaries); `mode`: overwrite, truncate, append, xor,
//! insert, remove.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::config::BrokerConfig;
use crate::message::{Message, RecordHeader};
use crate::storage::index::{DELAY_TOPIC, HALF_TOPIC};
use crate::storage::recovery::recover;
use crate::storage::segment::{RECORD_HEADER, Segment};
use crate::storage::summary::record_at;
use crate::storage::{Store, StoreConfig};

/// The template: each file's path (relative to the data directory) and bytes.
struct Template {
    files: Vec<(PathBuf, Vec<u8>)>,
}

/// A record of the template: its segment file, its span in that file and
/// its log offset.
struct Record {
    file: usize,
    start: usize,
    end: usize,
    log_offset: u64,
}

pub fn damaged_log_recovery(data: &[u8]) {
    let template = template();
    let mut input = Input(data);
    let cut_damaged_tail = input.u8() & 1 == 1;
    let mut files: Vec<Option<Vec<u8>>> = template
        .files
        .iter()
        .map(|(_, b)| Some(b.clone()))
        .collect();
    for _ in 0..8 {
        if input.0.is_empty() {
            break;
        }
        damage(&mut files, &mut input);
    }
    // Where each file first differs from the template (usize::MAX: not at all).
    let damaged_at: Vec<usize> = template
        .files
        .iter()
        .zip(&files)
        .map(|((_, before), after)| first_difference(before, after.as_deref()))
        .collect();

    let dir = scratch_root().join(format!("case-{:?}", std::thread::current().id()));
    let _ = fs::remove_dir_all(&dir);
    for ((rel, _), content) in template.files.iter().zip(&files) {
        if let Some(bytes) = content {
            let path = dir.join(rel);
            fs::create_dir_all(path.parent().unwrap_or(&dir)).expect("scratch directory");
            fs::write(&path, bytes).expect("scratch file");
        }
    }
    fs::create_dir_all(dir.join("log")).expect("log directory");

    let result = recover(&dir, &|_| 2, cut_damaged_tail);

    // What is on disk after recovery (it may have cut a tail).
    let after: Vec<Option<Vec<u8>>> = template
        .files
        .iter()
        .map(|(rel, _)| fs::read(dir.join(rel)).ok())
        .collect();
    let indexed: Option<BTreeSet<u64>> = result.as_ref().ok().map(|rec| {
        rec.topics
            .all()
            .iter()
            .flat_map(|t| {
                t.queues
                    .iter()
                    .flat_map(|q| {
                        let q = q.read().unwrap_or_else(|e| e.into_inner());
                        q.entries.iter().map(|e| e.log_offset).collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    });

    // Never lose, nor cut from the disk, a record before the damage.
    for r in records() {
        if r.end > damaged_at[r.file] {
            continue;
        }
        let original = &template.files[r.file].1[r.start..r.end];
        let kept = after[r.file].as_deref().and_then(|b| b.get(r.start..r.end));
        assert_eq!(
            kept,
            Some(original),
            "recovery destroyed the record at log offset {} before the damage",
            r.log_offset
        );
        if let Some(indexed) = &indexed {
            assert!(
                indexed.contains(&r.log_offset),
                "recovery lost the record at log offset {} before the damage at byte {} of {}",
                r.log_offset,
                damaged_at[r.file],
                template.files[r.file].0.display()
            );
        }
    }
    // Never index a record whose checksum fails on disk.
    if let Some(indexed) = &indexed {
        let segments: BTreeMap<u64, Vec<u8>> = fs::read_dir(dir.join("log"))
            .expect("log directory")
            .filter_map(|e| {
                let e = e.ok()?;
                let base = Segment::parse_name(&e.file_name().to_string_lossy())?;
                Some((base, fs::read(e.path()).ok()?))
            })
            .collect();
        let damaged: BTreeSet<u64> = result
            .as_ref()
            .map(|rec| rec.damaged.iter().copied().collect())
            .unwrap_or_default();
        // Queue offsets of records lost in a sealed segment point at the
        // damage on purpose: reading them fails and they are skipped.
        for &offset in indexed.difference(&damaged) {
            let valid = segments
                .range(..=offset)
                .next_back()
                .and_then(|(base, bytes)| record_at(bytes, (offset - base) as usize));
            assert!(
                valid.is_some(),
                "recovery indexed log offset {offset}, which holds no record with a valid checksum"
            );
        }
    }
    let _ = fs::remove_dir_all(&dir);
    // Fails while another thread's case is still there, which is fine.
    let _ = fs::remove_dir(scratch_root());
}

/// Applies one damage operation read from the input.
fn damage(files: &mut [Option<Vec<u8>>], input: &mut Input<'_>) {
    let file = input.u8() as usize % files.len();
    let mode = input.u8() % 6;
    let pos = input.u32() as usize;
    let n = input.u8() as usize;
    let bytes = input.take(n);
    let Some(content) = &mut files[file] else {
        return;
    };
    let pos = pos % (content.len() + 1);
    match mode {
        0 => {
            for (i, &b) in bytes.iter().enumerate() {
                match content.get_mut(pos + i) {
                    Some(slot) => *slot = b,
                    None => content.push(b),
                }
            }
        }
        1 => content.truncate(pos),
        2 => content.extend_from_slice(bytes),
        3 => {
            for (slot, &b) in content[pos..].iter_mut().zip(bytes) {
                *slot ^= b;
            }
        }
        4 => {
            content.splice(pos..pos, bytes.iter().copied());
        }
        _ => files[file] = None,
    }
}

fn first_difference(before: &[u8], after: Option<&[u8]>) -> usize {
    let Some(after) = after else {
        return 0;
    };
    match before.iter().zip(after).position(|(a, b)| a != b) {
        Some(i) => i,
        None if before.len() == after.len() => usize::MAX,
        None => before.len().min(after.len()),
    }
}

/// Reads the input front to back; past its end every byte is zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// The records of the template's segments.
fn records() -> &'static [Record] {
    static RECORDS: OnceLock<Vec<Record>> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let mut out = Vec::new();
        for (file, (rel, bytes)) in template().files.iter().enumerate() {
            let name = rel.file_name().unwrap_or_default().to_string_lossy();
            let Some(base) = Segment::parse_name(&name) else {
                continue;
            };
            let mut pos = 0;
            while let Some(len) = record_at(bytes, pos) {
                let end = pos + RECORD_HEADER + len;
                out.push(Record {
                    file,
                    start: pos,
                    end,
                    log_offset: base + pos as u64,
                });
                pos = end;
            }
        }
        out
    })
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(build_template)
}

/// Where scratch directories go: memory-backed when the machine has it, so
/// each case costs no disk writes.
fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("mq-fuzz-{}", std::process::id()))
}

const SEGMENT_SIZE: u64 = 1024;

/// Writes the template with the real store and reads it back.
fn build_template() -> Template {
    let dir = scratch_root().join("template");
    let _ = fs::remove_dir_all(&dir);
    let mut config = BrokerConfig::for_tests(&dir);
    config.segment_size = SEGMENT_SIZE;
    let store_config = config.store_config();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime for the template");
    runtime.block_on(write_template(store_config));
    // Sealed segments are summarized in the background: wait for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let count = |sub: &str, ext: &str| {
            fs::read_dir(dir.join(sub))
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                        .count()
                })
                .unwrap_or(0)
        };
        if count("index", "sum") + 1 >= count("log", "seg") || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut files = Vec::new();
    collect_files(&dir, &dir, &mut files);
    files.sort();
    let _ = fs::remove_dir_all(&dir);
    Template { files }
}

async fn write_template(config: StoreConfig) {
    let store = Store::open(config).expect("template store opens");
    let append = |topic: &str, store_topic: &str, header: RecordHeader, m: Message| {
        let t = store.topic(store_topic);
        let item = store.prepare(
            &t,
            header,
            &Message {
                topic: topic.into(),
                ..m
            },
        );
        store.append(vec![item])
    };
    let plain = |queue| RecordHeader {
        queue,
        attempt: 1,
        origin_offset: None,
        deliver_at_ms: 0,
    };
    for i in 0..24u32 {
        let m = Message::new(
            "orders",
            format!("order {i} {}", "x".repeat(i as usize * 3)),
        )
        .with_tag(if i % 2 == 0 { "created" } else { "paid" })
        .with_key(format!("order-{i}"))
        .with_property("amount", (i * 10).to_string());
        append("orders", "orders", plain(i % 2), m)
            .await
            .expect("template append");
        if i % 6 == 0 {
            // A delayed message and the due copy that resolves it; a half
            // message left pending.
            let delayed = append(
                "payments",
                DELAY_TOPIC,
                RecordHeader {
                    deliver_at_ms: 1,
                    ..plain(0)
                },
                Message::new("payments", "later"),
            )
            .await
            .expect("template append")[0]
                .log_offset;
            append(
                "payments",
                "payments",
                RecordHeader {
                    origin_offset: Some(delayed),
                    ..plain(0)
                },
                Message::new("payments", "later"),
            )
            .await
            .expect("template append");
            append(
                "payments",
                HALF_TOPIC,
                plain(0),
                Message::new("payments", "half"),
            )
            .await
            .expect("template append");
        }
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if let (Ok(rel), Ok(bytes)) = (path.strip_prefix(root), fs::read(&path)) {
            // The active segment's zeros written ahead: keep a few, not MiBs.
            let bytes = if path.extension().is_some_and(|x| x == "seg") {
                let data_end = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                bytes[..bytes.len().min(data_end + 64)].to_vec()
            } else {
                bytes
            };
            out.push((rel.to_path_buf(), bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_sealed_segments_summaries_and_records() {
        let t = template();
        let segs = t.files.iter().filter(|(p, _)| p.starts_with("log")).count();
        let sums = t
            .files
            .iter()
            .filter(|(p, _)| p.starts_with("index"))
            .count();
        assert!(segs >= 3, "{segs} segments");
        assert_eq!(sums + 1, segs);
        assert!(records().len() >= 30, "{} records", records().len());
        // Undamaged, everything is recovered.
        damaged_log_recovery(&[]);
    }
}
