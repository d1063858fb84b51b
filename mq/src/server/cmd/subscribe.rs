//! `Subscribe` and `Unsubscribe`: join or leave a consumer group's
//! subscription to a topic; deliveries are then pushed on this connection.

use crate::broker::subscription::{Join, SubEvent};

use crate::error::Error;
use crate::filter::{Filter, MessageSelector};
use crate::message::validate_topic;
use crate::protocol::{ConsumeFrom, ConsumeMode, FrameBody};
use crate::server::connection::ConnState;

use crate::broker::BROADCAST_SEPARATOR;

#[allow(clippy::too_many_arguments)]
pub fn subscribe(
    state: &mut ConnState,
    request_id: u64,
    group: &str,
    topic: &str,
    selector: &MessageSelector,
    max_inflight: u32,
    from: ConsumeFrom,
    mode: ConsumeMode,
) {
    let checked = validate_topic(topic)
        .and_then(|_| validate_group(group))
        .and_then(|_| Filter::compile(selector));
    let filter = match checked {
        Ok(t) => t,
        Err(e) => return state.reply_error(request_id, &e),
    };
    // A broadcast member is a group of its own: its own cursors and offsets.
    let (group, orderly) = match &mode {
        ConsumeMode::Broadcast { instance } => match validate_group(instance) {
            Ok(()) => (format!("{group}{BROADCAST_SEPARATOR}{instance}"), false),
            Err(_) => {
                let e = Error::Invalid(format!("bad instance name {instance:?}"));
                return state.reply_error(request_id, &e);
            }
        },
        ConsumeMode::Orderly => (group.to_string(), true),
        ConsumeMode::Clustering => (group.to_string(), false),
    };
    let sub = match state.core.join(&group, topic, from, &filter, orderly) {
        Ok(sub) => sub,
        Err(e) => return state.reply_error(request_id, &e),
    };
    let member = state.core.next_id();
    sub.send(SubEvent::Join(Join {
        member,
        peer: state.peer.to_string(),
        frames: state.out.clone(),
        filter,
        max_inflight: max_inflight.clamp(1, 10_000),
        orderly,
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
            sub.leave(*member);
        }
        !leaving
    });
    state.reply(request_id, FrameBody::Done);
}

fn validate_group(group: &str) -> crate::Result<()> {
    validate_topic(group).map_err(|_| Error::Invalid(format!("bad group name {group:?}")))
}
