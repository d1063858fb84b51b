//! Check-back counts of pending half messages, kept across restarts in
//! `txn-checks.json` (log offset of the half → check-backs sent), so that
//! `MQ_TXN_CHECK_MAX` bounds the check-backs of a half over its whole life,
//! not per broker run.
//!
//! The check-back task writes the file (temporary file, fsync, rename, fsync
//! the directory) before it sends a round of check-backs, so a count on disk
//! is never below the check-backs actually sent. One small write per round,
//! not per message: check-backs are rare, and the file holds only halves
//! still pending that were asked at least once. Recovery reads it back for
//! the halves the log says are still undecided.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::segment::sync_dir;
use crate::error::{Error, Result};

const FILE: &str = "txn-checks.json";

#[derive(Serialize, Deserialize)]
struct Row {
    log_offset: u64,
    checks: u32,
}

/// Reads the counts written last; empty when there is no file yet.
pub fn load(dir: &Path) -> Result<BTreeMap<u64, u32>> {
    let path = dir.join(FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let rows: Vec<Row> = serde_json::from_slice(&bytes).map_err(|e| {
                Error::UntrustedDataDir(format!("{} is not valid: {e}", path.display()))
            })?;
            Ok(rows.into_iter().map(|r| (r.log_offset, r.checks)).collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

/// Replaces the file with `counts`, durably.
pub fn write(dir: &Path, counts: &BTreeMap<u64, u32>) -> Result<()> {
    let rows: Vec<Row> = counts
        .iter()
        .map(|(&log_offset, &checks)| Row { log_offset, checks })
        .collect();
    let tmp = dir.join("txn-checks.json.tmp");
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
    fn written_counts_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let counts = BTreeMap::from([(0, 2), (4096, 15)]);
        write(dir.path(), &counts).unwrap();
        assert_eq!(load(dir.path()).unwrap(), counts);
    }
}
