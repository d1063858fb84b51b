//! Shop's broker as a benchmark target, through the `mq` crate's own client.
//!
//! Each run uses a fresh topic (and group), so nothing is purged. A publisher is one
//! [`mq::Producer`] (one TCP connection) calling the synchronous `send`, which returns
//! when the broker has stored the message: fsynced in `MQ_FLUSH=sync` (the default,
//! with group commit), written but not yet fsynced in `MQ_FLUSH=async`. The consumer is
//! one [`mq::Consumer`] group member whose handler acknowledges every message.
//!
//! When the benchmark started the broker itself it knows the admin address too, and
//! reads the broker's fsync and group-commit counters from `/metrics` around each
//! publish phase.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use mq::client::ConsumeFrom;
use mq::{ConsumeResult, ConsumerConfig, Message, Producer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::target::{Consumer, Progress, Publisher, StorageCounters, Target};

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
    /// Admin HTTP address, for the storage counters.
    admin: Option<SocketAddr>,
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
            admin: None,
        })
    }

    /// Reads storage counters from the admin API at `admin`.
    pub fn with_admin(mut self, admin: SocketAddr) -> Self {
        self.admin = Some(admin);
        self
    }
}

/// `GET /metrics` over a plain HTTP/1.0 connection (the body ends when the server
/// closes it).
async fn fetch_metrics(admin: SocketAddr) -> anyhow::Result<String> {
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(admin).await?;
        stream
            .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {admin}\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .context("GET /metrics timed out")??;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no HTTP header in the /metrics response")?;
    anyhow::ensure!(
        head.lines().next().is_some_and(|l| l.contains(" 200")),
        "GET /metrics: {}",
        head.lines().next().unwrap_or_default()
    );
    Ok(body.to_owned())
}

/// The fsync and group-commit counters in a Prometheus text exposition (zero for
/// those not exported yet).
pub fn parse_storage_counters(text: &str) -> StorageCounters {
    let mut counters = StorageCounters::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        match name {
            "mq_fsync_seconds_count" => counters.fsyncs = value as u64,
            "mq_fsync_seconds_sum" => counters.fsync_seconds = value,
            "mq_group_commit_messages_count" => counters.commits = value as u64,
            "mq_group_commit_messages_sum" => counters.records = value as u64,
            _ => {}
        }
    }
    counters
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

    async fn storage_counters(&self) -> Option<StorageCounters> {
        let admin = self.admin?;
        match fetch_metrics(admin).await {
            Ok(text) => Some(parse_storage_counters(&text)),
            Err(e) => {
                tracing::warn!(%admin, error = %format!("{e:#}"), "no storage counters");
                None
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_counters_come_from_the_histograms_count_and_sum() {
        let text = "# TYPE mq_fsync_seconds histogram\n\
            mq_fsync_seconds_bucket{le=\"0.0001\"} 3\n\
            mq_fsync_seconds_sum 0.25\n\
            mq_fsync_seconds_count 1000\n\
            mq_group_commit_messages_sum 20000\n\
            mq_group_commit_messages_count 1001\n\
            mq_sends_total 20000\n";
        assert_eq!(
            parse_storage_counters(text),
            StorageCounters {
                fsyncs: 1000,
                fsync_seconds: 0.25,
                commits: 1001,
                records: 20_000,
            }
        );
    }
}
