//! `Subscribe` and `Unsubscribe`: join or leave a consumer group's
//! subscription to a topic; deliveries are then pushed on this connection.

use crate::broker::subscription::{Join, SubEvent};
use crate::broker::tags::TagExpr;
use crate::error::Error;
use crate::message::validate_topic;
use crate::protocol::{ConsumeFrom, ConsumeMode, FrameBody};
use crate::server::connection::ConnState;

#[allow(clippy::too_many_arguments)]
pub fn subscribe(
    state: &mut ConnState,
    request_id: u64,
    group: &str,
    topic: &str,
    tag_expr: &str,
    max_inflight: u32,
    from: ConsumeFrom,
    _mode: ConsumeMode,
) {
    let checked = validate_topic(topic)
        .and_then(|_| validate_group(group))
        .and_then(|_| TagExpr::parse(tag_expr));
    let tag_expr = match checked {
        Ok(t) => t,
        Err(e) => return state.reply_error(request_id, &e),
    };
    let sub = state.core.subscription(group, topic, from);
    let member = state.core.next_id();
    sub.send(SubEvent::Join(Join {
        member,
        peer: state.peer.to_string(),
        frames: state.out.clone(),
        tag_expr,
        max_inflight: max_inflight.clamp(1, 10_000),
    }));
    state.reply(
        request_id,
        FrameBody::Subscribed {
            subscription: sub.id,
        },
    );
    state.joined.push((sub, member));
}

pub fn unsubscribe(state: &mut ConnState, request_id: u64, subscription: u32) {
    state.joined.retain(|(sub, member)| {
        let leaving = sub.id == subscription;
        if leaving {
            sub.send(SubEvent::Leave(*member));
        }
        !leaving
    });
    state.reply(request_id, FrameBody::Done);
}

fn validate_group(group: &str) -> crate::Result<()> {
    validate_topic(group).map_err(|_| Error::Invalid(format!("bad group name {group:?}")))
}
