//! The read position of a subscription in one source queue, with the
//! deliveries in flight and the offsets done beyond the committed one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use tokio::time::Instant;

use super::MemberId;
use crate::storage::index::Topic;
use crate::storage::offsets::ConsumerOffsets;

pub struct Inflight {
    pub member: MemberId,
    pub deadline: Instant,
    /// A retry copy is being written; the delivery is out of the member's hands.
    pub retrying: bool,
}

/// Read position and pending work of one source queue.
pub struct Cursor {
    pub topic: Arc<Topic>,
    pub queue: u32,
    pub is_retry: bool,
    pub committed: u64,
    pub next: u64,
    pub inflight: BTreeMap<u64, Inflight>,
    pub done: BTreeSet<u64>,
    pub redeliver: VecDeque<u64>,
    pub owner: Option<MemberId>,
}

impl Cursor {
    /// Records `offset` as done and moves the committed offset past every
    /// done offset in a row.
    pub fn mark_done(&mut self, offset: u64, group: &str, offsets: &ConsumerOffsets) {
        if offset < self.committed {
            return;
        }
        self.done.insert(offset);
        let before = self.committed;
        while self.done.remove(&self.committed) {
            self.committed += 1;
        }
        if self.committed != before {
            offsets.set(group, &self.topic.name, self.queue, self.committed);
        }
    }
}
