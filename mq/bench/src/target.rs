//! What the benchmark needs from a broker, whatever the broker is.
//!
//! Each measured system (our `mq`, NATS JetStream, RabbitMQ) implements [`Target`]: it
//! resets its destination before a run, hands out independent [`Publisher`]s (one
//! connection each, so 64 publishers are 64 clients) and a [`Consumer`] that receives
//! and acknowledges. The measuring code in `measure` is generic over these traits, so
//! every target is timed by exactly the same loop.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// One client that sends durable messages, one at a time.
pub trait Publisher: Send + 'static {
    /// Sends one message and returns once the broker has acknowledged it as stored
    /// (as durably as the target is configured to store it).
    fn send(&mut self, body: Bytes) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A subscribed consumer, ready to receive before the publishers start.
pub trait Consumer: Send + 'static {
    /// Receives and acknowledges messages until `progress` reaches `count`, adding one to
    /// it per acknowledged message.
    fn consume(
        self,
        count: u64,
        progress: Arc<Progress>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A broker set up one way (e.g. "RabbitMQ quorum queue, persistent, confirms").
pub trait Target: Send + Sync {
    type Publisher: Publisher;
    type Consumer: Consumer;

    /// Makes the destination empty and ready for a run named `run` (unique per run, so
    /// targets may use it for a fresh topic or stream).
    fn reset(&mut self, run: &str) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Connects a new publisher to the destination of the current run.
    fn publisher(&self) -> impl Future<Output = anyhow::Result<Self::Publisher>> + Send;

    /// Connects and subscribes a new consumer to the destination of the current run.
    fn consumer(&self) -> impl Future<Output = anyhow::Result<Self::Consumer>> + Send;
}

/// Count of acknowledged deliveries, shared between a consumer and the measuring loop.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    /// Records one acknowledged delivery and returns the new total.
    pub fn acked(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Deliveries acknowledged so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
