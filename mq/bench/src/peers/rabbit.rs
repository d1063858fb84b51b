//! RabbitMQ as a benchmark target: a durable queue (classic or quorum), recreated per
//! run, persistent messages and publisher confirms.
//!
//! A publisher is one AMQP connection with one confirm-mode channel; a send publishes
//! with `delivery_mode = 2` to the default exchange and waits for the broker's confirm,
//! which RabbitMQ gives once the message is on disk (it fsyncs in batches, so several
//! concurrent messages share an fsync). The consumer acknowledges each delivery.

use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::target::{Consumer, Progress, Publisher, Target};

/// Deliveries the broker may have outstanding at the consumer before acks.
const PREFETCH: u16 = 500;

/// Which kind of durable queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Classic,
    Quorum,
}

impl QueueKind {
    fn name(self) -> &'static str {
        match self {
            QueueKind::Classic => "classic",
            QueueKind::Quorum => "quorum",
        }
    }
}

/// A RabbitMQ server at `uri` (e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`).
pub struct Rabbit {
    uri: String,
    kind: QueueKind,
    queue: String,
    admin: Channel,
    _admin_connection: Connection,
}

impl Rabbit {
    /// Connects the administrative channel (queue declaration and deletion).
    pub async fn connect(uri: &str, kind: QueueKind) -> anyhow::Result<Self> {
        let connection = connect(uri).await?;
        let admin = connection.create_channel().await.context("open channel")?;
        Ok(Self {
            uri: uri.to_owned(),
            kind,
            queue: format!("mqbench.{}", kind.name()),
            admin,
            _admin_connection: connection,
        })
    }
}

async fn connect(uri: &str) -> anyhow::Result<Connection> {
    Connection::connect(uri, ConnectionProperties::default())
        .await
        .with_context(|| format!("connect to RabbitMQ at {uri}"))
}

impl Target for Rabbit {
    type Publisher = RabbitPublisher;
    type Consumer = RabbitConsumer;

    async fn reset(&mut self, _run: &str) -> anyhow::Result<()> {
        self.admin
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .context("delete queue")?;
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.kind.name().into()),
        );
        self.admin
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .with_context(|| format!("declare durable {} queue", self.kind.name()))?;
        Ok(())
    }

    async fn publisher(&self) -> anyhow::Result<RabbitPublisher> {
        let connection = connect(&self.uri).await?;
        let channel = connection.create_channel().await.context("open channel")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("enable publisher confirms")?;
        Ok(RabbitPublisher {
            queue: self.queue.clone(),
            channel,
            _connection: connection,
        })
    }

    async fn consumer(&self, progress: Arc<Progress>) -> anyhow::Result<RabbitConsumer> {
        let connection = connect(&self.uri).await?;
        let channel = connection.create_channel().await.context("open channel")?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .context("set prefetch")?;
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                "mqbench".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("start consuming")?;
        Ok(RabbitConsumer {
            consumer,
            progress,
            _channel: channel,
            _connection: connection,
        })
    }
}

/// One connection and confirm-mode channel.
pub struct RabbitPublisher {
    queue: String,
    channel: Channel,
    _connection: Connection,
}

impl Publisher for RabbitPublisher {
    async fn send(&mut self, body: Bytes) -> anyhow::Result<()> {
        let confirmation = self
            .channel
            .basic_publish(
                "".into(),
                self.queue.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                // 2 = persistent.
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .context("publish")?
            .await
            .context("publisher confirm")?;
        anyhow::ensure!(confirmation.is_ack(), "broker nacked the message");
        Ok(())
    }
}

/// A consumer with manual acknowledgement of each delivery.
pub struct RabbitConsumer {
    consumer: lapin::Consumer,
    progress: Arc<Progress>,
    _channel: Channel,
    _connection: Connection,
}

impl Consumer for RabbitConsumer {
    async fn run(mut self) -> anyhow::Result<()> {
        if self.progress.is_complete() {
            return Ok(());
        }
        while let Some(delivery) = self.consumer.next().await {
            let delivery = delivery.context("receive")?;
            delivery
                .ack(BasicAckOptions::default())
                .await
                .context("ack")?;
            if self.progress.acked() {
                return Ok(());
            }
        }
        anyhow::bail!("consumer ended after {} messages", self.progress.get())
    }
}
