//! Consumer offsets: for each (group, topic, queue), the queue offset below
//! which every message is done. Kept in memory and written to
//! `offsets.json` (write to a temporary file, fsync, rename, fsync the
//! directory) whenever they changed, every flush interval and on shutdown.
//! After a crash a group resumes from its last written offsets: messages done
//! after that are delivered again (at-least-once), never skipped.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::segment::sync_dir;
use crate::error::{Error, Result};

const FILE: &str = "offsets.json";

#[derive(Serialize, Deserialize)]
struct Row {
    group: String,
    topic: String,
    queue: u32,
    offset: u64,
}

/// Key of one committed offset.
pub type OffsetKey = (String, String, u32);

/// Committed consumer offsets.
#[derive(Debug)]
pub struct ConsumerOffsets {
    dir: PathBuf,
    map: Mutex<BTreeMap<OffsetKey, u64>>,
    dirty: AtomicBool,
}

impl ConsumerOffsets {
    pub fn load(dir: &Path) -> Result<ConsumerOffsets> {
        let path = dir.join(FILE);
        let map = match fs::read(&path) {
            Ok(bytes) => {
                let rows: Vec<Row> = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::UntrustedDataDir(format!("{} is not valid: {e}", path.display()))
                })?;
                rows.into_iter()
                    .map(|r| ((r.group, r.topic, r.queue), r.offset))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(ConsumerOffsets {
            dir: dir.to_path_buf(),
            map: Mutex::new(map),
            dirty: AtomicBool::new(false),
        })
    }

    pub fn get(&self, group: &str, topic: &str, queue: u32) -> Option<u64> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(group.to_string(), topic.to_string(), queue))
            .copied()
    }

    pub fn set(&self, group: &str, topic: &str, queue: u32, offset: u64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let slot = map
            .entry((group.to_string(), topic.to_string(), queue))
            .or_insert(0);
        if *slot != offset {
            *slot = offset;
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// All offsets of a group: (topic, queue) → offset.
    pub fn of_group(&self, group: &str) -> BTreeMap<(String, u32), u64> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|((_, t, q), o)| ((t.clone(), *q), *o))
            .collect()
    }

    /// Deletes every offset of `group`; returns how many there were.
    pub fn remove_group(&self, group: &str) -> usize {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let before = map.len();
        map.retain(|(g, _, _), _| g != group);
        let removed = before - map.len();
        if removed > 0 {
            self.dirty.store(true, Ordering::Release);
        }
        removed
    }

    /// Names of all groups with offsets.
    pub fn groups(&self) -> Vec<String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = map.keys().map(|(g, _, _)| g.clone()).collect();
        v.dedup();
        v
    }

    /// Writes the offsets durably if they changed since the last write.
    pub fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let rows: Vec<Row> = {
            let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.iter()
                .map(|((g, t, q), o)| Row {
                    group: g.clone(),
                    topic: t.clone(),
                    queue: *q,
                    offset: *o,
                })
                .collect()
        };
        let result = (|| {
            let tmp = self.dir.join("offsets.json.tmp");
            fs::write(
                &tmp,
                serde_json::to_vec(&rows).map_err(|e| Error::Invalid(e.to_string()))?,
            )?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, self.dir.join(FILE))?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        result
    }
}
