//! [`Consumer`]: a member of a consumer group reading one topic. The broker
//! pushes deliveries of the queues assigned to this member; the handler runs
//! on up to `concurrency` messages at once and answers [`ConsumeResult::Ack`]
//! (done) or [`ConsumeResult::Later`] (retry on the broker's schedule; in
//! orderly mode, handled again here after a pause, blocking its queue). After
//! the connection breaks the consumer reconnects and joins again; deliveries
//! it had not answered are redelivered by the broker.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::conn::Link;
use crate::error::{Error, Result};
use crate::filter::MessageSelector;
use crate::message::{StoredMessage, decode_record};
use crate::protocol::{ConsumeFrom, ConsumeMode, Frame, FrameBody};

/// A handler's answer to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    /// Handled: the message is done for this group.
    Ack,
    /// Not now: deliver again after the next step of the retry schedule.
    Later,
    /// Hand the message back untouched (e.g. while stopping): delivered
    /// again at once, to this or another member, the attempt not counted.
    Release,
}

/// What and how to consume.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub addr: String,
    pub group: String,
    pub topic: String,
    /// Which messages of the topic: tags (`*`, `a || b`) or SQL92.
    pub selector: MessageSelector,
    /// Messages handled at once by this member.
    pub concurrency: usize,
    /// Where a group that never consumed this topic starts.
    pub from: ConsumeFrom,
    pub reconnect_delay: Duration,
    /// Clustering (default), orderly or broadcasting.
    pub mode: ConsumeMode,
    /// Orderly mode: wait this long before handling a message again that was
    /// answered [`ConsumeResult::Later`] (its queue waits meanwhile).
    pub orderly_retry_delay: Duration,
}

impl ConsumerConfig {
    pub fn new(addr: &str, group: &str, topic: &str) -> ConsumerConfig {
        ConsumerConfig {
            addr: addr.to_string(),
            group: group.to_string(),
            topic: topic.to_string(),
            selector: MessageSelector::default(),
            concurrency: 16,
            from: ConsumeFrom::Earliest,
            reconnect_delay: Duration::from_millis(200),
            mode: ConsumeMode::Clustering,
            orderly_retry_delay: Duration::from_secs(1),
        }
    }

    /// Consume each queue strictly in order: one message of a queue at a
    /// time; a message answered [`ConsumeResult::Later`] is handled again
    /// after `orderly_retry_delay`, blocking its queue (not the others).
    pub fn orderly(mut self) -> Self {
        self.mode = ConsumeMode::Orderly;
        self
    }

    /// Broadcasting: this member, named `instance` (stable across restarts),
    /// gets every message of the topic, with offsets of its own.
    pub fn broadcast(mut self, instance: &str) -> Self {
        self.mode = ConsumeMode::Broadcast {
            instance: instance.to_string(),
        };
        self
    }

    /// See [`ConsumerConfig::orderly_retry_delay`].
    pub fn orderly_retry_delay(mut self, delay: Duration) -> Self {
        self.orderly_retry_delay = delay;
        self
    }

    /// Only messages with one of these tags: `*` or `a || b`.
    pub fn tags(mut self, expr: &str) -> Self {
        self.selector = MessageSelector::Tag(expr.to_string());
        self
    }

    /// Only messages whose properties satisfy this SQL92 expression
    /// (`a > 5 AND b = 'x'`; the tag is the property `TAGS`). The broker
    /// refuses a bad expression when the consumer starts.
    pub fn sql(mut self, expr: &str) -> Self {
        self.selector = MessageSelector::Sql92(expr.to_string());
        self
    }

    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub fn from(mut self, from: ConsumeFrom) -> Self {
        self.from = from;
        self
    }
}

/// A running consumer; dropping it without [`Consumer::shutdown`] stops it
/// abruptly (unanswered deliveries are redelivered).
pub struct Consumer {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

struct Joined {
    link: Arc<Link>,
    deliveries: mpsc::UnboundedReceiver<Frame>,
}

impl Consumer {
    /// Joins the group (failing if the first subscribe is refused) and starts
    /// handling deliveries with `handler`.
    pub async fn start<F, Fut>(config: ConsumerConfig, handler: F) -> Result<Consumer>
    where
        F: Fn(StoredMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ConsumeResult> + Send + 'static,
    {
        let joined = join(&config).await?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(config, Arc::new(handler), joined, stop.clone()));
        Ok(Consumer { stop, task })
    }

