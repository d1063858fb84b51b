//! [`Publisher`]: a broker producer that connects on first use and bounds every send.
//!
//! `mq::Producer::connect` fails while the broker is down, and a service must start
//! (and answer `/health` naming `broker`) without it; so the producer is made on the
//! first send and made again after a failed connect. Once made, it reconnects by
//! itself.

use std::{sync::Arc, time::Duration};

use mq::{Message, Producer, client::SendReceipt};
use tokio::sync::OnceCell;

/// How long one send may take, connect included, before it counts as failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a message was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker: {0}")]
    Broker(#[from] mq::Error),
    #[error("broker did not acknowledge within {0:?}")]
    Timeout(Duration),
}

/// A lazily connected producer, cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    addr: Arc<str>,
    producer: Arc<OnceCell<Producer>>,
    timeout: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Publisher {
    /// A publisher to the broker at `addr`; nothing is contacted yet.
    pub fn new(addr: &str) -> Publisher {
        Publisher {
            addr: addr.into(),
            producer: Arc::new(OnceCell::new()),
            timeout: SEND_TIMEOUT,
        }
    }

    /// The broker's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends and waits until the broker stored the message durably.
    pub async fn send(&self, message: Message) -> Result<SendReceipt, PublishError> {
        let send = async {
            let producer = self
                .producer
                .get_or_try_init(|| Producer::connect(&self.addr))
                .await?;
            Ok(producer.send(message).await?)
        };
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| PublishError::Timeout(self.timeout))?
    }

    /// Sends messages of one topic, stored durably and acknowledged together.
    pub async fn send_batch(
        &self,
        messages: Vec<Message>,
    ) -> Result<Vec<SendReceipt>, PublishError> {
        let send = async {
            let producer = self
                .producer
                .get_or_try_init(|| Producer::connect(&self.addr))
                .await?;
            Ok(producer.send_batch(messages).await?)
        };
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| PublishError::Timeout(self.timeout))?
    }
}
