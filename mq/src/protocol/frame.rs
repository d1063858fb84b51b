//! Frame kinds and their bodies, with encoding and (never panicking) decoding.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, ErrorCode, Result};
use crate::filter::MessageSelector;
use crate::message::{Message, decode_message, encode_message};
use crate::wire::{WireReader, WireWrite};

/// Frame kind numbers. Client requests are below 0x80, broker frames above.
pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const PING: u8 = 0x02;
    pub const SEND: u8 = 0x10;
    pub const SEND_BATCH: u8 = 0x11;
    pub const SUBSCRIBE: u8 = 0x20;
    pub const UNSUBSCRIBE: u8 = 0x21;
    pub const ACK: u8 = 0x22;
    pub const LATER: u8 = 0x23;
    pub const RELEASE: u8 = 0x24;
    pub const LOOKUP_ID: u8 = 0x30;
    pub const LOOKUP_KEY: u8 = 0x31;
    pub const LOOKUP_KEY_PAGE: u8 = 0x32;
    pub const END_TXN: u8 = 0x40;
    pub const SEND_HALF: u8 = 0x41;
    pub const DONE: u8 = 0x81;
    pub const PONG: u8 = 0x82;
    pub const SEND_OK: u8 = 0x90;
    pub const SEND_BATCH_OK: u8 = 0x91;
    pub const SUBSCRIBED: u8 = 0xA0;
    pub const DELIVER: u8 = 0xA1;
    pub const MESSAGES: u8 = 0xB0;
    pub const KEY_PAGE: u8 = 0xB1;
    pub const CHECK_TXN: u8 = 0xC0;
    pub const ERROR: u8 = 0xFF;
}

/// Where a new consumer group starts reading a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsumeFrom {
    /// From the oldest retained message.
    #[default]
    Earliest,
    /// Only messages stored after the group first subscribed.
    Latest,
}

/// The state of a transaction: a producer's decision or check-back answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// The local transaction committed: deliver the message.
    Commit,
    /// It did not: the message must never be delivered.
    Rollback,
    /// Not known yet: ask again later.
    Unknown,
}

impl TxnState {
    pub fn as_u8(self) -> u8 {
        match self {
            TxnState::Commit => 1,
            TxnState::Rollback => 2,
            TxnState::Unknown => 0,
        }
    }

    pub fn from_u8(n: u8) -> TxnState {
        match n {
            1 => TxnState::Commit,
            2 => TxnState::Rollback,
            _ => TxnState::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TxnState::Commit => "commit",
            TxnState::Rollback => "rollback",
            TxnState::Unknown => "unknown",
        }
    }
}

/// How a member consumes its group's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConsumeMode {
    /// Each message to one member of the group.
    #[default]
    Clustering,
    /// Each message to one member, a queue strictly in order: one delivery
    /// of a queue in flight at a time, held by its member until answered.
    Orderly,
    /// Every member (named by its instance) gets every message, with its
    /// own offsets.
    Broadcast { instance: String },
}

/// Where the broker stored a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub id: String,
    pub queue: u32,
    pub queue_offset: u64,
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub request_id: u64,
    pub body: FrameBody,
}