    /// Stops taking deliveries, lets running handlers finish (up to 10 s),
    /// then leaves the group so its queues go to the other members.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn join(config: &ConsumerConfig) -> Result<Joined> {
    let (push, deliveries) = mpsc::unbounded_channel();
    let link = Link::connect(&config.addr, Duration::from_secs(3), Some(push)).await?;
    let body = FrameBody::Subscribe {
        group: config.group.clone(),
        topic: config.topic.clone(),
        selector: config.selector.clone(),
        // A little prefetch beyond the handlers keeps them busy.
        max_inflight: (config.concurrency * 2) as u32,
        from: config.from,
        mode: config.mode.clone(),
    };
    match link.request(body).await {
        Ok(FrameBody::Subscribed { .. }) => Ok(Joined { link, deliveries }),
        Ok(other) => Err(Error::Malformed(format!(
            "unexpected answer to subscribe: 0x{:02X}",
            other.kind()
        ))),
        Err(e) => {
            link.close();
            Err(e)
        }
    }
}

async fn run<F, Fut>(
    config: ConsumerConfig,
    handler: Arc<F>,
    mut joined: Joined,
    stop: CancellationToken,
) where
    F: Fn(StoredMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ConsumeResult> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(config.concurrency));
    let orderly_retry = (config.mode == ConsumeMode::Orderly).then_some(config.orderly_retry_delay);
    loop {
        loop {
            let frame = tokio::select! {
                f = joined.deliveries.recv() => f,
                _ = stop.cancelled() => {
                    let all = config.concurrency as u32;
                    let _ = tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(all)).await;
                    // Frames are handled in order: once the ping is answered,
                    // every answer sent before it has reached the broker.
                    let _ = tokio::time::timeout(Duration::from_secs(2), joined.link.request(FrameBody::Ping)).await;
                    joined.link.close();
                    return;
                }
            };
            let Some(Frame {
                body:
                    FrameBody::Deliver {
                        subscription,
                        queue,
                        queue_offset,
                        instance,
                        log_offset,
                        record,
                    },
                ..
            }) = frame
            else {
                if joined.link.is_closed() {
                    break;
                }
                continue;
            };
            let message = match decode_record(&record, instance, log_offset) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable delivery; asking for it later");
                    let _ = joined.link.send_without_reply(FrameBody::Later {
                        subscription,
                        queue,
                        queue_offset,
                    });
                    continue;
                }
            };
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (handler, link) = (handler.clone(), joined.link.clone());
            let (retry, stop) = (orderly_retry, stop.clone());
            tokio::spawn(async move {
                let answer = match handle(&*handler, message, retry, &stop).await {
                    ConsumeResult::Ack => FrameBody::Ack {
                        subscription,
                        queue,
                        queue_offset,
                    },
                    ConsumeResult::Later => FrameBody::Later {
                        subscription,
                        queue,
                        queue_offset,
                    },
                    ConsumeResult::Release => FrameBody::Release {
                        subscription,
                        queue,
                        queue_offset,
                    },
                };
                // If the link broke meanwhile the broker redelivers the message.
                let _ = link.send_without_reply(answer);
                drop(permit);
            });
        }
        tracing::warn!(group = %config.group, topic = %config.topic, "connection to broker lost; rejoining");
        joined = loop {
            tokio::select! {
                _ = tokio::time::sleep(config.reconnect_delay) => {}
                _ = stop.cancelled() => return,
            }
            match join(&config).await {
                Ok(j) => break j,
                Err(e) => tracing::debug!(error = %e, "rejoin failed; retrying"),
            }
        };
        tracing::info!(group = %config.group, topic = %config.topic, "rejoined the group");
    }
}

/// Runs the handler; in orderly mode (`retry` set) a message answered
/// "later" is handled again here after the delay, so that its queue keeps
/// its order (RocketMQ's "suspend the queue a moment"), until it succeeds
/// or the consumer stops (then it is released for redelivery).
async fn handle<F, Fut>(
    handler: &F,
    mut message: StoredMessage,
    retry: Option<Duration>,
    stop: &CancellationToken,
) -> ConsumeResult
where
    F: Fn(StoredMessage) -> Fut,
    Fut: Future<Output = ConsumeResult>,
{
    loop {
        let answer = handler(message.clone()).await;
        let Some(delay) = retry.filter(|_| answer == ConsumeResult::Later) else {
            return answer;
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return ConsumeResult::Release,
        }
        message.attempt += 1;
    }
}
