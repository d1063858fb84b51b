//! One module per command; [`handle`] routes a decoded frame to it.
//! Commands that touch the disk run on their own task so that one
//! connection can have many requests in flight.

mod ack;
mod lookup;
mod send;
mod subscribe;
mod txn;

use tokio::sync::OwnedSemaphorePermit;

use super::connection::ConnState;
use crate::broker::subscription::SubEvent;
use crate::error::Error;
use crate::protocol::{Frame, FrameBody};

/// Routes one request; `permit` is its share of the connection's budget
/// for requests in flight, held until it is answered.
pub fn handle(state: &mut ConnState, frame: Frame, permit: OwnedSemaphorePermit) {
    let id = frame.request_id;
    match frame.body {
        FrameBody::Ping => state.reply(id, FrameBody::Pong),
        FrameBody::Hello {
            client_id,
            producer_group,
        } => txn::hello(state, id, client_id, producer_group),
        FrameBody::SendHalf {
            producer_group,
            message,
        } => txn::send_half(state, id, producer_group, message, permit),
        FrameBody::EndTxn {
            id: msg_id,
            producer_group,
            state: txn_state,
            from_check,
        } => txn::end(
            state,
            id,
            (msg_id, producer_group, txn_state, from_check),
            permit,
        ),
        FrameBody::Send { oneway, message } => send::send(state, id, oneway, message, permit),
        FrameBody::SendBatch { messages } => send::send_batch(state, id, messages, permit),
        FrameBody::Subscribe {
            group,
            topic,
            selector,
            max_inflight,
            from,
            mode,
        } => subscribe::subscribe(
            state,
            id,
            &group,
            &topic,
            &selector,
            max_inflight,
            from,
            mode,
        ),
        FrameBody::Unsubscribe { subscription } => subscribe::unsubscribe(state, id, subscription),
        FrameBody::Ack {
            subscription,
            queue,
            queue_offset,
        } => ack::answer(
            state,
            subscription,
            SubEvent::Ack {
                queue,
                offset: queue_offset,
            },
        ),
        FrameBody::Later {
            subscription,
            queue,
            queue_offset,
        } => ack::answer(
            state,
            subscription,
            SubEvent::Later {
                queue,
                offset: queue_offset,
            },
        ),
        FrameBody::Release {
            subscription,
            queue,
            queue_offset,
        } => ack::answer(
            state,
            subscription,
            SubEvent::Release {
                queue,
                offset: queue_offset,
            },
        ),
        FrameBody::LookupId { id: msg_id } => lookup::by_id(state, id, msg_id, permit),
        FrameBody::LookupKey { topic, key } => lookup::by_key(state, id, topic, key, permit),
        FrameBody::LookupKeyPage {
            topic,
            key,
            before,
            limit,
        } => lookup::by_key_page(state, id, (topic, key, before, limit), permit),
        other => state.reply_error(
            id,
            &Error::Invalid(format!(
                "frame kind 0x{:02X} is not a request",
                other.kind()
            )),
        ),
    }
}
