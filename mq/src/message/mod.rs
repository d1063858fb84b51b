//! Messages: what a producer sends ([`Message`]), what the broker stores and
//! delivers ([`StoredMessage`]) and the broker-assigned [`MessageId`].

mod layout;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

pub use layout::{
    RECORD_FIXED_LEN, RecordHeader, decode_message, decode_record, encode_message, encode_record,
    patch_record,
};

use crate::error::{Error, Result};

/// Largest body the broker accepts (4 MiB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Largest encoded size of everything in a message but its body — tag,
/// keys, properties, sharding key — together (1 MiB). With the body limit
/// this keeps every record the broker writes (originals, retry and dead
/// letter copies with their longer topic names, half messages with their
/// producer group) below [`MAX_RECORD_BYTES`].
pub const MAX_HEADERS_BYTES: usize = 1024 * 1024;

/// Largest record payload the broker writes: one record must fit in one
/// delivery frame of the client's decoder, and recovery must believe it.
pub const MAX_RECORD_BYTES: usize = crate::protocol::DEFAULT_MAX_FRAME - 64 * 1024;

/// Longest string a record can hold (a tag, key, property name or value).
const MAX_STRING: usize = u16::MAX as usize;

/// Property asking the broker to delay a message by one of its delay levels
/// (1-based: level 16 is the 16th step of `MQ_DELAY_LEVELS`, 30 minutes by
/// default). The broker resolves and removes it.
pub const PROPERTY_DELAY_LEVEL: &str = "MQ_DELAY_LEVEL";
/// Property asking the broker to delay a message by this many milliseconds
/// from when it stores it. The broker resolves and removes it.
pub const PROPERTY_DELAY_MS: &str = "MQ_DELAY_MS";
/// Property of a half message naming its producer group (set by the broker).
pub const PROPERTY_PRODUCER_GROUP: &str = "MQ_PRODUCER_GROUP";

/// A message as a producer hands it to the broker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub topic: String,
    /// One tag ("" for none); consumers filter on it.
    pub tag: String,
    /// Business keys, for look-up by key.
    pub keys: Vec<String>,
    pub body: Bytes,
    /// Free-form properties, kept and delivered as they are.
    pub properties: BTreeMap<String, String>,
    /// Pins the message to one queue of its topic (ordered messages, issue 5).
    pub sharding_key: Option<String>,
    /// Not visible to consumers before this time (ms since the epoch; delayed
    /// messages, issue 5). `None`: at once.
    pub deliver_at_ms: Option<u64>,
    /// Time the producer created the message (ms since the epoch); set on send.
    pub born_at_ms: u64,
}

impl Message {
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            ..Default::default()
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

    /// Delivers the message `delay` after the broker stored it (any
    /// duration; a zero delay is no delay).
    pub fn with_delay(self, delay: std::time::Duration) -> Self {
        self.with_property(PROPERTY_DELAY_MS, delay.as_millis().to_string())
    }

    /// Delivers the message after the broker's delay level `level` (1-based,
    /// RocketMQ's levels by default: 1 = 1 s … 16 = 30 min … 18 = 2 h; 0 is
    /// no delay).
    pub fn with_delay_level(self, level: u8) -> Self {
        self.with_property(PROPERTY_DELAY_LEVEL, level.to_string())
    }

    /// Delivers the message at this time (ms since the epoch); a time in the
    /// past means at once.
    pub fn with_deliver_at(mut self, deliver_at_ms: u64) -> Self {
        self.deliver_at_ms = Some(deliver_at_ms);
        self
    }

    /// Pins the message to one queue of its topic: messages with the same
    /// sharding key are stored, and consumed by an orderly consumer, in order.
    pub fn with_sharding_key(mut self, key: impl Into<String>) -> Self {
        self.sharding_key = Some(key.into());
        self
    }

