//! Fuzz check of the frame codec.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::message::decode_record;
use crate::protocol::{Frame, FrameBody, FrameCodec, Inbound, encode_frame};

/// Largest frame the fuzzed codec accepts: small, so that the size check
/// is reached too.
const MAX_FRAME: usize = 64 * 1024;

/// Decodes `data` as a stream of frames until it runs out or the codec
/// refuses it; checks what each decoded frame carries.
pub fn frame_decoder(data: &[u8]) {
    let mut codec = FrameCodec::new(MAX_FRAME);
    let mut buf = BytesMut::from(data);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(Inbound::Frame(frame))) => check_frame(&frame),
            Ok(Some(Inbound::Malformed { .. })) => {}
            Ok(None) | Err(_) => break,
        }
    }
    // End of stream with a partial frame left: an error, not a panic.
    let _ = codec.decode_eof(&mut buf);
}

fn check_frame(frame: &Frame) {
    let again = encode_frame(frame.clone());
    let mut buf = BytesMut::from(&again[..]);
    let decoded = FrameCodec::new(usize::MAX).decode(&mut buf);
    assert!(
        matches!(&decoded, Ok(Some(Inbound::Frame(f))) if f == frame),
        "frame {frame:?} re-encoded decodes to {decoded:?}"
    );
    assert!(buf.is_empty(), "re-encoded frame left bytes behind");
    match &frame.body {
        FrameBody::Deliver {
            instance,
            log_offset,
            record,
            ..
        }
        | FrameBody::CheckTxn {
            instance,
            log_offset,
            record,
        } => {
            let _ = decode_record(record, *instance, *log_offset);
        }
        FrameBody::Messages(items) => {
            for (instance, log_offset, record) in items {
                let _ = decode_record(record, *instance, *log_offset);
            }
        }
        FrameBody::Send { message, .. } | FrameBody::SendHalf { message, .. } => {
            let _ = message.validate();
        }
        FrameBody::SendBatch { messages } => {
            for m in messages {
                let _ = m.validate();
            }
        }
        FrameBody::Subscribe { selector, .. } => {
            let _ = crate::filter::Filter::compile(selector);
        }
        _ => {}
    }
}
