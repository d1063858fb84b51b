//! The port's message types, the same on every backend.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;

/// A message to send: topic, one tag, keys, body, properties, and optionally when to
/// deliver it (a delay message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    /// One tag (consumers filter on it); empty for none.
    pub tag: String,
    /// Look-up keys; the first one is the message's business key.
    pub keys: Vec<String>,
    pub body: Bytes,
    /// Application properties (string to string), delivered as sent.
    pub properties: BTreeMap<String, String>,
    /// Deliver no earlier than this (milliseconds since the Unix epoch).
    pub deliver_at_ms: Option<u64>,
}

impl Message {
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            tag: String::new(),
            keys: Vec::new(),
            body: body.into(),
            properties: BTreeMap::new(),
            deliver_at_ms: None,
        }
    }

    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Delivered `delay` from now.
    pub fn with_delay(self, delay: Duration) -> Self {
        let due = now_ms() + delay.as_millis() as u64;
        self.with_deliver_at(due)
    }

    /// Delivered at `deliver_at_ms` (milliseconds since the Unix epoch).
    pub fn with_deliver_at(mut self, deliver_at_ms: u64) -> Self {
        self.deliver_at_ms = Some(deliver_at_ms);
        self
    }
}

/// A message as a consumer (or a check-back) receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The broker's id of the message.
    pub id: String,
    pub topic: String,
    pub tag: String,
    pub keys: Vec<String>,
    pub body: Bytes,
    pub properties: BTreeMap<String, String>,
    /// 1 on the first delivery to the group, then one more per redelivery.
    pub attempt: u32,
    /// When the producer made it (milliseconds since the Unix epoch).
    pub born_at_ms: u64,
    /// When the broker stored it.
    pub stored_at_ms: u64,
}

impl Delivery {
    /// The message's business key: its first key, else its broker id.
    pub fn key(&self) -> &str {
        self.keys.first().unwrap_or(&self.id)
    }
}

/// What the broker answered for a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The broker's id of the message.
    pub id: String,
}

/// A consumer's answer to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    /// Handled: the message is done for this group.
    Ack,
    /// Not now: deliver again on the broker's retry schedule (and, when that runs out,
    /// move it to the group's dead letter queue).
    Later,
}

/// The state of a transactional message: the local transaction's decision, or a
/// check-back's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// Committed: deliver the message.
    Commit,
    /// Not committed: never deliver it.
    Rollback,
    /// Not known yet: the broker asks again later.
    Unknown,
}

impl TxnState {
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Commit => "commit",
            TxnState::Rollback => "rollback",
            TxnState::Unknown => "unknown",
        }
    }
}

/// What a local transaction decided, with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutcome<T> {
    /// Committed: the message becomes visible.
    Commit(T),
    /// Not committed: the message is never delivered.
    Rollback(T),
    /// Not known: the broker checks back later.
    Unknown(T),
}

impl<T> LocalOutcome<T> {
    pub fn state(&self) -> TxnState {
        match self {
            LocalOutcome::Commit(_) => TxnState::Commit,
            LocalOutcome::Rollback(_) => TxnState::Rollback,
            LocalOutcome::Unknown(_) => TxnState::Unknown,
        }
    }

    pub fn into_inner(self) -> T {
        match self {
            LocalOutcome::Commit(t) | LocalOutcome::Rollback(t) | LocalOutcome::Unknown(t) => t,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
