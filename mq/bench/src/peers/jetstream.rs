//! NATS JetStream as a benchmark target: a file-storage stream, recreated per run.
//!
//! A publisher is one NATS connection that publishes to the stream's subject and waits
//! for the stream's PubAck. Whether that PubAck means "fsynced" is the server's setting,
//! not the client's: JetStream acknowledges from the page cache by default and fsyncs
//! every write only with `jetstream { sync_interval: always }` (nats-server ≥ 2.10).
//! The consumer is a durable pull consumer with explicit acknowledgement.

use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;

use crate::target::{Consumer, Progress, Publisher, Target};

const STREAM: &str = "MQBENCH";
const SUBJECT: &str = "mqbench.msgs";
const CONSUMER: &str = "mqbench";

/// A JetStream server at `url`.
pub struct JetStream {
    url: String,
    version: String,
    admin: jetstream::Context,
}

impl JetStream {
    /// Connects the administrative client (stream creation and deletion).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = async_nats::connect(url)
            .await
            .with_context(|| format!("connect to NATS at {url}"))?;
        Ok(Self {
            url: url.to_owned(),
            version: client.server_info().version,
            admin: jetstream::new(client),
        })
    }

    /// The version the server announced.
    pub fn server_version(&self) -> &str {
        &self.version
    }

    async fn client(&self) -> anyhow::Result<async_nats::Client> {
        async_nats::connect(&self.url)
            .await
            .with_context(|| format!("connect to NATS at {}", self.url))
    }
}

impl Target for JetStream {
    type Publisher = JetStreamPublisher;
    type Consumer = JetStreamConsumer;

    async fn reset(&mut self, _run: &str) -> anyhow::Result<()> {
        // Deleting rather than purging also drops the consumer of the previous run.
        if self.admin.get_stream(STREAM).await.is_ok() {
            self.admin
                .delete_stream(STREAM)
                .await
                .context("delete stream")?;
        }
        self.admin
            .create_stream(stream::Config {
                name: STREAM.to_owned(),
                subjects: vec![SUBJECT.to_owned()],
                storage: stream::StorageType::File,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .context("create file stream")?;
        Ok(())
    }

    async fn publisher(&self) -> anyhow::Result<JetStreamPublisher> {
        Ok(JetStreamPublisher {
            js: jetstream::new(self.client().await?),
        })
    }

    async fn consumer(&self, progress: Arc<Progress>) -> anyhow::Result<JetStreamConsumer> {
        let js = jetstream::new(self.client().await?);
        let stream = js.get_stream(STREAM).await.context("get stream")?;
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(CONSUMER.to_owned()),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .context("create pull consumer")?;
        Ok(JetStreamConsumer { consumer, progress })
    }
}

/// One connection publishing with PubAck.
pub struct JetStreamPublisher {
    js: jetstream::Context,
}

impl Publisher for JetStreamPublisher {
    async fn send(&mut self, body: Bytes) -> anyhow::Result<()> {
        let ack = self
            .js
            .publish(SUBJECT, body)
            .await
            .context("publish")?
            .await
            .context("publish ack")?;
        anyhow::ensure!(!ack.duplicate, "stream reported a duplicate");
        Ok(())
    }
}

/// A durable pull consumer with explicit acks.
pub struct JetStreamConsumer {
    consumer: consumer::Consumer<consumer::pull::Config>,
    progress: Arc<Progress>,
}

impl Consumer for JetStreamConsumer {
    async fn run(self) -> anyhow::Result<()> {
        if self.progress.is_complete() {
            return Ok(());
        }
        let mut messages = self.consumer.messages().await.context("pull messages")?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| anyhow!("receive: {e}"))?;
            message.ack().await.map_err(|e| anyhow!("ack: {e}"))?;
            if self.progress.acked() {
                return Ok(());
            }
        }
        anyhow::bail!(
            "message stream ended after {} messages",
            self.progress.get()
        )
    }
}
