//! Byte layout of a message inside a send frame and of a log record payload.
//!
//! A record payload is a fixed header (version, kind, queue offset, store
//! time, queue, attempt, origin offset, deliver-at) followed by the store
//! topic and the message itself. The log writer patches queue offset and
//! store time in place just before writing, so connection tasks can encode
//! records without holding any lock.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Message, MessageId, StoredMessage};
use crate::error::{Error, Result};
use crate::wire::{WireReader, WireWrite};

const VERSION: u8 = 1;
/// Record kinds. Delayed and half messages and transaction ops are message
/// records too, in reserved topics (`%DELAY%`, `%HALF%`, `%TXN_OP%`); a
/// record that resolves another names it as its origin.
pub const KIND_MESSAGE: u8 = 1;
/// Length of the fixed part of a record payload.
pub const RECORD_FIXED_LEN: usize = 42;
const NO_ORIGIN: u64 = u64::MAX;

/// The fixed fields of a record that the broker sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub queue: u32,
    pub attempt: u32,
    /// Log offset of the original message for retry and dead letter copies.
    pub origin_offset: Option<u64>,
    pub deliver_at_ms: u64,
}

/// Encodes the message part (used in send frames and inside records).
pub fn encode_message(m: &Message, out: &mut BytesMut) {
    out.reserve(64 + m.body.len());
    out.put_str16(&m.topic);
    out.put_str16(&m.tag);
    out.put_strings(&m.keys);
    out.put_u16(m.properties.len().min(u16::MAX as usize) as u16);
    for (k, v) in m.properties.iter().take(u16::MAX as usize) {
        out.put_str16(k);
        out.put_str16(v);
    }
    out.put_str16(m.sharding_key.as_deref().unwrap_or(""));
    out.put_u64(m.deliver_at_ms.unwrap_or(0));
    out.put_u64(m.born_at_ms);
    out.put_bytes32(&m.body);
}

/// Decodes the message part; `whole` is the buffer `r` reads from, so the
/// body is a zero-copy slice of it.
pub fn decode_message(r: &mut WireReader<'_>, whole: &Bytes) -> Result<Message> {
    let topic = r.str16()?;
    let tag = r.str16()?;
    let keys = r.strings()?;
    let n = r.u16()? as usize;
    let mut properties = BTreeMap::new();
    for _ in 0..n {
        let k = r.str16()?;
        let v = r.str16()?;
        properties.insert(k, v);
    }
    let sharding_key = Some(r.str16()?).filter(|s| !s.is_empty());
    let deliver_at_ms = Some(r.u64()?).filter(|&t| t != 0);
    let born_at_ms = r.u64()?;
    let body = whole.slice_ref(r.bytes32()?);
    Ok(Message {
        topic,
        tag,
        keys,
        body,
        properties,
        sharding_key,
        deliver_at_ms,
        born_at_ms,
    })
}

/// Encodes a full record payload with queue offset and store time left zero
/// (see [`patch_record`]).
pub fn encode_record(h: &RecordHeader, store_topic: &str, m: &Message) -> BytesMut {
    let mut out = BytesMut::with_capacity(RECORD_FIXED_LEN + 96 + m.body.len());
    out.put_u8(VERSION);
    out.put_u8(KIND_MESSAGE);
    out.put_u64(0);
    out.put_u64(0);
    out.put_u32(h.queue);
    out.put_u32(h.attempt);
    out.put_u64(h.origin_offset.unwrap_or(NO_ORIGIN));
    out.put_u64(h.deliver_at_ms);
    out.put_str16(store_topic);
    encode_message(m, &mut out);
    out
}

/// Sets the queue offset and store time of an encoded record.
pub fn patch_record(payload: &mut [u8], queue_offset: u64, stored_at_ms: u64) {
    payload[2..10].copy_from_slice(&queue_offset.to_be_bytes());
    payload[10..18].copy_from_slice(&stored_at_ms.to_be_bytes());
}

/// Decodes a record payload stored at `log_offset` by store `instance`.
pub fn decode_record(payload: &Bytes, instance: u64, log_offset: u64) -> Result<StoredMessage> {
    let mut r = WireReader::new(payload);
    let version = r.u8()?;
    if version != VERSION {
        return Err(Error::Malformed(format!(
            "unknown record version {version}"
        )));
    }
    let kind = r.u8()?;
    if kind != KIND_MESSAGE {
        return Err(Error::Malformed(format!("unknown record kind {kind}")));
    }
    let queue_offset = r.u64()?;
    let stored_at_ms = r.u64()?;
    let queue = r.u32()?;
    let attempt = r.u32()?;
    let origin = r.u64()?;
    let deliver_at_ms = r.u64()?;
    let store_topic = r.str16()?;
    let m = decode_message(&mut r, payload)?;
    r.finish()?;
    let id_offset = if origin == NO_ORIGIN {
        log_offset
    } else {
        origin
    };
    Ok(StoredMessage {
        id: MessageId {
            instance,
            offset: id_offset,
        },
        topic: m.topic,
        tag: m.tag,
        keys: m.keys,
        body: m.body,
        properties: m.properties,
        sharding_key: m.sharding_key,
        store_topic,
        queue,
        queue_offset,
        born_at_ms: m.born_at_ms,
        stored_at_ms,
        deliver_at_ms,
        attempt,
        log_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_with_patched_offset_and_time() {
        let m = Message::new("orders", "hello")
            .with_tag("created")
            .with_key("o-1")
            .with_property("trace", "abc");
        let h = RecordHeader {
            queue: 3,
            attempt: 2,
            origin_offset: Some(77),
            deliver_at_ms: 5,
        };
        let mut rec = encode_record(&h, "%RETRY%g%orders", &m);
        patch_record(&mut rec, 42, 1234);
        let got = decode_record(&rec.freeze(), 9, 1000).unwrap();
        assert_eq!(got.queue_offset, 42);
        assert_eq!(got.stored_at_ms, 1234);
        assert_eq!(
            got.id,
            MessageId {
                instance: 9,
                offset: 77
            }
        );
        assert_eq!(got.tag, "created");
        assert_eq!(got.keys, vec!["o-1".to_string()]);
        assert_eq!(&got.body[..], b"hello");
        assert_eq!(got.properties["trace"], "abc");
        assert_eq!(got.attempt, 2);
    }

    #[test]
    fn message_ids_print_and_parse_back() {
        let id = MessageId {
            instance: 0xABCD,
            offset: 99,
        };
        assert_eq!(id.to_string().parse::<MessageId>().unwrap(), id);
        assert!("zz".parse::<MessageId>().is_err());
    }
}