/// The body of each frame kind.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameBody {
    /// Names the client (for logs and, with issue 5, its producer group).
    Hello {
        client_id: String,
        producer_group: String,
    },
    Ping,
    /// Store one message; `oneway` asks for no reply.
    Send {
        oneway: bool,
        message: Message,
    },
    /// Store several messages of one topic, acknowledged together.
    SendBatch {
        messages: Vec<Message>,
    },
    /// Join `group` as a consumer of `topic`, receiving the messages that
    /// `selector` (tags or SQL92) selects; `max_inflight` bounds the
    /// deliveries pushed but not yet answered.
    Subscribe {
        group: String,
        topic: String,
        selector: MessageSelector,
        max_inflight: u32,
        from: ConsumeFrom,
        mode: ConsumeMode,
    },
    Unsubscribe {
        subscription: u32,
    },
    /// Store a half (transactional) message for `producer_group`: invisible
    /// until committed. Answered with `SendOk`.
    SendHalf {
        producer_group: String,
        message: Message,
    },
    /// Decide a half message (by id); also the answer to a check-back.
    /// Answered with `Done`.
    EndTxn {
        id: String,
        producer_group: String,
        state: TxnState,
        from_check: bool,
    },
    /// Delivery handled: request id 0, no reply.
    Ack {
        subscription: u32,
        queue: u32,
        queue_offset: u64,
    },
    /// Delivery to be retried later (schedule of the broker): no reply.
    Later {
        subscription: u32,
        queue: u32,
        queue_offset: u64,
    },
    /// Delivery handed back untouched (consumer stopping): redelivered at
    /// once, the attempt not counted. No reply.
    Release {
        subscription: u32,
        queue: u32,
        queue_offset: u64,
    },
    LookupId {
        id: String,
    },
    LookupKey {
        topic: String,
        key: String,
    },
    /// One page of the messages of `topic` with `key`: the newest at most
    /// `limit` whose log offset is below `before` (`u64::MAX`: the newest),
    /// within one frame. Answered with `KeyPage`.
    LookupKeyPage {
        topic: String,
        key: String,
        before: u64,
        limit: u32,
    },

    Done,
    Pong,
    SendOk(SendReceipt),
    SendBatchOk(Vec<SendReceipt>),
    Subscribed {
        subscription: u32,
    },
    /// A message pushed to a consumer: the raw record payload plus where it
    /// lives, decoded by the client with [`crate::message::decode_record`].
    Deliver {
        subscription: u32,
        queue: u32,
        queue_offset: u64,
        instance: u64,
        log_offset: u64,
        record: Bytes,
    },
    /// The broker asks a producer of the half message's group for its
    /// outcome (request id 0; answered with `EndTxn`).
    CheckTxn {
        instance: u64,
        log_offset: u64,
        record: Bytes,
    },
    /// Look-up answers: raw records as in `Deliver`.
    Messages(Vec<(u64, u64, Bytes)>),
    /// Answer to `LookupKeyPage`: raw records as in `Messages`, oldest
    /// first, and where the next (older) page ends: ask again with
    /// `before: next_before`; 0 when there is nothing older.
    KeyPage {
        messages: Vec<(u64, u64, Bytes)>,
        next_before: u64,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

impl FrameBody {
    pub fn kind(&self) -> u8 {
        use FrameBody::*;
        match self {
            Hello { .. } => kind::HELLO,
            Ping => kind::PING,
            Send { .. } => kind::SEND,
            SendBatch { .. } => kind::SEND_BATCH,
            Subscribe { .. } => kind::SUBSCRIBE,
            Unsubscribe { .. } => kind::UNSUBSCRIBE,
            SendHalf { .. } => kind::SEND_HALF,
            EndTxn { .. } => kind::END_TXN,
            CheckTxn { .. } => kind::CHECK_TXN,
            Ack { .. } => kind::ACK,
            Later { .. } => kind::LATER,
            Release { .. } => kind::RELEASE,
            LookupId { .. } => kind::LOOKUP_ID,
            LookupKey { .. } => kind::LOOKUP_KEY,
            LookupKeyPage { .. } => kind::LOOKUP_KEY_PAGE,
            Done => kind::DONE,
            Pong => kind::PONG,
            SendOk(_) => kind::SEND_OK,
            SendBatchOk(_) => kind::SEND_BATCH_OK,
            Subscribed { .. } => kind::SUBSCRIBED,
            Deliver { .. } => kind::DELIVER,
            Messages(_) => kind::MESSAGES,
            KeyPage { .. } => kind::KEY_PAGE,
            Error { .. } => kind::ERROR,
        }
    }

    /// Appends the body bytes.
    pub fn encode(&self, out: &mut BytesMut) {
        use FrameBody::*;
        match self {
            Hello {
                client_id,
                producer_group,
            } => {
                out.put_str16(client_id);
                out.put_str16(producer_group);
            }
            Ping | Done | Pong => {}
            Send { oneway, message } => {
                out.put_u8(*oneway as u8);
                encode_message(message, out);
            }
            SendBatch { messages } => {
                out.put_u32(messages.len() as u32);
                for m in messages {
                    encode_message(m, out);
                }
            }
            Subscribe {
                group,
                topic,
                selector,
                max_inflight,
                from,
                mode,
            } => {
                out.put_str16(group);
                out.put_str16(topic);
                out.put_u8(selector.type_byte());
                out.put_str16(selector.expression());
                out.put_u32(*max_inflight);
                out.put_u8(matches!(from, ConsumeFrom::Latest) as u8);
                let (m, instance) = match mode {
                    ConsumeMode::Clustering => (0, ""),
                    ConsumeMode::Orderly => (1, ""),
                    ConsumeMode::Broadcast { instance } => (2, instance.as_str()),
                };
                out.put_u8(m);
                out.put_str16(instance);
            }
            Unsubscribe { subscription } => out.put_u32(*subscription),
            SendHalf {
                producer_group,
                message,
            } => {
                out.put_str16(producer_group);
                encode_message(message, out);
            }
            EndTxn {
                id,
                producer_group,
                state,
                from_check,
            } => {
                out.put_str16(id);
                out.put_str16(producer_group);
                out.put_u8(state.as_u8());
                out.put_u8(*from_check as u8);
            }
            CheckTxn {
                instance,
                log_offset,
                record,
            } => {
                out.put_u64(*instance);
                out.put_u64(*log_offset);
                out.put_bytes32(record);
            }
            Ack {
                subscription,
                queue,
                queue_offset,
            }
            | Later {
                subscription,
                queue,
                queue_offset,
            }
            | Release {
                subscription,
                queue,
                queue_offset,
            } => {
                out.put_u32(*subscription);
                out.put_u32(*queue);
                out.put_u64(*queue_offset);
            }
            LookupId { id } => out.put_str16(id),
            LookupKey { topic, key } => {
                out.put_str16(topic);
                out.put_str16(key);
            }
            LookupKeyPage {
                topic,
                key,
                before,
                limit,
            } => {
                out.put_str16(topic);
                out.put_str16(key);
                out.put_u64(*before);
                out.put_u32(*limit);
            }
            SendOk(r) => put_receipt(out, r),
            SendBatchOk(rs) => {
                out.put_u32(rs.len() as u32);
                rs.iter().for_each(|r| put_receipt(out, r));
            }
            Subscribed { subscription } => out.put_u32(*subscription),
            Deliver {
                subscription,
                queue,
                queue_offset,
                instance,
                log_offset,
                record,
            } => {
                out.put_u32(*subscription);
                out.put_u32(*queue);
                out.put_u64(*queue_offset);
                out.put_u64(*instance);
                out.put_u64(*log_offset);
                out.put_bytes32(record);
            }
            Messages(items) => put_records(out, items),
            KeyPage {
                messages,
                next_before,
            } => {
                put_records(out, messages);
                out.put_u64(*next_before);
            }
            Error { code, message } => {
                out.put_u16(code.as_u16());
                out.put_str16(message);
            }
        }
    }

    /// Decodes a body of the given kind; `whole` is the body buffer.
    pub fn decode(kind_byte: u8, whole: &Bytes) -> Result<FrameBody> {
        use FrameBody::*;
        let r = &mut WireReader::new(whole);
        let body = match kind_byte {
            kind::HELLO => Hello {
                client_id: r.str16()?,
                producer_group: r.str16()?,
            },
            kind::PING => Ping,
            kind::DONE => Done,
            kind::PONG => Pong,
            kind::SEND => {
                let oneway = r.u8()? != 0;
                Send {
                    oneway,
                    message: decode_message(r, whole)?,
                }
            }
            kind::SEND_BATCH => {
                let n = r.u32()? as usize;
                check_count(n, r.remaining(), 20)?;
                let messages = (0..n)
                    .map(|_| decode_message(r, whole))
                    .collect::<Result<_>>()?;
                SendBatch { messages }
            }
            kind::SUBSCRIBE => Subscribe {
                group: r.str16()?,
                topic: r.str16()?,
                selector: MessageSelector::from_wire(r.u8()?, r.str16()?)?,
                max_inflight: r.u32()?,
                from: if r.u8()? == 1 {
                    ConsumeFrom::Latest
                } else {
                    ConsumeFrom::Earliest
                },
                mode: match (r.u8()?, r.str16()?) {
                    (1, _) => ConsumeMode::Orderly,
                    (2, instance) => ConsumeMode::Broadcast { instance },
                    _ => ConsumeMode::Clustering,
                },
            },
            kind::SEND_HALF => SendHalf {
                producer_group: r.str16()?,
                message: decode_message(r, whole)?,
            },
            kind::END_TXN => EndTxn {
                id: r.str16()?,
                producer_group: r.str16()?,
                state: TxnState::from_u8(r.u8()?),
                from_check: r.u8()? != 0,
            },
            kind::CHECK_TXN => CheckTxn {
                instance: r.u64()?,
                log_offset: r.u64()?,
                record: whole.slice_ref(r.bytes32()?),
            },
            kind::UNSUBSCRIBE => Unsubscribe {
                subscription: r.u32()?,
            },
            kind::ACK => Ack {
                subscription: r.u32()?,
                queue: r.u32()?,
                queue_offset: r.u64()?,
            },
            kind::LATER => Later {
                subscription: r.u32()?,
                queue: r.u32()?,
                queue_offset: r.u64()?,
            },
            kind::RELEASE => Release {
                subscription: r.u32()?,
                queue: r.u32()?,
                queue_offset: r.u64()?,
            },
            kind::LOOKUP_ID => LookupId { id: r.str16()? },
            kind::LOOKUP_KEY => LookupKey {
                topic: r.str16()?,
                key: r.str16()?,
            },
            kind::LOOKUP_KEY_PAGE => LookupKeyPage {
                topic: r.str16()?,
                key: r.str16()?,
                before: r.u64()?,
                limit: r.u32()?,
            },
            kind::SEND_OK => SendOk(get_receipt(r)?),
            kind::SEND_BATCH_OK => {
                let n = r.u32()? as usize;
                check_count(n, r.remaining(), 14)?;
                SendBatchOk((0..n).map(|_| get_receipt(r)).collect::<Result<_>>()?)
            }
            kind::SUBSCRIBED => Subscribed {
                subscription: r.u32()?,
            },
            kind::DELIVER => Deliver {
                subscription: r.u32()?,
                queue: r.u32()?,
                queue_offset: r.u64()?,
                instance: r.u64()?,
                log_offset: r.u64()?,
                record: whole.slice_ref(r.bytes32()?),
            },
            kind::MESSAGES => Messages(get_records(r, whole)?),
            kind::KEY_PAGE => KeyPage {
                messages: get_records(r, whole)?,
                next_before: r.u64()?,
            },
            kind::ERROR => Error {
                code: ErrorCode::from_u16(r.u16()?),
                message: r.str16()?,
            },
            other => {
                return Err(crate::Error::Malformed(format!(
                    "unknown frame kind 0x{other:02X}"
                )));
            }
        };
        r.finish()?;
        Ok(body)
    }
}

fn put_records(out: &mut BytesMut, items: &[(u64, u64, Bytes)]) {
    out.put_u32(items.len() as u32);
    for (instance, log_offset, record) in items {
        out.put_u64(*instance);
        out.put_u64(*log_offset);
        out.put_bytes32(record);
    }
}

fn get_records(r: &mut WireReader<'_>, whole: &Bytes) -> Result<Vec<(u64, u64, Bytes)>> {
    let n = r.u32()? as usize;
    check_count(n, r.remaining(), 20)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let instance = r.u64()?;
        let offset = r.u64()?;
        items.push((instance, offset, whole.slice_ref(r.bytes32()?)));
    }
    Ok(items)
}

fn check_count(n: usize, remaining: usize, min_each: usize) -> Result<()> {
    if n.saturating_mul(min_each) > remaining {
        return Err(Error::Malformed(format!(
            "count {n} does not fit the frame"
        )));
    }
    Ok(())
}

fn put_receipt(out: &mut BytesMut, r: &SendReceipt) {
    out.put_str16(&r.id);
    out.put_u32(r.queue);
    out.put_u64(r.queue_offset);
}

fn get_receipt(r: &mut WireReader<'_>) -> Result<SendReceipt> {
    Ok(SendReceipt {
        id: r.str16()?,
        queue: r.u32()?,
        queue_offset: r.u64()?,
    })
}
