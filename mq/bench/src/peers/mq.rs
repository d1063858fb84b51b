//! Shop's broker as a benchmark target, through the `mq` crate's own client.
//!
//! Each run uses a fresh topic (and group), so nothing is purged. A publisher is one
//! [`mq::Producer`] (one TCP connection) calling the synchronous `send`, which returns
//! when the broker has stored the message: fsynced in `MQ_FLUSH=sync` (the default,
//! with group commit), written but not yet fsynced in `MQ_FLUSH=async`. The consumer is
//! one [`mq::Consumer`] group member whose handler acknowledges every message.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use mq::client::ConsumeFrom;
use mq::{ConsumeResult, ConsumerConfig, Message, Producer};

use crate::target::{Consumer, Progress, Publisher, Target};

/// Deliveries the consumer handles at once (the client asks the broker for twice as
/// many in flight), comparable with the peers' prefetch of a few hundred.
const CONSUMER_CONCURRENCY: usize = 256;

/// An `mq-broker` at `addr`.
pub struct Mq {
    addr: String,
    /// Distinguishes this benchmark's topics from those of earlier runs against a broker
    /// that was already running.
    nonce: u128,
    topic: String,
}

impl Mq {
    /// Checks that the broker answers.
    pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let addr = addr.to_string();
        mq::ping(&addr, Duration::from_secs(5))
            .await
            .with_context(|| format!("ping mq-broker at {addr}"))?;
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Ok(Self {
            addr,
            nonce,
            topic: String::new(),
        })
    }
}

impl Target for Mq {
    type Publisher = MqPublisher;
    type Consumer = MqConsumer;

    async fn reset(&mut self, run: &str) -> anyhow::Result<()> {
        self.topic = format!("mqbench.{}.{run}", self.nonce);
        Ok(())
    }

    async fn publisher(&self) -> anyhow::Result<MqPublisher> {
        let producer = Producer::connect(&self.addr)
            .await
            .with_context(|| format!("connect producer to {}", self.addr))?;
        Ok(MqPublisher {
            producer,
            topic: self.topic.clone(),
        })
    }

    async fn consumer(&self, progress: Arc<Progress>) -> anyhow::Result<MqConsumer> {
        let config = ConsumerConfig::new(&self.addr, &self.topic, &self.topic)
            .concurrency(CONSUMER_CONCURRENCY)
            .from(ConsumeFrom::Earliest);
        let counter = progress.clone();
        let consumer = mq::Consumer::start(config, move |_message| {
            counter.acked();
            async { ConsumeResult::Ack }
        })
        .await
        .context("start consumer")?;
        Ok(MqConsumer { consumer, progress })
    }
}

/// One producer (one connection) sending synchronously.
pub struct MqPublisher {
    producer: Producer,
    topic: String,
}

impl Publisher for MqPublisher {
    async fn send(&mut self, body: Bytes) -> anyhow::Result<()> {
        self.producer
            .send(Message::new(self.topic.as_str(), body))
            .await
            .context("send")?;
        Ok(())
    }
}

/// One member of a fresh consumer group.
pub struct MqConsumer {
    consumer: mq::Consumer,
    progress: Arc<Progress>,
}

impl Consumer for MqConsumer {
    async fn run(self) -> anyhow::Result<()> {
        self.progress.completed().await;
        self.consumer.shutdown().await;
        Ok(())
    }
}
