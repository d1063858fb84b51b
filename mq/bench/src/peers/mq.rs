//! Shop's broker as a benchmark target (not wired yet: waits for the `mq` client).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::target::{Consumer, Progress, Publisher, Target};

/// An `mq-broker` at `addr`.
pub struct Mq {
    _addr: SocketAddr,
}

impl Mq {
    pub async fn connect(_addr: SocketAddr) -> anyhow::Result<Self> {
        anyhow::bail!("the mq client (Producer/Consumer) is not available yet")
    }
}

impl Target for Mq {
    type Publisher = MqPublisher;
    type Consumer = MqConsumer;

    async fn reset(&mut self, _run: &str) -> anyhow::Result<()> {
        Ok(())
    }

    async fn publisher(&self) -> anyhow::Result<MqPublisher> {
        anyhow::bail!("not wired")
    }

    async fn consumer(&self, _progress: Arc<Progress>) -> anyhow::Result<MqConsumer> {
        anyhow::bail!("not wired")
    }
}

pub struct MqPublisher;

impl Publisher for MqPublisher {
    async fn send(&mut self, _body: Bytes) -> anyhow::Result<()> {
        anyhow::bail!("not wired")
    }
}

pub struct MqConsumer;

impl Consumer for MqConsumer {
    async fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("not wired")
    }
}
