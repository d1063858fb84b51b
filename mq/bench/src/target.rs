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

    /// The broker's own storage counters, if it exposes them to this program (only our
    /// broker does), read before and after the publish phase to see how many fsyncs it
    /// ran and how many messages each covered.
    fn storage_counters(&self) -> impl Future<Output = Option<StorageCounters>> + Send {
        async { None }
    }
}

/// Cumulative storage counters of a broker since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StorageCounters {
    /// fsync (fdatasync) calls.
    pub fsyncs: u64,
    /// Time spent in them, seconds.
    pub fsync_seconds: f64,
    /// Group commits (one write, and in fsync-per-ack mode one fsync, each).
    pub commits: u64,
    /// Records those group commits stored.
    pub records: u64,
}

/// What the broker's storage did during a phase of `elapsed` seconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StorageActivity {
    pub fsyncs_per_sec: f64,
    pub mean_fsync_ms: f64,
    pub records_per_commit: f64,
}

impl StorageActivity {
    /// The difference between two readings taken `elapsed` seconds apart.
    pub fn between(before: StorageCounters, after: StorageCounters, elapsed: f64) -> Self {
        let fsyncs = after.fsyncs.saturating_sub(before.fsyncs);
        let commits = after.commits.saturating_sub(before.commits);
        let records = after.records.saturating_sub(before.records);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Self {
            fsyncs_per_sec: ratio(fsyncs as f64, elapsed),
            mean_fsync_ms: ratio(
                (after.fsync_seconds - before.fsync_seconds) * 1000.0,
                fsyncs as f64,
            ),
            records_per_commit: ratio(records as f64, commits as f64),
        }
    }
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

    #[test]
    fn storage_activity_is_the_difference_per_second_and_per_commit() {
        let before = StorageCounters {
            fsyncs: 100,
            fsync_seconds: 0.05,
            commits: 100,
            records: 400,
        };
        let after = StorageCounters {
            fsyncs: 1100,
            fsync_seconds: 0.35,
            commits: 1100,
            records: 20_400,
        };
        let activity = StorageActivity::between(before, after, 2.0);
        assert_eq!(activity.fsyncs_per_sec, 500.0);
        assert!((activity.mean_fsync_ms - 0.3).abs() < 1e-9);
        assert_eq!(activity.records_per_commit, 20.0);
    }

    #[tokio::test]
    async fn progress_with_no_goal_is_complete_at_once() {
        let progress = Progress::new(0);
        progress.completed().await;
        assert!(progress.is_complete());
    }
}
