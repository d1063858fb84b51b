//! `Hello` (a producer group's connection registers to answer check-backs),
//! `SendHalf` (store a half message) and `EndTxn` (commit, roll back, or
//! answer a check-back).

use tokio::sync::OwnedSemaphorePermit;

use crate::message::{Message, now_ms};
use crate::protocol::{Frame, FrameBody, TxnState};
use crate::server::connection::ConnState;

pub fn hello(state: &mut ConnState, request_id: u64, client_id: String, producer_group: String) {
    tracing::debug!(peer = %state.peer, client_id, producer_group, "hello");
    if !producer_group.is_empty() {
        if let Some((old, id)) = state.producer.take() {
            state.core.txns.unregister(&old, id);
        }
        let id = state.core.next_id();
        state
            .core
            .txns
            .register(&producer_group, id, state.out.clone());
        state.producer = Some((producer_group, id));
    }
    state.reply(request_id, FrameBody::Done);
}

pub fn send_half(
    state: &ConnState,
    request_id: u64,
    group: String,
    mut message: Message,
    permit: OwnedSemaphorePermit,
) {
    if message.born_at_ms == 0 {
        message.born_at_ms = now_ms();
    }
    let (core, out) = (state.core.clone(), state.out.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let body = match core.send_half(&group, message).await {
            Ok(r) => FrameBody::SendOk(r),
            Err(e) => error_body(&e),
        };
        let _ = out.send(Frame { request_id, body });
    });
}

/// `end`'s request: message id, producer group, decision, whether it
/// answers a check-back.
type EndRequest = (String, String, TxnState, bool);

pub fn end(
    state: &ConnState,
    request_id: u64,
    (id, group, txn, from_check): EndRequest,
    permit: OwnedSemaphorePermit,
) {
    let (core, out) = (state.core.clone(), state.out.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let result = core.end_transaction(&id, &group, txn).await;
        if from_check {
            tracing::info!(%id, group, answer = txn.name(), ok = result.is_ok(), "check-back answered");
        }
        let body = match result {
            Ok(()) => FrameBody::Done,
            Err(e) => error_body(&e),
        };
        if request_id != 0 {
            let _ = out.send(Frame { request_id, body });
        }
    });
}

fn error_body(e: &crate::Error) -> FrameBody {
    let message = match e {
        crate::Error::Refused { message, .. } => message.clone(),
        other => other.to_string(),
    };
    FrameBody::Error {
        code: e.code(),
        message,
    }
}
