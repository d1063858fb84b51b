//! Transactional messages: pending half messages and the live producers
//! that can be asked about them.
//!
//! A half message is stored in the `%HALF%` topic, invisible. Commit appends
//! a copy to its own topic (naming the half as origin, so it keeps the id);
//! rollback — and discard after too many check-backs — appends an op record
//! to `%TXN_OP%` naming the half. Either resolves the half durably, so
//! recovery (see `storage::recovery`) knows which halves are still pending.
//! One task sleeps until the next check-back is due, then pushes a
//! `CheckTxn` frame to a live producer of the half's group.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, watch};

use crate::error::{Error, ErrorCode, Result};

/// One undecided half message.
#[derive(Debug, Clone)]
pub struct Half {
    /// Log offset of the half as first stored: its message id.
    pub log_offset: u64,
    /// Where its record is now (retention may have copied it forward).
    pub at: u64,
    pub group: String,
    pub stored_at_ms: u64,
    /// Check-backs sent so far (kept across restarts, see
    /// `storage::txn_checks`).
    pub checks: u32,
    pub next_check_ms: u64,
    /// An outcome is being stored; its result is announced on the channel.
    pub resolving: Option<(Outcome, watch::Receiver<Option<bool>>)>,
    /// Due, but no producer of its group was connected.
    pub waiting: bool,
}

/// How a half message is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Commit,
    Rollback,
    /// Never decided: discarded after the last check-back.
    Discard,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Commit => "commit",
            Outcome::Rollback => "rollback",
            Outcome::Discard => "discard",
        }
    }
}

/// What [`Transactions::begin_resolve`] found.
pub enum Begin {
    /// The caller stores the outcome, then calls `finish_resolve`.
    Started,
    /// Another outcome is being stored; the channel turns `Some(stored)`.
    InProgress(Outcome, watch::Receiver<Option<bool>>),
    /// Decided a moment ago.
    Decided(Outcome),
}

/// Recent decisions remembered, so a late or repeated answer hears what
/// the half became.
const REMEMBERED_DECISIONS: usize = 4096;

/// Pending half messages and the producers connected per group.
#[derive(Default)]
pub struct Transactions {
    inner: Mutex<Inner>,
    pub(super) wake: Notify,
    discarded: AtomicU64,
}

#[derive(Default)]
struct Inner {
    halves: BTreeMap<u64, Half>,
    /// (next check ms, log offset), soonest first.
    schedule: BTreeSet<(u64, u64)>,
    producers: HashMap<String, Vec<(u64, crate::server::outbox::Outbox)>>,
    next_producer: usize,
    /// Senders announcing the result of resolutions in progress.
    announcers: HashMap<u64, watch::Sender<Option<bool>>>,
    /// Recent decisions, oldest first (at most [`REMEMBERED_DECISIONS`]).
    decided: VecDeque<(u64, Outcome)>,
}

