//! The clean-shutdown mark: `clean-shutdown.json`, written (durably) by a
//! broker that stopped cleanly, with the log end offset it synced, and
//! removed on the next start before anything is appended.
//!
//! Message ids are log offsets. After a crash the log may have lost records
//! that were handed out ids — a torn tail, or in async flush mode whole
//! writes that never reached the disk — so appending at the recovered end
//! would give a new message the id of one that was acknowledged and lost.
//! Without a mark that matches the recovered log, the store therefore moves
//! on to a fresh segment past everything the old one could have handed out.

use std::fs;
use std::path::Path;

use super::segment::sync_dir;
use crate::error::Result;

const FILE: &str = "clean-shutdown.json";

/// Writes the mark for a log that ends (durably) at `log_end`.
pub fn write(dir: &Path, log_end: u64) -> Result<()> {
    let tmp = dir.join("clean-shutdown.json.tmp");
    fs::write(&tmp, serde_json::json!({ "log_end": log_end }).to_string())?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join(FILE))?;
    sync_dir(dir)
}

/// Reads and removes the mark; the log end it recorded, if any.
pub fn take(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    fs::remove_file(&path)?;
    sync_dir(dir)?;
    let end = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["log_end"].as_u64());
    Ok(end)
}
