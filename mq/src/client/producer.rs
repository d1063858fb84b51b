//! [`Producer`]: sends messages synchronously (answer after the broker made
//! them durable), asynchronously (queue now, await the receipt later),
//! one-way (no answer), or as a batch of one topic.

use std::time::Duration;

use tokio::sync::oneshot;

use super::conn::{Connection, await_answer};
use crate::error::{Error, Result};
use crate::message::{Message, StoredMessage, decode_record, now_ms};
use crate::protocol::{FrameBody, SendReceipt};

/// Sends messages to the broker over one (reconnecting) connection.
pub struct Producer {
    conn: Connection,
}

/// A send in flight; [`PendingSend::receipt`] waits for the broker's answer.
pub struct PendingSend {
    rx: oneshot::Receiver<Result<FrameBody>>,
}

impl PendingSend {
    pub async fn receipt(self) -> Result<SendReceipt> {
        match await_answer(self.rx).await? {
            FrameBody::SendOk(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }
}

impl Producer {
    /// Connects now, so a wrong address fails here rather than on first send.
    pub async fn connect(addr: &str) -> Result<Producer> {
        let p = Producer {
            conn: Connection::new(addr, Duration::from_secs(3)),
        };
        p.conn.link().await?;
        Ok(p)
    }

    /// Sends and waits until the message is durable; the receipt has the
    /// broker-assigned id. [`Error::NotAcknowledged`] means the connection
    /// broke first: the message may or may not be stored.
    pub async fn send(&self, message: Message) -> Result<SendReceipt> {
        self.send_async(message).await?.receipt().await
    }

    /// Queues the send on the connection and returns at once; many sends may
    /// be in flight on one producer.
    pub async fn send_async(&self, message: Message) -> Result<PendingSend> {
        let message = prepare(message)?;
        let rx = self.conn.link().await?.start(FrameBody::Send {
            oneway: false,
            message,
        })?;
        Ok(PendingSend { rx })
    }

    /// Sends without waiting for (or getting) an answer: fastest, no guarantee.
    pub async fn send_oneway(&self, message: Message) -> Result<()> {
        let message = prepare(message)?;
        self.conn.link().await?.send_without_reply(FrameBody::Send {
            oneway: true,
            message,
        })
    }

    /// Sends messages of one topic, stored and acknowledged together.
    pub async fn send_batch(&self, messages: Vec<Message>) -> Result<Vec<SendReceipt>> {
        let messages = messages
            .into_iter()
            .map(prepare)
            .collect::<Result<Vec<_>>>()?;
        let link = self.conn.link().await?;
        match link.request(FrameBody::SendBatch { messages }).await? {
            FrameBody::SendBatchOk(rs) => Ok(rs),
            other => Err(unexpected(&other)),
        }
    }

    /// Round trip to the broker.
    pub async fn ping(&self) -> Result<Duration> {
        let started = std::time::Instant::now();
        match self.conn.link().await?.request(FrameBody::Ping).await? {
            FrameBody::Pong => Ok(started.elapsed()),
            other => Err(unexpected(&other)),
        }
    }

    /// The message with this id, if the broker still stores it.
    pub async fn lookup_id(&self, id: &str) -> Result<Option<StoredMessage>> {
        let found = self
            .lookup(FrameBody::LookupId { id: id.to_string() })
            .await?;
        Ok(found.into_iter().next())
    }

    /// Messages of `topic` with `key`, oldest first.
    pub async fn lookup_key(&self, topic: &str, key: &str) -> Result<Vec<StoredMessage>> {
        self.lookup(FrameBody::LookupKey {
            topic: topic.to_string(),
            key: key.to_string(),
        })
        .await
    }

    /// One page of the messages of `topic` with `key`, oldest first: the
    /// newest at most `limit` (up to 1000, and what fits one frame) stored
    /// before `before` (`None`: the newest). Pass the answer's `next_before`
    /// to get the next, older page.
    pub async fn lookup_key_page(
        &self,
        topic: &str,
        key: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<KeyPage> {
        let body = FrameBody::LookupKeyPage {
            topic: topic.to_string(),
            key: key.to_string(),
            before: before.unwrap_or(u64::MAX),
            limit,
        };
        match self.conn.link().await?.request(body).await? {
            FrameBody::KeyPage {
                messages,
                next_before,
            } => Ok(KeyPage {
                messages: messages
                    .iter()
                    .map(|(instance, offset, record)| decode_record(record, *instance, *offset))
                    .collect::<Result<_>>()?,
                next_before: (next_before > 0).then_some(next_before),
            }),
            other => Err(unexpected(&other)),
        }
    }

    async fn lookup(&self, body: FrameBody) -> Result<Vec<StoredMessage>> {
        match self.conn.link().await?.request(body).await? {
            FrameBody::Messages(items) => items
                .iter()
                .map(|(instance, offset, record)| decode_record(record, *instance, *offset))
                .collect(),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn close(&self) {
        self.conn.close().await;
    }
}

/// One page of a look-up by key (see [`Producer::lookup_key_page`]).
#[derive(Debug, Clone)]
pub struct KeyPage {
    /// Oldest first.
    pub messages: Vec<StoredMessage>,
    /// Where the next, older page ends; `None` when there is none.
    pub next_before: Option<u64>,
}

fn prepare(mut m: Message) -> Result<Message> {
    m.validate()?;
    if m.born_at_ms == 0 {
        m.born_at_ms = now_ms();
    }
    Ok(m)
}

fn unexpected(body: &FrameBody) -> Error {
    Error::Malformed(format!(
        "unexpected answer: frame kind 0x{:02X}",
        body.kind()
    ))
}
