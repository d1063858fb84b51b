//! Framing over a byte stream: a `tokio_util` codec that splits frames by
//! their length prefix and decodes them. A frame whose body is malformed is
//! reported as [`Inbound::Malformed`] (the stream stays in sync, the peer gets
//! an error frame); only an oversized length or an I/O error ends the stream.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{Frame, FrameBody, HEADER_LEN};
use crate::error::{Error, ErrorCode};

/// What the decoder produced from one length-prefixed frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Frame(Frame),
    /// The frame was well delimited but its content is not valid.
    Malformed {
        request_id: u64,
        reason: String,
    },
}

/// Length-prefixed frame codec with a maximum frame size.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    pub fn new(max_frame: usize) -> Self {
        FrameCodec { max_frame }
    }
}

impl Decoder for FrameCodec {
    type Item = Inbound;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, Error> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(Error::Refused {
                code: ErrorCode::FrameTooLarge,
                message: format!(
                    "frame of {len} bytes exceeds the limit of {} bytes",
                    self.max_frame
                ),
            });
        }
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        let mut frame = src.split_to(len).freeze();
        if len < HEADER_LEN - 4 {
            return Ok(Some(Inbound::Malformed {
                request_id: 0,
                reason: format!("frame of {len} bytes is shorter than its header"),
            }));
        }
        let kind = frame[0];
        let request_id = u64::from_be_bytes(frame[1..9].try_into().unwrap_or([0; 8]));
        frame.advance(9);
        Ok(Some(match FrameBody::decode(kind, &frame) {
            Ok(body) => Inbound::Frame(Frame { request_id, body }),
            Err(e) => Inbound::Malformed {
                request_id,
                reason: e.to_string(),
            },
        }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), Error> {
        let start = dst.len();
        dst.put_u32(0);
        dst.put_u8(frame.body.kind());
        dst.put_u64(frame.request_id);
        frame.body.encode(dst);
        let len = dst.len() - start - 4;
        dst[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }
}

/// Encodes one frame into a fresh buffer (used by clients and tests).
pub fn encode_frame(frame: Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    let _ = FrameCodec::new(usize::MAX).encode(frame, &mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::protocol::SendReceipt;
    use rand::{Rng, SeedableRng};

    fn round_trip(body: FrameBody) {
        let bytes = encode_frame(Frame {
            request_id: 7,
            body: body.clone(),
        });
        let mut buf = BytesMut::from(&bytes[..]);
        let got = FrameCodec::new(1 << 20).decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            got,
            Inbound::Frame(Frame {
                request_id: 7,
                body
            })
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn every_frame_kind_round_trips() {
        let m = Message::new("t", "body")
            .with_tag("a")
            .with_key("k")
            .with_property("p", "v");
        round_trip(FrameBody::Ping);
        round_trip(FrameBody::Send {
            oneway: true,
            message: m.clone(),
        });
        round_trip(FrameBody::SendBatch {
            messages: vec![m.clone(), m],
        });
        round_trip(FrameBody::SendOk(SendReceipt {
            id: "x".into(),
            queue: 1,
            queue_offset: 2,
        }));
        round_trip(FrameBody::Ack {
            subscription: 1,
            queue: 2,
            queue_offset: 3,
        });
        round_trip(FrameBody::Error {
            code: ErrorCode::BodyTooLarge,
            message: "big".into(),
        });
        round_trip(FrameBody::SendHalf {
            producer_group: "pg".into(),
            message: Message::new("t", "half"),
        });
        round_trip(FrameBody::EndTxn {
            id: "id".into(),
            producer_group: "pg".into(),
            state: crate::protocol::TxnState::Rollback,
            from_check: true,
        });
        round_trip(FrameBody::CheckTxn {
            instance: 1,
            log_offset: 2,
            record: bytes::Bytes::from_static(b"r"),
        });
        round_trip(FrameBody::Subscribe {
            group: "g".into(),
            topic: "t".into(),
            selector: crate::filter::MessageSelector::Sql92("a > 1".into()),
            max_inflight: 4,
            from: crate::protocol::ConsumeFrom::Latest,
            mode: crate::protocol::ConsumeMode::Broadcast {
                instance: "a".into(),
            },
        });
        round_trip(FrameBody::Messages(vec![(
            1,
            2,
            bytes::Bytes::from_static(b"r"),
        )]));
    }

    #[test]
    fn an_unknown_kind_is_malformed_and_the_next_frame_still_decodes() {
        let mut buf = BytesMut::new();
        buf.put_u32(9);
        buf.put_u8(0x7E);
        buf.put_u64(5);
        buf.extend_from_slice(&encode_frame(Frame {
            request_id: 6,
            body: FrameBody::Ping,
        }));
        let mut codec = FrameCodec::new(1024);
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Inbound::Malformed { request_id: 5, .. })
        ));
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Inbound::Frame(_))
        ));
    }

    #[test]
    fn an_oversized_length_is_refused_before_buffering() {
        let mut buf = BytesMut::new();
        buf.put_u32(1 << 30);
        assert!(FrameCodec::new(1024).decode(&mut buf).is_err());
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let valid = encode_frame(Frame {
            request_id: 1,
            body: FrameBody::Send {
                oneway: false,
                message: Message::new("t", "x").with_key("k"),
            },
        });
        for round in 0..20_000 {
            let mut bytes: Vec<u8> = if round % 2 == 0 {
                // Mutations of a valid frame reach deep into the body decoder.
                let mut v = valid.to_vec();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..v.len());
                    v[i] = rng.random();
                }
                v
            } else {
                (0..rng.random_range(0..64)).map(|_| rng.random()).collect()
            };
            if round % 3 == 0 {
                bytes.truncate(rng.random_range(0..=bytes.len()));
            }
            let mut buf = BytesMut::from(&bytes[..]);
            let mut codec = FrameCodec::new(4096);
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
        }
    }
}
