//! A client's connection to the broker: one TCP connection shared by every
//! request (pipelined by request id), reconnected on the next request after
//! it broke. Requests in flight when it breaks fail with
//! [`Error::NotAcknowledged`]: the caller learns the send may not be stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode, Result};
use crate::protocol::{DEFAULT_MAX_FRAME, Frame, FrameBody, FrameCodec, Inbound};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<FrameBody>>>>>;

/// One live TCP connection with its reader and writer tasks.
pub struct Link {
    out: mpsc::UnboundedSender<Frame>,
    pending: Pending,
    pub closed: CancellationToken,
    /// Why the broker closed the connection, when it said so (limit reached,
    /// frame too large): requests made after the close fail with it too.
    close_reason: Arc<OnceLock<(ErrorCode, String)>>,
    next_id: AtomicU64,
}

impl Link {
    /// Connects; pushed frames (deliveries) go to `push`.
    pub async fn connect(
        addr: &str,
        timeout: Duration,
        push: Option<mpsc::UnboundedSender<Frame>>,
    ) -> Result<Arc<Link>> {
        let unreachable = |reason: String| Error::Unreachable {
            addr: addr.to_string(),
            reason,
        };
        let socket = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable(format!("connect timed out after {timeout:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = socket.set_nodelay(true);
        let (read, write) = socket.into_split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Frame>();
        let pending: Pending = Arc::default();
        let closed = CancellationToken::new();
        let close_reason: Arc<OnceLock<(ErrorCode, String)>> = Arc::default();
        let link = Arc::new(Link {
            out,
            pending: pending.clone(),
            closed: closed.clone(),
            close_reason: close_reason.clone(),
            next_id: AtomicU64::new(1),
        });

        let writer_closed = closed.clone();
        tokio::spawn(async move {
            let mut sink = FramedWrite::new(write, FrameCodec::new(DEFAULT_MAX_FRAME));
            loop {
                let frame = tokio::select! {
                    f = out_rx.recv() => f,
                    _ = writer_closed.cancelled() => None,
                };
                let Some(frame) = frame else { break };
                let mut ok = sink.feed(frame).await.is_ok();
                while let (true, Ok(f)) = (ok, out_rx.try_recv()) {
                    ok = sink.feed(f).await.is_ok();
                }
                if !ok || sink.flush().await.is_err() {
                    writer_closed.cancel();
                    break;
                }
            }
        });

        tokio::spawn(async move {
            let mut frames = FramedRead::new(read, FrameCodec::new(DEFAULT_MAX_FRAME));
            loop {
                let next = tokio::select! {
                    n = frames.next() => n,
                    _ = closed.cancelled() => None,
                };
                match next {
                    // An error not tied to a request is about the connection
                    // (limit reached, frame too large): requests fail with it.
                    Some(Ok(Inbound::Frame(Frame {
                        request_id: 0,
                        body: FrameBody::Error { code, message },
                    }))) => {
                        tracing::warn!(%code, message, "broker error");
                        let _ = close_reason.set((code, message));
                    }
                    Some(Ok(Inbound::Frame(frame))) => route(frame, &pending, push.as_ref()),
                    Some(Ok(Inbound::Malformed { request_id, reason })) => {
                        let waiter = pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&request_id);
                        if let Some(w) = waiter {
                            let _ = w.send(Err(Error::Malformed(reason)));
                        }
                    }
                    Some(Err(_)) | None => break,
                }
            }
            // The reason is set before the close is visible, so a request
            // started after the close fails with it, not a bare "lost".
            closed.cancel();
            let waiters: Vec<_> = pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .collect();
            for (_, w) in waiters {
                let _ = w.send(Err(closed_error(&close_reason)));
            }
        });
        Ok(link)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// The error a request on this closed link fails with.
    fn closed_error(&self) -> Error {
        closed_error(&self.close_reason)
    }

    /// Sends a request and returns a receiver for its answer (request
    /// pipelining: the frame is queued before this returns).
    pub fn start(&self, body: FrameBody) -> Result<oneshot::Receiver<Result<FrameBody>>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        if self.is_closed()
            || self
                .out
                .send(Frame {
                    request_id: id,
                    body,
                })
                .is_err()
        {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return Err(self.closed_error());
        }
        Ok(rx)
    }

    /// Sends a frame that gets no answer (acks, one-way sends).
    pub fn send_without_reply(&self, body: FrameBody) -> Result<()> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        self.out
            .send(Frame {
                request_id: 0,
                body,
            })
            .map_err(|_| Error::NotAcknowledged)
    }

