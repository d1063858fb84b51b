//! `Send` and `SendBatch`: store messages durably, then answer with their
//! ids and queue positions (one-way sends get no answer).

use tokio::sync::OwnedSemaphorePermit;

use crate::message::{Message, now_ms};
use crate::protocol::FrameBody;
use crate::server::connection::ConnState;

pub fn send(
    state: &ConnState,
    request_id: u64,
    oneway: bool,
    mut message: Message,
    permit: OwnedSemaphorePermit,
) {
    if message.born_at_ms == 0 {
        message.born_at_ms = now_ms();
    }
    let (core, out) = (state.core.clone(), state.out.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let result = core.send(vec![message]).await;
        if oneway {
            if let Err(e) = result {
                tracing::warn!(error = %e, "one-way send failed");
            }
            return;
        }
        let body = match result {
            Ok(mut receipts) => FrameBody::SendOk(receipts.remove(0)),
            Err(e) => error_body(&e),
        };
        let _ = out.send(crate::protocol::Frame { request_id, body });
    });
}

pub fn send_batch(
    state: &ConnState,
    request_id: u64,
    messages: Vec<Message>,
    permit: OwnedSemaphorePermit,
) {
    let (core, out) = (state.core.clone(), state.out.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let body = match core.send(messages).await {
            Ok(receipts) => FrameBody::SendBatchOk(receipts),
            Err(e) => error_body(&e),
        };
        let _ = out.send(crate::protocol::Frame { request_id, body });
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
