//! Fault injection for tests and the checker: makes the log writer's next
//! writes or fsyncs fail as a full or failing disk would (`ENOSPC`, `EIO`).
//! Armed in code ([`Faults::set`]) or, for a broker process, through the
//! file named by `MQ_FAULT_FILE`: while it holds `write` or `sync`, those
//! operations fail. Off (and free) unless used.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

/// What to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writes fail with `ENOSPC` (a full disk).
    Write,
    /// fsyncs fail with `EIO`.
    Sync,
}

/// The switch the log writer consults before each write and fsync.
#[derive(Debug, Default)]
pub struct Faults {
    armed: AtomicU8,
    file: Option<PathBuf>,
}

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

impl Faults {
    /// Faults read from `file` whenever the writer checks (see module docs).
    pub fn from_file(file: Option<PathBuf>) -> Faults {
        Faults {
            armed: AtomicU8::new(0),
            file,
        }
    }

    pub fn set(&self, fault: Option<Fault>) {
        let v = match fault {
            None => 0,
            Some(Fault::Write) => 1,
            Some(Fault::Sync) => 2,
        };
        self.armed.store(v, Ordering::Relaxed);
    }

    fn current(&self) -> Option<Fault> {
        let from_file = self
            .file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok());
        match from_file.as_deref().map(str::trim) {
            Some("write") => return Some(Fault::Write),
            Some("sync") => return Some(Fault::Sync),
            _ => {}
        }
        match self.armed.load(Ordering::Relaxed) {
            1 => Some(Fault::Write),
            2 => Some(Fault::Sync),
            _ => None,
        }
    }

    /// Fails if `op` is armed.
    pub fn check(&self, op: Fault) -> std::io::Result<()> {
        if self.armed.load(Ordering::Relaxed) == 0 && self.file.is_none() {
            return Ok(());
        }
        match (self.current(), op) {
            (Some(Fault::Write), Fault::Write) => Err(std::io::Error::from_raw_os_error(ENOSPC)),
            (Some(Fault::Sync), Fault::Sync) => Err(std::io::Error::from_raw_os_error(EIO)),
            _ => Ok(()),
        }
    }
}
