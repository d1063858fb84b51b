//! Copying pending records forward. A delayed message due in years, or a
//! half message whose producer never comes back, must not keep its segment
//! — and every segment after it — from retention. Before retention deletes
//! old segments, each pending delayed or half record in them is appended
//! again at the head of the log, naming the first record as its origin:
//! the copy keeps the message id, and recovery (see `storage::recovery`)
//! takes the newest copy as the pending one. The registries then point at
//! the copy. This runs under the scheduling lock, so no record is released
//! or decided while it moves.

use super::BrokerCore;
use crate::message::{Message, RecordHeader, StoredMessage};
use crate::storage::index::{DELAY_TOPIC, HALF_TOPIC};
use crate::storage::report_unreadable;

/// Records copied per append.
const CHUNK: usize = 512;

/// Copies the pending records below `cut`; returns how many moved.
pub async fn forward_pending(core: &BrokerCore, cut: u64) -> usize {
    let _exclusive = core.scheduling.write().await;
    let mut moved = 0;
    let delays = core.delays.below(cut);
    for chunk in delays.chunks(CHUNK) {
        let offsets = chunk.iter().map(|d| d.1).collect();
        match copy(core, DELAY_TOPIC, offsets, "delayed message").await {
            Ok(copies) => {
                for (&(due, from), to) in chunk.iter().zip(copies) {
                    match to {
                        Some(to) => core.delays.moved(due, from, to),
                        None => core.delays.forget(due, from),
                    }
                    moved += 1;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "copying delayed messages forward failed; their segments stay");
                return moved;
            }
        }
    }
    let halves = core.txns.below(cut);
    for chunk in halves.chunks(CHUNK) {
        let offsets = chunk.iter().map(|h| h.1).collect();
        match copy(core, HALF_TOPIC, offsets, "half message").await {
            Ok(copies) => {
                for (&(id, _), to) in chunk.iter().zip(copies) {
                    match to {
                        Some(to) => core.txns.moved(id, to),
                        None => core.txns.forget(id),
                    }
                    moved += 1;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "copying half messages forward failed; their segments stay");
                return moved;
            }
        }
    }
    if moved > 0 {
        tracing::info!(moved, "pending records copied forward ahead of retention");
        metrics::counter!("mq_pending_forwarded_total").increment(moved as u64);
    }
    moved
}

/// Appends copies of the records at `offsets` to `topic`; per record, the
/// copy's log offset, or `None` for a record that cannot be read.
async fn copy(
    core: &BrokerCore,
    topic: &str,
    offsets: Vec<u64>,
    what: &str,
) -> crate::Result<Vec<Option<u64>>> {
    let read = core.store.read_each_decoded(offsets.clone()).await?;
    let store_topic = core.store.topic(topic);
    let mut items = Vec::with_capacity(read.len());
    let mut readable = Vec::with_capacity(read.len());
    for (m, off) in read.into_iter().zip(offsets) {
        match m {
            Ok(m) => {
                let header = RecordHeader {
                    queue: 0,
                    attempt: m.attempt,
                    origin_offset: Some(m.id.offset),
                    deliver_at_ms: m.deliver_at_ms,
                };
                let delayed_to = (topic == DELAY_TOPIC).then_some(m.deliver_at_ms);
                items.push(
                    core.store
                        .prepare(&store_topic, header, &as_message(m, delayed_to)),
                );
                readable.push(true);
            }
            Err(crate::Error::Io(e)) => return Err(crate::Error::Io(e)),
            Err(e) => {
                report_unreadable(off, what, &e);
                readable.push(false);
            }
        }
    }
    let appended = core.store.append(items).await?;
    let mut at = appended.into_iter().map(|a| a.log_offset);
    Ok(readable
        .into_iter()
        .map(|ok| if ok { at.next() } else { None })
        .collect())
}

fn as_message(m: StoredMessage, deliver_at_ms: Option<u64>) -> Message {
    Message {
        topic: m.topic,
        tag: m.tag,
        keys: m.keys,
        body: m.body,
        properties: m.properties,
        sharding_key: m.sharding_key,
        deliver_at_ms,
        born_at_ms: m.born_at_ms,
    }
}
