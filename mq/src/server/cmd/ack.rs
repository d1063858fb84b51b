//! `Ack`, `Later` and `Release`: a consumer's answer to a delivery. No reply
//! frame: the answer is routed to the subscription that made the delivery.

use crate::broker::subscription::SubEvent;
use crate::server::connection::ConnState;

pub fn answer(state: &ConnState, subscription: u32, event: SubEvent) {
    match state.joined.iter().find(|(s, _)| s.id == subscription) {
        Some((sub, _)) => sub.send(event),
        None => {
            tracing::debug!(peer = %state.peer, subscription, "answer for a subscription not joined here")
        }
    }
}
