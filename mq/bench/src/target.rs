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
use tokio::sync::Notify;

/// One client that sends durable messages, one at a time.
pub trait Publisher: Send + 'static {
    /// Sends one message and returns once the broker has acknowledged it as stored
    /// (as durably as the target is configured to store it).
    fn send(&mut self, body: Bytes) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A subscribed consumer, ready to receive before the publishers start.
pub trait Consumer: Send + 'static {
    /// Receives and acknowledges messages, reporting each acknowledgement to the
    /// [`Progress`] it was created with, until that progress is complete.
    fn run(self) -> impl Future<Output = anyhow::Result<()>> + Send;
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

    /// Connects and subscribes a new consumer to the destination of the current run; it
    /// reports each acknowledged delivery to `progress`.
    fn consumer(
        &self,
        progress: Arc<Progress>,
    ) -> impl Future<Output = anyhow::Result<Self::Consumer>> + Send;
}

/// Count of acknowledged deliveries towards a goal, shared between a consumer and the
/// measuring loop.
#[derive(Debug)]
pub struct Progress {
    goal: u64,
    acked: AtomicU64,
    complete: Notify,
}

impl Progress {
    /// Progress towards `goal` acknowledged deliveries.
    pub fn new(goal: u64) -> Self {
        Self {
            goal,
            acked: AtomicU64::new(0),
            complete: Notify::new(),
        }
    }

    /// Records one acknowledged delivery; true once the goal is reached.
    pub fn acked(&self) -> bool {
        let total = self.acked.fetch_add(1, Ordering::Relaxed) + 1;
        if total == self.goal {
            // One waiter (the measuring loop); the permit is kept if it is not waiting yet.
            self.complete.notify_one();
        }
        total >= self.goal
    }

    /// Deliveries acknowledged so far.
    pub fn get(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Whether the goal is reached.
    pub fn is_complete(&self) -> bool {
        self.get() >= self.goal
    }

    /// Waits until the goal is reached (for one waiter at a time).
    pub async fn completed(&self) {
        if !self.is_complete() {
            self.complete.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_completes_at_its_goal() {
        let progress = Arc::new(Progress::new(3));
        assert!(!progress.acked());
        assert!(!progress.acked());
        let waiter = tokio::spawn({
            let progress = progress.clone();
            async move { progress.completed().await }
        });
        assert!(progress.acked());
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("completed() returns once the goal is reached")
            .unwrap();
        assert!(progress.is_complete());
    }

    #[tokio::test]
    async fn progress_with_no_goal_is_complete_at_once() {
        let progress = Progress::new(0);
        progress.completed().await;
        assert!(progress.is_complete());
    }
}
