//! Queue floors: the next queue offset of every queue, written durably
//! (`queue-floors.json`: temporary file, fsync, rename, fsync the directory)
//! each time retention is about to delete segments.
//!
//! Recovery rebuilds a queue from the records on disk; once retention has
//! removed every record of a queue, nothing on disk says where its offsets
//! had got to, and the queue would start again at 0 — below the offsets the
//! consumer groups saved, so the messages sent after the restart would be
//! skipped. Recovery starts such a queue at its floor instead. A floor is
//! never above the queue's real end (it is read before the deletion), and
//! records left behind by a crash between writing the file and deleting
//! the segments simply keep their own offsets.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::segment::sync_dir;
use crate::error::{Error, Result};

const FILE: &str = "queue-floors.json";

/// (store topic, queue) → next queue offset.
pub type Floors = BTreeMap<(String, u32), u64>;

#[derive(Serialize, Deserialize)]
struct Row {
    topic: String,
    queue: u32,
    next: u64,
}

/// Reads the floors written last; empty when there is no file yet.
pub fn load(dir: &Path) -> Result<Floors> {
    let path = dir.join(FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let rows: Vec<Row> = serde_json::from_slice(&bytes).map_err(|e| {
                Error::UntrustedDataDir(format!("{} is not valid: {e}", path.display()))
            })?;
            Ok(rows
                .into_iter()
                .map(|r| ((r.topic, r.queue), r.next))
                .collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Floors::new()),
        Err(e) => Err(e.into()),
    }
}

/// Replaces the file with `floors`, durably.
pub fn write(dir: &Path, floors: &Floors) -> Result<()> {
    let rows: Vec<Row> = floors
        .iter()
        .map(|((topic, queue), &next)| Row {
            topic: topic.clone(),
            queue: *queue,
            next,
        })
        .collect();
    let tmp = dir.join("queue-floors.json.tmp");
    fs::write(
        &tmp,
        serde_json::to_vec(&rows).map_err(|e| Error::Invalid(e.to_string()))?,
    )?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join(FILE))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_floors_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let floors = Floors::from([(("orders".to_string(), 3), 300)]);
        write(dir.path(), &floors).unwrap();
        assert_eq!(load(dir.path()).unwrap(), floors);
    }
}