    /// Checks what the broker would refuse, so clients fail early and clearly.
    pub fn validate(&self) -> Result<()> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(Error::Refused {
                code: crate::ErrorCode::BodyTooLarge,
                message: body_too_large(self.body.len()),
            });
        }
        validate_topic(&self.topic)?;
        if self.tag.contains("||") || self.tag.trim() != self.tag {
            return Err(Error::Invalid(format!("bad tag {:?}", self.tag)));
        }
        self.validate_headers()
    }

    /// Roughly the bytes this message takes in memory (body and headers).
    pub fn approx_size(&self) -> usize {
        let strings: usize = self.keys.iter().map(|k| k.len() + 24).sum::<usize>()
            + self
                .properties
                .iter()
                .map(|(k, v)| k.len() + v.len() + 48)
                .sum::<usize>();
        128 + self.topic.len() + self.tag.len() + self.body.len() + strings
    }

    /// Checks what travels beside the body: every string fits its 16-bit
    /// length, the lists their 16-bit counts, and all of it together
    /// [`MAX_HEADERS_BYTES`].
    pub fn validate_headers(&self) -> Result<()> {
        let strings = std::iter::once(("tag", &self.tag))
            .chain(self.keys.iter().map(|k| ("key", k)))
            .chain(
                self.properties
                    .iter()
                    .flat_map(|(k, v)| [("property name", k), ("property value", v)]),
            )
            .chain(self.sharding_key.iter().map(|k| ("sharding key", k)));
        let mut total = 0usize;
        for (what, s) in strings {
            if s.len() > MAX_STRING {
                return Err(Error::Invalid(format!(
                    "a {what} of {} bytes is longer than the limit of {MAX_STRING} bytes",
                    s.len()
                )));
            }
            total += 2 + s.len();
        }
        if self.keys.len() > MAX_STRING || self.properties.len() > MAX_STRING {
            return Err(Error::Invalid(format!(
                "{} keys and {} properties: the limit is {MAX_STRING} of each",
                self.keys.len(),
                self.properties.len()
            )));
        }
        if total > MAX_HEADERS_BYTES {
            return Err(Error::Refused {
                code: crate::ErrorCode::BodyTooLarge,
                message: format!(
                    "the tag, keys, properties and sharding key take {total} bytes; \
                     the limit is {MAX_HEADERS_BYTES} bytes (1 MiB)"
                ),
            });
        }
        Ok(())
    }
}

/// The error text for an oversized body.
pub fn body_too_large(len: usize) -> String {
    format!("message body is {len} bytes; the limit is {MAX_BODY_BYTES} bytes (4 MiB)")
}

/// A topic name: 1–200 characters of letters, digits, `-`, `_`, `.`; names
/// starting with `%` are reserved for the broker (retry and dead letter topics).
pub fn validate_topic(topic: &str) -> Result<()> {
    let ok = !topic.is_empty()
        && topic.len() <= 200
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "bad topic name {topic:?}: use 1-200 of [A-Za-z0-9._-]"
        )))
    }
}

/// Broker-assigned unique id: the store's instance id and the physical log
/// offset of the message's first record. Retried copies keep the original id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    pub instance: u64,
    pub offset: u64,
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}{:016X}", self.instance, self.offset)
    }
}

impl FromStr for MessageId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("bad message id {s:?}"));
        if s.len() != 32 || !s.is_ascii() {
            return Err(bad());
        }
        let instance = u64::from_str_radix(&s[..16], 16).map_err(|_| bad())?;
        let offset = u64::from_str_radix(&s[16..], 16).map_err(|_| bad())?;
        Ok(MessageId { instance, offset })
    }
}

/// A message as stored in the log and delivered to consumers.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: MessageId,
    pub topic: String,
    pub tag: String,
    pub keys: Vec<String>,
    pub body: Bytes,
    pub properties: BTreeMap<String, String>,
    pub sharding_key: Option<String>,
    /// The topic whose queue holds this record (differs from `topic` for
    /// retry and dead letter copies).
    pub store_topic: String,
    pub queue: u32,
    pub queue_offset: u64,
    pub born_at_ms: u64,
    pub stored_at_ms: u64,
    pub deliver_at_ms: u64,
    /// Delivery attempt this record stands for: 1 for the original, n+1 for
    /// the n-th retry.
    pub attempt: u32,
    /// Physical offset of this record in the log.
    pub log_offset: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl StoredMessage {
    /// The body as text (lossy for non-UTF-8 bodies).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Everything about the message, as the admin API shows it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "topic": self.topic,
            "tag": self.tag,
            "keys": self.keys,
            "body": self.body_text(),
            "body_bytes": self.body.len(),
            "properties": self.properties,
            "attempt": self.attempt,
            "store_topic": self.store_topic,
            "queue": self.queue,
            "offset": self.queue_offset,
            "born_at_ms": self.born_at_ms,
            "stored_at_ms": self.stored_at_ms,
            "deliver_at_ms": self.deliver_at_ms,
        })
    }
}
