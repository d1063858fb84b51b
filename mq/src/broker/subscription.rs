//! One subscription: a consumer group reading one topic. A single task (an
//! actor) owns all of its state — members, queue assignment, cursors,
//! in-flight deliveries — and reacts to events: members joining and leaving,
//! acknowledgements, "later" answers, new messages, and timers.
//!
//! The subscription reads the topic's queues and its retry topic
//! (`%RETRY%group%topic`, one queue per step of the retry schedule, so each
//! retry queue is ordered by due time). A message answered "later" or not
//! answered within the visibility timeout is copied to the retry queue of
//! its next step, or to the group's dead letter topic after the last step;
//! only once that copy is durable is the original counted as done.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::rebalance::assign;
use super::tags::TagExpr;
use crate::message::{Message, RecordHeader, decode_record, now_ms};
use crate::protocol::{ConsumeFrom, Frame, FrameBody};
use crate::storage::Store;
use crate::storage::index::{DLQ_PREFIX, RETRY_PREFIX, Topic};
use crate::storage::offsets::ConsumerOffsets;

/// Identifies a member (one subscribe call on one connection).
pub type MemberId = u64;

/// Events a subscription reacts to.
pub enum SubEvent {
    Join(Join),
    Leave(MemberId),
    Ack { queue: u32, offset: u64 },
    Later { queue: u32, offset: u64 },
    Release { queue: u32, offset: u64 },
    Status(oneshot::Sender<SubStatus>),
    RetryStored { queue: u32, offset: u64, ok: bool },
}

/// A member joining.
pub struct Join {
    pub member: MemberId,
    pub peer: String,
    pub frames: mpsc::UnboundedSender<Frame>,
    pub tag_expr: TagExpr,
    pub max_inflight: u32,
}