    pub async fn request(&self, body: FrameBody) -> Result<FrameBody> {
        await_answer(self.start(body)?).await
    }

    pub fn close(&self) {
        self.closed.cancel();
    }
}

fn closed_error(reason: &OnceLock<(ErrorCode, String)>) -> Error {
    match reason.get() {
        Some((code, message)) => Error::Refused {
            code: *code,
            message: message.clone(),
        },
        None => Error::NotAcknowledged,
    }
}

/// Waits for an answer, turning error frames into [`Error::Refused`].
pub async fn await_answer(rx: oneshot::Receiver<Result<FrameBody>>) -> Result<FrameBody> {
    match rx.await.map_err(|_| Error::NotAcknowledged)?? {
        FrameBody::Error { code, message } => Err(Error::Refused { code, message }),
        body => Ok(body),
    }
}

fn route(frame: Frame, pending: &Pending, push: Option<&mpsc::UnboundedSender<Frame>>) {
    if frame.request_id == 0 {
        match (&frame.body, push) {
            (FrameBody::Error { code, message }, _) => {
                tracing::warn!(%code, message, "broker error")
            }
            (_, Some(push)) => {
                let _ = push.send(frame);
            }
            _ => {}
        }
        return;
    }
    let waiter = pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&frame.request_id);
    if let Some(w) = waiter {
        let _ = w.send(Ok(frame.body));
    }
}

/// A reconnecting connection: a new link is made on the first request after
/// the previous one broke.
pub struct Connection {
    pub addr: String,
    pub connect_timeout: Duration,
    link: tokio::sync::Mutex<Option<Arc<Link>>>,
}

impl Connection {
    pub fn new(addr: &str, connect_timeout: Duration) -> Connection {
        Connection {
            addr: addr.to_string(),
            connect_timeout,
            link: tokio::sync::Mutex::new(None),
        }
    }

    /// The live link, reconnecting if needed.
    pub async fn link(&self) -> Result<Arc<Link>> {
        let mut slot = self.link.lock().await;
        if let Some(l) = slot.as_ref().filter(|l| !l.is_closed()) {
            return Ok(l.clone());
        }
        let l = Link::connect(&self.addr, self.connect_timeout, None).await?;
        *slot = Some(l.clone());
        Ok(l)
    }

    pub async fn close(&self) {
        if let Some(l) = self.link.lock().await.take() {
            l.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Broker, BrokerConfig};

    /// The broker refuses a connection over the limit with an error frame and
    /// closes it, which can happen before the client's first request is
    /// queued. That request must fail with the broker's reason, not with a
    /// bare "connection lost".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_after_the_broker_refused_the_connection_carries_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::for_tests(dir.path());
        config.max_connections = 1;
        let broker = Broker::start(config).await.unwrap();
        let addr = broker.addr.to_string();
        let held = Link::connect(&addr, Duration::from_secs(2), None)
            .await
            .unwrap();
        held.request(FrameBody::Ping).await.unwrap();

        let refused = Link::connect(&addr, Duration::from_secs(2), None)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), refused.closed.cancelled())
            .await
            .expect("the broker closes a connection over the limit");
        let err = refused.request(FrameBody::Ping).await.unwrap_err();

        assert!(
            matches!(
                err,
                Error::Refused {
                    code: ErrorCode::TooManyConnections,
                    ..
                }
            ),
            "{err}"
        );
        broker.shutdown().await;
    }
}