impl Transactions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a half message (id offset `log_offset`, record at `at`),
    /// next checked at `first_check_ms`, that was already asked about
    /// `checks` times (before a restart).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        log_offset: u64,
        at: u64,
        group: &str,
        stored_at_ms: u64,
        first_check_ms: u64,
        checks: u32,
    ) {
        let mut s = self.lock();
        s.halves.insert(
            log_offset,
            Half {
                log_offset,
                at,
                group: group.to_string(),
                stored_at_ms,
                checks,
                next_check_ms: first_check_ms,
                resolving: None,
                waiting: false,
            },
        );
        s.schedule.insert((first_check_ms, log_offset));
        metrics::gauge!("mq_half_pending").set(s.halves.len() as f64);
        drop(s);
        self.wake.notify_one();
    }

    /// Halves discarded since the broker started (never decided).
    pub fn discarded(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    pub(super) fn count_discard(&self) {
        self.discarded.fetch_add(1, Ordering::Relaxed);
    }

    /// Every pending half, oldest first.
    pub fn pending(&self) -> Vec<Half> {
        self.lock().halves.values().cloned().collect()
    }

    /// Up to `limit` pending halves whose id (log offset) is above `after`,
    /// oldest first, and whether more follow.
    pub fn pending_page(&self, after: Option<u64>, limit: usize) -> (Vec<Half>, bool) {
        use std::ops::Bound::{Excluded, Unbounded};
        let s = self.lock();
        let from = after.map_or(Unbounded, Excluded);
        let mut it = s.halves.range((from, Unbounded)).map(|(_, h)| h.clone());
        let page: Vec<Half> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        (page, more)
    }

    /// Check-back counts of the pending halves asked at least once.
    pub fn check_counts(&self) -> BTreeMap<u64, u32> {
        self.lock()
            .halves
            .values()
            .filter(|h| h.checks > 0)
            .map(|h| (h.log_offset, h.checks))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().halves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lowest log offset of a pending half's record (retention must keep it).
    pub fn min_log_offset(&self) -> Option<u64> {
        self.lock().halves.values().map(|h| h.at).min()
    }

    /// Pending halves, not being resolved, whose record lies below
    /// `log_offset`: (id offset, record's log offset).
    pub fn below(&self, log_offset: u64) -> Vec<(u64, u64)> {
        self.lock()
            .halves
            .values()
            .filter(|h| h.at < log_offset && h.resolving.is_none())
            .map(|h| (h.log_offset, h.at))
            .collect()
    }

    /// Where the record of the pending half `id` is now.
    pub fn location(&self, id: u64) -> Option<u64> {
        self.lock().halves.get(&id).map(|h| h.at)
    }

    /// The record of the pending half `id` was copied to `at`.
    pub fn moved(&self, id: u64, at: u64) {
        if let Some(h) = self.lock().halves.get_mut(&id) {
            h.at = at;
        }
    }

    /// Forgets a pending half whose record cannot be read.
    pub fn forget(&self, id: u64) {
        let mut s = self.lock();
        if let Some(h) = s.halves.remove(&id) {
            s.schedule.remove(&(h.next_check_ms, id));
        }
        metrics::gauge!("mq_half_pending").set(s.halves.len() as f64);
    }

    /// A connection announced itself as a producer of `group`.
    pub fn register(&self, group: &str, conn: u64, out: crate::server::outbox::Outbox) {
        let mut s = self.lock();
        s.producers
            .entry(group.to_string())
            .or_default()
            .push((conn, out));
        // Halves waiting for a producer of this group are asked now.
        let now = crate::message::now_ms();
        let Inner {
            halves, schedule, ..
        } = &mut *s;
        for h in halves
            .values_mut()
            .filter(|h| h.waiting && h.group == group)
        {
            schedule.remove(&(h.next_check_ms, h.log_offset));
            h.next_check_ms = now;
            h.waiting = false;
            schedule.insert((now, h.log_offset));
        }
        drop(s);
        self.wake.notify_one();
    }

    pub fn unregister(&self, group: &str, conn: u64) {
        let mut s = self.lock();
        if let Some(v) = s.producers.get_mut(group) {
            v.retain(|(c, _)| *c != conn);
            if v.is_empty() {
                s.producers.remove(group);
            }
        }
    }

    /// Starts resolving a half as `outcome`, unless another resolution is
    /// in progress or it was decided a moment ago (see [`Begin`]).
    pub fn begin_resolve(
        &self,
        log_offset: u64,
        group: Option<&str>,
        outcome: Outcome,
    ) -> Result<Begin> {
        let mut s = self.lock();
        let Some(h) = s.halves.get_mut(&log_offset) else {
            if let Some(&(_, o)) = s.decided.iter().rev().find(|(off, _)| *off == log_offset) {
                return Ok(Begin::Decided(o));
            }
            return Err(Error::Refused {
                code: ErrorCode::NotFound,
                message: "no pending half message with this id (already decided?)".into(),
            });
        };
        if let Some(g) = group.filter(|g| !g.is_empty() && *g != h.group) {
            return Err(Error::Invalid(format!(
                "the half message belongs to producer group {}, not {g}",
                h.group
            )));
        }
        if let Some((o, rx)) = &h.resolving {
            return Ok(Begin::InProgress(*o, rx.clone()));
        }
        let (tx, rx) = watch::channel(None);
        h.resolving = Some((outcome, rx));
        s.announcers.insert(log_offset, tx);
        Ok(Begin::Started)
    }

    /// Ends a resolution: removes the half once its outcome is durable, and
    /// tells whoever waited on it.
    pub fn finish_resolve(&self, log_offset: u64, outcome: Outcome, stored: bool) {
        let mut s = self.lock();
        if stored {
            if let Some(h) = s.halves.remove(&log_offset) {
                s.schedule.remove(&(h.next_check_ms, log_offset));
            }
            if s.decided.len() >= REMEMBERED_DECISIONS {
                s.decided.pop_front();
            }
            s.decided.push_back((log_offset, outcome));
        } else if let Some(h) = s.halves.get_mut(&log_offset) {
            h.resolving = None;
        }
        if let Some(tx) = s.announcers.remove(&log_offset) {
            tx.send_replace(Some(stored));
        }
        metrics::gauge!("mq_half_pending").set(s.halves.len() as f64);
    }

    /// Plans the due check-backs at `now`: halves to ask (with the producer
    /// to ask), halves to discard; and when the next one is due.
    pub(super) fn plan(&self, now: u64, max: u32, interval: u64, retry: u64) -> Plan {
        let mut s = self.lock();
        let due: Vec<(u64, u64)> = s
            .schedule
            .iter()
            .take_while(|(t, _)| *t <= now)
            .copied()
            .collect();
        let mut plan = Plan::default();
        for (t, off) in due {
            s.schedule.remove(&(t, off));
            let Some(h) = s.halves.get(&off).cloned() else {
                continue;
            };
            if h.resolving.is_some() {
                continue; // its outcome is being stored
            }
            if h.checks >= max {
                plan.discard.push(off);
                continue;
            }
            let asked = match pick(&mut s, &h.group) {
                Some(out) => {
                    plan.ask.push((off, h.at, out));
                    true
                }
                None => false,
            };
            // Nobody to ask: not counted; asked once a producer connects.
            let next = now + if asked { interval } else { retry };
            if let Some(h) = s.halves.get_mut(&off) {
                h.checks += asked as u32;
                h.waiting = !asked;
                h.next_check_ms = next;
            }
            s.schedule.insert((next, off));
        }
        plan.next_ms = s.schedule.first().map(|&(t, _)| t);
        plan
    }
}

/// What the check-back task does next.
#[derive(Default)]
pub(super) struct Plan {
    /// (id offset, record's log offset, producer to ask).
    pub ask: Vec<(u64, u64, crate::server::outbox::Outbox)>,
    pub discard: Vec<u64>,
    pub next_ms: Option<u64>,
}

/// A live producer of `group`, round robin; drops closed ones.
fn pick(s: &mut Inner, group: &str) -> Option<crate::server::outbox::Outbox> {
    let n = s.next_producer;
    s.next_producer = s.next_producer.wrapping_add(1);
    let v = s.producers.get_mut(group)?;
    v.retain(|(_, out)| !out.is_closed());
    if v.is_empty() {
        return None;
    }
    Some(v[n % v.len()].1.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_resolution_waits_for_the_first_and_hears_its_outcome() {
        let txns = Transactions::default();
        txns.add(100, 100, "g", 0, 0, 0);
        assert!(matches!(
            txns.begin_resolve(100, None, Outcome::Discard).unwrap(),
            Begin::Started
        ));

        let Begin::InProgress(first, mut rx) =
            txns.begin_resolve(100, Some("g"), Outcome::Commit).unwrap()
        else {
            panic!("a second resolution must not start");
        };
        txns.finish_resolve(100, Outcome::Discard, true);

        assert_eq!(first, Outcome::Discard);
        assert_eq!(*rx.borrow_and_update(), Some(true));
        assert!(matches!(
            txns.begin_resolve(100, Some("g"), Outcome::Commit).unwrap(),
            Begin::Decided(Outcome::Discard)
        ));
    }
}
