//! `LookupId` and `LookupKey`: messages by id or by (topic, key), answered
//! as raw records in a `Messages` frame.

use tokio::sync::OwnedSemaphorePermit;

use crate::message::MessageId;
use crate::protocol::{Frame, FrameBody};
use crate::server::connection::ConnState;

pub fn by_id(state: &ConnState, request_id: u64, id: String, permit: OwnedSemaphorePermit) {
    let (core, out) = (state.core.clone(), state.out.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let result = async {
            let id: MessageId = id.parse()?;
            let raw = core.store.find_raw_by_id(&id).await?;
            Ok((
                raw.iter().map(|_| id.offset).collect(),
                raw.into_iter().collect(),
            ))
        }
        .await;
        reply(&out, request_id, core.store.instance, result);
    });
}

pub fn by_key(
    state: &ConnState,
    request_id: u64,
    topic: String,
    key: String,
    permit: OwnedSemaphorePermit,
) {
    let (core, out) = (state.core.clone(), state.out.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let result = core
            .store
            .find_raw_by_key(&topic, &key)
            .await
            .map(|found| found.into_iter().unzip());
        reply(&out, request_id, core.store.instance, result);
    });
}

/// `by_key_page`'s request: topic, key, before, limit.
type PageRequest = (String, String, u64, u32);

pub fn by_key_page(
    state: &ConnState,
    request_id: u64,
    (topic, key, before, limit): PageRequest,
    permit: OwnedSemaphorePermit,
) {
    let (core, out) = (state.core.clone(), state.out.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let instance = core.store.instance;
        let body = match core
            .store
            .find_raw_by_key_page(&topic, &key, before, limit as usize)
            .await
        {
            Ok((found, next_before)) => FrameBody::KeyPage {
                messages: found.into_iter().map(|(o, r)| (instance, o, r)).collect(),
                next_before,
            },
            Err(e) => FrameBody::Error {
                code: e.code(),
                message: e.to_string(),
            },
        };
        let _ = out.send(Frame { request_id, body });
    });
}

fn reply(
    out: &crate::server::outbox::Outbox,
    request_id: u64,
    instance: u64,
    result: crate::Result<(Vec<u64>, Vec<bytes::Bytes>)>,
) {
    let body = match result {
        Ok((offsets, raw)) => FrameBody::Messages(
            offsets
                .into_iter()
                .zip(raw)
                .map(|(o, r)| (instance, o, r))
                .collect(),
        ),
        Err(e) => FrameBody::Error {
            code: e.code(),
            message: e.to_string(),
        },
    };
    let _ = out.send(Frame { request_id, body });
}