/// A snapshot for the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubStatus {
    pub group: String,
    pub topic: String,
    pub tag_expr: String,
    pub members: Vec<MemberStatus>,
    pub queues: Vec<QueueStatus>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberStatus {
    pub id: MemberId,
    pub peer: String,
    pub inflight: u32,
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStatus {
    pub topic: String,
    pub queue: u32,
    pub committed: u64,
    pub max_offset: u64,
    pub lag: u64,
    pub inflight: usize,
}

/// Sender side of a subscription.
#[derive(Clone)]
pub struct SubscriptionHandle {
    pub id: u32,
    pub group: String,
    pub topic: String,
    pub tx: mpsc::UnboundedSender<SubEvent>,
}

impl SubscriptionHandle {
    pub fn send(&self, ev: SubEvent) {
        let _ = self.tx.send(ev);
    }

    pub async fn status(&self) -> Option<SubStatus> {
        let (tx, rx) = oneshot::channel();
        self.send(SubEvent::Status(tx));
        rx.await.ok()
    }
}

struct Member {
    id: MemberId,
    peer: String,
    frames: mpsc::UnboundedSender<Frame>,
    max_inflight: u32,
    inflight: u32,
}

struct Inflight {
    member: MemberId,
    deadline: Instant,
    /// A retry copy is being written; the delivery is out of the member's hands.
    retrying: bool,
}

/// Read position and pending work of one source queue.
struct Cursor {
    topic: Arc<Topic>,
    queue: u32,
    is_retry: bool,
    committed: u64,
    next: u64,
    inflight: BTreeMap<u64, Inflight>,
    done: BTreeSet<u64>,
    redeliver: VecDeque<u64>,
    owner: Option<MemberId>,
}

impl Cursor {
    /// Records `offset` as done and moves the committed offset past every
    /// done offset in a row.
    fn mark_done(&mut self, offset: u64, group: &str, offsets: &ConsumerOffsets) {
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

/// The actor state.
pub struct Subscription {
    id: u32,
    group: String,
    topic: Arc<Topic>,
    retry_topic: Arc<Topic>,
    store: Arc<Store>,
    schedule: Vec<Duration>,
    visibility: Duration,
    tag_expr: TagExpr,
    members: Vec<Member>,
    cursors: Vec<Cursor>,
    rx: mpsc::UnboundedReceiver<SubEvent>,
    tx: mpsc::UnboundedSender<SubEvent>,
}

/// Settings a subscription needs from the broker.
pub struct SubSettings {
    pub schedule: Vec<Duration>,
    pub visibility: Duration,
    pub from: ConsumeFrom,
}

impl Subscription {
    /// Creates the subscription and starts its task.
    pub fn spawn(
        id: u32,
        store: Arc<Store>,
        group: &str,
        topic: &str,
        settings: SubSettings,
        shutdown: CancellationToken,
    ) -> SubscriptionHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let main = store.topic(topic);
        let retry_topic = store.topic(&format!("{RETRY_PREFIX}{group}%{topic}"));
        let mut cursors = Vec::new();
        for (t, is_retry) in [(&main, false), (&retry_topic, true)] {
            for q in 0..t.queue_count() {
                let (min, max) = t.queue_range(q);
                let start = match store.offsets.get(group, &t.name, q) {
                    Some(o) => o.clamp(min, max),
                    None if is_retry || settings.from == ConsumeFrom::Earliest => min,
                    None => max,
                };
                store.offsets.set(group, &t.name, q, start);
                cursors.push(Cursor {
                    topic: t.clone(),
                    queue: q,
                    is_retry,
                    committed: start,
                    next: start,
                    inflight: BTreeMap::new(),
                    done: BTreeSet::new(),
                    redeliver: VecDeque::new(),
                    owner: None,
                });
            }
        }
        let sub = Subscription {
            id,
            group: group.to_string(),
            topic: main,
            retry_topic,
            store,
            schedule: settings.schedule,
            visibility: settings.visibility,
            tag_expr: TagExpr::All,
            members: Vec::new(),
            cursors,
            rx,
            tx: tx.clone(),
        };
        tokio::spawn(sub.run(shutdown));
        SubscriptionHandle {
            id,
            group: group.to_string(),
            topic: topic.to_string(),
            tx,
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let mut main_rx = self.topic.appended.subscribe();
        let mut retry_rx = self.retry_topic.appended.subscribe();
        loop {
            self.dispatch().await;
            let wake = self.next_wake();
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(ev) => self.handle(ev),
                    None => break,
                },
                _ = main_rx.changed() => {}
                _ = retry_rx.changed() => {}
                _ = tokio::time::sleep_until(wake) => self.expire(),
                _ = shutdown.cancelled() => break,
            }
            while let Ok(ev) = self.rx.try_recv() {
                self.handle(ev);
            }
        }
        tracing::debug!(group = %self.group, topic = %self.topic.name, "subscription stopped");
    }

    fn handle(&mut self, ev: SubEvent) {
        match ev {
            SubEvent::Join(j) => {
                self.tag_expr = j.tag_expr;
                self.members.retain(|m| m.id != j.member);
                self.members.push(Member {
                    id: j.member,
                    peer: j.peer,
                    frames: j.frames,
                    max_inflight: j.max_inflight.max(1),
                    inflight: 0,
                });
                self.rebalance();
            }
            SubEvent::Leave(member) => self.leave(member),
            SubEvent::Ack { queue, offset } => {
                if self.settle(queue, offset).is_some() {
                    metrics::counter!("mq_acks_total").increment(1);
                    self.mark_done(queue, offset);
                }
            }
            SubEvent::Later { queue, offset } => {
                if self.settle(queue, offset).is_some() {
                    self.retry_later(queue, offset);
                }
            }
            SubEvent::Release { queue, offset } => {
                if self.settle(queue, offset).is_some() {
                    let c = &mut self.cursors[queue as usize];
                    c.redeliver.push_back(offset);
                    c.redeliver.make_contiguous().sort_unstable();
                }
            }
            SubEvent::RetryStored { queue, offset, ok } => {
                let Some(c) = self.cursors.get_mut(queue as usize) else {
                    return;
                };
                c.inflight.remove(&offset);
                if ok {
                    self.mark_done(queue, offset);
                } else {
                    c.redeliver.push_back(offset);
                }
            }
            SubEvent::Status(reply) => {
                let _ = reply.send(self.status());
            }
        }
    }

    /// Takes a delivery out of its member's hands; returns that member.
    fn settle(&mut self, queue: u32, offset: u64) -> Option<MemberId> {
        let c = self.cursors.get_mut(queue as usize)?;
        let f = c.inflight.get(&offset).filter(|f| !f.retrying)?;
        let member = f.member;
        c.inflight.remove(&offset);
        if let Some(m) = self.members.iter_mut().find(|m| m.id == member) {
            m.inflight = m.inflight.saturating_sub(1);
        }
        Some(member)
    }

    fn mark_done(&mut self, queue: u32, offset: u64) {
        self.cursors[queue as usize].mark_done(offset, &self.group, &self.store.offsets);
    }

    fn leave(&mut self, member: MemberId) {
        self.members.retain(|m| m.id != member);
        for c in &mut self.cursors {
            let orphans: Vec<u64> = c
                .inflight
                .iter()
                .filter(|(_, f)| f.member == member && !f.retrying)
                .map(|(o, _)| *o)
                .collect();
            for o in orphans {
                c.inflight.remove(&o);
                c.redeliver.push_back(o);
            }
            c.redeliver.make_contiguous().sort_unstable();
        }
        self.rebalance();
    }

    fn rebalance(&mut self) {
        self.members.sort_by_key(|m| m.id);
        let owners = assign(self.cursors.len(), self.members.len());
        for (c, owner) in self.cursors.iter_mut().zip(owners) {
            c.owner = owner.map(|i| self.members[i].id);
        }
    }

    /// The earliest time something is due: a visibility deadline or a retry.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now + Duration::from_secs(3600);
        let now_wall = now_ms();
        for c in &self.cursors {
            for f in c.inflight.values().filter(|f| !f.retrying) {
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
    fn expire(&mut self) {
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

    /// Writes the retry (or dead letter) copy in the background.
    fn retry_later(&mut self, queue: u32, offset: u64) {
        let c = &mut self.cursors[queue as usize];
        let Some(entry) = c.topic.entry(c.queue, offset) else {
            return self.mark_done(queue, offset);
        };
        c.inflight.insert(
            offset,
            Inflight {
                member: 0,
                deadline: Instant::now(),
                retrying: true,
            },
        );
        let store = self.store.clone();
        let (group, schedule, tx) = (self.group.clone(), self.schedule.clone(), self.tx.clone());
        let retry_topic = self.retry_topic.clone();
        tokio::spawn(async move {
            let ok = match store_retry_copy(
                &store,
                &group,
                &schedule,
                &retry_topic,
                entry.log_offset,
            )
            .await
            {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, group, "could not store a retry copy; redelivering");
                    false
                }
            };
            let _ = tx.send(SubEvent::RetryStored { queue, offset, ok });
        });
    }

    /// Hands out messages to members with room, oldest first per queue.
    async fn dispatch(&mut self) {
        let now = now_ms();
        let visible_until = Instant::now() + self.visibility;
        let mut picked: Vec<(usize, u32, u64, u64)> = Vec::new(); // member idx, cursor, offset, log offset
        for mi in 0..self.members.len() {
            let member_id = self.members[mi].id;
            for ci in 0..self.cursors.len() {
                if self.cursors[ci].owner != Some(member_id) {
                    continue;
                }
                loop {
                    let m = &mut self.members[mi];
                    if m.inflight >= m.max_inflight {
                        break;
                    }
                    let c = &mut self.cursors[ci];
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
                    if !c.is_retry && !self.tag_expr.may_match_hash(entry.tag_hash) {
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
            return;
        }
        let raw = match self
            .store
            .read_raw(picked.iter().map(|p| p.3).collect())
            .await
        {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(error = %e, "reading messages for delivery failed");
                return; // visibility timeouts will retry them
            }
        };
        for ((mi, queue, offset, log_offset), record) in picked.into_iter().zip(raw) {
            let c = &self.cursors[queue as usize];
            if !c.is_retry && !self.tag_expr.is_all() {
                let tag_ok = decode_record(&record, self.store.instance, log_offset)
                    .map(|m| self.tag_expr.matches(&m.tag))
                    .unwrap_or(false);
                if !tag_ok {
                    self.settle(queue, offset);
                    self.mark_done(queue, offset);
                    continue;
                }
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
    }

    fn status(&self) -> SubStatus {
        let queues: Vec<QueueStatus> = self
            .cursors
            .iter()
            .map(|c| {
                let max = c.topic.queue_range(c.queue).1;
                QueueStatus {
                    topic: c.topic.name.clone(),
                    queue: c.queue,
                    committed: c.committed,
                    max_offset: max,
                    lag: max.saturating_sub(c.committed),
                    inflight: c.inflight.len(),
                }
            })
            .collect();
        let members = self
            .members
            .iter()
            .map(|m| MemberStatus {
                id: m.id,
                peer: m.peer.clone(),
                inflight: m.inflight,
                queues: self
                    .cursors
                    .iter()
                    .filter(|c| c.owner == Some(m.id))
                    .map(|c| format!("{}#{}", c.topic.name, c.queue))
                    .collect(),
            })
            .collect();
        SubStatus {
            group: self.group.clone(),
            topic: self.topic.name.clone(),
            tag_expr: self.tag_expr.to_string(),
            members,
            queues,
        }
    }
}

/// Appends the next retry copy of the record at `log_offset`, or its dead
/// letter copy once the schedule is used up.
async fn store_retry_copy(
    store: &Store,
    group: &str,
    schedule: &[Duration],
    retry_topic: &Arc<Topic>,
    log_offset: u64,
) -> crate::Result<()> {
    let m = store.read(log_offset).await?;
    let retries_done = m.attempt.saturating_sub(1) as usize;
    let message = Message {
        topic: m.topic.clone(),
        tag: m.tag.clone(),
        keys: m.keys.clone(),
        body: m.body.clone(),
        properties: m.properties.clone(),
        sharding_key: m.sharding_key.clone(),
        deliver_at_ms: None,
        born_at_ms: m.born_at_ms,
    };
    let (topic, header) = if retries_done >= schedule.len() {
        metrics::counter!("mq_dead_letters_total").increment(1);
        tracing::warn!(group, id = %m.id, attempts = m.attempt, "message moved to the dead letter queue");
        let dlq = store.topic(&format!("{DLQ_PREFIX}{group}"));
        (
            dlq,
            RecordHeader {
                queue: 0,
                attempt: m.attempt,
                origin_offset: Some(m.id.offset),
                deliver_at_ms: 0,
            },
        )
    } else {
        metrics::counter!("mq_retries_total").increment(1);
        let delay = schedule[retries_done];
        let header = RecordHeader {
            queue: retries_done as u32,
            attempt: m.attempt + 1,
            origin_offset: Some(m.id.offset),
            deliver_at_ms: now_ms() + delay.as_millis() as u64,
        };
        (retry_topic.clone(), header)
    };
    let item = store.prepare(&topic, header, &message);
    store.append(vec![item]).await?;
    Ok(())
}
