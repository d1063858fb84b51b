//! Handing messages to members: oldest first per queue, within each
//! member's in-flight limit, skipping messages the subscription's filter
//! (tags or SQL92) does not select,
//! holding retry queues until their head is due, one delivery per queue in
//! orderly subscriptions; and the clock side —
//! when to wake next and which deliveries outlived the visibility timeout.

use std::time::Duration;

use tokio::time::Instant;

use super::Subscription;
use super::cursor::Inflight;
use crate::error::Error;
use crate::message::{decode_record, now_ms};
use crate::protocol::{Frame, FrameBody};
use crate::storage::report_unreadable;

/// Most messages read for delivery in one round: what a round reads is
/// held in memory until it is sent, and a member's connection may run out of
/// room in between (see `server::outbox`).
const MAX_PICKS: usize = 64;

impl Subscription {
    /// The earliest time something is due: a visibility deadline or a retry.
    pub(super) fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now + Duration::from_secs(3600);
        let now_wall = now_ms();
        for c in &self.cursors {
            for f in c.inflight.values().filter(|f| !f.retrying && !self.orderly) {
                wake = wake.min(f.deadline);
            }
            // A due retry only matters if its owner can take it; otherwise
            // an answer (an event) will wake us, not the clock.
            let owner_has_room = self
                .members
                .iter()
                .any(|m| Some(m.id) == c.owner && m.inflight < m.max_inflight);
            if c.is_retry && owner_has_room {
                if let Some(e) = c.topic.entry(c.queue, c.next) {
                    let wait = e.deliver_at_ms.saturating_sub(now_wall);
                    wake = wake.min(now + Duration::from_millis(wait));
                }
            }
        }
        wake
    }

    /// Deliveries past their visibility timeout are retried.
    pub(super) fn expire(&mut self) {
        if self.orderly {
            return; // a member holds its deliveries until it answers or leaves
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        for (i, c) in self.cursors.iter().enumerate() {
            for (o, f) in &c.inflight {
                if !f.retrying && f.deadline <= now {
                    expired.push((i as u32, *o));
                }
            }
        }
        for (queue, offset) in expired {
            metrics::counter!("mq_visibility_timeouts_total").increment(1);
            if self.settle(queue, offset).is_some() {
                self.retry_later(queue, offset);
            }
        }
    }

    /// Hands out messages to members with room, oldest first per queue.
    /// Returns whether it skipped an unreadable record or a tag mismatch
    /// after reading (then more may be ready to hand out at once).
    pub(super) async fn dispatch(&mut self) -> bool {
        let mut more = false;
        let now = now_ms();
        let visible_until = Instant::now() + self.visibility;
        let mut picked: Vec<(usize, u32, u64, u64)> = Vec::new(); // member idx, cursor, offset, log offset
        for mi in 0..self.members.len() {
            let member_id = self.members[mi].id;
            if !self.has_room(mi) {
                continue; // its connection is not reading: nothing more now
            }
            for ci in 0..self.cursors.len() {
                if self.cursors[ci].owner != Some(member_id) {
                    continue;
                }
                loop {
                    let m = &mut self.members[mi];
                    if m.inflight >= m.max_inflight {
                        break;
                    }
                    if picked.len() >= MAX_PICKS {
                        more = true; // the rest in the next round
                        break;
                    }
                    let c = &mut self.cursors[ci];
                    if self.orderly && !c.inflight.is_empty() {
                        break; // the next waits for this queue's answer
                    }
                    let (offset, from_redeliver) = match c.redeliver.front() {
                        Some(&o) => (o, true),
                        None => (c.next, false),
                    };
                    let Some(entry) = c.topic.entry(c.queue, offset) else {
                        if from_redeliver {
                            c.redeliver.pop_front();
                            continue;
                        }
                        let (min, _) = c.topic.queue_range(c.queue);
                        if offset < min {
                            // Removed by retention before this group read it.
                            super::report_retention_skip(
                                &self.group,
                                &c.topic.name,
                                c.queue,
                                offset,
                                min,
                            );
                            c.next = min;
                            if c.committed < min {
                                c.committed = min;
                                c.done.retain(|&o| o >= min);
                                self.store
                                    .offsets
                                    .set(&self.group, &c.topic.name, c.queue, min);
                            }
                            continue;
                        }
                        break; // nothing new
                    };
                    if c.is_retry && entry.deliver_at_ms > now {
                        break;
                    }
                    if from_redeliver {
                        c.redeliver.pop_front();
                    } else {
                        c.next += 1;
                    }
                    if !c.is_retry && !self.filter.may_match_hash(entry.tag_hash) {
                        c.mark_done(offset, &self.group, &self.store.offsets);
                        continue;
                    }
                    let f = Inflight {
                        member: member_id,
                        deadline: visible_until,
                        retrying: false,
                    };
                    c.inflight.insert(offset, f);
                    self.members[mi].inflight += 1;
                    picked.push((mi, ci as u32, offset, entry.log_offset));
                }
            }
        }
        if picked.is_empty() {
            return false;
        }
        let mut skipped = more;
        let raw = match self
            .store
            .read_each(picked.iter().map(|p| p.3).collect())
            .await
        {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(error = %e, "reading messages for delivery failed");
                for &(_, queue, offset, _) in &picked {
                    if self.settle(queue, offset).is_some() {
                        self.cursors[queue as usize].redeliver.push_back(offset);
                    }
                }
                return false;
            }
        };
        for ((mi, queue, offset, log_offset), record) in picked.into_iter().zip(raw) {
            let record = match record {
                Ok(r) => r,
                Err(Error::Io(e)) => {
                    // Try again later; the queue is not skipped.
                    tracing::error!(error = %e, log_offset, "reading a message for delivery failed");
                    if self.settle(queue, offset).is_some() {
                        self.cursors[queue as usize].redeliver.push_back(offset);
                    }
                    continue;
                }
                Err(e) => {
                    // Damaged beyond reading: skipped, so neither this batch
                    // nor an orderly queue waits on it.
                    report_unreadable(log_offset, "delivery", &e);
                    self.settle(queue, offset);
                    self.mark_done(queue, offset);
                    skipped = true;
                    continue;
                }
            };
            let c = &self.cursors[queue as usize];
            if !c.is_retry && !self.filter.is_all() {
                let wanted = decode_record(&record, self.store.instance, log_offset)
                    .map(|m| self.filter.matches(&m))
                    .unwrap_or(false);
                if !wanted {
                    self.settle(queue, offset);
                    self.mark_done(queue, offset);
                    continue;
                }
            }
            if !self.has_room(mi) {
                // Read but not sent: handed out again once there is room.
                if self.settle(queue, offset).is_some() {
                    let c = &mut self.cursors[queue as usize];
                    c.redeliver.push_back(offset);
                    c.redeliver.make_contiguous().sort_unstable();
                }
                continue;
            }
            metrics::counter!("mq_deliveries_total").increment(1);
            let frame = Frame {
                request_id: 0,
                body: FrameBody::Deliver {
                    subscription: self.id,
                    queue,
                    queue_offset: offset,
                    instance: self.store.instance,
                    log_offset,
                    record,
                },
            };
            let _ = self.members[mi].frames.send(frame);
        }
        skipped
    }
}
