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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::rebalance::assign;
use crate::filter::Filter;
use crate::protocol::ConsumeFrom;
use crate::storage::Store;
use crate::storage::index::{RETRY_PREFIX, Topic};

mod cursor;
mod dispatch;
mod retry;
mod status;

use cursor::Cursor;
pub use status::{MemberStatus, QueueStatus, SubStatus};

/// Identifies a member (one subscribe call on one connection).
pub type MemberId = u64;

/// Events a subscription reacts to.
pub enum SubEvent {
    Join(Join),
    Leave(MemberId),
    Ack {
        queue: u32,
        offset: u64,
    },
    Later {
        queue: u32,
        offset: u64,
    },
    Release {
        queue: u32,
        offset: u64,
    },
    Status(oneshot::Sender<SubStatus>),
    RetryStored {
        queue: u32,
        offset: u64,
        ok: bool,
    },
    /// The member's connection has room for deliveries again.
    Room(MemberId),
    /// The subscription is forgotten (a broadcast member gone for good):
    /// the task ends.
    Forget,
}

/// A member joining.
pub struct Join {
    pub member: MemberId,
    pub peer: String,
    pub frames: crate::server::outbox::Outbox,
    pub filter: Filter,
    pub max_inflight: u32,
    /// Orderly consumption (see [`crate::protocol::ConsumeMode::Orderly`]).
    pub orderly: bool,
}

/// Logs and counts (`mq_retention_skipped_total`, by group and topic) the
/// messages of a queue that retention deleted before `group` read them:
/// from queue offset `from` up to the oldest one still stored, `to`.
pub(crate) fn report_retention_skip(group: &str, topic: &str, queue: u32, from: u64, to: u64) {
    let skipped = to.saturating_sub(from);
    if skipped == 0 {
        return;
    }
    tracing::warn!(
        group,
        topic,
        queue,
        from,
        to,
        skipped,
        "retention deleted messages this group had not consumed: skipping them"
    );
    metrics::counter!(
        "mq_retention_skipped_total",
        "group" => group.to_string(),
        "topic" => topic.to_string()
    )
    .increment(skipped);
}

/// Sender side of a subscription.
#[derive(Clone)]
pub struct SubscriptionHandle {
    pub id: u32,
    pub group: String,
    pub topic: String,
    pub tx: mpsc::UnboundedSender<SubEvent>,
    /// What its live members subscribed with.
    shape: Arc<Mutex<Shape>>,
}

/// The subscription every live member of a group shares: its filter and
/// whether it is orderly. The first member to join sets it; one asking
/// for another is refused while any member is live (as RocketMQ requires
/// of a group's members: the same subscription everywhere).
#[derive(Default)]
struct Shape {
    members: usize,
    filter: String,
    orderly: bool,
    /// When the last member left (for forgetting broadcast members).
    left_at: Option<std::time::Instant>,
}

impl SubscriptionHandle {
    pub fn send(&self, ev: SubEvent) {
        let _ = self.tx.send(ev);
    }

    /// Admits a member subscribing with `filter` (orderly or not), or
    /// refuses it with [`crate::ErrorCode::Conflict`] when the group's live
    /// members subscribe otherwise.
    pub fn admit(&self, filter: &Filter, orderly: bool) -> crate::Result<()> {
        let mut s = self.shape.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = filter.to_string();
        if s.members > 0 && (s.filter != wanted || s.orderly != orderly) {
            let mode = |o: bool| if o { "orderly" } else { "concurrently" };
            return Err(crate::Error::Refused {
                code: crate::ErrorCode::Conflict,
                message: format!(
                    "group {} consumes {} with {:?} ({}); this member asks for {:?} ({}): \
                     every member of a group must subscribe alike (stop the others first, \
                     or use another group)",
                    self.group,
                    self.topic,
                    s.filter,
                    mode(s.orderly),
                    wanted,
                    mode(orderly)
                ),
            });
        }
        s.members += 1;
        s.filter = wanted;
        s.orderly = orderly;
        s.left_at = None;
        Ok(())
    }

    /// A member leaves (its connection closed or it unsubscribed).
    pub fn leave(&self, member: MemberId) {
        {
            let mut s = self.shape.lock().unwrap_or_else(|e| e.into_inner());
            s.members = s.members.saturating_sub(1);
            if s.members == 0 {
                s.left_at = Some(std::time::Instant::now());
            }
        }
        self.send(SubEvent::Leave(member));
    }

    /// How long it has had no member (`None` while it has one).
    pub fn unattended_for(&self) -> Option<Duration> {
        let s = self.shape.lock().unwrap_or_else(|e| e.into_inner());
        (s.members == 0).then(|| s.left_at.map_or(Duration::MAX, |t| t.elapsed()))
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
    frames: crate::server::outbox::Outbox,
    max_inflight: u32,
    inflight: u32,
    /// Waiting for its connection's outbound queue to have room (see
    /// `server::outbox`): no deliveries until then.
    waiting_room: bool,
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
    filter: Filter,
    /// One delivery per queue in flight, held until answered (no
    /// visibility timeout), so each queue is consumed strictly in order.
    orderly: bool,
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
                    Some(o) if o < min => {
                        report_retention_skip(group, &t.name, q, o, min);
                        min
                    }
                    Some(o) => o.min(max),
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
            filter: Filter::default(),
            orderly: false,
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
            shape: Arc::new(Mutex::new(Shape {
                left_at: Some(std::time::Instant::now()),
                ..Shape::default()
            })),
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let mut main_rx = self.topic.appended.subscribe();
        let mut retry_rx = self.retry_topic.appended.subscribe();
        loop {
            while self.dispatch().await {}
            let wake = self.next_wake();
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(SubEvent::Forget) | None => break,
                    Some(ev) => self.handle(ev),
                },
                _ = main_rx.changed() => {}
                _ = retry_rx.changed() => {}
                _ = tokio::time::sleep_until(wake) => self.expire(),
                _ = shutdown.cancelled() => break,
            }
            while let Ok(ev) = self.rx.try_recv() {
                if matches!(ev, SubEvent::Forget) {
                    tracing::debug!(group = %self.group, "subscription forgotten");
                    return;
                }
                self.handle(ev);
            }
        }
        tracing::debug!(group = %self.group, topic = %self.topic.name, "subscription stopped");
    }

    fn handle(&mut self, ev: SubEvent) {
        match ev {
            SubEvent::Join(j) => {
                self.filter = j.filter;
                self.orderly = j.orderly;
                self.members.retain(|m| m.id != j.member);
                self.members.push(Member {
                    id: j.member,
                    peer: j.peer,
                    frames: j.frames,
                    max_inflight: j.max_inflight.max(1),
                    inflight: 0,
                    waiting_room: false,
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
            SubEvent::Forget => {}
            SubEvent::Room(member) => {
                if let Some(m) = self.members.iter_mut().find(|m| m.id == member) {
                    m.waiting_room = false;
                }
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

    /// Whether member `mi`'s connection can take deliveries now; if not,
    /// asks to be told when it can.
    fn has_room(&mut self, mi: usize) -> bool {
        let m = &mut self.members[mi];
        if m.waiting_room {
            return false;
        }
        if m.frames.has_room() {
            return true;
        }
        m.waiting_room = true;
        metrics::counter!("mq_delivery_backpressure_total").increment(1);
        let (tx, id) = (self.tx.clone(), m.id);
        m.frames.wake_on_room(move || {
            let _ = tx.send(SubEvent::Room(id));
        });
        false
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
}
