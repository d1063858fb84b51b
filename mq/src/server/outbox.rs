//! A connection's outbound queue with a bound: replies and pushed deliveries
//! wait here for the connection's writer task, which counts the bytes still
//! queued. Past the bound (`MQ_CONNECTION_BUFFER`) the connection stops
//! reading requests and its subscriptions stop handing it deliveries, until
//! the client has read enough for the queue to fall below the bound again;
//! so a client that stops reading holds at most about the bound (plus one
//! frame and what its requests in flight hold) of the broker's memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

use crate::protocol::{Frame, FrameBody};

/// Bytes counted for a frame that carries no records.
const SMALL_FRAME: usize = 64;

/// The sending side; cheap to clone (one per command task and subscription).
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Frame>,
    shared: Arc<Shared>,
}

struct Shared {
    queued: AtomicUsize,
    /// `mq_outbound_queued_bytes`, looked up once per connection.
    gauge: metrics::Gauge,
    limit: usize,
    /// Wakes the connection's reader once the queue is below the bound.
    room: Notify,
    /// Subscriptions to tell once the queue is below the bound.
    waiters: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("queued", &self.queued())
            .field("limit", &self.shared.limit)
            .finish()
    }
}

/// The receiving side, owned by the connection's writer task.
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Frame>,
    shared: Arc<Shared>,
}

/// The frame could not be queued: the connection is gone.
#[derive(Debug)]
pub struct Closed;

/// A new outbound queue holding at most about `limit` bytes.
pub fn outbox(limit: usize) -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        queued: AtomicUsize::new(0),
        gauge: metrics::gauge!("mq_outbound_queued_bytes"),
        limit: limit.max(1),
        room: Notify::new(),
        waiters: Mutex::new(Vec::new()),
    });
    (
        Outbox {
            tx,
            shared: shared.clone(),
        },
        OutboxReceiver { rx, shared },
    )
}

/// Bytes a frame is counted for: its records, or a small constant.
pub fn weight(body: &FrameBody) -> usize {
    match body {
        FrameBody::Deliver { record, .. } => SMALL_FRAME + record.len(),
        FrameBody::Messages(found)
        | FrameBody::KeyPage {
            messages: found, ..
        } => SMALL_FRAME + found.iter().map(|(_, _, r)| r.len() + 16).sum::<usize>(),
        FrameBody::SendBatchOk(receipts) => SMALL_FRAME + receipts.len() * 48,
        _ => SMALL_FRAME,
    }
}

impl Outbox {
    /// Queues a frame. Frames are never refused for the bound: the callers
    /// that can wait check [`Outbox::has_room`] first.
    pub fn send(&self, frame: Frame) -> Result<(), Closed> {
        let w = weight(&frame.body);
        self.shared.queued.fetch_add(w, Ordering::AcqRel);
        self.shared.gauge.increment(w as f64);
        if self.tx.send(frame).is_err() {
            self.shared.queued.fetch_sub(w, Ordering::AcqRel);
            self.shared.gauge.decrement(w as f64);
            return Err(Closed);
        }
        Ok(())
    }

    /// Bytes queued and not yet handed to the socket.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Whether the queue is below its bound.
    pub fn has_room(&self) -> bool {
        self.queued() < self.shared.limit
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until the queue is below its bound.
    pub async fn room(&self) {
        loop {
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room() || self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Calls `wake` once, when the queue next falls below its bound (at
    /// once if it is below now).
    pub fn wake_on_room(&self, wake: impl Fn() + Send + Sync + 'static) {
        let mut waiters = self
            .shared
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.has_room() {
            drop(waiters);
            wake();
            return;
        }
        waiters.push(Box::new(wake));
    }

    /// Whether both send to the same connection.
    pub fn same_connection(&self, other: &Outbox) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl OutboxReceiver {
    pub async fn recv(&mut self) -> Option<Frame> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Frame> {
        self.rx.try_recv().ok()
    }

    /// Counts a received frame as no longer queued (once it is in the
    /// writer's hands); wakes whoever waits for room.
    pub fn taken(&self, frame: &Frame) {
        let w = weight(&frame.body);
        let before = self.shared.queued.fetch_sub(w, Ordering::AcqRel);
        self.shared.gauge.decrement(w as f64);
        let limit = self.shared.limit;
        if before >= limit && before - w < limit {
            self.shared.room.notify_waiters();
            let waiters = std::mem::take(
                &mut *self
                    .shared
                    .waiters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            for wake in waiters {
                wake();
            }
        }
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        // Frames left behind no longer count; whoever waits must not wait on.
        self.rx.close();
        while let Ok(frame) = self.rx.try_recv() {
            self.taken(&frame);
        }
        self.shared.room.notify_waiters();
        let waiters = std::mem::take(
            &mut *self
                .shared
                .waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for wake in waiters {
            wake();
        }
    }
}
