//! One client connection: a reader loop that decodes frames and hands each
//! to its command module, and a writer task that sends replies and pushed
//! deliveries in order of readiness (requests pipeline: a slow send does not
//! hold up a ping behind it). Malformed frames are answered with an error
//! frame; an oversized frame is answered and the connection closed.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::cmd;
use super::outbox::{Outbox, outbox};
use crate::broker::BrokerCore;
use crate::broker::subscription::SubscriptionHandle;
use crate::error::{Error, ErrorCode};
use crate::protocol::{Frame, FrameBody, FrameCodec, Inbound};

/// What a connection keeps between frames.
pub struct ConnState {
    pub core: Arc<BrokerCore>,
    pub peer: SocketAddr,
    pub out: Outbox,
    /// Subscriptions joined on this connection, with the member id used.
    pub joined: Vec<(SubscriptionHandle, u64)>,
    /// The producer group this connection answers check-backs for, with the
    /// id it is registered under.
    pub producer: Option<(String, u64)>,
}

impl ConnState {
    pub fn reply(&self, request_id: u64, body: FrameBody) {
        let _ = self.out.send(Frame { request_id, body });
    }

    pub fn reply_error(&self, request_id: u64, e: &Error) {
        let message = match e {
            Error::Refused { message, .. } => message.clone(),
            other => other.to_string(),
        };
        self.reply(
            request_id,
            FrameBody::Error {
                code: e.code(),
                message,
            },
        );
    }
}

pub async fn serve(socket: TcpStream, peer: SocketAddr, core: Arc<BrokerCore>) {
    let (read, write) = socket.into_split();
    let codec = FrameCodec::new(core.config.max_frame);
    let mut reader = FramedRead::new(read, codec.clone());
    let buffer = core.config.connection_buffer.max(1);
    let (out, mut out_rx) = outbox(buffer);
    // Requests in flight hold at most `buffer` bytes between them (a single
    // larger one is let through alone).
    let budget = buffer.min(u32::MAX as usize) as u32;
    let requests = Arc::new(Semaphore::new(budget as usize));
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(write, codec);
        while let Some(frame) = out_rx.recv().await {
            out_rx.taken(&frame);
            if sink.feed(frame).await.is_err() {
                return;
            }
            while let Some(frame) = out_rx.try_recv() {
                out_rx.taken(&frame);
                if sink.feed(frame).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let mut state = ConnState {
        core: core.clone(),
        peer,
        out,
        joined: Vec::new(),
        producer: None,
    };
    tracing::debug!(%peer, "connection opened");
    let mut greeted = false;
    loop {
        // A connection must send its first frame within the handshake
        // timeout, and one that only sends requests (no subscription, no
        // producer group) is closed after the idle timeout without one.
        let listening = !state.joined.is_empty() || state.producer.is_some();
        let quiet_limit = if !greeted {
            Some(core.config.handshake_timeout)
        } else if listening {
            None
        } else {
            Some(core.config.idle_timeout)
        };
        let quiet = async {
            match quiet_limit {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        // A client that does not read its replies and deliveries is not
        // read from either, until it has caught up (see `outbox`).
        let next = tokio::select! {
            n = async {
                state.out.room().await;
                reader.next().await
            } => n,
            _ = quiet => {
                tracing::debug!(%peer, greeted, "connection closed: quiet too long");
                metrics::counter!("mq_connections_timed_out_total").increment(1);
                break;
            }
            _ = core.shutdown.cancelled() => break,
        };
        greeted = true;
        match next {
            None => break,
            Some(Ok(Inbound::Frame(frame))) => {
                let permit = tokio::select! {
                    p = request_permit(&requests, budget, &frame) => p,
                    _ = core.shutdown.cancelled() => break,
                };
                cmd::handle(&mut state, frame, permit);
            }
            Some(Ok(Inbound::Malformed { request_id, reason })) => {
                tracing::debug!(%peer, reason, "malformed frame");
                state.reply(
                    request_id,
                    FrameBody::Error {
                        code: ErrorCode::Malformed,
                        message: reason,
                    },
                );
            }
            Some(Err(e)) => {
                tracing::debug!(%peer, error = %e, "connection broken");
                if !matches!(e, Error::Io(_)) {
                    state.reply_error(0, &e);
                }
                break;
            }
        }
    }
    for (sub, member) in state.joined.drain(..) {
        sub.leave(member);
    }
    if let Some((group, id)) = state.producer.take() {
        core.txns.unregister(&group, id);
    }
    drop(state);
    // The writer ends once every pending reply has been written.
    let _ = writer.await;
    tracing::debug!(%peer, "connection closed");
}

/// Waits until the requests in flight on this connection leave room for
/// this one, counted by the size of its messages; one larger than the whole
/// budget waits until it is alone.
async fn request_permit(
    requests: &Arc<Semaphore>,
    budget: u32,
    frame: &Frame,
) -> OwnedSemaphorePermit {
    let size = match &frame.body {
        FrameBody::Send { message, .. } | FrameBody::SendHalf { message, .. } => {
            message.approx_size()
        }
        FrameBody::SendBatch { messages } => messages.iter().map(|m| m.approx_size()).sum(),
        _ => SMALL_REQUEST,
    };
    let want = size.clamp(1, budget as usize) as u32;
    requests
        .clone()
        .acquire_many_owned(want)
        .await
        .expect("the request semaphore is never closed")
}

/// Bytes counted for a request without messages.
const SMALL_REQUEST: usize = 256;

/// Answers a connection over the limit with an error frame and closes it.
pub async fn refuse(socket: TcpStream) {
    let mut sink = FramedWrite::new(socket, FrameCodec::new(usize::MAX));
    let body = FrameBody::Error {
        code: ErrorCode::TooManyConnections,
        message: "connection limit reached".into(),
    };
    let _ = sink
        .send(Frame {
            request_id: 0,
            body,
        })
        .await;
    // Lingering close: send FIN, then read (and drop) what the client already sent
    // until it closes, for a moment. Closing with unread bytes would reset the
    // connection, and a reset can discard the error frame before the client reads it.
    let mut socket = sink.into_inner();
    let _ = socket.shutdown().await;
    let mut scratch = [0u8; 1024];
    let drain = async {
        while let Ok(n) = socket.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(REFUSE_LINGER, drain).await;
}

/// How long a refused connection is drained before it is dropped.
const REFUSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);
